"""Fitting the anomaly score's background calibration (``ddplugins.ml.calibration`` reads and
applies it): event weights of the calibration runs, the CNN's likelihood ratio, the learnt
background density of each category and its quantiles, written as JSON."""

import datetime
import json
import logging

import numpy as np

from ddcore.extras import import_ml
from ddplugins.ml import density
from ddplugins.ml.calibration import FORMAT_VERSION, LEVELS, statistic, weighted_quantiles
from ddplugins.ml.categories import CATEGORIES

log = logging.getLogger(__name__)

MAX_COMPONENTS = 12
MIN_EVENTS_PER_COMPONENT = 200  # of the resampled fit set: fewer components where a category is small
FIT_EVENTS = 60_000
MIN_FEATURE_COVERAGE = 0.5  # a feature defined for fewer of a category's events is left out of it


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


def fit_cnn_likelihood_ratio(er_scores, wimp_scores):
    """{"logit": points, "log_ratio": values}: log of the WIMP over background density of the CNN
    score, a function of logit(score) that rises strictly between its caps (centred isotonic
    regression, classes weighted equally; linear between the points), capped at what the sample
    sizes can tell."""
    IsotonicRegression = import_ml("sklearn.isotonic", "The CNN likelihood-ratio fit").IsotonicRegression

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


def fit_density(x, weights, seed=0):
    """The mixture of a category's background (``x`` from ``density.features``, ``weights`` the
    expected events per event), fitted to twice its events (at most ``FIT_EVENTS``) drawn with
    probability proportional to their weight (the mixture takes no weights)."""
    GaussianMixture = import_ml("sklearn.mixture", "The background-density fit").GaussianMixture

    x, weights = np.asarray(x, float), np.asarray(weights, float)
    finite = np.isfinite(x)
    coverage = (finite * weights[:, None]).sum(0) / weights.sum()
    used = np.flatnonzero(coverage >= MIN_FEATURE_COVERAGE)
    fill = np.array([weighted_quantiles(x[finite[:, j], j], weights[finite[:, j]], 0.5) for j in used])
    values = density.filled(x[:, used], fill)
    rng = np.random.default_rng(seed)
    drawn = values[rng.choice(len(values), size=min(FIT_EVENTS, max(2 * len(values), 1000)), p=weights / weights.sum())]
    center, scale = drawn.mean(0), drawn.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    n_components = int(np.clip(len(np.unique(drawn, axis=0)) // MIN_EVENTS_PER_COMPONENT, 1, MAX_COMPONENTS))
    mixture = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-3, random_state=seed,
                              max_iter=300).fit((drawn - center) / scale)
    return {
        "features": [density.FEATURES[j] for j in used], "fill": fill.tolist(), "center": center.tolist(),
        "scale": scale.tolist(), "weights": mixture.weights_.tolist(), "means": mixture.means_.tolist(),
        "precision_cholesky": mixture.precisions_cholesky_.tolist(),
    }


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
        fitted = fit_density(events["features"][::2], weights[::2])
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
