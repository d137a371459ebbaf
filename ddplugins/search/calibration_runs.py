"""The anomaly score's background calibration the way an experiment makes it: from calibration
runs and blinded science runs that the store's run metadata names, never from truth labels.

- **Sideband**: the blinded science runs (run metadata: a blinding record in state "blinded"),
  read as a blinded run reads, the signal region left out. Their events model every category
  outside the signal region, whatever populations they hold, weighted by the live time:
  ``reference days / sideband days``.
- **ER inside the signal region**: ``rn220`` runs (run metadata ``source="rn220"``), their
  events in the region weighted so that the rn220 runs match the sideband in the control region,
  the analysis space outside the signal region (the ER band above its median), as XENON1T scaled
  its ER model: expected = (sideband control events / rn220 control events) x rn220 region events.
- **NR inside the signal region**: ``ambe`` runs (``source="ambe"``), normalised to the
  radiogenic-neutron rate of the detector configuration (single scatters in the search's energy
  window per tonne-year, taken as its analysis-space rate) times the share of AmBe analysis-space
  events in the region. The AmBe spectrum is harder than the radiogenic one: stated, not modelled.
- **The small backgrounds inside the signal region**: CEvNS, accidental coincidences, wall events
  and multiple-scatter gammas, which no calibration source stands for, from the background
  simulation (a run of each, ``SIMULATED_IN_REGION``; for the wall best a ``walltail`` run, whose
  events are those whose inward shift reaches the fiducial volume and so the region), their
  region events weighted by the physics rate of the detector configuration, as XENON1T took its CEvNS and materials
  backgrounds from simulation (it derived accidentals and the wall model from data: not done
  here). Without them every such event in the region is flagged as an anomaly the calibration
  never expected: 40 background-only runs then flagged 104 analysis-space events for 74.5.
- **The CNN's likelihood ratio**: rn220 against ambe events in the analysis space (the NR
  calibration stands in for the signal; the WIMP model enters only the WIMP-template likelihood).

Truth labels are read nowhere here; the calibration records every run, its role, lineage and live
days, and the normalisations with their statistical errors.
"""

import logging

import numpy as np

from ddcore import blinding
from ddcore.context import derive
from ddplugins.analyses.datasets import fiducial_volume, load_events, run_preset, split_runs
from ddplugins.ml import density
from ddplugins.ml.categories import CATEGORIES, categories
from ddplugins.search import calibration_fit, training
from ddplugins.simulation import populations, spectra

log = logging.getLogger(__name__)

REGION = "blinding_region"
TARGETS = ("event_basics", "cnn_scores", "cvae_losses")
COLUMNS = tuple(dict.fromkeys(("cs1", "cs2_bottom", "s2_area", "alt_s2_area", "x", "y", "z", "cnn_score",
                               "cvae_plane_mse", *density.COLUMNS)))
ANALYSIS_SPACE = CATEGORIES.index("analysis_space")
SIDEBAND_FIRST_SEED = 400  # simulated sideband science runs: pseudo_<preset>_400 ... 419
SIDEBAND_MAX_RUNS = 20
SIMULATED_IN_REGION = ("cevns", "accidental", "wall", "multisite")
SIMULATED_EVENTS = 5000  # events of each of their runs in the simulated campaign
CLOSURE_FIRST_SEED = 420  # simulated science runs of the closure test (``ddcore closure``): 420 ...


class CalibrationRunError(ValueError):
    """The store lacks the calibration runs a calibration needs."""


def runs_with_source(st, source):
    """Runs of the store whose run metadata says ``source``, made for this context's detector and
    preset, sorted by name."""
    runs = st.select_runs()
    if "source" not in runs:
        return []
    names = sorted(str(r) for r in runs.loc[runs["source"] == source, "name"])
    return [r for r in names if _made_for(st, r)]


def blinded_runs(st, exclude=()):
    """Runs of the store whose run metadata holds a blinding record in state "blinded", less
    ``exclude`` (the runs of the search itself)."""
    runs = st.select_runs()
    found = []
    for run in sorted(str(r) for r in runs["name"]):
        record = blinding.state(st, run)
        if run not in exclude and record and record["state"] == blinding.BLINDED and _made_for(st, run):
            found.append(run)
    return found


def _made_for(st, run):
    document = st.run_metadata(run, projection=["detector", "preset"])
    return document.get("detector") in (None, st.detector) and document.get("preset") in (None, st.preset)


