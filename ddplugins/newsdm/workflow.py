"""``ddcore newsdm train`` and ``ddcore newsdm evaluate``: the 3D CNN through the context."""

import logging

import numpy as np

from ddcore.context import derive
from ddcore import models
from ddcore.extras import import_ml
from ddplugins.newsdm import cnn3d

log = logging.getLogger(__name__)

TRAIN_RUN, VALIDATION_RUN, TEST_SEED = "mixed_run1_100", "mixed_run1_200", 300
SIGNAL_SOURCES = ("carbon30", "carbon60", "carbon100")
BACKGROUND_SOURCES = ("fog", "gamma")


def _tracks(st, run_id, n_tracks, fields=("label", "polarization_images")):
    sized = derive(st, newsdm_n_tracks=n_tracks)
    return sized.get_array(run_id, "track_images", progress_bar=False, keep_columns=list(fields))


def train_model(st, output, n_tracks=6000, epochs=12, rotations=True, seed=0):
    train = _tracks(st, TRAIN_RUN, n_tracks)
    validation = _tracks(st, VALIDATION_RUN, max(n_tracks // 4, 200))
    log.info(f"Training the NEWSdm 3D CNN on {len(train)} tracks ({int(train['label'].sum())} carbon), "
          f"rotations {'on' if rotations else 'off'}")
    model, history = cnn3d.train(train["polarization_images"], train["label"].astype(np.float32),
                                 validation["polarization_images"], validation["label"].astype(np.float32),
                                 epochs=epochs, rotations=rotations, seed=seed)
    models.save_model(model, output, "newsdm_cnn3d", {
        "detector": getattr(st, "detector", None), "rotations": rotations, "epochs": epochs,
        "n_tracks": len(train), "training_runs": {TRAIN_RUN: str(st.key_for(TRAIN_RUN, "track_images"))},
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    })
    return output


def evaluate(st, model_file, n_signal=3000, n_background=20000):
    """Rejection vs efficiency per background type, efficiency at 1e4 rejection."""
    scored = derive(st, newsdm_model_file=str(model_file))
    signal = np.concatenate([
        _probabilities(scored, f"{source}_run1_{TEST_SEED}", n_signal) for source in SIGNAL_SOURCES])
    result = {"model": str(model_file), "n_signal": int(len(signal)), "backgrounds": {}}
    for source in BACKGROUND_SOURCES:
        background = _probabilities(scored, f"{source}_run1_{TEST_SEED}", n_background)
        efficiency, measurable = cnn3d.efficiency_at_rejection(signal, background, 1e4)
        roc_auc_score = import_ml("sklearn.metrics", "The NEWSdm evaluation").roc_auc_score

        result["backgrounds"][source] = {
            "n_background": int(len(background)),
            "roc_auc": float(roc_auc_score(np.r_[np.ones(len(signal)), np.zeros(len(background))],
                                           np.r_[signal, background])),
            "efficiency_at_1e4_rejection": efficiency,
            "1e4_measurable": measurable,
            "rejection_curve": cnn3d.rejection_curve(signal, background),
        }
    return result


def _probabilities(st, run_id, n):
    sized = derive(st, newsdm_n_tracks=n)
    return sized.get_array(run_id, "signal_probability", progress_bar=False)["signal_probability"]


def format_evaluation(result, label=""):
    """The evaluation as a text table."""
    lines = [f"\n{label}model {result['model']}: {result['n_signal']} carbon tracks (30/60/100 keV)"]
    for source, figures in result["backgrounds"].items():
        flag = "" if figures["1e4_measurable"] else f" (only {figures['n_background']} background: not measurable)"
        lines.append(f"  {source:6s} ROC AUC {figures['roc_auc']:.4f}; efficiency at 1e4 rejection "
                     f"{figures['efficiency_at_1e4_rejection']:.3f}{flag}")
        lines.append("    efficiency  rejection")
        lines.extend(f"    {eff:10.2f}  {rejection:9.4g}" for eff, rejection, _ in figures["rejection_curve"][::3])
    return "\n".join(lines)
