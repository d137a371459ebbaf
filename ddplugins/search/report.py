"""``ddcore evaluate`` and ``ddcore report``: every method on the same held-out events.

Methods: the CNN for each image kind with a model available, the combined anomaly score, the
CVAE loss alone, gradient-boosted trees on event_basics features and the classical cS2/cS1 band
cut; dataset level: the anomaly fraction and a binned likelihood, with their discovery
significance versus exposure for pseudo-data at the expected counts of the source rates.
"""

import base64
import dataclasses
import datetime
import io
import json
import logging
import os
import shlex
import sys

import numpy as np
import strax

from ddcore import models
from ddcore.context import derive
from ddcore.extras import import_ml
from ddcore.files import resolve_path
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml import calibration as cal
from ddplugins.analyses import evaluation as ev
from ddplugins.search import mismodelling, s1_pattern_gof, sensitivity, statistics, toys
from ddplugins.ml.scoring import EXTRA_INPUTS
from ddplugins.analyses.datasets import (ANOMALY_COLUMNS, SEARCH_COLUMNS, load_events, run_events,
                                         science_run_live_days, search_selection, split_runs)
from ddplugins.ml.categories import CATEGORIES, flag_bins
from ddplugins.ml.intervals import clopper_pearson
from ddplugins.simulation import outside_model, populations

log = logging.getLogger(__name__)

# exposures of the significance and injection studies, beside the reference exposure: the live
# days of the detector's science run (the sim_exposure_live_days of its config, whatever the
# context simulates its pseudo-data run for)
EXPOSURES_LIVE_DAYS = (5, 10, 20, 60, 100, 200)
N_BOOTSTRAP = 200
N_BOOTSTRAP_Z = 20
# anomaly-fraction values: the category, plus the number of categories where flagged; the test's
# bins are the events not flagged, per category (they measure the background rates), and the
# flagged events of every category together (the dataset-level anomaly fraction)
FLAG_EDGES = np.arange(2 * len(CATEGORIES) + 1) - 0.5


def pooled_flag_counts(counts):
    """Counts in the FLAG_EDGES bins -> not flagged per category, then all flagged together."""
    return np.append(counts[:len(CATEGORIES)], counts[len(CATEGORIES):].sum())


LIGHT_WIMP = "wimp_50gev"
LIGHT_WIMP_MASS_GEV = 50.0
# S2-only events unlike the known lone-S2 background (which the calibration holds, so that more of
# them are only a rate excess): S2s of ten times its electrons with no S1, a population the
# anomaly search is not told about
BRIGHT_S2ONLY = "s2only_bright"
BRIGHT_S2ONLY_ELECTRONS_FACTOR = 10.0
INJECTED_POPULATIONS = ("wimp", LIGHT_WIMP, "s2only", BRIGHT_S2ONLY, "accidental", "wall", "neutron", "multisite",
                        *outside_model.OUTSIDE_MODEL)
OUTSIDE_MODEL_SEED = 800  # seeds of the outside-model instruction tables, one per population
DEFAULT_INSTRUCTIONS_DIR = os.path.join("dd_output", "fax_instructions")
INJECTED_PER_REFERENCE_EXPOSURE = 20.0  # events produced in the reference exposure on top of the background model
GALLERY_EVENTS = 4
DENSITY_RATIO = "density ratio on (cS1, log cS2_b)"


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
        model = models.load_model(configured, "cnn", tuple(IMAGE_FIELDS.values()), 1,
                                  extra_inputs=EXTRA_INPUTS, probability_output=True)
        kind = {v: k for k, v in IMAGE_FIELDS.items()}[model.inputs[0].name]
        found.setdefault(kind, configured)
    return found


def evaluate(st, n_test=5000, n_train=4000, models_dir=None, progress=True, n_bootstrap_z=N_BOOTSTRAP_Z,
             n_toys=0, workers=1, sensitivity_masses=(), instructions_dir=DEFAULT_INSTRUCTIONS_DIR,
             mismodelling_dir=None, n_test_seeds=1, sensitivity_live_days=None, er_template_runs=(),
             er_from_calibration_runs=False, exclude_runs=(), sensitivity_cs1_slices=0, wall_tail_events=0,
             sensitivity_seeds=1):
    """Scores and figures of merit for every method; returns a dict (arrays under 'scores').
    ``n_bootstrap_z``: template resamples behind the error of every significance; ``n_toys``:
    toy experiments of every test at the reference exposure (``toys``), fitted on ``workers``
    processes; ``sensitivity_masses``: WIMP masses [GeV] of the sensitivity curves
    (``sensitivity.sensitivity``, at ``sensitivity_live_days``, default the reference exposure;
    with ``sensitivity_cs1_slices`` > 1 also the WIMP-template likelihood in that many cS1 slices);
    ``instructions_dir``: where the FaX
    instructions of the populations outside the model are written; ``mismodelling_dir``: if given,
    the mis-modelled detector study (``mismodelling.study``) with its stores there;
    ``n_test_seeds``: test runs of this many seeds (the first makes every figure, all of them the
    seed-to-seed spread and the methods' comparison on the same events); ``er_template_runs``:
    runs (e.g. an rn220 calibration run) whose analysis-space events replace the ER template of a
    background-only search (``_er_template_study``); ``er_from_calibration_runs``: the ER
    background of the likelihoods from the store's rn220 and blinded science runs (less
    ``exclude_runs``; ``calibration_runs.er_template``), not from the simulated ER run;
    ``wall_tail_events``: the wall template's analysis-space events from a ``walltail`` run of
    that many events (``wall_tail_template``), not from the 'wall' template run;
    ``sensitivity_seeds``: the sensitivity's median limits also from this many - 1 further
    independent sets of every simulated template (test, template and WIMP runs of other seeds):
    their seed-to-seed spread (``_sensitivity_seed_spread``)."""
    if sensitivity_cs1_slices > 1 and er_from_calibration_runs:
        raise ValueError("The sensitivity's likelihood in cS1 slices bins the simulated ER template: it cannot be "
                         "combined with the ER template from the calibration runs (--er-from-calibration-runs)")
    test_st = derive(st, sim_n_events=n_test)
    train_st = derive(st, sim_n_events=n_train)
    test_runs = split_runs(test_st, "test")
    columns = ["label", "cs1", "cs2_bottom", *SEARCH_COLUMNS, *ev.BASIC_FEATURES]
    train = load_events(train_st, split_runs(train_st, "train"), progress=progress, keep_columns=columns)
    trees = ev.train_boosted_trees(train, train["label"].astype(int))

    def discriminant(events):
        return ev.band_cut_score(train, train["label"].astype(int), events)

    def method_scores(runs):
        return _method_scores(st, test_st, runs, models_dir, train, trees, discriminant, progress)

    test, scores, lineages, anomaly = method_scores(test_runs)
    labels = test["label"].astype(int)
    # the same methods on the test runs of further seeds: the spread of every figure of merit
    # between independent test sets, and the methods compared on all their events together
    seeds = [(labels, scores)]
    extra_runs = split_runs(test_st, "test", n_runs=n_test_seeds)
    seed_searches = []
    flag_calibration = _flag_calibration(test_st, test_runs[0]) if anomaly is not None else (None, None)
    # the S1 pattern of events inside the TPC, from the training runs' events (labels unused)
    aft_reference = s1_pattern_gof.AftReference.from_events(train)

    def search_of(events, event_labels, event_anomaly, runs, template_set=0):
        return SearchTemplates.build(
            st.get_single_plugin(split_runs(st, "test")[0], "instructions"), discriminant,
            _population_events(st, events, event_labels, event_anomaly, n_test, progress, instructions_dir, runs,
                               wall_tail_events, template_set),
            flag_calibration, reference_live_days=science_run_live_days(st), aft_reference=aft_reference)

    for i in range(1, n_test_seeds):
        runs = [extra_runs[i], extra_runs[n_test_seeds + i]]
        events, seed_scores, _, seed_anomaly = method_scores(runs)
        seeds.append((events["label"].astype(int), seed_scores))
        seed_searches.append(search_of(events, events["label"].astype(int), seed_anomaly, runs))
    search = search_of(test, labels, anomaly, test_runs)
    er_template = None
    if er_from_calibration_runs:
        from ddplugins.search import calibration_runs

        calibrated = calibration_runs.er_template(st, discriminant, anomaly is not None, exclude=exclude_runs)
        for each in (search, *seed_searches):
            each.er_calibration = calibrated
        er_template = {key: calibrated[key] for key in ("runs", "per_live_day", "relative_error",
                                                         "sideband_live_days", "control_events")}
        er_template["events_in_space"] = int(len(calibrated["values"]))

    flags_by_category = _flags_by_category(st, n_test, progress, instructions_dir) if anomaly is not None else None

    metrics = {}
    for name, values in scores.items():
        values = np.asarray(values, float)
        if name in ("CVAE loss", "cS2/cS1 band cut", "combined anomaly score", DENSITY_RATIO):
            metrics[name] = {
                "roc_auc": ev.fast_auc(labels, values),
                "er_rejection_at_50pct_wimp": ev.rejection_at_acceptance(values[labels == 0], values[labels == 1]),
            }
        else:
            metrics[name] = ev.classification_metrics(labels, values)
        metrics[name].update(ev.bootstrap_errors(labels, values, N_BOOTSTRAP))

    result = {
        "command": (" ".join(shlex.quote(a) for a in ["ddcore", *sys.argv[1:]])
                    if sys.argv[0].endswith(("ddcore", os.path.join("ddcore", "__main__.py"))) else None),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "detector": st.detector,
        "preset": st.preset,
        "wimp": _wimp_description(test_st.get_single_plugin(test_runs[0], "instructions")),
        "n_test": {"er": int(np.sum(labels == 0)), "wimp": int(np.sum(labels == 1))},
        "test_runs": {r: str(test_st.key_for(r, "event_basics")) for r in test_runs},
        "model_lineages": lineages,
        "anomaly_calibration": _calibration_record(test_st, test_runs[0]),
        # where the likelihoods' ER background came from: None = the simulated ER run (physics rate)
        "er_template": er_template,
        # where the wall template's analysis-space events came from: None = the 'wall' template run
        "wall_template": _wall_template_record(st, search, wall_tail_events) if wall_tail_events else None,
        "metrics": metrics,
        "fiducial_mass_kg": search.plugin.sim_fiducial_mass_kg,
        "reference_live_days": search.reference_live_days,
        "n_bootstrap_z": n_bootstrap_z,
        "significance": _significance(search, np.random.default_rng(0), n_bootstrap_z),
        "injection": _injection_study(search, np.random.default_rng(1), n_bootstrap_z),
        "_toy_studies": _toy_studies(search, n_toys, workers) if n_toys else [],
        "flags_by_category": flags_by_category,
        "test_seeds": extra_runs,
        "seed_spread": ev.seed_spread(seeds) if n_test_seeds > 1 else None,
        "significance_seed_spread": _seed_significance([search, *seed_searches]) if n_test_seeds > 1 else None,
        "injection_seed_spread": _seed_injection([search, *seed_searches]) if n_test_seeds > 1 else None,
        "paired_leakage": ev.paired_leakage(np.concatenate([seed_labels for seed_labels, _ in seeds]),
                                            {k: np.concatenate([np.asarray(s[k], float) for _, s in seeds])
                                             for k in scores}),
        "scores": {k: np.asarray(v, float) for k, v in scores.items()},
        "labels": labels,
        "test_events": test,
        "_search": search,
    }
    result["er_template_study"] = (_er_template_study(st, search, n_test, progress, er_template_runs)
                                   if er_template_runs else None)
    result["toys"] = [study.summary() for study in result["_toy_studies"]]
    result["mismodelling"] = (mismodelling.study(st, search, n_test, mismodelling_dir, progress)
                              if mismodelling_dir else None)
    result["sensitivity_live_days"] = float(sensitivity_live_days or search.reference_live_days)
    result["sensitivity"] = (sensitivity.sensitivity(st, search, n_test, result["sensitivity_live_days"],
                                                     sensitivity_masses, progress, n_bootstrap=n_bootstrap_z,
                                                     cs1_slices=sensitivity_cs1_slices)
                             if sensitivity_masses else [])
    result["sensitivity_seed_spread"] = None
    if sensitivity_masses and sensitivity_seeds > 1:
        def independent_search(index):
            runs = split_runs(test_st, "test", n_runs=sensitivity_seeds)
            runs = [runs[index], runs[sensitivity_seeds + index]]
            events, _, _, seed_anomaly = method_scores(runs)
            return search_of(events, events["label"].astype(int), seed_anomaly, runs, template_set=index)

        result["sensitivity_seed_spread"] = _sensitivity_seed_spread(
            st, independent_search, sensitivity_seeds, n_test, result["sensitivity"], result["sensitivity_live_days"],
            sensitivity_masses, progress, sensitivity_cs1_slices)
    return result


