"""Someone else's simulator, processed and judged: WFSim's XENONnT raw_records processed by
straxen and by this project, both compared with WFSim's truth.

Three steps, two environments (``make validate-wfsim`` runs them all):

1. ``simulate`` (the peer environment, ``.venv-peer``: wfsim 1.2.2, straxen 4.1.1, numpy < 2.4):
   FaX instructions of ER and NR recoils at several energies, uniform in WFSim's TPC, quanta from
   NEST at WFSim's drift field, one event every ``SPACING_MS``; WFSim's public XENONnT
   configuration (``../shared/data/wfsim``; its pattern maps constant, as WFSim's own tests run it
   without the collaboration's maps) writes raw_records and truth into a strax folder.
2. ``straxen`` (peer environment): straxen's XENONnT chain, offline (constant gains, one hit
   threshold, WFSim's drift velocity), reads that folder to event_basics.
3. ``ddcore`` (this project's environment): ``ddcore.context("xenonnt", raw_data=FOLDER)`` with
   WFSim's detector facts (TPC length, drift velocity, electron lifetime, gains), to event_basics.

``compare`` matches both processors' main S1 and S2 to the truth of each event and writes the
table (``docs/results/wfsim/``). Known traps handled here: wfsim calls ``np.in1d`` (gone in numpy
2.4: the peer environment pins numpy < 2.4); the public single-PE file's charge axis has mean
138.7, which WFSim takes as the gain, so it is normalised to mean 1; with constant pattern maps
straxen's default ``s2_min_aft`` (0.5) and S2-proximity trigger reject many S2s, so straxen runs
with ``s2_min_aft=0`` and its trigger on area alone (``trigger_feature="area"`` with no upper
limit); every other straxen option keeps its default.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys

import numpy as np

log = logging.getLogger("wfsim_validation")

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "wfsim")
RUN = "wfsim_000"
SPACING_MS = 4.0  # > the longest drift (97 cm at 1.335 um/ns: 0.73 ms) and every tail
ENERGIES_KEV = {0: (2.0, 5.0, 10.0, 20.0, 40.0), 1: (5.0, 10.0, 20.0, 40.0, 80.0)}  # ER, NR
ADC_PER_PE = 116.7  # the project's XENONnT single-PE area; WFSim gets its inverse as the gain model
N_TPC_PMTS, N_TOP_PMTS = 494, 253


def wfsim_config(work):
    """WFSim's public XENONnT configuration (JSON with // comments) as plain JSON, every map a
    constant, the single-PE distribution normalised to mean 1 beside it."""
    with open(os.path.join(SHARED, "XENONnT_wfsim_config.json")) as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("//"))
    text = re.sub(r"#[^\n]*", "", text)  # trailing "# unit" comments
    text = re.sub(r",\s*([\]}])", r"\1", text)  # trailing commas
    config = json.loads(text)
    import pandas as pd

    spe = pd.read_csv(os.path.join(SHARED, "XENONnT_spe_distributions_single_channel.csv"), index_col=0)
    charge = "charge"
    weights = spe[spe.columns[-1]].to_numpy(float)
    mean = float(np.sum(spe[charge] * weights) / np.sum(weights))
    # one distribution per channel, as WFSim reads it
    table = pd.DataFrame({charge: spe[charge] / mean} | {str(ch): weights for ch in range(N_TPC_PMTS)})
    table.to_csv(os.path.join(work, "spe_normalised.csv"))
    dummy = ["constant dummy", 1, []]
    config.update({
        "url_base": work, "photon_area_distribution": "spe_normalised.csv",
        "s1_pattern_map": ["constant dummy", 14e-5, [N_TPC_PMTS]],
        "s2_pattern_map": ["constant dummy", 30e-5, [N_TPC_PMTS]],
        "s1_lce_correction_map": dummy, "s2_correction_map": dummy, "field_dependencies_map": dummy,
        "se_gain_map": dummy, "enable_noise": False, "enable_pmt_afterpulses": False,
        "enable_electron_afterpulses": False,
    })
    path = os.path.join(work, "wfsim_config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    log.info("single-PE charge axis mean %.1f normalised to 1", mean)
    return path, config


def instructions(n_events, config, seed=0):
    """WFSim FaX instructions: per event one S1 (photons) and one S2 (electrons) row."""
    from ddplugins.simulation.quanta import nest_quanta

    rng = np.random.default_rng(seed)
    recoil = rng.integers(0, 2, n_events)
    energy = np.array([rng.choice(ENERGIES_KEV[int(r)]) for r in recoil])
    radius = config["tpc_radius"] * np.sqrt(rng.uniform(0, 1, n_events)) * 0.98
    phi = rng.uniform(0, 2 * np.pi, n_events)
    z = -rng.uniform(1.0, config["tpc_length"] - 1.0, n_events)
    photons, electrons, excitons = nest_quanta(recoil, energy, config["drift_field"], seed)
    rows = []
    for i in range(n_events):
        for kind, amp in ((1, photons[i]), (2, electrons[i])):
            rows.append(dict(event_number=i, type=kind, time=int(1e6 * SPACING_MS * (i + 1)),
                             x=radius[i] * np.cos(phi[i]), y=radius[i] * np.sin(phi[i]), z=z[i], amp=max(int(amp), 1),
                             recoil=7 if recoil[i] == 0 else 0, e_dep=energy[i], tot_e=energy[i], g4id=i, vol_id=1,
                             local_field=config["drift_field"], n_excitons=excitons[i], x_pri=0, y_pri=0, z_pri=0))
    import pandas as pd

    return pd.DataFrame(rows)


def _wfsim_context(work, seed):
    """The strax context that wrote (or, with the same options, reads) WFSim's raw_records."""
    import strax
    import straxen  # noqa: F401  (wfsim's options need it registered)
    import wfsim
    from immutabledict import immutabledict

    config_path = os.path.join(work, "wfsim_config.json")
    return strax.Context(
        storage=[strax.DataDirectory(os.path.join(work, "strax_data"))], register=[wfsim.RawRecordsFromFaxNT],
        config=dict(detector="XENONnT", fax_file=os.path.join(work, "instructions.csv"), fax_config=config_path,
                    gain_model_mc=[1 / ADC_PER_PE] * N_TPC_PMTS,
                    channel_map=immutabledict(tpc=(0, N_TPC_PMTS - 1), he=(500, 752), aqmon=(790, 807)),
                    n_tpc_pmts=N_TPC_PMTS, n_top_pmts=N_TOP_PMTS, chunk_size=2, event_rate=1, seed=seed + 1))


