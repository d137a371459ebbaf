"""Raw data written by other software (a strax DataDirectory under a foreign lineage), processed
with ddcore.context(raw_data=...): read only, lineage naming the source, named errors."""

import json
import os

import numpy as np
import pytest
import strax

import ddcore
from ddcore.raw_data import RawDataError
from ddplugins.records.external import raw_records_source
from tests.helpers import run_command

RUN = "025420"  # XENONnT's runs are six-digit numbers
SOURCE_RUN = "er_sr0_000"


def _write_foreign(folder, raw, run_id=RUN, chunk_duration_ns=None):
    """raw_records written by strax itself under another program's lineage."""
    writer = strax.Context(storage=[strax.DataDirectory(str(folder))],
                           register=[raw_records_source(raw, chunk_duration_ns=chunk_duration_ns)])
    writer.make(run_id, "raw_records", progress_bar=False)
    return folder


def _snapshot(folder):
    return {p: os.path.getmtime(os.path.join(r, p)) for r, _, files in os.walk(folder) for p in files}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    st = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("simulated")), sim_n_events=40)
    return st.get_array(SOURCE_RUN, "raw_records", progress_bar=False), st.get_array(
        SOURCE_RUN, "event_basics", progress_bar=False)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, simulated):
    return _write_foreign(tmp_path_factory.mktemp("daq"), simulated[0], chunk_duration_ns=int(0.5e9))


def test_raw_data_of_other_software_are_processed_as_ours(tmp_path, simulated, foreign):
    before = _snapshot(foreign)
    st = ddcore.context("xenon1t", storage=str(tmp_path), raw_data=foreign)
    basics = st.get_array(RUN, "event_basics", progress_bar=False)
    ours = simulated[1]
    assert len(basics) == len(ours) > 20
    np.testing.assert_allclose(basics["cs1"], ours["cs1"], rtol=1e-5)
    np.testing.assert_allclose(basics["cs2"], ours["cs2"], rtol=1e-5)
    assert _snapshot(foreign) == before, "the source is only read"
    assert st.is_stored(RUN, "event_basics") and not st.is_stored(RUN, "raw_records")
    assert RUN in st.list_available("event_basics") or RUN in os.listdir(tmp_path)


def test_the_lineage_names_the_source_and_follows_its_changes(tmp_path, simulated, foreign):
    st = ddcore.context("xenon1t", storage=str(tmp_path / "store"), raw_data=foreign)
    source = st.key_for(RUN, "event_basics").lineage["raw_records"][2]["raw_data_source"]
    metadata = json.loads(next(foreign.glob("*/*-metadata.json")).read_text())
    assert source.startswith(metadata["lineage_hash"] + ":sha256:")
    st.make(RUN, "event_basics", progress_bar=False)
    # another program's data under the same run name: another lineage, never the stored results
    other = raw_records_source(simulated[0][::2])
    second = tmp_path / "other_daq"
    strax.Context(storage=[strax.DataDirectory(str(second))], register=[other]).make(RUN, "raw_records",
                                                                                      progress_bar=False)
    elsewhere = ddcore.context("xenon1t", storage=str(tmp_path / "store"), raw_data=second)
    assert str(elsewhere.key_for(RUN, "event_basics")) != str(st.key_for(RUN, "event_basics"))
    assert not elsewhere.is_stored(RUN, "event_basics")
    # the same source written again (another chunking): detected, processed again
    rewritten = tmp_path / "rewritten"
    _write_foreign(rewritten, simulated[0], chunk_duration_ns=int(0.3e9))
    again = ddcore.context("xenon1t", storage=str(tmp_path / "store"), raw_data=rewritten)
    assert str(again.key_for(RUN, "event_basics")) != str(st.key_for(RUN, "event_basics"))


def test_the_simulators_truth_beside_the_raw_records_is_read(tmp_path, simulated):
    """WFSim and fuse write ``truth`` beside raw_records; it is read with them, under the run's
    source identity (its raw_records')."""

    class Truth(strax.Plugin):
        provides = "truth"
        depends_on = ()
        dtype = strax.time_fields + [(("Number of quanta", "amp"), np.int32)]
        rechunk_on_save = False

        def is_ready(self, chunk_i):
            return chunk_i == 0

        def source_finished(self):
            return True

        def compute(self, chunk_i):
            truth = np.zeros(3, self.dtype)
            truth["time"], truth["endtime"], truth["amp"] = [100, 200, 300], [150, 250, 350], [7, 8, 9]
            return self.chunk(start=0, end=400, data=truth)

    folder = _write_foreign(tmp_path / "wfsim", simulated[0])
    strax.Context(storage=[strax.DataDirectory(str(folder))], register=[Truth]).make(RUN, "truth", progress_bar=False)
    st = ddcore.context("xenon1t", storage=str(tmp_path / "store"), raw_data=folder)
    assert st.get_array(RUN, "truth", progress_bar=False)["amp"].tolist() == [7, 8, 9]
    assert len(st.get_array(RUN, "event_basics", progress_bar=False)) == len(simulated[1])


def _strax_folder(root, data, run_id=RUN, chunks=None, dtype=None):
    """A strax-format folder written by hand, to break it in the ways a writer can."""
    folder = root / f"{run_id}-raw_records-abcdefghij"
    folder.mkdir(parents=True)
    chunks = chunks or [data]
    infos, start = [], int(data["time"].min()) if len(data) else 0
    for i, chunk in enumerate(chunks):
        name = f"raw_records-abcdefghij-{i:06d}"
        strax.save_file(str(folder / name), chunk, "blosc")
        end = int(strax.endtime(chunk).max()) + 1 if len(chunk) else start + 1
        infos.append(dict(chunk_i=i, filename=name, filesize=os.path.getsize(folder / name), n=len(chunk),
                          start=start, end=end, run_id=run_id))
        start = end
    metadata = dict(dtype=repr((dtype or data.dtype).descr), compressor="blosc", chunks=infos,
                    lineage_hash="abcdefghij", run_id=run_id, data_type="raw_records",
                    writing_ended=1.0, writing_started=0.0)
    (folder / "raw_records-abcdefghij-metadata.json").write_text(json.dumps(metadata))
    return folder