def _sensitivity_seed_spread(st, independent_search, n_sets, n_test, rows, live_days, masses, progress, cs1_slices):
    """The sensitivity's median limits from ``n_sets`` - 1 further independent sets of simulated
    templates (``independent_search(index)``: the search of set ``index``; its WIMP runs the
    sensitivity's set ``index``), beside the curves' own ``rows``: per mass and test the median of
    every set, their mean and seed-to-seed standard deviation (``sensitivity.seed_spread``)."""
    every = [rows]
    for index in range(1, n_sets):
        log.info("Sensitivity from independent template set %d of %d", index + 1, n_sets)
        every.append(sensitivity.sensitivity(st, independent_search(index), n_test, live_days, masses, progress,
                                             cs1_slices=cs1_slices, run_set=index, exposure_scan=False))
    return sensitivity.seed_spread(every, live_days)


def _method_scores(st, test_st, runs, models_dir, train, trees, discriminant, progress):
    """(test events in the search's analysis space, {method: scores}, {method: lineage}, anomaly
    scores and flags or None) of every method on the events of ``runs`` (one ER, one WIMP run)."""
    columns = ["label", "cs1", "cs2_bottom", *SEARCH_COLUMNS, *ev.BASIC_FEATURES]
    test = load_events(test_st, runs, progress=progress, keep_columns=columns)
    # every method on the events of the search's analysis space (fiducial, single scatter): the
    # anomaly score is calibrated per category, and that is the category of the WIMP search
    searched = search_selection(test_st, runs[0], test)
    test = test[searched]
    scores, lineages = {}, {}
    for kind, path in _cnn_models(st, models_dir).items():
        model_st = derive(test_st, cnn_model_file=path)
        cnn = load_events(model_st, runs, ("event_basics", "event_truth", "cnn_scores"),
                          progress=progress, keep_columns=["cnn_score"])[searched]
        scores[f"CNN ({kind})"] = cnn["cnn_score"]
        lineages[f"CNN ({kind})"] = {r: str(model_st.key_for(r, "cnn_scores")) for r in runs}
    anomaly = None
    if st.config.get("anomaly_calibration_file"):
        anomaly = load_events(test_st, runs, ("event_basics", "event_truth", "anomaly_scores"),
                              progress=progress, keep_columns=list(ANOMALY_COLUMNS) + ["cvae_loss"])[searched]
        scores["combined anomaly score"] = anomaly["anomaly_score"]
        scores["CVAE loss"] = anomaly["cvae_loss"]
        lineages["combined anomaly score"] = {r: str(test_st.key_for(r, "anomaly_scores")) for r in runs}
        anomaly = anomaly[list(ANOMALY_COLUMNS)]
    scores["boosted trees"] = trees.predict_proba(ev.feature_matrix(test))[:, 1]
    scores["cS2/cS1 band cut"] = discriminant(test)
    scores[DENSITY_RATIO] = ev.density_ratio_score(train, train["label"].astype(int), test)
    return test, scores, lineages, anomaly


def _calibration_record(st, run):
    """What the anomaly score's calibration was made from: the file, its SHA-256, and for a
    calibration from calibration runs (``calibration_runs``) its runs and normalisations."""
    if not st.config.get("anomaly_calibration_file"):
        return None
    plugin = st.get_single_plugin(run, "anomaly_scores")
    calibration = plugin.calibration
    return {"file": str(st.config["anomaly_calibration_file"]), "sha256": plugin.anomaly_calibration_sha256,
            "made_from": calibration.get("made_from", "simulated populations (truth-labelled runs)"),
            "runs": calibration.get("runs"), "normalisation": calibration.get("normalisation")}


def _toy_studies(search, n_toys, workers):
    """Toy Monte Carlo of every test at the reference exposure, the WIMP at its simulated
    cross-section (``toys.toy_study``)."""
    produced = populations.expected_counts(search.plugin, live_days=search.reference_live_days)
    studies = []
    for index, (name, values, edges) in enumerate(search.tests()):
        signal, backgrounds = search.templates(produced, values, edges)
        log.info("Toy Monte Carlo of the %s test: %d background-only and %d signal toys", name, n_toys, n_toys)
        studies.append(toys.toy_study(name, signal, backgrounds, n_toys=n_toys, seed=2 * index, workers=workers))
    return studies


def _flag_calibration(st, run):
    """Per category the background fraction the anomaly flags accept and its binomial error
    from the calibration's effective events (0 where a category is not calibrated)."""
    plugin = st.get_single_plugin(run, "anomaly_scores")
    return tuple(np.nan_to_num(v) for v in cal.flag_rates(plugin.calibration, plugin.acceptances))


