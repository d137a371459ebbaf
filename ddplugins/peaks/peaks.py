"""``peaks``: clusters of hits across PMTs with summed waveforms and per-channel areas."""

import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins._kept_buffer import KeptBuffer
from ddplugins._sorting import sort_by_time
from ddplugins.peaks._find_hits import alone_in_time
from ddplugins.peaks._hits import HitFindingOptions
from ddplugins.peaks._sum_waveform import sum_waveform
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import pmt_table


class Peaks(HitFindingOptions, DDPlugin):
    """find_hits -> integration bounds -> find_peaks -> sum_waveform -> compute_properties.

    strax's algorithms; hits, integration bounds and summed waveforms come from this package's
    kernels (``_find_hits``, ``_sum_waveform``), which give strax's bytes faster.

    Hits are extended left and right for integration (``hit_extension_ns``) so the tails of
    S2 photon clusters are kept in the summed waveform and the areas.

    Clusters of hits in fewer than ``peak_min_channels`` channels (a PMT's dark count, an
    afterpulse on its own) are not peaks, as in straxen's peaklets: they are ``lone_hits``.
    """

    __version__ = "0.2.0"
    depends_on = "records"
    provides = "peaks"
    data_kind = "peaks"
    compressor = "zstd"
    # saved as computed (one chunk of the source each): strax's rechunking copied every chunk
    # into a buffer of up to chunk_target_size_mb, in time and in memory
    rechunk_on_save = False

    peak_gap_threshold_ns = strax.Config(
        default=700, type=int, help="A gap this long without hits starts a new peak [ns]"
    )
    peak_extension_ns = strax.Config(
        default=(30, 200), type=(tuple, list), help="Peak extension left and right of its hits [ns]"
    )
    peak_min_channels = strax.Config(
        default=2, type=int,
        help="Fewest channels in a peak; hits of smaller clusters are lone hits (straxen: 2)")
    peak_max_duration_ns = strax.Config(
        default=10_000_000, type=int, help="Longest peak before it is cut [ns]"
    )
    peak_waveform_samples = strax.Config(
        default=200, type=int, help="Samples of the stored (downsampled) sum waveform"
    )

    def infer_dtype(self):
        return strax.peak_dtype(
            n_channels=len(pmt_table(self)),
            n_sum_wv_samples=self.peak_waveform_samples,
            store_data_top=True,
            store_data_start=True,  # sum_waveform needs the field to compile
        )

    def setup(self):
        self.setup_hit_finding()
        self.find_peaks = KeptBuffer(strax.find_peaks, self.dtype)
        self.n_top_pmts = int(np.sum(self.pmts["array"] == TOP))

    def compute(self, records, start, end):
        records = self.tpc_records(records)
        if not len(records):
            return np.zeros(0, self.dtype)
        hits = self.hits(records)
        if self.peak_min_channels >= 2:
            # most hits of real raw data are dark counts far from any other hit: not carried
            # through peak building, sorting and summing (the same peaks)
            hits = hits[~alone_in_time(hits, self.peak_gap_threshold_ns)]
        left_ext, right_ext = self.peak_extension_ns
        peaks = self.find_peaks(
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

        extended = hits  # the hits are not needed after this: extended in place
        extended["time"] -= (extended["left"] - extended["left_integration"]) * extended["dt"]
        extended["length"] = extended["right_integration"] - extended["left_integration"]
        extended = sort_by_time(extended)
        sum_waveform(
            peaks,
            extended,
            records,
            strax.record_links(records),
            self.to_pe,
            n_top_channels=self.n_top_pmts,
            store_data_top=True,
        )
        if not np.all(peaks["area"] > 0):
            peaks = peaks[peaks["area"] > 0]
        strax.compute_properties(peaks, n_top_channels=self.n_top_pmts)
        return peaks
