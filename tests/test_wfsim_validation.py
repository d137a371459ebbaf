"""The WFSim validation's own machinery (benchmarks/wfsim_validation.py; ``make validate-wfsim``
runs it with wfsim and straxen in their environment): WFSim's public configuration read as WFSim
needs it, and processed events matched to WFSim's truth."""

import os

import numpy as np
import pandas as pd
import pytest

from benchmarks import wfsim_validation as validation


def test_wfsims_public_configuration_is_read_with_a_unit_single_pe_gain(tmp_path):
    if not os.path.isdir(validation.SHARED):
        pytest.skip("../shared/data/wfsim is absent")
    path, config = validation.wfsim_config(str(tmp_path))
    assert config["tpc_length"] == 97 and config["s1_pattern_map"][0] == "constant dummy"
    assert config["url_base"] == str(tmp_path) and os.path.exists(path)
    spe = pd.read_csv(tmp_path / config["photon_area_distribution"], index_col=0)
    weights = spe["0"].to_numpy(float)
    assert np.sum(spe["charge"] * weights) / np.sum(weights) == pytest.approx(1.0)
    assert len(spe.columns) == 1 + validation.N_TPC_PMTS  # one distribution per channel
    detector = validation._detector(str(tmp_path))
    assert detector["drift_velocity_um_per_ns"] == pytest.approx(1.335)
    assert detector["electron_lifetime_us"] == pytest.approx(650.0)


def test_events_are_matched_to_the_truth_of_their_slot():
    names = ["event_number", "type", "time", "recoil", "n_photon", "raw_area", "t_mean_photon", "t_first_photon",
             "t_last_photon"]
    truth = np.zeros(6, [(n, np.float64) for n in names])
    for i in range(3):
        t0 = 4_000_000 * (i + 1)
        truth[2 * i] = (i, 1, t0, 7, 20, 25.0, t0 + 50, t0, t0 + 200)
        truth[2 * i + 1] = (i, 2, t0, 7, 500, 800.0, t0, t0 + 100_000, t0 + 105_000)
    events = {
        # event 0: right S1 and S2; event 1: an S1 from elsewhere; event 2: not found
        "s1_center_time": np.array([4_000_060, 8_000_900]), "s2_center_time": np.array([4_102_000, 8_102_000]),
        "s2_area": np.array([790.0, 810.0]), "s1_area": np.array([24.0, 3.0]),
    }
    row, s1_ok, s2_ok, s1, s2 = validation.match(events, truth)
    assert row.tolist() == [0, 1, -1]
    assert s1_ok.tolist() == [True, False, False]
    assert s2_ok.tolist() == [True, True, False]
    assert validation._clopper_pearson(0, 10)[0] == 0.0 and validation._clopper_pearson(10, 10)[1] == 1.0