def _wimp_description(plugin):
    return (f"{plugin.wimp_mass_gev:g} GeV, {plugin.wimp_cross_section_cm2:g} cm^2 {plugin.wimp_interaction} "
            f"WIMP ({plugin.wimp_normalisation} rate)")


def _population_events(st, test, labels, anomaly, n_test, progress, instructions_dir, test_runs=None,
                       wall_tail_events=0, template_set=0):
    """{population: (simulated events, discriminant-ready events in the analysis space, their
    anomaly scores and flags or None, the flags of every event of its run in every category or
    None[, simulated events of the run behind those flags where it is another run])}: ER and WIMP
    from the test runs (``test_runs``, default the first seed's), every other population from its
    own template run (split "template", the ``template_set``-th seed), all independent of any
    pseudo-data run. With ``wall_tail_events`` the wall's analysis-space events come from a
    ``walltail`` run of that many events (``wall_tail_template``), its flags in every category
    from the wall run."""
    template_st = derive(st, sim_n_events=n_test)
    test_runs = test_runs or split_runs(template_st, "test")
    searched = search_selection(template_st, test_runs[0], test)

    def every_flag(run_st, run):
        if anomaly is None:
            return None
        return flag_bins(run_st.get_array(run, "anomaly_scores", progress_bar=False,
                                          keep_columns=["category", "is_anomalous"]))

    found = {name: (n_test, test[searched & (labels == label)],
                    None if anomaly is None else anomaly[searched & (labels == label)],
                    every_flag(template_st, run))
             for (name, label), run in zip((("er", 0), ("wimp", 1)), test_runs)}

    def searched_events(run_st, run):
        return run_events(run_st, run, n_test, anomaly is not None, progress)

    for name in populations.NAMES:
        if name not in found:
            found[name] = searched_events(template_st, split_runs(template_st, "template", sources=(name,),
                                                                  n_runs=template_set + 1)[template_set])
    if wall_tail_events:
        n_equivalent, events, tail_anomaly = wall_tail_template(st, wall_tail_events, anomaly is not None, progress,
                                                                template_set)
        n_wall, _, _, wall_flags = found["wall"]
        found["wall"] = (n_equivalent, events, tail_anomaly, wall_flags, n_wall)
    # populations injected only (their own runs: a run name stands for one set of options)
    for name, (run_st, run) in _injected_only_populations(template_st, instructions_dir).items():
        found[name] = searched_events(run_st, run)
    return found


def wall_tail_run(st, n_events, template_set=0):
    """(context, run id) of the wall template's ``walltail`` run of ``n_events`` events (of the
    ``template_set``-th template seed)."""
    tail_st = derive(st, sim_n_events=n_events)
    return tail_st, split_runs(tail_st, "template", sources=("walltail",), n_runs=template_set + 1)[template_set]


def wall_tail_template(st, n_events, with_anomaly, progress, template_set=0):
    """(wall events the run stands for, its events in the analysis space, their anomaly scores and
    flags or None) of a ``walltail`` run of ``n_events``: wall events drawn only where their
    inward shift can reach the fiducial volume, each standing for 1 / ``wall_tail_share`` of the
    wall population (rounded to whole events)."""
    tail_st, run = wall_tail_run(st, n_events, template_set)
    share = populations.wall_tail_share(tail_st.get_single_plugin(run, "instructions"))
    _, events, anomaly, _ = run_events(tail_st, run, n_events, with_anomaly, progress)
    log.info("Wall template from %s: %d of %d events in the analysis space, each standing for %.1f wall events",
             run, len(events), n_events, 1 / share)
    return int(round(n_events / share)), events, anomaly


def _wall_template_record(st, search, n_events):
    """The ``walltail`` run behind the wall template: its events, where its draw starts, the share
    of the wall population it covers, and what its events stand for."""
    tail_st, run = wall_tail_run(st, n_events)
    plugin = tail_st.get_single_plugin(run, "instructions")
    stands_for, values = search.values["wall"]
    return {"run": run, "events": n_events, "min_inward_shift_cm": populations.wall_tail_min_shift_cm(plugin),
            "share": populations.wall_tail_share(plugin), "stands_for_wall_events": stands_for,
            "events_in_space": int(len(values))}


def _injected_only_populations(st, instructions_dir):
    """{name: (context, run id)} of the populations that are injected only, never part of the
    background model: a 50 GeV WIMP, S2-only events brighter than the lone-S2 background, and the
    populations outside the model (``outside_model``), each a FaX run of its own instructions,
    written to ``instructions_dir``."""
    plugin = st.get_single_plugin(split_runs(st, "test")[0], "instructions")
    bright = derive(st, lone_s2_mean_electrons=BRIGHT_S2ONLY_ELECTRONS_FACTOR * plugin.lone_s2_mean_electrons)
    light = derive(st, wimp_mass_gev=LIGHT_WIMP_MASS_GEV)
    found = {LIGHT_WIMP: (light, split_runs(light, "light_wimp_template", sources=("wimp",))[0]),
             BRIGHT_S2ONLY: (bright, split_runs(bright, "bright_s2only_template", sources=("s2only",))[0])}
    os.makedirs(instructions_dir, exist_ok=True)
    runs = split_runs(st, "outside_model", sources=("fax",), n_runs=len(outside_model.OUTSIDE_MODEL))
    for index, (name, run) in enumerate(zip(outside_model.OUTSIDE_MODEL, runs)):
        path = os.path.join(instructions_dir, f"{name}_{plugin.sim_n_events}.csv")
        outside_model.write_instructions(path, name, plugin, plugin.sim_n_events, seed=OUTSIDE_MODEL_SEED + index)
        found[name] = (derive(st, fax_instructions_file=os.path.abspath(path)), run)
    return found


def _flags_by_category(st, n_test, progress, instructions_dir):
    """Where the anomaly search sees each population: per population (its test run for ER and
    WIMP, its template run for the others; every event) and event category, the events, the
    flagged events and the flagged fraction with its 68% exact binomial interval."""
    run_st = derive(st, sim_n_events=n_test)
    plugin = run_st.get_single_plugin(split_runs(run_st, "test")[0], "anomaly_scores")
    acceptance = dict(zip(CATEGORIES, plugin.acceptances.tolist()))
    found = {}
    sources = {name: (run_st, split_runs(run_st, "test" if name in ("er", "wimp") else "template", sources=(name,))[0])
               for name in populations.NAMES}
    injected_only = _injected_only_populations(run_st, instructions_dir)
    sources.update({name: injected_only[name] for name in (BRIGHT_S2ONLY, *outside_model.OUTSIDE_MODEL)})
    for name, (source_st, run) in sources.items():
        source_st.make(run, "anomaly_scores", progress_bar=progress)
        scores = source_st.get_array(run, "anomaly_scores", progress_bar=False,
                                     keep_columns=["category", "is_anomalous"])
        found[name] = {"run": run, "simulated": n_test, "categories": {}}
        for index, category in enumerate(CATEGORIES):
            flags = scores["is_anomalous"][scores["category"] == index]
            n, k = len(flags), int(np.sum(flags))
            found[name]["categories"][category] = {
                "n": n, "flagged": k, "fraction": k / n if n else None,
                "interval": list(clopper_pearson(k, n)) if n else None}
    return {"acceptance": acceptance, "populations": found}


def _background_flag_fraction(backgrounds):
    """(flag fraction, its error from the template statistics, expected events) of the
    background model in the anomaly-fraction bins (the last one: flagged)."""
    total = sum(b.expected.sum() for b in backgrounds)
    flagged = sum(b.expected[-1] for b in backgrounds)
    error = np.sqrt(sum((b.expected[-1] * b.rate_uncertainty) ** 2 if b.exact else b.weight**2 * b.simulated[-1]
                        for b in backgrounds))
    return float(flagged / total), float(error / total), float(total)


def _as_is(values, n_simulated=None):
    return values


