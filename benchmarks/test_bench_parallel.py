"""Within-run parallelism: one long simulated run to event_images on 1 and on 2 workers
(fresh stores, numba caches warm); the merged output is checked against the serial one.

DD_BENCH_PARALLEL_EVENTS sets the run length (default 16,000 events, ~1.5 minutes per round on
one core)."""

import itertools
import os

import pytest

import ddcore
from ddcore import parallel

EVENTS = int(os.environ.get("DD_BENCH_PARALLEL_EVENTS", "16000"))
OPTIONS = dict(sim_n_events=EVENTS, sim_events_per_chunk=500)
TARGET = "event_images"
_seeds = itertools.count(700)
_made = {}


@pytest.fixture(scope="module", autouse=True)
def warm_kernels(tmp_path_factory):
    st = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("warm")), sim_n_events=20,
                        sim_events_per_chunk=10)
    st.make("er_sr0_699", TARGET, progress_bar=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_one_run_in_chunk_ranges(benchmark, tmp_path, workers):
    def make():
        run = f"er_sr0_{next(_seeds):03d}"
        st = ddcore.context("xenon1t", storage=str(tmp_path / run), **OPTIONS)
        if workers == 1:
            st.make(run, TARGET, progress_bar=False)
        else:
            parallel.make_run(st, run, TARGET, workers=workers)
        return st, run

    st, run = benchmark.pedantic(make, rounds=3, iterations=1)
    benchmark.extra_info["events"] = EVENTS
    benchmark.extra_info["events_per_s"] = EVENTS / benchmark.stats.stats.median
    _made[workers] = (benchmark.stats.stats.median, st, run)
    if len(_made) == 2:
        serial, made = _made[1], _made[2]
        benchmark.extra_info["speed_up"] = serial[0] / made[0]
        # same run id in a fresh serial context: the merged data equal a serial make
        check = ddcore.context("xenon1t", storage=[], **OPTIONS)
        a = made[1].get_array(made[2], "event_basics", progress_bar=False)
        b = check.get_array(made[2], "event_basics", progress_bar=False)
        assert a.tobytes() == b.tobytes()
