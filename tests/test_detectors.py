"""XENONnT as a second TPC and NEWSdm as a detector that is not a TPC."""

import numpy as np
import pandas as pd
import pytest

import ddcore
import ddcore.models
from ddcore.plugins import UnknownRunError
from ddplugins.newsdm import cnn3d, simulation
from ddplugins.tpc._options import pmt_table
from tests.helpers import SHARED_DATA

NT_OPTIONS = dict(sim_n_events=40, sim_events_per_chunk=20, sim_exposure_live_days=0.3)


def test_registry_lists_all_detectors():
    assert {"xenon1t", "xenonnt", "newsdm"} <= set(ddcore.detectors())


@pytest.fixture(scope="module")
def nt(tmp_path_factory):
    # a store per detector: run names such as er_sr0_000 exist for both
    return ddcore.context("xenonnt", storage=str(tmp_path_factory.mktemp("nt_store")), **NT_OPTIONS)


def test_xenonnt_anomaly_scores_on_a_small_run(nt):
    scores = nt.get_df("pseudo_sr0_000", "anomaly_scores", progress_bar=False)
    basics = nt.get_df("pseudo_sr0_000", "event_basics", progress_bar=False)
    assert len(scores) == len(basics) > 20
    assert scores["anomaly_score"].notna().all()
    assert nt.get_single_plugin("pseudo_sr0_000", "peaks").n_pmts == 494


def test_xenonnt_lineage_differs_from_xenon1t(nt, tmp_path):
    x1t = ddcore.context("xenon1t", storage=str(tmp_path), **NT_OPTIONS)
    for data_type in ("raw_records", "event_images", "anomaly_scores"):
        assert nt.key_for("er_sr0_000", data_type).lineage_hash != x1t.key_for("er_sr0_000", data_type).lineage_hash


@pytest.mark.skipif(not (SHARED_DATA / "xenonnt").exists(), reason="reference data absent")
def test_xenonnt_pmt_layout_matches_reference(nt):
    reference = pd.read_csv(SHARED_DATA / "xenonnt" / "pmt_positions.csv", comment="#")
    pmts = pmt_table(nt.get_single_plugin("er_sr0_000", "peaks").config)
    for code, name in ((0, "top"), (1, "bottom")):
        ours, theirs = pmts[pmts["array"] == code], reference[reference["array"] == name]
        assert len(ours) == len(theirs)
        np.testing.assert_allclose(np.sort(np.hypot(ours["x"], ours["y"])),
                                   np.sort(np.hypot(theirs["x_cm"], theirs["y_cm"])), atol=0.05)


def test_periodic_padding_puts_image_one_after_image_eight():
    stacks = np.random.default_rng(1).random((3, 8, 40, 40), dtype=np.float32)
    padded = simulation.periodic_stack(stacks)
    assert padded.shape == (3, 9, 40, 40)
    np.testing.assert_array_equal(padded[:, 8], stacks[:, 0])
    np.testing.assert_array_equal(padded[:, :8], stacks)
    assert cnn3d.model_input(stacks).shape == (3, 9, 40, 40, 1)


def test_rotation_keeps_the_stack_aligned():
    from scipy import ndimage

    rng = np.random.default_rng(2)
    stack = simulation.simulate_tracks(rng, [0], [100.0], _news_params())
    rotated = simulation.rotate_stacks(np.random.default_rng(3), stack)
    angle = np.random.default_rng(3).uniform(0, 360)
    for k in range(8):  # every image turned by the same angle
        np.testing.assert_allclose(
            rotated[0, k], ndimage.rotate(stack[0, k], angle, axes=(-1, -2), reshape=False, order=1), atol=1e-6
        )


def _news_params():
    st = ddcore.context("newsdm", storage=[])
    plugin = st.get_single_plugin("mixed_run1_000", "track_images")
    return plugin.config_values()


def test_track_images_are_reproducible_and_labelled():
    st = ddcore.context("newsdm", storage=[], newsdm_n_tracks=60, newsdm_tracks_per_chunk=30)
    a = st.get_array("mixed_run1_005", "track_images", progress_bar=False)
    b = ddcore.context("newsdm", storage=[], newsdm_n_tracks=60, newsdm_tracks_per_chunk=30).get_array(
        "mixed_run1_005", "track_images", progress_bar=False)
    np.testing.assert_array_equal(a["polarization_images"], b["polarization_images"])
    assert a["polarization_images"].shape == (60, 8, 40, 40)
    assert set(np.unique(a["track_class"])) == {0, 1, 2}
    np.testing.assert_array_equal(a["label"], a["track_class"] == 0)
    with pytest.raises(UnknownRunError, match="Unknown run .er_sr0_000.*carbon30"):
        st.get_array("er_sr0_000", "track_images")


def test_tiny_3d_cnn_separates_signal_from_fog(tmp_path):
    from sklearn.metrics import roc_auc_score

    st = ddcore.context("newsdm", storage=[], newsdm_n_tracks=400, newsdm_tracks_per_chunk=400)
    train = st.get_array("mixed_run1_010", "track_images", progress_bar=False)
    train = train[train["track_class"] != 2]
    model, _ = cnn3d.train(train["polarization_images"], train["label"].astype(np.float32),
                           train["polarization_images"][:20], train["label"][:20].astype(np.float32),
                           epochs=4, batch_size=32, rotations=True)
    path = tmp_path / "tiny.keras"
    model.save(path)
    scored = ddcore.context("newsdm", storage=[], newsdm_n_tracks=300, newsdm_model_file=str(path))
    test = scored.get_array("mixed_run1_011", ["track_images", "signal_probability"], progress_bar=False)
    test = test[test["track_class"] != 2]
    assert roc_auc_score(test["label"], test["signal_probability"]) > 0.6


def test_rejection_curve_helpers():
    signal = np.linspace(0.5, 1, 100)
    background = np.r_[np.zeros(99_980), np.full(20, 0.9)]  # 20 background tracks look like signal
    efficiency, measurable = cnn3d.efficiency_at_rejection(signal, background, 1e4)
    # 10 may pass at 1e4 rejection: the cut sits at 0.9, keeping the 20% of signal above it
    assert measurable and efficiency == pytest.approx(0.2, abs=0.02)
    rows = cnn3d.rejection_curve(signal, background, efficiencies=[0.5])
    assert rows[0][1] == pytest.approx(100_000 / 20)


def test_a_model_of_another_detector_is_refused():
    st = ddcore.context("xenon1t", storage=[], sim_n_events=10,
                        cnn_model_file="package:ddplugins.xenonnt/models/xenonnt_cnn_hitpeak.keras")
    with pytest.raises(ddcore.models.ModelFileError, match="trained for detector 'xenonnt'.*for 'xenon1t'"):
        st.get_array("er_sr0_000", "cnn_scores", progress_bar=False)