@dataclasses.dataclass
class SearchTemplates:
    """The simulated events behind the dataset-level tests, computed once per evaluation: per
    population the number simulated, for those in the search's analysis space the band
    discriminant and the anomaly scores, with each likelihood's bin edges, and the anomaly
    fraction bin of every event in every category (``flag_bins``)."""

    plugin: object  # the instructions plugin whose rates give the expected counts
    discriminant: object  # events -> band discriminant values
    values: dict
    flags: dict | None
    edges: np.ndarray
    anomaly_scores: dict | None = None
    anomaly_score_edges: np.ndarray | None = None
    # per category: the background fraction flagged and its error, from the calibration
    flag_acceptances: np.ndarray | None = None
    flag_acceptance_errors: np.ndarray | None = None
    # where injections are counted: the detector's science-run live days (science_run_live_days)
    reference_live_days: float = 1.0
    # per population the S1 area fraction top of its analysis-space events as a PIT
    # (``s1_pattern_gof``), or None
    aft_pits: dict | None = None
    # the ER background from the calibration runs (``calibration_runs.er_template``), or None:
    # the ER template of the WIMP-template and anomaly-score likelihoods the simulated ER run's
    er_calibration: dict | None = None
    # per population the cS1 [PE] of its analysis-space events (the sensitivity's likelihood in
    # cS1 slices, ``statistics.CS1SlicedBinning``), or None
    cs1: dict | None = None

    @classmethod
    def build(cls, plugin, discriminant, population_events, flag_calibration=(None, None), reference_live_days=1.0,
              aft_reference=None):
        """From ``population_events`` as ``_population_events`` gives them."""
        values = {name: (n, discriminant(events)) for name, (n, events, *_) in population_events.items()}
        cs1 = {name: (n, np.asarray(events["cs1"], float)) for name, (n, events, *_) in population_events.items()}
        aft_pits = None if aft_reference is None else {
            name: (n, aft_reference.pit(events)) for name, (n, events, *_) in population_events.items()}
        flags = scores = score_edges = None
        if population_events["er"][2] is not None:
            flags = {name: (flag_run[0] if flag_run else n, np.asarray(every, float))
                     for name, (n, _, _, every, *flag_run) in population_events.items()}
            scores = {name: (n, np.asarray(a["anomaly_score"], float))
                             for name, (n, _, a, *_) in population_events.items()}
            score_edges = statistics.quantile_edges(scores["er"][1])
        return cls(plugin, discriminant, values, flags, statistics.quantile_edges(values["er"][1]),
                   scores, score_edges, *flag_calibration, reference_live_days=float(reference_live_days),
                   aft_pits=aft_pits, cs1=cs1)

    @property
    def exposures(self) -> tuple:
        return tuple(sorted({*EXPOSURES_LIVE_DAYS, self.reference_live_days}))

    def tests(self):
        """(name, per-population values, bin edges) of the WIMP-template likelihood and the
        binned likelihood of the anomaly score (analysis space), and the anomaly-fraction test
        (flagged events among all events, every category)."""
        found = [("likelihood", self.values, self.edges)]
        if self.flags is not None:
            found.append(("anomaly_fraction", self.flags, FLAG_EDGES))
            found.append(("anomaly_score_likelihood", self.anomaly_scores, self.anomaly_score_edges))
        return found

    def templates(self, produced, values, edges, resample=_as_is):
        """Signal (WIMP) and background templates for the expected counts ``produced``."""
        made = {name: statistics.template(name, resample(v, n), edges, produced[name], n)
                for name, (n, v) in values.items() if name in produced}  # not the injected-only ones
        if self.er_calibration is not None and values is not self.flags:
            made["er"] = self._calibrated_er(produced, values, edges, resample)
        signal = made.pop("wimp")
        if values is self.flags:
            return self.pooled(values, signal), self.calibrated_flags(list(made.values()))
        return signal, list(made.values())

    def _calibrated_er(self, produced, values, edges, resample):
        """The ER template from the calibration runs: the rn220 events' shape, their count the
        sideband's per live day (for the exposure of ``produced``), its error the rate nuisance."""
        calibrated = self.er_calibration
        sample = calibrated["values"] if values is self.values else calibrated["scores"]
        return statistics.template("er", resample(sample), edges, self._calibrated_er_count(produced), len(sample),
                                   rate_uncertainty=calibrated["relative_error"])

    def _calibrated_er_count(self, produced):
        """The calibration runs' ER events in the analysis space for the exposure of ``produced``."""
        per_day_produced = populations.expected_counts(self.plugin, live_days=1.0)["er"]
        return produced["er"] * self.er_calibration["per_live_day"] / per_day_produced

    def expected_in_space(self, produced):
        """Expected events of every population in the analysis space for ``produced``."""
        found = {name: produced[name] * len(v) / n for name, (n, v) in self.values.items() if name in produced}
        if self.er_calibration is not None:
            found["er"] = self._calibrated_er_count(produced)
        return found

    def pooled(self, values, tmpl):
        """A template in the bins of its test (the anomaly fraction pools the flags)."""
        return dataclasses.replace(tmpl, simulated=pooled_flag_counts(tmpl.simulated)) if values is self.flags else tmpl

    def calibrated_flags(self, backgrounds):
        """The backgrounds in the anomaly-fraction bins, their flags the calibration's: each
        category flags the fraction of its background the calibration set (measured on 20,000+
        effective events per category, where a 5,000-event template run of a population holds a
        handful of flagged events, and fewer events than the data for wall and S2-only events),
        one sample of flagged background with the calibration's binomial errors as its rate
        nuisance; each population keeps its events per category, less the flagged share."""
        accepted, errors = self.flag_acceptances, self.flag_acceptance_errors
        n_categories = len(CATEGORIES)
        made, totals = [], np.zeros(n_categories)
        for background in backgrounds:
            per_category = background.simulated[:n_categories] + background.simulated[n_categories:]
            totals += per_category * background.weight
            made.append(dataclasses.replace(background, simulated=np.append(per_category * (1 - accepted), 0.0)))
        flagged = float(np.sum(totals * accepted))
        error = float(np.sqrt(np.sum((totals * errors) ** 2)))
        made.append(statistics.Template("calibrated_flags", np.append(np.zeros(n_categories), 1.0), flagged,
                                        error / flagged if flagged > 0 else 0.0, exact=True))
        return made


def _significance(search, rng, n_bootstrap):
    """Expected discovery significance of the WIMP vs exposure: a binned likelihood in the
    cS2_b/cS1 band discriminant and the anomaly-fraction test (flagged vs not flagged), both
    pyhf models with a rate nuisance per background and template statistics; errors are the
    spread over bootstrap resamples of the template events.

    Expected counts are the events each population's rate produces in the exposure times the
    share of its simulated events in each bin (the analysis-space efficiency enters once).
    """
    rows = []
    for days in search.exposures:
        produced = populations.expected_counts(search.plugin, live_days=days)
        in_space = search.expected_in_space(produced)
        row = {"live_days": days, "expected_er": in_space["er"], "expected_wimp": in_space["wimp"],
               "expected_in_analysis_space": in_space}
        for name, values, edges in search.tests():
            row[f"{name}_z"], row[f"{name}_z_error"] = statistics.bootstrap_significance(
                lambda resample: search.templates(produced, values, edges, resample), rng, n_bootstrap)
        if search.flags is not None:
            signal, backgrounds = search.templates(produced, search.flags, FLAG_EDGES)
            row["anomaly_fraction_background"], row["anomaly_fraction_background_error"], _ = (
                _background_flag_fraction(backgrounds))
            row["anomaly_fraction_signal"] = signal.expected[-1] / max(signal.expected.sum(), 1e-12)
        rows.append(row)
    return rows


def _er_template_study(st, search, n_test, progress, runs):
    """False Z of a background-only search (at the reference exposure and at 1 t yr) whose ER
    template is each of ``runs`` (its analysis-space events, e.g. an rn220 calibration run's;
    made with ``n_test`` events unless stored), the data the nominal model's: how well that run stands in for
    the ER background."""
    from ddplugins.search import calibration_runs, mismodelling

    with_anomaly = search.flags is not None
    exposures = {"reference": search.reference_live_days,
                 "1 t yr": mismodelling.one_tonne_year_live_days(search.plugin)}
    found = {}
    for run in runs:
        try:  # a stored run as it was made
            n = int(st.run_metadata(run, projection=[strax.RUN_DEFAULTS_KEY])[strax.RUN_DEFAULTS_KEY]["sim_n_events"])
        except (strax.RunMetadataNotAvailable, KeyError):
            n = n_test
        _, events, anomaly, _ = run_events(derive(st, sim_n_events=n), run, n, with_anomaly, progress)
        values = search.discriminant(events)
        scores = np.asarray(anomaly["anomaly_score"], float) if with_anomaly else None
        found[run] = {"events_in_space": int(len(events)), **{
            label: calibration_runs.er_template_false_z(
                search, populations.expected_counts(search.plugin, live_days=days), values, scores)
            for label, days in exposures.items()}}
        log.info("ER template from %s (%d events in the space): false Z %s", run, len(events), found[run])
    return found


def _seed_significance(searches):
    """Discovery Z of every test at the reference exposure with the ER and WIMP templates of each
    test seed (the other populations' template runs are shared): per test the Z of each seed,
    their mean and standard deviation, beside the first seed's template-bootstrap error."""
    found = {}
    for search in searches:
        produced = populations.expected_counts(search.plugin, live_days=search.reference_live_days)
        for name, values, edges in search.tests():
            found.setdefault(name, []).append(
                float(statistics.discovery_significance(*search.templates(produced, values, edges))))
    return {name: {"z": zs, "mean": float(np.nanmean(zs)), "seed_std": float(np.nanstd(zs, ddof=1))}
            for name, zs in found.items()}


