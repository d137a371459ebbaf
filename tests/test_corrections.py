"""Per-run detector conditions from a versioned corrections store (ddcore.corrections)."""

import numpy as np
import pandas as pd
import pytest
import strax

import ddcore
from ddcore.corrections import CorrectionError, resolve
from ddplugins.records.external import processing_plugins, raw_records_source
from ddplugins.tpc._options import pmt_table

STORE = """
[versions.truth]
[[versions.truth.electron_lifetime_us]]
runs = [0, 9]
value = [300.0, 600.0]     # a strongly drifting lifetime over a science run of ten runs

[versions.flat]
[[versions.flat.electron_lifetime_us]]
runs = [0, 9]
value = 450.0

[versions.short]
[[versions.short.electron_lifetime_us]]
runs = [0, 4]
value = 400.0
"""
OPTIONS = dict(sim_n_events=80, sim_events_per_chunk=80)


def _reference(store, version):
    return f"corrections://electron_lifetime_us?version={version}&store={store}"


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "corrections.toml"
    path.write_text(STORE)
    return path


def test_a_reference_resolves_per_run_and_the_lineage_holds_the_version(tmp_path, store):
    assert resolve(_reference(store, "truth"), "er_sr0_000") == 300.0
    assert resolve(_reference(store, "truth"), "er_sr0_006") == pytest.approx(500.0)
    assert resolve(_reference(store, "truth"), "000009") == 600.0  # numeric run ids too
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), electron_lifetime_us=_reference(store, "truth"),
                        **OPTIONS)
    for run, lifetime in (("er_sr0_000", 300.0), ("er_sr0_009", 600.0)):
        assert st.get_single_plugin(run, "event_basics").electron_lifetime_us == pytest.approx(lifetime)
        assert st.get_single_plugin(run, "raw_records").electron_lifetime_us == pytest.approx(lifetime)
    lineage = st.key_for("er_sr0_000", "event_basics").lineage["event_basics"][2]
    assert lineage["electron_lifetime_us"] == _reference(store, "truth")
    # a new version in the store changes nothing made with another one
    before = str(st.key_for("er_sr0_000", "event_basics"))
    later = '\n[versions.later]\n[[versions.later.electron_lifetime_us]]\nruns = [0, 9]\nvalue = 1.0\n'
    store.write_text(STORE + later)
    assert str(ddcore.derive(st).key_for("er_sr0_000", "event_basics")) == before


def _cs2_over_truth(events):
    good = np.isfinite(events["cs2"]) & (events["true_s2_electrons"] > 100) & (events["drift_time"] > 3e5)
    return np.median(events["cs2"][good] / events["true_s2_electrons"][good])


def test_the_right_version_recovers_the_truth_and_a_wrong_one_does_not(tmp_path, store):
    """Runs simulated with a lifetime drifting from 300 to 600 us: processed with that version,
    the corrected S2 per electron is the same at both ends of the science run; processed with
    one lifetime for all, it is not."""
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), electron_lifetime_us=_reference(store, "truth"),
                        **OPTIONS)
    right = {run: _cs2_over_truth(st.get_array(run, ["event_basics", "event_truth"], progress_bar=False))
             for run in ("er_sr0_000", "er_sr0_009")}
    assert right["er_sr0_000"] == pytest.approx(right["er_sr0_009"], rel=0.05)
    wrong = {}
    for run in ("er_sr0_000", "er_sr0_009"):
        raw = st.get_array(run, "raw_records", progress_bar=False)
        truth = st.get_array(run, "event_truth", progress_bar=False)
        config = {k: v for k, v in st.config.items() if not k.startswith(("sim_", "fax_"))}
        config["electron_lifetime_us"] = _reference(store, "flat")
        flat = strax.Context(storage=[], register=[raw_records_source(raw),
                                                   *processing_plugins(ddcore.get_detector("xenon1t"))],
                             config=config)
        events = flat.get_array(run, "event_basics", progress_bar=False)
        assert len(events) == len(truth)
        wrong[run] = _cs2_over_truth({**{n: events[n] for n in ("cs2", "drift_time")},
                                      "true_s2_electrons": truth["true_s2_electrons"]})
    assert wrong["er_sr0_000"] < 0.8 * right["er_sr0_000"] and wrong["er_sr0_009"] > 1.1 * right["er_sr0_009"]


