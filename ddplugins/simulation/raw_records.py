"""``raw_records``: digitised, zero-suppressed PMT pulses of simulated events."""

import numpy as np
import strax

from ddcore.plugins import Checked, DDPlugin, parse_run_id
from ddplugins.simulation import pmt_response, run_spec
from ddplugins.simulation.quanta import nest_s1_photon_times
from ddplugins.tpc._geometry import BOTTOM, TOP
from ddplugins.tpc._options import (
    drift_time_ns,
    PMTLayoutOptions,
    channel_gains,
    pmt_table,
    relative_s1_light_yield,
    tpc_options,
)

SAMPLES_PER_RECORD = strax.DEFAULT_RECORD_LENGTH


class SimulatedRawRecords(PMTLayoutOptions, DDPlugin):
    """Detector response to the instructions, down to strax raw_records (110 samples, 10 ns).

    Stored only when they are the target (``ddcore make RUN raw_records``), as strax stores
    ``records``: they are 85% of a run's bytes and a pure function of the run and its options,
    and simulating them again (~2,000 events/s) takes about as long as reading them back.
    """

    __version__ = "0.6.0"
    depends_on = "instructions"
    provides = "raw_records"
    data_kind = "raw_records"
    dtype = strax.raw_record_dtype(SAMPLES_PER_RECORD)
    compressor = "zstd"
    rechunk_on_save = False
    save_when = strax.SaveWhen.TARGET

    (tpc_radius_cm, tpc_length_cm, sample_duration_ns, digitizer_baseline, adc_per_pe,
     drift_field_v_per_cm, drift_velocity_um_per_ns, drift_time_gate_us, electron_lifetime_us,
     g1_pe_per_photon, g2_bottom_pe_per_electron, s2_area_fraction_top, s2_lrf_height_cm,
     s1_light_yield_depth_gradient, s1_light_yield_radial_gradient) = tpc_options(
        "tpc_radius_cm", "tpc_length_cm", "sample_duration_ns", "digitizer_baseline", "adc_per_pe",
        "drift_field_v_per_cm", "drift_velocity_um_per_ns", "drift_time_gate_us", "electron_lifetime_us",
        "g1_pe_per_photon", "g2_bottom_pe_per_electron", "s2_area_fraction_top", "s2_lrf_height_cm",
        "s1_light_yield_depth_gradient", "s1_light_yield_radial_gradient")
    extraction_efficiency = Checked(above=0, maximum=1,
        default=0.96, type=(float, int), help="Probability an electron is extracted into the gas"
    )
    s1_timing_model = Checked(choices=("exponential", "nest"),
        default="exponential", type=str,
        help="S1 pulse shape: 'exponential' (pax default, one time constant for ER and NR) or "
        "'nest' (nestpy singlet/triplet times, different for ER and NR)",
    )
    s1_exponential_tau_ns = Checked(above=0,
        default=44.77, type=(float, int), help="S1 decay time of the 'exponential' model [ns]"
    )
    s1_aft_at_gate = Checked(minimum=0, maximum=1,
        default=0.38, type=(float, int), help="S1 area fraction top for events at the gate"
    )
    s1_aft_at_cathode = Checked(minimum=0, maximum=1,
        default=0.08, type=(float, int), help="S1 area fraction top for events at the cathode"
    )
    top_array_height_cm = Checked(minimum=0,
        default=7.0, type=(float, int), help="Height of the top PMT plane above the gate [cm]"
    )
    bottom_array_depth_cm = Checked(minimum=0,
        default=5.0, type=(float, int), help="Depth of the bottom PMT plane below the cathode [cm]"
    )
    diffusion_longitudinal_cm2_per_s = Checked(minimum=0,
        default=22.8, type=(float, int), help="Longitudinal diffusion constant [cm^2/s]"
    )
    electron_surface_delay_ns = Checked(minimum=0,
        default=140.0, type=(float, int), help="Mean electron delay at the liquid surface [ns]"
    )
    s2_luminescence_duration_ns = Checked(above=0,
        default=350.0, type=(float, int),
        help="Time an electron takes to cross the luminescence gap (uniform emission) [ns]",
    )
    gas_singlet_fraction = Checked(minimum=0, maximum=1,
        default=0.035, type=(float, int), help="Fraction of S2 photons from the gas singlet"
    )
    gas_singlet_tau_ns = Checked(above=0, default=5.88, type=(float, int), help="Gas singlet [ns]")
    gas_triplet_tau_ns = Checked(above=0, default=115.0, type=(float, int), help="Gas triplet [ns]")
    pmt_transit_time_spread_ns = Checked(minimum=0,
        default=13.6, type=(float, int), help="Gaussian spread of the PMT transit time [ns]"
    )
    p_double_pe_emission = Checked(minimum=0, below=1,
        default=0.15, type=(float, int), help="Probability a detected photon yields two PE"
    )
    spe_resolution = Checked(minimum=0,
        default=0.4, type=(float, int), help="Relative width of the single-PE area distribution"
    )
    noise_rms_adc = Checked(minimum=0, default=2.25, type=(float, int), help="Noise per sample [ADC]")
    zle_threshold_adc = Checked(minimum=0,
        default=15, type=int, help="Zero-suppression threshold below the baseline [ADC]"
    )
    zle_window_samples = Checked(minimum=0,
        default=50, type=int, help="Samples kept either side of a zero-suppression crossing"
    )
    afterpulse_probability = Checked(minimum=0, maximum=1,
        default=0.0, type=(float, int), help="Afterpulses per PE (0 = off; ~0.02 in XENON1T)"
    )
    afterpulse_delay_range_ns = Checked(minimum=0,
        default=(500, 3000), type=(tuple, list), help="Afterpulse delay range [ns]"
    )
    photoionization_probability = Checked(minimum=0,
        default=0.0, type=(float, int),
        help="Delayed single electrons per S2 electron from photoionisation, arriving up to the "
        "full drift time after the interaction (0 = off)",
    )
    pmt_dark_count_rate_hz = Checked(minimum=0,
        default=0.0, type=(float, int, tuple, list),
        help="PMT dark counts: single photoelectrons at random times all through the run, a rate per "
        "live channel or one for all (0 = off) [Hz]",
    )

    def setup(self):
        self.pmts = pmts = pmt_table(self)
        live = pmts["alive"]
        self.top_channels = pmts["channel"][live & (pmts["array"] == TOP)].astype(np.int64)
        self.bottom_channels = pmts["channel"][live & (pmts["array"] == BOTTOM)].astype(np.int64)
        self.template_cdf = pmt_response.spe_template_cdf()
        self.pulse_fractions = pmt_response.sample_fractions(self.template_cdf, self.sample_duration_ns)
        spec = parse_run_id(self.run_id, run_spec.SOURCES)
        # the source enters the seed: er_sr0_5 and wimp_sr0_5 get independent detector noise
        self.run_seed = (spec.seed, run_spec.SOURCES.index(spec.source))
        noise_seed = int(np.random.default_rng([*self.run_seed, 3]).integers(2**31))
        self.noise = pmt_response.noise_table(noise_seed, float(self.noise_rms_adc))
        self.response = self._response_parameters()
        self.digitizer = pmt_response.digitizer_parameters(
            self.digitizer_baseline, self.zle_threshold_adc, self.zle_window_samples, SAMPLES_PER_RECORD,
            self.sample_duration_ns)
        self.gains = channel_gains(pmts, float(self.adc_per_pe))
        self.dark_count_rates = self._dark_count_rates()

    def _dark_count_rates(self):
        """Dark-count rate of each live channel [Hz]."""
        rates = np.asarray(self.pmt_dark_count_rate_hz, dtype=np.float64)
        if rates.ndim == 0:
            rates = np.full(len(self.pmts), float(rates))
        elif len(rates) != len(self.pmts):
            raise ValueError(f"Run {self.run_id!r}: pmt_dark_count_rate_hz has {len(rates)} rates, the detector "
                             f"{len(self.pmts)} channels; give one rate or one per channel")
        return np.where(self.pmts["alive"], rates, 0.0)

    def _response_parameters(self):
        """The detector-response record the photoelectron kernel reads."""
        diffusion_cm2_per_ns = self.diffusion_longitudinal_cm2_per_s * 1e-9
        velocity_cm_per_ns = self.drift_velocity_um_per_ns * 1e-4
        response = np.zeros(1, pmt_response.RESPONSE_DTYPE)
        response[0] = (
            self.s1_aft_at_gate, self.s1_aft_at_cathode, self.tpc_length_cm,
            self.top_array_height_cm, self.bottom_array_depth_cm, self.s2_area_fraction_top,
            self.s2_lrf_height_cm, self.s2_photons_per_electron,
            np.sqrt(2 * diffusion_cm2_per_ns) / velocity_cm_per_ns, self.electron_surface_delay_ns,
            self.s2_luminescence_duration_ns, self.gas_singlet_fraction, self.gas_singlet_tau_ns,
            self.gas_triplet_tau_ns, self.pmt_transit_time_spread_ns, self.p_double_pe_emission,
            self.spe_resolution, self.afterpulse_probability, self.afterpulse_delay_range_ns[0],
            self.afterpulse_delay_range_ns[1], self.photoionization_probability,
            drift_time_ns(self.tpc_length_cm, self),
        )
        return response

    @property
    def s2_photons_per_electron(self):
        """Mean detected S2 photons per extracted electron (both arrays)."""
        se_gain_pe = self.g2_bottom_pe_per_electron / (
            (1 - self.s2_area_fraction_top) * self.extraction_efficiency
        )
        return se_gain_pe / (1 + self.p_double_pe_emission)

    def _s1_delays(self, instructions, detected, rng):
        if self.s1_timing_model == "exponential":
            return rng.exponential(self.s1_exponential_tau_ns, int(detected.sum()))
        return nest_s1_photon_times(
            instructions["recoil_type"],
            detected,
            instructions["s1_photons"],
            instructions["excitons"],
            instructions["energy"],
            drift_field_v_cm=self.drift_field_v_per_cm,
            seed=rng.integers(2**31),
        )

    def compute(self, instructions, start, end):
        # random streams of the chunk's own: a chunk is the same made alone or in a run
        first_event = int(instructions["event_number"][0]) if len(instructions) else 0
        rng = np.random.default_rng([*self.run_seed, first_event, 2])
        if len(instructions):
            photoelectrons = self._event_photoelectrons(instructions, rng)
        else:
            photoelectrons = (np.zeros(0, np.int16), np.zeros(0, np.int64), np.zeros(0, np.float32),
                              np.zeros(1, np.int64))
        dark = self._dark_counts(start, end, np.random.default_rng([*self.run_seed, int(start), 4]))
        if len(dark[0]):
            event_time = np.asarray(instructions["time"], np.int64)
            photoelectrons = pmt_response.with_single_photoelectrons(*photoelectrons, event_time, *dark)
        if not len(photoelectrons[0]):
            return np.zeros(0, self.dtype)
        return self.digitize(*photoelectrons, seed=int(rng.integers(2**31)))

    def _dark_counts(self, start, end, rng):
        """Dark-count photoelectrons (channel, time, area) in the chunk, kept far enough from its
        ends that their records stay inside it."""
        dt = self.sample_duration_ns
        margin_ns = (self.zle_window_samples + SAMPLES_PER_RECORD) * dt + self.pulse_fractions.shape[1] * dt
        duration_ns = end - start - 2 * margin_ns
        expected = self.dark_count_rates * max(duration_ns, 0) * 1e-9
        counts = rng.poisson(expected)
        channel = np.repeat(np.arange(len(counts), dtype=np.int16), counts)
        time = start + margin_ns + rng.integers(0, max(duration_ns, 1), len(channel))
        area = np.maximum(1 + self.spe_resolution * rng.standard_normal(len(channel)), 0.05).astype(np.float32)
        return channel, time.astype(np.int64), area

    def _event_photoelectrons(self, instructions, rng):
        events = np.zeros(len(instructions), pmt_response.EVENT_DTYPE)
        events["time"] = instructions["time"]
        events["x"], events["y"] = instructions["x"], instructions["y"]
        events["s2_x"], events["s2_y"] = instructions["s2_x"], instructions["s2_y"]
        events["depth"] = -instructions["z"].astype(np.float64)
        x, y, depth = events["x"], events["y"], events["depth"]
        drift = events["drift_time"] = drift_time_ns(depth, self)

        instructions = self._quanta(instructions, rng)
        p_detect = self._s1_light_yield(x, y, depth)
        p_detect = np.clip(p_detect / (1 + self.p_double_pe_emission), 0, 1)
        events["s1_detected"] = rng.binomial(instructions["s1_photons"], p_detect)
        survival = np.exp(-drift / (self._electron_lifetime_us() * 1e3)) * self.extraction_efficiency
        events["s2_electrons"] = rng.binomial(instructions["s2_electrons"], survival)

        return pmt_response.simulate_photoelectrons(
            int(rng.integers(2**31)),
            events,
            self._s1_delays(instructions, events["s1_detected"], rng),
            self.top_channels,
            self.bottom_channels,
            np.ascontiguousarray(self.pmts["x"]),
            np.ascontiguousarray(self.pmts["y"]),
            self.response,
        )

    # What the simulated detector is; a mis-modelled detector (``mismodelled_raw_records``)
    # departs from the options here while the processing keeps them
    def _quanta(self, instructions, rng):
        return instructions

    def _s1_light_yield(self, x, y, depth):
        """Detection probability of an S1 photon (before double-PE emission)."""
        return self.g1_pe_per_photon * relative_s1_light_yield(x, y, depth, self)

    def _electron_lifetime_us(self):
        return self.electron_lifetime_us

    def digitize(self, channel, time, area, event_first, seed):
        dt = self.sample_duration_ns
        template_len = self.pulse_fractions.shape[1] * dt
        # photoelectrons this far apart never share a pulse, nor do their records overlap
        separation = 2 * self.zle_window_samples * dt + template_len + SAMPLES_PER_RECORD * dt
        channel, time, area, block_first = pmt_response.sort_photoelectrons(
            channel, time, area, event_first, separation
        )
        total, largest = pmt_response.record_capacity(channel, time, block_first, template_len, self.digitizer)
        records = np.empty(total, self.dtype)  # digitize writes every field of what it returns
        n = pmt_response.digitize(seed, channel, time, area, block_first, self.pulse_fractions, self.noise,
                                  self.gains, self.digitizer, records, np.empty(largest, self.dtype))
        return records[:n]
