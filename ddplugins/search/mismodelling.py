"""Robustness to a detector that is not the simulated one.

The search is calibrated and its templates built on the nominal detector. Here the test runs are
simulated again by detectors that depart from it (``MisModelledRawRecords``: g1, g2, electron
lifetime, a light-yield map distortion, the ER band), with the same random events (the same run
names, in stores of their own), and analysed with the nominal processing, models, calibration and
templates, as data from a mis-modelled detector would be. For each shift: the change of the ER
background's anomaly flag rate, of the ER events in the analysis space and of the WIMP efficiency
(analysis space and above the nominal 50%-acceptance discriminant), and the false discovery Z of
a background-only search at 1 t yr, for every test. Then each detector parameter becomes a shape
nuisance of every test (its -1 and +1 standard deviations: the data of the two shifted
detectors, a Gaussian constraint), and the same false Z and the WIMP's expected Z are given with
it: what knowing the detector to that precision costs; and again with every parameter a nuisance
at once, as an analysis of real data would fit them.
"""

import dataclasses
import logging
import os

import numpy as np

from ddcore.context import derive
from ddplugins.analyses.datasets import run_events, split_runs
from ddplugins.ml.categories import CATEGORIES
from ddplugins.ml.intervals import clopper_pearson
from ddplugins.search import statistics
from ddplugins.simulation import populations
from ddplugins.simulation.mismodelled_raw_records import MisModelledRawRecords

log = logging.getLogger(__name__)

# (parameter, its option, the shift of one standard deviation): the sizes for g1, g2 and
# the electron lifetime; assumed for the light-yield map (top-to-bottom tilt), the ER band (a
# share of the electrons recombining) and the drift field (10%: XENON1T's field was not uniform)
PARAMETERS = (
    ("g1", "true_g1_factor", 0.03),
    ("g2", "true_g2_factor", 0.05),
    ("electron lifetime", "true_electron_lifetime_factor", 0.10),
    ("light-yield map tilt", "true_light_yield_tilt", 0.05),
    ("ER band (recombination)", "true_er_recombination_shift", 0.03),
    ("drift field", "true_drift_field_factor", 0.10),
)
FACTOR_OPTIONS = ("true_g1_factor", "true_g2_factor", "true_electron_lifetime_factor", "true_drift_field_factor")


def one_tonne_year_live_days(plugin):
    """Live days of 1 t yr in the fiducial mass the expected counts use."""
    return 365.25 * 1000.0 / plugin.sim_fiducial_mass_kg


