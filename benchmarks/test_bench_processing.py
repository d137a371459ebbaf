"""raw_records -> event_images throughput, rasterisation vs the matplotlib route."""

import io

import numpy as np
import strax

import ddcore
from benchmarks.conftest import BENCH_EVENTS, megabytes
from ddplugins.events.event_images import make_rasterizer
from ddplugins.records.external import processing_plugins, raw_records_source
from ddplugins.tpc._options import pmt_table


def test_raw_records_to_event_images(benchmark, raw_records):
    detector = ddcore.get_detector("xenon1t")
    source = raw_records_source(raw_records, chunk_duration_ns=int(0.2e9))
    config = ddcore.context("xenon1t", storage=[]).config

    def process():
        # streamed chunk by chunk, as make() does: get_array's concatenation of the images
        # (~107 kB per event) took 0.4 s of 2.5
        st = strax.Context(storage=[], register=[source, *processing_plugins(detector)], config=config)
        return sum(len(c.data) for c in st.get_iter("external_000", "event_images", progress_bar=False))

    process()  # compile numba kernels
    n_events = benchmark.pedantic(process, rounds=3, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["raw_records_mb_per_s"] = megabytes(raw_records) / median
    benchmark.extra_info["events_per_s"] = n_events / median


def _rasterizer(bench_context):
    return make_rasterizer(bench_context.get_single_plugin("wimp_sr0_050", "event_images"))


def test_rasterise_hitpeak_images(benchmark, bench_context, event_arrays):
    rasterizer = _rasterizer(bench_context)
    hitpatterns, waveforms = event_arrays["event_hitpatterns"], event_arrays["event_waveforms"]
    rasterizer.hitpeak_images(hitpatterns[:2], waveforms[:2])
    images = benchmark(rasterizer.hitpeak_images, hitpatterns, waveforms)
    benchmark.extra_info["images_per_s"] = len(images) / benchmark.stats.stats.median


def render_with_matplotlib(hitpattern, n_top, pmts):
    """The seed's route: draw the event with matplotlib at 800x800, resize to 75x75."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(1, 2, figsize=(8, 8), dpi=100)
    for ax, channels, values in ((axes[0], slice(n_top, None), hitpattern["s1_hitpattern"]),
                                 (axes[1], slice(0, n_top), hitpattern["s2_hitpattern"])):
        ax.scatter(pmts["x"][channels], pmts["y"][channels], c=np.log10(1 + values[channels]), s=120)
        ax.set_aspect("equal")
        ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB").resize((75, 75)), np.float32) / 255


def test_matplotlib_route_for_comparison(benchmark, bench_context, event_arrays):
    plugin = bench_context.get_single_plugin("wimp_sr0_050", "event_images")
    hitpatterns = event_arrays["event_hitpatterns"][:5]

    def render_five():
        pmts = pmt_table(plugin.config)
        return [render_with_matplotlib(h, int(np.sum(pmts["array"] == 0)), pmts) for h in hitpatterns]

    benchmark.pedantic(render_five, rounds=2, iterations=1)
    benchmark.extra_info["images_per_s"] = 5 / benchmark.stats.stats.median


def test_stored_raw_records_to_event_images(benchmark, tmp_path_factory):
    """What `ddcore make RUN event_images` does on stored raw_records: read them from the zarr
    store, process, and store every intermediate data type strax saves (a fresh output store per
    round; the raw_records store is read-only). On one core: Blosc would otherwise compress and
    decompress on every core of the machine."""
    import numcodecs.blosc

    from ddcore.storage import ZarrStore

    options = dict(sim_n_events=BENCH_EVENTS, sim_events_per_chunk=250)
    raw_store = str(tmp_path_factory.mktemp("raw"))
    ddcore.context("xenon1t", storage=raw_store, **options).make("er_sr0_060", "raw_records", progress_bar=False)
    rounds = iter(range(100))

    def process():
        out = str(tmp_path_factory.mktemp(f"out{next(rounds)}"))
        st = ddcore.context("xenon1t", storage=[ZarrStore(out), ZarrStore(raw_store, readonly=True)], **options)
        st.make("er_sr0_060", "event_images", progress_bar=False)
        return st

    process()  # compile numba kernels
    threads = numcodecs.blosc.set_nthreads(1)
    try:
        st = benchmark.pedantic(process, rounds=3, iterations=1)
    finally:
        numcodecs.blosc.set_nthreads(threads)
    raw_mb = sum(c["nbytes"] for c in st.get_metadata("er_sr0_060", "raw_records")["chunks"]) / 1e6
    benchmark.extra_info["raw_records_mb_per_s"] = raw_mb / benchmark.stats.stats.median
    benchmark.extra_info["events_per_s"] = BENCH_EVENTS / benchmark.stats.stats.median
