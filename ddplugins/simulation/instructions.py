"""``instructions``: the FaX instruction table of a simulated run, one row per interaction;
the rows of one event share its ``event_number`` (multiple scatters, accidental pairs)."""

import numpy as np
import strax

from ddcore.files import file_options
from ddcore.plugins import Checked, SimulatedSource
from ddplugins.simulation import calibration_sources, fax_csv, populations, run_spec
from ddplugins.simulation.populations import POPULATION_TITLE, Population
from ddplugins.simulation.quanta import nest_quanta
from ddplugins.tpc._options import FIDUCIAL_OPTIONS, drift_time_ns, tpc_options

RUN_EPOCH_NS = 1_483_228_800 * 10**9  # 2017-01-01, XENON1T SR0 era
# Each run gets its own hour of simulated time, so runs never overlap and a dataset of runs
# (a strax superrun) is time ordered: run slot = run number modulo MAX_RUN_SLOTS (114 years).
RUN_SPACING_NS = 3600 * 10**9
MAX_RUN_SLOTS = 10**6
SOURCE_CODES = {source: i for i, source in enumerate(run_spec.SOURCES)}
CALIBRATION_RUN_NUMBERS = 10**10  # above seed x 10 + source for every 9-digit seed
# run sources whose events are of a population named otherwise: their truth class
STANDS_FOR = {**calibration_sources.STANDS_FOR, "walltail": Population.WALL}

instructions_dtype = strax.time_fields + [
    (("Event number in the run", "event_number"), np.int64),
    (("Recoil type: 0 electronic (ER), 1 nuclear (NR)", "recoil_type"), np.int8),
    (("Truth label: 0 background, 1 WIMP signal", "label"), np.int8),
    ((POPULATION_TITLE + " (-1: a FaX table's event)", "population"), np.int8),
    (("1 if the event was injected on top of the background model ('sim_inject')", "injected"), np.int8),
    (("Interaction x position [cm]", "x"), np.float32),
    (("Interaction y position [cm]", "y"), np.float32),
    (("Interaction z position, negative below the gate [cm]", "z"), np.float32),
    (("Where the electrons leave the liquid, x [cm] (the vertex unless charge drifts inward)", "s2_x"), np.float32),
    (("Where the electrons leave the liquid, y [cm]", "s2_y"), np.float32),
    (("Recoil energy [keV] (NaN if unknown)", "energy"), np.float32),
    (("Scintillation photons produced", "s1_photons"), np.int32),
    (("Ionisation electrons leaving the interaction site", "s2_electrons"), np.int32),
    (("Excitons (for the NEST S1 pulse shape)", "excitons"), np.int32),
]


PSEUDO_ONLY_OPTIONS = frozenset((
    "sim_exposure_live_days", "sim_fiducial_mass_kg", "sim_pseudo_components", "sim_inject",
    "wimp_normalisation", "er_rate_per_kg_day_kev", "neutron_rate_per_t_yr", "neutron_rate_window_kev",
    "lone_s1_rate_hz", "lone_s2_rate_hz", "wall_rate_per_day", "multisite_rate_per_kg_day_kev",
))


