"""A real detector's PMT table (positions, per-channel gains) instead of the generated layout and
one adc_per_pe: read with named errors, used by simulation and processing alike."""

import numpy as np
import pandas as pd
import pytest
import strax

import ddcore
from ddplugins.records.external import processing_plugins, raw_records_source
from ddplugins.tpc._options import pmt_table
from tests.helpers import SHARED_DATA

RUN = "er_sr0_000"
OPTIONS = dict(sim_n_events=30, sim_events_per_chunk=30, pmt_gain_spread=0)  # nominal: one gain for all


def _write_table(path, pmts, gains=None):
    lines = ["# a comment line, as straxen's files have", "channel,array,x_cm,y_cm,gain_adc_per_pe"]
    for k, pmt in enumerate(pmts):
        gain = "" if gains is None else f"{gains[k]:.3f}"
        array = "top" if pmt["array"] == 0 else "bottom"
        lines.append(f"{pmt['channel']},{array},{pmt['x']:.4f},{pmt['y']:.4f},{gain}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(not (SHARED_DATA / "xenonnt").exists(), reason="reference data absent")
def test_xenonnt_runs_with_its_real_pmt_positions(tmp_path):
    real = SHARED_DATA / "xenonnt" / "pmt_positions.csv"
    st = ddcore.context("xenonnt", storage=str(tmp_path), pmt_table_file=str(real), **OPTIONS)
    pmts = pmt_table(st.get_single_plugin(RUN, "peaks").config)
    reference = pd.read_csv(real, comment="#")
    np.testing.assert_allclose(pmts["x"], reference["x_cm"])
    assert (pmts["array"] == 0).sum() == 253 and len(pmts) == 494
    events = st.get_array(RUN, ["event_basics", "event_truth"], progress_bar=False)
    good = events[np.isfinite(events["cs2"])]
    assert np.median(np.hypot(good["x"] - good["true_x"], good["y"] - good["true_y"])) < 1.5
    generated = ddcore.context("xenonnt", storage=str(tmp_path), **OPTIONS)
    assert str(generated.key_for(RUN, "event_basics")) != str(st.key_for(RUN, "event_basics"))


def test_per_channel_gains_are_digitised_and_corrected(tmp_path):
    nominal = ddcore.context("xenon1t", storage=str(tmp_path / "nominal"), **OPTIONS)
    pmts = pmt_table(nominal.get_single_plugin(RUN, "peaks").config)
    gains = 116.7 * np.random.default_rng(3).uniform(0.7, 1.3, len(pmts))
    table = _write_table(tmp_path / "pmts.csv", pmts, gains)
    spread = ddcore.context("xenon1t", storage=str(tmp_path / "spread"), pmt_table_file=str(table), **OPTIONS)
    np.testing.assert_allclose(pmt_table(spread.get_single_plugin(RUN, "peaks").config)["adc_per_pe"], gains,
                               rtol=1e-4)
    # same photoelectrons, digitised with each channel's gain and read back with it
    s2 = {name: st.get_array(RUN, "event_basics", progress_bar=False)["s2_area"]
          for name, st in (("nominal", nominal), ("spread", spread))}
    assert len(s2["nominal"]) == len(s2["spread"])
    assert np.median(s2["spread"] / s2["nominal"]) == pytest.approx(1.0, abs=0.02)
    # the same raw records read with one gain for all: each channel's area off by its gain
    raw = spread.get_array(RUN, "raw_records", progress_bar=False)
    one_gain = strax.Context(storage=[], register=[raw_records_source(raw),
                                                   *processing_plugins(ddcore.get_detector("xenon1t"))],
                             config={k: v for k, v in nominal.config.items() if not k.startswith("sim_")})
    wrong = one_gain.get_array(RUN, "peaks", progress_bar=False)
    right = spread.get_array(RUN, "peaks", progress_bar=False)
    big = right["area"] > 1000
    channel_ratio = wrong["area_per_channel"][big].sum(0) / np.maximum(right["area_per_channel"][big].sum(0), 1e-9)
    lit = right["area_per_channel"][big].sum(0) > 500
    np.testing.assert_allclose(channel_ratio[lit], gains[lit] / 116.7, rtol=0.05)


@pytest.mark.parametrize("content, message", [
    ("channel,array,x_cm\n0,top,1.0\n", r"missing column\(s\) y_cm"),
    ("channel,array,x_cm,y_cm\n0,top,0,0\n0,bottom,1,1\n", r"channels must be 0..1, each once"),
    ("channel,array,x_cm,y_cm\n0,side,0,0\n", r"row with channel '0': array must be top or bottom, got 'side'"),
    ("channel,array,x_cm,y_cm\n0,bottom,0,0\n1,top,1,1\n", r"top array's channels must come before"),
    ("channel,array,x_cm,y_cm,gain_adc_per_pe\n0,top,0,0,-3\n", r"gain not negative"),
])
def test_a_bad_pmt_table_is_refused_naming_file_and_row(tmp_path, content, message):
    path = tmp_path / "pmts.csv"
    path.write_text(content)
    st = ddcore.context("xenon1t", storage=str(tmp_path), pmt_table_file=str(path), **OPTIONS)
    with pytest.raises(ValueError, match=message):
        st.get_single_plugin(RUN, "peaks")


def test_a_gain_of_zero_turns_a_channel_off(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), **OPTIONS)
    pmts = pmt_table(st.get_single_plugin(RUN, "peaks").config)
    gains = np.full(len(pmts), 116.7)
    gains[5] = 0
    table = _write_table(tmp_path / "pmts.csv", pmts, gains)
    off = ddcore.context("xenon1t", storage=str(tmp_path), pmt_table_file=str(table), **OPTIONS)
    assert not pmt_table(off.get_single_plugin(RUN, "peaks").config)["alive"][5]
    assert not (off.get_array(RUN, "raw_records", progress_bar=False)["channel"] == 5).any()