def live_days(st, run):
    """The run's live time [d]: the exposure a simulated science run stands for
    (``sim_exposure_live_days``), else the run document's ``livetime``."""
    defaults = st.run_metadata(run, projection=["strax_defaults"]).get("strax_defaults", {})
    if "sim_exposure_live_days" in defaults:
        return float(defaults["sim_exposure_live_days"])
    livetime = st.run_metadata(run, projection=["livetime"]).get("livetime")
    if not livetime:
        raise CalibrationRunError(f"Run {run!r} has no live time in its run metadata: it cannot weigh a sideband")
    return float(livetime) / 86400.0


def simulate_calibration_runs(st, rn220_events=20000, ambe_events=5000, sideband_runs=6,
                              simulated_events=SIMULATED_EVENTS, wall_tail_events=0):
    """Make the simulated calibration campaign (the step real data replace): one rn220 and one
    ambe run of the given events, ``sideband_runs`` blinded background science runs
    (``pseudo_<preset>_400``, ...) and the background simulation of the small backgrounds
    (``simulated_events`` each, the wall's a walltail run of ``wall_tail_events`` where given:
    :func:`simulated_background_runs`). Returns their names."""
    if not 1 <= sideband_runs <= SIDEBAND_MAX_RUNS:
        raise CalibrationRunError(
            f"sideband_runs={sideband_runs}: simulate 1 to {SIDEBAND_MAX_RUNS} sideband runs (seeds "
            f"{SIDEBAND_FIRST_SEED}+; the closure test's runs start at {CLOSURE_FIRST_SEED})")
    made = []
    for source, n in (("rn220", rn220_events), ("ambe", ambe_events)):
        run_st = derive(st, sim_n_events=int(n))
        run = split_runs(run_st, "calibration", sources=(source,))[0]
        run_st.make(run, list(TARGETS))
        made.append(run)
    for run_st, run in _background_simulation(st, simulated_events, SIMULATED_IN_REGION, wall_tail_events).values():
        run_st.make(run, list(TARGETS))
        made.append(run)
    preset = run_preset(st)
    for i in range(int(sideband_runs)):
        run = f"pseudo_{preset}_{SIDEBAND_FIRST_SEED + i:03d}"
        st.make(run, list(TARGETS))
        if (blinding.state(st, run) or {}).get("state") != blinding.BLINDED:
            blinding.blind(st, run, REGION)
        made.append(run)
    return made


def simulated_background_runs(st, n_events=SIMULATED_EVENTS, names=SIMULATED_IN_REGION, wall_tail_events=0):
    """{population: run} of the background simulation that models the small backgrounds inside
    the signal region: the calibration split's run of ``n_events`` of each population of ``names``;
    with ``wall_tail_events`` the wall's is its ``walltail`` run of that many events."""
    return {name: run for name, (_, run) in _background_simulation(st, n_events, names, wall_tail_events).items()}


def _background_simulation(st, n_events, names, wall_tail_events=0):
    """{population: (context, run)} behind :func:`simulated_background_runs`."""
    runs = {}
    for name in names:
        source, n = ("walltail", wall_tail_events) if name == "wall" and wall_tail_events else (name, n_events)
        run_st = derive(st, sim_n_events=int(n))
        runs[name] = (run_st, split_runs(run_st, "calibration", sources=(source,))[0])
    return runs


def _simulated_in_region(simulation, reference_days):
    """(events, category, weight) of the background simulation's events in the signal region,
    each weighted by its population's expected events in ``reference_days`` per event simulated;
    and {population: expected events in the region}. ``simulation``: {population: (context, run)}
    (:func:`_background_simulation`). A ``walltail`` run's events stand for 1 / ``wall_tail_share``
    wall events each: the region lies inside the fiducial volume, which only the tail's inward
    shifts reach."""
    parts, expected = [], {}
    for name, (run_st, run) in simulation.items():
        n_run = run_st.config["sim_n_events"]
        if not run_st.is_stored(run, "cvae_losses"):
            raise CalibrationRunError(
                f"The store has no background simulation run {run!r} ({name}, {n_run} events) for the small "
                "backgrounds of the signal region: make it (ddcore train calibrate --from-calibration-runs "
                "--simulate-campaign RN220:AMBE:SIDEBAND:SIMULATED, SIMULATED its events, with --wall-tail-events "
                "for a walltail run)")
        ((_, events, category),) = _events(run_st, [run])
        plugin = run_st.get_single_plugin(run, "instructions")
        produced = populations.expected_counts(plugin, live_days=reference_days)[name]
        if plugin.spec.source == "walltail":
            produced *= populations.wall_tail_share(plugin)
        region = events[blinding.REGION_FIELD]
        weight = np.full(int(region.sum()), produced / int(n_run))
        parts.append((events[region], category[region], weight))
        expected[name] = float(weight.sum())
    return parts, expected


