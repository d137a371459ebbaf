"""``event_waveforms``: main S1 and S2 summed waveforms resampled to a fixed length."""

import numba
import numpy as np
import strax

from ddplugins.events.main_peaks import main_peak_indices
from ddplugins.tpc.options import DDPlugin


@numba.njit(cache=True)
def resample_area_preserving(data, length, dt, n_out, out):
    """Rebin a waveform (PE per sample of width dt) onto n_out equal bins spanning it.

    Returns the new sample width [ns]; ``out`` receives PE per new bin (the area is kept).
    """
    duration = length * dt
    new_dt = duration / n_out
    out[:] = 0
    for i in range(length):
        lo = i * dt
        hi = lo + dt
        first = int(lo / new_dt)
        last = min(int(hi / new_dt), n_out - 1)
        for b in range(first, last + 1):
            overlap = min(hi, (b + 1) * new_dt) - max(lo, b * new_dt)
            if overlap > 0:
                out[b] += data[i] * overlap / dt
    return new_dt


@numba.njit(cache=True)
def _resample_peaks(peak_data, peak_length, peak_dt, index, n_out, waveforms, sample_widths):
    for ev in range(len(index)):
        p = index[ev]
        if p < 0:
            sample_widths[ev] = 0
            continue
        # strax stores long peaks downsampled: length and dt describe the stored samples
        n_stored = min(peak_length[p], peak_data.shape[1])
        sample_widths[ev] = resample_area_preserving(
            peak_data[p], n_stored, float(peak_dt[p]), n_out, waveforms[ev]
        )


class EventWaveforms(DDPlugin):
    """Summed waveforms of the main S1 and S2 on ``event_waveform_samples`` bins each, spanning
    the whole peak; the bin width is stored alongside (0 where the event has no such peak)."""

    __version__ = "0.1.0"
    depends_on = ("events", "peaks", "peak_basics")
    provides = "event_waveforms"
    data_kind = "events"

    event_waveform_samples = strax.Config(
        default=100, type=int, help="Bins of each resampled waveform"
    )

    def infer_dtype(self):
        n = self.event_waveform_samples
        return strax.time_fields + [
            (("Main S1 waveform [PE per bin]", "s1_waveform"), np.float32, n),
            (("Main S2 waveform [PE per bin]", "s2_waveform"), np.float32, n),
            (("Main S1 waveform bin width [ns]", "s1_waveform_dt"), np.float32),
            (("Main S2 waveform bin width [ns]", "s2_waveform_dt"), np.float32),
        ]

    def compute(self, events, peaks):
        index = main_peak_indices(events, peaks)
        result = np.zeros(len(events), self.dtype)
        result["time"], result["endtime"] = events["time"], events["endtime"]
        n = self.event_waveform_samples
        for column, name in ((0, "s1"), (1, "s2")):
            waveforms = np.zeros((len(events), n), np.float64)
            widths = np.zeros(len(events), np.float64)
            if len(peaks):
                _resample_peaks(
                    peaks["data"], peaks["length"], peaks["dt"], index[:, column], n, waveforms, widths
                )
            result[f"{name}_waveform"] = waveforms
            result[f"{name}_waveform_dt"] = widths
        return result
