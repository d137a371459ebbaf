"""CNN, CVAE and anomaly scores with tiny models on small runs."""

import os
import zipfile

import keras
import numpy as np
import pytest

import ddcore
from ddcore import models
from ddcore.files import file_sha256
from ddcore.models import ModelFileError
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.analyses import evaluation
from ddplugins.analyses.datasets import fiducial_volume, image_set, split_runs
from ddplugins.ml import scoring
from ddplugins.search import architectures, training
from tests.helpers import CHROMIUM_FLAGS, TINY_EVENTS, browser_dom, chromium_or_skip, console_errors


def load_cnn(path):
    return models.load_model(path, "cnn", tuple(IMAGE_FIELDS.values()), 1,
                             extra_inputs=scoring.EXTRA_INPUTS, probability_output=True)


@pytest.fixture(scope="session")
def scored_context(make_context, tiny_models):
    return make_context(
        cnn_model_file=str(tiny_models["cnn"]),
        cvae_model_file=str(tiny_models["cvae"]),
        anomaly_calibration_file=str(tiny_models["calibration"]),
    )


def test_cnn_separates_wimp_from_er_on_held_out_events(scored_context):
    test_st = ddcore.derive(scored_context, sim_n_events=TINY_EVENTS)
    runs = split_runs(test_st, "test")
    _, labels, _ = image_set(test_st, runs, "hitpeak_image", progress=False)
    scores = np.concatenate([test_st.get_array(r, "cnn_scores", progress_bar=False)["cnn_score"]
                             for r in runs])
    events = np.concatenate([test_st.get_array(r, ["event_basics", "event_truth"], progress_bar=False)
                             for r in runs])
    from ddplugins.ml.categories import analysis_selection

    scores = scores[analysis_selection(events)]
    metrics = evaluation.classification_metrics(labels, scores)
    assert metrics["roc_auc"] > 0.65, metrics


def test_manifest_records_training(tiny_models):
    manifest = models.read_manifest(tiny_models["cnn"])
    assert manifest["kind"] == "cnn" and manifest["input_name"] == "hitpeak_image"
    assert all("event_images-" in key for key in manifest["training_runs"].values())
    # what data it learnt from: the options that define its training runs
    assert manifest["training_run_options"]["sim_n_events"] == TINY_EVENTS
    assert manifest["training_run_options"]["s1_timing_model"] == "exponential"
    assert models.read_manifest(tiny_models["cvae"])["training_run_options"]["sim_n_events"] == TINY_EVENTS
    assert set(manifest["validation_metrics"]) >= {"accuracy", "roc_auc"}
    assert manifest["model_sha256"] == file_sha256(tiny_models["cnn"])


def test_save_load_round_trip_is_bit_identical(tmp_path):
    model = architectures.build_cnn("hit_image", (50, 100), n_conv_layers=1)
    images = np.random.default_rng(0).random((8, 50, 100, 1), dtype=np.float32)
    path = tmp_path / "m.keras"
    models.save_model(model, path, "cnn", {})
    loaded = load_cnn(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(images, verbose=0), loaded.predict(images, verbose=0))


@pytest.mark.parametrize("n_rows", [0, 5, 37])
def test_batched_predict_gives_what_keras_predict_gives(n_rows):
    """One and several inputs (dict or list), one and several outputs; batches of 16 with a
    partial last one."""
    rng = np.random.default_rng(1)
    image, features = keras.Input((6, 6, 1), name="image"), keras.Input((3,), name="features")
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(image)), features])
    two_outputs = keras.Model([image, features], [keras.layers.Dense(1)(joined), keras.layers.Dense(4)(joined)])
    one_input = keras.Model(image, keras.layers.Dense(2)(keras.layers.Flatten()(image)))
    x = {"image": rng.random((n_rows, 6, 6, 1), dtype=np.float32),
                             "features": rng.random((n_rows, 3), dtype=np.float32)}
    for model, inputs in ((two_outputs, x), (two_outputs, [x["image"], x["features"]]), (one_input, x["image"])):
        got = models.predict(model, inputs, batch_size=16)
        got = got if isinstance(got, list) else [got]
        if not n_rows:  # Keras' own predict fails on no rows
            assert [a.shape for a in got] in ([(0, 1), (0, 4)], [(0, 2)])
            continue
        expected = model.predict(inputs, batch_size=16, verbose=0)
        for a, b in zip(expected if isinstance(expected, list) else [expected], got):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_cnn_reads_the_reconstructed_quantities_it_was_trained_with(tmp_path):
    n = len(scoring.PHYSICS_FEATURES)
    model = architectures.build_cnn("hit_image", (50, 100), n_conv_layers=1,
                                    feature_scale=(np.arange(n), np.ones(n)))
    rng = np.random.default_rng(0)
    events = np.zeros(6, [("hit_image", np.float32, (50, 100)), ("cs1", np.float32), ("cs2_bottom", np.float32),
                          ("drift_time", np.float32), ("x", np.float32), ("y", np.float32)])
    events["hit_image"] = rng.random((6, 50, 100))
    events["cs1"], events["cs2_bottom"], events["drift_time"] = 20.0, 2000.0, 3e5
    events["cs1"][0] = np.nan  # no S1: no cS1, cS2 or drift time, read as 0
    features = scoring.physics_features(events)
    assert np.isfinite(features).all() and features[0, 0] == 0
    np.testing.assert_allclose(features[1], [20.0, np.log10(2000.0), 300.0, 0.0, 0.0], rtol=1e-6)
    path = tmp_path / "m.keras"
    models.save_model(model, path, "cnn", {})
    loaded = load_cnn(path)
    scores = scoring.cnn_signal_probability(loaded, events)
    np.testing.assert_array_equal(scores, model.predict(scoring.model_inputs(model, events), verbose=0)[:, 0])
    # the physics input changes the score: it is read, not ignored
    moved = events.copy()
    moved["cs1"] = 60.0
    assert not np.allclose(scoring.cnn_signal_probability(loaded, moved), scores)
    # a second input no plugin can fill is refused, naming it
    with pytest.raises(ModelFileError, match="physics_features.*cannot be given"):
        models.load_model(path, "cnn", tuple(IMAGE_FIELDS.values()), 1)


