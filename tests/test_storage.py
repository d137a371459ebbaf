"""Zarr storage through strax: caching, lineage, crash safety, concurrent readers."""

import textwrap

import numpy as np
import pytest
import strax

import ddcore
from ddplugins.events.event_basics import EventBasics
from tests.helpers import ER_RUN, SMALL_RUN_OPTIONS, array_digest, run_python


def test_second_get_df_computes_nothing_and_is_identical(st):
    first = st.get_df(ER_RUN, "event_basics", progress_bar=False)
    components = st.get_components(ER_RUN, "event_basics")
    assert "event_basics" in components.loaders
    assert not components.plugins, f"would compute {list(components.plugins)}"
    second = st.get_df(ER_RUN, "event_basics", progress_bar=False)
    assert first.equals(second)


def test_simulated_raw_records_are_stored_only_as_the_target(tmp_path):
    """Making later data types does not store raw_records; asking for them re-simulates the same
    records, and making them as the target stores them."""
    st = ddcore.context("xenon1t", storage=str(tmp_path / "later"), **SMALL_RUN_OPTIONS)
    st.make(ER_RUN, "peaks", progress_bar=False)
    assert st.is_stored(ER_RUN, "peaks") and not st.is_stored(ER_RUN, "raw_records")
    again = st.get_array(ER_RUN, "raw_records", progress_bar=False)
    explicit = ddcore.context("xenon1t", storage=str(tmp_path / "target"), **SMALL_RUN_OPTIONS)
    explicit.make(ER_RUN, "raw_records", progress_bar=False)
    assert explicit.is_stored(ER_RUN, "raw_records")
    assert explicit.get_array(ER_RUN, "raw_records", progress_bar=False).tobytes() == again.tobytes()


def test_image_fields_round_trip_bit_identical(st):
    stored = st.get_array(ER_RUN, "event_images", progress_bar=False)
    in_memory = ddcore.context("xenon1t", storage=[], **SMALL_RUN_OPTIONS)
    fresh = in_memory.get_array(ER_RUN, "event_images", progress_bar=False)
    assert stored.dtype.names == fresh.dtype.names
    assert stored["hitpeak_image"].shape[1:] == (75, 75, 3)
    for name in stored.dtype.names:
        assert array_digest(stored[name]) == array_digest(fresh[name]), name


def test_waiting_rows_stay_bounded_and_the_data_load_unchanged(tmp_path, monkeypatch):
    """Rows of a partly filled zarr chunk wait at most a few strax chunks before they are written
    as they are, and the next rows complete that zarr chunk in the store: same data, and what
    waits in memory does not grow with run length."""
    from ddcore import storage

    monkeypatch.setattr(storage, "PENDING_CHUNKS_LIMIT", 3)
    saves, partial_writes = {}, []  # saver -> [(bytes of the strax chunk, bytes waiting after it)]
    save_chunk, write_waiting = storage.ZarrSaver._save_chunk, storage.ZarrSaver._write_waiting

    def counted_save(self, data, *args, **kwargs):
        result = save_chunk(self, data, *args, **kwargs)
        saves.setdefault(id(self), []).append((data.nbytes, sum(rows.nbytes for rows in self.pending.values())))
        return result

    def counted_write(self, names):
        partial_writes.append(len(names))
        write_waiting(self, names)

    monkeypatch.setattr(storage.ZarrSaver, "_save_chunk", counted_save)
    monkeypatch.setattr(storage.ZarrSaver, "_write_waiting", counted_write)
    options = {**SMALL_RUN_OPTIONS, "sim_events_per_chunk": 10}
    stored = ddcore.context("xenon1t", storage=str(tmp_path / "store"), **options)
    for data_type in ("peak_basics", "event_basics"):
        stored.make(ER_RUN, data_type, progress_bar=False)
    streamed = [history for history in saves.values() if len(history) >= 6]  # peak_basics, event_basics
    assert len(streamed) >= 2
    for history in streamed:
        chunk_bytes, waiting = np.array(history).T
        # what waits came with the last three strax chunks at most
        assert all(waiting[i] <= chunk_bytes[max(0, i - 2):i + 1].sum() for i in range(len(history)))
    # fields were written partly while saving, not only when the savers closed
    assert sum(n > 0 for n in partial_writes) > len(saves)
    fresh = ddcore.context("xenon1t", storage=[], **options)
    for data_type in ("peak_basics", "event_basics"):
        loaded = stored.get_array(ER_RUN, data_type, progress_bar=False)
        made = fresh.get_array(ER_RUN, data_type, progress_bar=False)
        assert loaded.dtype == made.dtype and len(loaded) == len(made) > 0
        for name in loaded.dtype.names:
            assert array_digest(loaded[name]) == array_digest(made[name]), (data_type, name)


