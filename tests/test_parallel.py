"""Within-run parallelism: one run made as chunk ranges in worker processes, merged by segments."""

import json
import os

import pytest

import ddcore
from ddcore import parallel
from ddcore.config import ConfigError
from ddplugins.events.event_basics import EventBasics
from tests.helpers import run_command

# a pseudo run (every population, accidentals added so that some sit next to chunk boundaries)
RUN = "pseudo_sr0_071"
OPTIONS = dict(sim_exposure_live_days=0.25, sim_events_per_chunk=15, sim_inject={"accidental": 20})
TARGET = "event_basics"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    serial = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("serial")), **OPTIONS)
    serial.make(RUN, TARGET, progress_bar=False)
    made = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("parallel")), **OPTIONS)
    result = parallel.make_run(made, RUN, TARGET, workers=2, parts=3)
    return serial, made, result


def test_split_chunks_covers_every_chunk_once():
    for n_chunks in range(1, 12):
        for n_parts in range(1, 6):
            ranges = parallel.split_chunks(n_chunks, n_parts)
            assert sum(ranges, []) == list(range(n_chunks))
            assert len(ranges) == min(n_parts, n_chunks) and all(ranges)


def test_parallel_make_is_bit_identical_to_serial(stores):
    serial, made, result = stores
    assert len(result["parts"]) == 3
    stored = [row["data_type"] for row in serial.storage[0].inventory(RUN)]
    assert {"instructions", "peaks", "events", TARGET} <= set(stored) <= set(result["merged"])
    for data_type in stored:
        assert made.is_stored(RUN, data_type)
        a = made.get_array(RUN, data_type, progress_bar=False)
        b = serial.get_array(RUN, data_type, progress_bar=False)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), data_type


def test_merged_data_are_segments_and_scratch_is_gone(stores):
    _, made, _ = stores
    store = made.storage[0]
    key = made.key_for(RUN, TARGET)
    path = store.data_path(RUN, TARGET, key.lineage_hash)
    with open(os.path.join(path, ".zattrs")) as f:
        chunks = json.load(f)["strax_metadata"]["chunks"]
    assert sorted({c["segment"] for c in chunks}) == ["segment_000", "segment_001", "segment_002"]
    assert [c["chunk_i"] for c in chunks] == list(range(len(chunks)))
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(parallel.PARTS_FOLDER_PREFIX)]
    assert all(row["complete"] for row in store.inventory(RUN))
    # a second call finds everything stored
    assert parallel.make_run(made, RUN, TARGET, workers=2)["parts"] == []


def test_a_failing_worker_publishes_nothing(tmp_path, monkeypatch):
    st = ddcore.context("xenon1t", storage=str(tmp_path), **OPTIONS)

    def failing_compute(self, events, peaks):
        raise RuntimeError("simulated crash in a worker")

    monkeypatch.setattr(EventBasics, "compute", failing_compute)
    # forked workers see the patched method (spawned ones, used once TensorFlow is loaded, would not)
    monkeypatch.setattr(parallel, "_start_method", lambda: "fork")
    with pytest.raises(RuntimeError, match="simulated crash"):
        parallel.make_run(st, RUN, TARGET, workers=2)
    assert not st.storage[0].inventory(RUN)
    assert not [n for n in os.listdir(tmp_path / RUN) if n.startswith(parallel.PARTS_FOLDER_PREFIX)]


def test_runs_without_independent_chunks_are_refused(tmp_path):
    path = tmp_path / "early.csv"
    rows = ["instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t"]
    rows += [f"{i},ER,0.0,0.0,50.0,100,200,10000" for i in range(4)]
    path.write_text("\n".join(rows) + "\n")
    st = ddcore.context("xenon1t", storage=str(tmp_path / "store"), fax_instructions_file=str(path),
                        sim_events_per_chunk=2)
    with pytest.raises(ConfigError, match="fax_sr0_000.*independent chunks"):
        parallel.make_run(st, "fax_sr0_000", "events", workers=2)


def test_make_command_with_workers(tmp_path):
    out = run_command("make", "er_sr0_072", "events", "--workers", "2", "--data", str(tmp_path),
                      "--set", "sim_n_events=40", "--set", "sim_events_per_chunk=10")
    assert "er_sr0_072: events stored as" in out.stdout
    st = ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=40, sim_events_per_chunk=10)
    assert st.is_stored("er_sr0_072", "events")


def test_spawned_workers_rebuild_the_same_context(tmp_path, monkeypatch):
    """The start method used once TensorFlow is loaded: workers rebuild their context and get
    the same data."""
    options = dict(sim_n_events=30, sim_events_per_chunk=10)
    monkeypatch.setattr(parallel, "_start_method", lambda: "spawn")
    made = ddcore.context("xenon1t", storage=str(tmp_path / "parallel"), **options)
    assert len(parallel.make_run(made, "wimp_sr0_073", "events", workers=2)["parts"]) == 2
    serial = ddcore.context("xenon1t", storage=[], **options)
    for data_type in ("raw_records", "peaks", "events"):
        a = made.get_array("wimp_sr0_073", data_type, progress_bar=False)
        assert a.tobytes() == serial.get_array("wimp_sr0_073", data_type, progress_bar=False).tobytes()
