"""Calibration the way an experiment does it: rn220 and ambe calibration runs and blinded science
runs, found by their run metadata, never by truth labels."""

import json

import numpy as np
import pytest

import ddcore
from ddcore import blinding
from ddplugins.ml.categories import CATEGORIES
from ddplugins.search import calibration_runs, report
from ddplugins.simulation import calibration_sources, populations
from ddplugins.simulation.populations import Population
from tests.helpers import SMALL_RUN_OPTIONS

RN220, AMBE = "rn220_sr0_400000150", "ambe_sr0_400000150"
SIDEBAND, SEARCH_RUN, NOT_BLINDED = "pseudo_sr0_400", "pseudo_sr0_401", "pseudo_sr0_402"
# sideband science runs long enough for tens of ER events in the analysis space, of few populations
SCIENCE = dict(sim_exposure_live_days=20.0, sim_pseudo_components=["er", "accidental", "neutron"])
SIMULATED = ("accidental",)  # the small background of the signal region from the background simulation


def options(st):
    return st.get_single_plugin(RN220, "instructions")


def test_pb212_spectrum_is_nearly_flat_at_low_energy_and_ends_at_q():
    energies = np.linspace(1.0, 15.0, 15)
    shape = calibration_sources.pb212_spectrum(energies)
    assert np.all(shape > 0) and shape.max() / shape.min() < 1.3
    assert calibration_sources.pb212_spectrum([600.0])[0] == 0.0
    # the ground-state branch alone reaches past the excited-state endpoints
    assert calibration_sources.pb212_spectrum([400.0])[0] > 0 == calibration_sources.pb212_spectrum([570.0])[0]


@pytest.fixture(scope="module")
def source_st(tmp_path_factory):
    return ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("calibration_sources")), **SMALL_RUN_OPTIONS)


def test_calibration_sources_draw_their_own_physics(source_st):
    rng = np.random.default_rng(1)
    opts = options(source_st)
    rn220 = calibration_sources.interactions(opts, "rn220", 20000, rng)
    radius = np.hypot(rn220["x"], rn220["y"])
    # uniform in the whole TPC, single-site electronic recoils
    assert np.all(rn220["recoil_type"] == 0) and len(np.unique(rn220["event"])) == 20000
    assert abs(np.mean(radius**2 < (opts.tpc_radius_cm / 2) ** 2) - 0.25) < 0.02
    assert abs(np.mean(rn220["z"]) + opts.tpc_length_cm / 2) < 1.0
    assert np.all(rn220["population"] == Population.ER)
    ambe = calibration_sources.interactions(opts, "ambe", 5000, rng)
    assert np.all(ambe["recoil_type"] == 1) and np.all(ambe["population"] == Population.NEUTRON)
    # neutrons enter near the source (azimuth 0) and mostly scatter several times
    first = np.unique(ambe["event"], return_index=True)[1]
    assert np.mean(ambe["x"][first]) > opts.tpc_radius_cm / 2
    assert np.mean(np.bincount(ambe["event"]) > 1) > 0.5
    assert np.median(ambe["energy"]) > 20  # harder than radiogenic neutrons


def test_calibration_runs_are_runs_of_their_own_and_keep_older_run_numbers(source_st):
    # the runs made before the calibration sources existed start where they did
    assert source_st.get_single_plugin("pseudo_sr0_001", "instructions").run_number == 12
    assert source_st.get_single_plugin("er_sr0_300005000", "instructions").run_number == 3000050000
    numbers = {source_st.get_single_plugin(run, "instructions").run_number
               for run in ("rn220_sr0_001", "ambe_sr0_001", "rn220_sr0_002", "ambe_sr0_002")}
    assert len(numbers) == 4 and min(numbers) > 10 * 999_999_999 + 9
    interactions = source_st.get_array("rn220_sr0_001", "instructions", progress_bar=False)
    assert len(np.unique(interactions["event_number"])) == SMALL_RUN_OPTIONS["sim_n_events"]
    assert source_st.run_metadata("rn220_sr0_001", projection=["source"])["source"] == "rn220"
    listed = source_st.select_runs()
    assert listed.loc[listed["name"] == "rn220_sr0_001", "source"].tolist() == ["rn220"]