def _with_injection(search, produced, values, edges, name, injected_count, resample=_as_is):
    """(signal, backgrounds, Asimov data of the background model plus ``injected_count`` events
    of ``name``) of one test."""
    signal, backgrounds = search.templates(produced, values, edges, resample)
    n, v = values[name]
    excess = search.pooled(values, statistics.template(name, resample(v, n), edges, injected_count, n))
    return signal, backgrounds, sum(b.expected for b in backgrounds) + excess.expected


def _injection_at(search, name, days):
    """Z of every test (and of the S1 pattern after the WIMP-template fit) with ``name``
    injected at ``days`` (Asimov data, the templates as they are)."""
    produced = populations.expected_counts(search.plugin, live_days=days)
    injected_count = INJECTED_PER_REFERENCE_EXPOSURE * days / search.reference_live_days
    found = {}
    for test_name, values, edges in search.tests():
        signal, backgrounds, data = _with_injection(search, produced, values, edges, name, injected_count)
        found[f"{test_name}_z"] = float(statistics.discovery_significance(signal, backgrounds, observed=data))
        if test_name == "likelihood" and search.aft_pits is not None:
            fit = statistics.goodness_of_fit(signal, backgrounds, data, asimov=True)
            found["s1_pattern_gof_z"] = float(_s1_pattern_gof(search, produced, name, injected_count,
                                                              fit.fitted_signal, None, 0)[0])
    return found


def _seed_injection(searches):
    """The injection study's Z at the reference exposure with the ER and WIMP templates of each
    test seed (the injected populations' own runs are shared): per population and test the Z of
    each seed, their mean and standard deviation."""
    found = {}
    for search in searches:
        for name in INJECTED_POPULATIONS:
            for key, z in _injection_at(search, name, search.reference_live_days).items():
                found.setdefault(name, {}).setdefault(key, []).append(z)
    return {name: {key: {"z": zs, "mean": float(np.nanmean(zs)), "seed_std": float(np.nanstd(zs, ddof=1))}
                   for key, zs in tests.items()} for name, tests in found.items()}


def _injection_study(search, rng, n_bootstrap):
    """Z of every test when a population is injected on top of the background model
    (``INJECTED_PER_REFERENCE_EXPOSURE`` events produced in the reference exposure, Asimov data),
    for every exposure, with the spread over bootstrap resamples of the templates at the reference
    exposure; the WIMP count the WIMP-template fit attributes to the excess, the
    goodness-of-fit Z of every test's best fit (``statistics.goodness_of_fit``), and that of the
    WIMP-template fit in the S1 pattern it does not use (``s1_pattern_gof``)."""
    rows = []
    # the S1 pattern's resamples draw from a generator of their own (the others' draws unchanged)
    pattern_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0]) if search.aft_pits else None
    for name in INJECTED_POPULATIONS:
        for days in search.exposures:
            produced = populations.expected_counts(search.plugin, live_days=days)
            injected_count = INJECTED_PER_REFERENCE_EXPOSURE * days / search.reference_live_days
            row = {"population": name, "live_days": days, "injected": injected_count}
            for test_name, values, edges in search.tests():
                def injected(resample, values=values, edges=edges):
                    return _with_injection(search, produced, values, edges, name, injected_count, resample)

                signal, backgrounds, data = injected(_as_is)
                n, v = values[name]
                row[f"{test_name}_injected_in_space"] = float(injected_count * len(v) / n)
                if days == search.reference_live_days:
                    row[f"{test_name}_z"], row[f"{test_name}_z_error"] = statistics.bootstrap_significance(
                        injected, rng, n_bootstrap)
                else:
                    row[f"{test_name}_z"] = statistics.discovery_significance(signal, backgrounds, observed=data)
                # the excess the WIMP template takes as signal, and how badly its best fit
                # describes the data (the median experiment's goodness-of-fit Z)
                fit = statistics.goodness_of_fit(signal, backgrounds, data, asimov=True)
                row[f"{test_name}_gof_z"] = fit.z
                if test_name == "likelihood":
                    row["likelihood_fitted_wimps"] = fit.fitted_signal
                    if search.aft_pits is not None:
                        row["s1_pattern_gof_z"], row["s1_pattern_gof_z_error"] = _s1_pattern_gof(
                            search, produced, name, injected_count, fit.fitted_signal, pattern_rng,
                            n_bootstrap if days == search.reference_live_days else 0)
            rows.append(row)
    return rows


def _s1_pattern_gof(search, produced, name, injected_count, fitted_wimps, rng, n_bootstrap):
    """Z (median experiment) of an excess of bottom-heavy S1s over the background model plus
    ``fitted_wimps`` (``s1_pattern_gof``), with ``injected_count`` events of ``name`` on top,
    and half the 16-84% range of the Z over bootstrap resamples of every population's events."""

    def z(resample):
        made = {p: s1_pattern_gof.template(p, resample(v, n), produced[p], n)
                for p, (n, v) in search.aft_pits.items() if p in produced}
        wimp = made.pop("wimp")
        n, pits = search.aft_pits[name]
        excess = s1_pattern_gof.template(name, resample(pits, n), injected_count, n)
        model = [*made.values(), wimp.scaled(fitted_wimps / max(wimp.expected.sum(), 1e-12))]
        observed = sum(t.expected for t in made.values()) + excess.expected
        return s1_pattern_gof.bottom_heavy_excess_z(model, observed)

    resample = statistics.resampler(rng)
    spread = [z(resample) for _ in range(n_bootstrap)]
    low, high = np.percentile(spread, [16, 84]) if spread else (np.nan, np.nan)
    return z(_as_is), float((high - low) / 2)


def injection_summary(result):
    """Per injected population: Z of both tests at the reference exposure, the exposure each needs for
    3 sigma, and the WIMPs the WIMP-template fit sees in the excess."""
    summary = []
    for name in INJECTED_POPULATIONS:
        rows = [r for r in result.get("injection", []) if r["population"] == name]
        if not rows:
            continue
        at_reference = next(r for r in rows if r["live_days"] == result["reference_live_days"])
        entry = {"population": name, "injected": at_reference["injected"],
                 "in_space": at_reference["likelihood_injected_in_space"],
                 "likelihood_z": at_reference["likelihood_z"], "likelihood_z_error": at_reference["likelihood_z_error"],
                 "fitted_wimps": at_reference["likelihood_fitted_wimps"],
                 "likelihood_days_to_3_sigma": exposure_to_reach(rows, "likelihood_z"),
                 "likelihood_gof_z": at_reference.get("likelihood_gof_z"),
                 "likelihood_gof_days_to_3_sigma": (exposure_to_reach(rows, "likelihood_gof_z")
                                                    if "likelihood_gof_z" in at_reference else None)}
        if "s1_pattern_gof_z" in at_reference:
            entry.update({"s1_pattern_gof_z": at_reference["s1_pattern_gof_z"],
                          "s1_pattern_gof_z_error": at_reference["s1_pattern_gof_z_error"],
                          "s1_pattern_gof_days_to_3_sigma": exposure_to_reach(rows, "s1_pattern_gof_z")})
        for test in ("anomaly_fraction", "anomaly_score_likelihood"):
            if f"{test}_z" in at_reference:
                entry[f"{test}_z"] = at_reference[f"{test}_z"]
                entry[f"{test}_z_error"] = at_reference[f"{test}_z_error"]
                entry[f"{test}_days_to_3_sigma"] = exposure_to_reach(rows, f"{test}_z")
        summary.append(entry)
    return summary


def exposure_to_reach(rows, key, z=3.0):
    """Live days at which Z (linear in log exposure between the rows) first reaches z; None if
    not within the exposures studied."""
    days = np.array([r["live_days"] for r in rows], float)
    values = np.array([r[key] for r in rows], float)
    above = np.flatnonzero(values >= z)
    if not len(above):
        return None
    i = above[0]
    if i == 0:
        return float(days[0])
    fraction = (z - values[i - 1]) / (values[i] - values[i - 1])
    return float(np.exp(np.log(days[i - 1]) + fraction * (np.log(days[i]) - np.log(days[i - 1]))))


