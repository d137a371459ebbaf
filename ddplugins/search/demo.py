"""``ddcore demo``: the main job on the embedded default detector.

Simulates background (ER), signal (WIMP) and pseudo-data runs, processes them to event images,
scores them with the shipped models, compares every method with the classical analysis and
writes an HTML report.
"""

import logging
import os
import time

import numpy as np

from ddcore import blinding
from ddplugins.analyses.event_display import save_event_display
from ddplugins.search import report
from ddplugins.analyses.datasets import run_preset, search_selection
from ddplugins.ml.categories import CATEGORIES
from ddplugins.ml.intervals import clopper_pearson
from ddplugins.simulation import populations

log = logging.getLogger(__name__)


def pseudo_data_summary(st, run_id, evaluation):
    """Anomaly fraction of a pseudo-data run (exact binomial interval) and the significance of
    its events against the full background model: the WIMP-template likelihood and the
    anomaly-fraction test, both with the evaluation's templates at the run's exposure."""
    every_event = st.get_array(run_id, ["event_basics", "event_truth", "anomaly_scores"], progress_bar=False)
    data = every_event[search_selection(st, run_id, every_event)]
    n, k = len(data), int(np.sum(data["is_anomalous"]))
    low, high = clopper_pearson(k, n) if n else (0.0, 1.0)
    observed = report.observed_significance(st, evaluation, run_id, data, every_event)
    return {
        "run_id": run_id,
        "events_in_analysis_space": n,
        "true_background": int(np.sum(data["label"] == 0)),
        "true_wimp": int(np.sum(data["label"] == 1)),
        "true_populations": {populations.NAMES[code]: int(count) for code, count in
                             zip(*np.unique(data["population"][data["population"] >= 0], return_counts=True))},
        "anomalous": k,
        "anomaly_fraction": k / n if n else float("nan"),
        "anomaly_fraction_interval": [low, high],
        **observed,
        **pooled_summary(fractions := _anomaly_fractions(st, run_id, every_event)),
        "categories": category_summary(fractions),
        "cvae_surfacing": cvae_surfacing(every_event, evaluation),
    }


def _anomaly_fractions(st, run_id, every_event):
    """The run's ``anomaly_fraction`` row; for a blinded run, made from the events a read gives
    (the stored row counts the signal region too, and is refused)."""
    if blinding.blinded_region(st, run_id) is None:
        return st.get_array(run_id, "anomaly_fraction", progress_bar=False)
    start, end = (int(every_event["time"].min()), int(every_event["endtime"].max())) if len(every_event) else (0, 1)
    return st.get_single_plugin(run_id, "anomaly_fraction").summary_of(every_event, start, end)


def category_summary(row):
    """The ``anomaly_fraction`` row of a run as {category: figures}."""
    fields = ("n", "flagged", "fraction", "fraction_low", "fraction_high", "background_fraction",
              "background_fraction_error", "calibration_events", "z")
    return {name: {field: float(row[f"{field}_{name}"][0]) for field in fields} for name in CATEGORIES}


def pooled_summary(row):
    """The all-category figures of a run's ``anomaly_fraction`` row."""
    fields = ("n", "flagged", "fraction", "fraction_low", "fraction_high", "background_flagged",
              "background_flagged_error", "z")
    names = {"background_flagged_error": "background_flagged_total_error"}
    return {f"pooled_{field}": float(row[names.get(field, f"{field}_total")][0]) for field in fields}


def cvae_surfacing(events, evaluation, level=0.99):
    """Per true population of a run's events (all of them, in any category): the fraction whose
    CVAE loss is above the ``level`` quantile of the ER test events in the analysis space (the
    background the CVAE was trained on), with its exact 68% interval: where the seeds' CVAE
    result (S2-only events surfacing in the loss distribution) is tested."""
    scores, labels = evaluation["scores"], evaluation["labels"]
    if "CVAE loss" not in scores:
        return {}
    threshold = float(np.quantile(scores["CVAE loss"][labels == 0], level))
    found = {}
    for code in np.unique(events["population"][events["population"] >= 0]):
        loss = events["cvae_loss"][events["population"] == code]
        k, n = int(np.sum(loss > threshold)), len(loss)
        low, high = clopper_pearson(k, n)
        found[populations.NAMES[code]] = {"n": n, "above": k, "fraction": k / n, "interval": [low, high],
                                          "median_loss": float(np.median(loss))}
    return {"er_quantile": level, "threshold": threshold, "populations": found}