def test_cnn_reads_the_s1_waveform_at_full_resolution(make_context, tmp_path):
    """Trained through the context with the S1 waveform input, scored by the cnn_scores plugin;
    the waveform's shape changes the score, its size does not; events without an S1 read zeros;
    a waveform length other than the model's is refused naming the option."""
    st = make_context()
    path = tmp_path / "cnn_s1_waveform.keras"
    manifest = training.train_cnn(st, path, n_train=TINY_EVENTS, n_validation=60, epochs=1, batch_size=32,
                                  n_conv_layers=1, with_s1_waveform=True)
    model = load_cnn(path)
    assert [i.name for i in model.inputs] == ["hitpeak_image", scoring.PHYSICS_FEATURES_INPUT,
                                              scoring.S1_WAVEFORM_INPUT]
    test_st = ddcore.derive(make_context(cnn_model_file=str(path)), sim_n_events=TINY_EVENTS)
    run = split_runs(test_st, "test")[0]
    scored = test_st.get_array(run, "cnn_scores", progress_bar=False)["cnn_score"]
    events = test_st.get_array(run, ["event_basics", "event_images", "event_waveforms"], progress_bar=False)
    np.testing.assert_allclose(scored, scoring.cnn_signal_probability(model, events), rtol=1e-6)
    samples = events["s1_waveform"].shape[1]
    assert manifest["architecture"]["s1_waveform_samples"] == samples

    has_s1 = events["s1_waveform"].sum(axis=1) > 0
    assert has_s1.any()
    shapes = scoring.s1_waveform_shapes(events)
    np.testing.assert_allclose(shapes[has_s1].sum(axis=1), 1.0, rtol=1e-5)
    assert not shapes[~has_s1].any()
    doubled = events.copy()
    doubled["s1_waveform"] *= 2
    np.testing.assert_allclose(scoring.cnn_signal_probability(model, doubled), scored, rtol=1e-5)
    shifted = events.copy()
    shifted["s1_waveform"] = np.roll(events["s1_waveform"], samples // 4, axis=1)
    assert not np.allclose(scoring.cnn_signal_probability(model, shifted[has_s1]), scored[has_s1])
    short = np.zeros(len(events), [(n, events.dtype[n]) for n in events.dtype.names if n != "s1_waveform"]
                     + [("s1_waveform", np.float32, samples // 2)])
    for name in events.dtype.names:
        if name != "s1_waveform":
            short[name] = events[name]
    with pytest.raises(ValueError, match=f"{samples} samples.*event_waveform_samples={samples}"):
        scoring.cnn_signal_probability(model, short)


def test_density_ratio_reference_reaches_the_separation_of_the_plane():
    rng = np.random.default_rng(3)
    n = 2000
    cs1 = rng.uniform(3, 70, 2 * n)
    labels = np.repeat([0, 1], n)
    log_cs2 = 2.2 + 0.6 * np.log10(cs1) - 0.25 * labels + rng.normal(0, 0.08, 2 * n)
    events = np.zeros(2 * n, [("cs1", float), ("cs2_bottom", float)])
    events["cs1"], events["cs2_bottom"] = cs1, 10**log_cs2
    half = rng.permutation(2 * n)[:n]
    test = np.setdiff1d(np.arange(2 * n), half)
    score = evaluation.density_ratio_score(events[half], labels[half], events[test])
    # two Gaussian bands 3.1 sigma apart: AUC = Phi(3.1 / sqrt 2) = 0.986
    assert evaluation.fast_auc(labels[test], score) == pytest.approx(0.986, abs=0.01)


def test_changed_model_gives_new_lineage(scored_context, make_context, tiny_models, tmp_path):
    other = tmp_path / "other_cnn.keras"
    models.save_model(architectures.build_cnn("hitpeak_image", (75, 75, 3), n_conv_layers=1, seed=5),
                           other, "cnn", {})
    changed = make_context(cnn_model_file=str(other), cvae_model_file=str(tiny_models["cvae"]),
                           anomaly_calibration_file=str(tiny_models["calibration"]))
    run = split_runs(scored_context, "test")[0]
    assert changed.key_for(run, "cnn_scores").lineage_hash != scored_context.key_for(run, "cnn_scores").lineage_hash
    assert changed.key_for(run, "cvae_losses").lineage_hash == scored_context.key_for(run, "cvae_losses").lineage_hash
    with pytest.raises(ddcore.ConfigError, match="calibration.*made for a cnn_scores model"):
        changed.get_array(run, "anomaly_scores", progress_bar=False)


def test_changed_model_file_recomputes_however_the_option_is_set(scored_context, tiny_models, tmp_path):
    run = split_runs(scored_context, "test")[0]
    before = scored_context.key_for(run, "cnn_scores").lineage_hash
    replaced = tmp_path / "cnn.keras"
    models.save_model(architectures.build_cnn("hitpeak_image", (75, 75, 3), n_conv_layers=1, seed=9),
                      replaced, "cnn", {})
    derived = scored_context.new_context(config=dict(cnn_model_file=str(replaced)))
    assert derived.key_for(run, "cnn_scores").lineage_hash != before
    changed = scored_context.new_context()
    changed.set_config(dict(cnn_model_file=str(replaced)))
    assert changed.key_for(run, "cnn_scores").lineage_hash != before
    # same path, same modification time, other content: still a new lineage
    same_path = tmp_path / "same.keras"
    same_path.write_bytes(tiny_models["cnn"].read_bytes())
    st = scored_context.new_context(config=dict(cnn_model_file=str(same_path)))
    assert st.key_for(run, "cnn_scores").lineage_hash == before
    stat = same_path.stat()
    same_path.write_bytes(replaced.read_bytes())
    os.utime(same_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert st.new_context().key_for(run, "cnn_scores").lineage_hash != before
    # the context that computed the old lineage sees the new file too (no stale plugin cache)
    assert st.key_for(run, "cnn_scores").lineage_hash != before


def test_anomaly_scores_per_event(scored_context, tiny_models):
    from ddplugins.ml import calibration as cal
    from ddplugins.ml.categories import categories

    run = "pseudo_sr0_000"
    scores = scored_context.get_array(run, "anomaly_scores", progress_bar=False)
    basics = scored_context.get_array(run, "event_basics", progress_bar=False)
    assert len(scores) == len(basics) > 0
    assert ((scores["cnn_score"] >= 0) & (scores["cnn_score"] <= 1)).all()
    assert (scores["cvae_loss"] > 0).all()
    np.testing.assert_array_equal(scores["category"], categories(basics, fiducial_volume(scored_context, run)))
    # the statistic is log((LR_cnn + B_density) / 2), the CNN's likelihood ratio only in the
    # analysis space: never below either part's log Bayes factor - log 2, and B_density alone outside
    bound = cal.bayes_factor_bound(scores["density_tail_probability"])
    in_space = scores["category"] == cal.SUPERVISED_CATEGORY
    supervised = np.where(in_space, scores["cnn_log_likelihood_ratio"], -np.inf)
    assert np.all(scores["anomaly_statistic"] >= np.maximum(supervised, bound) - np.log(2) - 1e-4)
    np.testing.assert_allclose(scores["anomaly_statistic"][~in_space], bound[~in_space] - np.log(2), atol=1e-4)
    assert ((scores["density_tail_probability"] > 0) & (scores["density_tail_probability"] <= 1)).all()
    calibration = cal.read_calibration(tiny_models["calibration"])
    # the score is the background tail probability of the statistic in the event's category
    for index, name in enumerate(("no_s1", "small_s1", "analysis_space", "other")):
        pick = scores["category"] == index
        if pick.any():
            found = calibration["categories"][name]
            p = cal.tail_probability(scores["anomaly_statistic"][pick], np.asarray(found["statistic_quantiles"]),
                                     found["n_effective"])
            np.testing.assert_allclose(scores["anomaly_score"][pick], -np.log10(p), rtol=1e-4, atol=1e-4)


def test_every_category_is_calibrated_on_the_background_model(tiny_models):
    from ddplugins.ml import calibration as cal

    calibration = cal.read_calibration(tiny_models["calibration"])
    for name, found in calibration["categories"].items():
        assert found["n_events"] > 0 and 0 < found["n_effective"] <= found["n_events"], name
    # every background population was simulated for it, the WIMP only for the CNN's likelihood ratio
    sources = {run.split("_")[0] for run in calibration["background_runs"]}
    assert sources == {"er", "wimp", "neutron", "cevns", "accidental", "wall", "s2only", "multisite"}
    ratio = np.asarray(calibration["cnn_likelihood_ratio"]["log_ratio"])
    points = np.asarray(calibration["cnn_likelihood_ratio"]["logit"])
    assert np.all(np.diff(ratio) > 0) and np.all(np.diff(points) > 0) and ratio[-1] > 0 > ratio[0]


def test_flag_rate_on_background_matches_the_acceptance(scored_context, tiny_models):
    """On the calibration runs themselves (the wall's energy-window stratum included), weighted
    as the calibration weighs them, each category flags its acceptance (lowered to the flag
    budget in the large categories), up to the weight of the
    one event at the threshold (a few heavy events in a small category) and, below it, the
    weight of events tied at the threshold (a point mass of the statistic, e.g. at the cap of the
    CNN's likelihood ratio, is flagged whole or not at all: flags never exceed the acceptance)."""
    from ddplugins.ml import calibration as cal
    from ddplugins.ml.categories import CATEGORIES
    from ddplugins.search import calibration_fit
    from ddplugins.simulation import populations

    st = ddcore.derive(scored_context, anomaly_background_acceptance=0.2, anomaly_max_background_flags_per_day=0.1)
    calibration = cal.read_calibration(tiny_models["calibration"])
    plan = calibration["runs"]
    assert [r["energy_window_kev"] for r in plan["wall"]] == [None, [0.5, 3.5]]
    # 0.2, lowered in the large categories to the flag budget of 0.1 background events per day
    acceptance = cal.category_acceptances(calibration, 0.2, 0.1)
    assert acceptance.min() < 0.2 and acceptance.max() == 0.2
    threshold = cal.thresholds(calibration, acceptance)
    flagged, total, tied = np.zeros(len(CATEGORIES)), np.zeros(len(CATEGORIES)), np.zeros(len(CATEGORIES))
    heaviest = np.zeros(len(CATEGORIES))  # the largest weight of one event in each category
    for name, runs in plan.items():
        if name == "wimp":
            continue
        contexts = [ddcore.derive(st, sim_n_events=found["events"], sim_energy_window_kev=found["energy_window_kev"])
                    for found in runs]
        scores = np.concatenate([run_st.get_array(found["run"], ["anomaly_scores", "event_truth"], progress_bar=False)
                                 for run_st, found in zip(contexts, runs)])
        plugin = contexts[0].get_single_plugin(runs[0]["run"], "instructions")
        weight = calibration_fit.population_weights([(r["run"], r["events"], r["energy_window_kev"]) for r in runs],
                                        scores["true_energy_total"], populations.expected_counts(plugin)[name],
                                        plugin.er_energy_max_kev)
        total += np.bincount(scores["category"], weight, minlength=len(CATEGORIES))
        flagged += np.bincount(scores["category"], weight * scores["is_anomalous"], minlength=len(CATEGORIES))
        at_threshold = scores["anomaly_statistic"] == threshold.astype(np.float32)[scores["category"]]
        tied += np.bincount(scores["category"], weight * at_threshold, minlength=len(CATEGORIES))
        for index in np.unique(scores["category"]):
            heaviest[index] = max(heaviest[index], weight[scores["category"] == index].max())
    used = total > 0
    fraction, threshold_event_share = flagged[used] / total[used], heaviest[used] / total[used]
    tied_share = tied[used] / total[used]
    assert np.all(fraction <= acceptance[used] + threshold_event_share + 0.02), (fraction, threshold_event_share)
    assert np.all(fraction >= acceptance[used] - tied_share - threshold_event_share - 0.02), (fraction, tied_share)


def test_stratified_weights_are_unbiased_and_lighter_where_a_window_run_adds_events():
    from ddplugins.search import calibration_fit

    rng = np.random.default_rng(5)
    spectrum, produced = 15.0, 3420.0
    runs = [("full", 4000, None), ("window", 20000, (0.5, 3.5))]
    energy = np.concatenate([rng.uniform(0, spectrum, 4000), rng.uniform(0.5, 3.5, 20000)])
    weight = calibration_fit.population_weights(runs, energy, produced, spectrum)
    in_window = (energy >= 0.5) & (energy <= 3.5)
    # the weighted events reproduce the produced count and the flat spectrum, window included
    assert abs(weight.sum() / produced - 1) < 3 / np.sqrt(4000)
    assert abs(weight[in_window].sum() / (produced * 0.2) - 1) < 0.02
    low = (energy < 0.5)
    assert abs(weight[low].sum() / (produced * 0.5 / spectrum) - 1) < 3 / np.sqrt(low.sum())
    np.testing.assert_allclose(weight[~in_window], produced / 4000)
    np.testing.assert_allclose(weight[in_window], produced / spectrum / (4000 / spectrum + 20000 / 3.0))
    # one run of the whole spectrum: the plain produced / simulated
    np.testing.assert_allclose(calibration_fit.population_weights(
        runs[:1], energy[:4000], produced, spectrum), produced / 4000)
    with pytest.raises(ValueError, match="no calibration run draws"):
        calibration_fit.population_weights(runs[1:], np.array([1.0, 7.0]), produced, spectrum)


def test_untrusted_or_wrong_model_files_are_refused(tmp_path, tiny_models):
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="Cannot load cnn model"):
        load_cnn(not_a_model)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_cnn(tmp_path / "missing.keras")
    with pytest.raises(ModelFileError, match="not a cnn model"):
        load_cnn(tiny_models["cvae"])

    inputs = keras.Input((50, 100, 1), name="hit_image")
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    lambda_model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(outputs))
    unsafe = tmp_path / "lambda.keras"
    lambda_model.save(unsafe)
    with zipfile.ZipFile(unsafe) as archive:
        assert "config.json" in archive.namelist()
    with pytest.raises(ModelFileError, match="Cannot load cnn model"):
        load_cnn(unsafe)


@pytest.mark.parametrize("units, activation", [(2, "softmax"), (1, "linear"), (1, "relu")])
def test_a_cnn_whose_output_is_not_a_probability_is_refused_when_loaded(tmp_path, make_context, units, activation):
    inputs = keras.Input((50, 100, 1), name="hit_image")
    flat = keras.layers.Flatten()(keras.layers.AveragePooling2D(10)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="signal_probability")(flat))
    path = tmp_path / f"{activation}.keras"
    model.save(path)
    with pytest.raises(ModelFileError, match=f"one unit with a sigmoid activation; this one has shape \\({units},\\) "
                                             f"and activation '{activation}'"):
        load_cnn(path)
    st = make_context(cnn_model_file=str(path))
    with pytest.raises(ModelFileError, match="output is a probability"):
        st.get_array("er_sr0_001", "cnn_scores")


def test_missing_model_option_is_a_clear_error(make_context):
    st = make_context(cnn_model_file="/nonexistent/cnn.keras")
    with pytest.raises(ddcore.ConfigError, match="cnn_model_file.*cannot read"):
        st.get_array("er_sr0_001", "cnn_scores")


def _band_like_events(rng, n, signal):
    """Discriminant values: background near 0, signal shifted up."""
    return rng.normal(2.5 if signal else 0.0, 1.0, n)


def test_template_likelihood_does_not_drift_with_template_size():
    """Z of a template built from N simulated events stays within its bootstrap uncertainty as N
    grows 8x (no empty-bin floor: bins are background quantiles)."""
    from ddplugins.search import statistics

    rng = np.random.default_rng(1)
    found = []
    for n in (1000, 8000):
        background = _band_like_events(rng, n, False)
        signal = _band_like_events(rng, n, True)
        edges = statistics.quantile_edges(background)

        def make(resample, background=background, signal=signal, edges=edges, n=n):
            return (statistics.template("wimp", resample(signal), edges, 5.0, n),
                    [statistics.template("er", resample(background), edges, 60.0, n)])

        found.append(statistics.bootstrap_significance(make, rng, n_bootstrap=15))
    (z_small, err_small), (z_large, err_large) = found
    assert 1.0 < z_large < 6.0
    assert abs(z_small - z_large) < 2 * np.hypot(err_small, err_large) + 0.1


def test_a_bootstrap_of_selected_events_varies_their_number_binomially():
    """Resampling the 300 of 1,000 simulated events that passed a cut keeps their count as a
    bootstrap of all 1,000 would: mean 300, variance 1,000 x 0.3 x 0.7 = 210; without the number
    simulated the count stays fixed (a shape-only resample)."""
    from ddplugins.search import statistics

    resample = statistics.resampler(np.random.default_rng(5))
    selected = np.arange(300.0)
    counts = np.array([len(resample(selected, 1000)) for _ in range(4000)])
    assert abs(counts.mean() - 300) < 4 * np.sqrt(210 / len(counts))
    assert 0.85 < counts.var(ddof=1) / 210 < 1.15
    drawn = resample(selected, 1000)
    assert np.isin(drawn, selected).all()
    assert {len(resample(selected)) for _ in range(20)} == {300}
    assert len(resample(np.arange(1000.0), 1000)) == 1000


def test_expected_counts_enter_once_and_rate_nuisances_cost_significance():
    from ddplugins.search import statistics

    rng = np.random.default_rng(2)
    background, signal = _band_like_events(rng, 4000, False), _band_like_events(rng, 4000, True)
    # half of the simulated events land in the analysis space: the template holds the expected
    # events there, produced x 2000 / 4000, not produced x efficiency x efficiency
    edges = statistics.quantile_edges(background)
    er = statistics.template("er", background[:2000], edges, 100.0, 4000)
    assert er.expected.sum() == pytest.approx(50.0)
    wimp = statistics.template("wimp", signal, edges, 5.0, 4000)
    exact = statistics.discovery_significance(
        wimp, [statistics.template("er", background[:2000], edges, 100.0, 4000, 0.0)])
    uncertain = statistics.discovery_significance(
        wimp, [statistics.template("er", background[:2000], edges, 100.0, 4000, 0.5)])
    assert 0 < uncertain < exact
    # four times the exposure: about twice the significance
    assert statistics.discovery_significance(wimp.scaled(4), [er.scaled(4)]) == pytest.approx(
        2 * statistics.discovery_significance(wimp, [er]), rel=0.15)
    # an observed excess in the most signal-like bin is significant, the background alone is not
    observed = np.round(er.expected).astype(int)
    assert statistics.discovery_significance(wimp, [er], observed=observed) < 1
    observed[-1] += 8
    assert statistics.discovery_significance(wimp, [er], observed=observed) > 2


def test_upper_limit_matches_the_asymptotic_formula_and_follows_the_data():
    from scipy import stats

    from ddplugins.search import statistics

    # one bin, 10,000 background events known to 0.1%, one signal event per unit of strength:
    # the median expected CLs limit is sigma x Phi^-1(1 - alpha / 2), sigma = sqrt(b) = 100
    signal = statistics.Template("wimp", np.array([1.0]), 1.0, exact=True)
    background = statistics.Template("er", np.array([1.0]), 10_000.0, rate_uncertainty=0.001, exact=True)
    limit = statistics.upper_limit(signal, [background], confidence_level=0.9)
    assert limit.median == pytest.approx(100 * stats.norm.isf(0.05), rel=0.02)
    assert np.all(np.diff(limit.expected) > 0) and limit.observed is None
    # an observed count at the background gives the median; an excess a higher limit
    assert statistics.upper_limit(signal, [background], observed=[10_000]).observed == pytest.approx(
        limit.median, rel=0.02)
    assert statistics.upper_limit(signal, [background], observed=[10_300]).observed > limit.median + 250


def test_the_signal_templates_statistics_are_its_own():
    """A light WIMP's template: 22 simulated events, all in the last bin, where the background
    holds one simulated event. The limit (in signal events) does not depend on the reference
    cross-section that normalises the template, every band exists (with the signal sharing the
    bin's statistics factor, the +2 sigma band never fell below CLs 0.1), and a large signal does
    not pin down the poorly simulated background under it."""
    from ddplugins.search import statistics

    signal = statistics.Template("wimp", np.array([0.0, 0, 0, 22]), 0.04)
    backgrounds = [statistics.Template("er", np.array([1500.0, 300, 30, 6]), 0.2, 0.13),
                   statistics.Template("wall", np.array([0.0, 0, 0, 1]), 7.0, 1.0)]
    in_events = [statistics.upper_limit(signal.scaled(k), backgrounds).expected * signal.expected.sum() * k
                 for k in (1.0, 40.0)]
    assert np.all(np.isfinite(in_events[0])) and np.all(np.diff(in_events[0]) > 0)
    np.testing.assert_allclose(in_events[0], in_events[1], rtol=0.01)
    # the last bin's background is known to 100%: ten times the signal there is about ten times
    # the discovery significance at most, not the precision of the signal's 22 events
    one, ten = (statistics.discovery_significance(signal.scaled(k), backgrounds) for k in (20.0, 200.0))
    assert 0 < one and ten < 10 * one


def test_expected_limits_are_pyhfs_scan():
    """The expected limits solve pyhf's asymptotic CLs bands directly: they are the limits of
    pyhf's own toms748 scan of the background-only Asimov data, on a model with rate and
    template-statistics nuisance parameters."""
    import pyhf

    from ddplugins.search import statistics

    signal = statistics.Template("wimp", np.array([2.0, 10, 40]), 0.1)
    backgrounds = [statistics.Template("er", np.array([900.0, 100, 10]), 0.2, 0.13),
                   statistics.Template("neutron", np.array([3.0, 5, 8]), 0.1, 0.17)]
    model = statistics.build_model(signal, backgrounds)
    asimov = statistics.data_set(model, signal, backgrounds, None, mu=0.0)
    low, high = model.config.suggested_bounds()[model.config.poi_index]
    _, scanned = pyhf.infer.intervals.upper_limits.toms748_scan(asimov, model, low, high, level=0.1)
    np.testing.assert_allclose(statistics.upper_limit(signal, backgrounds).expected, np.asarray(scanned, float),
                               rtol=1e-3)


def test_a_shape_nuisance_absorbs_the_data_of_a_shifted_detector_at_a_price_in_sensitivity():
    import dataclasses

    from ddplugins.search import statistics

    signal = statistics.Template("wimp", np.array([1.0, 2, 5, 20, 50]) * 100, 0.002)
    background = statistics.Template("er", np.array([5000.0, 2000, 1000, 300, 50]), 0.1, 0.13)
    # a detector whose ER band sits nearer the signal: the ER moves up the discriminant
    shifted = background.simulated * np.array([0.9, 1.0, 1.2, 1.6, 2.5])
    mirrored = np.clip(2 * background.simulated - shifted, 0, None)
    with_nuisance = dataclasses.replace(background, shape_variations={"band": (mirrored, shifted)})
    data = shifted * background.weight
    assert statistics.discovery_significance(signal, [background], observed=data) > 2
    assert statistics.discovery_significance(signal, [with_nuisance], observed=data) < 1
    assert statistics.discovery_significance(signal, [with_nuisance]) < statistics.discovery_significance(
        signal, [background])
    # a second detector parameter that moves the ER elsewhere: both shifts at once, both nuisances in
    # the model (two histosys modifiers, their moves added), no false signal
    light = background.simulated * np.array([1.1, 1.0, 0.9, 0.9, 0.9])
    light_mirrored = np.clip(2 * background.simulated - light, 0, None)
    both = dataclasses.replace(background, shape_variations={"band": (mirrored, shifted),
                                                             "light": (light_mirrored, light)})
    data_both = (shifted + light - background.simulated) * background.weight
    assert statistics.discovery_significance(signal, [both], observed=data_both) < 1
    assert len([m for m in statistics.build_model(signal, [both]).config.modifiers if m[1] == "histosys"]) == 2


def test_paired_leakage_counts_each_method_on_the_same_events_and_tests_their_difference():
    from ddplugins.analyses import evaluation

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [20_000, 2_000])
    good = np.where(labels == 1, rng.normal(3, 1, len(labels)), rng.normal(0, 1, len(labels)))
    # the same scores with 150 more ER events pushed far up: worse, and the test says so
    worse = good.copy()
    worse[rng.choice(np.flatnonzero((labels == 0) & (good < 0)), 150, replace=False)] += 10
    rows = evaluation.paired_leakage(labels, {"good": good, "worse": worse, "same": good.copy()}, acceptances=(0.5,))
    row = rows[0]
    assert row["er_events"] == 20_000 and row["methods"]["worse"]["leaked"] == row["methods"]["good"]["leaked"] + 150
    low, high = row["methods"]["good"]["interval"]
    assert low < row["methods"]["good"]["leaked"] / 20_000 < high
    pairs = {tuple(p["methods"]): p for p in row["pairs"]}
    assert pairs[("good", "worse")]["only_second"] == 150 and pairs[("good", "worse")]["p_value"] < 1e-6
    # Holm over the three pairs: the smallest p-value times 3, the others at least as large as it
    assert pairs[("good", "worse")]["p_value_holm"] == pytest.approx(3 * pairs[("good", "worse")]["p_value"])
    assert evaluation.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert pairs[("good", "same")]["only_first"] == pairs[("good", "same")]["only_second"] == 0
    assert pairs[("good", "same")]["p_value"] == 1.0


def test_goodness_of_fit_is_uniform_under_the_model_and_catches_an_excess_the_signal_cannot_take():
    from scipy import stats

    from ddplugins.search import statistics

    # templates of many simulated events (weights 0.01): the deviance is asymptotically chi-square
    signal = statistics.Template("wimp", np.array([100.0, 200, 500, 2000, 5000]), 0.001)
    background = statistics.Template("er", np.array([50_000.0, 20_000, 10_000, 3000, 500]), 0.01, 0.13)
    expected = background.expected
    rng = np.random.default_rng(4)
    p_values = [statistics.goodness_of_fit(signal, [background], rng.poisson(expected)).p_value for _ in range(150)]
    assert stats.kstest(p_values, "uniform").pvalue > 0.001
    assert statistics.goodness_of_fit(signal, [background], expected).deviance == pytest.approx(0, abs=1e-3)
    # signal-like data fit well, with the injected signal fitted back
    with_signal = statistics.goodness_of_fit(signal, [background], expected + 2 * signal.expected, asimov=True)
    assert with_signal.z < 0.5 and with_signal.fitted_signal == pytest.approx(2 * signal.expected.sum(), rel=0.05)
    # an excess in the most background-like bin, where the signal hardly goes: a bad fit
    excess = statistics.goodness_of_fit(signal, [background], expected + [0, 0, 600, 0, 0], asimov=True)
    assert excess.z > 2 and excess.median_p_value < 0.05 and excess.degrees_of_freedom == 4


def _band_model(n_background=400.0, n_signal=30.0):
    from ddplugins.search import statistics

    rng = np.random.default_rng(5)
    background, signal = _band_like_events(rng, 4000, False), _band_like_events(rng, 4000, True)
    edges = statistics.quantile_edges(background, quantiles=(0.0, 0.5, 0.8, 0.9, 1.0))
    return (statistics.template("wimp", signal, edges, n_signal, 4000),
            [statistics.template("er", background, edges, n_background, 4000)])


def test_toys_of_a_well_populated_model_cover_and_follow_the_asymptotic_formulae():
    from ddplugins.search import toys

    signal, backgrounds = _band_model()
    study = toys.toy_study("band", signal, backgrounds, n_toys=150, seed=11)
    assert study.failed_fits == 0 and len(study.background_p_values) == len(study.signal_z) == 150
    assert study.ks_p_value > 1e-3 and study.zero_signal_share_p_value > 1e-3
    assert abs(np.mean(study.background_p_values < 0.05) - 0.05) < 0.06
    assert abs(study.median_z - study.asimov_z) < 3 * study.median_z_error + 0.1
    assert abs(study.coverage_profile - 0.9) < 3 * study.coverage_error(0.9)
    assert study.coverage_cls >= study.coverage_profile
    # the Neyman critical value comes from toys of its own: 90% within their joint statistics,
    # also where the true background rate is one standard deviation off
    assert abs(study.coverage_neyman - 0.9) < 3 * np.sqrt(2) * study.coverage_error(0.9)
    for shift in toys.RATE_SHIFTS:
        assert abs(study.coverage_shifted[shift]["neyman"] - 0.9) < 3 * np.sqrt(2) * study.coverage_error(0.9)
    summary = study.summary()
    assert summary["n_toys"] == 150 and summary["expected_signal"] == pytest.approx(signal.expected.sum())
    assert set(summary["coverage_shifted"]) == {"+1", "-1"}


def test_toys_with_shifted_background_rates_draw_their_auxiliary_measurements_around_the_shift():
    from ddplugins.search import statistics, toys

    signal, backgrounds = _band_model()
    model = statistics.build_model(signal, backgrounds)
    rate = model.config.par_slice("rate_er")
    aux = model.config.nmaindata + model.config.auxdata_order.index("rate_er")
    expected = {}
    for shift in (0.0, 1.0, -1.0):
        drawn = toys._sample(model, 1.0, 400, seed=3, rate_shift=shift)
        assert np.mean(drawn[:, aux]) == pytest.approx(shift, abs=0.2)
        pars = np.asarray(model.config.suggested_init(), float)
        pars[rate] = shift
        expected[shift] = model.expected_actualdata(pars).sum()
        assert np.mean(drawn[:, :model.config.nmaindata].sum(1)) == pytest.approx(expected[shift], rel=0.05)
    assert expected[1.0] > expected[0.0] > expected[-1.0]


def test_toy_p_values_are_pyhfs_and_toys_do_not_depend_on_the_workers():
    import pyhf

    from ddplugins.search import statistics, toys

    signal, backgrounds = _band_model()
    model = statistics.build_model(signal, backgrounds)
    asimov = toys._asimov(model, 0.0)
    fit = toys._Fitter(model)
    for mu in (0.5, 1.5):
        q = fit("qmu_tilde", mu, asimov)
        ours = toys._qmu_tilde_p_values(q, np.sqrt(fit("qmu_tilde", mu, asimov)))
        cls, (p_sb, p_b) = pyhf.infer.hypotest(mu, asimov, model, test_stat="qtilde", return_tail_probs=True)
        assert ours == pytest.approx((float(p_sb), float(p_b)), abs=2e-3)
    one = toys.toy_study("band", signal, backgrounds, n_toys=16, seed=4)
    two = toys.toy_study("band", signal, backgrounds, n_toys=16, seed=4, workers=2)
    np.testing.assert_allclose(one.background_p_values, two.background_p_values)
    np.testing.assert_allclose(one.signal_z, two.signal_z)
    assert one.coverage_profile == two.coverage_profile
    assert not np.allclose(toys.toy_study("band", signal, backgrounds, n_toys=16, seed=5).signal_z, one.signal_z)


def test_discovery_potential_is_the_strength_with_median_z_of_three():
    from ddplugins.search import sensitivity, statistics

    signal, backgrounds = _band_model()
    strength = sensitivity._discovery_strength(signal, backgrounds)
    assert statistics.discovery_significance(signal.scaled(strength), backgrounds) == pytest.approx(3.0, abs=0.02)
    with pytest.raises(ValueError, match="WIMP masses"):
        sensitivity.wimp_run(None, 7)


def test_the_sensitivity_seed_spread_sets_the_medians_of_independent_template_sets_side_by_side():
    from ddplugins.search import sensitivity

    def rows(median, error=None):
        made = [{"mass_gev": 50.0, "test": "likelihood", "live_days": 351.0, "limit_cm2": [0, 0, median, 0, 0]},
                {"mass_gev": 50.0, "test": "likelihood", "live_days": 10.0, "limit_cm2": [0, 0, 99.0, 0, 0]}]
        if error is not None:
            made[0]["limit_median_error_cm2"] = error
        return made

    (spread,) = sensitivity.seed_spread([rows(4.0, 0.3), rows(5.0), rows(6.0)], 351.0)
    assert spread["medians_cm2"] == [4.0, 5.0, 6.0] and spread["mean_cm2"] == 5.0
    assert spread["seed_std_cm2"] == pytest.approx(1.0) and spread["bootstrap_error_cm2"] == 0.3
    # each set of WIMP runs its own seeds, one run per mass, set 0 the runs the curves always had
    st = ddcore.context("xenon1t", sim_n_events=5000)
    first, second = (sensitivity.wimp_run(st, 50, run_set)[1] for run_set in (0, 1))
    assert first == "wimp_sr0_703005000" and second == "wimp_sr0_711005000"
    with pytest.raises(ValueError, match="run set 12"):
        sensitivity.wimp_run(st, 50, sensitivity.MAX_RUN_SETS)


def test_cs1_slices_bin_every_background_event_once_and_one_slice_is_the_band_binning():
    from ddplugins.search import statistics

    rng = np.random.default_rng(8)
    band, cs1 = _band_like_events(rng, 3000, False), rng.uniform(3.0, 70.0, 3000)
    one = statistics.CS1SlicedBinning.from_background(band, cs1, 1)
    np.testing.assert_array_equal(np.histogram(one.values(band, cs1), one.edges)[0],
                                  np.histogram(band, statistics.quantile_edges(band))[0])
    three = statistics.CS1SlicedBinning.from_background(band, cs1, 3)
    counts, _ = np.histogram(three.values(band, cs1), three.edges)
    assert counts.sum() == 3000 and counts.min() >= statistics.MIN_BACKGROUND_PER_BIN
    # fewer background events per slice: the far-tail quantiles that would leave too few are dropped
    assert len(three.band_edges) == 3 and len(three.edges) - 1 <= 3 * (len(one.edges) - 1)
    # slices in cS1 order, in each the band bins in band order
    low_cs1 = three.values(np.array([-5.0, 5.0]), np.array([4.0, 4.0]))
    high_cs1 = three.values(np.array([-5.0, 5.0]), np.array([69.0, 69.0]))
    assert low_cs1[0] < low_cs1[1] < high_cs1[0] < high_cs1[1]
    with pytest.raises(ValueError, match="into 4 cS1 slices"):
        statistics.CS1SlicedBinning.from_background(band[:10], cs1[:10], 4)


def test_cs1_slices_with_the_calibration_runs_er_template_are_refused_before_any_work():
    from ddplugins.search import report

    with pytest.raises(ValueError, match="--er-from-calibration-runs"):
        report.evaluate(None, sensitivity_masses=[50], sensitivity_cs1_slices=3, er_from_calibration_runs=True)


def test_cs1_slices_keep_a_light_wimp_apart_from_a_signal_like_background_at_high_cs1():
    """A light WIMP lies at the lowest cS1; a rare background that is as signal-like in the band
    but lies at high cS1 (charge-losing wall events) hides it in the band alone, not in cS1 slices."""
    from ddplugins.search import statistics

    rng = np.random.default_rng(9)
    n = 4000
    er_band, er_cs1 = _band_like_events(rng, n, False), rng.uniform(3.0, 70.0, n)
    wimp_band, wimp_cs1 = _band_like_events(rng, n, True), rng.uniform(3.0, 6.0, n)
    wall_band, wall_cs1 = rng.normal(4.0, 0.3, 20), rng.uniform(50.0, 70.0, 20)

    def limit(binning):
        def made(name, band, cs1, produced):
            return statistics.template(name, binning.values(band, cs1), binning.edges, produced, len(band))
        return statistics.upper_limit(made("wimp", wimp_band, wimp_cs1, 10.0),
                                      [made("er", er_band, er_cs1, 600.0),
                                       made("wall", wall_band, wall_cs1, 8.0)]).median

    band_only = limit(statistics.CS1SlicedBinning.from_background(er_band, er_cs1, 1))
    sliced = limit(statistics.CS1SlicedBinning.from_background(er_band, er_cs1, 3))
    assert sliced < 0.7 * band_only


def test_a_wall_template_from_its_tail_run_weighs_its_events_by_what_they_stand_for_and_flags_by_the_wall_run():
    """A walltail run's analysis-space events stand for 1 / share wall events each; the anomaly
    fraction's flags (every category) still come from the wall run and its own event count."""
    import types

    from ddplugins.analyses.datasets import ANOMALY_COLUMNS
    from ddplugins.search import report
    from ddplugins.simulation import populations

    rng = np.random.default_rng(4)
    opts = ddcore.context("xenon1t").get_single_plugin("walltail_sr0_500100000", "instructions")

    def events(n):
        found = np.zeros(n, [("band", float), ("cs1", float)])
        found["band"], found["cs1"] = rng.normal(0, 1, n), rng.uniform(3, 70, n)
        return found

    def anomaly(n):
        return np.zeros(n, [(name, float) for name in ANOMALY_COLUMNS])

    stands_for = int(round(2000 / populations.wall_tail_share(opts)))
    population_events = {
        "er": (5000, events(3000), anomaly(3000), rng.integers(0, 4, 5000)),
        "wimp": (5000, events(2500), anomaly(2500), rng.integers(0, 4, 5000)),
        "wall": (stands_for, events(12), anomaly(12), rng.integers(0, 4, 3477), 5000)}
    search = report.SearchTemplates.build(types.SimpleNamespace(), lambda e: e["band"], population_events,
                                          (np.full(2, 0.01), np.full(2, 0.001)))
    assert search.values["wall"][0] == search.cs1["wall"][0] == search.anomaly_scores["wall"][0] == stands_for
    assert search.flags["wall"][0] == 5000 and len(search.flags["wall"][1]) == 3477
    produced = {"er": 100.0, "wimp": 5.0, "wall": 50.0}
    assert search.expected_in_space(produced)["wall"] == pytest.approx(50.0 * 12 / stands_for)
    # XENON1T: the tail starts 3.05 cm inward, 1.5 widths of the shift: one event stands for ~8
    assert 7 * 2000 < stands_for < 9 * 2000


def test_a_fit_minuit_cannot_finish_is_fitted_again_with_scipy(monkeypatch):
    import pyhf

    from ddplugins.search import statistics

    rng = np.random.default_rng(2)
    background, signal = _band_like_events(rng, 4000, False), _band_like_events(rng, 4000, True)
    edges = statistics.quantile_edges(background)
    er = statistics.template("er", background, edges, 100.0, 4000)
    wimp = statistics.template("wimp", signal, edges, 5.0, 4000)
    expected = statistics.discovery_significance(wimp, [er])
    hypotest, optimizers = pyhf.infer.hypotest, []

    def minuit_fails(*args, **kwargs):
        optimizers.append(pyhf.get_backend()[1].name)
        if optimizers[-1] == "minuit":
            raise pyhf.exceptions.FailedMinimization(type("Result", (), {"message": "no convergence"})())
        return hypotest(*args, **kwargs)

    monkeypatch.setattr(pyhf.infer, "hypotest", minuit_fails)
    assert statistics.discovery_significance(wimp, [er]) == pytest.approx(expected, rel=1e-3)
    assert optimizers == ["minuit", "scipy"] and pyhf.get_backend()[1].name == "minuit"


def test_evaluation_and_report_compare_every_method(scored_context, tmp_path):
    from ddplugins.search import mismodelling, report
    from ddplugins.simulation import outside_model, populations

    result = report.evaluate(scored_context, n_test=TINY_EVENTS, n_train=TINY_EVENTS, progress=False,
                             n_bootstrap_z=3, instructions_dir=str(tmp_path / "fax"), n_test_seeds=2,
                             er_template_runs=["er_sr0_300000150", "er_sr0_301000150"])
    # the ER template replaced by a run's events: its own run gives no false Z, another seed's some
    study = result["er_template_study"]
    assert study["er_sr0_300000150"]["1 t yr"] == pytest.approx({"likelihood": 0, "anomaly_score_likelihood": 0},
                                                               abs=1e-3)
    assert all(np.isfinite(z) and z >= 0 for z in study["er_sr0_301000150"]["1 t yr"].values())
    assert study["er_sr0_301000150"]["events_in_space"] > 0
    assert set(result["metrics"]) == {
        "CNN (hitpeak)", "combined anomaly score", "CVAE loss", "boosted trees", "cS2/cS1 band cut",
        report.DENSITY_RATIO}
    for name, metrics in result["metrics"].items():
        assert 0 <= metrics["er_rejection_at_50pct_wimp"] <= 1, name
    assert result["metrics"]["cS2/cS1 band cut"]["roc_auc"] > 0.8
    rows = result["significance"]
    assert rows[-1]["likelihood_z"] > rows[0]["likelihood_z"] > 0
    # every significance and fraction carries its uncertainty
    assert all(r["likelihood_z_error"] >= 0 and r["anomaly_fraction_background_error"] > 0 for r in rows)
    assert all(r["anomaly_score_likelihood_z_error"] >= 0 for r in rows)
    assert rows[-1]["anomaly_score_likelihood_z"] > 0
    injected = {e["population"]: e for e in report.injection_summary(result)}
    assert set(injected) == set(report.INJECTED_POPULATIONS)
    # without an S1 an S2-only event is never in the analysis space: neither test sees it
    assert injected["s2only"]["in_space"] == 0 and injected["s2only"]["likelihood_z"] == 0
    assert injected["wimp"]["likelihood_z"] > 0
    for entry in injected.values():  # every injected significance carries its template uncertainty
        for test in ("likelihood", "anomaly_fraction", "anomaly_score_likelihood"):
            assert entry[f"{test}_z_error"] >= 0, (entry["population"], test)
        assert entry["likelihood_gof_z"] >= 0, entry["population"]
        assert entry["s1_pattern_gof_z"] >= 0 and entry["s1_pattern_gof_z_error"] >= 0, entry["population"]
    # the populations outside the model are FaX runs of instruction tables written where asked
    assert sorted(p.name for p in (tmp_path / "fax").iterdir()) == sorted(
        f"{name}_{TINY_EVENTS}.csv" for name in outside_model.OUTSIDE_MODEL)
    # where the search sees each population: every category of every population's own run,
    # each flagged fraction with its interval; S2-only events only ever without an S1
    flags = result["flags_by_category"]["populations"]
    assert set(flags) == set(populations.NAMES) | {report.BRIGHT_S2ONLY, *outside_model.OUTSIDE_MODEL}
    # pile-up events have a second S2 as large as the first: hardly ever single scatters
    in_space = {name: row["categories"]["analysis_space"]["n"] for name, row in flags.items()}
    assert in_space["pileup"] < 0.5 * in_space["er"]
    for name, row in flags.items():
        assert sum(c["n"] for c in row["categories"].values()) > 0, name
        for c in row["categories"].values():
            assert c["n"] == 0 or c["interval"][0] <= c["fraction"] <= c["interval"][1], name
    for name in ("s2only", report.BRIGHT_S2ONLY):
        assert all(c["n"] == 0 for category, c in flags[name]["categories"].items() if category != "no_s1"), name
    # the anomaly fraction counts every event of each population's run, in every category (the
    # S2-only events outside the analysis space too): not flagged per category, flagged pooled;
    # the background's flags are the calibration's acceptances, with its errors
    search = result["_search"]
    n_categories = len(flags["er"]["categories"])
    for name, row in flags.items():
        bins = np.bincount(search.flags[name][1].astype(int), minlength=2 * n_categories)
        assert list(bins[:n_categories]) == [c["n"] - c["flagged"] for c in row["categories"].values()], name
        assert list(bins[n_categories:]) == [c["flagged"] for c in row["categories"].values()], name
    assert len(search.flags["s2only"][1]) > 0 == len(search.values["s2only"][1])
    assert list(result["flags_by_category"]["acceptance"].values()) == pytest.approx(search.flag_acceptances)
    assert np.all(search.flag_acceptance_errors > 0)
    signal, backgrounds = search.templates(populations.expected_counts(search.plugin), search.flags, report.FLAG_EDGES)
    totals = sum(b.expected for b in backgrounds)
    assert len(signal.expected) == n_categories + 1 and totals[-1] == pytest.approx(
        sum(b.expected[-1] for b in backgrounds if b.name == "calibrated_flags"))
    assert 0 < rows[0]["anomaly_fraction_background"] < 0.03
    # the same test runs from a detector whose g2 is 5% off, analysed with the nominal model
    result["mismodelling"] = mismodelling.study(scored_context, search, TINY_EVENTS, str(tmp_path / "mis"),
                                                progress=False, parameters=("g2",))
    nominal, low, high = result["mismodelling"]["rows"]
    assert (nominal["parameter"], low["options"], high["options"]) == (
        "nominal", {"true_g2_factor": 0.95}, {"true_g2_factor": 1.05})
    assert nominal["likelihood_false_z"] == 0  # the nominal ER run is the ER template itself
    for row in (low, high):
        assert 0 <= row["er_flag_fraction"] <= 1 and 0 < row["wimp_efficiency"] < 1
        for test in ("likelihood", "anomaly_fraction", "anomaly_score_likelihood"):
            assert row[f"{test}_false_z_with_nuisance"] < 1, test
            assert row[f"{test}_wimp_z_with_nuisance"] <= row[f"{test}_wimp_z"] + 0.05, test
            # with one parameter studied, "every parameter" is that one
            assert row[f"{test}_false_z_with_all_nuisances"] == pytest.approx(
                row[f"{test}_false_z_with_nuisance"], abs=1e-3), test
    assert nominal["likelihood_wimp_z_with_all_nuisances"] <= nominal["likelihood_wimp_z"] + 0.05
    assert "g2" in mismodelling.format_table(result["mismodelling"])
    path = report.write_report(scored_context, result, str(tmp_path / "report.html"))
    html = open(path).read()
    assert "A detector that is not the simulated one" in html
    assert "boosted trees" in html and "data:image/png;base64" in html and "Significance vs exposure" in html
    assert "Where the anomaly search sees each population" in html
    assert "Injection study" in html and "fitted as WIMPs" in html and "goodness-of-fit Z" in html
    assert "Methods compared on the same events" in html
    assert [r["wimp_acceptance"] for r in result["paired_leakage"]] == [0.3, 0.5, 0.7]
    assert set(result["paired_leakage"][1]["methods"]) == set(result["scores"])
    # a second, independent seed of test runs: every figure of merit per seed and its spread
    assert result["test_seeds"] == ["er_sr0_300000150", "er_sr0_301000150", "wimp_sr0_300000150", "wimp_sr0_301000150"]
    spread = result["seed_spread"]["cS2/cS1 band cut"]
    assert spread["roc_auc"][0] == pytest.approx(result["metrics"]["cS2/cS1 band cut"]["roc_auc"])
    assert len(spread["roc_auc"]) == 2 and spread["roc_auc_seed_std"] >= 0 and spread["roc_auc_mean"] > 0.8
    assert result["paired_leakage"][0]["er_events"] > result["n_test"]["er"]  # both seeds' events
    # the dataset-level Z with each seed's ER and WIMP templates: the first seed's is the headline one
    z_spread = result["significance_seed_spread"]
    reference = [r for r in result["significance"] if r["live_days"] == result["reference_live_days"]][0]
    for test in ("likelihood", "anomaly_fraction", "anomaly_score_likelihood"):
        assert len(z_spread[test]["z"]) == 2 and z_spread[test]["seed_std"] >= 0
        assert z_spread[test]["z"][0] == pytest.approx(reference[f"{test}_z"], abs=1e-6)
    # and the injection study's, each population on each seed's templates
    injected = result["injection_seed_spread"]
    at_reference = {r["population"]: r for r in result["injection"] if r["live_days"] == result["reference_live_days"]}
    for name, tests in injected.items():
        for test in ("likelihood_z", "anomaly_fraction_z", "anomaly_score_likelihood_z", "s1_pattern_gof_z"):
            assert len(tests[test]["z"]) == 2 and tests[test]["seed_std"] >= 0, (name, test)
            assert tests[test]["z"][0] == pytest.approx(at_reference[name][test], abs=1e-6), (name, test)
    assert "gamma_x injected, Z between seeds" in report.format_evaluation(result)
    assert "ER template from er_sr0_301000150" in report.format_evaluation(result)
    assert "Between independent test sets" in html and "with each seed's ER and WIMP templates" in html


def test_report_renders_in_a_browser_with_every_image(scored_context, tmp_path):
    import base64
    import re
    import subprocess

    from ddcore import blinding
    from ddplugins.search import demo, report

    result = report.evaluate(scored_context, n_test=TINY_EVENTS, n_train=TINY_EVENTS, progress=False,
                             n_bootstrap_z=3, instructions_dir=str(tmp_path / "fax"))
    # pseudo-data with WIMPs injected, so that the signal region (in the fiducial volume) holds events
    pseudo_st, pseudo_run = ddcore.derive(scored_context, sim_inject={"wimp": 30}), "pseudo_sr0_009"
    every_event = demo.pseudo_data_summary(pseudo_st, pseudo_run, result)["pooled_n"]
    # made blinded, the report leaves out the events in the signal region and says so
    blinding.blind(pseudo_st, pseudo_run, "blinding_region")
    try:
        result["pseudo_data"] = demo.pseudo_data_summary(pseudo_st, pseudo_run, result)
        result["blinding"] = {pseudo_run: blinding.state(pseudo_st, pseudo_run)}
    finally:
        blinding.unblind(pseudo_st, pseudo_run, "the report test is done")
    in_region = pseudo_st.get_array(pseudo_run, "blinding_region", progress_bar=False)["in_blinded_region"]
    assert result["pseudo_data"]["pooled_n"] == every_event - in_region.sum() and in_region.sum() > 0
    path = report.write_report(pseudo_st, result, str(tmp_path / "report.html"), pseudo_run=pseudo_run)
    html = open(path).read()
    assert "Blinding when this report was made" in html and "left out of everything below" in html
    for title in ("ROC curves", "Discrimination space", "Energy spectrum", "Positions", "Significance vs exposure",
                  "Most anomalous events", "&plusmn;", "events\n(all categories) are anomalous",
                  "Anomaly fraction by event category"):
        assert title in html, title
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 6 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    chromium = chromium_or_skip()
    dom, console = browser_dom(f"file://{path}", tmp_path / "profile")
    assert not console_errors(console), console
    assert f'data-images-loaded="{len(images)}"' in dom, "the browser did not load every image"
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1280,3000",
                    f"--screenshot={shot}", f"file://{path}"], capture_output=True, timeout=300)
    assert shot.stat().st_size > 100_000


