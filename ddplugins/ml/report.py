"""``ddcore evaluate`` and ``ddcore report``: every method on the same held-out events.

Methods: the CNN for each image kind with a model available, the combined anomaly score, the
CVAE loss alone, gradient-boosted trees on event_basics features and the classical cS2/cS1 band
cut; dataset level: the anomaly fraction and a binned likelihood, with their discovery
significance versus exposure for pseudo-data at the expected counts of Table I.
"""

import base64
import datetime
import io
import json
import os
import shlex
import sys

import numpy as np

from ddcore import models
from ddcore.context import derive
from ddcore.files import resolve_path
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml import evaluation as ev
from ddplugins.ml.datasets import load_events, split_runs
from ddplugins.simulation import spectra

EXPOSURES_LIVE_DAYS = (5, 10, 20, 34.2, 60, 100, 200)


def _cnn_models(st, models_dir):
    """{image kind: model path} for the CNNs to evaluate."""
    found = {}
    for kind in IMAGE_FIELDS:
        if models_dir:
            path = os.path.join(models_dir, f"{st.detector}_cnn_{kind}.keras")
            if os.path.exists(path):
                found[kind] = path
    configured = resolve_path(st.config.get("cnn_model_file"))
    if configured:
        model = models.load_model(configured, "cnn", tuple(IMAGE_FIELDS.values()), 1)
        kind = {v: k for k, v in IMAGE_FIELDS.items()}[model.inputs[0].name]
        found.setdefault(kind, configured)
    return found


def evaluate(st, n_test=5000, n_train=4000, models_dir=None, progress=True):
    """Scores and figures of merit for every method; returns a dict (arrays under 'scores')."""
    test_st = derive(st, sim_n_events=n_test)
    train_st = derive(st, sim_n_events=n_train)
    test_runs = split_runs(test_st, "test")
    columns = ["label", "cs1", "cs2_bottom", *ev.BASIC_FEATURES]
    test = load_events(test_st, test_runs, progress=progress, keep_columns=columns)
    train = load_events(train_st, split_runs(train_st, "train"), progress=progress, keep_columns=columns)
    labels = test["label"].astype(int)
    scores, lineages = {}, {}

    for kind, path in _cnn_models(st, models_dir).items():
        model_st = derive(test_st, cnn_model_file=path)
        cnn = load_events(model_st, test_runs, ("event_basics", "event_truth", "cnn_scores"),
                          progress=progress, keep_columns=["cnn_score"])
        scores[f"CNN ({kind})"] = cnn["cnn_score"]
        lineages[f"CNN ({kind})"] = {r: str(model_st.key_for(r, "cnn_scores")) for r in test_runs}

    if st.config.get("anomaly_calibration_file"):
        anomaly = load_events(test_st, test_runs, ("event_basics", "event_truth", "anomaly_scores"),
                              progress=progress, keep_columns=["anomaly_score", "cvae_loss", "is_anomalous"])
        scores["combined anomaly score"] = anomaly["anomaly_score"]
        scores["CVAE loss"] = anomaly["cvae_loss"]
        lineages["combined anomaly score"] = {r: str(test_st.key_for(r, "anomaly_scores")) for r in test_runs}
        flags = anomaly["is_anomalous"]
    else:
        flags = None

    trees = ev.train_boosted_trees(train, train["label"].astype(int))
    scores["boosted trees"] = trees.predict_proba(ev.feature_matrix(test))[:, 1]
    scores["cS2/cS1 band cut"] = ev.band_cut_score(train, train["label"].astype(int), test)

    metrics = {}
    for name, values in scores.items():
        values = np.asarray(values, float)
        if name in ("CVAE loss", "cS2/cS1 band cut", "combined anomaly score"):
            metrics[name] = {
                "roc_auc": _auc(labels, values),
                "er_rejection_at_50pct_wimp": ev.rejection_at_acceptance(values[labels == 0], values[labels == 1]),
            }
        else:
            metrics[name] = ev.classification_metrics(labels, values)

    result = {
        "command": " ".join(shlex.quote(a) for a in ["ddcore", *sys.argv[1:]]) if sys.argv[0].endswith("ddcore") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "detector": st.detector,
        "preset": st.preset,
        "n_test": {"er": int(np.sum(labels == 0)), "wimp": int(np.sum(labels == 1))},
        "test_runs": {r: str(test_st.key_for(r, "event_basics")) for r in test_runs},
        "model_lineages": lineages,
        "metrics": metrics,
        "significance": _significance(st, test, labels, flags, n_test),
        "scores": {k: np.asarray(v, float) for k, v in scores.items()},
        "labels": labels,
    }
    return result


