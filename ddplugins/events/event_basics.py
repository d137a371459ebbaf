"""``event_basics``: main/alternate S1 and S2, drift time, position and corrected signals."""

import numpy as np
import strax

from ddplugins.events.main_peaks import main_peak_indices, take
from ddplugins.events.position import fit_positions
from ddcore.plugins import DDPlugin
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import (
    depth_cm,
    PMTLayoutOptions,
    pmt_table,
    relative_s1_light_yield,
    tpc_options,
)

W_KEV = 13.7e-3  # keV per quantum in liquid xenon

PEAK_FIELDS = (
    ("area", np.float32, "Area [PE]"),
    ("area_fraction_top", np.float32, "Fraction of the area on the top array"),
    ("range_50p_area", np.float32, "50% area width [ns]"),
    ("rise_time", np.float32, "Rise time, 10% to 50% area [ns]"),
    ("n_channels", np.int16, "Contributing PMTs"),
    ("center_time", np.int64, "Area-weighted mean time [ns since unix epoch]"),
)


def _peak_field_dtype(prefix, label):
    return [((f"{label} {help_text}", f"{prefix}_{name}"), dtype) for name, dtype, help_text in PEAK_FIELDS]


class EventBasics(PMTLayoutOptions, DDPlugin):
    """Per event: the main S1 (largest S1 before the main S2) and the main S2 (largest S2), their
    alternates, drift time and depth, (x, y) from a light-response fit of the S2 top pattern, and
    cS1 / cS2 corrected for S1 light collection and electron lifetime."""

    run_counter_fields = ("event_number",)
    __version__ = "0.2.1"
    # peak_basics comes after peaks so its 'type' (the classification) wins the merge
    depends_on = ("events", "peaks", "peak_basics")
    provides = "event_basics"
    data_kind = "events"

    (tpc_radius_cm, tpc_length_cm, drift_velocity_um_per_ns, drift_time_gate_us, electron_lifetime_us,
     g1_pe_per_photon, g2_bottom_pe_per_electron, s2_area_fraction_top, s2_lrf_height_cm,
     s1_light_yield_depth_gradient, s1_light_yield_radial_gradient) = tpc_options(
        "tpc_radius_cm", "tpc_length_cm", "drift_velocity_um_per_ns", "drift_time_gate_us",
        "electron_lifetime_us", "g1_pe_per_photon", "g2_bottom_pe_per_electron", "s2_area_fraction_top",
        "s2_lrf_height_cm", "s1_light_yield_depth_gradient", "s1_light_yield_radial_gradient")

    def infer_dtype(self):
        return (
            strax.time_fields
            + [(("Event number in the run, counted from 0", "event_number"), np.int64),
               (("Peaks in the event", "n_peaks"), np.int32)]
            + _peak_field_dtype("s1", "Main S1")
            + _peak_field_dtype("s2", "Main S2")
            + [
                (("Alternate S1 area [PE]", "alt_s1_area"), np.float32),
                (("Alternate S2 area [PE]", "alt_s2_area"), np.float32),
                (("Drift time between main S1 and S2 centres [ns]", "drift_time"), np.float32),
                (("Reconstructed x [cm]", "x"), np.float32),
                (("Reconstructed y [cm]", "y"), np.float32),
                (("Reconstructed r [cm]", "r"), np.float32),
                (("Reconstructed z, negative below the gate [cm]", "z"), np.float32),
                (("S1 corrected for light collection [PE]", "cs1"), np.float32),
                (("S2 corrected for electron lifetime [PE]", "cs2"), np.float32),
                (("Bottom-array S2 corrected for electron lifetime [PE]", "cs2_bottom"), np.float32),
                (("Combined energy W (cS1/g1 + cS2/g2) [keV]", "ces"), np.float32),
            ]
        )

    def setup(self):
        self.events_seen = 0
        self.pmts = pmt_table(self)
        self.top_live = np.flatnonzero((self.pmts["array"] == TOP) & self.pmts["alive"])

    def compute(self, events, peaks):
        index = main_peak_indices(events, peaks)
        result = self.new_result(events)
        # chunks arrive in time order (one process per data type): number events as they come
        result["event_number"] = self.events_seen + np.arange(len(events))
        self.events_seen += len(events)
        result["n_peaks"] = index[:, 4]
        for column, prefix in ((0, "s1"), (1, "s2")):
            for name, _, _ in PEAK_FIELDS:
                fill = -1 if name in ("n_channels", "center_time") else np.nan
                result[f"{prefix}_{name}"] = take(peaks[name], index[:, column], fill)
        result["alt_s1_area"] = take(peaks["area"], index[:, 2], np.nan)
        result["alt_s2_area"] = take(peaks["area"], index[:, 3], np.nan)

        has_both = (index[:, 0] >= 0) & (index[:, 1] >= 0)
        drift = np.where(has_both, result["s2_center_time"] - result["s1_center_time"], np.nan)
        result["drift_time"] = drift
        depth = depth_cm(drift, self)
        result["z"] = -depth

        top_areas = take(peaks["area_per_channel"], index[:, 1], 0)[:, self.top_live]
        xy = np.zeros((len(events), 2))
        fit_positions(
            top_areas.astype(np.float64),
            self.pmts["x"][self.top_live],
            self.pmts["y"][self.top_live],
            float(self.s2_lrf_height_cm),
            float(self.tpc_radius_cm),
            xy,
        )
        result["x"], result["y"] = xy[:, 0], xy[:, 1]
        result["r"] = np.hypot(xy[:, 0], xy[:, 1])

        light_yield = relative_s1_light_yield(xy[:, 0], xy[:, 1], depth, self)
        result["cs1"] = result["s1_area"] / light_yield
        lifetime_correction = np.exp(drift / (self.electron_lifetime_us * 1e3))
        result["cs2"] = result["s2_area"] * lifetime_correction
        result["cs2_bottom"] = result["cs2"] * (1 - result["s2_area_fraction_top"])
        g2_total = self.g2_bottom_pe_per_electron / (1 - self.s2_area_fraction_top)
        result["ces"] = W_KEV * (result["cs1"] / self.g1_pe_per_photon + result["cs2"] / g2_total)
        return result
