"""Figures of merit for every method on the same events (significances: ``statistics``)."""

import numpy as np
from scipy import stats

from ddcore.extras import import_ml
from ddplugins.ml.intervals import clopper_pearson

BASIC_FEATURES = (
    "cs1", "cs2_bottom", "s1_area_fraction_top", "s2_area_fraction_top", "s1_range_50p_area",
    "s1_rise_time", "s2_range_50p_area", "s1_n_channels", "drift_time", "r",
)


def rejection_at_acceptance(background_scores, signal_scores, acceptance=0.5):
    """Fraction of background below the score that keeps ``acceptance`` of the signal."""
    threshold = np.quantile(signal_scores, 1 - acceptance)
    return float(np.mean(background_scores < threshold))


def seed_spread(seeds):
    """Per method, its ROC AUC and ER rejection at 50% WIMP acceptance on the test events of each
    seed (``seeds``: (labels, {method: scores}) per seed), their mean and their standard
    deviation between seeds: how much a figure of merit moves with an independent test set."""
    found = {}
    for name in seeds[0][1]:
        figures = {"roc_auc": [], "er_rejection_at_50pct_wimp": []}
        for labels, scores in seeds:
            labels, values = np.asarray(labels), np.asarray(scores[name], float)
            figures["roc_auc"].append(fast_auc(labels, values))
            figures["er_rejection_at_50pct_wimp"].append(
                rejection_at_acceptance(values[labels == 0], values[labels == 1]))
        found[name] = {}
        for figure, values in figures.items():
            found[name].update({figure: values, f"{figure}_mean": float(np.mean(values)),
                                f"{figure}_seed_std": float(np.std(values, ddof=1))})
    return found


def holm(p_values):
    """Holm's step-down adjustment of p-values for testing them all (family-wise error rate)."""
    p_values = np.asarray(p_values, float)
    order = np.argsort(p_values)
    scaled = (len(p_values) - np.arange(len(p_values))) * p_values[order]
    adjusted = np.empty(len(p_values))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.tolist()


def paired_leakage(labels, scores, acceptances=(0.3, 0.5, 0.7), level=0.6827):
    """Methods compared on the same events: per WIMP acceptance, the ER events each method lets
    through (at or above the score that keeps that share of the WIMPs) with their exact binomial
    interval, and for every pair of methods the events only one of them lets through and the exact
    McNemar p-value (two-sided binomial test of those discordant events at one half), and that
    p-value adjusted for the comparisons of every pair (Holm). A method is better than another
    only where the adjusted p-value is small: both are judged on the same events, so
    the events both leak, or both reject, say nothing about the difference."""
    labels = np.asarray(labels)
    background = labels == 0
    n_background = int(background.sum())
    rows = []
    for acceptance in acceptances:
        leaked = {}
        for name, values in scores.items():
            values = np.asarray(values, float)
            leaked[name] = values[background] >= np.quantile(values[labels == 1], 1 - acceptance)
        methods = {name: {"leaked": int(k.sum()), "interval": list(clopper_pearson(int(k.sum()), n_background, level))}
                   for name, k in leaked.items()}
        pairs = []
        for i, first in enumerate(leaked):
            for second in list(leaked)[i + 1:]:
                only_first = int(np.sum(leaked[first] & ~leaked[second]))
                only_second = int(np.sum(leaked[second] & ~leaked[first]))
                discordant = only_first + only_second
                p_value = stats.binomtest(only_first, discordant, 0.5).pvalue if discordant else 1.0
                pairs.append({"methods": [first, second], "only_first": only_first, "only_second": only_second,
                              "p_value": float(p_value)})
        for pair, adjusted in zip(pairs, holm([p["p_value"] for p in pairs])):
            pair["p_value_holm"] = adjusted
        rows.append({"wimp_acceptance": acceptance, "er_events": n_background, "methods": methods, "pairs": pairs})
    return rows


def fast_auc(labels, scores):
    """ROC AUC from ranks (Mann-Whitney U), ties counted half."""
    ranks = stats.rankdata(scores)
    n_signal = int(np.sum(labels == 1))
    n_background = len(labels) - n_signal
    return float((np.sum(ranks[labels == 1]) - n_signal * (n_signal + 1) / 2) / (n_signal * n_background))


def bootstrap_errors(labels, scores, n_resamples=200, seed=0):
    """Standard deviations of ROC AUC and of the ER rejection at 50% WIMP acceptance over
    bootstrap resamples of the events."""
    rng = np.random.default_rng(seed)
    aucs, rejections = [], []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(labels), len(labels))
        resampled_labels, resampled_scores = labels[pick], scores[pick]
        aucs.append(fast_auc(resampled_labels, resampled_scores))
        rejections.append(rejection_at_acceptance(resampled_scores[resampled_labels == 0],
                                                  resampled_scores[resampled_labels == 1]))
    return {"roc_auc_error": float(np.std(aucs)), "er_rejection_error": float(np.std(rejections))}


def classification_metrics(labels, scores, threshold=0.5):
    metrics = import_ml("sklearn.metrics", "Classification metrics")
    accuracy_score, precision_score = metrics.accuracy_score, metrics.precision_score
    recall_score, roc_auc_score = metrics.recall_score, metrics.roc_auc_score

    predicted = (scores >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "er_rejection_at_50pct_wimp": rejection_at_acceptance(scores[labels == 0], scores[labels == 1]),
    }


def feature_matrix(events):
    columns = [np.asarray(events[name], np.float64) for name in BASIC_FEATURES]
    ratio = np.log10(np.clip(events["cs2_bottom"], 1, None) / np.clip(events["cs1"], 1e-3, None))
    return np.nan_to_num(np.column_stack([*columns, ratio]), nan=-1.0)


def train_boosted_trees(events, labels, seed=0):
    """Gradient-boosted trees on event_basics features (the strong classical ML baseline)."""
    HistGradientBoostingClassifier = import_ml("sklearn.ensemble", "The boosted trees").HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=seed)
    model.fit(feature_matrix(events), labels)
    return model


def band_cut_score(train_events, train_labels, events, n_bins=10):
    """Classical cS2/cS1 discrimination as a score: how far below the WIMP median of
    log10(cS2_b/cS1) (in cS1 bins fitted on the training WIMPs) an event lies."""
    y_train = np.log10(train_events["cs2_bottom"] / train_events["cs1"])
    wimp = train_labels == 1
    edges = np.quantile(train_events["cs1"][wimp], np.linspace(0, 1, n_bins + 1))
    centres = (edges[1:] + edges[:-1]) / 2
    medians = [np.median(y_train[wimp & (train_events["cs1"] >= lo) & (train_events["cs1"] <= hi)])
               for lo, hi in zip(edges[:-1], edges[1:])]
    y = np.log10(events["cs2_bottom"] / events["cs1"])
    return np.interp(events["cs1"], centres, medians) - y


def density_ratio_score(train_events, train_labels, events):
    """The information limit of (cS1, log10 cS2_b): log of the WIMP over the ER density there,
    both Gaussian kernel density estimates (Scott's bandwidth) of the training events."""
    from scipy.stats import gaussian_kde

    def plane(data):
        return np.vstack([np.asarray(data["cs1"], float), np.log10(np.asarray(data["cs2_bottom"], float))])

    train = plane(train_events)
    points = plane(events)
    wimp = gaussian_kde(train[:, train_labels == 1]).logpdf(points)
    er = gaussian_kde(train[:, train_labels == 0]).logpdf(points)
    return wimp - er
