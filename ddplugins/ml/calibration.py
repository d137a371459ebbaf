"""Background calibration of the anomaly score, per event category.

The anomaly statistic of an event is the log Bayes factor of "a WIMP or an unknown anomaly"
against the known background, with the two alternatives weighted equally:

    statistic = log((LR_cnn + B_density) / 2)     (LR_cnn = 0 outside the analysis space)

- ``LR_cnn``, the supervised part: the CNN's likelihood ratio, WIMP over background density of
  its score, learnt on calibration events in the analysis space (centred isotonic regression of
  the label on the score with the classes weighted equally: it rises strictly with the score
  between its caps, so it keeps the CNN's order). It counts only in the analysis space, where
  it was learnt: outside it the CNN sees events unlike any it was trained on.
- ``B_density``, the unsupervised part: the largest Bayes factor that *any* alternative can have
  against the background at the background tail probability p of the event, 1 / (-e p ln p)
  for p < 1/e and 1 above (Sellke, Bayarri and Berger, Am. Stat. 55 (2001) 62). p is
  P_bkg(density <= the event's) of a Gaussian mixture learnt per category on the background
  (``ddplugins.ml.density``) over the event's physics (S1 and S2 sizes, depth, radius, S2 width
  and top fraction, a second S2), the CNN's logit and the CVAE's reconstruction error of each
  colour plane of the image (HitPeak: S2 top, S1 bottom, peak): the combination of the parts is
  learnt as a background density, not a product of their tail probabilities. It knows no
  signal, so it speaks only where the background is rare: an S2 no background of its category
  makes without an S1, NR-like events above the WIMP region, a reconstruction the CVAE finds odd.
  The CVAE's own tail probability (smallest over planes, Sidak-corrected) is kept for reference.

A sum of the two Bayes factors keeps the CNN's ranking wherever it is confident (its likelihood
ratio reaches ~1e3 on WIMPs, where a density bound of 1e3 needs p ~ 4e-5), unlike a product of
tail probabilities, which lets every background fluctuation of the unsupervised part dilute the CNN.

The anomaly score is -log10 of the background tail probability of the statistic within the
event's category (``datasets.CATEGORIES``: no main S1; cS1 < 3 PE; the analysis space; other),
measured on the full known-background model: every population but the WIMP, each weighted by
its rate over its simulated events (``populations.expected_counts``). An event is flagged above
the score that a fraction ``anomaly_background_acceptance`` of its category's background exceeds,
or a smaller fraction where that would flag more than ``anomaly_max_background_flags_per_day``
background events per live day (``category_acceptances``): a category of thousands of background
events per exposure is flagged at the rate of its rarest events, so that a flag means the same
(a few background events per science run) in every category and their flags can be pooled.
"""

import json

import numpy as np

from ddcore.config import ConfigError
from ddplugins.ml import density
from ddplugins.ml.categories import CATEGORIES

FORMAT_VERSION = 3
SUPERVISED_CATEGORY = CATEGORIES.index("analysis_space")  # where the CNN's likelihood ratio is learnt
# quantile levels: uniform, and dense in the upper tail where the flags and scores are read
LEVELS = np.unique(np.concatenate([np.linspace(0, 1, 1001), 1 - np.logspace(-6, -2, 201)]))


def weighted_quantiles(values, weights, levels=LEVELS):
    """Quantiles of weighted values (the midpoint rule of the weighted empirical CDF)."""
    values, weights = np.asarray(values, float), np.asarray(weights, float)
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cdf = (np.cumsum(weights) - weights / 2) / weights.sum()
    return np.interp(levels, cdf, values)


def tail_probability(values, quantiles, n_events, levels=LEVELS):
    """P(background >= value) from background quantiles at ``levels``, floored at
    1 / (n_events + 1) (no sample of n events tells a smaller one)."""
    cdf = np.interp(values, quantiles, levels, left=0.0, right=1.0)
    return np.clip(1 - cdf, 1 / (n_events + 1), 1)


def bayes_factor_bound(p):
    """log of 1 / (-e p ln p) for p < 1/e, else 0: the largest log Bayes factor against a null
    that a tail probability p allows."""
    p = np.clip(np.asarray(p, float), 1e-300, 1 / np.e)  # 1 / (-e p ln p) is 1 at p = 1/e
    return -np.log(-np.e * p * np.log(p))


def cnn_log_likelihood_ratio(cnn_score, calibration):
    table = calibration["cnn_likelihood_ratio"]
    return np.interp(density.logit(cnn_score), table["logit"], table["log_ratio"])


def is_calibrated(category_calibration):
    """Whether any background calibration event fell in the category."""
    return category_calibration["statistic_quantiles"] is not None


def cvae_tail_probability(plane_mse, category_calibration):
    """Sidak-corrected smallest background tail probability of the planes' errors (1 in a
    category without calibration events)."""
    plane_mse = np.atleast_2d(np.asarray(plane_mse, float))
    planes = category_calibration["plane_mse_quantiles"]
    n = category_calibration["n_effective"]
    smallest = np.ones(len(plane_mse))
    used = 0
    for j, quantiles in enumerate(planes):
        if quantiles is None:
            continue
        used += 1
        p = tail_probability(plane_mse[:, j], np.asarray(quantiles), n)
        smallest = np.minimum(smallest, np.where(np.isfinite(plane_mse[:, j]), p, 1.0))
    return 1 - (1 - smallest) ** max(used, 1)


