"""Simulator throughput: events per second per core on the raw_records path."""

import ddcore
from benchmarks.conftest import BENCH_EVENTS, megabytes


def test_simulate_raw_records(benchmark, bench_context):
    bench_context.get_array("er_sr0_051", "raw_records", progress_bar=False)  # compile first
    runs = iter(f"er_sr0_{i:03d}" for i in range(52, 10_000))

    def simulate():
        st = ddcore.context("xenon1t", storage=[], sim_n_events=BENCH_EVENTS, sim_events_per_chunk=200)
        return st.get_array(next(runs), "raw_records", progress_bar=False)

    records = benchmark.pedantic(simulate, rounds=3, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["events_per_s"] = BENCH_EVENTS / median
    benchmark.extra_info["raw_records_mb_per_event"] = megabytes(records) / BENCH_EVENTS
