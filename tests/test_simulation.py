"""The simulator against the detector parameters it was given."""

import numpy as np
import pandas as pd
import pytest

import ddcore
from ddplugins.analyses.validation import simulation_figures
from ddplugins.simulation import fax_csv
from ddplugins.simulation.instructions import Instructions
from tests.helpers import ER_RUN, SHARED_DATA, SMALL_RUN_OPTIONS, WIMP_RUN, array_digest
from ddplugins.tpc._options import pmt_table

TINY = dict(sim_n_events=30, sim_events_per_chunk=15)


def in_memory(**options):
    return ddcore.context("xenon1t", storage=[], **{**TINY, **options})


def test_same_seed_same_data_different_seed_different():
    a = in_memory().get_array("er_sr0_005", "raw_records", progress_bar=False)
    b = in_memory().get_array("er_sr0_005", "raw_records", progress_bar=False)
    c = in_memory().get_array("er_sr0_006", "raw_records", progress_bar=False)
    assert array_digest(a) == array_digest(b)
    assert len(a) != len(c) or array_digest(a) != array_digest(c)


def test_raw_records_follow_the_strax_format():
    rr = in_memory().get_array("wimp_sr0_005", "raw_records", progress_bar=False)
    assert rr.dtype.names == tuple(np.dtype(__import__("strax").raw_record_dtype(110)).names)
    assert np.all(np.diff(rr["time"]) >= 0)
    assert np.all(rr["dt"] == 10) and np.all(rr["length"] <= 110)
    first_fragments = rr[rr["record_i"] == 0]
    # zero suppression keeps 50 samples before a pulse: they sit at the 16000 ADC baseline
    assert np.all(np.abs(first_fragments["data"][:, :20].mean(axis=1) - 16000) < 5)
    assert np.all(rr["data"][rr["length"] > 0].min(axis=1) < 16000 - 15)


@pytest.mark.skipif(not (SHARED_DATA / "xenon1t").exists(), reason="reference data absent")
@pytest.mark.parametrize("detector_file", ["xenon1t"])
def test_pmt_layout_matches_reference(st, detector_file):
    reference = pd.read_csv(SHARED_DATA / detector_file / "pmt_positions.csv", comment="#")
    pmts = pmt_table(st.get_single_plugin(ER_RUN, "peaks").config)
    for array_code, array_name in ((0, "top"), (1, "bottom")):
        ours = pmts[pmts["array"] == array_code]
        theirs = reference[reference["array"] == array_name]
        assert len(ours) == len(theirs)
        np.testing.assert_allclose(
            np.sort(np.hypot(ours["x"], ours["y"])),
            np.sort(np.hypot(theirs["x_cm"], theirs["y_cm"])),
            atol=0.05,
        )


def test_detector_response_reproduces_parameters(st, er_events):
    figures = simulation_figures(st, er_events, ER_RUN)
    assert figures["g1_measured"] == pytest.approx(figures["g1_expected"], rel=0.10)
    assert figures["g2_bottom_measured"] == pytest.approx(figures["g2_bottom_expected"], rel=0.10)
    assert figures["s2_aft_measured"] == pytest.approx(figures["s2_aft_expected"], abs=0.02)
    assert figures["s2_width_slope_measured_ns2_per_ns"] == pytest.approx(
        figures["s2_width_slope_expected_ns2_per_ns"], rel=0.3
    )


def test_single_electron_width_does_not_grow_with_depth(tmp_path):
    """A lone electron's S2 keeps its luminescence width (~230 ns); diffusion only widens S2s
    of many electrons."""
    path = tmp_path / "single_electrons.csv"
    rows = ["instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t"]
    for i in range(60):
        depth = 5.0 if i % 2 == 0 else 85.0
        rows.append(f"{i},ER,{(i % 7) - 3.0},{(i % 5) - 2.0},{depth},0,1,10000")
    path.write_text("\n".join(rows) + "\n")
    st = in_memory(fax_instructions_file=str(path))
    instructions = st.get_array("fax_sr0_000", "instructions", progress_bar=False)
    peaks = st.get_array("fax_sr0_000", "peak_basics", progress_bar=False)
    singles = peaks[(peaks["type"] == 2) & (peaks["area"] > 15) & (peaks["area"] < 80)]
    slot = (singles["time"] - instructions["time"][0]) // int(2000e3)
    deep = instructions["z"][slot] < -50
    shallow_width = np.median(singles["range_50p_area"][~deep])
    deep_width = np.median(singles["range_50p_area"][deep])
    assert 150 < shallow_width < 320
    assert deep_width == pytest.approx(shallow_width, rel=0.25)


def test_fax_csv_round_trip(tmp_path, st):
    instructions = st.get_array(WIMP_RUN, "instructions", progress_bar=False)
    plugin = st.get_single_plugin(WIMP_RUN, "instructions")
    path = tmp_path / "wimps.csv"
    fax_csv.write_fax_csv(path, instructions, plugin.slot_start(instructions["event_number"]))
    reread = ddcore.context("xenon1t", storage=[], **SMALL_RUN_OPTIONS, fax_instructions_file=str(path))
    again = reread.get_array("fax_sr0_000", "instructions", progress_bar=False)
    assert len(again) == len(instructions)
    # each run has its own time slot: compare times from the run start
    fax_start = reread.get_single_plugin("fax_sr0_000", "instructions").slot_start(0)
    np.testing.assert_array_equal(again["time"] - fax_start, instructions["time"] - plugin.slot_start(0))
    for name in ("recoil_type", "s1_photons", "s2_electrons"):
        np.testing.assert_array_equal(again[name], instructions[name])
    for name in ("x", "y", "z"):
        np.testing.assert_allclose(again[name], instructions[name], atol=1e-4)