def observed_significance(st, result, run_id, events, every_event):
    """Z of the WIMP-template likelihood and the anomaly-score likelihood for the events of a
    (pseudo-)data run in the analysis space, and of the anomaly-fraction test for all its
    events, with the templates of an evaluation result at the run's exposure; each with its
    spread over bootstrap resamples of the templates (``<test>_z_error``)."""
    search = result["_search"]
    rng = np.random.default_rng(2)
    produced = populations.expected_counts(st.get_single_plugin(run_id, "instructions"))
    observed_values = {"likelihood": search.discriminant(events)}
    found = {}
    if search.flags is not None:
        observed_values["anomaly_fraction"] = flag_bins(every_event)
        observed_values["anomaly_score_likelihood"] = np.asarray(events["anomaly_score"], float)
        _, backgrounds = search.templates(produced, search.flags, FLAG_EDGES)
        (found["background_anomaly_fraction"], found["background_anomaly_fraction_error"],
         found["expected_background"]) = _background_flag_fraction(backgrounds)
    for name, values, edges in search.tests():
        observed, _ = np.histogram(np.clip(observed_values[name], edges[0], edges[-1]), edges)
        observed = pooled_flag_counts(observed) if values is search.flags else observed

        def make(resample, values=values, edges=edges, observed=observed):
            return (*search.templates(produced, values, edges, resample), observed)

        found[f"{name}_z"], found[f"{name}_z_error"] = statistics.bootstrap_significance(
            make, rng, result.get("n_bootstrap_z", N_BOOTSTRAP_Z))
    return found


def format_evaluation(result):
    """The figures of merit and significances as a text table."""
    lines = [f"Held-out test events: {result['n_test']['er']} ER, {result['n_test']['wimp']} WIMP "
             f"(the search's analysis space: cS1 3-70 PE, cS2_b >= 50 PE, fiducial volume, single scatter)"]
    keys = ("accuracy", "recall", "precision", "roc_auc", "er_rejection_at_50pct_wimp")
    lines.append(f"{'method':26s} " + " ".join(
        f"{k:>12s}" for k in ("accuracy", "recall", "precision", "ROC AUC", "ER rej@50%")))
    for name, m in result["metrics"].items():
        lines.append(f"{name:26s} " + " ".join(f"{m[k]:12.4f}" if k in m else f"{'-':>12s}" for k in keys))
    er_template = result.get("er_template")
    lines.append("\nER background of the likelihoods: " + (
        "the simulated ER run at the physics rate" if not er_template else
        f"the calibration runs (shape: {er_template['events_in_space']} analysis-space events of "
        f"{', '.join(er_template['runs']['rn220'])}; count: {er_template['per_live_day']:.3f} per live day "
        f"+- {100 * er_template['relative_error']:.1f}% from {len(er_template['runs']['sideband'])} blinded science "
        f"runs, {er_template['sideband_live_days']:.1f} live days, in the control region)"))
    wall = result.get("wall_template")
    lines.append("Wall template in the analysis space: " + (
        "the 'wall' template run" if not wall else
        f"{wall['events_in_space']} events of {wall['run']} (wall events whose electrons come out >= "
        f"{wall['min_inward_shift_cm']:.2f} cm inward, {100 * wall['share']:.2f}% of them: its {wall['events']} "
        f"events stand for {wall['stands_for_wall_events']})"))
    lines.append("\nExpected discovery significance (Asimov, pyhf with background-rate and template "
                 f"nuisances; +- spread over {result['n_bootstrap_z']} template bootstraps) vs exposure, "
                 f"{result['wimp']}:")
    for row in result["significance"]:
        extra = (f", anomaly fraction Z = {row['anomaly_fraction_z']:.2f} +- {row['anomaly_fraction_z_error']:.2f}"
                 f", anomaly-score likelihood Z = {row['anomaly_score_likelihood_z']:.2f} "
                 f"+- {row['anomaly_score_likelihood_z_error']:.2f}" if "anomaly_fraction_z" in row else "")
        lines.append(f"  {row['live_days']:6.1f} live days: {row['expected_er']:.1f} ER, "
                     f"{row['expected_wimp']:.2f} WIMP expected; likelihood Z = {row['likelihood_z']:.2f} "
                     f"+- {row['likelihood_z_error']:.2f}{extra}")
    if result.get("seed_spread"):
        n_seeds = len(result["test_seeds"]) // 2
        lines.append(f"\nBetween {n_seeds} independent test seeds (mean +- standard deviation between seeds):")
        for name, m in result["seed_spread"].items():
            auc = f"{m['roc_auc_mean']:.4f} +- {m['roc_auc_seed_std']:.4f}"
            rejection = f"{m['er_rejection_at_50pct_wimp_mean']:.4f} +- {m['er_rejection_at_50pct_wimp_seed_std']:.4f}"
            lines.append(f"  {name:34s} ROC AUC {auc}, ER rejection at 50% {rejection}")
        lines.append(f"  discovery Z at {result['reference_live_days']:g} live days (each seed's ER and WIMP "
                     "templates): " + "; ".join(f"{name} {m['mean']:.2f} +- {m['seed_std']:.2f}"
                                 for name, m in (result.get("significance_seed_spread") or {}).items()))
        for name, tests in (result.get("injection_seed_spread") or {}).items():
            lines.append(f"  {name} injected, Z between seeds: " + "; ".join(
                f"{test[:-2]} {m['mean']:.2f} +- {m['seed_std']:.2f}" for test, m in tests.items()))
    for run, row in (result.get("er_template_study") or {}).items():
        lines.append(f"\nER template from {run} ({row['events_in_space']} events in the space; data: the nominal "
                     "model), false Z of a background-only search: " + "; ".join(
                         f"{label}: " + ", ".join(f"{test} {z:.2f}" for test, z in zs.items())
                         for label, zs in row.items() if label != "events_in_space"))
    for row in result.get("paired_leakage", []):
        lines.append(f"\nER events let through at {row['wimp_acceptance']:.0%} WIMP acceptance, of {row['er_events']} "
                     "(68% exact interval); differences significant on the same events (McNemar, Holm-adjusted "
                     "p < 0.05 over every pair):")
        n = row["er_events"]
        lines.append("  " + "; ".join(f"{name} {m['leaked']} ({m['interval'][0] * n:.1f}-{m['interval'][1] * n:.1f})"
                                      for name, m in row["methods"].items()))
        significant = [p for p in row["pairs"] if p["p_value_holm"] < 0.05]
        lines.extend(f"  {p['methods'][0]} vs {p['methods'][1]}: {p['only_first']} vs {p['only_second']} leaked "
                     f"by one only, p = {p['p_value']:.2g} (adjusted {p['p_value_holm']:.2g})" for p in significant)
        if not significant:
            lines.append("  none")
    if result.get("toys"):
        lines.append(f"\nToy Monte Carlo at {result['reference_live_days']:g} live days ({result['toys'][0]['n_toys']} "
                     "background-only and as many signal toys per test; goal: coverage 90 +- 2%):")
        for t in result["toys"]:
            lines.append(
                f"  {t['test']:26s} background p-values: KS p = {t['ks_p_value']:.2f} (below 0.5), "
                f"{t['zero_signal_share']:.0%} at 0.5 (binomial p = {t['zero_signal_share_p_value']:.2f}); "
                f"Z: Asimov {t['asimov_z']:.2f}, toy median {t['median_toy_z']:.2f} +- {t['median_toy_z_error']:.2f}; "
                f"90% CL coverage: profile {t['coverage_profile']:.3f} +- {t['coverage_profile_error']:.3f}, "
                f"CLs {t['coverage_cls']:.3f} +- {t['coverage_cls_error']:.3f}"
                + (f", Neyman {t['coverage_neyman']:.3f} +- {t['coverage_neyman_error']:.3f}"
                   if "coverage_neyman" in t else "")
                + "".join(f"; true rates {shift} sigma: profile {c['profile']:.3f}, CLs {c['cls']:.3f}, "
                          f"Neyman {c['neyman']:.3f}" for shift, c in t.get("coverage_shifted", {}).items()))
    if result.get("sensitivity"):
        lines.append(f"\nSensitivity at {_sensitivity_days(result):g} live days (median 90% CL limit [cm^2] "
                     "with its -1/+1 sigma band; 3 sigma discovery cross-section):")
        reference = _sensitivity_days(result)
        for r in sensitivity.at_exposure(result["sensitivity"], reference):
            low, median, high = r["limit_cm2"][1:4]
            error = f" +- {r['limit_median_error_cm2']:.1e}" if "limit_median_error_cm2" in r else ""
            lines.append(f"  {r['mass_gev']:6g} GeV {r['test']:26s} {r['expected_wimp']:7.2f} WIMPs at "
                         f"{r['cross_section_cm2']:.0e}: limit {median:.2e}{error} ({low:.2e} - {high:.2e}), "
                         f"discovery {r['discovery_cm2']:.2e}")
        scan = [r for r in result["sensitivity"] if r.get("live_days", reference) != reference]
        if scan:
            lines.append("Against exposure (median 90% CL limit [cm^2] at each exposure's live days):")
            for mass in sorted({r["mass_gev"] for r in scan}):
                for test in dict.fromkeys(r["test"] for r in scan):
                    mine = sorted((r for r in result["sensitivity"] if r["mass_gev"] == mass and r["test"] == test),
                                  key=lambda r: r["live_days"])
                    lines.append(f"  {mass:g} GeV, {test}: " + ", ".join(
                        f"{r['live_days']:g} d {r['limit_cm2'][2]:.2e}" for r in mine))
    if result.get("sensitivity_seed_spread"):
        spread = result["sensitivity_seed_spread"]
        lines.append(f"Median limit [cm^2] of {len(spread[0]['medians_cm2'])} independent sets of simulated templates "
                     "(the first the curves'): mean, seed-to-seed standard deviation, the first set's bootstrap error")
        for r in spread:
            lines.append(f"  {r['mass_gev']:6g} GeV {r['test']:26s} " + " ".join(f"{m:.2e}" for m in r["medians_cm2"])
                         + f": mean {r['mean_cm2']:.2e}, seed std {r['seed_std_cm2']:.1e}, "
                         f"bootstrap {r['bootstrap_error_cm2']:.1e}")
    if result.get("mismodelling"):
        lines.append("\n" + mismodelling.format_table(result["mismodelling"]))
    summary = injection_summary(result)
    if summary:
        lines.append(f"\nInjection study: {INJECTED_PER_REFERENCE_EXPOSURE:g} events produced per "
                     f"{result['reference_live_days']:g} live days on top of "
                     f"the background model (Asimov); Z at {result['reference_live_days']:g} live days and "
                     f"live days to 3 sigma (- : not within "
                     f"{EXPOSURES_LIVE_DAYS[-1]}):")
        for e in summary:
            def days(v):
                return f"{v:.0f}" if v is not None else "-"
            anomaly = "".join(f"; {test.replace('_', ' ')} Z = {e[test + '_z']:.2f} +- {e[test + '_z_error']:.2f}, "
                              f"3 sigma at {days(e[test + '_days_to_3_sigma'])}"
                              for test in ("anomaly_fraction", "anomaly_score_likelihood") if test + "_z" in e)
            lines.append(f"  {e['population']:14s} {e['in_space']:.2f} in the space: "
                         f"likelihood Z = {e['likelihood_z']:.2f} +- {e['likelihood_z_error']:.2f}, "
                         f"3 sigma at {days(e['likelihood_days_to_3_sigma'])}, "
                         f"fitted as {e['fitted_wimps']:.2f} WIMPs (goodness of fit Z = {e['likelihood_gof_z']:.2f}, "
                         f"3 sigma at {days(e['likelihood_gof_days_to_3_sigma'])}"
                         + (f"; in the S1 pattern Z = {e['s1_pattern_gof_z']:.2f} "
                            f"+- {e['s1_pattern_gof_z_error']:.2f}, "
                            f"3 sigma at {days(e['s1_pattern_gof_days_to_3_sigma'])}"
                            if "s1_pattern_gof_z" in e else "")
                         + f"){anomaly}")
    return "\n".join(lines)