def _events(st, runs, targets=TARGETS, columns=COLUMNS):
    """Per run: (events with the region flag, category) as a read of the run gives them."""
    parts = []
    for run in runs:
        events = load_events(st, [run], (*targets, REGION), selected=False, progress=False,
                             keep_columns=[*columns, blinding.REGION_FIELD])
        parts.append((run, events, categories(events, fiducial_volume(st, run))))
    return parts


def normalisation(numerator, denominator, what, counted=True):
    """numerator / denominator with its relative Poisson error: of both counts, or of the
    denominator alone where the numerator is an expectation (``counted=False``)."""
    if denominator == 0 or numerator == 0:
        raise CalibrationRunError(f"No events to normalise {what}: {numerator} / {denominator}")
    return numerator / denominator, float(np.sqrt((1 / numerator if counted else 0.0) + 1 / denominator))


def calibrate_from_runs(st, output, cnn_model, cvae_model, exclude=(), simulated_events=SIMULATED_EVENTS,
                        simulated=SIMULATED_IN_REGION, wall_tail_events=0):
    """Calibrate the anomaly score on the calibration runs and blinded science runs the store's
    run metadata names and, inside the signal region, the background simulation of the small
    backgrounds ``simulated`` (runs of ``simulated_events``, the wall's a walltail run of
    ``wall_tail_events`` where given; see the module's description);
    ``exclude``: runs of the search itself, never used. Returns the calibration (also written
    to ``output``)."""
    models_st = derive(st, cnn_model_file=str(cnn_model), cvae_model_file=str(cvae_model))
    roles = {"rn220": runs_with_source(models_st, "rn220"), "ambe": runs_with_source(models_st, "ambe"),
             "sideband": blinded_runs(models_st, exclude=set(exclude))}
    for role, runs in roles.items():
        if not runs:
            raise CalibrationRunError(
                f"The store at {models_st.storage[0].path if models_st.storage else '?'} has no {role} run "
                f"of detector {st.detector!r}: make them (ddcore train calibrate --from-calibration-runs "
                "--simulate) or process your own")
        log.info("Calibration %s runs: %s", role, ", ".join(runs))
    parts = {role: _events(models_st, runs) for role, runs in roles.items()}
    reference_days = float(models_st.get_single_plugin(roles["rn220"][0], "instructions").sim_exposure_live_days)
    sideband_days = sum(live_days(models_st, run) for run in roles["sideband"])

    def joined(role):
        return (np.concatenate([p[1] for p in parts[role]]), np.concatenate([p[2] for p in parts[role]]))

    sideband, sideband_category = joined("sideband")
    if np.any(sideband[blinding.REGION_FIELD]):
        raise CalibrationRunError("A sideband read holds events of the signal region: its runs are not blinded")
    rn220, rn220_category = joined("rn220")
    ambe, ambe_category = joined("ambe")
    sideband_weight = reference_days / sideband_days
    in_control = (rn220_category == ANALYSIS_SPACE) & ~rn220[blinding.REGION_FIELD]
    er_scale, er_error = normalisation(
        int(np.sum(sideband_category == ANALYSIS_SPACE)), int(in_control.sum()),
        "the rn220 runs to the sideband's control region (the analysis space outside the signal region; "
        "sideband / rn220 events): is the blinding region's ER band median (blinding_er_band_median) this "
        "detector's?")
    ambe_space = ambe_category == ANALYSIS_SPACE
    plugin = models_st.get_single_plugin(roles["rn220"][0], "instructions")
    tonne_years = reference_days * plugin.sim_fiducial_mass_kg / 1e3 / spectra.DAYS_PER_YEAR
    expected_nr = plugin.neutron_rate_per_t_yr * tonne_years
    nr_scale, nr_error = normalisation(expected_nr, int(ambe_space.sum()), "the ambe runs", counted=False)
    rn220_region, ambe_region = rn220[blinding.REGION_FIELD], ambe[blinding.REGION_FIELD]
    simulation = _background_simulation(models_st, simulated_events, simulated, wall_tail_events)
    in_region, simulated_expected = _simulated_in_region(simulation, reference_days)
    background = np.concatenate([
        training.background_rows(sideband, sideband_category, np.full(len(sideband), sideband_weight)),
        training.background_rows(rn220[rn220_region], rn220_category[rn220_region],
                                 np.full(int(rn220_region.sum()), sideband_weight * er_scale)),
        training.background_rows(ambe[ambe_region], ambe_category[ambe_region],
                                 np.full(int(ambe_region.sum()), nr_scale)),
        *(training.background_rows(*part) for part in in_region),
    ])
    lineages = {run: str(models_st.key_for(run, "cvae_losses")) for runs in roles.values() for run in runs}
    lineages.update({run: str(run_st.key_for(run, "cvae_losses")) for run_st, run in simulation.values()})
    hashes = {
        **training.model_hashes(models_st, roles["rn220"][0]),
        "live_days": reference_days,
        "made_from": "calibration_runs",
        "runs": {role: [{"run": run, "live_days": live_days(models_st, run) if role == "sideband" else None,
                         "events": int(len(events))} for run, events, _ in parts[role]]
                 for role in roles},
        "normalisation": {
            "sideband_live_days": sideband_days,
            "er_signal_region_expected": float(sideband_weight * er_scale * rn220_region.sum()),
            "er_relative_error": er_error,
            "nr_signal_region_expected": float(nr_scale * ambe_region.sum()),
            "nr_relative_error": nr_error,
            "simulated_signal_region_expected": simulated_expected,
            "simulated_events": int(simulated_events),
            "simulated_runs": {name: run for name, (_, run) in simulation.items()},
            "wall_tail_events": int(wall_tail_events),
        },
    }
    log.info("Signal region: %.1f ER events expected (rn220, +-%.1f%%), %.3f NR (ambe, +-%.1f%%), %s (simulation) "
             "in %.1f live days; sideband %.1f live days", hashes["normalisation"]["er_signal_region_expected"],
             100 * er_error, hashes["normalisation"]["nr_signal_region_expected"], 100 * nr_error,
             ", ".join(f"{v:.2f} {k}" for k, v in simulated_expected.items()) or "nothing else",
             reference_days, sideband_days)
    result = calibration_fit.make_calibration(background, rn220["cnn_score"][rn220_category == ANALYSIS_SPACE],
                                              ambe["cnn_score"][ambe_space], hashes, lineages)
    training.save_calibration(output, result)
    return result


