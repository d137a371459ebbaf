"""``blinding_region``: whether each event lies in the WIMP search's signal region, the region a
blinded run hides (``ddcore.blinding``)."""

import numpy as np
import strax

from ddcore.blinding import REGION_FIELD
from ddcore.plugins import DDPlugin
from ddplugins.tpc._options import FIDUCIAL_OPTIONS, tpc_options


class BlindingRegion(DDPlugin):
    """The signal region of the WIMP search, as XENON1T blinded it: cS1 in the analysis range and
    cS2_b/cS1 below the median of the ER band (the NR side), inside the fiducial volume (outside
    it, the wall's charge-losing events below the band stay visible, the sideband their model is
    made from). Events without a main S1 or S2 lie outside it."""

    __version__ = "0.2.0"
    depends_on = "event_basics"
    provides = "blinding_region"
    data_kind = "events"
    dtype = strax.time_fields + [
        (("1 if the event lies in the signal region a blinded run hides", REGION_FIELD), np.bool_),
    ]

    fiducial_radius_cm, fiducial_z_top_cm, fiducial_z_bottom_cm = tpc_options(*FIDUCIAL_OPTIONS)
    blinding_cs1_range_pe = strax.Config(
        default=(3.0, 70.0), type=(tuple, list), help="cS1 range of the signal region [PE]")
    blinding_er_band_median = strax.Config(
        default=(2.914, -1.007, 0.176), type=(tuple, list),
        help="Median of the ER band: log10(cS2_b / cS1) as a polynomial in log10(cS1 / PE), coefficients "
        "from the constant up (default: a fit to the simulated XENON1T SR0 ER test run er_sr0_300005000)")

    def compute(self, events):
        result = self.new_result(events)
        cs1, cs2 = events["cs1"], events["cs2_bottom"]
        low, high = self.blinding_cs1_range_pe
        with np.errstate(invalid="ignore", divide="ignore"):
            log_cs1 = np.log10(cs1)
            median = np.polynomial.polynomial.polyval(log_cs1, np.asarray(self.blinding_er_band_median, float))
            fiducial = ((np.hypot(events["x"], events["y"]) < self.fiducial_radius_cm)
                        & (events["z"] < self.fiducial_z_top_cm) & (events["z"] > self.fiducial_z_bottom_cm))
            result[REGION_FIELD] = (fiducial & (cs1 >= low) & (cs1 <= high) & (cs2 > 0)
                                    & (np.log10(cs2 / cs1) < median))
        return result
