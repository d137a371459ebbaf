"""Sensitivity against WIMP mass: the median 90% CL upper limit with its 1 and 2 standard
deviation bands and the 3 sigma discovery potential of every test, on the same simulated events.

For each mass a WIMP run of its own (split ``sensitivity``, one run number per mass of
``MASSES_GEV``) replaces the WIMP template of the search; the backgrounds are the search's
templates. The tests: cut-and-count (events below the ER band median, one bin), the WIMP-template
likelihood (binned band discriminant), the anomaly-score likelihood and the anomaly fraction; with
``cs1_slices`` also the WIMP-template likelihood binned in cS1 slices as well
(``likelihood_cs1``, ``statistics.CS1SlicedBinning``), which sees a light WIMP's spectrum. The
limits come from ``statistics.upper_limit`` (CLs, pyhf, background-only Asimov bands); the
discovery potential is the cross-section whose median (Asimov) discovery significance is 3.

At ``EXPOSURE_SCAN_MASSES_GEV`` the same against exposure (``EXPOSURE_SCAN_LIVE_DAYS`` beside the
reference): the templates scaled to each exposure, the template statistics unchanged. With
``n_bootstrap`` the median limit at the reference exposure carries an error: half the 16-84%
range of the medians from bootstrap resamples of every template's simulated events (signal and
backgrounds), the uncertainty the finite simulation leaves on the curve.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import optimize

from ddcore.context import derive
from ddplugins.analyses.datasets import load_events, search_selection, split_runs
from ddplugins.ml.categories import flag_bins
from ddplugins.search import statistics
from ddplugins.simulation import populations

log = logging.getLogger(__name__)

MASSES_GEV = (6, 10, 20, 50, 100, 200, 500, 1000)
EXPOSURE_SCAN_MASSES_GEV = (10, 50)
# live days x the fiducial mass: 350 days x 1042 kg is about 1 t yr
EXPOSURE_SCAN_LIVE_DAYS = (10.0, 100.0, 350.0, 1000.0)
DISCOVERY_Z = 3.0
# independent sets of WIMP runs, one run per mass each, before the next split's seeds (800)
MAX_RUN_SETS = 100 // len(MASSES_GEV)
CUT_AND_COUNT = "cut_and_count"
LIKELIHOOD_CS1 = "likelihood_cs1"


def legend_label(test):
    """A test's name as a figure's legend gives it."""
    return {LIKELIHOOD_CS1: "likelihood in cS1 slices"}.get(test, test.replace("_", " "))


def wimp_run(st, mass_gev, run_set=0):
    """(context, run id) of the sensitivity split's WIMP run of ``mass_gev`` (one of MASSES_GEV:
    a run name stands for one set of data, so each mass has its own run number) in the
    ``run_set``-th independent set of such runs (one per mass each, seeds counting on)."""
    if mass_gev not in MASSES_GEV:
        raise ValueError(f"The sensitivity simulates WIMP masses {MASSES_GEV} GeV only, not {mass_gev}")
    if not 0 <= run_set < MAX_RUN_SETS:
        raise ValueError(f"Sensitivity WIMP run set {run_set}: there are {MAX_RUN_SETS} (seeds 700-799)")
    run_st = derive(st, wimp_mass_gev=float(mass_gev))
    return run_st, split_runs(run_st, "sensitivity", sources=("wimp",), n_runs=len(MASSES_GEV) * (run_set + 1))[
        run_set * len(MASSES_GEV) + MASSES_GEV.index(mass_gev)]


def _cut(values, edge):
    return values[values >= edge]


def _tests(search, wimp, cs1_slices=0):
    """(name, per-population values with this WIMP, bin edges) of every test; ``wimp``: the
    mass's (simulated, band values, anomaly scores, flags, cS1 [PE])."""
    found = []
    n, band, scores, flags, cs1 = wimp
    for name, values, edges in search.tests():
        replaced = dict(values)
        replaced["wimp"] = (n, {"likelihood": band, "anomaly_fraction": flags,
                                "anomaly_score_likelihood": scores}[name])
        found.append((name, replaced, edges))
    median = float(np.quantile(search.values["er"][1], 0.5))
    counted = {name: (n, _cut(v, median)) for name, (n, v) in search.values.items()}
    counted["wimp"] = (wimp[0], _cut(wimp[1], median))
    found.insert(0, (CUT_AND_COUNT, counted, np.array([median, np.inf])))
    if cs1_slices > 1:
        found.append((LIKELIHOOD_CS1, *_cs1_sliced(search, (n, band, cs1), cs1_slices)))
    return found


def _cs1_sliced(search, wimp, n_slices):
    """Per-population values with this WIMP (``wimp``: simulated, band values, cS1) and bin edges
    of the WIMP-template likelihood in ``n_slices`` cS1 slices."""
    if search.cs1 is None or search.er_calibration is not None:
        raise ValueError("The likelihood in cS1 slices needs every population's cS1 and the simulated ER template "
                         "(not --er-from-calibration-runs)")
    binning = statistics.CS1SlicedBinning.from_background(search.values["er"][1], search.cs1["er"][1], n_slices)
    values = {name: (n, binning.values(v, search.cs1[name][1])) for name, (n, v) in search.values.items()}
    n, band, cs1 = wimp
    values["wimp"] = (n, binning.values(band, cs1))
    return values, binning.edges