def test_grid_search_cross_validates_each_point(make_context):
    rows = training.grid_search(make_context(), n_events=TINY_EVENTS, layers=(1, 2), epochs=(1,),
                                batch_sizes=(32,), folds=3)
    assert [(r["layers"], r["epochs"], r["batch_size"]) for r in rows] == [(1, 1, 32), (2, 1, 32)]
    for row in rows:
        assert 0 <= row["roc_auc"] <= 1 and row["roc_auc_std"] >= 0


def test_paper_cvae_preset_has_the_slides_size():
    encoder, decoder = architectures.build_cvae_parts(
        "hitpeak_image", (75, 75, 3), **architectures.CVAE_PRESETS["paper"])
    assert encoder.get_layer("z_mean").units == 256
    assert 60e6 < encoder.count_params() + decoder.count_params() < 63e6


def test_anomaly_fraction_of_a_run_and_a_superrun(scored_context):
    from ddplugins.ml import anomaly_fraction as af
    from ddplugins.ml.categories import categories

    runs = ["pseudo_sr0_000", "pseudo_sr0_001"]
    rows = {run: scored_context.get_array(run, "anomaly_fraction", progress_bar=False) for run in runs}
    for run, row in rows.items():
        assert len(row) == 1
        events = scored_context.get_array(run, ["event_basics", "anomaly_scores"], progress_bar=False)
        fiducial = fiducial_volume(scored_context, run)
        category = categories(events, fiducial)
        np.testing.assert_array_equal(category, events["category"])
        for i, name in enumerate(af.CATEGORIES):
            assert row[f"n_{name}"][0] == np.sum(category == i)
            assert row[f"flagged_{name}"][0] == np.sum(events["is_anomalous"][category == i])
            if row[f"n_{name}"][0]:
                assert row[f"fraction_low_{name}"][0] <= row[f"fraction_{name}"][0] <= row[f"fraction_high_{name}"][0]
        assert sum(row[f"n_{name}"][0] for name in af.CATEGORIES) == len(events)
        # every category calibrated, with the uncertainty of its calibration sample, at the
        # acceptance its flags were set at
        acceptances = scored_context.get_single_plugin(run, "anomaly_scores").acceptances
        for index, name in enumerate(af.CATEGORIES):
            assert row[f"background_fraction_{name}"][0] == acceptances[index] <= 0.03
            assert row[f"background_fraction_error_{name}"][0] > 0 and row[f"calibration_events_{name}"][0] > 0
            assert np.isfinite(row[f"z_{name}"][0])
        # every category pooled: counts, the background expectation of the flags, an exact Z
        assert row["n_total"][0] == len(events) and row["flagged_total"][0] == events["is_anomalous"].sum()
        expected = sum(row[f"n_{name}"][0] * acceptances[i] for i, name in enumerate(af.CATEGORIES))
        assert row["background_flagged_total"][0] == pytest.approx(expected)
        assert row["background_flagged_total_error"][0] > 0 and np.isfinite(row["z_total"][0])
        assert row["fraction_low_total"][0] <= row["fraction_total"][0] <= row["fraction_high_total"][0]
    scored_context.define_run("_pseudo_pair", runs)
    combined = scored_context.get_array("_pseudo_pair", "anomaly_fraction", progress_bar=False)
    assert len(combined) == 1
    for name in [*af.CATEGORIES, "total"]:
        assert combined[f"n_{name}"][0] == sum(rows[run][f"n_{name}"][0] for run in runs)
        assert combined[f"flagged_{name}"][0] == sum(rows[run][f"flagged_{name}"][0] for run in runs)


