"""Simulator throughput: events per second per core on the raw_records path."""

import ddcore
from benchmarks.conftest import BENCH_EVENTS, megabytes


def test_simulate_raw_records(benchmark, bench_context):
    bench_context.get_array("er_sr0_051", "raw_records", progress_bar=False)  # compile first
    runs = iter(f"er_sr0_{i:03d}" for i in range(52, 10_000))

    def simulate():
        # streamed chunk by chunk, as make() stores them: get_array's concatenation of ~0.16 MB
        # per event made rounds swing by 30%
        st = ddcore.context("xenon1t", storage=[], sim_n_events=BENCH_EVENTS, sim_events_per_chunk=200)
        return sum(megabytes(c.data) for c in st.get_iter(next(runs), "raw_records", progress_bar=False))

    total_mb = benchmark.pedantic(simulate, rounds=5, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["events_per_s"] = BENCH_EVENTS / median
    benchmark.extra_info["raw_records_mb_per_event"] = total_mb / BENCH_EVENTS


def test_simulate_pseudo_run(benchmark, bench_context):
    """Every population at its rate: 2 live days, ~570 events, mostly wall and S2-only events."""
    runs = iter(f"pseudo_sr0_{i:03d}" for i in range(52, 10_000))

    def simulate():
        st = ddcore.context("xenon1t", storage=[], sim_exposure_live_days=2.0, sim_events_per_chunk=200)
        run = next(runs)
        return st.get_array(run, "raw_records", progress_bar=False), st.get_single_plugin(run, "instructions")

    records, plugin = benchmark.pedantic(simulate, rounds=3, iterations=1)
    events = len(plugin.labels)
    benchmark.extra_info["events"] = events
    benchmark.extra_info["events_per_s"] = events / benchmark.stats.stats.median
