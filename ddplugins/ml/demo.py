"""``ddcore demo``: the main job on the embedded default detector.

Simulates background (ER), signal (WIMP) and pseudo-data runs, processes them to event images,
scores them with the shipped models, compares every method with the classical analysis and
writes an HTML report.
"""

import logging
import os
import time

import numpy as np

from ddplugins.analyses.event_display import save_event_display
from ddplugins.ml import report, statistics
from ddplugins.ml.datasets import run_preset, search_selection
from ddplugins.simulation import populations

log = logging.getLogger(__name__)


def pseudo_data_summary(st, run_id, evaluation):
    """Anomaly fraction of a pseudo-data run (exact binomial interval) and the significance of
    its events against the full background model: the WIMP-template likelihood and the
    anomaly-fraction test, both with the evaluation's templates at the run's exposure."""
    data = st.get_array(run_id, ["event_basics", "event_truth", "anomaly_scores"], progress_bar=False)
    data = data[search_selection(st, run_id, data)]
    n, k = len(data), int(np.sum(data["is_anomalous"]))
    low, high = statistics.clopper_pearson(k, n) if n else (0.0, 1.0)
    observed = report.observed_significance(st, evaluation, run_id, data)
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
    }


def _populations_text(counts):
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "none"


def run_demo(st, output, n_events=2000):
    """Evaluate every method, score the pseudo-data run, write the report; return
    (report path, text summary)."""
    started = time.time()
    pseudo_run = f"pseudo_{run_preset(st)}_000"
    log.info("Evaluating on %d simulated ER and WIMP events each (train and test splits)", n_events)
    result = report.evaluate(st, n_test=n_events, n_train=n_events)
    log.info("Pseudo-data run %s: every population at its rate for %g live days", pseudo_run,
             st.get_single_plugin(pseudo_run, "instructions").sim_exposure_live_days)
    st.make(pseudo_run, ["event_basics", "event_truth", "anomaly_scores"], progress_bar=True)
    result["pseudo_data"] = pseudo = pseudo_data_summary(st, pseudo_run, result)

    os.makedirs(output, exist_ok=True)
    save_event_display(st, pseudo_run, 0, os.path.join(output, "pseudo_event0.png"))
    report.save_json(result, os.path.join(output, "evaluation.json"))
    path = report.write_report(st, result, os.path.join(output, "report.html"), pseudo_run=pseudo_run)
    summary = (
        f"{report.format_evaluation(result)}\n\n"
        f"Pseudo-data {pseudo_run}: {pseudo['anomalous']} of {pseudo['events_in_analysis_space']} events in the "
        f"analysis space anomalous (fraction {pseudo['anomaly_fraction']:.3f}, 68% interval "
        f"{pseudo['anomaly_fraction_interval'][0]:.3f}-{pseudo['anomaly_fraction_interval'][1]:.3f}; background "
        f"model {pseudo['background_anomaly_fraction']:.4f} +- {pseudo['background_anomaly_fraction_error']:.4f}); "
        f"anomaly-fraction Z = {pseudo['anomaly_fraction_z']:.2f}, WIMP-template likelihood Z = "
        f"{pseudo['likelihood_z']:.2f} (pyhf, every background population with its rate uncertainty).\n"
        f"Truth of those events: {_populations_text(pseudo['true_populations'])}.\n"
        f"\nReport: {path} ({time.time() - started:.0f} s)"
    )
    return path, summary