def simulate(args):
    os.makedirs(args.work, exist_ok=True)
    _, config = wfsim_config(args.work)
    table = instructions(args.events, config, args.seed)
    table.to_csv(os.path.join(args.work, "instructions.csv"), index=False)
    st = _wfsim_context(args.work, args.seed)
    st.make(RUN, "raw_records")
    truth = st.get_array(RUN, "truth", progress_bar=False)
    log.info("WFSim: %d instructions, %d truth rows", len(table), len(truth))


def _detector(work):
    with open(os.path.join(work, "wfsim_config.json")) as f:
        config = json.load(f)
    return {"tpc_length_cm": float(config["tpc_length"]), "tpc_radius_cm": float(config["tpc_radius"]),
            "drift_velocity_um_per_ns": float(config["drift_velocity_liquid"]) * 1e4,
            "electron_lifetime_us": float(config["electron_lifetime_liquid"]) / 1e3,
            "drift_time_gate_us": float(config["drift_time_gate"]) / 1e3}


def _pmts():
    import ddcore
    from ddplugins.tpc._geometry import TOP
    from ddplugins.tpc._options import pmt_table

    st = ddcore.context("xenonnt", storage=[])
    pmts = pmt_table(st.get_single_plugin("er_sr0_000", "peaks").config)
    return pmts["x"], pmts["y"], int(np.sum(pmts["array"] == TOP))


EVENT_FIELDS = ("time", "endtime", "s1_area", "s2_area", "s1_center_time", "s2_center_time", "drift_time")


def _save_events(work, name, events, seconds):
    np.savez(os.path.join(work, f"events_{name}.npz"), seconds=seconds,
             **{field: np.asarray(events[field]) for field in EVENT_FIELDS})
    log.info("%s: %d events in %.1f s", name, len(events), seconds)


