"""``anomaly_fraction``: the dataset-level anomaly fraction of a run or a superrun, one row.

Every event falls in one category (``anomaly_scores.category``: no main S1, a main S1 below the
analysis threshold, the analysis space of the search (cS1 3-70 PE, cS2_b >= 50 PE, fiducial
volume, single scatter) or the rest), and the anomaly score is calibrated in each on the full
known-background model. Per category the row holds the events, the flagged events, their
fraction with an exact (Clopper-Pearson) 68% interval, the background flag fraction (the
acceptance the flags were set at) with its uncertainty from the calibration sample's effective
size (NaN, and no significance, in a category no calibration event fell in), and the
significance of the excess. The significance is exact: the number of flagged
events is beta-binomial, binomial in the events with the background fraction's uncertainty
from the calibration counts (a Jeffreys posterior). The flag fraction of a category is capped
at a few expected background events per live day (``anomaly_scores``), so the flags of all
categories pool into one dataset-level anomaly fraction: the ``_total`` fields, with the
background expectation summed over categories and the exact significance of the pooled count
(the convolution of the categories' beta-binomials).

A superrun (``st.define_run``) gets one row for all its runs together.
"""

import numpy as np
import strax
from scipy import stats

from ddcore.plugins import DDPlugin
from ddplugins.ml import calibration as cal
from ddplugins.ml.categories import CATEGORIES, CATEGORY_TITLES
from ddplugins.ml.intervals import clopper_pearson


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
            ((f"Background flag fraction ({name})", f"background_fraction_{name}"), np.float64),
            ((f"Its standard error from the calibration sample ({name})",
             f"background_fraction_error_{name}"), np.float64),
            ((f"Effective background events calibrating the score ({name})", f"calibration_events_{name}"), np.float64),
            ((f"Significance of the excess of flagged events [sigma] ({name})", f"z_{name}"), np.float64),
        ]
    fields += [
        (("Number of events, all categories", "n_total"), np.int64),
        (("Flagged anomalous, all categories", "flagged_total"), np.int64),
        (("Anomaly fraction of all events", "fraction_total"), np.float64),
        (("Lower end of its 68% exact binomial interval (all)", "fraction_low_total"), np.float64),
        (("Upper end of its 68% exact binomial interval (all)", "fraction_high_total"), np.float64),
        (("Background expectation of the flagged events, all categories [events]", "background_flagged_total"),
         np.float64),
        (("Its standard error from the calibration samples [events]", "background_flagged_total_error"), np.float64),
        (("Significance of the excess of flagged events, all categories [sigma]", "z_total"), np.float64),
    ]
    return fields


def _beta_binomial(n, background_fraction, calibration_events):
    return stats.betabinom(n, background_fraction * calibration_events + 0.5,
                           calibration_events - background_fraction * calibration_events + 0.5)


def pooled_excess_significance(counts, flagged, background_fractions, calibration_events):
    """Z of ``flagged`` or more flagged events in all categories together, each category's count
    beta-binomial as in :func:`excess_significance` (the exact convolution of the categories;
    uncalibrated categories, NaN fraction, are left out)."""
    used = [(n, f, k) for n, f, k in zip(counts, background_fractions, calibration_events) if np.isfinite(f) and n]
    expected = sum(n * f for n, f, _ in used)
    if flagged <= expected:
        return 0.0
    below = np.zeros(flagged)  # P(total = t) for t < flagged
    below[0] = 1.0
    for n, f, k in used:
        pmf = _beta_binomial(n, f, k).pmf(np.arange(min(n, flagged - 1) + 1))
        below = np.convolve(below, pmf)[:flagged]
    return float(stats.norm.isf(min(max(1.0 - below.sum(), 1e-300), 0.5)))


