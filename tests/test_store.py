"""The zarr store as a strax citizen: run metadata, run definitions, superruns, concurrent
writers, killed writers and corruption (the scenarios strax's own storage tests cover)."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import strax

import ddcore
from tests.helpers import array_digest, run_command, run_python

OPTIONS = dict(sim_n_events=30, sim_events_per_chunk=15)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("small_store")
    st = ddcore.context("xenon1t", storage=str(path), **OPTIONS)
    for run_id in ("er_sr0_010", "wimp_sr0_011", "er_sr0_012"):
        st.make(run_id, ["event_basics", "event_truth"], progress_bar=False)
    return path


def test_run_metadata_round_trip_and_run_selection(small_store):
    st = ddcore.context("xenon1t", storage=str(small_store))
    document = st.run_metadata("wimp_sr0_011")
    assert document["name"] == "wimp_sr0_011" and document["mode"] == "wimp" and document["seed"] == 11
    assert document["detector"] == "xenon1t" and document["end"] > document["start"]
    assert document["strax_defaults"]["sim_n_events"] == 30
    assert st.run_metadata("er_sr0_010", projection=["start"]).keys() == {"start"}
    runs = st.select_runs()
    assert {"er_sr0_010", "wimp_sr0_011", "er_sr0_012"} <= set(runs["name"])
    assert set(st.list_available("event_basics")) >= {"er_sr0_010", "wimp_sr0_011", "er_sr0_012"}
    assert set(st.select_runs(run_mode="wimp")["name"]) == {"wimp_sr0_011"}
    available = st.available_for_run("er_sr0_010")
    assert available.set_index("target").loc["event_basics", "is_stored"]
    assert len(st.scan_runs()) >= 3


def test_a_run_name_stands_for_its_data(small_store):
    plain = ddcore.context("xenon1t", storage=str(small_store))
    assert len(plain.get_array("er_sr0_010", "instructions", progress_bar=False)) == 30
    assert 25 <= len(plain.get_array("er_sr0_010", "event_basics", progress_bar=False)) <= 30
    assert plain.key_for("er_sr0_010", "event_basics").lineage_hash == ddcore.context(
        "xenon1t", storage=str(small_store), **OPTIONS).key_for("er_sr0_010", "event_basics").lineage_hash
    conflicting = ddcore.context("xenon1t", storage=str(small_store), sim_n_events=500)
    with pytest.raises(ddcore.ConfigError, match="'er_sr0_010'.*sim_n_events=30.*sim_n_events=500"):
        conflicting.get_array("er_sr0_010", "event_basics", progress_bar=False)
    other_detector = ddcore.context("xenonnt", storage=str(small_store))
    with pytest.raises(ddcore.ConfigError, match="made for detector 'xenon1t'"):
        other_detector.key_for("er_sr0_010", "event_basics")


@pytest.mark.slow
def test_show_after_a_small_make_draws_that_run(tmp_path):
    env = {"DD_DATA": str(tmp_path / "store")}
    run_command("make", "er_sr0_000", "event_images", "--set", "sim_n_events=25", "--no-progress",
                cwd=tmp_path, env_extra=env)

    def raw_data_groups():
        return sorted(g for g in os.listdir(tmp_path / "store" / "er_sr0_000")
                      if g.startswith(("instructions-", "raw_records-")))

    groups = raw_data_groups()
    out = run_command("show", "er_sr0_000", "3", "-o", "e.png", cwd=tmp_path, env_extra=env).stdout
    assert "drawn in e.png" in out
    assert raw_data_groups() == groups, "a second run was simulated"


def test_superrun_of_three_runs(small_store):
    st = ddcore.context("xenon1t", storage=str(small_store))
    runs = ["er_sr0_010", "wimp_sr0_011", "er_sr0_012"]
    st.define_run("sr0_dataset", runs)
    stored = ddcore.context("xenon1t", storage=str(small_store)).run_metadata("_sr0_dataset")
    assert list(stored["sub_run_spec"]) == runs and set(stored["mode"]) == {"er", "wimp"}
    parts = [st.get_array(r, ["event_basics", "event_truth"], progress_bar=False) for r in runs]
    whole = st.get_array("_sr0_dataset", ["event_basics", "event_truth"], progress_bar=False)
    assert array_digest(whole) == array_digest(np.concatenate(parts))
    basics = st.get_array("_sr0_dataset", "event_basics", progress_bar=False)
    assert len(basics) == len(whole)
    t0, t1 = int(basics["time"][10]), int(basics["endtime"][40])
    part = st.get_array("_sr0_dataset", "event_basics", time_range=(t0, t1), progress_bar=False)
    assert array_digest(part) == array_digest(basics[(basics["time"] >= t0) & (strax.endtime(basics) <= t1)])
    selected = st.get_df("_sr0_dataset", "event_basics", selection="cs1 > 20", progress_bar=False)
    assert len(selected) == np.sum(basics["cs1"] > 20) > 0


def test_progress_bar_is_shown_when_data_are_made(tmp_path, capfd):
    st = ddcore.context("xenon1t", storage=str(tmp_path), **OPTIONS)
    st.get_array("er_sr0_020", "event_basics", progress_bar=True)
    assert "Loading event_basics" in capfd.readouterr().err


def _corruptible(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=60, sim_events_per_chunk=30)
    st.make("er_sr0_030", "event_basics", progress_bar=False)
    key = st.key_for("er_sr0_030", "event_basics")
    return st, tmp_path / "er_sr0_030" / f"event_basics-{key.lineage_hash}"


def test_deleted_chunk_is_named(tmp_path):
    st, group = _corruptible(tmp_path)
    os.remove(group / "cs1" / "0")
    with pytest.raises(strax.DataCorrupted, match=r"run 'er_sr0_030', data type 'event_basics'.*field 'cs1'.*missing"):
        st.get_array("er_sr0_030", "event_basics", progress_bar=False)


def test_truncated_chunk_is_named(tmp_path):
    st, group = _corruptible(tmp_path)
    chunk = group / "drift_time" / "0"
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(strax.DataCorrupted, match="field 'drift_time'.*cannot read|field 'drift_time'.*checksum"):
        st.get_array("er_sr0_030", "event_basics", progress_bar=False)


def test_flipped_byte_is_named(tmp_path):
    st, group = _corruptible(tmp_path)
    chunk = group / "x" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(strax.DataCorrupted, match="field 'x'.*checksum mismatch"):
        st.get_array("er_sr0_030", "event_basics", progress_bar=False)


def test_plain_zarr_reads_the_store(tmp_path):
    """The chunk-file codec is a numcodecs entry point: zarr alone opens the arrays."""
    st, group = _corruptible(tmp_path)
    expected = st.get_array("er_sr0_030", "event_basics", progress_bar=False)["cs1"]
    script = f"import sys, zarr; sys.stdout.write(zarr.open_group({str(group)!r}, mode='r')['cs1'][:].tobytes().hex())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert bytes.fromhex(out) == expected.tobytes()


def test_groups_with_field_checksums_still_load_and_are_checked(tmp_path):
    """Groups written before the chunk-file checksum (plain Blosc, a CRC-32 of each field per
    chunk in the chunk info) load as before, and an altered field is still caught."""
    import numcodecs
    import zarr

    from ddcore.storage import field_checksum

    st, group = _corruptible(tmp_path)
    expected = st.get_array("er_sr0_030", "event_basics", progress_bar=False)
    old = zarr.open_group(str(group), mode="r+")
    attrs = json.loads((group / ".zattrs").read_text())
    chunks = attrs["strax_metadata"]["chunks"]
    for name in expected.dtype.names:
        values = old[name][:]
        if name == "x":
            values[chunks[-1]["row_start"]] += 1.0  # rewritten with a valid file, different bytes
        zarr.array(values, chunks=old[name].chunks, compressor=numcodecs.Blosc(cname="zstd"),
                   store=old.store, path=name, overwrite=True)
        for chunk in chunks:
            rows = slice(chunk["row_start"], chunk["row_start"] + chunk["n"])
            chunk.setdefault("checksums", {})[name] = field_checksum(expected[name][rows])
    (group / ".zattrs").write_text(json.dumps(attrs))
    with pytest.raises(strax.DataCorrupted, match=r"field 'x', rows \d+-\d+: checksum mismatch"):
        st.get_array("er_sr0_030", "event_basics", progress_bar=False)
    chunks[-1]["checksums"]["x"] = field_checksum(old["x"][chunks[-1]["row_start"]:][:chunks[-1]["n"]])
    (group / ".zattrs").write_text(json.dumps(attrs))
    loaded = st.get_array("er_sr0_030", "event_basics", progress_bar=False)
    changed = expected.copy()
    changed["x"][chunks[-1]["row_start"]] += 1.0
    assert loaded.tobytes() == changed.tobytes()


def test_lying_row_count_is_named(tmp_path):
    st, group = _corruptible(tmp_path)
    attrs_path = group / ".zattrs"
    attrs = json.loads(attrs_path.read_text())
    attrs["strax_metadata"]["chunks"][-1]["n"] -= 1
    attrs_path.write_text(json.dumps(attrs))
    with pytest.raises(strax.DataCorrupted, match="describes .* rows, the array holds"):
        st.get_array("er_sr0_030", "event_basics", progress_bar=False)


MAKE_IMAGES = textwrap.dedent(
    """
    import sys, ddcore
    st = ddcore.context("xenon1t", storage=sys.argv[1], sim_n_events=30, sim_events_per_chunk=10)
    st.make("er_sr0_040", "event_images", progress_bar=False)
    """
)


@pytest.fixture(scope="module")
def reference_images():
    st = ddcore.context("xenon1t", storage=[], sim_n_events=30, sim_events_per_chunk=10)
    return {dt: array_digest(st.get_array("er_sr0_040", dt, progress_bar=False))
            for dt in ("instructions", "peaks", "event_hitpatterns", "event_images")}


def _check_store(path, reference):
    """Every data type loads whole and as the serial reference, or is not stored at all."""
    st = ddcore.context("xenon1t", storage=str(path), sim_n_events=30, sim_events_per_chunk=10)
    stored = {}
    for data_type, digest in reference.items():
        stored[data_type] = st.is_stored("er_sr0_040", data_type)
        if stored[data_type]:
            assert array_digest(st.get_array("er_sr0_040", data_type, progress_bar=False)) == digest
    return stored


@pytest.mark.slow
def test_two_writers_of_the_same_run_never_corrupt_it(tmp_path, reference_images):
    for attempt in range(10):
        store = tmp_path / f"store{attempt}"
        writers = [subprocess.Popen([sys.executable, "-c", MAKE_IMAGES, str(store)], stderr=subprocess.PIPE,
                                    text=True) for _ in range(2)]
        codes = [w.wait(timeout=600) for w in writers]
        errors = [w.stderr.read() for w in writers]
        stored = _check_store(store, reference_images)
        if codes == [0, 0]:
            assert all(stored.values()), (attempt, stored)
        else:  # a writer may fail, but loudly, and nothing it left loads wrong
            assert any("Error" in e for e, c in zip(errors, codes) if c), errors
        assert not list(store.glob("er_sr0_040/*.writing-*")), "temporary folders left behind"


@pytest.mark.slow
def test_killed_writers_never_leave_data_that_loads(tmp_path, reference_images):
    store = tmp_path / "store"
    rng = random.Random(7)
    for _ in range(5):
        writer = subprocess.Popen([sys.executable, "-c", MAKE_IMAGES, str(store)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 6.0))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        _check_store(store, reference_images)
    run_python(MAKE_IMAGES.replace("sys.argv[1]", repr(str(store))))
    assert all(_check_store(store, reference_images).values())
    assert not list(store.glob("er_sr0_040/*.writing-*")), "dead writers' folders were not cleaned"


def test_changed_csv_recomputes_with_get_array_config(tmp_path):
    header = "instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(header + "0,ER,0,0,10,50,20,10000\n")
    second.write_text(header + "0,ER,0,0,10,70,20,10000\n")
    st = ddcore.context("xenon1t", storage=[], fax_instructions_file=str(first))
    assert st.get_array("fax_sr0_000", "instructions", progress_bar=False)["s1_photons"][0] == 50
    again = st.get_array("fax_sr0_000", "instructions", config=dict(fax_instructions_file=str(second)),
                         progress_bar=False)
    assert again["s1_photons"][0] == 70
