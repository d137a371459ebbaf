"""``peaks``: clusters of hits across PMTs with summed waveforms and per-channel areas."""

import numpy as np
import strax

from ddplugins._sorting import sort_by_time
from ddplugins.records.records import to_pe_per_channel
from ddcore.plugins import DDPlugin
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import pmt_layout_options, pmt_table, tpc_options


class Peaks(DDPlugin):
    """strax find_hits -> find_peaks -> sum_waveform -> compute_properties.

    Hits are extended left and right for integration (``hit_extension_ns``) so the tails of
    S2 photon clusters are kept in the summed waveform and the areas.
    """

    __version__ = "0.1.0"
    depends_on = "records"
    provides = "peaks"
    data_kind = "peaks"
    compressor = "zstd"
    # saved as computed (one chunk of the source each): strax's rechunking copied every chunk
    # into a buffer of up to chunk_target_size_mb, in time and in memory
    rechunk_on_save = False

    (top_array_layout, top_array_pitch_cm, top_array_rings, top_array_max_radius_cm,
     bottom_array_pitch_cm, bottom_array_max_radius_cm, dead_channels) = pmt_layout_options()
    adc_per_pe = tpc_options("adc_per_pe")
    hit_min_amplitude_adc = strax.Config(
        default=15, type=int, help="Hit threshold above the baseline [ADC]"
    )
    hit_extension_ns = strax.Config(
        default=(30, 200), type=(tuple, list),
        help="Integrate this far left and right of each hit [ns]",
    )
    peak_gap_threshold_ns = strax.Config(
        default=700, type=int, help="A gap this long without hits starts a new peak [ns]"
    )
    peak_extension_ns = strax.Config(
        default=(30, 200), type=(tuple, list), help="Peak extension left and right of its hits [ns]"
    )
    peak_min_channels = strax.Config(default=1, type=int, help="Fewest channels in a peak")
    peak_max_duration_ns = strax.Config(
        default=10_000_000, type=int, help="Longest peak before it is cut [ns]"
    )
    peak_waveform_samples = strax.Config(
        default=200, type=int, help="Samples of the stored (downsampled) sum waveform"
    )

    def infer_dtype(self):
        return strax.peak_dtype(
            n_channels=len(pmt_table(self.config)),
            n_sum_wv_samples=self.peak_waveform_samples,
            store_data_top=True,
            store_data_start=True,  # sum_waveform needs the field to compile
        )

    def setup(self):
        self.peak_finder = PeakFinder(self.dtype)
        pmts = pmt_table(self.config)
        self.n_pmts = len(pmts)
        self.n_top_pmts = int(np.sum(pmts["array"] == TOP))
        self.to_pe = to_pe_per_channel(pmts, self.adc_per_pe)

    def compute(self, records, start, end):
        if not len(records):
            return np.zeros(0, self.dtype)
        hits = strax.find_hits(records, min_amplitude=self.hit_min_amplitude_adc)
        alive = self.to_pe[hits["channel"]] > 0
        if not alive.all():
            hits = hits[alive]
        hits = sort_by_time(hits)
        left_ext, right_ext = self.peak_extension_ns
        peaks = self.peak_finder(
            hits,
            self.to_pe,
            gap_threshold=self.peak_gap_threshold_ns,
            left_extension=left_ext,
            right_extension=right_ext,
            min_channels=self.peak_min_channels,
            max_duration=self.peak_max_duration_ns,
        )
        if peaks is None or not len(peaks):
            return np.zeros(0, self.dtype)
        # A peak's extension must not reach beyond the chunk
        peaks["time"] = np.maximum(peaks["time"], start)
        too_long = strax.endtime(peaks) > end
        peaks["length"][too_long] = (end - peaks["time"][too_long]) // peaks["dt"][too_long]

        strax.find_hit_integration_bounds(
            hits,
            np.zeros(0, dtype=strax.time_dt_fields),
            records,
            save_outside_hits=tuple(self.hit_extension_ns),
            n_channels=len(pmt_table(self.config)),
            allow_bounds_beyond_records=True,
        )
        extended = hits  # the hits are not needed after this: extended in place
        extended["time"] -= (extended["left"] - extended["left_integration"]) * extended["dt"]
        extended["length"] = extended["right_integration"] - extended["left_integration"]
        extended = sort_by_time(extended)
        strax.sum_waveform(
            peaks,
            extended,
            records,
            strax.record_links(records),
            self.to_pe,
            n_top_channels=self.n_top_pmts,
            store_data_top=True,
        )
        peaks = peaks[peaks["area"] > 0]
        strax.compute_properties(peaks, n_top_channels=self.n_top_pmts)
        return peaks


class PeakFinder:
    """``strax.find_peaks`` with one result buffer kept between calls.

    strax allocates a fresh zeroed buffer of 10,000 peaks (~35 MB with per-channel areas and
    three waveforms) on every call, more time than finding the few thousand peaks of a chunk
    takes. This keeps the buffer and zeroes only the rows a call used, so each call starts from
    the same all-zero buffer as strax's and returns the same peaks.
    """

    def __init__(self, dtype, buffer_size=int(1e4)):
        self.kernel = getattr(strax.find_peaks, "__wrapped__", None)
        self.buffer = np.zeros(buffer_size, dtype)

    def __call__(self, hits, adc_to_pe, **kwargs):
        if self.kernel is None:  # a strax without the growing-result wrapper: its own path
            return strax.find_peaks(hits, adc_to_pe, result_dtype=self.buffer.dtype, **kwargs)
        found, used = [], 0
        try:
            for n_added in self.kernel(hits, adc_to_pe, _result_buffer=self.buffer, **kwargs):
                found.append(self.buffer[:n_added].copy())
                used = max(used, n_added)
        finally:
            self.buffer[:used + 1] = 0  # a rejected last candidate leaves its row written
        if not found:
            return np.zeros(0, self.buffer.dtype)
        return found[0] if len(found) == 1 else np.concatenate(found)