def test_excess_significance_counts_the_calibration_uncertainty():
    from ddplugins.ml.anomaly_fraction import excess_significance

    assert excess_significance(100, 1, 0.01, 2400) == 0.0
    exact_background = excess_significance(1000, 25, 0.01, 10**9)
    assert exact_background > excess_significance(1000, 25, 0.01, 2400) > 2
    assert np.isnan(excess_significance(100, 10, np.nan, 2400))


def test_pooled_excess_significance_convolves_the_categories():
    from scipy import stats

    from ddplugins.ml.anomaly_fraction import excess_significance, pooled_excess_significance

    # one category: the same as its own significance; an uncalibrated category adds nothing
    assert pooled_excess_significance([1000], 25, [0.01], [2400]) == pytest.approx(
        excess_significance(1000, 25, 0.01, 2400))
    assert pooled_excess_significance([1000, 50], 25, [0.01, np.nan], [2400, 0]) == pytest.approx(
        excess_significance(1000, 25, 0.01, 2400))
    # well-known background fractions: the sum of two binomials
    found = pooled_excess_significance([4000, 600], 12, [0.0005, 0.01], [1e6, 1e6])
    p_value = 1 - np.convolve(stats.binom.pmf(np.arange(12), 4000, 0.0005),
                              stats.binom.pmf(np.arange(12), 600, 0.01))[:12].sum()
    assert found == pytest.approx(stats.norm.isf(p_value), rel=2e-3)
    # fewer flags than expected: no excess; a less well calibrated background: a smaller Z
    assert pooled_excess_significance([4000, 600], 7, [0.0005, 0.01], [1e6, 1e6]) == 0
    assert pooled_excess_significance([4000, 600], 12, [0.0005, 0.01], [2e4, 2e4]) < found