@pytest.mark.parametrize("reference, run, message", [
    ("short", "er_sr0_007", r"Run 'er_sr0_007': correction 'electron_lifetime_us' version 'short' .*run number 7 is "
                            r"outside the version's validity \(0-4\)"),
    ("v9", "er_sr0_001", r"version 'v9' .*no such version; the store has flat, short, truth"),
])
def test_a_run_a_version_does_not_cover_gets_a_named_error(tmp_path, store, reference, run, message):
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), electron_lifetime_us=_reference(store, reference),
                        **OPTIONS)
    with pytest.raises(CorrectionError, match=message):
        st.get_array(run, "event_basics", progress_bar=False)


def test_malformed_references_and_stores_are_refused(tmp_path, store):
    with pytest.raises(ddcore.ConfigError, match="is not a correction reference"):
        ddcore.context("xenon1t", storage=str(tmp_path), electron_lifetime_us="corrections://electron_lifetime_us",
                       **OPTIONS).key_for("er_sr0_000", "event_basics")
    with pytest.raises(ddcore.ConfigError, match="must be float or int"):
        ddcore.context("xenon1t", storage=str(tmp_path), tpc_radius_cm=_reference(store, "truth"))
    with pytest.raises(CorrectionError, match="outside the version's validity"):
        resolve("corrections://electron_lifetime_us?version=sr0_drift_v1&store=xenon1t", "025420")
    assert resolve("corrections://electron_lifetime_us?version=sr0_drift_v1&store=xenon1t", "er_sr0_999") == 520.0


def test_drift_velocity_and_g1_are_correctable_per_run(tmp_path):
    """Drift velocity and g1 from the store, resolved per run in simulation and processing: each
    run's depth is reconstructed with its own drift velocity; processing with another version
    moves the depths by the ratio of the velocities."""
    store = tmp_path / "corrections.toml"
    store.write_text("""
[versions.v1]
[[versions.v1.drift_velocity_um_per_ns]]
runs = [0, 9]
value = [1.30, 1.60]
[[versions.v1.g1_pe_per_photon]]
runs = [0, 9]
value = 0.10
[versions.v2]
[[versions.v2.drift_velocity_um_per_ns]]
runs = [0, 9]
value = 1.44
[[versions.v2.g1_pe_per_photon]]
runs = [0, 9]
value = 0.15
""")

    def reference(name, version):
        return f"corrections://{name}?version={version}&store={store}"

    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), sim_n_events=40, sim_events_per_chunk=40,
                        drift_velocity_um_per_ns=reference("drift_velocity_um_per_ns", "v1"),
                        g1_pe_per_photon=reference("g1_pe_per_photon", "v1"))
    depth_errors = {}
    for run, velocity in (("er_sr0_000", 1.30), ("er_sr0_009", 1.60)):
        assert st.get_single_plugin(run, "event_basics").drift_velocity_um_per_ns == pytest.approx(velocity)
        assert st.get_single_plugin(run, "raw_records").g1_pe_per_photon == pytest.approx(0.10)
        events = st.get_array(run, ["event_basics", "event_truth"], progress_bar=False)
        good = np.isfinite(events["z"]) & (events["true_z"] < -5)
        depth_errors[run] = np.median(np.abs(events["z"][good] - events["true_z"][good]))
        assert depth_errors[run] < 0.5, "each run's own drift velocity gives its depth"
    lineage = st.key_for("er_sr0_000", "event_basics").lineage["event_basics"][2]
    assert lineage["drift_velocity_um_per_ns"] == reference("drift_velocity_um_per_ns", "v1")
    # the same raw data processed with another version (a plain strax context: the run name
    # stands for the data as simulated): the depth scales with the drift velocity, cS1 with g1
    raw = st.get_array("er_sr0_000", "raw_records", progress_bar=False)
    truth = st.get_array("er_sr0_000", "event_truth", progress_bar=False)
    config = {k: v for k, v in st.config.items() if not k.startswith(("sim_", "fax_"))}
    config["drift_velocity_um_per_ns"] = reference("drift_velocity_um_per_ns", "v2")
    other = strax.Context(storage=[], register=[raw_records_source(raw),
                                                *processing_plugins(ddcore.get_detector("xenon1t"))], config=config)
    events = other.get_array("er_sr0_000", "event_basics", progress_bar=False)
    good = np.isfinite(events["z"]) & (truth["true_z"] < -5)
    np.testing.assert_allclose(np.median(events["z"][good] / truth["true_z"][good]), 1.44 / 1.30, rtol=0.03)