@pytest.mark.parametrize(
    "header, row, message",
    [
        ("instruction,recoil_type,x,y,depth,s1_photons,t", "0,NR,1,2,30,100,0", "missing column.*s2_electrons"),
        ("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t", "0,NR,1,2,30,-5,40,0", "row 3: s1_photons must not be negative"),
        ("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t", "0,NR,nan,2,30,5,40,0", "row 3: x is nan"),
        ("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t", "0,XR,1,2,30,5,40,0", "row 3: recoil_type"),
    ],
)
def test_malformed_fax_csv_names_the_row(tmp_path, header, row, message):
    path = tmp_path / "bad.csv"
    good = "0,ER,0,0,10,50,20,10000"
    path.write_text(f"{header}\n{good if header.count(',') == 7 else '0,ER,0,0,10,50,0'}\n{row}\n")
    with pytest.raises(fax_csv.FaxCSVError, match=message) as error:
        fax_csv.read_fax_csv(path)
    assert "bad.csv" in str(error.value)


def test_fax_file_changed_after_configuring_is_used_with_a_new_lineage(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n0,ER,0,0,10,50,20,10000\n")
    st = in_memory(fax_instructions_file=str(path))
    before = st.key_for("fax_sr0_000", "instructions").lineage_hash
    assert st.get_array("fax_sr0_000", "instructions", progress_bar=False)["s1_photons"][0] == 50
    path.write_text("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n0,ER,0,0,10,60,20,10000\n")
    # the same context: the file's content is hashed again, never served stale
    assert st.key_for("fax_sr0_000", "instructions").lineage_hash != before
    assert st.get_array("fax_sr0_000", "instructions", progress_bar=False)["s1_photons"][0] == 60


def test_pseudo_data_counts_follow_table_one():
    plugin_counts = []
    for seed in range(8):
        st = in_memory(sim_exposure_live_days=34.2)
        labels = st.get_array(f"pseudo_sr0_{seed:03d}", "instructions", progress_bar=False)["label"]
        plugin_counts.append((np.sum(labels == 0), np.sum(labels == 1)))
    mean_er, mean_wimp = np.mean(plugin_counts, axis=0)
    assert mean_er == pytest.approx(61.88, abs=3 * np.sqrt(61.88 / 8))
    assert mean_wimp == pytest.approx(35.03, abs=3 * np.sqrt(35.03 / 8))


def test_nest_timing_separates_er_from_nr():
    er = in_memory(s1_timing_model="nest").get_df("er_sr0_007", "event_basics", progress_bar=False)
    nr = in_memory(s1_timing_model="nest").get_df("wimp_sr0_007", "event_basics", progress_bar=False)
    assert np.nanmedian(nr["s1_rise_time"]) < np.nanmedian(er["s1_rise_time"])


def test_instructions_refuse_overlapping_event_slots():
    with pytest.raises(ValueError, match="sim_event_spacing_us"):
        in_memory(sim_event_spacing_us=500.0).get_array("er_sr0_000", "instructions")


def test_plugin_has_help_for_every_option():
    for name, option in Instructions.takes_config.items():
        assert option.help, name


def test_fax_rows_of_one_instruction_are_one_multiple_scatter(tmp_path):
    path = tmp_path / "double.csv"
    path.write_text(
        "instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n"
        "0,NR,5,5,20,400,300,10000\n"
        "0,NR,-10,3,60,300,200,10000\n"
        "1,ER,0,0,40,500,400,10000\n"
    )
    st = in_memory(fax_instructions_file=str(path))
    instructions = st.get_array("fax_sr0_000", "instructions", progress_bar=False)
    assert list(instructions["event_number"]) == [0, 0, 1]
    events = st.get_array("fax_sr0_000", ["event_basics", "event_truth"], progress_bar=False)
    assert len(events) == 2
    double, single = events[0], events[1]
    assert double["n_instructions"] == 2 and single["n_instructions"] == 1
    assert double["alt_s2_area"] > 0.3 * double["s2_area"], "the second scatter's S2 is missing"
    assert double["true_z"] == pytest.approx(-20, abs=1e-3) and double["true_z2"] == pytest.approx(-60, abs=1e-3)
    assert np.isnan(single["true_z2"])
    exported = tmp_path / "exported.csv"
    plugin = st.get_single_plugin("fax_sr0_000", "instructions")
    fax_csv.write_fax_csv(exported, instructions, plugin.slot_start(instructions["event_number"]))
    again = in_memory(fax_instructions_file=str(exported)).get_array("fax_sr0_000", "instructions",
                                                                      progress_bar=False)
    assert list(again["event_number"]) == [0, 0, 1]
    np.testing.assert_array_equal(again["s2_electrons"], instructions["s2_electrons"])