def density_tail_probability(x, category_calibration):
    """P_bkg(log density <= the event's) of the category's background density at the events'
    features ``x`` (``density.features``), floored at 1 / (n_effective + 1)."""
    log_density = density.log_density(x, category_calibration["density"])
    cdf = np.interp(log_density, category_calibration["log_density_quantiles"], LEVELS, left=0.0, right=1.0)
    return np.clip(cdf, 1 / (category_calibration["n_effective"] + 1), 1)


def statistic(cnn_score, plane_mse, features, category, calibration):
    """(log LR of the CNN, CVAE tail probability, background-density tail probability, anomaly
    statistic) per event; ``features`` from ``density.features``. The CNN's likelihood ratio,
    learnt in the analysis space, counts only there: elsewhere its score is one of the density's
    features."""
    log_lr = cnn_log_likelihood_ratio(cnn_score, calibration)
    p_cvae, p_density = np.ones(len(log_lr)), np.ones(len(log_lr))
    for index, name in enumerate(CATEGORIES):
        pick = np.asarray(category) == index
        found = calibration["categories"][name]
        if pick.any() and found["n_events"] > 0:
            p_cvae[pick] = cvae_tail_probability(np.asarray(plane_mse)[pick], found)
            p_density[pick] = density_tail_probability(np.asarray(features)[pick], found)
    supervised = np.where(np.asarray(category) == SUPERVISED_CATEGORY, log_lr, -np.inf)
    return log_lr, p_cvae, p_density, np.logaddexp(supervised, bayes_factor_bound(p_density)) - np.log(2)


def anomaly_score(values, category, calibration):
    """-log10 of the background tail probability of the statistic in each event's category
    (NaN in a category without calibration events)."""
    score = np.full(len(values), np.nan)
    for index, name in enumerate(CATEGORIES):
        pick = np.asarray(category) == index
        found = calibration["categories"][name]
        if pick.any() and is_calibrated(found):
            score[pick] = -np.log10(tail_probability(values[pick], np.asarray(found["statistic_quantiles"]),
                                                     found["n_effective"]))
    return score


def category_acceptances(calibration, background_acceptance, max_flags_per_day=np.inf):
    """Per category, the fraction of its background flagged: ``background_acceptance``, or less
    where that would flag more than ``max_flags_per_day`` expected background events per live
    day (the category's ``expected_events`` in the calibration's ``live_days``)."""
    live_days = float(calibration.get("live_days") or 0)
    found = []
    for name in CATEGORIES:
        per_day = calibration["categories"][name]["expected_events"] / live_days if live_days > 0 else 0.0
        found.append(min(background_acceptance, max_flags_per_day / per_day) if per_day > 0 else background_acceptance)
    return np.array(found)


def flag_rates(calibration, acceptances):
    """Per category: the background fraction flagged (NaN in a category no calibration event
    fell in) and its binomial error from the calibration's effective events."""
    effective = np.array([calibration["categories"][name]["n_effective"] for name in CATEGORIES], float)
    calibrated = effective > 0
    rates = np.where(calibrated, acceptances, np.nan)
    with np.errstate(invalid="ignore"):
        return rates, np.sqrt(rates * (1 - rates) / np.where(calibrated, effective, np.nan))


def thresholds(calibration, background_acceptance):
    """Per category, the statistic above which a fraction ``background_acceptance`` (one for all
    categories, or one per category) of background lies (infinite, nothing flagged, in a
    category without calibration events)."""
    acceptance = np.broadcast_to(np.asarray(background_acceptance, float), (len(CATEGORIES),))
    return np.array([np.interp(1 - share, LEVELS, found["statistic_quantiles"]) if is_calibrated(found) else np.inf
                     for share, found in zip(acceptance, (calibration["categories"][name] for name in CATEGORIES))])


REQUIRED_KEYS = ("cnn_model_sha256", "cvae_model_sha256", "cvae_beta", "cnn_likelihood_ratio", "categories")


def read_calibration(path):
    """The calibration in ``path``; a ConfigError names the file and what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as f:
            calibration = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"Anomaly calibration {path} is not valid JSON: {e}") from None
    if not isinstance(calibration, dict):
        raise ConfigError(f"Anomaly calibration {path} must hold a JSON object")
    if calibration.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"Anomaly calibration {path} has format {calibration.get('format_version', 1)}, "
                          f"this version reads {FORMAT_VERSION}: make it again with 'ddcore train calibrate'")
    missing = [key for key in REQUIRED_KEYS if key not in calibration]
    missing += [f"categories.{name}" for name in CATEGORIES if name not in calibration.get("categories", {})]
    if missing:
        raise ConfigError(
            f"Anomaly calibration {path} lacks {', '.join(missing)}: make it with 'ddcore train calibrate'")
    if not np.allclose(calibration.get("levels", []), LEVELS):
        raise ConfigError(f"Anomaly calibration {path}: its quantile levels are not this version's")
    for name in CATEGORIES:
        found = calibration["categories"][name]
        if found.get("n_events") == 0:
            continue  # no calibration event fell in it: not calibrated
        try:
            density.check(found.get("density"), f"Anomaly calibration {path}: categories.{name}")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        for key, values in [("statistic_quantiles", found.get("statistic_quantiles")),
                            ("log_density_quantiles", found.get("log_density_quantiles"))] + [
                (f"plane_mse_quantiles[{j}]", q)
                for j, q in enumerate(found.get("plane_mse_quantiles", [])) if q is not None]:
            values = np.asarray(values if values is not None else [], dtype=float)
            if values.ndim != 1 or len(values) != len(LEVELS) or not np.all(np.diff(values) >= 0):
                raise ConfigError(f"Anomaly calibration {path}: categories.{name}.{key} must be an "
                                  f"increasing list of {len(LEVELS)} quantiles")
    return calibration
