"""``events``: time windows around each large S2, reaching one drift time before it."""

import numpy as np
import strax

from ddplugins.peaks.peak_basics import S2
from ddcore.plugins import DDPlugin
from ddplugins.tpc._options import drift_time_ns, tpc_options


class Events(strax.OverlapWindowPlugin, DDPlugin):
    """An event opens ``max drift time + event_left_margin_us`` before a triggering S2 and closes
    ``event_right_extension_us`` after it; overlapping windows merge, as in straxen."""

    __version__ = "0.1.0"
    depends_on = "peak_basics"
    provides = "events"
    data_kind = "events"
    dtype = strax.time_fields

    tpc_length_cm, drift_velocity_um_per_ns, drift_time_gate_us = tpc_options(
        "tpc_length_cm", "drift_velocity_um_per_ns", "drift_time_gate_us")
    trigger_min_area_pe = strax.Config(
        default=100.0, type=(float, int), help="Smallest S2 area that opens an event [PE]"
    )
    event_left_margin_us = strax.Config(
        default=10.0, type=(float, int), help="Event start before (S2 - longest drift time) [us]"
    )
    event_right_extension_us = strax.Config(
        default=50.0, type=(float, int), help="Event end after the triggering S2 [us]"
    )

    def setup(self):
        self.left_ns = int(drift_time_ns(self.tpc_length_cm, self) + self.event_left_margin_us * 1e3)
        self.right_ns = int(self.event_right_extension_us * 1e3)

    def get_window_size(self):
        return 10 * (self.left_ns + self.right_ns)

    def compute(self, peaks, start, end):
        triggers = peaks[(peaks["type"] == S2) & (peaks["area"] >= self.trigger_min_area_pe)]
        result = np.zeros(len(triggers), self.dtype)
        if not len(triggers):
            return result
        t0, t1 = strax.find_peak_groups(
            triggers,
            gap_threshold=self.left_ns + self.right_ns + 1,
            left_extension=self.left_ns,
            right_extension=self.right_ns,
        )
        result = np.zeros(len(t0), self.dtype)
        result["time"] = np.clip(t0, start, end)
        result["endtime"] = np.clip(t1, start, end)
        return result[result["endtime"] > result["time"]]
