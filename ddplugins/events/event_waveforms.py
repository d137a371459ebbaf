"""``event_waveforms``: main S1 and S2 summed waveforms on fixed time windows."""

import numba
import numpy as np
import strax

from ddplugins.events.main_peaks import main_peak_indices
from ddcore.plugins import DDPlugin


@numba.njit(cache=True)
def rebin_onto_window(data, length, dt, offset, new_dt, n_out, out):
    """Add a waveform (PE per sample of width dt, first sample starting ``offset`` ns after the
    window start) onto n_out bins of width new_dt, keeping the area inside the window."""
    window_end = n_out * new_dt
    for i in range(length):
        lo = offset + i * dt
        hi = lo + dt
        if hi <= 0 or lo >= window_end:
            continue
        first = max(int(np.floor(lo / new_dt)), 0)
        last = min(int(np.floor(hi / new_dt)), n_out - 1)
        for b in range(first, last + 1):
            overlap = min(hi, (b + 1) * new_dt) - max(lo, b * new_dt)
            if overlap > 0:
                out[b] += data[i] * overlap / dt


@numba.njit(cache=True)
def _waveforms_on_windows(peak_data, peak_time, peak_length, peak_dt, peak_center, index,
                          window_ns, n_out, waveforms):
    new_dt = window_ns / n_out
    for ev in range(len(index)):
        p = index[ev]
        if p < 0:
            continue
        # differences of int64 times first: float64 cannot resolve ns at epoch scale
        offset = float(peak_time[p] - peak_center[p]) + window_ns / 2
        # strax stores long peaks downsampled: length and dt describe the stored samples
        n_stored = min(peak_length[p], peak_data.shape[1])
        rebin_onto_window(peak_data[p], n_stored, float(peak_dt[p]), offset, new_dt, n_out,
                          waveforms[ev])


class EventWaveforms(DDPlugin):
    """Summed waveforms of the main S1 and S2, each on a fixed window centred on the peak's
    area-weighted mean time, in ``event_waveform_samples`` bins. Fixed windows keep the widths
    (the S2 width grows with depth through diffusion) comparable between events."""

    __version__ = "0.2.0"
    depends_on = ("events", "peaks", "peak_basics")
    provides = "event_waveforms"
    data_kind = "events"

    event_waveform_samples = strax.Config(
        default=100, type=int, help="Bins of each waveform"
    )
    s1_waveform_window_ns = strax.Config(
        default=600, type=int, help="Time window of the S1 waveform, centred on the S1 [ns]"
    )
    s2_waveform_window_ns = strax.Config(
        default=10_000, type=int, help="Time window of the S2 waveform, centred on the S2 [ns]"
    )

    def infer_dtype(self):
        n = self.event_waveform_samples
        return strax.time_fields + [
            (("Main S1 waveform [PE per bin]", "s1_waveform"), np.float32, n),
            (("Main S2 waveform [PE per bin]", "s2_waveform"), np.float32, n),
            (("Main S1 waveform bin width [ns] (0: no S1)", "s1_waveform_dt"), np.float32),
            (("Main S2 waveform bin width [ns] (0: no S2)", "s2_waveform_dt"), np.float32),
        ]

    def compute(self, events, peaks):
        index = main_peak_indices(events, peaks)
        result = self.new_result(events)
        n = self.event_waveform_samples
        for column, name, window in ((0, "s1", self.s1_waveform_window_ns),
                                     (1, "s2", self.s2_waveform_window_ns)):
            waveforms = np.zeros((len(events), n), np.float64)
            if len(peaks):
                _waveforms_on_windows(peaks["data"], peaks["time"], peaks["length"], peaks["dt"],
                                      peaks["center_time"], index[:, column], float(window), n, waveforms)
            result[f"{name}_waveform"] = waveforms
            result[f"{name}_waveform_dt"] = np.where(index[:, column] >= 0, window / n, 0)
        return result
