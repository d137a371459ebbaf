"""Interactive event display in bokeh (``st.interactive_event_display(run, event_number)``,
``ddcore show --html``), for notebooks and as a self-contained HTML page.

As straxen's interactive display does: the whole-event waveform with zoom and pan and the main
S1 and S2 shaded, the top and bottom hit patterns of the peak chosen (hover a PMT for its channel
and area), the reconstructed and true position, a table of the event's peaks and the area per
channel. Panels are linked: picking a peak in the waveform or the table shows its hit patterns;
selecting PMTs in one panel (box or lasso) selects them in the others; the two arrays pan and
zoom together. The page carries bokeh itself (no network needed to open it).
"""

import logging
import os

import numpy as np
import strax

from ddcore.extras import import_display
from ddplugins.analyses.event_display import load_event, information
from ddplugins.peaks.peak_basics import S1, S2
from ddplugins.tpc._geometry import TOP

log = logging.getLogger(__name__)

PEAK_COLOURS = {S1: "#1f77b4", S2: "#2ca02c"}
OTHER_PEAK_COLOUR = "#999999"
PEAK_NAMES = {S1: "S1", S2: "S2"}

# On a peak picked (in the waveform or the table): its per-channel areas into the PMT panels.
_SHOW_PEAK_JS = """
const picked = peaks.selected.indices;
const i = picked.length ? picked[0] : initial;
const areas = peaks.data.area_per_channel[i];
const shown = Array.from(areas, a => Math.max(a, floor));
pmts.data = Object.assign({}, pmts.data, {area: Array.from(areas), shown: shown});
mapper.high = Math.max(Math.max(...areas), 1);
mapper.low = Math.max(mapper.high * 1e-3, floor);
for (const plot of plots) {
    plot.title.text = plot.tags[0] + ": " + peaks.data.label[i];
}
"""

# Once the page has drawn: how many plots it shows, for whoever checks the page (e.g. a test).
_READY_JS = """
document.body.dataset.ddPlots = String(count);
document.body.dataset.ddReady = "yes";
"""


def _peak_rows(peaks, t0, main):
    """One row per peak for the waveform's and the table's shared source."""
    main_times = {name: int(p["center_time"]) for name, p in main.items() if p is not None}
    xs, ys, rows = [], [], {"type": [], "area": [], "width": [], "start_us": [], "colour": [], "label": [],
                            "area_per_channel": []}
    for peak in peaks:
        n = min(int(peak["length"]), peak["data"].shape[0])
        edges = (peak["time"] - t0 + np.arange(n + 1) * peak["dt"]) / 1e3
        amplitude = peak["data"][:n] / peak["dt"]
        xs.append(np.repeat(edges, 2)[1:-1].tolist())   # a step line over the samples
        ys.append(np.repeat(amplitude, 2).tolist())
        kind = int(peak["type"])
        name = PEAK_NAMES.get(kind, "other")
        for main_name, time in main_times.items():
            if int(peak["center_time"]) == time:
                name = f"main {main_name.upper()}"
        rows["type"].append(name)
        rows["area"].append(round(float(peak["area"]), 2))
        rows["width"].append(round(float(peak["range_50p_area"]), 1))
        rows["start_us"].append(round(float((peak["time"] - t0) / 1e3), 3))
        rows["colour"].append(PEAK_COLOURS.get(kind, OTHER_PEAK_COLOUR))
        rows["label"].append(f"{name}, {float(peak['area']):.1f} PE at {rows['start_us'][-1]:.2f} us")
        rows["area_per_channel"].append(np.asarray(peak["area_per_channel"], float).tolist())
    return dict(xs=xs, ys=ys, **rows)