def test_flag_budget_lowers_the_acceptance_of_large_categories_only():
    from ddplugins.ml import calibration as cal

    calibration = {"live_days": 34.2, "categories": {
        "no_s1": {"expected_events": 4800.0}, "small_s1": {"expected_events": 7.0},
        "analysis_space": {"expected_events": 62.0}, "other": {"expected_events": 0.0}}}
    acceptances = cal.category_acceptances(calibration, 0.03, 0.06)
    # 0.06 per day = 2.05 per 34.2 days: 3% of 62 is below it, 3% of 4,800 is not
    np.testing.assert_allclose(acceptances, [0.06 * 34.2 / 4800, 0.03, 0.03, 0.03])
    assert acceptances[0] * 4800 == pytest.approx(0.06 * 34.2)
    np.testing.assert_array_equal(cal.category_acceptances(calibration, 0.03), 0.03)


def _synthetic_background(rng, n):
    """Background events of a synthetic model: CNN scores, CVAE plane errors and density features
    (log S1 and log S2 tightly correlated, as in a band; no drift time without an S1)."""
    from ddplugins.ml import density

    background = np.zeros(n, [("category", np.int8), ("weight", float), ("cnn_score", np.float32),
                              ("cvae_plane_mse", np.float32, (3,)), ("features", np.float32, (len(density.FEATURES),))])
    background["category"] = rng.integers(0, 4, n)
    background["weight"] = rng.choice([0.5, 2.0], n)
    background["cnn_score"] = 1 / (1 + np.exp(-rng.normal(-3, 1.5, n)))
    background["cvae_plane_mse"] = np.exp(rng.normal(-5, 0.5, (n, 3)))
    background["cvae_plane_mse"][:, 1] = np.nan  # a plane the images do not have
    background["features"] = _synthetic_features(rng, background)
    return background


