"""raw_records -> peaks -> events -> hitpatterns, waveforms and images."""

import numpy as np
import pytest
import strax

import ddcore
from ddplugins.analyses.validation import detection_efficiency
from ddplugins.events.rasterize import EventRasterizer
from ddplugins.records.external import processing_plugins, raw_records_source
from tests.helpers import ER_RUN, WIMP_RUN
from ddplugins.tpc._options import pmt_table


def test_every_event_with_s1_and_s2_is_found(st, er_events):
    instructions = st.get_array(ER_RUN, "instructions", progress_bar=False)
    efficiency = detection_efficiency(er_events, instructions, np.array([0, 3, 15.0]))
    # above 3 keV ER every S1 has >= 3 PMTs and every S2 is above the trigger
    assert efficiency["efficiency"].iloc[1] == 1.0
    assert er_events["n_instructions"].max() == 1, "an event window held two interactions"


def test_corrected_signals_track_the_truth(er_events):
    good = er_events[np.isfinite(er_events["cs1"]) & (er_events["true_s1_photons"] > 50)]
    assert np.corrcoef(good["cs1"], good["true_s1_photons"])[0, 1] > 0.9
    assert np.corrcoef(good["cs2"], good["true_s2_electrons"])[0, 1] > 0.95
    relative = good["ces"] / good["true_energy"]
    assert np.median(relative) == pytest.approx(1.0, abs=0.1)


def test_position_resolution(er_events):
    good = er_events[np.isfinite(er_events["cs2"])]
    xy_error = np.hypot(good["x"] - good["true_x"], good["y"] - good["true_y"])
    assert np.median(xy_error) < 1.0
    assert np.std(good["z"] - good["true_z"]) < 0.5


def test_peaks_are_classified(st):
    basics = st.get_array(ER_RUN, "peak_basics", progress_bar=False)
    s1, s2 = basics[basics["type"] == 1], basics[basics["type"] == 2]
    assert np.median(s1["rise_time"]) < np.median(s2["rise_time"])
    assert np.median(s2["area"]) > 10 * np.median(s1["area"])


def test_image_shapes_and_range(st):
    images = st.get_array(ER_RUN, "event_images", progress_bar=False)
    assert images["hit_image"].shape[1:] == (50, 100)
    assert images["peak_image"].shape[1:] == (50, 100)
    assert images["hitpeak_image"].shape[1:] == (75, 75, 3)
    for name in ("hit_image", "peak_image", "hitpeak_image"):
        assert images[name].dtype == np.float32
        assert images[name].min() >= 0 and images[name].max() <= 1
        assert images[name].max() > 0.3


def test_images_differ_between_er_and_wimp(st, er_events, wimp_events):
    er_images = st.get_array(ER_RUN, "event_images", progress_bar=False)
    wimp_images = st.get_array(WIMP_RUN, "event_images", progress_bar=False)
    # compare events of similar S1 so the difference is the S2/S1 ratio, not the energy
    er_sel = (er_events["cs1"] > 10) & (er_events["cs1"] < 40)
    wimp_sel = (wimp_events["cs1"] > 10) & (wimp_events["cs1"] < 40)
    er_mean = er_images["hit_image"][er_sel.to_numpy()][:, :, 50:].mean()
    wimp_mean = wimp_images["hit_image"][wimp_sel.to_numpy()][:, :, 50:].mean()
    assert er_mean > wimp_mean * 1.05, "ER S2 patterns should be brighter at equal S1"


def test_image_kind_and_size_options(make_context):
    st = make_context(image_kinds=("hitpeak",), hitpeak_image_size=32)
    images = st.get_array(ER_RUN, "event_images", progress_bar=False)
    assert images.dtype.names == ("time", "endtime", "hitpeak_image")
    assert images["hitpeak_image"].shape[1:] == (32, 32, 3)
    with pytest.raises(ValueError, match="image_kinds"):
        make_context(image_kinds=("photo",)).get_array(ER_RUN, "event_images")


def test_rasterizer_draws_a_pmt_where_it_is(st):
    pmts = pmt_table(st.get_single_plugin(ER_RUN, "event_images").config)
    rasterizer = EventRasterizer(pmts, 7.95, 8.0, 100.0, 1e4, (1e-3, 1e3))
    patterns = np.zeros(1, [("s1_hitpattern", np.float32, len(pmts)), ("s2_hitpattern", np.float32, len(pmts))])
    patterns["s2_hitpattern"][0, 0] = 1e4  # the central top PMT at full scale
    image = rasterizer.hit_images(patterns, 100, 200)[0]
    assert image[50, 150] == pytest.approx(1.0)
    assert image[:, :100].max() == 0 and image[5, 105] == 0


