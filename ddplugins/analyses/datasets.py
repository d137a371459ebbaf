"""Training, validation, test and calibration sets, built through the context.

Each split uses its own block of run numbers (random seeds), so no two splits share events:
train 100+, validation 200+, test 300+, background calibration 400+ (its energy-window strata
450+), likelihood templates of the populations other than ER and WIMP 500+, the 50 GeV WIMP
injected in the report 600+, its S2-only events brighter than the lone-S2 background 650+, the WIMP
runs of the sensitivity against mass 700+ (one per mass), the FaX runs of the populations outside
the background model 800+ (one per population). A run name stands for one
set of data, so the number also carries the events per run: ``er_sr0_100004000`` is the first
training run of 4000 events, ``er_sr0_300000150`` the first test run of 150.
"""

import numpy as np

from ddcore import config as dd_config
from ddcore import registry
from ddplugins.analyses.evaluation import BASIC_FEATURES
from ddplugins.ml.categories import analysis_selection, flag_bins

SPLIT_FIRST_RUN = {"train": 100, "validation": 200, "test": 300, "calibration": 400,
                   "calibration_stratum": 450, "template": 500,
                   "light_wimp_template": 600, "bright_s2only_template": 650, "sensitivity": 700,
                   "outside_model": 800}
SELECTION_COLUMNS = ("cs1", "cs2_bottom", "label")
SEARCH_COLUMNS = ("x", "y", "z", "s2_area", "alt_s2_area")  # and the fiducial and single-scatter cuts
ANOMALY_COLUMNS = ("anomaly_score", "is_anomalous")


def run_preset(st):
    """The preset (science run) that simulated run ids of this context must carry: its
    ``science_run``, else the preset the context was made with, else its detector's default."""
    preset = st.config.get("science_run") or st.preset or registry.get_detector(st.detector).default_preset
    if not preset:
        raise dd_config.ConfigError(f"Context of detector {st.detector!r} names no science run: set "
                                    "'science_run' or make it with a preset")
    return preset


def science_run_live_days(st) -> float:
    """The live days of the detector's science run: ``sim_exposure_live_days`` of its config file
    and preset (a context may simulate a pseudo-data run of another length), else the option's
    default."""
    spec = registry.get_detector(st.detector)
    values = {}
    if spec.config_file:
        values = dd_config.load_detector_config(spec.config_file, spec.plugins, preset=st.preset)
    default = dd_config.plugin_options(spec.plugins)["sim_exposure_live_days"].default
    return float(values.get("sim_exposure_live_days", default))


def events_per_run(st):
    """``sim_n_events`` of the context (set, or the plugin's default)."""
    if "sim_n_events" in st.config:
        return int(st.config["sim_n_events"])
    options = dd_config.plugin_options(registry.get_detector(st.detector).plugins)
    return int(options["sim_n_events"].default)


def split_runs(st, split, sources=("er", "wimp"), n_runs=1):
    """Run ids of a split for the context's ``sim_n_events``."""
    preset = run_preset(st)
    first = SPLIT_FIRST_RUN[split]
    n_events = events_per_run(st)
    return [f"{source}_{preset}_{first + i:03d}{n_events:06d}" for source in sources for i in range(n_runs)]


def search_selection(st, run_id, events):
    """The analysis space of the dataset-level search: :func:`analysis_selection` with the
    fiducial cut of the run's context and the single-scatter cut."""
    return analysis_selection(events, volume=fiducial_volume(st, run_id), single_scatter=True)


def fiducial_volume(st, run_id):
    """(radius, z_top, z_bottom) [cm] of the fiducial volume the run's context configures."""
    options = st.get_single_plugin(run_id, "instructions").config
    return options["fiducial_radius_cm"], options["fiducial_z_top_cm"], options["fiducial_z_bottom_cm"]


def run_events(st, run, n_simulated, with_anomaly, progress):
    """(simulated events, the run's events in the analysis space, their anomaly scores and flags or
    None, the anomaly-fraction bins of every event of the run or None): one population's run as the
    dataset-level tests see it."""
    targets = ("event_basics", "event_truth") + (("anomaly_scores",) if with_anomaly else ())
    columns = list(dict.fromkeys(["label", "cs1", "cs2_bottom", *SEARCH_COLUMNS, *BASIC_FEATURES] + (
        [*ANOMALY_COLUMNS, "category"] if with_anomaly else [])))
    every_event = load_events(st, [run], targets, selected=False, progress=progress, keep_columns=columns)
    events = every_event[search_selection(st, run, every_event)]
    if not with_anomaly:
        return n_simulated, events, None, None
    return n_simulated, events, events[list(ANOMALY_COLUMNS)], flag_bins(every_event)


def load_events(st, run_ids, targets=("event_basics", "event_truth"), selected=True, progress=True,
                keep_columns=None):
    """Concatenated arrays of ``targets`` (one kind: events) for runs, made if missing."""
    if keep_columns is not None and selected:
        keep_columns = list(dict.fromkeys([*keep_columns, *SELECTION_COLUMNS]))
    arrays = []
    for run_id in run_ids:
        st.make(run_id, list(targets), progress_bar=progress)
        data = st.get_array(run_id, list(targets), progress_bar=False, keep_columns=keep_columns)
        if selected:
            data = data[analysis_selection(data)]
        arrays.append(data)
    return np.concatenate(arrays)


def image_set(st, run_ids, field, progress=True, with_s1_waveform=False):
    """(images, labels, events) of the selected events of runs; labels 1 = WIMP, 0 = ER.
    ``with_s1_waveform``: the events also hold the main S1 waveform (``event_waveforms``)."""
    columns = ["time", "endtime", "label", "cs1", "cs2_bottom", "x", "y", field, *BASIC_FEATURES]
    targets = ["event_basics", "event_truth", "event_images"]
    if with_s1_waveform:
        columns.append("s1_waveform")
        targets.append("event_waveforms")
    events = load_events(st, run_ids, targets, progress=progress, keep_columns=list(dict.fromkeys(columns)))
    images = events[field]
    if images.ndim == 3:
        images = images[..., None]
    return images.astype(np.float32), events["label"].astype(np.int8), events