def _synthetic_features(rng, events, s1=None, s2_offset=0.0):
    from ddplugins.ml import density

    n = len(events)
    x = rng.normal(0, 1, (n, len(density.FEATURES)))
    x[:, 0] = rng.normal(1.5, 0.5, n) if s1 is None else s1
    x[:, 1] = 2.0 + 1.0 * x[:, 0] + rng.normal(0, 0.05, n) + s2_offset
    x[events["category"] == 0, 4] = np.nan
    score = np.asarray(events["cnn_score"], float)
    x[:, 9] = np.log(score) - np.log1p(-score)
    x[:, 10:] = np.log10(events["cvae_plane_mse"])
    return x


def test_combined_statistic_keeps_the_cnn_where_it_is_confident_and_flags_rare_events():
    """Synthetic background model: the calibrated statistic flags the acceptance in every
    category, ranks signal-like CNN scores as the CNN does, and flags events whose CVAE error
    is far in the background's tail, or whose physics no background has though each of its
    features is ordinary, even with a background-like CNN score."""
    from ddplugins.ml import calibration as cal
    from ddplugins.search import calibration_fit

    assert np.exp(cal.bayes_factor_bound(0.05)) == pytest.approx(1 / (np.e * 0.05 * np.log(20)))
    assert cal.bayes_factor_bound(0.5) == 0
    rng = np.random.default_rng(4)
    n = 40000
    background = _synthetic_background(rng, n)
    er_scores = background["cnn_score"][:5000]
    wimp_scores = 1 / (1 + np.exp(-rng.normal(3, 1.5, 5000)))
    calibration = calibration_fit.make_calibration(background, er_scores, wimp_scores, {}, {})
    assert "drift_time_us" not in calibration["categories"]["no_s1"]["density"]["features"]
    assert "drift_time_us" in calibration["categories"]["analysis_space"]["density"]["features"]
    threshold = cal.thresholds(calibration, 0.01)
    *_, values = cal.statistic(background["cnn_score"], background["cvae_plane_mse"], background["features"],
                               background["category"], calibration)
    for index in range(4):
        pick = background["category"] == index
        flagged = np.sum(background["weight"][pick] * (values[pick] > threshold[index]))
        assert flagged / background["weight"][pick].sum() == pytest.approx(0.01, abs=0.003)
    # signal-like scores: ranked by the CNN (ordinary physics and CVAE errors), up to the
    # likelihood ratio the calibration sample can tell
    signal = np.zeros(4, background.dtype)
    signal["category"] = 2
    signal["cnn_score"] = [0.5, 0.9, 0.99, 0.999]
    signal["cvae_plane_mse"] = np.exp(-5)
    signal["features"] = _synthetic_features(rng, signal, s1=1.5)
    signal["features"][:, :9] = np.median(background["features"][background["category"] == 2][:, :9], axis=0)
    signal["features"][:, 1] = 2.0 + 1.5
    log_lr, _, _, ranked = cal.statistic(signal["cnn_score"], signal["cvae_plane_mse"], signal["features"],
                                         signal["category"], calibration)
    assert np.all(np.diff(ranked) >= 0) and ranked[2] > ranked[0]
    # between its caps the likelihood ratio rises strictly: distinct CNN scores are never tied
    inside = np.linspace(-2, 2, 50)
    between = cal.cnn_log_likelihood_ratio(1 / (1 + np.exp(-inside)), calibration)
    assert np.all(np.diff(between) > 0)
    # a background-like CNN score with a reconstruction error 6 sigma into the tail is flagged, as
    # is an S2 ten times its band's at an ordinary S1 (each feature alone inside the background's range)
    odd = np.zeros(2, background.dtype)
    odd["category"] = [2, 0]
    odd["cnn_score"] = 0.05
    odd["cvae_plane_mse"] = np.exp(-5)
    odd["cvae_plane_mse"][0, 2] = np.exp(-5 + 6 * 0.5)
    odd["features"] = _synthetic_features(rng, odd, s1=1.5, s2_offset=np.array([0.0, 1.0]))
    odd["features"][:, 2:9] = 0.0
    assert odd["features"][1, 1] < np.quantile(background["features"][:, 1], 0.999)
    _, p_cvae, p_density, value = cal.statistic(odd["cnn_score"], odd["cvae_plane_mse"], odd["features"],
                                                odd["category"], calibration)
    assert p_cvae[0] < 1e-3 and p_cvae[1] > 0.01
    assert np.all(p_density < 1e-3) and np.all(value > threshold[odd["category"]])