def process_straxen(args):
    import time

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from benchmarks._straxen_peer import straxen_context
    from benchmarks.conftest import InMemoryRawRecords

    source = _wfsim_context(args.work, args.seed)
    if not source.is_stored(RUN, "raw_records"):
        raise SystemExit(f"No WFSim raw_records in {args.work} with these options: run the simulate step first")

    InMemoryRawRecords.chunks = list(source.get_iter(RUN, "raw_records", progress_bar=False))
    detector = _detector(args.work)
    x, y, n_top = _pmts()
    st = straxen_context(InMemoryRawRecords, x, y, n_top, np.full(N_TPC_PMTS, 1 / ADC_PER_PE),
                         detector["drift_velocity_um_per_ns"] * 1e-4, detector["tpc_length_cm"],
                         s2_min_aft=0.0, trigger_feature="area", trigger_max_proximity=float("inf"))
    started = time.perf_counter()
    events = st.get_array(RUN, "event_basics", progress_bar=False)
    _save_events(args.work, "straxen", events, time.perf_counter() - started)


def process_ddcore(args):
    import time

    import ddcore

    for name, options in PROJECT_VARIANTS.items():
        # WFSim's PMTs share one gain (its single-PE spectrum normalised to 1): no gain spread
        st = ddcore.context("xenonnt", raw_data=os.path.join(args.work, "strax_data"), storage=[],
                            adc_per_pe=ADC_PER_PE, pmt_gain_spread=0, **_detector(args.work), **options)
        started = time.perf_counter()
        events = st.get_array(RUN, "event_basics", progress_bar=False)
        _save_events(args.work, name, events, time.perf_counter() - started)
    truth = st.get_array(RUN, "truth", progress_bar=False)
    np.save(os.path.join(args.work, "truth.npy"), truth)


# the project as it comes (an S1 needs 3 PMTs, the 3-fold coincidence of XENON's WIMP searches),
# and with straxen's 2-fold S1 classification (``s1_min_coincidence`` 2), so that the two
# processors are also compared at the same coincidence level
PROJECT_VARIANTS = {"ddcore": {}, "ddcore_2fold": {"s1_min_channels": 2}}
PROCESSORS = {"straxen": "straxen 4.1.1", "ddcore": "this project",
              "ddcore_2fold": "this project, 2-fold S1s as straxen"}
S1_TIME_TOLERANCE_NS = 300  # main S1 centre vs the mean arrival time of WFSim's S1 photons
S1_PHOTON_BINS = (1, 3, 4, 5, 6, 8, 11, 16, 31, 100_000)  # detected photons (WFSim truth n_photon)


