"""Inference speed of the shipped models and latency of a cached anomaly_scores get_df."""

import ddcore
from ddcore.files import resolve_path
from ddcore import models
from ddplugins.events.event_images import IMAGE_FIELDS
from ddplugins.ml.scoring import cnn_signal_probability, cvae_losses


def test_cnn_inference(benchmark, bench_context, event_arrays):
    model = models.load_model(resolve_path(
        bench_context.config["cnn_model_file"]), "cnn", tuple(IMAGE_FIELDS.values()), 1)
    images = event_arrays["event_images"]
    cnn_signal_probability(model, images[:10])
    benchmark.pedantic(cnn_signal_probability, args=(model, images), rounds=3, iterations=1)
    benchmark.extra_info["events_per_s"] = len(images) / benchmark.stats.stats.median


def test_cvae_inference(benchmark, bench_context, event_arrays):
    model = models.load_model(resolve_path(
        bench_context.config["cvae_model_file"]), "cvae", tuple(IMAGE_FIELDS.values()), 3)
    images = event_arrays["event_images"]
    cvae_losses(model, images[:10], 1e-4)
    benchmark.pedantic(cvae_losses, args=(model, images, 1e-4), rounds=3, iterations=1)
    benchmark.extra_info["events_per_s"] = len(images) / benchmark.stats.stats.median


def test_cached_anomaly_scores_get_df(benchmark, tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=200)
    st.make("pseudo_sr0_050", "anomaly_scores", progress_bar=False)
    df = benchmark(st.get_df, "pseudo_sr0_050", "anomaly_scores", progress_bar=False)
    benchmark.extra_info["rows"] = len(df)