def test_the_tpc_length_is_a_per_run_correction(tmp_path):
    """The drift length from the store, per run: the simulation draws vertices above each run's
    cathode, the events' window reaches each run's longest drift, and cS1 divides by the light
    yield of each run's length; a fiducial volume reaching below a run's cathode is refused."""
    from ddplugins.tpc._options import drift_time_ns, relative_s1_light_yield

    store = tmp_path / "corrections.toml"
    store.write_text("""
[versions.v1]
[[versions.v1.tpc_length_cm]]
runs = [0, 9]
value = [90.0, 96.9]
[versions.short]
[[versions.short.tpc_length_cm]]
runs = [0, 9]
value = 80.0
""")
    reference = f"corrections://tpc_length_cm?version=v1&store={store}"
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), sim_n_events=40, sim_events_per_chunk=40,
                        tpc_length_cm=reference)
    for run, length in (("er_sr0_000", 90.0), ("er_sr0_009", 96.9)):
        for target in ("instructions", "raw_records", "events", "event_basics"):
            assert st.get_single_plugin(run, target).tpc_length_cm == pytest.approx(length), target
        assert st.get_array(run, "instructions", progress_bar=False)["z"].min() >= -length
        events_plugin = st.get_single_plugin(run, "events")
        assert events_plugin.left_ns >= drift_time_ns(length, events_plugin)
        basics = st.get_single_plugin(run, "event_basics")
        events = st.get_array(run, "event_basics", progress_bar=False)
        paired = np.isfinite(events["cs1"]) & np.isfinite(events["z"])
        assert paired.sum() > 20
        yields = relative_s1_light_yield(events["x"][paired], events["y"][paired], -events["z"][paired], basics)
        np.testing.assert_allclose(events["cs1"][paired], events["s1_area"][paired] / yields, rtol=1e-5)
    assert st.key_for("er_sr0_000", "event_basics").lineage["event_basics"][2]["tpc_length_cm"] == reference
    with pytest.raises(CorrectionError, match=r"er_sr0_012.*tpc_length_cm"):
        st.get_array("er_sr0_012", "event_basics", progress_bar=False)
    short = ddcore.derive(st, tpc_length_cm=f"corrections://tpc_length_cm?version=short&store={store}")
    with pytest.raises(ValueError, match=r"er_sr0_001.*fiducial_z_bottom_cm=-83.45 lies below the cathode "
                                         r"\(tpc_length_cm=80"):
        short.get_array("er_sr0_001", "instructions", progress_bar=False)


