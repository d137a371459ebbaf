"""Blinding: a run's signal region left out of every read until an explicit, logged unblinding."""

import logging

import numpy as np
import pytest

import ddcore
from ddcore import blinding
from tests.helpers import SMALL_RUN_OPTIONS

RUN = "er_sr0_009"


@pytest.fixture(scope="module")
def blind_st(tmp_path_factory):
    st = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("blinding")), **SMALL_RUN_OPTIONS)
    st.make(RUN, ["event_basics", "event_truth", "blinding_region"], progress_bar=False)
    st.make(RUN, "peak_basics", progress_bar=False)
    return st


@pytest.mark.parametrize("detector", ["xenon1t", "xenonnt"])
def test_the_region_is_the_nr_side_of_the_er_band(blind_st, detector, tmp_path):
    st = blind_st if detector == "xenon1t" else ddcore.context(
        detector, storage=str(tmp_path), **{**SMALL_RUN_OPTIONS, "sim_n_events": 400})
    events = st.get_array(RUN, ["event_basics", "blinding_region"], progress_bar=False)
    inside = events[blinding.REGION_FIELD]
    region = st.get_single_plugin(RUN, "blinding_region")
    fiducial = ((np.hypot(events["x"], events["y"]) < region.fiducial_radius_cm)
                & (events["z"] < region.fiducial_z_top_cm) & (events["z"] > region.fiducial_z_bottom_cm))
    in_range = (events["cs1"] >= 3) & (events["cs1"] <= 70) & fiducial
    # ER events: about half of those in the cS1 range and the fiducial volume lie below their
    # band's median (each detector's own); outside the volume nothing is hidden (the wall's sideband)
    assert 0.3 < inside.sum() / in_range.sum() < 0.7
    assert not np.any(inside & ~in_range)


def test_a_blinded_run_hides_its_region_from_every_read_until_unblinded(blind_st, caplog):
    whole = blind_st.get_array(RUN, ["event_basics", "blinding_region"], progress_bar=False)
    outside = whole[~whole[blinding.REGION_FIELD]]
    peaks = len(blind_st.get_array(RUN, "peak_basics", progress_bar=False))
    record = blinding.blind(blind_st, RUN, "blinding_region")
    assert record["state"] == "blinded" and record["history"][0]["action"] == "blind"
    assert blinding.state(blind_st, RUN)["region"] == "blinding_region"

    events = blind_st.get_array(RUN, ["event_basics", "event_truth"], progress_bar=False)
    np.testing.assert_array_equal(events["time"], outside["time"])
    assert blinding.REGION_FIELD not in events.dtype.names
    df = blind_st.get_df(RUN, "event_basics", keep_columns=["cs1"], progress_bar=False)
    assert list(df.columns) == ["cs1"] and len(df) == len(outside)
    # a dataset holding the run is blinded with it; peaks are another data kind
    blind_st.define_run("_blinding_set", [RUN])
    assert len(blind_st.get_array("_blinding_set", "event_basics", progress_bar=False)) == len(outside)
    assert len(blind_st.get_array(RUN, "peak_basics", progress_bar=False)) == peaks

    with pytest.raises(blinding.BlindingError, match="needs a reason"):
        blinding.unblind(blind_st, RUN, " ")
    with caplog.at_level(logging.WARNING, logger="ddcore.blinding"):
        record = blinding.unblind(blind_st, RUN, "selection and model fixed")
    assert "UNBLINDED" in caplog.text and "selection and model fixed" in caplog.text
    assert [h["action"] for h in record["history"]] == ["blind", "unblind"]
    assert record["history"][1]["reason"] == "selection and model fixed" and record["history"][1]["user"]
    assert len(blind_st.get_array(RUN, "event_basics", progress_bar=False)) == len(whole)
    with pytest.raises(blinding.BlindingError, match="not blinded"):
        blinding.unblind(blind_st, RUN, "again")


def test_only_a_data_type_that_marks_a_region_can_blind(blind_st):
    with pytest.raises(blinding.BlindingError, match="in_blinded_region"):
        blinding.blind(blind_st, RUN, "event_basics")


def test_a_summary_of_a_blinded_runs_events_is_refused(blind_st):
    blinding.blind(blind_st, RUN, "blinding_region")
    try:
        with pytest.raises(blinding.BlindingError, match="summarises its events"):
            blind_st.get_array(RUN, "anomaly_fraction", progress_bar=False)
    finally:
        blinding.unblind(blind_st, RUN, "test done")


def test_a_user_without_a_name_is_recorded_by_number(monkeypatch):
    import getpass

    def nameless():
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert blinding._user().startswith("uid ")