def _events_with_s1_pattern(rng, n, aft_offset=0.0):
    """Drift time, cS1 and an S1 area fraction top that falls with depth and scatters binomially."""
    drift_time = rng.uniform(0, 7e5, n)
    cs1 = rng.uniform(3, 70, n)
    mean_aft = 0.35 - 0.25 * drift_time / 7e5
    aft = rng.binomial(np.round(cs1).astype(int) * 2, mean_aft) / (np.round(cs1) * 2) + aft_offset
    events = np.zeros(n, [("drift_time", float), ("cs1", float), ("s1_area_fraction_top", float)])
    events["drift_time"], events["cs1"], events["s1_area_fraction_top"] = drift_time, cs1, aft
    return events


def test_s1_pattern_pit_is_uniform_for_events_like_the_reference_and_low_for_extra_bottom_light():
    from scipy import stats

    from ddplugins.search import s1_pattern_gof

    rng = np.random.default_rng(8)
    reference = s1_pattern_gof.AftReference.from_events(_events_with_s1_pattern(rng, 20000))
    alike = reference.pit(_events_with_s1_pattern(rng, 4000))
    assert stats.kstest(alike, "uniform").pvalue > 1e-3
    shares = np.histogram(alike, [0, 0.1, 0.9, 1])[0] / len(alike)
    np.testing.assert_allclose(shares, [0.1, 0.8, 0.1], atol=0.02)
    bottom_heavy = reference.pit(_events_with_s1_pattern(rng, 4000, aft_offset=-0.08))
    assert np.mean(bottom_heavy < 0.1) > 0.4
    with pytest.raises(ValueError, match="lack the columns"):
        s1_pattern_gof.AftReference.from_events(np.zeros(3, [("cs1", float)]))