def test_real_strax_raw_records_go_through_the_chain(st):
    """raw_records from any source with the standard dtype: here, the simulated records served
    in arbitrary 0.7 s chunks by a plain strax source plugin, in a context that knows only the
    processing plugins."""
    raw = st.get_array(ER_RUN, "raw_records", progress_bar=False)
    detector = ddcore.get_detector("xenon1t")
    other = strax.Context(
        storage=[], register=[raw_records_source(raw, chunk_duration_ns=int(0.7e9)), *processing_plugins(detector)],
        config={"pmt_gain_spread": st.config["pmt_gain_spread"]},  # the detector's gains; the rest as defaults
    )
    basics = other.get_array("external_000", "event_basics", progress_bar=False)
    ours = st.get_array(ER_RUN, "event_basics", progress_bar=False)
    assert len(basics) == len(ours)
    np.testing.assert_allclose(basics["cs2"], ours["cs2"], rtol=1e-5)


def _synthetic_raw_records():
    """Three pulses on channel 0: one record at 0, a two-fragment pulse at 10 us whose second
    fragment starts exactly where the first ends (11.1 us), one record at 50 us."""
    raw = np.zeros(4, strax.raw_record_dtype(110))
    raw["channel"], raw["dt"], raw["baseline"] = 0, 10, 16000
    raw["time"] = [0, 10_000, 11_100, 50_000]
    raw["length"] = [110, 110, 40, 110]
    raw["pulse_length"] = [110, 150, 150, 110]
    raw["record_i"] = [0, 0, 1, 0]
    raw["data"] = 16000
    raw["data"][:, 50:60] = 15900  # a 100 ADC pulse in every record
    raw["data"][2, 40:] = 0
    return raw


def test_array_source_never_cuts_between_the_fragments_of_a_pulse():
    from ddplugins.records.external import clean_chunk_edges

    raw = _synthetic_raw_records()
    # a cut planned exactly where the continuation fragment starts moves to the next pulse
    assert clean_chunk_edges(raw, 11_100) == [0, 50_000, 51_101]
    assert clean_chunk_edges(raw, 5_000) == [0, 10_000, 50_000, 51_101]
    detector = ddcore.get_detector("xenon1t")
    records = {}
    for duration in (None, 11_100, 5_000):
        other = strax.Context(storage=[], register=[raw_records_source(raw, chunk_duration_ns=duration),
                                                    *processing_plugins(detector)])
        records[duration] = other.get_array("external_000", "records", progress_bar=False)
    for duration in (11_100, 5_000):
        np.testing.assert_array_equal(records[duration], records[None])


def test_two_arrays_under_one_run_name_never_share_stored_results(tmp_path):
    raw = _synthetic_raw_records()
    changed = raw.copy()
    changed["data"][0, 50:60] = 15800
    detector = ddcore.get_detector("xenon1t")

    def context(array):
        return strax.Context(storage=[ddcore.ZarrStore(str(tmp_path))],
                             register=[raw_records_source(array), *processing_plugins(detector)])

    first, second = context(raw), context(changed)
    assert str(first.key_for("run_000", "records")) != str(second.key_for("run_000", "records"))
    assert str(context(raw.copy()).key_for("run_000", "records")) == str(first.key_for("run_000", "records"))
    stored = first.get_array("run_000", "records", progress_bar=False)
    assert first.is_stored("run_000", "records") and not second.is_stored("run_000", "records")
    areas = second.get_array("run_000", "records", progress_bar=False)["area"]
    assert areas[0] == 2 * stored["area"][0]


def test_numeric_run_ids_are_found_beside_simulated_runs(tmp_path):
    """XENONnT names runs by six-digit numbers (025420): scan_runs, list_available and
    select_runs find them, fuzzy contexts included, beside the store's simulated runs."""
    import datetime

    ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=5).make("er_sr0_000", "instructions",
                                                                          progress_bar=False)
    st = ddcore.context("xenon1t", storage=str(tmp_path))
    st.register(raw_records_source(_synthetic_raw_records()))
    for run in ("025420", "000007"):
        st.storage[0].write_run_metadata(run, dict(start=datetime.datetime(2024, 1, 1),
                                                   end=datetime.datetime(2024, 1, 1, 1), mode="tpc"))
        st.make(run, "peaks", progress_bar=False)
    assert {"025420", "000007", "er_sr0_000"} <= set(st.scan_runs()["name"])
    assert st.list_available("peaks") == ["000007", "025420"]
    assert list(st.select_runs(run_id="025420")["number"]) == [25420]
    assert list(st.select_runs(available="peaks")["name"]) == ["000007", "025420"]
    fuzzy = st.new_context(fuzzy_for=("peaks",))
    assert fuzzy.list_available("peaks") == ["000007", "025420"]
