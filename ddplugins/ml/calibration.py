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

import datetime
import json
import logging

import numpy as np

from ddcore.config import ConfigError
from ddplugins.ml import density
from ddplugins.ml.datasets import CATEGORIES

log = logging.getLogger(__name__)

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


def stratified_weights(energy, runs, spectrum_max_kev, produced):
    """Expected events per simulated event of a flat-spectrum population simulated in several
    runs, each drawing the whole spectrum [0, ``spectrum_max_kev``] or a window of it (``runs``:
    (events simulated, (low, high) keV) per run). Every event, whichever run drew it, stands for
    produced / spectrum_max / (sum over runs of n_r q_r(E)) events, q_r the run's sampling density
    at its energy E (the balance heuristic of multiple importance sampling): unbiased, and a window
    run lowers the weights of the energies it covers."""
    energy = np.asarray(energy, float)
    density = np.zeros(len(energy))
    for n_events, (low, high) in runs:
        density += np.where((energy >= low) & (energy <= high), n_events / (high - low), 0.0)
    if np.any(density <= 0):
        raise ValueError(f"{int(np.sum(density <= 0))} events have an energy no calibration run draws "
                         f"(e.g. {energy[density <= 0][0]} keV)")
    return produced / spectrum_max_kev / density


def population_weights(runs, energy, produced, spectrum_max_kev):
    """Expected events per simulated event of one population's calibration runs (``runs``:
    (run, events simulated, energy window or None) each; ``energy``: the true energies of their
    events, concatenated in that order): produced / events for a single run of the whole
    spectrum, else :func:`stratified_weights`."""
    if len(runs) == 1 and runs[0][2] is None:
        return np.full(len(energy), produced / runs[0][1])
    return stratified_weights(energy, [(n, window or (0.0, spectrum_max_kev)) for _, n, window in runs],
                              spectrum_max_kev, produced)


def effective_events(weights):
    """Kish's effective sample size of weighted events: (sum w)^2 / sum w^2."""
    weights = np.asarray(weights, float)
    return float(weights.sum() ** 2 / np.sum(weights**2)) if len(weights) else 0.0


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


def fit_cnn_likelihood_ratio(er_scores, wimp_scores):
    """{"logit": points, "log_ratio": values}: log of the WIMP over background density of the CNN
    score, a function of logit(score) that rises strictly between its caps (centred isotonic
    regression, classes weighted equally; linear between the points), capped at what the sample
    sizes can tell."""
    from sklearn.isotonic import IsotonicRegression

    x = np.concatenate([density.logit(er_scores), density.logit(wimp_scores)])
    y = np.concatenate([np.zeros(len(er_scores)), np.ones(len(wimp_scores))])
    w = np.concatenate([np.full(len(er_scores), 1 / len(er_scores)), np.full(len(wimp_scores), 1 / len(wimp_scores))])
    low, high = 1 / (len(wimp_scores) + 1), 1 - 1 / (len(er_scores) + 1)
    fit = IsotonicRegression(y_min=low, y_max=high, out_of_bounds="clip").fit(x, y, sample_weight=w)
    # centred isotonic regression (Oron and Flournoy, Stat. Biopharm. Res. 9 (2017) 258): each
    # flat block of the fit becomes one point at the centre of its scores, so the ratio rises
    # strictly between the caps and keeps the CNN's ordering; a step function would tie every
    # event of a block, and the calibrated score with them
    posterior = np.clip(fit.y_thresholds_, low, high)
    levels, block = np.unique(posterior, return_inverse=True)
    centres = np.bincount(block, fit.X_thresholds_) / np.bincount(block)
    return {"logit": centres.tolist(), "log_ratio": (np.log(levels) - np.log1p(-levels)).tolist()}


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


def make_calibration(background, er_scores, wimp_scores, hashes, runs):
    """The calibration from the full background model and the analysis-space CNN scores.

    :param background: structured events of every background population, with ``cnn_score``,
        ``cvae_plane_mse``, ``features`` (``density.features``), ``category`` and ``weight``
        (expected events per simulated event)
    :param er_scores, wimp_scores: CNN scores of ER and WIMP calibration events in the analysis space
    :param hashes: cnn_model_sha256, cvae_model_sha256 and cvae_beta of the models calibrated
    :param runs: {run: lineage} of the calibration runs
    (``expected_events`` per category: in the exposure of the weights). Each category's density
    is fitted to every other of its events; its quantiles, like all others, come from all of them.
    """
    calibration = {
        "format_version": FORMAT_VERSION,
        "made": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **hashes,
        "background_runs": runs,
        "levels": LEVELS.tolist(),
        "cnn_likelihood_ratio": fit_cnn_likelihood_ratio(er_scores, wimp_scores),
        "categories": {},
    }
    for index, name in enumerate(CATEGORIES):
        events = background[background["category"] == index]
        if not len(events):
            log.warning("No background calibration event falls in category %r: its events get no anomaly "
                        "score and are never flagged; simulate more events to calibrate it", name)
            calibration["categories"][name] = {"n_events": 0, "n_effective": 0.0, "expected_events": 0.0,
                                               "plane_mse_quantiles": [], "statistic_quantiles": None}
            continue
        weights = events["weight"]
        planes = [None if np.all(np.isnan(events["cvae_plane_mse"][:, j])) else
                  weighted_quantiles(events["cvae_plane_mse"][:, j], weights).tolist()
                  for j in range(events["cvae_plane_mse"].shape[1])]
        fitted = density.fit(events["features"][::2], weights[::2])
        calibration["categories"][name] = {
            "n_events": int(len(events)),
            "n_effective": effective_events(weights),
            "expected_events": float(weights.sum()),
            "plane_mse_quantiles": planes,
            "density": fitted,
            "log_density_quantiles": weighted_quantiles(density.log_density(events["features"], fitted),
                                                        weights).tolist(),
        }
    values = statistic(background["cnn_score"], background["cvae_plane_mse"], background["features"],
                       background["category"], calibration)[3].astype(np.float32)  # as anomaly_scores stores it
    for index, name in enumerate(CATEGORIES):
        pick = background["category"] == index
        if not pick.any():
            continue
        calibration["categories"][name]["statistic_quantiles"] = weighted_quantiles(
            values[pick], background["weight"][pick]).tolist()
    return calibration


def write_calibration(path, calibration):
    with open(path, "w") as f:
        json.dump(calibration, f, indent=0)


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
        raise ConfigError(f"Anomaly calibration {path} lacks {', '.join(missing)}: make it with 'ddcore train calibrate'")
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
                (f"plane_mse_quantiles[{j}]", q) for j, q in enumerate(found.get("plane_mse_quantiles", [])) if q is not None]:
            values = np.asarray(values if values is not None else [], dtype=float)
            if values.ndim != 1 or len(values) != len(LEVELS) or not np.all(np.diff(values) >= 0):
                raise ConfigError(f"Anomaly calibration {path}: categories.{name}.{key} must be an "
                                  f"increasing list of {len(LEVELS)} quantiles")
    return calibration