def _discovery_strength(signal, backgrounds, z=DISCOVERY_Z):
    """Signal strength whose Asimov discovery significance is ``z``."""
    known = {}

    def gap(log_mu):
        if log_mu not in known:
            found = statistics.discovery_significance(signal.scaled(np.exp(log_mu)), backgrounds)
            if np.isnan(found):
                raise RuntimeError(f"the significance fit at strength {np.exp(log_mu):.3g} did not converge")
            known[log_mu] = found - z
        return known[log_mu]

    # bracket from the strength whose signal is a z sigma excess over the background count alone,
    # in steps of 4 (a fit at an absurd strength may not converge)
    n_background = float(sum(b.expected.sum() for b in backgrounds))
    low = high = np.log((z * np.sqrt(n_background) + z ** 2) / max(float(signal.expected.sum()), 1e-12))
    step = np.log(4.0)
    for _ in range(12):
        if gap(high) >= 0:
            break
        high += step
    else:
        return np.inf
    for _ in range(12):
        if gap(low) < 0:
            break
        low -= step
    else:
        return float(np.exp(low))
    return float(np.exp(optimize.brentq(gap, low, high, xtol=0.01)))


def _limits(signal, backgrounds, cross_section):
    """Median limit with bands and 3 sigma discovery cross-section [cm^2] of one test."""
    if signal.expected.sum() <= 0:
        return {"limit_cm2": [np.inf] * 5, "discovery_cm2": np.inf}
    limit = statistics.upper_limit(signal, backgrounds)
    try:
        discovery = _discovery_strength(signal, backgrounds) * cross_section
    except RuntimeError as e:  # the limit stands without it
        log.warning("No 3 sigma discovery cross-section: %s", e)
        discovery = np.inf
    return {"limit_cm2": [float(v * cross_section) for v in limit.expected], "discovery_cm2": discovery}


def _median_error(search, produced, values, edges, cross_section, rng, n_bootstrap):
    """Half the 16-84% range of the median limit [cm^2] over bootstrap resamples of the
    templates' simulated events."""
    from pyhf.exceptions import FailedMinimization

    resample = statistics.resampler(rng)
    medians = []
    for _ in range(n_bootstrap):
        signal, backgrounds = search.templates(produced, values, edges, resample)
        try:
            medians.append(statistics.upper_limit(signal, backgrounds).median * cross_section)
        except (ValueError, RuntimeError, FailedMinimization):
            log.warning("A bootstrap limit did not converge; left out of the median's error")
    low, high = np.percentile(medians, [16, 84]) if medians else (np.nan, np.nan)
    return float((high - low) / 2)


def sensitivity(st, search, n_events, live_days, masses=MASSES_GEV, progress=True, n_bootstrap=0, seed=0,
                cs1_slices=0, run_set=0, exposure_scan=True):
    """Rows per mass, test and exposure: expected WIMP events, median 90% CL limit and its bands
    [cm^2], 3 sigma discovery cross-section [cm^2]; at ``live_days`` for every mass (with the
    median's bootstrap error where ``n_bootstrap``), and with ``exposure_scan`` at
    ``EXPOSURE_SCAN_LIVE_DAYS`` for the masses of ``EXPOSURE_SCAN_MASSES_GEV``; with
    ``cs1_slices`` > 1 also the WIMP-template likelihood in that many cS1 slices. The WIMP runs
    are those of set ``run_set`` (``wimp_run``)."""
    from pyhf.exceptions import FailedMinimization

    template_st = derive(st, sim_n_events=n_events)
    rng = np.random.default_rng(seed)
    rows = []
    for mass in masses:
        run_st, run = wimp_run(template_st, mass, run_set)
        targets = ["event_basics", "event_truth"] + (["anomaly_scores"] if search.flags is not None else [])
        every = load_events(run_st, [run], targets, selected=False, progress=progress)
        events = every[search_selection(run_st, run, every)]
        scores = np.asarray(events["anomaly_score"], float) if search.flags is not None else None
        wimp = (n_events, search.discriminant(events), scores,
                np.asarray(flag_bins(every), float) if search.flags is not None else None,
                np.asarray(events["cs1"], float))
        plugin = run_st.get_single_plugin(run, "instructions")
        cross_section = float(plugin.wimp_cross_section_cm2)
        log.info("Sensitivity at %g GeV: %d of %d WIMP events in the analysis space", mass, len(events), n_events)
        exposures = [live_days] + (list(EXPOSURE_SCAN_LIVE_DAYS)
                                   if exposure_scan and mass in EXPOSURE_SCAN_MASSES_GEV else [])
        for name, values, edges in _tests(search, wimp, cs1_slices):
            if values["wimp"][1] is None:
                continue
            for days in exposures:
                produced = populations.expected_counts(plugin, live_days=days)
                signal, backgrounds = search.templates(produced, values, edges)
                row = {"mass_gev": float(mass), "test": name, "live_days": float(days),
                       "expected_wimp": float(signal.expected.sum()), "cross_section_cm2": cross_section}
                try:
                    row.update(_limits(signal, backgrounds, cross_section))
                    if n_bootstrap and days == live_days and np.isfinite(row["limit_cm2"][2]):
                        row["limit_median_error_cm2"] = _median_error(search, produced, values, edges, cross_section,
                                                                      rng, n_bootstrap)
                except (ValueError, RuntimeError, FailedMinimization) as e:  # too few signal events to fit
                    log.warning("%s at %g GeV, %g live days: no limit from %d simulated WIMP events in the "
                                "analysis space (%s)", name, mass, days, len(events), e)
                    row.update(limit_cm2=[np.inf] * 5, discovery_cm2=np.inf)
                rows.append(row)
    return rows


