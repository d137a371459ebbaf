"""Batch speed-up: the same runs on 1 and on 2 dask workers (fresh stores, numba caches warm)."""

import itertools

import pytest

from ddcore.batch import make_runs

OPTIONS = dict(sim_n_events=1000, sim_events_per_chunk=250)
N_RUNS = 4
_seeds = itertools.count(500, N_RUNS)


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_make(benchmark, tmp_path, workers):
    def run_batch():
        first = next(_seeds)
        runs = [f"er_sr0_{first + i:03d}" for i in range(N_RUNS)]
        store = tmp_path / f"store{first}"
        results = make_runs(runs, "event_images", storage=str(store), options=OPTIONS,
                            n_workers=workers, progress=False)
        assert all(r["status"] == "made" for r in results)

    benchmark.pedantic(run_batch, rounds=2, iterations=1)
    benchmark.extra_info["runs"] = N_RUNS
    benchmark.extra_info["events_per_run"] = OPTIONS["sim_n_events"]
