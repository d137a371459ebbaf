"""Background calibration of the anomaly scores.

The combined semi-supervised score of an event is

    anomaly_score = -log10( P_bkg(CVAE loss >= observed) * P_bkg(CNN score >= observed) )

with both tail probabilities measured on simulated background (ER) events that neither model
was trained on (Fisher's combination of an unsupervised and a supervised test). An event is
flagged anomalous above the score that a fraction ``anomaly_background_acceptance`` of
background events exceeds. The calibration file keeps the background quantiles of the three
quantities and the hashes of the models they belong to.
"""

import datetime
import json

import numpy as np

from ddcore.config import ConfigError

N_QUANTILES = 2001


def tail_probability(values, quantiles, n_events):
    """P(background >= value) from background quantiles, floored at 1 / (n_events + 1)."""
    levels = np.linspace(0, 1, len(quantiles))
    cdf = np.interp(values, quantiles, levels, left=0.0, right=1.0)
    return np.clip(1 - cdf, 1 / (n_events + 1), 1)


def combined_score(cvae_loss, cnn_score, calibration):
    n = calibration["n_events"]
    p_cvae = tail_probability(cvae_loss, np.asarray(calibration["cvae_loss_quantiles"]), n)
    p_cnn = tail_probability(cnn_score, np.asarray(calibration["cnn_score_quantiles"]), n)
    return p_cvae, p_cnn, -np.log10(p_cvae * p_cnn)


def make_calibration(cvae_loss, cnn_score, cnn_sha256, cvae_sha256, cvae_beta, runs):
    levels = np.linspace(0, 1, N_QUANTILES)
    calibration = {
        "made": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cnn_model_sha256": cnn_sha256,
        "cvae_model_sha256": cvae_sha256,
        "cvae_beta": cvae_beta,
        "background_runs": runs,
        "n_events": int(len(cvae_loss)),
        "cvae_loss_quantiles": np.quantile(cvae_loss, levels).tolist(),
        "cnn_score_quantiles": np.quantile(cnn_score, levels).tolist(),
    }
    _, _, combined = combined_score(cvae_loss, cnn_score, calibration)
    calibration["anomaly_score_quantiles"] = np.quantile(combined, levels).tolist()
    return calibration


def threshold_for(calibration, background_acceptance):
    levels = np.linspace(0, 1, len(calibration["anomaly_score_quantiles"]))
    return float(np.interp(1 - background_acceptance, levels, calibration["anomaly_score_quantiles"]))


def write_calibration(path, calibration):
    with open(path, "w") as f:
        json.dump(calibration, f, indent=1)


REQUIRED_KEYS = ("cnn_model_sha256", "cvae_model_sha256", "cvae_beta", "n_events",
                 "cvae_loss_quantiles", "cnn_score_quantiles", "anomaly_score_quantiles")


def read_calibration(path):
    """The calibration in ``path``; a ConfigError names the file and what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as f:
            calibration = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"Anomaly calibration {path} is not valid JSON: {e}") from None
    if not isinstance(calibration, dict):
        raise ConfigError(f"Anomaly calibration {path} must hold a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in calibration]
    if missing:
        raise ConfigError(f"Anomaly calibration {path} lacks {', '.join(missing)}: make it with 'ddcore train calibrate'")
    for key in ("cvae_loss_quantiles", "cnn_score_quantiles", "anomaly_score_quantiles"):
        values = np.asarray(calibration[key], dtype=float)
        if values.ndim != 1 or len(values) < 2 or not np.all(np.diff(values) >= 0):
            raise ConfigError(f"Anomaly calibration {path}: {key} must be an increasing list of quantiles")
    return calibration
