"""``peaks``: clusters of hits across PMTs with summed waveforms and per-channel areas."""

import logging

import numpy as np
import strax

from ddplugins._kept_buffer import KeptBuffer
from ddplugins._sorting import sort_by_time
from ddplugins.peaks._find_hits import find_hits, set_integration_bounds
from ddplugins.peaks._sum_waveform import sum_waveform
from ddplugins.records.records import to_pe_per_channel
from ddcore.plugins import DDPlugin
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import PMTLayoutOptions, pmt_table, tpc_options

log = logging.getLogger(__name__)


class Peaks(PMTLayoutOptions, DDPlugin):
    """find_hits -> integration bounds -> find_peaks -> sum_waveform -> compute_properties.

    strax's algorithms; hits, integration bounds and summed waveforms come from this package's
    kernels (``_find_hits``, ``_sum_waveform``), which give strax's bytes faster.

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

    def _tpc_records(self, records):
        """Records of the TPC's channels; those of other channels (a veto, acquisition monitors:
        raw data of a whole DAQ) are set aside, with a warning the first time."""
        if not len(records) or records["channel"].max() < self.n_pmts:
            return records
        outside = records["channel"] >= self.n_pmts
        if not self.warned_outside:
            log.warning("Run %s: %d records of channels %s outside the TPC's %d set aside (not in peaks)",
                        self.run_id, int(outside.sum()), sorted(set(records["channel"][outside].tolist()))[:10],
                        self.n_pmts)
            self.warned_outside = True
        return records[~outside]

    def setup(self):
        self.warned_outside = False
        pmts = pmt_table(self.config)
        self.n_pmts = len(pmts)
        self.find_peaks = KeptBuffer(strax.find_peaks, self.dtype)
        self.find_hits = KeptBuffer(find_hits, strax.hit_dtype, buffer_size=int(1e5))
        # strax.find_hits' per-channel thresholds for a constant threshold
        self.hit_thresholds = (np.full(self.n_pmts, float(self.hit_min_amplitude_adc)), np.zeros(self.n_pmts))
        self.n_top_pmts = int(np.sum(pmts["array"] == TOP))
        self.to_pe = to_pe_per_channel(pmts, self.adc_per_pe)

    def compute(self, records, start, end):
        records = self._tpc_records(records)
        if not len(records):
            return np.zeros(0, self.dtype)
        hits = self.find_hits(records, *self.hit_thresholds)
        alive = self.to_pe[hits["channel"]] > 0
        if not alive.all():
            hits = hits[alive]
        # strax.find_hit_integration_bounds; in each channel's time order, which find_hits keeps
        set_integration_bounds(hits, *self.hit_extension_ns, self.n_pmts)
        hits = sort_by_time(hits)
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
        peaks = peaks[peaks["area"] > 0]
        strax.compute_properties(peaks, n_top_channels=self.n_top_pmts)
        return peaks
