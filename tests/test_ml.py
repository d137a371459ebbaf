"""CNN, CVAE and anomaly scores with tiny models on small runs."""

import json
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
from ddplugins.ml import architectures, evaluation, training
from ddplugins.ml.datasets import fiducial_volume, image_set, split_runs

TINY_EVENTS = 150


def load_cnn(path):
    return models.load_model(path, "cnn", tuple(IMAGE_FIELDS.values()), 1)


@pytest.fixture(scope="session")
def tiny_models(make_context, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    st = make_context()
    paths = {
        "cnn": folder / "cnn.keras",
        "cvae": folder / "cvae.keras",
        "calibration": folder / "calibration.json",
    }
    training.train_cnn(st, paths["cnn"], n_train=TINY_EVENTS, n_validation=60, epochs=4, batch_size=32,
                       n_conv_layers=1)
    training.train_cvae(st, paths["cvae"], n_train=TINY_EVENTS, n_validation=60, epochs=2, batch_size=32)
    training.calibrate(st, paths["calibration"], paths["cnn"], paths["cvae"], n_events=TINY_EVENTS)
    return paths


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
    from ddplugins.ml.datasets import analysis_selection

    scores = scores[analysis_selection(events)]
    metrics = evaluation.classification_metrics(labels, scores)
    assert metrics["roc_auc"] > 0.65, metrics


def test_manifest_records_training(tiny_models):
    manifest = models.read_manifest(tiny_models["cnn"])
    assert manifest["kind"] == "cnn" and manifest["input_name"] == "hitpeak_image"
    assert all("event_images-" in key for key in manifest["training_runs"].values())
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


def test_anomaly_scores_per_event(scored_context):
    run = "pseudo_sr0_000"
    scores = scored_context.get_df(run, "anomaly_scores", progress_bar=False)
    basics = scored_context.get_array(run, "event_basics", progress_bar=False)
    assert len(scores) == len(basics) > 0
    assert scores["cnn_score"].between(0, 1).all()
    assert (scores["cvae_loss"] > 0).all()
    expected = -np.log10(scores["cvae_tail_probability"] * scores["cnn_tail_probability"])
    np.testing.assert_allclose(scores["anomaly_score"], expected, rtol=1e-5, atol=1e-5)


def test_flag_rate_on_background_matches_the_acceptance(scored_context, tiny_models):
    calibration = json.loads(tiny_models["calibration"].read_text())
    st = ddcore.derive(scored_context, sim_n_events=TINY_EVENTS, anomaly_background_acceptance=0.2)
    flags = st.get_array(split_runs(st, "calibration", sources=("er",))[0], "anomaly_scores",
                         progress_bar=False)["is_anomalous"]
    assert calibration["n_events"] > 50
    # the calibration events themselves: a fraction of about the acceptance is flagged
    assert 0.1 < np.mean(flags) < 0.35


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
    from ddplugins.ml import statistics

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


def test_expected_counts_enter_once_and_rate_nuisances_cost_significance():
    from ddplugins.ml import statistics

    rng = np.random.default_rng(2)
    background, signal = _band_like_events(rng, 4000, False), _band_like_events(rng, 4000, True)
    # half of the simulated events land in the analysis space: the template holds the expected
    # events there, produced x 2000 / 4000, not produced x efficiency x efficiency
    edges = statistics.quantile_edges(background)
    er = statistics.template("er", background[:2000], edges, 100.0, 4000)
    assert er.expected.sum() == pytest.approx(50.0)
    wimp = statistics.template("wimp", signal, edges, 5.0, 4000)
    exact = statistics.discovery_significance(wimp, [statistics.template("er", background[:2000], edges, 100.0, 4000, 0.0)])
    uncertain = statistics.discovery_significance(wimp, [statistics.template("er", background[:2000], edges, 100.0, 4000, 0.5)])
    assert 0 < uncertain < exact
    # four times the exposure: about twice the significance
    assert statistics.discovery_significance(wimp.scaled(4), [er.scaled(4)]) == pytest.approx(
        2 * statistics.discovery_significance(wimp, [er]), rel=0.15)
    # an observed excess in the most signal-like bin is significant, the background alone is not
    observed = np.round(er.expected).astype(int)
    assert statistics.discovery_significance(wimp, [er], observed=observed) < 1
    observed[-1] += 8
    assert statistics.discovery_significance(wimp, [er], observed=observed) > 2


def test_evaluation_and_report_compare_every_method(scored_context, tmp_path):
    from ddplugins.ml import report

    result = report.evaluate(scored_context, n_test=TINY_EVENTS, n_train=TINY_EVENTS, progress=False)
    assert set(result["metrics"]) == {
        "CNN (hitpeak)", "combined anomaly score", "CVAE loss", "boosted trees", "cS2/cS1 band cut"}
    for name, metrics in result["metrics"].items():
        assert 0 <= metrics["er_rejection_at_50pct_wimp"] <= 1, name
    assert result["metrics"]["cS2/cS1 band cut"]["roc_auc"] > 0.8
    rows = result["significance"]
    assert rows[-1]["likelihood_z"] > rows[0]["likelihood_z"] > 0
    # every significance and fraction carries its uncertainty
    assert all(r["likelihood_z_error"] >= 0 and r["anomaly_fraction_background_error"] > 0 for r in rows)
    injected = {e["population"]: e for e in report.injection_summary(result)}
    assert set(injected) == set(report.INJECTED_POPULATIONS)
    # without an S1 an S2-only event is never in the analysis space: neither test sees it
    assert injected["s2only"]["in_space"] == 0 and injected["s2only"]["likelihood_z"] == 0
    assert injected["wimp"]["likelihood_z"] > 0
    path = report.write_report(scored_context, result, str(tmp_path / "report.html"))
    html = open(path).read()
    assert "boosted trees" in html and "data:image/png;base64" in html and "Significance vs exposure" in html
    assert "Injection study" in html and "fitted as WIMPs" in html


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_renders_in_a_browser_with_every_image(scored_context, tmp_path):
    import base64
    import re
    import shutil
    import subprocess

    from ddplugins.ml import report

    result = report.evaluate(scored_context, n_test=TINY_EVENTS, n_train=TINY_EVENTS, progress=False)
    path = report.write_report(scored_context, result, str(tmp_path / "report.html"), pseudo_run="pseudo_sr0_000")
    html = open(path).read()
    for title in ("ROC curves", "Discrimination space", "Energy spectrum", "Positions", "Significance vs exposure",
                  "Most anomalous events", "&plusmn;"):
        assert title in html, title
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 6 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where it can)")
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          f"file://{path}"], capture_output=True, text=True, timeout=300).stdout
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

    runs = ["pseudo_sr0_000", "pseudo_sr0_001"]
    rows = {run: scored_context.get_array(run, "anomaly_fraction", progress_bar=False) for run in runs}
    for run, row in rows.items():
        assert len(row) == 1
        events = scored_context.get_array(run, ["event_basics", "anomaly_scores"], progress_bar=False)
        fiducial = fiducial_volume(scored_context, run)
        category = af.categories(events, fiducial)
        for i, name in enumerate(af.CATEGORIES):
            assert row[f"n_{name}"][0] == np.sum(category == i)
            assert row[f"flagged_{name}"][0] == np.sum(events["is_anomalous"][category == i])
            if row[f"n_{name}"][0]:
                assert row[f"fraction_low_{name}"][0] <= row[f"fraction_{name}"][0] <= row[f"fraction_high_{name}"][0]
        assert sum(row[f"n_{name}"][0] for name in af.CATEGORIES) == len(events)
        # calibrated where the calibration was made, and nowhere else
        assert np.isfinite(row["background_fraction_analysis_space"][0])
        assert row["background_fraction_error_analysis_space"][0] > 0
        assert np.isnan(row["background_fraction_no_s1"][0])
    scored_context.define_run("_pseudo_pair", runs)
    combined = scored_context.get_array("_pseudo_pair", "anomaly_fraction", progress_bar=False)
    assert len(combined) == 1
    for name in af.CATEGORIES:
        assert combined[f"n_{name}"][0] == sum(rows[run][f"n_{name}"][0] for run in runs)


def test_excess_significance_counts_the_calibration_uncertainty():
    from ddplugins.ml.anomaly_fraction import excess_significance

    assert excess_significance(100, 1, 0.01, 2400) == 0.0
    exact_background = excess_significance(1000, 25, 0.01, 10**9)
    assert exact_background > excess_significance(1000, 25, 0.01, 2400) > 2
    assert np.isnan(excess_significance(100, 10, np.nan, 2400))
