"""Bad input gets a named error: option and value, file and row, run and data type."""

import json

import pytest

import ddcore
from ddcore.config import ConfigError
from ddplugins.simulation.fax_csv import FaxCSVError

HEADER = "instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n"


def _make(tmp_path, run_id="er_sr0_000", target="instructions", **options):
    st = ddcore.context("xenon1t", storage=[], **{"sim_n_events": 10, **options})
    return st.get_array(run_id, target, progress_bar=False)


OPTION_CASES = [
    ("negative sim_n_events", dict(sim_n_events=-5), r"'sim_n_events' = -5: must be 1 <= value"),
    ("zero sim_events_per_chunk", dict(sim_events_per_chunk=0), r"'sim_events_per_chunk' = 0: must be 1 <= value"),
    ("negative electron lifetime", dict(electron_lifetime_us=-450.0),
     r"'electron_lifetime_us' = -450.0: must be 0 < value"),
    ("zero electron lifetime", dict(electron_lifetime_us=0.0), r"'electron_lifetime_us' = 0.0: must be 0 < value"),
    ("efficiency above 1", dict(extraction_efficiency=1.2), r"'extraction_efficiency' = 1.2: must be 0 < value <= 1"),
    ("probability below 0", dict(p_double_pe_emission=-0.1), r"'p_double_pe_emission' = -0.1: must be 0 <= value < 1"),
    ("g1 above 1", dict(g1_pe_per_photon=1.5), r"'g1_pe_per_photon' = 1.5: must be 0 < value <= 1"),
    ("unknown timing model", dict(s1_timing_model="fast"), r"'s1_timing_model' = 'fast': must be one of"),
]


@pytest.mark.parametrize("options, message", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_out_of_range_options_are_named(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        _make(tmp_path, target="raw_records", **options)


def _fax(tmp_path, content, mode="w"):
    path = tmp_path / "events.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return _make(tmp_path, run_id="fax_sr0_000", fax_instructions_file=str(path))


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    data = _fax(tmp_path, ("\ufeff" + HEADER + "0,ER,0,0,10,50,20,10000\n").encode("utf-8"))
    assert data["s1_photons"][0] == 50


@pytest.mark.parametrize("content, message", [
    ((HEADER + "0,ER,0,0,10,50,20,10000\n").encode("utf-16"), r"not UTF-8 text"),
    (HEADER + "0,ER,0,0,10,3000000000,20,0\n", r"row 2: s1_photons = 3000000000 is beyond the int32 range"),
    (HEADER + "0,ER,0,0,10,50,20,10000\n0,NR,60,0,10,50,20,0\n", r"row 3: vertex .* is outside the TPC"),
    (HEADER + "0,ER,0,0,150,50,20,0\n", r"row 2: vertex .* is outside the TPC"),
    (HEADER + "0,ER,0,0,10,50.7,20,10000\n", r"row 2: s1_photons must be a whole number, got '50.7'"),
    (HEADER + "0,ER,0,0,10,50,20,10000.5\n", r"row 2: t must be a whole number"),
    (HEADER + "0,ER,0,0,10,50,20,10000\n1,ER,0,0,10,50,20,10000\n0,NR,0,0,20,50,20,10000\n",
     r"row 4: instruction 0 was already used in row 2 with other instructions between"),
], ids=["not utf-8", "beyond int32", "outside radius", "below cathode", "fractional photons", "fractional time",
        "scattered event rows"])
def test_bad_fax_csv_names_file_and_row(tmp_path, content, message):
    with pytest.raises(FaxCSVError, match=message):
        _fax(tmp_path, content)


def test_non_utf8_toml_names_the_file(tmp_path):
    path = tmp_path / "detector.toml"
    path.write_bytes("[physics]\nelectron_lifetime_us = 450.0 # \xb5s\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"detector.toml: not UTF-8 text"):
        ddcore.context("xenon1t", storage=[], config_file=path, preset=None)


def test_store_naming_a_file_is_refused(tmp_path):
    path = tmp_path / "store.txt"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"store.txt is a file, not a folder"):
        ddcore.context("xenon1t", storage=str(path))


GOOD_DENSITY = {"features": ["log10_s2_area"], "fill": [2.0], "center": [2.0], "scale": [0.5], "weights": [1.0],
                "means": [[0.0]], "precision_cholesky": [[[1.0]]]}


def _calibration(**changes):
    from ddplugins.ml import calibration as cal

    levels = cal.LEVELS.tolist()
    category = {"n_events": 10, "n_effective": 10.0, "plane_mse_quantiles": [levels, None, levels],
                "statistic_quantiles": levels, "density": GOOD_DENSITY, "log_density_quantiles": levels}
    content = {"format_version": cal.FORMAT_VERSION, "cnn_model_sha256": "x", "cvae_model_sha256": "y",
               "cvae_beta": 1e-4, "levels": levels, "cnn_likelihood_ratio": {"logit": [0, 1], "log_ratio": [0, 1]},
               "categories": {name: dict(category) for name in ("no_s1", "small_s1", "analysis_space", "other")}}
    content.update(changes)
    return json.dumps(content)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"is not valid JSON"),
    (json.dumps({"cnn_model_sha256": "x"}), r"has format 1, this version reads 3"),
    (_calibration(cvae_beta=None) .replace('"cvae_beta": null, ', ""), r"lacks cvae_beta"),
    (_calibration(categories={}), r"lacks categories.no_s1, categories.small_s1"),
    (_calibration(categories={name: {"n_events": 1, "n_effective": 1.0, "plane_mse_quantiles": [],
                                     "statistic_quantiles": [3, 2, 1], "density": GOOD_DENSITY}
                              for name in ("no_s1", "small_s1", "analysis_space", "other")}),
     r"categories.no_s1.statistic_quantiles must be an increasing list"),
    (_calibration(categories={name: {"n_events": 1, "n_effective": 1.0, "plane_mse_quantiles": [],
                                     "density": dict(GOOD_DENSITY, means=[[0.0, 1.0]])}
                              for name in ("no_s1", "small_s1", "analysis_space", "other")}),
     r"categories.no_s1: background density is malformed \(shapes of means\)"),
], ids=["malformed", "old format", "incomplete", "no categories", "not quantiles", "bad density"])
def test_bad_calibration_file_is_named(tmp_path, content, message):
    from ddplugins.ml.calibration import read_calibration

    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"calibration.json.*{message}|{message}"):
        read_calibration(path)


def test_cvae_beta_other_than_the_calibrations_is_refused(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=20, cvae_beta=1e-3)
    with pytest.raises(ConfigError, match=r"made with cvae_beta=0.0001, this context sets cvae_beta=0.001"):
        st.get_array("er_sr0_000", "anomaly_scores", progress_bar=False)
