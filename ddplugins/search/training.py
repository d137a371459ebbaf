"""Training workflows behind ``ddcore train`` and ``ddcore grid-search``."""

import itertools
import logging
import os

import numpy as np

from ddcore import models
from ddcore.log import import_keras
from ddcore.context import derive
from ddcore.extras import import_ml
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.analyses.datasets import image_set, load_events, split_runs
from ddplugins.ml import density
from ddplugins.ml.categories import CATEGORIES
from ddplugins.search import architectures, calibration_fit
from ddplugins.analyses.evaluation import classification_metrics
from ddplugins.ml.scoring import MAX_PLANES, PHYSICS_FEATURES, model_inputs, physics_features

log = logging.getLogger(__name__)


def _lineages(st, run_ids, data_type="event_images"):
    return {run_id: str(st.key_for(run_id, data_type)) for run_id in run_ids}


def _run_options(st, run_id):
    """The options that define a simulated run (its run document's per-run defaults), so a
    manifest says what data a model learnt from (e.g. s1_timing_model)."""
    return dict(st.run_metadata(run_id, projection=["strax_defaults"]).get("strax_defaults", {}))


def _sets(st, image_kind, n_train, n_validation, with_s1_waveform=False):
    field = IMAGE_FIELDS[image_kind]
    train_st = derive(st, sim_n_events=n_train)
    validation_st = derive(st, sim_n_events=n_validation)
    train_runs = split_runs(train_st, "train")
    validation_runs = split_runs(validation_st, "validation")
    train = image_set(train_st, train_runs, field, with_s1_waveform=with_s1_waveform)
    validation = image_set(validation_st, validation_runs, field, with_s1_waveform=with_s1_waveform)
    return (field, train, validation, _lineages(train_st, train_runs), _lineages(validation_st, validation_runs),
            _run_options(train_st, train_runs[0]))


def train_cnn(st, output, image_kind="hitpeak", n_train=4000, n_validation=1000, epochs=10,
              batch_size=64, n_conv_layers=2, leaky_alpha=0.05, learning_rate=1e-3, seed=0,
              with_features=True, with_s1_waveform=False):
    """Train the CNN on simulated ER (label 0) and WIMP (label 1) events; save model + manifest.
    ``with_features``: the model also reads the reconstructed cS1, cS2_b, drift time and (x, y);
    ``with_s1_waveform``: and the main S1 waveform at full resolution (``event_waveforms``)."""
    field, (x, y, events), (x_val, y_val, events_val), train_lineage, val_lineage, run_options = _sets(
        st, image_kind, n_train, n_validation, with_s1_waveform)
    scale = None
    if with_features:
        train_features = physics_features(events)
        scale = (train_features.mean(axis=0), np.maximum(train_features.var(axis=0), 1e-12))
    waveform_samples = events["s1_waveform"].shape[1] if with_s1_waveform else None
    model = architectures.build_cnn(field, x.shape[1:], n_conv_layers=n_conv_layers,
                                    leaky_alpha=leaky_alpha, learning_rate=learning_rate, seed=seed,
                                    feature_scale=scale, s1_waveform_samples=waveform_samples)
    extras = [*(PHYSICS_FEATURES if with_features else ()), *(["S1 waveform"] if with_s1_waveform else [])]
    log.info(f"Training CNN on {len(x)} {field}s ({np.sum(y == 1)} WIMP), validating on {len(x_val)}"
             + (f"; with {', '.join(extras)}" if extras else ""))
    validation_inputs = model_inputs(model, events_val, x_val)
    history = model.fit(model_inputs(model, events, x), y, validation_data=(validation_inputs, y_val),
                        epochs=epochs, batch_size=batch_size, shuffle=True, verbose=2)
    scores = model.predict(validation_inputs, batch_size=512, verbose=0)[:, 0]
    metrics = classification_metrics(y_val, scores)
    manifest = models.save_model(model, output, "cnn", {
        "detector": st.detector,
        "architecture": dict(n_conv_layers=n_conv_layers, filters=16, leaky_alpha=leaky_alpha,
                             conv_l2=0.005, dense_l2=0.001, dropout=(0.25, 0.5),
                             physics_features=list(PHYSICS_FEATURES) if with_features else [],
                             s1_waveform_samples=waveform_samples),
        "training": dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         n_train=int(len(x)), n_validation=int(len(x_val))),
        "training_runs": train_lineage,
        "training_run_options": run_options,
        "validation_runs": val_lineage,
        "validation_metrics": metrics,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    })
    log.info(f"Saved {output}: validation {metrics}")
    return manifest