def flag_closure(st, runs):
    """Does the calibration flag what it says on science runs it never saw (no truth read)? Per
    category, summed over ``runs``: events, flagged events, the flags the calibration expects
    (events x the category's background acceptance) with its error from the calibration's
    effective events, and the exact two-sided binomial p-value; in total, the one-sided Poisson
    p-value of an excess (the anomaly fraction's direction) and its Z. Runs must not be blinded
    (a blinded read hides the region's events and their flags)."""
    from scipy import stats

    from ddplugins.ml import calibration as cal

    plugin = st.get_single_plugin(runs[0], "anomaly_scores")
    acceptance, error = cal.flag_rates(plugin.calibration, plugin.acceptances)
    events, flagged = np.zeros(len(CATEGORIES), int), np.zeros(len(CATEGORIES), int)
    for run in runs:
        if blinding.blinded_region(st, run) is not None:
            raise CalibrationRunError(f"Run {run!r} is blinded: a closure test counts the flags of every event")
        scores = st.get_array(run, "anomaly_scores", progress_bar=False, keep_columns=["category", "is_anomalous"])
        events += np.bincount(scores["category"], minlength=len(CATEGORIES))
        flagged += np.bincount(scores["category"], weights=scores["is_anomalous"],
                               minlength=len(CATEGORIES)).astype(int)
    rows = {}
    for i, name in enumerate(CATEGORIES):
        share = float(np.nan_to_num(acceptance[i]))
        rows[name] = {"events": int(events[i]), "flagged": int(flagged[i]), "acceptance": share,
                      "expected": share * events[i], "expected_error": float(np.nan_to_num(error[i])) * events[i],
                      "p_value": float(stats.binomtest(int(flagged[i]), int(events[i]), share).pvalue)
                      if events[i] and share > 0 else None}
    expected = sum(r["expected"] for r in rows.values())
    observed = int(flagged.sum())
    p_excess = float(stats.poisson.sf(observed - 1, expected)) if expected > 0 else None
    return {"runs": list(runs), "calibration_sha256": plugin.anomaly_calibration_sha256, "categories": rows,
            "flagged": observed, "expected": expected,
            "expected_error": float(np.sqrt(sum(r["expected_error"] ** 2 for r in rows.values()))),
            "p_excess": p_excess,
            # no excess is Z 0, as the discovery significances are (isf of p 1 would be -inf)
            "z_excess": max(0.0, float(stats.norm.isf(p_excess))) if p_excess else None}