def _sensitivity_days(result):
    """Live days of the sensitivity curves (results made before they could differ: the reference)."""
    return result.get("sensitivity_live_days", result["reference_live_days"])


def save_json(result, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plain = {k: v for k, v in result.items() if k not in ("scores", "labels", "test_events") and not k.startswith("_")}
    with open(path, "w") as f:
        json.dump(plain, f, indent=2)


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(title, caption, fig):
    import matplotlib.pyplot as plt

    png = _png(fig)
    plt.close(fig)
    return {"title": title, "caption": caption, "png": png}


def _roc_figure(result):
    import matplotlib.pyplot as plt
    roc_curve = import_ml("sklearn.metrics", "The ROC figure").roc_curve

    labels, scores = result["labels"], result["scores"]
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    grid = np.logspace(-4, 0, 60)
    rng = np.random.default_rng(1)
    for name, values in scores.items():
        fpr, tpr, _ = roc_curve(labels, values)
        m = result["metrics"][name]
        line, = ax.plot(fpr, tpr, label=f"{name} (AUC {m['roc_auc']:.3f} $\\pm$ {m['roc_auc_error']:.3f})")
        if name in ("CNN (hitpeak)", "cS2/cS1 band cut", "combined anomaly score", DENSITY_RATIO):
            curves = []
            for _ in range(100):
                pick = rng.integers(0, len(labels), len(labels))
                f, t, _ = roc_curve(labels[pick], values[pick])
                curves.append(np.interp(grid, f, t))
            low, high = np.percentile(curves, [16, 84], axis=0)
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.25, lw=0)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("ER acceptance (false positive rate)")
    ax.set_ylabel("WIMP acceptance (true positive rate)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    return _figure("ROC curves", "Held-out test events; bands: 16-84% of 100 bootstrap resamples "
                   "(HitPeak CNN, combined score, cut, density ratio).", fig)


def _band_figure(test, labels, pseudo):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    y = np.log10(test["cs2_bottom"])
    for label, name, colour in ((0, "ER (test)", "tab:blue"), (1, "WIMP (test)", "tab:red")):
        ax.scatter(test["cs1"][labels == label], y[labels == label], s=2, alpha=0.15, color=colour, label=name)
    wimp = labels == 1
    edges = np.quantile(test["cs1"][wimp], np.linspace(0, 1, 11))
    centres = (edges[1:] + edges[:-1]) / 2
    for label, style in ((0, "b-"), (1, "r-")):
        medians = [np.median(y[(labels == label) & (test["cs1"] >= lo) & (test["cs1"] < hi)])
                   for lo, hi in zip(edges[:-1], edges[1:])]
        ax.plot(centres, medians, style, lw=2, label=f"{'ER' if label == 0 else 'NR'} band median"
                + (" = the cut (50% WIMP acceptance)" if label == 1 else ""))
    if pseudo is not None:
        for name, marker, pick in _by_population(pseudo):
            ax.scatter(pseudo["cs1"][pick], np.log10(pseudo["cs2_bottom"][pick]), s=25, marker=marker,
                       facecolors="none", edgecolors="k", label=f"pseudo-data {name}")
        flagged = pseudo["is_anomalous"]
        ax.scatter(pseudo["cs1"][flagged], np.log10(pseudo["cs2_bottom"][flagged]), s=60, marker="*",
                   color="gold", edgecolors="k", label="flagged anomalous")
    ax.set_xlim(0, 75)
    ax.set_xlabel("cS1 [PE]")
    ax.set_ylabel("log10(cS2_b / PE)")
    ax.legend(fontsize=7, loc="upper left")
    return _figure("Discrimination space", "Test events, the ER and NR band medians (the NR median is "
                   "the cut at 50% WIMP acceptance) and the pseudo-data events by truth and flag.", fig)


def _by_population(events):
    """(name, marker, mask) of each true population present among the events."""
    markers = "osD^v<>ph"
    for code in np.unique(events["population"]):
        name = populations.NAMES[code] if 0 <= code < len(populations.NAMES) else "unknown"
        yield name, markers[int(code) % len(markers)], np.asarray(events["population"] == code)


def _pseudo_figures(pseudo, pseudo_run):
    import matplotlib.pyplot as plt

    figures = []
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    bins = np.linspace(0, 40, 17)
    centres = (bins[1:] + bins[:-1]) / 2
    for name, marker, pick in _by_population(pseudo):
        counts, _ = np.histogram(pseudo["ces"][pick], bins)
        ax.errorbar(centres, counts, yerr=np.sqrt(counts), xerr=(bins[1] - bins[0]) / 2, fmt=marker,
                    label=f"{name} (truth)")
    counts, _ = np.histogram(pseudo["ces"][pseudo["is_anomalous"]], bins)
    ax.step(bins[:-1], counts, where="post", color="goldenrod", label="flagged anomalous")
    ax.set_xlabel("combined energy [keV]")
    ax.set_ylabel("events per 2.5 keV")
    ax.legend(fontsize=8)
    figures.append(_figure("Energy spectrum", f"{pseudo_run}, events in the analysis space; error bars: "
                           "Poisson (sqrt N).", fig))

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, marker, pick in _by_population(pseudo):
        ax.scatter(pseudo["r"][pick] ** 2, pseudo["z"][pick], marker=marker, facecolors="none",
                   edgecolors="k", label=f"{name} (truth)")
    flagged = pseudo["is_anomalous"]
    ax.scatter(pseudo["r"][flagged] ** 2, pseudo["z"][flagged], marker="*", s=70, color="gold",
               edgecolors="k", label="flagged anomalous")
    ax.set_xlabel("r$^2$ [cm$^2$]")
    ax.set_ylabel("z [cm]")
    ax.legend(fontsize=8)
    figures.append(_figure("Positions", f"{pseudo_run}: reconstructed (r^2, z) of the events in the "
                           "analysis space.", fig))
    return figures