def train_cvae(st, output, image_kind="hitpeak", preset="compact", n_train=4000, n_validation=1000,
               epochs=30, batch_size=100, beta=1e-4, learning_rate=1e-3, seed=0):
    """Train the convolutional VAE on background (ER) events only; save the scoring model."""
    keras = import_keras()

    field = IMAGE_FIELDS[image_kind]
    train_st = derive(st, sim_n_events=n_train)
    validation_st = derive(st, sim_n_events=n_validation)
    train_runs = split_runs(train_st, "train", sources=("er",))
    validation_runs = split_runs(validation_st, "validation", sources=("er",))
    x, _, _ = image_set(train_st, train_runs, field)
    x_val, _, _ = image_set(validation_st, validation_runs, field)
    encoder, decoder = architectures.build_cvae_parts(field, x.shape[1:], seed=seed,
                                                      **architectures.CVAE_PRESETS[preset])
    trainer = architectures.VAETrainer(encoder, decoder, beta, seed=seed)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate))
    log.info(f"Training CVAE ({preset}) on {len(x)} background {field}s, validating on {len(x_val)}")
    history = trainer.fit(x, validation_data=(x_val,), epochs=epochs, batch_size=batch_size,
                          shuffle=True, verbose=2)
    model = architectures.cvae_inference_model(encoder, decoder)
    manifest = models.save_model(model, output, "cvae", {
        "detector": st.detector,
        "architecture": dict(preset=preset, **architectures.CVAE_PRESETS[preset], stride=3,
                             leaky_alpha=0.05),
        "training": dict(epochs=epochs, batch_size=batch_size, beta=beta, learning_rate=learning_rate,
                         seed=seed, n_train=int(len(x)), n_validation=int(len(x_val)),
                         background_only=True),
        "training_runs": _lineages(train_st, train_runs),
        "training_run_options": _run_options(train_st, train_runs[0]),
        "validation_runs": _lineages(validation_st, validation_runs),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    })
    log.info(f"Saved {output} ({manifest['parameters']} parameters)")
    return manifest


CALIBRATION_COLUMNS = tuple(dict.fromkeys(("cs1", "cs2_bottom", "s2_area", "alt_s2_area", "x", "y", "z", "cnn_score",
                                          "cvae_plane_mse", "true_energy_total", *density.COLUMNS)))


def calibration_plan(st, n_events, population_events=None, strata=()):
    """{population: [(run, events, energy window or None)]} of the calibration: one run of every
    population (``n_events``, or ``population_events[name]``), and per stratum (population,
    (low, high) keV, events) a run of that population drawing only that window of its spectrum."""
    from ddplugins.simulation import populations

    counts = {name: n_events for name in populations.NAMES}
    for name, count in (population_events or {}).items():
        populations.population_code(name)
        counts[name] = int(count)
    plan = {name: [(split_runs(derive(st, sim_n_events=n), "calibration", sources=(name,))[0], n, None)]
            for name, n in counts.items()}
    for index, (name, window, n) in enumerate(strata):
        if name not in populations.STRATIFIED:
            raise ValueError(f"Calibration stratum {name}:{window}: only {', '.join(populations.STRATIFIED)} "
                             "runs draw an energy window")
        run = split_runs(derive(st, sim_n_events=n), "calibration_stratum", sources=(name,), n_runs=index + 1)[index]
        plan[name].append((run, n, tuple(float(v) for v in window)))
    return plan


