"""``instructions``: the FaX instruction table of a simulated run, one row per interaction
(simulated sources make one interaction per event; a FaX table may give several)."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import Checked, SimulatedSource
from ddplugins.simulation import fax_csv, run_spec, spectra
from ddplugins.simulation.quanta import ER, NR, nest_quanta
from ddplugins.tpc._options import drift_time_ns, tpc_options

RUN_EPOCH_NS = 1_483_228_800 * 10**9  # 2017-01-01, XENON1T SR0 era
# Each run gets its own hour of simulated time, so runs never overlap and a dataset of runs
# (a strax superrun) is time ordered: run slot = run number modulo MAX_RUN_SLOTS (114 years).
RUN_SPACING_NS = 3600 * 10**9
MAX_RUN_SLOTS = 10**6
SOURCE_CODES = {source: i for i, source in enumerate(run_spec.SOURCES)}

instructions_dtype = strax.time_fields + [
    (("Event number in the run", "event_number"), np.int64),
    (("Recoil type: 0 electronic (ER), 1 nuclear (NR)", "recoil_type"), np.int8),
    (("Truth label: 0 background, 1 WIMP signal", "label"), np.int8),
    (("Interaction x position [cm]", "x"), np.float32),
    (("Interaction y position [cm]", "y"), np.float32),
    (("Interaction z position, negative below the gate [cm]", "z"), np.float32),
    (("Recoil energy [keV] (NaN if unknown)", "energy"), np.float32),
    (("Scintillation photons produced", "s1_photons"), np.int32),
    (("Ionisation electrons leaving the interaction site", "s2_electrons"), np.int32),
    (("Excitons (for the NEST S1 pulse shape)", "excitons"), np.int32),
]


class Instructions(SimulatedSource):
    """Draw events for the run named by the run id (see ``ddplugins.simulation.run_spec``)."""

    __version__ = "0.3.0"
    provides = "instructions"
    data_kind = "instructions"
    dtype = instructions_dtype
    sources = run_spec.SOURCES
    run_data_type = "raw_records"

    (tpc_radius_cm, tpc_length_cm, drift_field_v_per_cm, drift_velocity_um_per_ns,
     drift_time_gate_us) = tpc_options("tpc_radius_cm", "tpc_length_cm", "drift_field_v_per_cm",
                                       "drift_velocity_um_per_ns", "drift_time_gate_us")

    science_run = strax.Config(
        default="sr0", type=str, help="Preset (science run) name that run ids must carry"
    )
    sim_n_events = Checked(minimum=1, 
        default=1000, type=int, help="Events in an 'er' or 'wimp' run"
    )
    sim_events_per_chunk = Checked(minimum=1, default=500, type=int, help="Events per chunk")
    sim_event_spacing_us = Checked(above=0, 
        default=2000.0, type=(float, int),
        help="Time between consecutive events [us]; above twice the longest drift time, "
        "an event window (which reaches one drift time before its S2) never holds the "
        "previous event",
    )
    sim_interaction_delay_us = Checked(minimum=0, 
        default=10.0, type=(float, int), help="Interaction time after the start of its slot [us]"
    )
    sim_vertex_volume = Checked(choices=("fiducial", "tpc"), 
        default="fiducial", type=str, help="Where vertices are drawn: 'fiducial' or 'tpc'"
    )
    fiducial_radius_cm = Checked(above=0, default=39.85, type=(float, int), help="Fiducial radius [cm]")
    fiducial_z_top_cm = strax.Config(default=-13.45, type=(float, int), help="Fiducial top z [cm]")
    fiducial_z_bottom_cm = strax.Config(
        default=-83.45, type=(float, int), help="Fiducial bottom z [cm]"
    )
    er_energy_max_kev = Checked(above=0, 
        default=15.0, type=(float, int), help="Flat ER background spectrum upper edge [keV]"
    )
    wimp_mass_gev = Checked(above=0, default=500.0, type=(float, int), help="WIMP mass [GeV/c^2]")
    wimp_cross_section_cm2 = Checked(above=0, 
        default=1e-45, type=(float, int), help="WIMP-nucleon cross-section [cm^2]"
    )
    wimp_interaction = strax.Config(
        default="SI", type=str, help="WIMP interaction, a wimprates name: 'SI', 'SD_n_central' ..."
    )
    sim_exposure_live_days = Checked(above=0, 
        default=spectra.TABLE_I_LIVE_DAYS, type=(float, int),
        help="Live days of a 'pseudo' run (counts scaled from Table I)",
    )
    sim_fiducial_mass_kg = Checked(above=0, 
        default=spectra.TABLE_I_FIDUCIAL_KG, type=(float, int),
        help="Fiducial mass for the expected counts of 'pseudo' runs [kg]",
    )
    fax_instructions_file, fax_instructions_sha256 = file_options(
        "fax_instructions", "FaX instruction CSV for 'fax' runs"
    )

    def setup_run(self):
        self.run_start_ns = RUN_EPOCH_NS + (self.run_number % MAX_RUN_SLOTS) * RUN_SPACING_NS
        spacing_ns = self.sim_event_spacing_us * 1e3
        needed = 2 * drift_time_ns(self.tpc_length_cm, self.config) + self.sim_interaction_delay_us * 1e3
        if needed + 100_000 > spacing_ns:
            raise ValueError(
                f"sim_event_spacing_us={self.sim_event_spacing_us} is shorter than twice the "
                f"longest drift time plus margins ({(needed + 100_000) / 1e3:.0f} us): "
                "event windows would overlap"
            )
        self.fax_table = None
        if self.spec.source == "fax":
            self.fax_table = self._load_fax_table()
            # rows sharing an instruction number are the interactions of one event (FaX's
            # convention): events in the order of their first row, rows grouped by event
            numbers, first_rows, self.fax_event_of_row = np.unique(
                self.fax_table["instruction"], return_index=True, return_inverse=True)
            order = np.argsort(first_rows, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            self.fax_event_of_row = rank[self.fax_event_of_row]
            self.labels = self.fax_table["recoil_type"][first_rows[order]].astype(np.int8)
        elif self.spec.source == "pseudo":
            rng = self._rng("counts")
            counts = spectra.expected_counts(
                self.sim_exposure_live_days * self.sim_fiducial_mass_kg / spectra.TABLE_I_FIDUCIAL_KG,
                self.wimp_mass_gev,
                self.wimp_cross_section_cm2,
                self.wimp_interaction,
            )
            labels = np.repeat([0, 1], [rng.poisson(counts["er"]), rng.poisson(counts["wimp"])])
            self.labels = rng.permutation(labels).astype(np.int8)
        else:
            label = 1 if self.spec.source == "wimp" else 0
            self.labels = np.full(self.sim_n_events, label, np.int8)
        if len(self.labels) * spacing_ns > RUN_SPACING_NS:
            raise ValueError(
                f"Run {self.run_id!r}: {len(self.labels)} events of {self.sim_event_spacing_us} us "
                f"do not fit in the run's {RUN_SPACING_NS / 1e9 / 3600:.0f} h of simulated time "
                "(sim_n_events or sim_exposure_live_days too large): split it into several runs"
            )
        return int(np.ceil(len(self.labels) / self.sim_events_per_chunk))

    def run_time_range(self):
        # a run lasts whole seconds (strax's progress bar reads run start and end in seconds)
        last_slot_end = int(self.slot_start(max(len(self.labels), 1)))
        return self.run_start_ns, self.run_start_ns + -(-(last_slot_end - self.run_start_ns) // 10**9) * 10**9

    def _rng(self, purpose, chunk_i=0):
        purposes = {"counts": 0, "events": 1}
        return np.random.default_rng(
            [self.spec.seed, SOURCE_CODES[self.spec.source], purposes[purpose], chunk_i]
        )

    def _load_fax_table(self):
        path = self.fax_instructions_file
        if not path:
            raise ValueError(
                f"Run {self.run_id!r} is a 'fax' run: set the fax_instructions_file option"
            )
        path = self.verified_file("fax_instructions_file")
        table = fax_csv.read_fax_csv(path)
        outside = (np.hypot(table["x"], table["y"]) > self.tpc_radius_cm) | (table["depth"] > self.tpc_length_cm)
        if np.any(outside):
            row = int(np.argmax(outside)) + 2
            raise fax_csv.FaxCSVError(
                f"{path} row {row}: vertex (x={table['x'][row - 2]}, y={table['y'][row - 2]}, "
                f"depth={table['depth'][row - 2]}) cm is outside the TPC (radius {self.tpc_radius_cm} "
                f"cm, drift length {self.tpc_length_cm} cm)"
            )
        early = table["t"] < 1_000
        if np.any(early):
            row = int(np.argmax(early)) + 2
            raise fax_csv.FaxCSVError(
                f"{path} row {row}: t = {table['t'][row - 2]} ns; interactions need t >= 1000 ns after "
                "their slot start (the digitised pulses begin before the photons arrive)"
            )
        slot_ns = self.sim_event_spacing_us * 1e3
        late = table["t"] + drift_time_ns(table["depth"], self.config) + 20_000 > slot_ns
        if np.any(late):
            row = int(np.argmax(late)) + 2
            raise fax_csv.FaxCSVError(
                f"{path} row {row}: t + drift time does not fit in a "
                f"{self.sim_event_spacing_us} us event slot"
            )
        return table

    def slot_start(self, event_number):
        return self.run_start_ns + np.asarray(event_number, np.int64) * int(self.sim_event_spacing_us * 1e3)

    def compute(self, chunk_i):
        first = chunk_i * self.sim_events_per_chunk
        last = min(first + self.sim_events_per_chunk, len(self.labels))
        if self.fax_table is not None:
            rows = np.flatnonzero((self.fax_event_of_row >= first) & (self.fax_event_of_row < last))
            events = self.fax_event_of_row[rows]
        else:
            events = np.arange(first, last)
        result = np.zeros(len(events), self.dtype)
        result["event_number"] = events
        result["label"] = self.labels[events]
        if self.fax_table is not None:
            self._fill_from_fax(result, rows)
            delays = self.fax_table["t"][rows].astype(np.int64)
        else:
            self._fill_from_physics(result, self._rng("events", chunk_i))
            delays = np.full(len(events), int(self.sim_interaction_delay_us * 1e3), np.int64)
        result["time"] = self.slot_start(events) + delays
        depth = -result["z"].astype(np.float64)
        result["endtime"] = result["time"] + drift_time_ns(depth, self.config).astype(np.int64) + 10_000
        result = result[np.argsort(result["time"], kind="stable")]
        start = int(self.slot_start(first))
        end = int(self.slot_start(first + self.sim_events_per_chunk))
        if chunk_i == self.n_chunks - 1:
            end = self.run_time_range()[1]
        return self.chunk(start=start, end=max(end, start + 1), data=result)

    def _fill_from_fax(self, result, rows):
        table = self.fax_table
        result["recoil_type"] = table["recoil_type"][rows]
        result["x"], result["y"] = table["x"][rows], table["y"][rows]
        result["z"] = -table["depth"][rows]
        result["energy"] = np.nan
        result["s1_photons"] = table["s1_photons"][rows]
        result["s2_electrons"] = table["s2_electrons"][rows]
        # A FaX table has no exciton count; NEST timing then treats every photon as excitonic.
        result["excitons"] = table["s1_photons"][rows]

    def _fill_from_physics(self, result, rng):
        n = len(result)
        is_wimp = result["label"] == 1
        result["recoil_type"] = np.where(is_wimp, NR, ER)
        energy = spectra.sample_er_energies(rng, n, self.er_energy_max_kev)
        n_wimp = int(is_wimp.sum())
        if n_wimp:
            energy[is_wimp] = spectra.sample_wimp_energies(
                rng, n_wimp, self.wimp_mass_gev, self.wimp_cross_section_cm2, self.wimp_interaction
            )
        result["energy"] = energy
        if self.sim_vertex_volume == "fiducial":
            r_max, z_top, z_bottom = self.fiducial_radius_cm, self.fiducial_z_top_cm, self.fiducial_z_bottom_cm
        else:
            r_max, z_top, z_bottom = self.tpc_radius_cm, 0.0, -self.tpc_length_cm
        r = r_max * np.sqrt(rng.random(n))
        phi = rng.uniform(0, 2 * np.pi, n)
        result["x"], result["y"] = r * np.cos(phi), r * np.sin(phi)
        result["z"] = rng.uniform(z_bottom, z_top, n)
        photons, electrons, excitons = nest_quanta(
            result["recoil_type"], energy, self.drift_field_v_per_cm, seed=rng.integers(2**31)
        )
        result["s1_photons"], result["s2_electrons"], result["excitons"] = photons, electrons, excitons