def _significance_figure(result):
    import matplotlib.pyplot as plt

    rows = result["significance"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    days = [r["live_days"] for r in rows]
    ax.errorbar(days, [r["likelihood_z"] for r in rows], yerr=[r["likelihood_z_error"] for r in rows],
                fmt="o-", capsize=3, label="WIMP-template likelihood (band discriminant)")
    if "anomaly_fraction_z" in rows[0]:
        ax.errorbar(days, [r["anomaly_fraction_z"] for r in rows], yerr=[r["anomaly_fraction_z_error"] for r in rows],
                    fmt="s-", capsize=3, label="anomaly fraction (flagged vs not)")
        ax.errorbar(days, [r["anomaly_score_likelihood_z"] for r in rows],
                    yerr=[r["anomaly_score_likelihood_z_error"] for r in rows],
                    fmt="^-", capsize=3, label="anomaly-score likelihood (binned score)")
    ax.set_xscale("log")
    ax.set_xlabel(f"exposure [live days x {result['fiducial_mass_kg']:g} kg]")
    ax.set_ylabel("expected discovery significance [sigma]")
    ax.legend(fontsize=8)
    return _figure("Significance vs exposure", f"Asimov expectations for the {result['wimp']}: pyhf "
                   "models with a rate nuisance per background population and template statistics; error "
                   f"bars: spread over {result['n_bootstrap_z']} bootstrap resamples of the template events.", fig)


def _cvae_figure(result, st, pseudo_run):
    import matplotlib.pyplot as plt

    labels, loss = result["labels"], result["scores"]["CVAE loss"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    every = [loss]
    pseudo = None
    if pseudo_run is not None:
        pseudo = st.get_array(pseudo_run, ["event_truth", "anomaly_scores"], progress_bar=False)
        every.append(pseudo["cvae_loss"])
    every = np.concatenate(every)
    bins = np.logspace(np.log10(max(every.min(), 1e-9)), np.log10(every.max()), 41)
    days = result["reference_live_days"]
    reference = next(r for r in result["significance"] if r["live_days"] == days)
    for label, name, colour in ((0, "ER test events in the space", "tab:blue"),
                                (1, "WIMP test events in the space", "tab:red")):
        sel = loss[labels == label]
        weight = reference["expected_er" if label == 0 else "expected_wimp"] / len(sel)
        ax.hist(sel, bins, weights=np.full(len(sel), weight), histtype="step", color=colour, lw=2,
                label=f"{name} (scaled to {days:g} live days)")
    if pseudo is not None:
        for name, _, pick in _by_population(pseudo):
            ax.hist(pseudo["cvae_loss"][pick], bins, histtype="step", ls="--", label=f"{pseudo_run}: {name}")
    threshold = np.quantile(loss[labels == 0], 0.99)
    ax.axvline(threshold, color="grey", lw=1, label="99% quantile of the ER test events")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("CVAE loss (mean squared error per pixel + beta KL)")
    ax.set_ylabel("events per bin")
    ax.legend(fontsize=6)
    return _figure("CVAE loss distributions", "Test events in the analysis space normalised to the expected "
                   f"counts of {days:g} live days; every event of the pseudo-data run, in any category, "
                   "by true population.", fig)


def _gallery(st, pseudo_run, pseudo):
    from ddplugins.analyses.event_display import event_display
    import matplotlib.pyplot as plt

    """Event displays of the pseudo-data events with the highest anomaly scores (all events, not
    only the analysis space), with their truth and whether they were flagged."""
    gallery = []
    score = np.nan_to_num(np.asarray(pseudo["anomaly_score"], float), nan=-np.inf)
    for i in np.argsort(-score, kind="stable")[:GALLERY_EVENTS]:
        event = pseudo[i]
        fig = event_display(st, pseudo_run, int(event["event_number"]))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=55)
        plt.close(fig)
        code = int(event["population"])
        truth = populations.NAMES[code] if 0 <= code < len(populations.NAMES) else "unknown"
        flag = "flagged" if event["is_anomalous"] else "not flagged"
        gallery.append({"title": f"{pseudo_run}, event {int(event['event_number'])}: score "
                                 f"{event['anomaly_score']:.2f} ({flag}), truth {truth}",
                        "png": base64.b64encode(buffer.getvalue()).decode()})
    return gallery


def _versions():
    import importlib.metadata

    names = ("ddcore", "strax", "numpy", "numba", "zarr", "keras", "tensorflow-cpu", "nestpy", "wimprates")
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


DETECTOR_OPTIONS = ("science_run", "g1_pe_per_photon", "g2_bottom_pe_per_electron", "electron_lifetime_us",
                    "drift_field_v_per_cm", "drift_velocity_um_per_ns", "s1_timing_model", "tpc_radius_cm")


def write_report(st, result, output, pseudo_run=None):
    """Self-contained HTML report (plots embedded), rendered from ``templates/report.html.j2``."""
    import importlib.resources

    import jinja2

    run = split_runs(st, "test")[0]  # a run name of this context's size: options as configured
    options = {**st.get_single_plugin(run, "raw_records").config, **st.get_single_plugin(run, "instructions").config}
    model_hashes = {}
    for data_type, option in (("cnn_scores", "cnn_model_sha256"), ("cvae_losses", "cvae_model_sha256"),
                              ("anomaly_scores", "anomaly_calibration_sha256")):
        try:
            model_hashes[option] = st.get_single_plugin(run, data_type).config[option]
        except Exception:  # noqa: BLE001 - a context without that model
            continue
    test = result["test_events"]
    pseudo = every_pseudo_event = None
    if pseudo_run is not None:
        every_pseudo_event = st.get_array(pseudo_run, ["event_basics", "event_truth", "anomaly_scores"],
                                          progress_bar=False)
        pseudo = every_pseudo_event[search_selection(st, pseudo_run, every_pseudo_event)]
    figures = [_roc_figure(result), _band_figure(test, result["labels"], pseudo)]
    if pseudo is not None:
        figures += _pseudo_figures(pseudo, pseudo_run)
    if "CVAE loss" in result["scores"]:
        figures.append(_cvae_figure(result, st, pseudo_run))
    figures.append(_significance_figure(result))
    if result.get("sensitivity"):
        figures.append(_figure(
            "Sensitivity against WIMP mass", "Median expected 90% CL upper limit (CLs, pyhf, background-only "
            "Asimov; bands: +-1 and +-2 standard deviations; error bars: template bootstrap) and 3 sigma discovery "
            "potential (median Asimov Z = 3) of every test, one simulated WIMP run per mass on the same background "
            "templates; beside it, the median limits against exposure.",
            sensitivity.sensitivity_figure(result["sensitivity"], _sensitivity_days(result),
                                           result["fiducial_mass_kg"])))
    if result.get("_toy_studies"):
        studies = result["_toy_studies"]
        figures.append(_figure(
            "Toy Monte Carlo", f"Per test (rows), at {result['reference_live_days']:g} live days, {studies[0].n_toys} "
            "toys drawn from its pyhf model (Poisson counts and auxiliary measurements): left, discovery p-values "
            "of background-only toys against the asymptotic expectation (uniform below 0.5, half the toys at "
            "0.5); middle, discovery Z of toys with the WIMP signal beside the Asimov Z; right, the share of "
            "signal toys whose 90% CL upper limit covers the true signal strength (binomial errors).",
            toys.toys_figure(studies)))
    template = jinja2.Template(
        importlib.resources.files("ddplugins.search").joinpath("templates/report.html.j2").read_text(),
        autoescape=True,
    )
    html = template.render(
        date=result["date"], detector=result["detector"], preset=result["preset"], n_test=result["n_test"],
        command=result.get("command") or "ddcore report", versions=_versions(),
        detector_options={k: options[k] for k in DETECTOR_OPTIONS if k in options},
        model_hashes=model_hashes, metrics=result["metrics"], n_bootstrap=N_BOOTSTRAP,
        significance=result["significance"], pseudo=result.get("pseudo_data"), figures=figures,
        injection=injection_summary(result), injected_per_exposure=INJECTED_PER_REFERENCE_EXPOSURE,
        reference_live_days=result["reference_live_days"],
        flags_by_category=result.get("flags_by_category"), toys=result.get("toys"),
        paired_leakage=result.get("paired_leakage"), mismodelling=result.get("mismodelling"),
        seed_spread=result.get("seed_spread"), n_seeds=len(result.get("test_seeds") or []) // 2,
        significance_seed_spread=result.get("significance_seed_spread"),
        blinding=result.get("blinding"), er_template=result.get("er_template"),
        wall_template=result.get("wall_template"), sensitivity_seed_spread=result.get("sensitivity_seed_spread"),
        gallery=_gallery(st, pseudo_run, every_pseudo_event) if pseudo is not None else [],
        lineage=json.dumps({"test_runs": result["test_runs"], "models": result["model_lineages"]}, indent=1),
    )
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        f.write(html)
    return output