def calibrate(st, output, cnn_model, cvae_model, n_events=2000, workers=1, population_events=None, strata=()):
    """Calibrate the anomaly score on the full known-background model: a calibration run of
    ``n_events`` (or ``population_events[name]``) of every population but the WIMP, each event
    weighted by the events its population's rate produces per event simulated, plus stratum runs
    (``strata``: (population, (low, high) keV, events)) that draw only a window of a flat
    spectrum where a category needs more events (weights: ``calibration_fit.stratified_weights``);
    and the CNN's likelihood ratio from the ER and WIMP calibration runs (see
    ``ddplugins.ml.calibration``). ``workers`` > 1 makes each run in chunk ranges on that many
    processes."""
    from ddcore import parallel
    from ddplugins.analyses.datasets import fiducial_volume
    from ddplugins.ml.categories import categories
    from ddplugins.simulation import populations

    models_st = derive(st, cnn_model_file=str(cnn_model), cvae_model_file=str(cvae_model))
    plan = calibration_plan(models_st, n_events, population_events, strata)
    targets = ("event_basics", "event_truth", "cnn_scores", "cvae_losses")
    background, in_space, lineages, first = [], {}, {}, None
    for name, runs in plan.items():
        parts = []
        for run, n, window in runs:
            # the window as a list, as JSON and --set give it: a tuple would hash to another lineage
            run_st = derive(models_st, sim_n_events=n, sim_energy_window_kev=list(window) if window else None)
            first = first or (run_st, run)
            if workers > 1:
                parallel.make_run(run_st, run, targets, workers=workers)
            events = load_events(run_st, [run], targets, selected=False, keep_columns=list(CALIBRATION_COLUMNS))
            category = categories(events, fiducial_volume(run_st, run))
            lineages.update(_lineages(run_st, [run], "cvae_losses"))
            log.info("%s%s: %d events, %s", run, f" ({window[0]}-{window[1]} keV)" if window else "", len(events),
                     ", ".join(f"{c} {np.sum(category == i)}" for i, c in enumerate(CATEGORIES)))
            parts.append((run_st, events, category))
        if name in ("er", "wimp"):  # the CNN's likelihood ratio: the full-spectrum run's analysis space
            in_space[name] = parts[0][1]["cnn_score"][parts[0][2] == CATEGORIES.index("analysis_space")]
        if name == "wimp":
            continue
        plugin = parts[0][0].get_single_plugin(runs[0][0], "instructions")
        produced = populations.expected_counts(plugin)[name]
        events = np.concatenate([p[1] for p in parts])
        category = np.concatenate([p[2] for p in parts])
        weight = calibration_fit.population_weights(runs, events["true_energy_total"], produced,
                                                plugin.er_energy_max_kev)
        background.append(background_rows(events, category, weight))
    run_st, run = first
    hashes = {**model_hashes(run_st, run),
              "live_days": float(run_st.get_single_plugin(run, "instructions").sim_exposure_live_days),
              "runs": {name: [{"run": r, "events": n, "energy_window_kev": w} for r, n, w in runs]
                       for name, runs in plan.items()}}
    result = calibration_fit.make_calibration(np.concatenate(background), in_space["er"], in_space["wimp"], hashes,
                                          lineages)
    save_calibration(output, result)
    return result


def background_rows(events, category, weight):
    """The rows ``calibration_fit.make_calibration`` fits: category, weight (expected events per
    event), CNN score, CVAE plane errors and the density's features of each event."""
    dtype = [("category", np.int8), ("weight", np.float64), ("cnn_score", np.float32),
             ("cvae_plane_mse", np.float32, (MAX_PLANES,)), ("features", np.float32, (len(density.FEATURES),))]
    rows = np.zeros(len(events), dtype)
    rows["category"], rows["weight"] = category, weight
    rows["cnn_score"], rows["cvae_plane_mse"] = events["cnn_score"], events["cvae_plane_mse"]
    rows["features"] = density.features(events)
    return rows


def model_hashes(st, run):
    """What a calibration is valid for: the models' SHA-256 and the CVAE's beta."""
    cvae_plugin = st.get_single_plugin(run, "cvae_losses")
    cnn_plugin = st.get_single_plugin(run, "cnn_scores")
    return {"cnn_model_sha256": cnn_plugin.cnn_model_sha256, "cvae_model_sha256": cvae_plugin.cvae_model_sha256,
            "cvae_beta": cvae_plugin.cvae_beta}


def save_calibration(output, result):
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    calibration_fit.write_calibration(output, result)
    log.info("Saved %s: %s", output, "; ".join(
        f"{name} {c['n_events']} background events ({c['n_effective']:.0f} effective)"
        for name, c in result["categories"].items()))


def grid_search(st, image_kind="hitpeak", n_events=2000, layers=(1, 2, 3), epochs=(5, 10),
                batch_sizes=(32, 64), alphas=(0.05,), learning_rates=(1e-3,), folds=3, seed=0):
    """3-fold stratified cross-validation over the CNN hyper-parameters; one row per point."""
    StratifiedKFold = import_ml("sklearn.model_selection", "The grid search").StratifiedKFold

    field = IMAGE_FIELDS[image_kind]
    train_st = derive(st, sim_n_events=n_events)
    x, y, _ = image_set(train_st, split_runs(train_st, "train"), field)
    rows = []
    grid = list(itertools.product(layers, epochs, batch_sizes, alphas, learning_rates))
    for i, (n_layers, n_epochs, batch, alpha, lr) in enumerate(grid, 1):
        fold_metrics = []
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train_index, test_index in splitter.split(x, y):
            model = architectures.build_cnn(field, x.shape[1:], n_conv_layers=n_layers,
                                            leaky_alpha=alpha, learning_rate=lr, seed=seed)
            model.fit(x[train_index], y[train_index], epochs=n_epochs, batch_size=batch, verbose=0)
            scores = model.predict(x[test_index], batch_size=512, verbose=0)[:, 0]
            fold_metrics.append(classification_metrics(y[test_index], scores))
        row = dict(layers=n_layers, epochs=n_epochs, batch_size=batch, leaky_alpha=alpha, learning_rate=lr)
        for key in fold_metrics[0]:
            values = [m[key] for m in fold_metrics]
            row[key], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        rows.append(row)
        log.info(f"[{i}/{len(grid)}] {row}")
    return rows