def er_template(st, discriminant, with_anomaly, exclude=()):
    """The ER background of the dataset-level tests from the calibration runs, no truth read: its
    shape the rn220 runs' events in the analysis space (their band discriminant and, with
    ``with_anomaly``, anomaly scores), its count per live day the blinded science runs' (the
    sideband, less ``exclude``) in the control region (the analysis space outside the signal
    region) over the rn220 runs' there, times the rn220 runs' analysis-space events, divided by
    the sideband's live days. The control region holds the few non-ER events of the sideband as
    well: a small overestimate, as the anomaly calibration's ER model has (stated there)."""
    roles = {"rn220": runs_with_source(st, "rn220"), "sideband": blinded_runs(st, exclude=set(exclude))}
    for role, runs in roles.items():
        if not runs:
            raise CalibrationRunError(
                f"The store has no {role} run of detector {st.detector!r} for the ER template: make the calibration "
                "campaign (ddcore train calibrate --from-calibration-runs --simulate-campaign ...) or process your own")
    targets = ("event_basics",) + (("anomaly_scores",) if with_anomaly else ())
    columns = ("cs1", "cs2_bottom", "s2_area", "alt_s2_area", "x", "y", "z")
    columns += ("anomaly_score",) if with_anomaly else ()

    def space_events(runs):
        return np.concatenate([events[category == ANALYSIS_SPACE]
                               for _, events, category in _events(st, runs, targets, columns)])

    rn220, sideband = space_events(roles["rn220"]), space_events(roles["sideband"])
    if np.any(sideband[blinding.REGION_FIELD]):
        raise CalibrationRunError("A sideband read holds events of the signal region: its runs are not blinded")
    control = int(np.sum(~rn220[blinding.REGION_FIELD]))
    scale, error = normalisation(len(sideband), control, "the rn220 runs to the sideband's control region")
    sideband_days = sum(live_days(st, run) for run in roles["sideband"])
    per_day = scale * len(rn220) / sideband_days
    log.info("ER template from %d rn220 events in the analysis space; %.3f ER events per live day there "
             "(+-%.1f%%: %d sideband / %d rn220 control-region events, %.1f sideband live days)",
             len(rn220), per_day, 100 * error, len(sideband), control, sideband_days)
    return {"values": np.asarray(discriminant(rn220), float),
            "scores": np.asarray(rn220["anomaly_score"], float) if with_anomaly else None,
            "per_live_day": float(per_day), "relative_error": error,
            "runs": roles, "sideband_live_days": sideband_days,
            "control_events": {"sideband": int(len(sideband)), "rn220": control}}


def er_template_false_z(search, produced, template_values, template_scores=None):
    """False discovery Z of a background-only search whose ER template is another sample's
    (``template_values``: its band discriminant in the analysis space; ``template_scores``: its
    anomaly scores there), scaled to the nominal model's ER count in the space (the shape alone
    is compared), while the data are the nominal model's Asimov counts: {test: Z} for the
    WIMP-template and the anomaly-score likelihoods at the exposure of ``produced``."""
    from ddplugins.search import statistics

    found = {}
    for name, values, edges in search.tests():
        if values is search.flags:
            continue  # its background flags are the calibration's, not the ER template's
        replacement = template_values if values is search.values else template_scores
        if replacement is None:
            continue
        signal, backgrounds = search.templates(produced, values, edges)
        n_er, er_values = values["er"]
        equivalent = len(replacement) * n_er / max(len(er_values), 1)
        er = statistics.template("er", replacement, edges, produced["er"], equivalent)
        model = [er if b.name == "er" else b for b in backgrounds]
        observed = sum(b.expected for b in backgrounds)
        found[name] = float(statistics.discovery_significance(signal, model, observed=observed))
    return found
