"""Raw data as a real detector's: dark counts, afterpulses, gain spread, saturation, lone hits."""

import numpy as np
import pytest

import ddcore
from ddplugins.tpc._geometry import relative_gains
from ddplugins.tpc._options import channel_gains, pmt_table

RUN = "er_sr0_005"
DARK_ONLY = dict(sim_n_events=4, sim_events_per_chunk=2, sim_event_spacing_us=200_000,
                 afterpulse_probability=0, photoionization_probability=0)


def in_memory(**options):
    return ddcore.context("xenon1t", storage=[], **{"sim_n_events": 30, "sim_events_per_chunk": 15, **options})


def test_the_detectors_simulate_realistic_raw_data_by_default():
    for detector in ("xenon1t", "xenonnt"):
        config = ddcore.context(detector, storage=[]).config
        assert config["pmt_dark_count_rate_hz"] > 0 and config["afterpulse_probability"] > 0
        assert config["photoionization_probability"] > 0 and config["pmt_gain_spread"] > 0


def test_dark_counts_are_lone_hits_at_the_configured_rate():
    st = in_memory(**DARK_ONLY, pmt_dark_count_rate_hz=50.0)
    raw = st.get_array(RUN, "raw_records", progress_bar=False)
    lone = st.get_array(RUN, "lone_hits", progress_bar=False)
    peaks = st.get_array(RUN, "peaks", progress_bar=False)
    n_channels = len(pmt_table(st.get_single_plugin(RUN, "peaks").config))
    chunks = list(st.get_iter(RUN, "raw_records", progress_bar=False))
    duration_s = sum(chunk.end - chunk.start for chunk in chunks) / 1e9  # the run lasts whole seconds
    expected = 50.0 * duration_s * n_channels
    # a dark count is one photoelectron: most cross the 15 ADC hit threshold
    assert 0.8 * expected < len(lone) < 1.05 * expected
    assert np.median(lone["area"]) == pytest.approx(1.0, abs=0.1)
    assert np.bincount(lone["channel"], minlength=n_channels).min() > 0
    # the lone hits did not make peaks, and no peak is of one channel
    assert np.all((peaks["area_per_channel"] > 0).sum(axis=1) >= 2)
    assert len(peaks) < 0.1 * len(lone)
    # the records stay inside their chunks
    for chunk in chunks:
        assert chunk.data["time"].min() >= chunk.start and (chunk.data["time"] + 1100).max() <= chunk.end
    assert len(raw) >= len(lone)


def test_dark_counts_off_give_the_raw_records_of_before():
    """Dark counts add records without changing the events' own random streams."""
    quiet = in_memory(pmt_dark_count_rate_hz=0).get_array(RUN, "raw_records", progress_bar=False)
    noisy = in_memory(pmt_dark_count_rate_hz=20).get_array(RUN, "raw_records", progress_bar=False)
    assert len(noisy) > len(quiet)
    in_quiet = np.isin(noisy["time"] * 1000 + noisy["channel"], quiet["time"] * 1000 + quiet["channel"])
    assert in_quiet.sum() > 0.95 * len(quiet)


def test_dark_count_rates_per_channel_are_checked():
    st = in_memory(pmt_dark_count_rate_hz=[20.0, 30.0])
    with pytest.raises(ValueError, match=r"er_sr0_005.*pmt_dark_count_rate_hz has 2 rates, the detector 248"):
        st.get_array(RUN, "raw_records", progress_bar=False)


def test_gain_spread_is_a_detector_property_that_processing_knows():
    gains = relative_gains(248, 0.2)
    np.testing.assert_array_equal(gains, relative_gains(248, 0.2))
    assert np.mean(gains) == pytest.approx(1, abs=0.03) and np.std(gains) == pytest.approx(0.2, abs=0.03)
    spread, equal = in_memory(pmt_gain_spread=0.2), in_memory(pmt_gain_spread=0)
    config = spread.get_single_plugin(RUN, "peaks").config
    np.testing.assert_allclose(channel_gains(pmt_table(config), 116.7), 116.7 * gains)
    s2 = {name: st.get_array(RUN, "event_basics", progress_bar=False)["s2_area"]
          for name, st in (("spread", spread), ("equal", equal))}
    assert len(s2["spread"]) == len(s2["equal"])
    assert np.nanmedian(s2["spread"] / s2["equal"]) == pytest.approx(1.0, abs=0.02)


def test_a_saturating_s2_is_flagged(tmp_path):
    path = tmp_path / "huge_s2.csv"
    path.write_text("instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t\n"
                    "0,ER,0.0,0.0,10.0,2000,100000,10000\n")
    st = in_memory(fax_instructions_file=str(path), pmt_dark_count_rate_hz=0)
    raw = st.get_array("fax_sr0_000", "raw_records", progress_bar=False)
    peaks = st.get_array("fax_sr0_000", "peaks", progress_bar=False)
    assert raw["data"].min() == 0  # the digitiser's range ends at 0 ADC
    biggest = peaks[np.argmax(peaks["area"])]
    assert biggest["n_saturated_channels"] > 0
    small = peaks[peaks["area"] < 1000]
    assert np.all(small["n_saturated_channels"] == 0)