def _auc(labels, values):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, values))


def _significance(st, test, labels, flags, n_simulated):
    """Expected discovery significance vs exposure: likelihood and anomaly fraction.

    Expected counts are Table I's scaled to the exposure, times the fraction of simulated events
    of each class that land in the analysis space.
    """
    plugin_options = st.get_single_plugin(split_runs(st, "test")[0], "instructions")
    efficiency = {"er": np.sum(labels == 0) / n_simulated, "wimp": np.sum(labels == 1) / n_simulated}
    rows = []
    for days in EXPOSURES_LIVE_DAYS:
        counts = spectra.expected_counts(days, plugin_options.wimp_mass_gev,
                                         plugin_options.wimp_cross_section_cm2, plugin_options.wimp_interaction)
        counts = {k: v * efficiency[k] for k, v in counts.items()}
        row = {"live_days": days, "expected_er": counts["er"], "expected_wimp": counts["wimp"]}
        er, wimp = test[labels == 0], test[labels == 1]
        row["likelihood_z"] = ev.likelihood_significance(er, wimp, counts["er"], counts["wimp"])
        if flags is not None:
            f_b = float(np.mean(flags[labels == 0]))
            f_s = float(np.mean(flags[labels == 1]))
            row["anomaly_fraction_background"] = f_b
            row["anomaly_fraction_signal"] = f_s
            row["anomaly_fraction_z"] = ev.expected_anomaly_significance(counts["er"], counts["wimp"], f_b, f_s)
        rows.append(row)
    return rows


def format_evaluation(result):
    """The figures of merit and significances as a text table."""
    lines = [f"Held-out test events: {result['n_test']['er']} ER, {result['n_test']['wimp']} WIMP "
             f"(analysis space: cS1 3-70 PE, cS2_b >= 50 PE)"]
    keys = ("accuracy", "recall", "precision", "roc_auc", "er_rejection_at_50pct_wimp")
    lines.append(f"{'method':26s} " + " ".join(
        f"{k:>12s}" for k in ("accuracy", "recall", "precision", "ROC AUC", "ER rej@50%")))
    for name, m in result["metrics"].items():
        lines.append(f"{name:26s} " + " ".join(f"{m[k]:12.4f}" if k in m else f"{'-':>12s}" for k in keys))
    lines.append("\nExpected discovery significance (Asimov) vs exposure, 500 GeV 1e-45 cm^2 WIMP:")
    for row in result["significance"]:
        extra = f", anomaly fraction Z = {row['anomaly_fraction_z']:.2f}" if "anomaly_fraction_z" in row else ""
        lines.append(f"  {row['live_days']:6.1f} live days: likelihood Z = {row['likelihood_z']:.2f}{extra}")
    return "\n".join(lines)


