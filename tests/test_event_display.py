"""The event display draws real events of each TPC detector, addressed by event_number."""

import numpy as np
import pytest

import ddcore
from tests.helpers import ER_RUN


def _labels(fig):
    return {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}


@pytest.fixture(scope="module")
def nt_context(tmp_path_factory):
    return ddcore.context("xenonnt", storage=str(tmp_path_factory.mktemp("nt_display")),
                          sim_n_events=20, sim_events_per_chunk=20)


@pytest.mark.parametrize("detector", ["xenon1t", "xenonnt"])
def test_display_of_an_event_of_each_tpc(detector, st, nt_context, tmp_path):
    context, run_id = (st, ER_RUN) if detector == "xenon1t" else (nt_context, "wimp_sr0_003")
    basics = context.get_array(run_id, "event_basics", progress_bar=False)
    np.testing.assert_array_equal(basics["event_number"], np.arange(len(basics)))
    event_number = int(basics["event_number"][np.argmax(np.isfinite(basics["cs1"]))])
    path = tmp_path / f"{detector}.png"
    fig = context.event_display(run_id, event_number, path)
    assert path.stat().st_size > 50_000
    labels = _labels(fig)
    assert {"PE/ns", "x [cm]", "y [cm]", "time since the event start [us]"} <= labels
    colour_bars = [ax for ax in fig.axes if ax.get_ylabel() == "area [PE]"]
    assert len(colour_bars) == 4
    # the four hit-pattern panels show every PMT of their array: each PMT twice (S1 and S2)
    pmt_markers = sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections)
    assert pmt_markers >= 2 * context.get_single_plugin(run_id, "peaks").n_pmts
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert f"event {event_number}" in text and "cS1" in text and "truth:" in text


def test_unknown_event_number_names_run_and_range(st):
    with pytest.raises(ValueError, match=rf"Run '{ER_RUN}' has no event_number 100000 .*numbered 0 to"):
        st.event_display(ER_RUN, 100000)