def test_small_chunks_are_gathered_in_the_store_not_in_memory(tmp_path, monkeypatch):
    """A data type that asks for its small chunks to be gathered (event_basics) reaches the saver
    chunk by chunk, as made (strax holds none of them back), and is stored as fewer chunks of up
    to its target size, each whole in time and rows; one that does not (peaks) is stored as made.
    Loading whole, by time range and by chunk gives the data as made."""
    from ddcore import storage

    monkeypatch.setattr(EventBasics, "chunk_target_size_mb", 0.005)
    received = {}  # data type -> strax chunks the saver was given
    save_metadata = storage.ZarrSaver._save_chunk_metadata

    def counted(self, chunk_info):
        received[self.md["data_type"]] = received.get(self.md["data_type"], 0) + 1
        save_metadata(self, chunk_info)

    monkeypatch.setattr(storage.ZarrSaver, "_save_chunk_metadata", counted)
    options = {**SMALL_RUN_OPTIONS, "sim_events_per_chunk": 10}
    stored = ddcore.context("xenon1t", storage=str(tmp_path / "store"), **options)
    for data_type in ("peaks", "event_basics"):
        stored.make(ER_RUN, data_type, progress_bar=False)
    fresh = ddcore.context("xenon1t", storage=[], **options)
    made_chunks = {data_type: list(fresh.get_iter(ER_RUN, data_type, progress_bar=False))
                   for data_type in ("peaks", "event_basics")}
    assert {data_type: received[data_type] for data_type in made_chunks} == {
        data_type: len(made) for data_type, made in made_chunks.items()}

    peaks = stored.get_metadata(ER_RUN, "peaks")
    assert storage.GATHERED_IN_STORE not in peaks and len(peaks["chunks"]) == received["peaks"]
    events = stored.get_metadata(ER_RUN, "event_basics")
    chunks = events["chunks"]
    assert events[storage.GATHERED_IN_STORE] and 1 < len(chunks) < received["event_basics"]
    assert [c["chunk_i"] for c in chunks] == list(range(len(chunks)))
    assert all(c["nbytes"] <= 0.005e6 for c in chunks)
    assert chunks[0]["start"] == events["start"] and chunks[-1]["end"] == events["end"]
    for before, after in zip(chunks, chunks[1:]):
        assert before["end"] == after["start"] and before["row_start"] + before["n"] == after["row_start"]

    made = np.concatenate([chunk.data for chunk in made_chunks["event_basics"]])
    loaded = stored.get_array(ER_RUN, "event_basics", progress_bar=False)
    assert len(loaded) == len(made) == sum(c["n"] for c in chunks)
    for name in made.dtype.names:
        assert array_digest(loaded[name]) == array_digest(made[name]), name
    second = stored.get_array(ER_RUN, "event_basics", chunk_number={"event_basics": [1]}, progress_bar=False)
    assert array_digest(second["time"]) == array_digest(made["time"][chunks[1]["row_start"]:][:chunks[1]["n"]])
    middle = (made["time"][5], made["time"][-5])
    in_range = stored.get_array(ER_RUN, "event_basics", time_range=middle, progress_bar=False)
    assert array_digest(in_range["time"]) == array_digest(made["time"][(made["time"] >= middle[0])
                                                                       & (strax.endtime(made) <= middle[1])])


def test_layout_is_one_zarr_array_per_field(st, store_dir):
    key = st.key_for(ER_RUN, "event_images")
    group = store_dir / ER_RUN / f"event_images-{key.lineage_hash}"
    assert (group / ".zgroup").exists()
    assert {p.name for p in group.iterdir() if p.is_dir()} == set(
        st.get_single_plugin(ER_RUN, "event_images").dtype.names
    )


