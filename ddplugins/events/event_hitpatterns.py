"""``event_hitpatterns``: per-PMT areas of each event's main S1 and main S2."""

import numpy as np
import strax

from ddplugins.events.main_peaks import main_peak_indices, take
from ddcore.plugins import DDPlugin


class EventHitpatterns(DDPlugin):
    """Area per channel [PE] of the main S1 and main S2 (zeros where the event has none);
    channels 0..n_top-1 are the top array, the rest the bottom array."""

    __version__ = "0.1.0"
    depends_on = ("events", "peaks", "peak_basics")
    provides = "event_hitpatterns"
    data_kind = "events"

    def infer_dtype(self):
        n_pmts = self.deps["peaks"].dtype_for("peaks")["area_per_channel"].shape[0]
        return strax.time_fields + [
            (("Main S1 area per channel [PE]", "s1_hitpattern"), np.float32, n_pmts),
            (("Main S2 area per channel [PE]", "s2_hitpattern"), np.float32, n_pmts),
        ]

    def compute(self, events, peaks):
        index = main_peak_indices(events, peaks)
        result = self.new_result(events)
        result["s1_hitpattern"] = take(peaks["area_per_channel"], index[:, 0], 0)
        result["s2_hitpattern"] = take(peaks["area_per_channel"], index[:, 1], 0)
        return result
