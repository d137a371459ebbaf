"""dask-distributed batch processing of many runs."""

import os

import pytest

import ddcore
from ddcore.batch import make_runs
from tests.helpers import array_digest

OPTIONS = dict(sim_n_events=30, sim_events_per_chunk=15)
RUNS = ["er_sr0_060", "wimp_sr0_061", "er_sr0_062"]


@pytest.fixture(scope="module")
def batch_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("batch")
    results = make_runs(RUNS, "event_basics", storage=str(store), options=OPTIONS, n_workers=2,
                        progress=False)
    assert [r["status"] for r in results] == ["made"] * 3
    return store


def test_batch_equals_serial(batch_store):
    parallel = ddcore.context("xenon1t", storage=str(batch_store), **OPTIONS)
    serial = ddcore.context("xenon1t", storage=[], **OPTIONS)
    for run_id in RUNS:
        assert parallel.is_stored(run_id, "event_basics")
        a = parallel.get_array(run_id, "event_basics", progress_bar=False)
        b = serial.get_array(run_id, "event_basics", progress_bar=False)
        assert array_digest(a) == array_digest(b)


def test_rerun_is_a_no_op(batch_store):
    stored = {p: p.stat().st_mtime for p in batch_store.rglob(".zattrs")}
    results = make_runs(RUNS, "event_basics", storage=str(batch_store), options=OPTIONS, progress=False)
    assert {r["status"] for r in results} == {"already stored"}
    assert {p: p.stat().st_mtime for p in batch_store.rglob(".zattrs")} == stored


def test_killed_worker_is_retried_and_the_store_stays_consistent(tmp_path):
    marker = tmp_path / "kill_once"
    marker.write_text("")

    def kill_first_attempt(run_id):
        from ddplugins.events.event_basics import EventBasics

        if os.path.exists(marker) and run_id == "er_sr0_063":
            os.remove(marker)
            original = EventBasics.compute

            def die_mid_run(self, events, peaks):
                if len(events):
                    os._exit(7)  # the worker process dies while writing
                return original(self, events, peaks)

            EventBasics.compute = die_mid_run

    store = tmp_path / "store"
    results = make_runs(["er_sr0_063", "er_sr0_064"], "event_basics", storage=str(store), options=OPTIONS,
                        n_workers=2, retries=2, before_make=kill_first_attempt, progress=False)
    assert [r["status"] for r in results] == ["made", "made"], results
    assert not marker.exists(), "the fault was never injected"
    st = ddcore.context("xenon1t", storage=str(store), **OPTIONS)
    assert st.is_stored("er_sr0_063", "event_basics")
    reference = ddcore.context("xenon1t", storage=[], **OPTIONS).get_array("er_sr0_063", "event_basics",
                                                                             progress_bar=False)
    assert array_digest(st.get_array("er_sr0_063", "event_basics", progress_bar=False)) == array_digest(reference)


def test_failing_run_is_reported_and_others_finish(tmp_path):
    results = make_runs(["er_sr0_065", "calibration_1"], "event_basics", storage=str(tmp_path),
                        options=OPTIONS, retries=0, progress=False)
    assert results[0]["status"] == "made"
    assert results[1]["status"] == "failed" and "calibration_1" in results[1]["error"]
    assert not ddcore.context("xenon1t", storage=str(tmp_path), **OPTIONS).is_stored("calibration_1", "event_basics")


def test_a_single_run_is_cut_into_chunk_ranges(tmp_path):
    """One run left and a local cluster: every worker works on that run (ddcore.parallel)."""
    options = dict(sim_n_events=40, sim_events_per_chunk=10)
    results = make_runs(["er_sr0_063"], "events", storage=str(tmp_path), options=options, n_workers=2,
                        progress=False)
    assert [r["status"] for r in results] == ["made"]
    st = ddcore.context("xenon1t", storage=str(tmp_path), **options)
    path = st.storage[0].data_path("er_sr0_063", "events", st.key_for("er_sr0_063", "events").lineage_hash)
    assert sorted(n for n in os.listdir(path) if n.startswith("segment_")) == ["segment_000", "segment_001"]
    serial = ddcore.context("xenon1t", storage=[], **options)
    a = st.get_array("er_sr0_063", "events", progress_bar=False)
    assert array_digest(a) == array_digest(serial.get_array("er_sr0_063", "events", progress_bar=False))