def test_changed_option_recomputes_only_downstream(st, make_context):
    changed = make_context(image_s2_full_scale_pe=5000.0)
    assert changed.key_for(ER_RUN, "event_images").lineage_hash != st.key_for(ER_RUN, "event_images").lineage_hash
    for upstream in ("raw_records", "peaks", "event_basics", "event_hitpatterns"):
        assert changed.key_for(ER_RUN, upstream).lineage_hash == st.key_for(ER_RUN, upstream).lineage_hash
    components = changed.get_components(ER_RUN, "event_images")
    assert set(components.plugins) == {"event_images"}
    images = changed.get_array(ER_RUN, "event_images", progress_bar=False)
    assert not np.array_equal(
        images["hit_image"], st.get_array(ER_RUN, "event_images", progress_bar=False)["hit_image"]
    )


def test_exception_mid_processing_leaves_nothing_complete(make_context, monkeypatch):
    st = make_context(trigger_min_area_pe=101.0)
    original = EventBasics.compute
    calls = []

    def failing_compute(self, events, peaks):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash in the second chunk")
        return original(self, events, peaks)

    monkeypatch.setattr(EventBasics, "compute", failing_compute)
    with pytest.raises(RuntimeError, match="simulated crash"):
        st.make(ER_RUN, "event_basics", progress_bar=False)
    assert not st.is_stored(ER_RUN, "event_basics")
    monkeypatch.setattr(EventBasics, "compute", original)
    st.make(ER_RUN, "event_basics", progress_bar=False)
    assert st.is_stored(ER_RUN, "event_basics")
    assert len(st.get_array(ER_RUN, "event_basics", progress_bar=False)) > 0


def test_process_killed_mid_write_leaves_nothing_complete(store_dir, make_context):
    options = {**SMALL_RUN_OPTIONS, "trigger_min_area_pe": 102.0}
    code = textwrap.dedent(
        f"""
        import os, ddcore
        from ddplugins.events.event_basics import EventBasics
        original = EventBasics.compute
        calls = []
        def dying(self, events, peaks):
            calls.append(1)
            if len(calls) == 2:
                os._exit(3)
            return original(self, events, peaks)
        EventBasics.compute = dying
        st = ddcore.context("xenon1t", storage={str(store_dir)!r}, **{options!r})
        st.make({ER_RUN!r}, "event_basics", progress_bar=False)
        """
    )
    result = run_python(code, check=False)
    assert result.returncode == 3, result.stderr[-2000:]
    st = make_context(trigger_min_area_pe=102.0)
    key = st.key_for(ER_RUN, "event_basics")
    published = store_dir / ER_RUN / f"event_basics-{key.lineage_hash}"
    assert list(store_dir.glob(f"{ER_RUN}/{published.name}.writing-*")), "nothing was written"
    assert not published.exists() and not st.is_stored(ER_RUN, "event_basics")
    st.make(ER_RUN, "event_basics", progress_bar=False)
    assert st.is_stored(ER_RUN, "event_basics")
    assert not list(store_dir.glob(f"{ER_RUN}/{published.name}.writing-*")), "the dead writer's folder stays"


def test_two_processes_read_the_same_store_at_once(st, store_dir):
    code = textwrap.dedent(
        f"""
        import hashlib, numpy as np, ddcore
        st = ddcore.context("xenon1t", storage={str(store_dir)!r}, **{SMALL_RUN_OPTIONS!r})
        assert st.is_stored({ER_RUN!r}, "event_images")
        images = st.get_array({ER_RUN!r}, "event_images", progress_bar=False)
        print("RESULT", hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest())
        """
    )
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outputs = [r.stdout for r in pool.map(lambda _: run_python(code), range(2))]
    digests = [line.split()[1] for out in outputs for line in out.splitlines() if line.startswith("RESULT")]
    expected = array_digest(st.get_array(ER_RUN, "event_images", progress_bar=False))
    assert digests == [expected, expected]


def test_time_range_and_is_stored(st):
    basics = st.get_array(ER_RUN, "event_basics", progress_bar=False)
    start, end = int(basics["time"][5]), int(basics["endtime"][10])
    part = st.get_array(ER_RUN, "event_basics", time_range=(start, end), progress_bar=False)
    assert 5 <= len(part) <= 7 and part["time"][0] == basics["time"][5]
    assert st.is_stored(ER_RUN, "event_basics")
    assert not st.is_stored("er_sr0_777", "event_basics")


def test_unknown_run_id_characters_are_refused(store_dir):
    with pytest.raises(ValueError, match="cannot be stored"):
        ddcore.ZarrStore(store_dir).check_run_id("bad-run")