@pytest.fixture(scope="module")
def campaign(tiny_models, tmp_path_factory):
    """A store holding an rn220 and an ambe run, a blinded sideband run, a blinded run of the
    search (excluded) and a science run that is not blinded; the calibration made from it."""
    st = ddcore.context("xenon1t", storage=str(tmp_path_factory.mktemp("calibration_runs")),
                        **{**SMALL_RUN_OPTIONS, **SCIENCE, "sim_n_events": 150},
                        cnn_model_file=str(tiny_models["cnn"]), cvae_model_file=str(tiny_models["cvae"]))
    simulated = list(calibration_runs.simulated_background_runs(st, 150, SIMULATED).values())
    for run in (RN220, AMBE, SIDEBAND, SEARCH_RUN, NOT_BLINDED, *simulated):
        st.make(run, list(calibration_runs.TARGETS), progress_bar=False)
    for run in (SIDEBAND, SEARCH_RUN):
        blinding.blind(st, run, calibration_runs.REGION)
    output = tmp_path_factory.mktemp("calibration") / "calibration.json"
    result = calibration_runs.calibrate_from_runs(st, output, tiny_models["cnn"], tiny_models["cvae"],
                                                  exclude=[SEARCH_RUN], simulated_events=150, simulated=SIMULATED)
    return st, result, output


def test_runs_are_found_by_their_run_metadata(campaign):
    st, result, _ = campaign
    assert calibration_runs.runs_with_source(st, "rn220") == [RN220]
    assert calibration_runs.runs_with_source(st, "ambe") == [AMBE]
    # blinded science runs are the sideband; the search's own run and an unblinded run are not
    assert calibration_runs.blinded_runs(st, exclude={SEARCH_RUN}) == [SIDEBAND]
    assert {role: [r["run"] for r in runs] for role, runs in result["runs"].items()} == {
        "rn220": [RN220], "ambe": [AMBE], "sideband": [SIDEBAND]}
    assert result["made_from"] == "calibration_runs"
    assert result["runs"]["sideband"][0]["live_days"] == SCIENCE["sim_exposure_live_days"]


def test_the_er_model_is_scaled_to_the_sideband_in_the_control_region(campaign):
    st, result, _ = campaign
    parts = dict((run, (events, category)) for run, events, category in calibration_runs._events(st, [RN220, SIDEBAND]))
    rn220, rn220_category = parts[RN220]
    sideband, sideband_category = parts[SIDEBAND]
    space = CATEGORIES.index("analysis_space")
    assert not np.any(sideband[blinding.REGION_FIELD])  # the blinded read hides the signal region
    control = np.sum((rn220_category == space) & ~rn220[blinding.REGION_FIELD])
    reference_days = options(st).sim_exposure_live_days
    expected = (reference_days / SCIENCE["sim_exposure_live_days"] * np.sum(sideband_category == space) / control
                * np.sum(rn220[blinding.REGION_FIELD]))
    found = result["normalisation"]
    assert found["er_signal_region_expected"] == pytest.approx(expected)
    assert 0 < found["er_relative_error"] < 1
    # the small backgrounds of the signal region: the simulation's region events at the physics rate
    (run,) = calibration_runs.simulated_background_runs(st, 150, SIMULATED).values()
    ((_, accidental, _),) = calibration_runs._events(st, [run])
    in_region = np.sum(accidental[blinding.REGION_FIELD])
    produced = populations.expected_counts(options(st), live_days=reference_days)["accidental"]
    assert in_region > 0
    assert found["simulated_signal_region_expected"] == {"accidental": pytest.approx(produced * in_region / 150)}
    # every category with sideband events is calibrated, the analysis space with the signal region
    assert result["categories"]["analysis_space"]["n_events"] > np.sum(sideband_category == space)
    assert all(result["categories"][name]["statistic_quantiles"] is not None
               for i, name in enumerate(CATEGORIES) if np.any(sideband_category == i))