def test_s1_pattern_test_sees_an_excess_of_bottom_heavy_s1s_and_not_one_with_the_right_pattern():
    from ddplugins.search import s1_pattern_gof

    rng = np.random.default_rng(9)
    reference = s1_pattern_gof.AftReference.from_events(_events_with_s1_pattern(rng, 20000))
    background = s1_pattern_gof.template("er", reference.pit(_events_with_s1_pattern(rng, 5000)), 60.0, 5000)
    wimp = s1_pattern_gof.template("wimp", reference.pit(_events_with_s1_pattern(rng, 5000)), 8.0, 5000)
    odd = s1_pattern_gof.template("odd", reference.pit(_events_with_s1_pattern(rng, 5000, -0.08)), 8.0, 5000)
    # an excess with the S1 pattern of interactions in the TPC, fitted as WIMPs: no excess
    assert s1_pattern_gof.bottom_heavy_excess_z([background, wimp], background.expected + wimp.expected) < 0.1
    # the same excess with extra bottom light: seen, better with exposure (about as its square root)
    found = [s1_pattern_gof.bottom_heavy_excess_z([background.scaled(f), wimp.scaled(f)],
                                                  (background.expected + odd.expected) * f) for f in (1, 10)]
    assert 0.5 < found[0] and found[1] == pytest.approx(np.sqrt(10) * found[0], rel=0.2)
    # a top-heavy excess is no bottom-heavy one
    top = s1_pattern_gof.template("top", reference.pit(_events_with_s1_pattern(rng, 5000, +0.08)), 8.0, 5000)
    assert s1_pattern_gof.bottom_heavy_excess_z([background, wimp], background.expected + top.expected) == 0


@pytest.mark.parametrize("observed, textbook", [(0, 2.303), (2, 5.322)])
def test_neyman_limit_of_a_poisson_count_without_background_is_the_textbook_one(observed, textbook):
    """One bin, no background, no nuisance parameter: the classical 90% CL upper limit on a
    Poisson mean, P(N <= observed | limit) = 0.1 (PDG, Statistics, Table 40.3)."""
    from ddplugins.search import statistics, toys

    signal = statistics.Template("wimp", np.array([1.0]), 1.0, exact=True)
    strengths = np.linspace(textbook - 1.0, textbook + 1.0, 11)
    limit, p_values = toys.neyman_upper_limit(signal, [], [observed], strengths, n_toys=4000, seed=1)
    assert limit == pytest.approx(textbook, abs=0.15)
    assert np.all(np.diff(p_values) <= 0.02)  # falls with the strength, within the toys' statistics
    assert p_values[0] > 0.1 > p_values[-1]