class Instructions(SimulatedSource):
    """Draw events for the run named by the run id (see ``ddplugins.simulation.run_spec``)."""

    __version__ = "0.4.1"
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
    sim_events_per_chunk = Checked(minimum=1, default=250, type=int,
                                   help="Events per chunk; a chunk of every data type is held in memory at once "
                                    "(~2 MB per event)")
    sim_event_spacing_us = Checked(above=0,
        default=2500.0, type=(float, int),
        help="Time between consecutive event slots [us]; at least the interaction delay plus "
        "twice the longest drift time (an accidental's lone S2 arrives up to one drift time "
        "after its lone S1) plus 100 us, so that no event reaches into the next slot",
    )
    sim_interaction_delay_us = strax.Config(
        default=None, type=(float, int, type(None)),
        help="Interaction time after the start of its slot [us]; at least the longest drift "
        "time, so that an event window (which opens one drift time before its S2) stays in its "
        "slot (default: the longest drift time + 20 us)",
    )
    sim_vertex_volume = Checked(choices=("fiducial", "tpc"),
        default="fiducial", type=str, help="Where vertices are drawn: 'fiducial' or 'tpc'"
    )
    fiducial_radius_cm, fiducial_z_top_cm, fiducial_z_bottom_cm = tpc_options(*FIDUCIAL_OPTIONS)
    er_energy_max_kev = Checked(above=0,
        default=15.0, type=(float, int), help="Flat ER background spectrum upper edge [keV]"
    )
    sim_energy_window_kev = strax.Config(
        default=None, type=(tuple, list, type(None)),
        help="Draw the energies of an 'er' or 'wall' run only in [low, high] keV of their flat "
        "spectrum (a stratum, for importance-sampled calibration runs, weighted by "
        "ddplugins.ml.calibration.stratified_weights) [keV]; default: the whole spectrum",
    )
    wimp_mass_gev = Checked(above=0, default=500.0, type=(float, int), help="WIMP mass [GeV/c^2]")
    wimp_cross_section_cm2 = Checked(above=0,
        default=1e-45, type=(float, int), help="WIMP-nucleon cross-section [cm^2]"
    )
    wimp_interaction = strax.Config(
        default="SI", type=str, help="WIMP interaction, a wimprates name: 'SI', 'SD_n_central' ..."
    )
    wimp_normalisation = Checked(choices=populations.WIMP_NORMALISATIONS,
        default="wimprates", type=str,
        help="WIMP count: 'wimprates' (the rate of the configured model) or the named benchmark "
        "'table_i' (Table I's 35.03 events per 34.2 d x 1042 kg; validate-sim prints its "
        "effective cross-section)",
    )
    sim_exposure_live_days = Checked(above=0,
        default=365.25, type=(float, int),
        help="Live days of a 'pseudo' run, the detector's reference exposure [d]",
    )
    sim_fiducial_mass_kg = Checked(above=0,
        default=1000.0, type=(float, int),
        help="Mass of the volume the fiducial populations are drawn in [kg]",
    )
    sim_pseudo_components = strax.Config(
        default=populations.NAMES, type=(tuple, list),
        help="Populations a 'pseudo' run draws (Poisson counts from their rates): "
        + ", ".join(populations.NAMES),
    )
    sim_inject = strax.Config(
        default=None, type=(dict, type(None)),
        help="Populations injected into 'pseudo' runs on top of the components: "
        "{population: expected events}, e.g. {'s2only': 20}; each a Poisson draw",
    )
    er_rate_per_kg_day_kev = Checked(minimum=0, default=1.93e-4, type=(float, int),
        help="Flat ER rate in the fiducial volume [events / (kg d keV)]")
    neutron_rate_per_t_yr = Checked(minimum=0, default=0.6, type=(float, int),
        help="Radiogenic-neutron single scatters in neutron_rate_window_kev [events / (t yr)]")
    neutron_rate_window_kev = strax.Config(default=(4.0, 50.0), type=(tuple, list),
        help="Recoil-energy window of neutron_rate_per_t_yr [keV_nr]")
    neutron_single_scatter_fraction = Checked(above=0, maximum=1, default=0.3, type=(float, int),
        help="Share of neutron events with one scatter; the multiplicity is geometric")
    neutron_energy_scale_kev = Checked(above=0, default=30.0, type=(float, int),
        help="E-folding energy of the exponential radiogenic-neutron recoil spectrum [keV_nr]")
    neutron_energy_max_kev = Checked(above=0, default=100.0, type=(float, int),
        help="Highest simulated neutron recoil energy [keV_nr]")
    neutron_mean_free_path_cm = Checked(above=0, default=15.0, type=(float, int),
        help="Mean distance between neutron scatters [cm]")
    cevns_energy_min_kev = Checked(above=0, default=1.0, type=(float, int),
        help="Lowest simulated 8B CEvNS recoil energy [keV_nr] (below it no S1 is seen)")
    lone_s1_rate_hz = Checked(minimum=0, default=1.0, type=(float, int),
        help="Rate of isolated S1s in the TPC, for accidental coincidences [Hz]")
    lone_s1_mean_photons = Checked(minimum=1, default=20.0, type=(float, int),
        help="Mean photons of an isolated S1 (geometric distribution)")
    lone_s2_rate_hz = Checked(minimum=0, default=2e-3, type=(float, int),
        help="Rate of isolated S2s in the TPC: S2-only events and the S2s of accidentals [Hz]")
    lone_s2_mean_electrons = Checked(minimum=1, default=30.0, type=(float, int),
        help="Mean electrons of an isolated S2 (geometric distribution)")
    wall_rate_per_day = Checked(minimum=0, default=100.0, type=(float, int),
        help="Low-energy (0 - er_energy_max_kev) decays on the TPC wall [events / d]")
    wall_inward_shift_cm = Checked(minimum=0, default=2.0, type=(float, int),
        help="Width of the inward shift of where a wall event's electrons come out "
        "(half-normal) [cm]")
    wall_charge_survival_min = Checked(above=0, maximum=1, default=0.01, type=(float, int),
        help="Smallest share of a wall event's electrons that survive (log-uniform up to 1)")
    multisite_rate_per_kg_day_kev = Checked(minimum=0, default=3e-5, type=(float, int),
        help="Multiple-scatter ER gamma events in the fiducial volume [events / (kg d keV)]")
    multisite_mean_step_cm = Checked(above=0, default=5.0, type=(float, int),
        help="Mean distance between the scatters of a multi-site gamma [cm]")
    fax_instructions_file, fax_instructions_sha256 = file_options(
        "fax_instructions", "FaX instruction CSV for 'fax' runs"
    )

    def setup_run(self):
        self.run_start_ns = RUN_EPOCH_NS + (self.run_number % MAX_RUN_SLOTS) * RUN_SPACING_NS
        spacing_ns = self.sim_event_spacing_us * 1e3
        max_drift_ns = drift_time_ns(self.tpc_length_cm, self)
        if self.sim_interaction_delay_us is None:
            self.interaction_delay_ns = max_drift_ns + 20_000
        elif self.sim_interaction_delay_us * 1e3 < max_drift_ns:
            raise ValueError(
                f"sim_interaction_delay_us={self.sim_interaction_delay_us} is shorter than the "
                f"longest drift time ({max_drift_ns / 1e3:.0f} us): event windows would reach "
                "into the previous slot"
            )
        else:
            self.interaction_delay_ns = self.sim_interaction_delay_us * 1e3
        needed = self.interaction_delay_ns + 2 * max_drift_ns + 100_000
        if needed > spacing_ns:
            raise ValueError(
                f"sim_event_spacing_us={self.sim_event_spacing_us} is shorter than the interaction "
                f"delay plus twice the longest drift time plus margins ({needed / 1e3:.0f} us): "
                "events would reach into the next slot"
            )
        if -self.fiducial_z_bottom_cm > self.tpc_length_cm:
            raise ValueError(
                f"Run {self.run_id!r}: fiducial_z_bottom_cm={self.fiducial_z_bottom_cm} lies below the "
                f"cathode (tpc_length_cm={self.tpc_length_cm:g} for this run): the fiducial volume "
                "must be inside the TPC"
            )
        populations.check_energy_window(self, self.spec.source, self.run_id)
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
            self.event_population = np.full(len(self.labels), -1, np.int8)
            self.event_injected = np.zeros(len(self.labels), np.int8)
        else:
            if self.spec.source == "pseudo":
                self.event_population, self.event_injected = self._pseudo_events()
            else:
                code = STANDS_FOR.get(self.spec.source)
                code = populations.population_code(self.spec.source) if code is None else code
                self.event_population = np.full(self.sim_n_events, code, np.int8)
                self.event_injected = np.zeros(self.sim_n_events, np.int8)
            self.labels = (self.event_population == Population.WIMP).astype(np.int8)
        if len(self.labels) * spacing_ns > RUN_SPACING_NS:
            raise ValueError(
                f"Run {self.run_id!r}: {len(self.labels)} events of {self.sim_event_spacing_us} us "
                f"do not fit in the run's {RUN_SPACING_NS / 1e9 / 3600:.0f} h of simulated time "
                "(sim_n_events or sim_exposure_live_days too large): split it into several runs"
            )
        return int(np.ceil(len(self.labels) / self.sim_events_per_chunk))

    @property
    def run_number(self):
        """Unique per (source, seed): the sources of each block of ``run_spec.SOURCE_BLOCKS``
        count in a range of their own (seed x sources in the block + index in the block), the
        first block's from 0 (the numbers runs had before the calibration sources were added),
        each later block's from ``CALIBRATION_RUN_NUMBERS`` x its position."""
        for position, block in enumerate(run_spec.SOURCE_BLOCKS):
            if self.spec.source in block:
                return (position * CALIBRATION_RUN_NUMBERS + self.spec.seed * len(block)
                        + block.index(self.spec.source))
        raise ValueError(f"Run {self.run_id!r}: source {self.spec.source!r} is in no block of run_spec.SOURCE_BLOCKS")

    @property
    def independent_chunks(self):
        """Chunks start at slot starts and every event lies in its slot, event windows included
        (checked in setup_run); FaX instructions must start one drift time into their slot."""
        if self.fax_table is None:
            return True
        return bool(np.all(self.fax_table["t"] >= drift_time_ns(self.tpc_length_cm, self) + 20_000))

    def run_time_range(self):
        # a run lasts whole seconds (strax's progress bar reads run start and end in seconds)
        last_slot_end = int(self.slot_start(max(len(self.labels), 1)))
        return self.run_start_ns, self.run_start_ns + -(-(last_slot_end - self.run_start_ns) // 10**9) * 10**9

    def defines_run(self, option):
        # rates and exposure set how many events of each population a pseudo run draws; a run
        # of one population has sim_n_events of them whatever the rates
        if option in PSEUDO_ONLY_OPTIONS:
            return self.spec.source == "pseudo"
        if option.startswith("fax_instructions"):
            return self.spec.source == "fax"
        if option == "sim_n_events":
            return self.spec.source not in ("pseudo", "fax")
        return True

    def _pseudo_events(self):
        """(population, injected) per event: Poisson counts of every component for the exposure
        plus the injections, in random order."""
        rng = self._rng("counts")
        expected = populations.expected_counts(self)
        inject = dict(self.sim_inject or {})
        for name in (*self.sim_pseudo_components, *inject):
            populations.population_code(name)
        for name, count in inject.items():
            if not isinstance(count, (int, float)) or not count >= 0:
                raise ValueError(f"Run {self.run_id!r}: sim_inject[{name!r}] = {count!r}; give an "
                                 "expected number of events >= 0")
        parts = [(name, expected[name], 0) for name in populations.NAMES if name in self.sim_pseudo_components]
        parts += [(name, float(count), 1) for name, count in inject.items()]
        drawn = [(populations.population_code(name), rng.poisson(mean), flag) for name, mean, flag in parts]
        population = np.repeat([d[0] for d in drawn], [d[1] for d in drawn]).astype(np.int8)
        injected = np.repeat([d[2] for d in drawn], [d[1] for d in drawn]).astype(np.int8)
        order = rng.permutation(len(population))
        return population[order], injected[order]

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
        late = table["t"] + drift_time_ns(table["depth"], self) + 20_000 > slot_ns
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
            result = np.zeros(len(rows), self.dtype)
            result["event_number"] = self.fax_event_of_row[rows]
            self._fill_from_fax(result, rows)
            delays = self.fax_table["t"][rows].astype(np.int64)
        else:
            result, delays = self._simulate(np.arange(first, last), self._rng("events", chunk_i))
        events = result["event_number"]
        result["label"] = self.labels[events]
        result["population"] = self.event_population[events]
        result["injected"] = self.event_injected[events]
        result["time"] = self.slot_start(events) + delays
        depth = -result["z"].astype(np.float64)
        result["endtime"] = result["time"] + drift_time_ns(depth, self).astype(np.int64) + 10_000
        result = result[np.lexsort((result["event_number"], result["time"]))]
        start = int(self.slot_start(first))
        end = int(self.slot_start(first + self.sim_events_per_chunk))
        if chunk_i == self.n_chunks - 1:
            end = self.run_time_range()[1]
        return self.chunk(start=start, end=max(end, start + 1), data=result)

    def _simulate(self, event_numbers, rng):
        """Interactions of these events from their populations' models; (rows, delays [ns])."""
        tables = []
        for population in np.unique(self.event_population[event_numbers]):
            mine = event_numbers[self.event_population[event_numbers] == population]
            if self.spec.source in calibration_sources.CALIBRATION_SOURCES:
                table = calibration_sources.interactions(self, self.spec.source, len(mine), rng)
            else:
                table = populations.interactions(
                    self, int(population), len(mine), rng,
                    wall_min_shift_cm=populations.wall_tail_min_shift_cm(self) if self.spec.source == "walltail" else 0)
            table["event"] = mine[table["event"]]
            tables.append(table)
        table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]} if tables else None
        result = np.zeros(0 if table is None else len(table["event"]), self.dtype)
        if table is None:
            return result, np.zeros(0, np.int64)
        result["event_number"] = table["event"]
        for name in ("recoil_type", "x", "y", "z", "s2_x", "s2_y", "energy"):
            result[name] = table[name]
        photons, electrons, excitons = table["s1_photons"], table["s2_electrons"], table["s1_photons"].copy()
        nest = table["nest"]
        if np.any(nest):
            photons[nest], electrons[nest], excitons[nest] = nest_quanta(
                table["recoil_type"][nest], table["energy"][nest], self.drift_field_v_per_cm,
                seed=rng.integers(2**31))
        charge_loss = table["charge_survival"] < 1
        electrons[charge_loss] = rng.binomial(electrons[charge_loss], table["charge_survival"][charge_loss])
        result["s1_photons"], result["s2_electrons"], result["excitons"] = photons, electrons, excitons
        delays = np.where(np.isnan(table["delay_ns"]), self.interaction_delay_ns, table["delay_ns"])
        return result, np.round(delays).astype(np.int64)

    def _fill_from_fax(self, result, rows):
        table = self.fax_table
        result["recoil_type"] = table["recoil_type"][rows]
        result["x"], result["y"] = table["x"][rows], table["y"][rows]
        result["s2_x"], result["s2_y"] = table["x"][rows], table["y"][rows]
        result["z"] = -table["depth"][rows]
        result["energy"] = np.nan
        result["s1_photons"] = table["s1_photons"][rows]
        result["s2_electrons"] = table["s2_electrons"][rows]
        # A FaX table has no exciton count; NEST timing then treats every photon as excitonic.
        result["excitons"] = table["s1_photons"][rows]
