"""The event display draws real events of each TPC detector, addressed by event_number."""

import numpy as np
import pytest

import ddcore
from tests.helpers import ER_RUN, browser_dom, console_errors


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


def test_interactive_display_renders_and_links_its_panels(st, tmp_path):
    pytest.importorskip("bokeh")
    from bokeh.models import ColumnDataSource, CustomJS, DataTable, Plot

    from ddplugins.analyses.interactive_display import save_layout

    basics = st.get_array(ER_RUN, "event_basics", progress_bar=False)
    event_number = int(basics["event_number"][np.argmax(np.isfinite(basics["cs1"]) & np.isfinite(basics["cs2"]))])
    layout = st.interactive_event_display(ER_RUN, event_number)
    peaks = layout.select_one({"name": "peaks", "type": ColumnDataSource})
    pmts = layout.select_one({"name": "pmts", "type": ColumnDataSource})
    event_peaks = st.get_array(ER_RUN, "peaks", time_range=(int(basics["time"][event_number]),
                                                             int(basics["endtime"][event_number])),
                               progress_bar=False)
    assert len(peaks.data["area"]) == len(event_peaks)
    assert {"main S1", "main S2"} <= set(peaks.data["type"])
    assert len(pmts.data["channel"]) == st.get_single_plugin(ER_RUN, "peaks").n_pmts
    # every PMT's hover names its channel and area; the top and bottom patterns and the channel
    # plot draw one source (linked selection), the table and waveform another; the arrays zoom together
    plots = {p.name: p for p in layout.select({"type": Plot})}
    assert {"waveform", "hit pattern top array", "hit pattern bottom array", "area per channel"} <= set(plots)
    for name in ("hit pattern top array", "hit pattern bottom array", "area per channel"):
        assert any(r.data_source is pmts for r in plots[name].renderers)
        tooltips = [t for tool in plots[name].tools for t in (getattr(tool, "tooltips", None) or [])]
        assert ("channel", "@channel") in tooltips and ("area", "@area{0.00} PE") in tooltips
    assert plots["hit pattern top array"].x_range is plots["hit pattern bottom array"].x_range
    assert layout.select_one({"type": DataTable}).source is peaks
    assert any(r.data_source is peaks for r in plots["waveform"].renderers)
    assert {"WheelZoomTool", "PanTool", "TapTool", "HoverTool"} <= {type(t).__name__ for t in plots["waveform"].tools}

    # in the browser: the page draws, and picking the main S1 puts its areas in the PMT panels
    s1 = peaks.data["type"].index("main S1")
    pick_s1 = CustomJS(args=dict(peaks=peaks, pmts=pmts, plot=plots["hit pattern top array"], s1=s1), code="""
        peaks.selected.indices = [s1];
        setTimeout(() => {  // bokeh runs the selection's callback asynchronously
            document.body.dataset.ddTitle = plot.title.text;
            document.body.dataset.ddArea = String(pmts.data.area.reduce((a, b) => a + b, 0).toFixed(1));
        }, 1000);
    """)
    path = tmp_path / "display.html"
    save_layout(layout, path, "test", on_ready=[pick_s1])
    dom, console = browser_dom(f"file://{path}", tmp_path / "profile")
    assert not console_errors(console), console
    assert 'data-dd-ready="yes"' in dom and 'data-dd-plots="4"' in dom
    assert f'data-dd-title="top array: {peaks.data["label"][s1]}"' in dom
    s1_area = np.sum(peaks.data["area_per_channel"][s1])
    assert f'data-dd-area="{s1_area:.1f}"' in dom


def test_the_display_leaves_the_callers_matplotlib_alone(st):
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    matplotlib.use("svg")  # as a session that chose its backend (a notebook's inline one)
    try:
        open_figures = plt.get_fignums()
        fig = st.event_display(ER_RUN, 0)
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == open_figures
        assert len(fig.axes) > 10
    finally:
        matplotlib.use(backend)