def _records(n=3, channel=0, start=10_000, spacing=5_000):
    raw = np.zeros(n, strax.raw_record_dtype(110))
    raw["time"] = start + spacing * np.arange(n)
    raw["channel"], raw["dt"], raw["length"], raw["pulse_length"], raw["baseline"] = channel, 10, 110, 110, 16000
    raw["data"] = 16000
    raw["data"][:, 50:55] = 15800
    return raw


def _make(tmp_path, folder, target="peaks", **options):
    return ddcore.context("xenon1t", storage=str(tmp_path / "store"), raw_data=folder.parent, **options).get_array(
        RUN, target, progress_bar=False)


def test_records_of_channels_outside_the_tpc_are_set_aside(tmp_path, caplog):
    raw = np.concatenate([_records(), _records(channel=1), _records(1, channel=500, start=12_000)])
    raw = raw[np.argsort(raw["time"], kind="stable")]
    peaks = _make(tmp_path, _strax_folder(tmp_path / "daq", raw))
    assert len(peaks) and peaks["area_per_channel"][:, 0].sum() > 0
    assert "channels [500] outside the TPC" in caplog.text


@pytest.mark.parametrize("breakage, message", [
    ("missing field", r"lack the field\(s\) pulse_length"),
    ("truncated chunk", r"chunk 1 .*raw_records-abcdefghij-000001\): \d+ bytes, the metadata say \d+"),
    ("unsorted", r"chunk 0 .*not sorted by time at row 2"),
    ("overlapping", r"row 1 \(channel 0\) starts before the previous record of its channel ends"),
    ("unfinished write", r"has no 'writing_ended': the write did not finish"),
    ("other sample width", r"raw_records row 0 \(channel 0\): samples of 4 ns, the detector's are 10 ns"),
    ("no such run", r"Run '025420': no raw_records in"),
])
def test_bad_raw_data_get_named_errors(tmp_path, breakage, message):
    raw = _records(4)
    if breakage == "missing field":
        names = [n for n in raw.dtype.names if n != "pulse_length"]
        folder = _strax_folder(tmp_path / "daq", np.ascontiguousarray(raw[names]).copy())
    elif breakage == "truncated chunk":
        folder = _strax_folder(tmp_path / "daq", raw, chunks=[raw[:2], raw[2:]])
        chunk = folder / "raw_records-abcdefghij-000001"
        chunk.write_bytes(chunk.read_bytes()[:-7])
    elif breakage == "unsorted":
        raw["time"][2] = raw["time"][0]
        folder = _strax_folder(tmp_path / "daq", raw)
    elif breakage == "overlapping":
        raw["time"][1] = raw["time"][0] + 500
        folder = _strax_folder(tmp_path / "daq", raw)
    elif breakage == "unfinished write":
        folder = _strax_folder(tmp_path / "daq", raw)
        path = folder / "raw_records-abcdefghij-metadata.json"
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "writing_ended"}))
    elif breakage == "other sample width":
        raw["dt"] = 4
        folder = _strax_folder(tmp_path / "daq", raw)
    else:
        folder = _strax_folder(tmp_path / "daq", raw, run_id="000001")
    with pytest.raises((RawDataError, ValueError), match=message):
        _make(tmp_path, folder)
    assert not ddcore.context("xenon1t", storage=str(tmp_path / "store")).is_stored(RUN, "peaks")


def test_the_command_line_takes_raw_data(tmp_path, foreign):
    result = run_command("make", RUN, "peak_basics", "--raw-data", str(foreign), "--data", str(tmp_path),
                         "--no-progress", "-d", "xenon1t")
    assert f"{RUN}: peak_basics stored as {RUN}-peak_basics-" in result.stdout


def test_an_analysis_config_names_the_raw_data(tmp_path, foreign):
    config = tmp_path / "daq.toml"
    config.write_text(f'detector = "xenon1t"\nraw_data = "{foreign}"\n')
    st = ddcore.context(config=config, storage=str(tmp_path / "store"))
    assert st.key_for(RUN, "peaks").lineage["raw_records"][0] == "StoredRawRecords"


def test_a_run_of_raw_data_from_other_software_can_be_blinded(tmp_path, simulated, foreign):
    from ddcore import blinding

    before = _snapshot(foreign)
    st = ddcore.context("xenon1t", storage=str(tmp_path), raw_data=foreign)
    whole = st.get_array(RUN, ["event_basics", "blinding_region"], progress_bar=False)
    hidden = int(whole[blinding.REGION_FIELD].sum())
    assert hidden > 0
    blinding.blind(st, RUN, "blinding_region")
    assert len(st.get_array(RUN, "event_basics", progress_bar=False)) == len(whole) - hidden
    # the record lives in the project's store, a new context sees it; the source stays untouched
    again = ddcore.context("xenon1t", storage=str(tmp_path), raw_data=foreign)
    assert blinding.state(again, RUN)["state"] == blinding.BLINDED
    assert len(again.get_df(RUN, "event_basics", progress_bar=False)) == len(whole) - hidden
    assert _snapshot(foreign) == before
    blinding.unblind(again, RUN, reason="test")
    assert len(again.get_array(RUN, "event_basics", progress_bar=False)) == len(whole)