def seed_spread(rows_per_set, live_days):
    """Per mass and test at ``live_days``: the median limit [cm^2] of each independent set of
    simulated templates (``rows_per_set``: the rows of ``sensitivity`` of each set, the first
    the curves' own), their mean and standard deviation, beside the first set's bootstrap error."""
    found = {}
    for rows in rows_per_set:
        for row in at_exposure(rows, live_days):
            found.setdefault((row["mass_gev"], row["test"]), []).append(row)
    spread = []
    for (mass, test), rows in found.items():
        medians = np.array([r["limit_cm2"][2] for r in rows])
        finite = medians[np.isfinite(medians)]
        spread.append({"mass_gev": mass, "test": test, "medians_cm2": medians.tolist(),
                       "mean_cm2": float(np.mean(finite)) if len(finite) else np.inf,
                       "seed_std_cm2": float(np.std(finite, ddof=1)) if len(finite) > 1 else np.nan,
                       "bootstrap_error_cm2": rows[0].get("limit_median_error_cm2", np.nan)})
    return spread


def at_exposure(rows, live_days):
    """The rows of one exposure (rows of results made before the exposure scan have none)."""
    return [r for r in rows if r.get("live_days", live_days) == live_days]


def sensitivity_figure(rows, live_days, mass_kg):
    """Median limits with bands and discovery potentials against WIMP mass, one colour per test;
    beside them, where the rows hold an exposure scan, the median limits against exposure."""
    from matplotlib.figure import Figure

    scanned = sorted({r["mass_gev"] for r in rows if r.get("live_days", live_days) != live_days})
    fig = Figure(figsize=(13 if scanned else 8, 5.5), layout="constrained")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]}) if scanned else [fig.subplots()]
    ax = axes[0]
    reference = at_exposure(rows, live_days)
    tests = list(dict.fromkeys(r["test"] for r in rows))
    colours = dict(zip(tests, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]))
    for test in tests:
        colour = colours[test]
        mine = [r for r in reference if r["test"] == test and np.isfinite(r["limit_cm2"][2])]
        if not mine:
            continue
        masses = [r["mass_gev"] for r in mine]
        limits = np.array([r["limit_cm2"] for r in mine])
        label = legend_label(test)
        errors = [r.get("limit_median_error_cm2", 0.0) for r in mine]
        ax.errorbar(masses, limits[:, 2], yerr=errors, fmt="-", color=colour, label=f"{label}: median 90% CL limit")
        ax.fill_between(masses, limits[:, 1], limits[:, 3], color=colour, alpha=0.25)
        ax.fill_between(masses, limits[:, 0], limits[:, 4], color=colour, alpha=0.1)
        ax.plot(masses, [r["discovery_cm2"] for r in mine], ":", color=colour, label=f"{label}: 3 sigma discovery")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("WIMP mass [GeV/c$^2$]")
    ax.set_ylabel("SI WIMP-nucleon cross-section [cm$^2$]")
    ax.set_title(f"Sensitivity, {live_days:g} live days x {mass_kg:g} kg (bands: +-1, +-2 sigma)", fontsize=10)
    ax.legend(fontsize=7)
    if scanned:
        other = axes[1]
        for test in tests:
            for mass, style in zip(scanned, ("-o", "--s", ":^")):
                mine = sorted((r for r in rows if r["test"] == test and r["mass_gev"] == mass
                               and np.isfinite(r["limit_cm2"][2])), key=lambda r: r.get("live_days", live_days))
                if mine:
                    other.plot([r.get("live_days", live_days) * mass_kg / 1e3 / 365.25 for r in mine],
                               [r["limit_cm2"][2] for r in mine], style, color=colours[test], ms=4,
                               label=f"{legend_label(test)}, {mass:g} GeV")
        other.set_xscale("log")
        other.set_yscale("log")
        other.set_xlabel(f"exposure [t yr] ({mass_kg:g} kg fiducial)")
        other.set_ylabel("median 90% CL limit [cm$^2$]")
        other.set_title("Against exposure", fontsize=10)
        other.legend(fontsize=6)
    return fig
