"""A learnt density of the known background over what is known of an event.

Per event category, a Gaussian mixture over the event's physics (S1 and S2 sizes, corrected and
raw, depth, radius, S2 width and top fraction, a second S2), the CNN's logit and the CVAE's
per-plane reconstruction errors, fitted to the weighted background calibration events. Its tail
probability, P_bkg(density <= the event's), asks "how rare is an event like this one among the
known backgrounds" with every variable at once: an S2 that no background of its category makes
without an S1, an NR-band event above the WIMP region, a reconstruction the CVAE finds odd where
the physics is ordinary. Features a category never has (the drift time without an S1) are left
out of its mixture; the rare event missing one that its category has gets the category's median.

Stored as plain numbers in the JSON calibration (no pickled model): the standardisation, the
component weights, means and Cholesky factors of the precisions, and the background quantiles of
the log density.
"""

import numpy as np

FEATURES = ("log10_s1_area", "log10_s2_area", "log10_cs1", "log10_cs2_bottom", "drift_time_us",
            "r_squared_cm2", "s2_area_fraction_top", "log10_s2_width_ns", "log10_alt_s2_fraction",
            "cnn_logit", "log10_cvae_plane_mse_0", "log10_cvae_plane_mse_1", "log10_cvae_plane_mse_2")
COLUMNS = ("s1_area", "s2_area", "cs1", "cs2_bottom", "drift_time", "r", "s2_area_fraction_top",
           "s2_range_50p_area", "alt_s2_area")


def _log10(values):
    values = np.asarray(values, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def logit(score):
    """log(p / (1 - p)) of probabilities, kept finite at 0 and 1."""
    score = np.clip(np.asarray(score, float), 1e-7, 1 - 1e-7)
    return np.log(score) - np.log1p(-score)


def features(events):
    """(n, len(FEATURES)) array of events with ``COLUMNS``, ``cnn_score`` and ``cvae_plane_mse``;
    NaN where an event lacks a feature (no S1: no drift time)."""
    plane_mse = np.asarray(events["cvae_plane_mse"], float)
    if plane_mse.ndim == 1:
        plane_mse = plane_mse[:, None]
    planes = np.full((len(events), 3), np.nan)
    planes[:, :min(3, plane_mse.shape[1])] = plane_mse[:, :3]
    s2 = np.asarray(events["s2_area"], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        alt_fraction = np.nan_to_num(np.asarray(events["alt_s2_area"], float)) / s2
    return np.column_stack([
        _log10(events["s1_area"]), _log10(s2), _log10(events["cs1"]), _log10(events["cs2_bottom"]),
        np.asarray(events["drift_time"], float) / 1e3, np.asarray(events["r"], float) ** 2,
        np.asarray(events["s2_area_fraction_top"], float), _log10(events["s2_range_50p_area"]),
        _log10(1e-3 + alt_fraction), logit(events["cnn_score"]), _log10(planes),
    ])


def filled(values, fill):
    return np.where(np.isfinite(values), values, fill)


def log_density(x, model):
    """Log density of the mixture at the events' features (``x`` from :func:`features`)."""
    used = [FEATURES.index(name) for name in model["features"]]
    z = (filled(np.asarray(x, float)[:, used], np.asarray(model["fill"])) - model["center"]) / model["scale"]
    per_component = []
    for weight, mean, cholesky in zip(model["weights"], model["means"], model["precision_cholesky"]):
        cholesky = np.asarray(cholesky)
        y = (z - mean) @ cholesky
        per_component.append(np.log(weight) + np.sum(np.log(np.diag(cholesky))) - 0.5 * np.sum(y**2, axis=1)
                             - 0.5 * len(used) * np.log(2 * np.pi))
    return np.logaddexp.reduce(np.array(per_component), axis=0)


def check(model, where):
    """A ValueError naming ``where`` if a stored mixture is malformed."""
    try:
        names = list(model["features"])
        unknown = [name for name in names if name not in FEATURES]
        d, k = len(names), len(model["weights"])
        shapes = {"fill": (d,), "center": (d,), "scale": (d,), "means": (k, d), "precision_cholesky": (k, d, d)}
        wrong = [key for key, shape in shapes.items() if np.shape(np.asarray(model[key], float)) != shape]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: background density is malformed ({e!r})") from None
    if unknown or wrong or k < 1 or not np.all(np.isfinite(np.asarray(model["weights"], float))):
        what = "unknown features " + ", ".join(unknown) if unknown else "shapes of " + ", ".join(wrong)
        raise ValueError(f"{where}: background density is malformed ({what})")