def save_json(result, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plain = {k: v for k, v in result.items() if k not in ("scores", "labels")}
    with open(path, "w") as f:
        json.dump(plain, f, indent=2)


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def write_report(st, result, output, pseudo_run=None):
    """Self-contained HTML report (plots embedded) of an ``evaluate`` result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    labels, scores = result["labels"], result["scores"]
    figures = {}

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, values in scores.items():
        fpr, tpr, _ = roc_curve(labels, values)
        ax.plot(fpr, tpr, label=f"{name} (AUC {result['metrics'][name]['roc_auc']:.3f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("ER acceptance (false positive rate)")
    ax.set_ylabel("WIMP acceptance (true positive rate)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    figures["ROC curves"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, values in scores.items():
        precision, recall, _ = precision_recall_curve(labels, values)
        ax.plot(recall, precision, label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(fontsize=7)
    figures["Precision-recall curves"] = _png(fig)
    plt.close(fig)

    cnn_names = [n for n in scores if n.startswith("CNN")]
    if cnn_names:
        name = "CNN (hitpeak)" if "CNN (hitpeak)" in cnn_names else cnn_names[0]
        matrix = confusion_matrix(labels, scores[name] >= 0.5, normalize="true")
        fig, ax = plt.subplots(figsize=(4, 3.5))
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center")
        ax.set_xticks([0, 1], ["ER", "WIMP"])
        ax.set_yticks([0, 1], ["ER", "WIMP"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}, threshold 0.5")
        figures["Confusion matrix"] = _png(fig)
        plt.close(fig)

    if "CVAE loss" in scores:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        loss = scores["CVAE loss"]
        bins = np.logspace(np.log10(max(loss.min(), 1e-9)), np.log10(loss.max()), 41)
        counts = spectra.TABLE_I_EXPECTED
        for label, name, color in ((0, "background (ER)", "tab:blue"), (1, "signal (WIMP)", "tab:red")):
            sel = loss[labels == label]
            weight = counts["er" if label == 0 else "wimp"] / len(sel)
            ax.hist(sel, bins, weights=np.full(len(sel), weight), histtype="step", color=color, label=name)
        ax.hist(loss, bins, weights=np.where(labels == 0, counts["er"] / np.sum(labels == 0),
                                             counts["wimp"] / np.sum(labels == 1)),
                histtype="step", color="black", ls="--", label="pseudo-data expectation")
        if pseudo_run is not None:
            pseudo = st.get_array(pseudo_run, "anomaly_scores", progress_bar=False)
            ax.hist(pseudo["cvae_loss"], bins, histtype="step", color="black", label=f"{pseudo_run}")
        ax.set_xscale("log")
        ax.set_xlabel("CVAE loss")
        ax.set_ylabel("events per 34.2 live days")
        ax.legend(fontsize=7)
        figures["CVAE loss distributions (normalised to Table I counts)"] = _png(fig)
        plt.close(fig)

    rows = result["significance"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    days = [r["live_days"] for r in rows]
    ax.plot(days, [r["likelihood_z"] for r in rows], "o-", label="binned likelihood (cS1, cS2_b)")
    if "anomaly_fraction_z" in rows[0]:
        ax.plot(days, [r["anomaly_fraction_z"] for r in rows], "s-", label="anomaly fraction")
    ax.set_xlabel("exposure [live days x 1042 kg]")
    ax.set_ylabel("expected discovery significance [sigma]")
    ax.legend()
    figures["Significance vs exposure"] = _png(fig)
    plt.close(fig)

    table = "".join(
        f"<tr><td>{name}</td>" + "".join(
            f"<td>{m[k]:.4f}</td>" if k in m else "<td>-</td>"
            for k in ("accuracy", "recall", "precision", "roc_auc", "er_rejection_at_50pct_wimp"))
        + "</tr>" for name, m in result["metrics"].items())
    sig_table = "".join(
        f"<tr><td>{r['live_days']}</td><td>{r['expected_er']:.1f}</td><td>{r['expected_wimp']:.1f}</td>"
        f"<td>{r['likelihood_z']:.2f}</td><td>{r.get('anomaly_fraction_z', float('nan')):.2f}</td></tr>"
        for r in rows)
    images = "".join(f"<h3>{title}</h3><img src='data:image/png;base64,{data}'>" for title, data in figures.items())
    pseudo = result.get("pseudo_data")
    pseudo_html = ""
    if pseudo:
        pseudo_html = (
            f"<h2>Pseudo-data</h2><p>Run <code>{pseudo['run_id']}</code>: {pseudo['anomalous']} of "
            f"{pseudo['events_in_analysis_space']} events in the analysis space are anomalous, a fraction of "
            f"{pseudo['anomaly_fraction']:.3f} &plusmn; {pseudo['anomaly_fraction_error']:.3f} against "
            f"{pseudo['background_anomaly_fraction']:.3f} expected from background: an excess of "
            f"{pseudo['significance']:.2f} &sigma; (truth: {pseudo['true_er']} ER, {pseudo['true_wimp']} WIMP).</p>"
        )
    lineage = json.dumps({"test_runs": result["test_runs"], "models": result["model_lineages"]}, indent=1)
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>ddcore report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:0.2em 0.8em;text-align:right}}
td:first-child{{text-align:left}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}</style></head><body>
<h1>ddcore evaluation report</h1>
<p>{result['date']}; detector {result['detector']}, preset {result['preset']};
held-out events: {result['n_test']['er']} ER, {result['n_test']['wimp']} WIMP (analysis space cS1 3-70 PE, cS2_b &ge; 50 PE).</p>
<p>Reproduce with: <code>{result.get('command') or 'ddcore report'}</code></p>
<h2>Event level</h2>
<table><tr><th>method</th><th>accuracy</th><th>recall</th><th>precision</th><th>ROC AUC</th><th>ER rejection at 50% WIMP acceptance</th></tr>{table}</table>
<p>Seed references: CNN (HitPeak) ROC AUC 0.969 and 99.3% ER rejection at 50% acceptance; XENON1T's cS2/cS1 cut ~99.7-99.8%.</p>
<h2>Dataset level</h2>
<table><tr><th>live days</th><th>expected ER</th><th>expected WIMP</th><th>likelihood Z</th><th>anomaly fraction Z</th></tr>{sig_table}</table>
{pseudo_html}
{images}
<h2>Lineage</h2><pre>{lineage}</pre>
</body></html>"""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        f.write(html)
    return output
