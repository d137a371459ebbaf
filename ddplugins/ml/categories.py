"""The event space of the anomaly search: the analysis selection and the category of each event
(no main S1; cS1 below the analysis space; the analysis space of the search; the rest), from
reconstructed quantities only, as the plugins see them."""

import numpy as np

ANALYSIS_CS1_PE = (3.0, 70.0)
ANALYSIS_MIN_CS2_BOTTOM_PE = 50.0
SINGLE_SCATTER_MAX_ALT_S2 = 0.05  # of the main S2's area


def analysis_selection(events, volume=None, single_scatter=False, use_truth=True):
    """Events inside the analysis space: main S1 and S2 found, cS1 in [3, 70] PE, cS2_b >= 50 PE,
    and (for simulated runs) a true interaction behind the event. ``volume`` (from
    :func:`fiducial_volume`) adds the fiducial cut on the reconstructed position, needed where
    runs hold events from the whole TPC; ``single_scatter`` drops events with a second S2 above
    ``SINGLE_SCATTER_MAX_ALT_S2`` of the main one (at least 100 PE). ``use_truth=False`` ignores
    the truth label (what data, and the plugins, see)."""
    cs1 = events["cs1"]
    selected = (
        np.isfinite(cs1)
        & (cs1 >= ANALYSIS_CS1_PE[0])
        & (cs1 <= ANALYSIS_CS1_PE[1])
        & (events["cs2_bottom"] >= ANALYSIS_MIN_CS2_BOTTOM_PE)
    )
    fields = events.columns if hasattr(events, "columns") else events.dtype.names
    if use_truth and "label" in fields:
        selected &= np.asarray(events["label"]) >= 0
    if volume is not None:
        r_max, z_top, z_bottom = volume
        z = np.asarray(events["z"])
        selected &= (np.hypot(events["x"], events["y"]) < r_max) & (z < z_top) & (z > z_bottom)
    if single_scatter:
        limit = np.maximum(SINGLE_SCATTER_MAX_ALT_S2 * np.asarray(events["s2_area"]), 100.0)
        selected &= ~(np.asarray(events["alt_s2_area"]) > limit)
    return np.asarray(selected)


CATEGORIES = ("no_s1", "small_s1", "analysis_space", "other")
CATEGORY_TITLES = {
    "no_s1": "events without a main S1",
    "small_s1": f"events with cS1 < {ANALYSIS_CS1_PE[0]:g} PE",
    "analysis_space": "events in the analysis space",
    "other": "other events (cS1 above the space, outside the fiducial volume, small S2, multiple S2s)",
}
CATEGORY_TITLE = "Event category: " + ", ".join(f"{i} {name}" for i, name in enumerate(CATEGORIES))


def categories(events, fiducial):
    """Category index (into CATEGORIES) of each event, from reconstructed quantities only; the
    analysis space is that of the dataset-level search (fiducial, single scatter)."""
    cs1 = np.asarray(events["cs1"])
    in_space = analysis_selection(events, volume=fiducial, single_scatter=True, use_truth=False)
    return np.select([~np.isfinite(cs1), cs1 < ANALYSIS_CS1_PE[0], in_space],
                     [0, 1, 2], default=3).astype(np.int8)


def flag_bins(scores):
    """Per event its category, plus the number of categories if it is flagged: the bins of the
    anomaly-fraction test (flagged and not flagged events of every category)."""
    return np.asarray(scores["category"], float) + len(CATEGORIES) * np.asarray(scores["is_anomalous"], float)