def _surfacing_text(surfacing):
    if not surfacing:
        return ""
    counts = ", ".join(f"{name} {c['above']}/{c['n']}" for name, c in surfacing["populations"].items())
    return f"CVAE loss above the {100 * surfacing['er_quantile']:g}% quantile of ER in the analysis space: {counts}.\n"


def _populations_text(counts):
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "none"


def run_demo(st, output, n_events=2000, n_bootstrap_z=report.N_BOOTSTRAP_Z, n_toys=200, workers=1):
    """Evaluate every method, score the pseudo-data run, write the report; return
    (report path, text summary)."""
    started = time.time()
    pseudo_run = f"pseudo_{run_preset(st)}_000"
    log.info("Evaluating on %d simulated ER and WIMP events each (train and test splits)", n_events)
    result = report.evaluate(st, n_test=n_events, n_train=n_events, n_bootstrap_z=n_bootstrap_z, n_toys=n_toys,
                             workers=workers, instructions_dir=os.path.join(output, "fax_instructions"))
    log.info("Pseudo-data run %s: every population at its rate for %g live days", pseudo_run,
             st.get_single_plugin(pseudo_run, "instructions").sim_exposure_live_days)
    st.make(pseudo_run, ["event_basics", "event_truth", "anomaly_scores"], progress_bar=True)
    result["pseudo_data"] = pseudo = pseudo_data_summary(st, pseudo_run, result)
    result["blinding"] = {pseudo_run: blinding.state(st, pseudo_run)}

    os.makedirs(output, exist_ok=True)
    save_event_display(st, pseudo_run, 0, os.path.join(output, "pseudo_event0.png"))
    report.save_json(result, os.path.join(output, "evaluation.json"))
    path = report.write_report(st, result, os.path.join(output, "report.html"), pseudo_run=pseudo_run)
    summary = (
        f"{report.format_evaluation(result)}\n\n"
        f"Pseudo-data {pseudo_run}: {pseudo['pooled_flagged']:.0f} of {pseudo['pooled_n']:.0f} events (all categories) "
        f"anomalous (fraction {100 * pseudo['pooled_fraction']:.3f}%, "
        f"68% interval {100 * pseudo['pooled_fraction_low']:.3f}-{100 * pseudo['pooled_fraction_high']:.3f}%; "
        f"background model {100 * pseudo['background_anomaly_fraction']:.3f}% +- "
        f"{100 * pseudo['background_anomaly_fraction_error']:.3f}%); in the analysis space {pseudo['anomalous']} of "
        f"{pseudo['events_in_analysis_space']} (fraction {pseudo['anomaly_fraction']:.3f}, 68% interval "
        f"{pseudo['anomaly_fraction_interval'][0]:.3f}-{pseudo['anomaly_fraction_interval'][1]:.3f}); "
        f"anomaly-fraction Z = {pseudo['anomaly_fraction_z']:.2f} +- {pseudo['anomaly_fraction_z_error']:.2f}, "
        f"anomaly-score likelihood Z = {pseudo['anomaly_score_likelihood_z']:.2f} +- "
        f"{pseudo['anomaly_score_likelihood_z_error']:.2f}, WIMP-template likelihood Z = "
        f"{pseudo['likelihood_z']:.2f} +- {pseudo['likelihood_z_error']:.2f} (pyhf, every background population "
        "with its rate uncertainty; +-: template bootstrap).\n"
        f"Truth of the analysis-space events: {_populations_text(pseudo['true_populations'])}.\n"
        f"Every event by category (flagged / events, Z of the excess): " + ", ".join(
            f"{name} {c['flagged']:.0f}/{c['n']:.0f} (Z {c['z']:.2f})" for name, c in pseudo["categories"].items())
        + ".\n" + _surfacing_text(pseudo["cvae_surfacing"]) +
        f"\nReport: {path} ({time.time() - started:.0f} s)"
    )
    return path, summary