def shifted_detectors(parameters=None):
    """(parameter, sign, options) of every shifted detector (of the named ``parameters``, default
    all): each parameter down and up."""
    known = [p for p, _, _ in PARAMETERS]
    unknown = set(parameters or ()) - set(known)
    if unknown:
        raise ValueError(f"Unknown detector parameter(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    for parameter, option, size in PARAMETERS:
        if parameters is not None and parameter not in parameters:
            continue
        nominal = 1.0 if option in FACTOR_OPTIONS else 0.0
        for sign in (-1, +1):
            yield parameter, sign, {option: nominal + sign * size}


def study(st, search, n_test, store_dir, progress=True, parameters=None):
    """The mis-modelling table (one row per shifted detector of the named ``parameters``, default
    all; see the module docstring)."""
    test_st = derive(st, sim_n_events=n_test)
    er_run, wimp_run = split_runs(test_st, "test")
    with_anomaly = search.flags is not None
    days = one_tonne_year_live_days(search.plugin)
    produced = populations.expected_counts(search.plugin, live_days=days)
    threshold = np.quantile(search.values["wimp"][1], 0.5)
    nominal = _measure(search, produced, search.values["er"], search.flags and search.flags["er"],
                       search.anomaly_scores and search.anomaly_scores["er"], search.values["wimp"], threshold)
    rows, shifted = [], {}
    for parameter, sign, options in shifted_detectors(parameters):
        slug = "_".join(f"{k}_{v:g}" for k, v in options.items())
        log.info("Mis-modelled detector: %s %+d sigma (%s)", parameter, sign, slug)
        mis = MisModelledRawRecords.mis_modelled(test_st, os.path.join(store_dir, slug), **options)
        n, er_events, er_anomaly, er_flags = run_events(mis, er_run, n_test, with_anomaly, progress)
        _, wimp_events, _, _ = run_events(mis, wimp_run, n_test, False, progress)
        row = _measure(search, produced, (n, search.discriminant(er_events)), (n, er_flags) if with_anomaly else None,
                       (n, np.asarray(er_anomaly["anomaly_score"], float)) if with_anomaly else None,
                       (n, search.discriminant(wimp_events)), threshold)
        row.update(parameter=parameter, sign=sign, options=options)
        shifted[(parameter, sign)] = row
        rows.append(row)

    def variations(test_name, names):
        return {name: tuple(shifted[(name, s)][f"_{test_name}_observed"] for s in (-1, +1)) for name in names}

    names = list(dict.fromkeys(row["parameter"] for row in rows))
    for test_name, values, edges in search.tests():
        signal, backgrounds = search.templates(produced, values, edges)
        # every parameter at once, as the analysis of real data would have them
        with_all = _with_shape_nuisance(backgrounds, variations(test_name, names), nominal[f"_{test_name}_observed"])
        if rows:
            nominal[f"{test_name}_wimp_z"] = statistics.discovery_significance(signal, backgrounds)
            nominal[f"{test_name}_wimp_z_with_all_nuisances"] = statistics.discovery_significance(signal, with_all)
        for row in rows:
            with_nuisance = _with_shape_nuisance(backgrounds, variations(test_name, [row["parameter"]]),
                                                 nominal[f"_{test_name}_observed"])
            observed = row[f"_{test_name}_observed"]
            row[f"{test_name}_false_z_with_nuisance"] = statistics.discovery_significance(
                signal, with_nuisance, observed=observed)
            row[f"{test_name}_false_z_with_all_nuisances"] = statistics.discovery_significance(
                signal, with_all, observed=observed)
            row[f"{test_name}_wimp_z"] = statistics.discovery_significance(signal, backgrounds)
            row[f"{test_name}_wimp_z_with_nuisance"] = statistics.discovery_significance(signal, with_nuisance)
    nominal.update(parameter="nominal", sign=0, options={})
    return {"live_days": days, "er_run": er_run, "wimp_run": wimp_run, "wimp_threshold": float(threshold),
            "rows": [_public(r) for r in [nominal, *rows]]}


def _measure(search, produced, er_values, er_flags, er_scores, wimp_values, threshold):
    """Flag rate, analysis-space events, WIMP efficiency and the false Z of every test, for an
    ER run (and WIMP run) given as (simulated events, values)."""
    n_er, er = er_values
    n_wimp, wimp = wimp_values
    passed = int(np.sum(wimp >= threshold))
    row = {"er_in_space": len(er), "er_simulated": n_er, "wimp_efficiency": passed / n_wimp,
           "wimp_efficiency_interval": list(clopper_pearson(passed, n_wimp))}
    if er_flags is not None:
        flagged = int(np.sum(er_flags[1] >= len(CATEGORIES)))
        row.update(er_flag_fraction=flagged / n_er, er_flag_fraction_interval=list(clopper_pearson(flagged, n_er)))
    replaced = {"likelihood": er_values, "anomaly_fraction": er_flags, "anomaly_score_likelihood": er_scores}
    for test_name, values, edges in search.tests():
        signal, backgrounds = search.templates(produced, values, edges)
        observed = _observed(search, produced, values, edges, replaced[test_name])
        row[f"_{test_name}_observed"] = observed
        row[f"{test_name}_false_z"] = statistics.discovery_significance(signal, backgrounds, observed=observed)
    return row


def _observed(search, produced, values, edges, er_values):
    """Expected counts of the background model with the ER events replaced by ``er_values``
    (simulated events, values): for the anomaly fraction the ER run's own flags, the other
    backgrounds flagged as the calibration says."""
    n, values_er = er_values
    er = statistics.template("er", values_er, edges, produced["er"], n)
    if values is not search.flags:
        _, backgrounds = search.templates(produced, {**values, "er": er_values}, edges)
        return sum(b.expected for b in backgrounds)
    others = [statistics.template(name, v, edges, produced[name], m) for name, (m, v) in values.items()
              if name in produced and name not in ("er", "wimp")]
    return sum(b.expected for b in search.calibrated_flags(others)) + search.pooled(values, er).expected


def _with_shape_nuisance(backgrounds, variations, nominal):
    """The backgrounds with a shape nuisance on ER per detector parameter of ``variations``
    ({parameter: (data at -1, data at +1 standard deviation)}): at -1 and +1 standard deviation
    the model moves by what that parameter's two shifted detectors' data differ from the nominal
    detector's; several parameters' moves add up."""
    found = []
    for background in backgrounds:
        if background.name == "er":
            expected = background.expected
            shapes = {name: tuple(np.clip(expected + (data - nominal), 0, None) / background.weight for data in pair)
                      for name, pair in variations.items()}
            background = dataclasses.replace(background, shape_variations=shapes)
        found.append(background)
    return found


def _public(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


def format_table(result):
    """The mis-modelling table as text."""
    lines = [f"Mis-modelled detector (test runs {result['er_run']} / {result['wimp_run']} simulated again, analysed "
             f"with the nominal model; false Z of a background-only search at {result['live_days']:.0f} live days = "
             "1 t yr, without / with the parameter as a shape nuisance / with every parameter as one):"]
    nominal = result["rows"][0]
    for row in result["rows"]:
        name = row["parameter"] if not row["sign"] else f"{row['parameter']} {'+' if row['sign'] > 0 else '-'}1 sigma"
        flag = (f"ER flagged {100 * row['er_flag_fraction']:.2f}% (nominal {100 * nominal['er_flag_fraction']:.2f}%), "
                if "er_flag_fraction" in row else "")
        tests = "; ".join(
            f"{test.replace('_', ' ')} false Z {row[test + '_false_z']:.2f}"
            + (f" / {row[test + '_false_z_with_nuisance']:.2f}" if test + "_false_z_with_nuisance" in row else "")
            + (f" / {row[test + '_false_z_with_all_nuisances']:.2f}"
               if test + "_false_z_with_all_nuisances" in row else "")
            for test in ("likelihood", "anomaly_fraction", "anomaly_score_likelihood") if test + "_false_z" in row)
        lines.append(f"  {name:34s} {flag}ER in space {row['er_in_space']}, WIMP efficiency "
                     f"{row['wimp_efficiency']:.3f} ({row['wimp_efficiency'] / nominal['wimp_efficiency'] - 1:+.1%}); "
                     f"{tests}")
    return "\n".join(lines)
