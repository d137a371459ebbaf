"""Event display of a TPC event (``st.event_display(run, event_number)``, ``ddcore show``).

In the spirit of straxen's ``event_display``: the main S1 and S2 waveforms with time axes, the
S1 and S2 hit patterns on the top and bottom arrays with every PMT drawn (dead ones marked) and
a logarithmic colour scale in PE, the reconstructed and (for simulation) true position, an
information panel, the whole-event waveform and, beside it, the three images the CNN sees.
"""

import logging
import os
from typing import NamedTuple, Optional

import numpy as np
import strax

from ddplugins.ml.categories import CATEGORIES
from ddplugins.peaks.peak_basics import S1, S2
from ddplugins.simulation import populations
from ddplugins.tpc._geometry import TOP
from ddplugins.tpc._options import pmt_table

log = logging.getLogger(__name__)

PEAK_COLOURS = {S1: "tab:blue", S2: "tab:green"}


def _event(st, run_id, event_number):
    basics = st.get_array(run_id, "event_basics", progress_bar=False)
    found = np.flatnonzero(basics["event_number"] == event_number)
    if not len(found):
        raise ValueError(
            f"Run {run_id!r} has no event_number {event_number} (its events are numbered "
            f"0 to {len(basics) - 1})"
        )
    return basics[found[0]]


def _optional_row(st, run_id, data_type, event):
    """The row of ``data_type`` for the event, or None where the context cannot give it."""
    try:
        st.make(run_id, data_type, progress_bar=False)  # strax reads time ranges of stored data only
        rows = st.get_array(run_id, data_type, time_range=(int(event["time"]), int(event["endtime"])),
                            progress_bar=False)
    except Exception as e:  # a simulated-only data type, or models not configured
        log.debug("No %s for the display: %s", data_type, e)
        return None
    return rows[0] if len(rows) else None


class ShownEvent(NamedTuple):
    """What an event display shows of one event."""
    event: np.void          # its event_basics row
    peaks: np.ndarray       # peaks + peak_basics within the event
    pmts: np.ndarray        # the detector's PMT table
    main: dict              # "s1"/"s2": the main peak's row, or None
    truth: Optional[np.void]   # event_truth row (simulation only)
    scores: Optional[np.void]  # anomaly_scores row (where the models are configured)


def load_event(st, run_id, event_number) -> ShownEvent:
    """Everything a display of event ``event_number`` of ``run_id`` draws."""
    event = _event(st, run_id, event_number)
    t0, t1 = int(event["time"]), int(event["endtime"])
    peaks = st.get_array(run_id, ["peaks", "peak_basics"], time_range=(t0, t1), progress_bar=False)
    pmts = pmt_table(st.get_single_plugin(run_id, "peaks"))
    main = {}
    for name in ("s1", "s2"):
        match = np.flatnonzero(peaks["center_time"] == event[f"{name}_center_time"])
        main[name] = peaks[match[0]] if len(match) and event[f"{name}_center_time"] >= 0 else None
    return ShownEvent(event, peaks, pmts, main, _optional_row(st, run_id, "event_truth", event),
                      _optional_row(st, run_id, "anomaly_scores", event))


def _draw_waveform(ax, peak, t0, unit, colour):
    scale = {"ns": 1.0, "us": 1e3}[unit]
    n = min(int(peak["length"]), peak["data"].shape[0])
    times = (peak["time"] - t0 + np.arange(n + 1) * peak["dt"]) / scale
    ax.stairs(peak["data"][:n] / peak["dt"], times, color=colour, fill=True, alpha=0.6)


def _hit_pattern(fig, ax, pmts, areas, array, title, position=None, truth=None):
    import matplotlib.colors as mcolors

    on_array = pmts["array"] == array
    x, y, a = pmts["x"][on_array], pmts["y"][on_array], areas[on_array]
    alive = pmts["alive"][on_array]
    positive = a[a > 0]
    vmax = max(float(positive.max()) if len(positive) else 1.0, 1.0)
    norm = mcolors.LogNorm(vmin=max(vmax * 1e-3, 0.1), vmax=vmax)
    radius = np.hypot(pmts["x"], pmts["y"]).max() + 5
    shown = ax.scatter(x, y, c=np.clip(a, norm.vmin, None), s=70 * (40 / radius) ** 2, cmap="viridis",
                       norm=norm, edgecolors="0.5", linewidths=0.4)
    if np.any(~alive):
        ax.scatter(x[~alive], y[~alive], marker="x", c="red", s=30, label="dead PMT")
    if position is not None and np.all(np.isfinite(position)):
        ax.plot(*position, marker="*", ms=13, mfc="none", mec="red", ls="", label="reconstructed")
    if truth is not None and np.all(np.isfinite(truth)):
        ax.plot(*truth, marker="+", ms=13, mec="white", ls="", label="true")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize=7, framealpha=0.6)
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    ax.set_xlabel("x [cm]")
    ax.set_ylabel("y [cm]")
    ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="area [PE]")