def interactive_event_display(st, run_id, event_number, path=None):
    """Interactive display of event ``event_number`` of ``run_id``: a bokeh layout (show it in
    a notebook with ``bokeh.io.show``), saved to ``path`` as a self-contained HTML page when
    given."""
    models = import_display("bokeh.models", "The interactive event display")
    from bokeh.layouts import column, row
    from bokeh.plotting import figure

    shown = load_event(st, run_id, event_number)
    event, peaks, pmts = shown.event, shown.peaks, shown.pmts
    t0 = int(event["time"])
    peak_source = models.ColumnDataSource(_peak_rows(peaks, t0, shown.main), name="peaks")
    initial = next((i for i, label in enumerate(peak_source.data["type"]) if label == "main S2"),
                   next((i for i, label in enumerate(peak_source.data["type"]) if label == "main S1"), 0))

    waveform = figure(title=f"{run_id}, event {event_number}: {len(peaks)} peaks (blue S1, green S2, grey other)",
                      x_axis_label="time since the event start [us]", y_axis_label="amplitude [PE/ns]",
                      width=1000, height=300, tools="xpan,xwheel_zoom,box_zoom,tap,reset,save",
                      active_scroll="xwheel_zoom", name="waveform")
    waveform.multi_line("xs", "ys", source=peak_source, line_color="colour", line_width=1.5,
                        selection_line_width=3, nonselection_line_alpha=0.35)
    waveform.add_tools(models.HoverTool(tooltips=[("peak", "@type"), ("area", "@area{0.0} PE"),
                                                  ("50% width", "@width{0} ns"), ("start", "@start_us{0.00} us")]))
    for name, peak in shown.main.items():
        if peak is None:
            continue
        start = float((peak["time"] - t0) / 1e3)
        end = start + float(peak["length"] * peak["dt"]) / 1e3
        colour = PEAK_COLOURS[S1 if name == "s1" else S2]
        waveform.add_layout(models.BoxAnnotation(left=start, right=end, fill_color=colour, fill_alpha=0.12))
        waveform.add_layout(models.Label(x=start, y=0, text=f"main {name.upper()}", text_color=colour,
                                         text_font_size="11px", y_offset=5, x_units="data"))

    floor = 0.1
    areas = np.asarray(peak_source.data["area_per_channel"][initial] if len(peaks) else np.zeros(len(pmts)))
    pmt_source = models.ColumnDataSource(dict(
        channel=pmts["channel"].astype(int), x=pmts["x"].astype(float), y=pmts["y"].astype(float),
        array=np.where(pmts["array"] == TOP, "top", "bottom"), alive=np.where(pmts["alive"], "yes", "no"),
        area=areas, shown=np.maximum(areas, floor)), name="pmts")
    mapper = models.LogColorMapper(palette="Viridis256", low=max(areas.max() * 1e-3, floor) if len(areas) else floor,
                                   high=max(float(areas.max()) if len(areas) else 1.0, 1.0))
    radius = float(np.hypot(pmts["x"], pmts["y"]).max()) + 5
    pmt_hover = models.HoverTool(tooltips=[("channel", "@channel"), ("area", "@area{0.00} PE"),
                                           ("array", "@array"), ("alive", "@alive"), ("x, y", "@x{0.0}, @y{0.0} cm")])
    patterns, shared_range = [], {}
    for array, label in ((TOP, "top array"), (1 - TOP, "bottom array")):
        on_array = models.GroupFilter(column_name="array", group="top" if array == TOP else "bottom")
        plot = figure(title=f"{label}: {peak_source.data['label'][initial] if len(peaks) else 'no peak'}",
                      x_axis_label="x [cm]", y_axis_label="y [cm]", width=420, height=400, match_aspect=True,
                      tools="pan,wheel_zoom,box_select,lasso_select,tap,reset", tags=[label],
                      name=f"hit pattern {label}", **shared_range)
        shared_range = dict(x_range=plot.x_range, y_range=plot.y_range)
        plot.x_range.start, plot.x_range.end = -radius, radius
        plot.y_range.start, plot.y_range.end = -radius, radius
        plot.scatter("x", "y", source=pmt_source, view=models.CDSView(filter=on_array), size=13,
                     fill_color={"field": "shown", "transform": mapper}, line_color="#777777",
                     nonselection_fill_alpha=0.25, selection_line_color="red", selection_line_width=2)
        plot.add_tools(pmt_hover.clone())
        patterns.append(plot)
    top = patterns[0]
    position = (float(event["x"]), float(event["y"]))
    if np.all(np.isfinite(position)):
        top.scatter([position[0]], [position[1]], marker="star", size=20, fill_alpha=0, line_color="red",
                    line_width=2, legend_label="reconstructed")
    if shown.truth is not None and np.isfinite(shown.truth["true_x"]):
        top.scatter([float(shown.truth["true_x"])], [float(shown.truth["true_y"])], marker="cross", size=18,
                    line_color="white", line_width=2, legend_label="true")
    if top.legend:
        top.legend.location = "bottom_left"
        top.legend.background_fill_alpha = 0.6
    patterns[1].add_layout(models.ColorBar(color_mapper=mapper, title="area [PE]", width=10), "right")

    channels = figure(title="area per channel of the peak shown (select PMTs to compare)",
                      x_axis_label="channel", y_axis_label="area [PE]", width=1000, height=220,
                      tools="xpan,xwheel_zoom,box_select,tap,reset", name="area per channel")
    channels.vbar(x="channel", top="area", width=0.9, source=pmt_source, fill_color="#4c72b0", line_color=None,
                  nonselection_fill_alpha=0.3, selection_fill_color="red")
    channels.add_tools(pmt_hover.clone())

    show_peak = models.CustomJS(args=dict(peaks=peak_source, pmts=pmt_source, mapper=mapper, plots=patterns,
                                          initial=initial, floor=floor), code=_SHOW_PEAK_JS)
    peak_source.selected.js_on_change("indices", show_peak)
    table = models.DataTable(source=peak_source, width=560, height=260, index_position=None, name="peak table",
                             reorderable=False,
                             columns=[models.TableColumn(field="type", title="peak"),
                                      models.TableColumn(field="start_us", title="start [us]"),
                                      models.TableColumn(field="area", title="area [PE]"),
                                      models.TableColumn(field="width", title="50% width [ns]")])
    text = information(event, shown.truth, shown.scores, run_id).replace("&", "&amp;").replace("<", "&lt;")
    info = models.Div(text=f"<pre style='font-size:11px; white-space:pre-wrap'>{text}</pre>", width=520)
    layout = column(waveform, row(*patterns, column(info)), row(table, models.Div(
        text="Pick a peak in the waveform or the table to see its hit patterns.", width=400)), channels)
    if path is not None:
        save_layout(layout, path, title=f"{run_id}, event {event_number}")
    return layout


def save_layout(layout, path, title, on_ready=()):
    """Write ``layout`` to ``path`` as one HTML page that carries bokeh itself; ``on_ready``:
    more CustomJS callbacks to run once the page has drawn."""
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.events import DocumentReady
    from bokeh.models import CustomJS, Plot
    from bokeh.resources import INLINE

    document = Document()
    document.add_root(layout)
    plots = sum(1 for model in layout.references() if isinstance(model, Plot))
    for callback in (*on_ready, CustomJS(args=dict(count=plots), code=_READY_JS)):
        document.js_on_event(DocumentReady, callback)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(file_html(document, INLINE, title))
    log.info("Interactive event display written to %s", path)


def save_interactive_event_display(st, run_id, event_number, path=None):
    """Write the interactive display to a self-contained HTML page; return its path."""
    path = path or f"{run_id}_event{event_number}.html"
    interactive_event_display(st, run_id, event_number, path)
    return path


strax.Context.add_method(interactive_event_display)