def excess_significance(n, flagged, background_fraction, calibration_events):
    """Z of ``flagged`` or more among ``n`` when the background flag fraction was measured as
    ``background_fraction`` on ``calibration_events`` (beta-binomial, Jeffreys prior)."""
    if not np.isfinite(background_fraction) or n == 0 or flagged <= n * background_fraction:
        return 0.0 if np.isfinite(background_fraction) else np.nan
    p_value = _beta_binomial(n, background_fraction, calibration_events).sf(flagged - 1)
    return float(stats.norm.isf(min(max(p_value, 1e-300), 0.5)))


class AnomalyFraction(DDPlugin):
    """One row per run (or superrun): anomaly fractions by category with intervals, the
    background expectation and the significance of the excess."""

    __version__ = "0.3.0"
    depends_on = "anomaly_scores"
    provides = "anomaly_fraction"
    data_kind = "anomaly_fraction"
    allow_superrun = True
    run_summary = True
    dtype = strax.time_fields + _fields()

    def setup(self):
        # the calibration anomaly_scores used (its content hash is in this lineage through it)
        scores = self.deps["anomaly_scores"]
        calibration = cal.read_calibration(scores.verified_file("anomaly_calibration_file"))
        self.calibration_events = [calibration["categories"][name]["n_effective"] for name in CATEGORIES]
        # a category no calibration event fell in is not calibrated: no expectation, no Z
        self.background_fractions, self.background_errors = cal.flag_rates(calibration, cal.category_acceptances(
            calibration, scores.anomaly_background_acceptance, scores.anomaly_max_background_flags_per_day))
        self.counts = np.zeros((len(CATEGORIES), 2), np.int64)
        self.span = None

    def compute(self, events, start, end):
        for flag in (0, 1):
            self.counts[:, flag] += np.bincount(events["category"][events["is_anomalous"] == flag],
                                                minlength=len(CATEGORIES))
        self.span = (start if self.span is None else self.span[0], end)
        return np.zeros(0, self.dtype)

    def iter(self, iters, executor=None):
        # the counts of every chunk first, then the one row of the whole run
        for _ in super().iter(iters, executor=executor):
            pass
        if self.span is not None:
            yield self.chunk(start=self.span[0], end=self.span[1], data=self.summary())

    def summary_of(self, events, start, end):
        """The run's row from these events (those a read of a blinded run gives, for instance)."""
        self.counts[:] = 0
        self.span = None
        self.compute(events, start, end)
        return self.summary()

    def summary(self):
        row = np.zeros(1, self.dtype)
        row["time"], row["endtime"] = self.span
        for i, name in enumerate(CATEGORIES):
            n, flagged = int(self.counts[i].sum()), int(self.counts[i, 1])
            row[f"n_{name}"], row[f"flagged_{name}"] = n, flagged
            row[f"fraction_{name}"] = flagged / n if n else np.nan
            row[f"fraction_low_{name}"], row[f"fraction_high_{name}"] = clopper_pearson(
                flagged, n) if n else (np.nan, np.nan)
            row[f"background_fraction_{name}"] = self.background_fractions[i]
            row[f"background_fraction_error_{name}"] = self.background_errors[i]
            row[f"calibration_events_{name}"] = self.calibration_events[i]
            row[f"z_{name}"] = excess_significance(n, flagged, self.background_fractions[i], self.calibration_events[i])
        counts = self.counts.sum(axis=1)
        n, flagged = int(counts.sum()), int(self.counts[:, 1].sum())
        used = np.isfinite(self.background_fractions)
        row["n_total"], row["flagged_total"] = n, flagged
        row["fraction_total"] = flagged / n if n else np.nan
        row["fraction_low_total"], row["fraction_high_total"] = clopper_pearson(flagged, n) if n else (np.nan, np.nan)
        row["background_flagged_total"] = np.sum((counts * self.background_fractions)[used])
        row["background_flagged_total_error"] = np.sqrt(np.sum(((counts * self.background_errors)[used]) ** 2))
        row["z_total"] = pooled_excess_significance(counts, flagged, self.background_fractions, self.calibration_events)
        return row