def test_the_calibration_scores_a_run(campaign, tiny_models):
    st, result, output = campaign
    scored = ddcore.derive(st, anomaly_calibration_file=str(output))
    scores = scored.get_array(NOT_BLINDED, ["event_basics", "anomaly_scores"], progress_bar=False)
    calibrated = np.array([result["categories"][name]["statistic_quantiles"] is not None for name in CATEGORIES])
    # a score wherever the sideband and calibration runs calibrated the event's category, none elsewhere
    assert len(scores) and np.any(calibrated[scores["category"]])
    np.testing.assert_array_equal(np.isfinite(scores["anomaly_score"]), calibrated[scores["category"]])
    assert json.loads(output.read_text())["made_from"] == "calibration_runs"
    # the report says what the calibration was made from
    record = report._calibration_record(scored, NOT_BLINDED)
    assert record["made_from"] == "calibration_runs" and record["runs"]["sideband"][0]["run"] == SIDEBAND
    assert record["normalisation"]["er_signal_region_expected"] > 0


def test_a_missing_background_simulation_run_gets_a_named_error(campaign, tiny_models, tmp_path):
    st, _, _ = campaign
    missing = "no background simulation run 'cevns_sr0_400000150'"
    with pytest.raises(calibration_runs.CalibrationRunError, match=missing):
        calibration_runs.calibrate_from_runs(st, tmp_path / "c.json", tiny_models["cnn"], tiny_models["cvae"],
                                             exclude=[SEARCH_RUN], simulated_events=150, simulated=("cevns",))
    assert not (tmp_path / "c.json").exists()


def test_the_wall_in_the_signal_region_from_a_walltail_run(campaign):
    st, _, _ = campaign
    # electrons shifted far inward, so that 150 wall events put some in the fiducial signal region
    wide = ddcore.derive(st, wall_inward_shift_cm=10.0)
    tail_run = "walltail_sr0_400000150"
    assert calibration_runs.simulated_background_runs(wide, 150, ("wall", "accidental"), wall_tail_events=150) == {
        "wall": tail_run, "accidental": "accidental_sr0_400000150"}
    reference_days = options(st).sim_exposure_live_days
    simulation = calibration_runs._background_simulation(wide, 5000, ("wall",), wall_tail_events=150)
    with pytest.raises(calibration_runs.CalibrationRunError, match=f"no background simulation run '{tail_run}'"):
        calibration_runs._simulated_in_region(simulation, reference_days)
    wide.make(tail_run, list(calibration_runs.TARGETS), progress_bar=False)
    ((events, category, weight),), expected = calibration_runs._simulated_in_region(simulation, reference_days)
    plugin = wide.get_single_plugin(tail_run, "instructions")
    share = populations.wall_tail_share(plugin)
    assert 0.5 < share < 1  # the tail of a 10 cm half-normal beyond the fiducial radius less the margin
    produced = populations.expected_counts(plugin, live_days=reference_days)["wall"]
    assert len(events) > 0 and np.all(events[blinding.REGION_FIELD])
    # each tail event stands for 1 / share wall events: weighted by the wall rate times the share
    np.testing.assert_allclose(weight, produced * share / 150)
    assert expected == {"wall": pytest.approx(produced * share * len(events) / 150)}
    ((_, tail, _),) = calibration_runs._events(wide, [tail_run])
    assert len(events) == np.sum(tail[blinding.REGION_FIELD])


def test_a_store_without_calibration_runs_gets_a_named_error(tiny_models, tmp_path):
    empty = ddcore.context("xenon1t", storage=str(tmp_path / "store"), **SMALL_RUN_OPTIONS)
    with pytest.raises(calibration_runs.CalibrationRunError, match="no rn220 run of detector 'xenon1t'"):
        calibration_runs.calibrate_from_runs(empty, tmp_path / "c.json", tiny_models["cnn"], tiny_models["cvae"])


