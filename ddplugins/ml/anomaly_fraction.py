"""``anomaly_fraction``: the dataset-level anomaly fraction of a run or a superrun, one row.

Every event falls in one category: no main S1, a main S1 below the analysis threshold, the
analysis space of the search (cS1 3-70 PE, cS2_b >= 50 PE, fiducial volume, single scatter:
``datasets.search_selection``) or the rest. Per category the row holds the events, the flagged
events, their fraction with an exact (Clopper-Pearson) 68% interval, the background flag
fraction with its uncertainty from the calibration sample, and the significance of the excess.

The background flag fraction is known only where the anomaly score was calibrated (today: the
analysis space, on the ER background of the calibration file); elsewhere it is NaN, and so is
the significance. The significance is exact: the number of flagged events is beta-binomial,
binomial in the events with the background fraction's uncertainty from the calibration
counts (a Jeffreys posterior).

A superrun (``st.define_run``) gets one row for all its runs together.
"""

import numpy as np
import strax
from scipy import stats

from ddcore.plugins import DDPlugin
from ddplugins.ml import calibration as cal
from ddplugins.ml.datasets import ANALYSIS_CS1_PE, analysis_selection
from ddplugins.ml.statistics import clopper_pearson
from ddplugins.tpc._options import FIDUCIAL_OPTIONS, tpc_options

CATEGORIES = ("no_s1", "small_s1", "analysis_space", "other")
CATEGORY_TITLES = {
    "no_s1": "events without a main S1",
    "small_s1": f"events with cS1 < {ANALYSIS_CS1_PE[0]:g} PE",
    "analysis_space": "events in the analysis space",
    "other": "other events (cS1 above the space, outside the fiducial volume, small S2, multiple S2s)",
}
CALIBRATED = ("analysis_space",)


def _fields():
    fields = []
    for name in CATEGORIES:
        title = CATEGORY_TITLES[name]
        fields += [
            ((f"Number of {title}", f"n_{name}"), np.int64),
            ((f"Flagged anomalous among the {title}", f"flagged_{name}"), np.int64),
            ((f"Anomaly fraction of the {title}", f"fraction_{name}"), np.float64),
            ((f"Lower end of its 68% exact binomial interval ({name})", f"fraction_low_{name}"), np.float64),
            ((f"Upper end of its 68% exact binomial interval ({name})", f"fraction_high_{name}"), np.float64),
            ((f"Background flag fraction ({name}; NaN: not calibrated)", f"background_fraction_{name}"), np.float64),
            ((f"Its standard error from the calibration sample ({name})", f"background_fraction_error_{name}"), np.float64),
            ((f"Significance of the excess of flagged events [sigma] ({name})", f"z_{name}"), np.float64),
        ]
    return fields


def categories(events, fiducial):
    """Category index (into CATEGORIES) of each event."""
    cs1 = events["cs1"]
    in_space = analysis_selection(events, volume=fiducial, single_scatter=True)
    return np.select([~np.isfinite(cs1), cs1 < ANALYSIS_CS1_PE[0], in_space],
                     [0, 1, 2], default=3).astype(np.int8)


def excess_significance(n, flagged, background_fraction, calibration_events):
    """Z of ``flagged`` or more among ``n`` when the background flag fraction was measured as
    ``background_fraction`` on ``calibration_events`` (beta-binomial, Jeffreys prior)."""
    if not np.isfinite(background_fraction) or n == 0 or flagged <= n * background_fraction:
        return 0.0 if np.isfinite(background_fraction) else np.nan
    k = background_fraction * calibration_events
    p_value = stats.betabinom.sf(flagged - 1, n, k + 0.5, calibration_events - k + 0.5)
    return float(stats.norm.isf(max(p_value, 1e-300)))


class AnomalyFraction(DDPlugin):
    """One row per run (or superrun): anomaly fractions by category with intervals, the
    background expectation and the significance of the excess."""

    __version__ = "0.1.0"
    depends_on = ("event_basics", "anomaly_scores")
    provides = "anomaly_fraction"
    data_kind = "anomaly_fraction"
    allow_superrun = True
    run_summary = True
    dtype = strax.time_fields + _fields()

    fiducial_radius_cm, fiducial_z_top_cm, fiducial_z_bottom_cm = tpc_options(*FIDUCIAL_OPTIONS)

    def setup(self):
        # the calibration anomaly_scores used (its content hash is in this lineage through it)
        scores = self.deps["anomaly_scores"]
        calibration = cal.read_calibration(scores.verified_file("anomaly_calibration_file"))
        self.calibration_events = int(calibration["n_events"])
        self.background_fraction = float(scores.anomaly_background_acceptance)
        self.counts = np.zeros((len(CATEGORIES), 2), np.int64)
        self.span = None

    def compute(self, events, start, end):
        fiducial = (self.fiducial_radius_cm, self.fiducial_z_top_cm, self.fiducial_z_bottom_cm)
        category = categories(events, fiducial)
        for flag in (0, 1):
            self.counts[:, flag] += np.bincount(category[events["is_anomalous"] == flag],
                                                minlength=len(CATEGORIES))
        self.span = (start if self.span is None else self.span[0], end)
        return np.zeros(0, self.dtype)

    def iter(self, iters, executor=None):
        # the counts of every chunk first, then the one row of the whole run
        for _ in super().iter(iters, executor=executor):
            pass
        if self.span is not None:
            yield self.chunk(start=self.span[0], end=self.span[1], data=self.summary())

    def summary(self):
        row = np.zeros(1, self.dtype)
        row["time"], row["endtime"] = self.span
        error = np.sqrt(self.background_fraction * (1 - self.background_fraction) / self.calibration_events)
        for i, name in enumerate(CATEGORIES):
            n, flagged = int(self.counts[i].sum()), int(self.counts[i, 1])
            background = self.background_fraction if name in CALIBRATED else np.nan
            row[f"n_{name}"], row[f"flagged_{name}"] = n, flagged
            row[f"fraction_{name}"] = flagged / n if n else np.nan
            row[f"fraction_low_{name}"], row[f"fraction_high_{name}"] = clopper_pearson(flagged, n) if n else (np.nan, np.nan)
            row[f"background_fraction_{name}"] = background
            row[f"background_fraction_error_{name}"] = error if name in CALIBRATED else np.nan
            row[f"z_{name}"] = excess_significance(n, flagged, background, self.calibration_events)
        return row
