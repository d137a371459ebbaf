"""``peak_basics``: one row of summary quantities per peak and its S1/S2 classification."""

import numpy as np
import strax

from ddcore.plugins import DDPlugin

UNKNOWN, S1, S2 = 0, 1, 2


class PeakBasics(DDPlugin):
    """Peak summaries and a documented classifier.

    A peak is an **S1** if its rise time (10% to 50% area) is below a limit that falls with its
    area, as straxen's peaklet classification draws it: ``norm * exp(-area / tau) + const`` below
    ``s1_small_area_threshold_pe`` (``s1_rise_time_area_parameters``: a 5 PE S1 of a few photons
    may rise over 100 ns, the scintillation decay sampled by few photons), and
    ``s1_max_rise_time_large_ns`` above; and at least ``s1_min_channels`` PMTs contribute (the
    3-fold coincidence of XENON1T analyses). Otherwise it is an **S2** if its area is at least
    ``s2_min_area_pe`` and its 50% area width at least ``s2_min_width_ns``; anything else is
    unknown (type 0).
    """

    __version__ = "0.2.0"
    depends_on = "peaks"
    provides = "peak_basics"
    data_kind = "peaks"

    s1_rise_time_area_parameters = strax.Config(
        default=(50.0, 80.0, 12.0), type=(tuple, list),
        help="(norm [ns], const [ns], tau [PE]) of the longest rise time (10%-50% area) of a small S1, "
        "norm * exp(-area / tau) + const (straxen's default)")
    s1_small_area_threshold_pe = strax.Config(
        default=250.0, type=(int, float), help="Largest area of a small S1 (the area-dependent limit) [PE]")
    s1_max_rise_time_large_ns = strax.Config(
        default=120.0, type=(int, float), help="Longest rise time (10%-50% area) of a larger S1 [ns]")
    s1_min_channels = strax.Config(default=3, type=int, help="Fewest PMTs contributing to an S1")
    s2_min_area_pe = strax.Config(default=10.0, type=(float, int), help="Smallest S2 area [PE]")
    s2_min_width_ns = strax.Config(
        default=150, type=(int, float), help="Smallest S2 50% area width [ns]"
    )

    dtype = strax.time_fields + [
        (("Classification: 0 unknown, 1 S1, 2 S2", "type"), np.int8),
        (("Peak area [PE]", "area"), np.float32),
        (("Fraction of the area seen by the top array", "area_fraction_top"), np.float32),
        (("Area-weighted mean time [ns since unix epoch]", "center_time"), np.int64),
        (("Width containing the central 50% of the area [ns]", "range_50p_area"), np.float32),
        (("Width containing the central 90% of the area [ns]", "range_90p_area"), np.float32),
        (("Time from 10% to 50% of the area [ns]", "rise_time"), np.float32),
        (("PMTs contributing to the peak", "n_channels"), np.int16),
        (("Hits in the peak", "n_hits"), np.int32),
        (("Channel with the largest area", "max_pmt"), np.int16),
        (("Area of the channel with the largest area [PE]", "max_pmt_area"), np.float32),
    ]

    def compute(self, peaks):
        result = np.zeros(len(peaks), self.dtype)
        result["time"] = peaks["time"]
        result["endtime"] = strax.endtime(peaks)
        for field in ("area", "area_fraction_top", "center_time", "n_hits"):
            result[field] = peaks[field]
        result["range_50p_area"] = peaks["width"][:, 5]
        result["range_90p_area"] = peaks["width"][:, 9]
        result["rise_time"] = -peaks["area_decile_from_midpoint"][:, 1]
        result["n_channels"] = (peaks["area_per_channel"] > 0).sum(axis=1)
        result["max_pmt"] = np.argmax(peaks["area_per_channel"], axis=1)
        result["max_pmt_area"] = np.max(peaks["area_per_channel"], axis=1)
        result["type"] = self.classify(result)
        return result

    def classify(self, basics):
        norm, const, tau = self.s1_rise_time_area_parameters
        area = basics["area"]
        longest = np.where(area < self.s1_small_area_threshold_pe,
                           norm * np.exp(-np.clip(area, 0, None) / tau) + const, self.s1_max_rise_time_large_ns)
        is_s1 = (basics["rise_time"] < longest) & (basics["n_channels"] >= self.s1_min_channels)
        is_s2 = (
            ~is_s1
            & (basics["area"] >= self.s2_min_area_pe)
            & (basics["range_50p_area"] >= self.s2_min_width_ns)
        )
        return np.where(is_s1, S1, np.where(is_s2, S2, UNKNOWN)).astype(np.int8)