def _clopper_pearson(k, n):
    from scipy import stats

    if n == 0:
        return np.nan, np.nan
    low = stats.beta.ppf(0.16, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(0.84, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def _median_and_spread(values, rng):
    """(median, its bootstrap error, half the 16-84% range)."""
    if not len(values):
        return np.nan, np.nan, np.nan
    boot = [np.median(values[rng.integers(0, len(values), len(values))]) for _ in range(200)]
    low, high = np.percentile(values, [16, 84])
    return float(np.median(values)), float(np.std(boot)), float((high - low) / 2)


def match(events, truth):
    """Per truth event (WFSim event number order): the matched event's row (-1: none), whether
    its main S1 and main S2 are WFSim's S1 and S2."""
    s1 = truth[truth["type"] == 1]
    s2 = truth[truth["type"] == 2]
    s1 = s1[np.argsort(s1["event_number"])]
    s2 = s2[np.argsort(s2["event_number"])]
    n = len(s1)
    slot_start = s1["time"] - 500_000
    row = np.full(n, -1)
    s1_ok = np.zeros(n, bool)
    s2_ok = np.zeros(n, bool)
    slot = np.searchsorted(slot_start, events["s1_center_time"], side="right") - 1
    for i in range(n):
        candidates = np.flatnonzero(slot == i)
        if not len(candidates):
            continue
        j = candidates[np.argmax(events["s2_area"][candidates])]
        row[i] = j
        s1_ok[i] = abs(events["s1_center_time"][j] - s1["t_mean_photon"][i]) < S1_TIME_TOLERANCE_NS
        s2_ok[i] = s2["t_first_photon"][i] <= events["s2_center_time"][j] <= s2["t_last_photon"][i]
    return row, s1_ok, s2_ok, s1, s2


def compare(args):
    rng = np.random.default_rng(args.seed)
    truth = np.load(os.path.join(args.work, "truth.npy"))
    found = {}
    for name in PROCESSORS:
        if name != "straxen" and not os.path.exists(os.path.join(args.work, f"events_{name}.npz")):
            continue  # a work folder of before the 2-fold variant
        with np.load(os.path.join(args.work, f"events_{name}.npz")) as f:
            events = {k: f[k] for k in f.files}
        found[name] = (events, *match(events, truth))
    s1, s2 = found["ddcore"][4], found["ddcore"][5]
    n = len(s1)
    photons = s1["n_photon"]
    rows = []

    def efficiency_row(label, selected, counts):
        row = {"quantity": label}
        for name in found:
            k, m = int(np.sum(counts[name][selected])), int(np.sum(selected))
            low, high = _clopper_pearson(k, m)
            row[name] = k / m if m else np.nan
            row[f"{name}_error"] = (high - low) / 2
            row["events"] = m
        rows.append(row)

    both = {name: f[2] & f[3] for name, f in found.items()}
    efficiency_row("event found (main S1 and main S2 are WFSim's)", np.ones(n, bool), both)
    for kind in (0, 1):
        label = "ER" if kind == 0 else "NR"
        efficiency_row(f"event found, {label}", (s1["recoil"] == 7) == (kind == 0), both)
    s1_found = {name: f[2] for name, f in found.items()}
    for low, high in zip(S1_PHOTON_BINS[:-1], S1_PHOTON_BINS[1:]):
        efficiency_row(f"main S1 found, {low}-{high - 1} detected S1 photons" if high < 100_000
                       else f"main S1 found, >= {low} detected S1 photons",
                       (photons >= low) & (photons < high), s1_found)
    for peak, truth_rows, index in (("S1", s1, 2), ("S2", s2, 3)):
        row = {"quantity": f"{peak} area / WFSim raw area (median; spread)"}
        for name, f in found.items():
            events, matched, ok = f[0], f[1], f[index]
            ratio = events[f"{peak.lower()}_area"][matched[ok]] / truth_rows["raw_area"][ok]
            median, error, spread = _median_and_spread(ratio, rng)
            row |= {name: median, f"{name}_error": error, f"{name}_spread": spread}
        # each processor's own matched events (as many as it found)
        row["events"] = " / ".join(f"{int(np.sum(f[index])):,}" for f in found.values())
        rows.append(row)
    agree = {}
    a, b = found["straxen"], found["ddcore"]
    matched = (a[1] >= 0) & (b[1] >= 0)
    for peak, tolerance in (("s1", 100), ("s2", 1000)):
        times = [f[0][f"{peak}_center_time"][f[1][matched]] for f in (a, b)]
        same = np.abs(times[0] - times[1]) < tolerance
        k, m = int(np.sum(same)), int(np.sum(matched))
        low, high = _clopper_pearson(k, m)
        agree[peak] = {"agree": k / m if m else np.nan, "error": (high - low) / 2, "events": m}
    seconds = {name: float(found[name][0].get("seconds", np.nan)) for name in found}
    result = {"command": "make validate-wfsim", "events": n, "rows": rows, "main_peak_agreement": agree,
              "processing_seconds": seconds}
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "wfsim_validation.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)
    lines = ["| quantity | events | " + " | ".join(PROCESSORS[name] for name in found) + " |",
             "| --- | --- | " + " | ".join("---" for _ in found) + " |"]
    for row in rows:
        cells = []
        for name in found:
            cell = f"{row[name]:.3f} +- {row[name + '_error']:.3f}"
            if f"{name}_spread" in row:
                cell += f"; {row[name + '_spread']:.3f}"
            cells.append(cell)
        lines.append(f"| {row['quantity']} | {row['events']} | " + " | ".join(cells) + " |")
    for peak, entry in agree.items():
        lines.append(f"| same main {peak.upper()} in both | {entry['events']} | {entry['agree']:.3f} +- "
                     f"{entry['error']:.3f} |" + " |" * (len(found) - 1))
    table = "\n".join(lines)
    with open(os.path.join(args.output, "wfsim_validation.md"), "w") as f:
        f.write(table + "\n")
    print(table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("simulate", "straxen", "ddcore", "compare"))
    parser.add_argument("--work", default="dd_output/wfsim_validation", help="folder for the strax data and tables")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="docs/results/wfsim", help="folder for the comparison table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    {"simulate": simulate, "straxen": process_straxen, "ddcore": process_ddcore, "compare": compare}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