def information(event, truth, scores, run_id):
    lines = [
        f"run {run_id}, event {int(event['event_number'])}",
        f"time {int(event['time'])} ns",
        f"cS1 {event['cs1']:.1f} PE,  cS2 {event['cs2']:.0f} PE,  cS2_b {event['cs2_bottom']:.0f} PE",
        f"drift time {event['drift_time'] / 1e3:.1f} us,  peaks {int(event['n_peaks'])}",
        f"x {event['x']:.1f}, y {event['y']:.1f}, z {event['z']:.1f} cm (r {event['r']:.1f} cm)",
        f"energy (combined) {event['ces']:.2f} keV",
    ]
    if truth is not None:
        kind = {0: "ER", 1: "NR"}.get(int(truth["true_recoil_type"]), "?")
        code = int(truth["population"])
        population = populations.NAMES[code] if 0 <= code < len(populations.NAMES) else "FaX event"
        role = "signal" if truth["label"] == 1 else "background"
        injected = ", injected" if truth["injected"] else ""
        lines.append(f"truth: {population} ({role}{injected}), {kind}, {truth['true_energy']:.2f} keV, "
                     f"{int(truth['true_n_interactions'])} interaction(s)")
        lines.append(f"true x {truth['true_x']:.1f}, y {truth['true_y']:.1f}, z {truth['true_z']:.1f} cm")
    if scores is not None:
        lines.append(f"CNN score {scores['cnn_score']:.3f},  CVAE loss {scores['cvae_loss']:.2e}")
        flag = "ANOMALOUS" if scores["is_anomalous"] else "not anomalous"
        lines.append(f"anomaly score {scores['anomaly_score']:.2f} ({flag}, {CATEGORIES[int(scores['category'])]})")
        lines.append(f"P_bkg: density {scores['density_tail_probability']:.2g}, "
                     f"CVAE {scores['cvae_tail_probability']:.2g}")
    return "\n".join(lines)


def event_display(st, run_id, event_number, path=None):
    """Draw event ``event_number`` of ``run_id``; return the matplotlib figure (saved to
    ``path`` as PNG when given)."""
    # a Figure of its own, not pyplot's: no backend switched, no figure left open in the
    # caller's session (a notebook shows the returned figure)
    from matplotlib.figure import Figure

    shown = load_event(st, run_id, event_number)
    event, peaks, pmts, main = shown.event, shown.peaks, shown.pmts, shown.main
    truth, scores = shown.truth, shown.scores
    t0 = int(event["time"])
    images = _optional_row(st, run_id, "event_images", event)

    fig = Figure(figsize=(20, 12), layout="constrained")
    grid = fig.add_gridspec(3, 5)
    for column, name, unit in ((slice(0, 2), "s1", "ns"), (slice(2, 4), "s2", "us")):
        ax = fig.add_subplot(grid[0, column])
        peak = main[name]
        if peak is not None:
            _draw_waveform(ax, peak, peak["time"], unit, PEAK_COLOURS[S1 if name == "s1" else S2])
            ax.set_title(f"main {name.upper()}: {peak['area']:.1f} PE, 50% width "
                         f"{peak['range_50p_area']:.0f} ns", fontsize=10)
        else:
            ax.text(0.5, 0.5, f"no {name.upper()}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"time since the peak start [{unit}]")
        ax.set_ylabel("PE/ns")
    info = fig.add_subplot(grid[0, 4])
    info.axis("off")
    info.text(0, 1, information(event, truth, scores, run_id), va="top", family="monospace", fontsize=8.5)

    position = (event["x"], event["y"])
    true_position = (truth["true_x"], truth["true_y"]) if truth is not None else None
    for column, (name, array, label) in enumerate((("s1", TOP, "S1 top"), ("s1", 1 - TOP, "S1 bottom"),
                                                   ("s2", TOP, "S2 top"), ("s2", 1 - TOP, "S2 bottom"))):
        ax = fig.add_subplot(grid[1, column])
        areas = main[name]["area_per_channel"] if main[name] is not None else np.zeros(len(pmts))
        _hit_pattern(fig, ax, pmts, np.asarray(areas, float), array, label,
                     position if name == "s2" and array == TOP else None,
                     true_position if name == "s2" and array == TOP else None)

    ax = fig.add_subplot(grid[2, 0:3])
    for peak in peaks:
        _draw_waveform(ax, peak, t0, "us", PEAK_COLOURS.get(int(peak["type"]), "0.6"))
    ax.set_xlabel("time since the event start [us]")
    ax.set_ylabel("PE/ns")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_title(f"whole event: {len(peaks)} peaks (blue S1, green S2, grey other)", fontsize=10)

    cells = {"hitpeak_image": grid[1, 4], "hit_image": grid[2, 3], "peak_image": grid[2, 4]}
    titles = {"hitpeak_image": "CNN input: HitPeak", "hit_image": "CNN input: Hit", "peak_image": "CNN input: Peak"}
    for field, cell in cells.items():
        ax = fig.add_subplot(cell)
        ax.set_xticks([])
        ax.set_yticks([])
        if images is None or field not in images.dtype.names:
            ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.imshow(images[field], vmin=0, vmax=1, cmap=None if images[field].ndim == 3 else "magma",
                  interpolation="nearest")
        ax.set_title(titles[field], fontsize=10)
    fig.suptitle(f"{run_id}, event {event_number}", fontsize=13)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        fig.savefig(path, dpi=90)
    return fig


def save_event_display(st, run_id, event_number, path=None):
    """Draw the event display to a PNG file; return its path."""
    path = path or f"{run_id}_event{event_number}.png"
    event_display(st, run_id, event_number, path)
    return path


strax.Context.add_method(event_display)