def test_dead_channels_are_a_per_run_correction(tmp_path):
    """Channels off in some runs: simulation sends them no light and processing excludes them,
    run by run; processing with a version that leaves them on sees them dark all the same, but
    its table counts them alive."""
    store = tmp_path / "corrections.toml"
    store.write_text("""
[versions.v1]
[[versions.v1.dead_channels]]
runs = [0, 4]
channels = [5, 130]
[[versions.v1.dead_channels]]
runs = [5, 9]
channels = []
[versions.bad]
[[versions.bad.dead_channels]]
runs = [0, 9]
channels = [5, "x"]
""")
    reference = f"corrections://dead_channels?version=v1&store={store}"
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), sim_n_events=20, sim_events_per_chunk=20,
                        dead_channels=reference)
    assert resolve(reference, "er_sr0_003") == (5, 130) and resolve(reference, "er_sr0_007") == ()
    for run, dead in (("er_sr0_003", True), ("er_sr0_007", False)):
        pmts = pmt_table(st.get_single_plugin(run, "peaks"))
        assert pmts["alive"][5] != dead and pmts["alive"][130] != dead
        raw = st.get_array(run, "raw_records", progress_bar=False)
        peaks = st.get_array(run, "peaks", progress_bar=False)
        assert ((raw["channel"] == 5).sum() == 0) == dead
        assert (peaks["area_per_channel"][:, [5, 130]].sum() == 0) == dead
    assert "version=v1" in str(st.key_for("er_sr0_003", "peaks").lineage["peaks"][2]["dead_channels"])
    bad = ddcore.context("xenon1t", storage=[], sim_n_events=20,
                         dead_channels=f"corrections://dead_channels?version=bad&store={store}")
    with pytest.raises(CorrectionError, match=r"er_sr0_002.*dead_channels.*channels must be a list of channel numbers"):
        bad.get_array("er_sr0_002", "peaks", progress_bar=False)


def test_per_channel_gains_are_a_per_run_correction_through_the_pmt_table(tmp_path):
    """A file option takes a reference: each run reads its own PMT table (per-channel gains), the
    lineage holds that file's hash, and a run the version does not cover gets a named error."""
    from tests.test_pmt_table import _write_table

    options = dict(sim_n_events=20, sim_events_per_chunk=20, pmt_gain_spread=0)
    nominal = ddcore.context("xenon1t", storage=str(tmp_path / "nominal"), **options)
    pmts = pmt_table(nominal.get_single_plugin("er_sr0_003", "peaks").config)
    rng = np.random.default_rng(5)
    tables = {name: _write_table(tmp_path / f"pmts_{name}.csv", pmts, 116.7 * rng.uniform(0.8, 1.2, len(pmts)))
              for name in ("early", "late")}
    store = tmp_path / "corrections.toml"
    store.write_text("""
[versions.v1]
[[versions.v1.pmt_table]]
runs = [0, 4]
file = "pmts_early.csv"
[[versions.v1.pmt_table]]
runs = [5, 9]
file = "pmts_late.csv"
[versions.numbers]
[[versions.numbers.pmt_table]]
runs = [0, 9]
value = 1.0
""")
    reference = f"corrections://pmt_table?version=v1&store={store}"
    st = ddcore.context("xenon1t", storage=str(tmp_path / "data"), pmt_table_file=reference, **options)
    for run, name in (("er_sr0_003", "early"), ("er_sr0_007", "late"), ("er_sr0_004", "early")):
        for data_type in ("raw_records", "peaks"):  # the simulator and the processing read the same table
            plugin = st.get_single_plugin(run, data_type)
            assert plugin.config["pmt_table_file"] == str(tables[name])
        expected = pd.read_csv(tables[name], comment="#")["gain_adc_per_pe"].to_numpy()
        np.testing.assert_allclose(pmt_table(st.get_single_plugin(run, "peaks").config)["adc_per_pe"], expected,
                                   rtol=1e-4)
    lineage = {run: str(st.key_for(run, "peaks")).split("-")[-1] for run in ("er_sr0_003", "er_sr0_004", "er_sr0_007")}
    assert lineage["er_sr0_003"] == lineage["er_sr0_004"] != lineage["er_sr0_007"]
    events = st.get_array("er_sr0_007", "event_basics", progress_bar=False)
    reference_events = nominal.get_array("er_sr0_007", "event_basics", progress_bar=False)
    assert len(events) == len(reference_events)  # digitised and read back with the run's gains
    assert np.nanmedian(events["s2_area"] / reference_events["s2_area"]) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(CorrectionError, match=r"er_sr0_012.*pmt_table.*outside the version's validity"):
        st.get_single_plugin("er_sr0_012", "peaks")
    numbers = ddcore.derive(st, pmt_table_file=f"corrections://pmt_table?version=numbers&store={store}")
    with pytest.raises(CorrectionError, match=r"er_sr0_003.*holds 1.0, not a file"):
        numbers.get_single_plugin("er_sr0_003", "peaks")