def test_closure_counts_flags_against_the_calibrations_acceptance(campaign):
    st, result, output = campaign
    scored = ddcore.derive(st, anomaly_calibration_file=str(output))
    found = calibration_runs.flag_closure(scored, [NOT_BLINDED])
    scores = scored.get_array(NOT_BLINDED, "anomaly_scores", progress_bar=False)
    assert found["flagged"] == int(scores["is_anomalous"].sum())
    for i, name in enumerate(CATEGORIES):
        row = found["categories"][name]
        assert row["events"] == int(np.sum(scores["category"] == i))
        assert row["expected"] == pytest.approx(row["events"] * row["acceptance"])
    assert found["expected"] == pytest.approx(sum(r["expected"] for r in found["categories"].values()))
    assert 0 < found["p_excess"] <= 1
    # a blinded run hides flags: refused
    with pytest.raises(calibration_runs.CalibrationRunError, match=f"Run '{SIDEBAND}' is blinded"):
        calibration_runs.flag_closure(scored, [SIDEBAND])


def test_the_likelihoods_er_background_from_the_calibration_runs(campaign):
    st, _, output = campaign
    scored = ddcore.derive(st, anomaly_calibration_file=str(output))

    def discriminant(events):
        return np.log10(events["cs2_bottom"] / events["cs1"])

    found = calibration_runs.er_template(scored, discriminant, True, exclude=[SEARCH_RUN])
    assert found["runs"] == {"rn220": [RN220], "sideband": [SIDEBAND]}
    parts = dict((run, (events, category)) for run, events, category in calibration_runs._events(st, [RN220, SIDEBAND]))
    rn220, rn220_category = parts[RN220]
    space = CATEGORIES.index("analysis_space")
    in_space = rn220_category == space
    control = in_space & ~rn220[blinding.REGION_FIELD]
    sideband_in_space = np.sum(parts[SIDEBAND][1] == space)
    assert found["per_live_day"] == pytest.approx(
        sideband_in_space / control.sum() * in_space.sum() / SCIENCE["sim_exposure_live_days"])
    np.testing.assert_allclose(found["values"], discriminant(rn220[in_space]))
    assert len(found["scores"]) == in_space.sum()
    # the likelihoods take it: its count per live day, its error the rate nuisance; the WIMP as it was
    plugin = options(st)
    rng = np.random.default_rng(0)
    values = {"er": (100, rng.normal(1.0, 0.2, 40)), "wimp": (100, rng.normal(0.0, 0.2, 40))}
    search = report.SearchTemplates(plugin, discriminant, values, None, np.array([-np.inf, 0.5, np.inf]),
                                    er_calibration=found)
    produced = report.populations.expected_counts(plugin, live_days=10.0)
    signal, backgrounds = search.templates(produced, search.values, search.edges)
    er = next(b for b in backgrounds if b.name == "er")
    assert er.expected.sum() == pytest.approx(10.0 * found["per_live_day"])
    assert search.expected_in_space(produced)["er"] == pytest.approx(10.0 * found["per_live_day"])
    assert er.rate_uncertainty == found["relative_error"] and er.simulated.sum() == in_space.sum()
    assert signal.expected.sum() == pytest.approx(produced["wimp"] * 40 / 100)
    # without calibration runs in the store: a named error
    empty = ddcore.context("xenon1t", storage=str(st.storage[0].path) + "_empty", **SMALL_RUN_OPTIONS)
    with pytest.raises(calibration_runs.CalibrationRunError, match="no rn220 run of detector 'xenon1t' for the ER"):
        calibration_runs.er_template(empty, discriminant, False)


def test_the_campaign_option_takes_the_background_simulation_events():
    import argparse

    from ddplugins.commands.search import _campaign

    assert _campaign("20000:5000:6") == (20000, 5000, 6, calibration_runs.SIMULATED_EVENTS)
    assert _campaign("20000:5000:6:800") == (20000, 5000, 6, 800)
    for wrong in ("20000:5000", "1:2:3:4:5", "1:0:3", "a:b:c"):
        with pytest.raises(argparse.ArgumentTypeError, match="RN220_EVENTS:AMBE_EVENTS:SIDEBAND_RUNS"
                           if wrong != "1:0:3" else "at least 1"):
            _campaign(wrong)
