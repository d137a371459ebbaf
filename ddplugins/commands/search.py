"""Commands of the machine-learning package: ``train``, ``grid-search``, ``evaluate``,
``report`` and ``demo`` (registered through the ``ddcore_register_commands`` hook)."""

import argparse
import logging
import os

import ddcore
from ddcore import blinding
from ddcore.cli import CommandLine, comma_list
from ddcore.files import resolve_path
from ddcore.hookspecs import hookimpl
from ddplugins.events.event_images import IMAGE_KINDS
from ddplugins.search.published import MASSES_GEV
from ddplugins.search.sensitivity import MASSES_GEV as SENSITIVITY_MASSES_GEV

log = logging.getLogger(__name__)


def _model_path(args, detector, kind, suffix=".keras"):
    image = f"_{args.image_kind}" if kind in ("cnn", "cvae") else ""
    return args.output or os.path.join("dd_output", "models", f"{detector}_{kind}{image}{suffix}")


def _population_count(text):
    """'wall=40000' -> ('wall', 40000)."""
    name, _, count = text.partition("=")
    try:
        return name.strip(), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give POPULATION=EVENTS, e.g. wall=40000") from None


def _stratum(text):
    """'wall:0.5:3.5:200000' -> ('wall', (0.5, 3.5), 200000)."""
    try:
        name, low, high, count = text.split(":")
        return name.strip(), (float(low), float(high)), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give POPULATION:LOW_KEV:HIGH_KEV:EVENTS, "
                                         "e.g. wall:0.5:3.5:200000") from None


WALL_TAIL_RUN = ("a run of N wall events drawn only where their electrons come out far enough inward to reach the "
                 "fiducial volume (source 'walltail', each event standing for 1 / that tail's share of wall events: "
                 "100,000 stand for ~786,000 in XENON1T)")


def _campaign(text):
    from ddplugins.search.calibration_runs import SIMULATED_EVENTS

    try:
        numbers = [int(v) for v in text.split(":")]
        if len(numbers) not in (3, 4):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give RN220_EVENTS:AMBE_EVENTS:SIDEBAND_RUNS[:SIMULATED_EVENTS], "
                                         "e.g. 20000:5000:6") from None
    if min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be at least 1")
    return tuple(numbers) if len(numbers) == 4 else (*numbers, SIMULATED_EVENTS)


def cmd_closure(args):
    import json

    from ddplugins.search import calibration_runs

    st = CommandLine.context_from(args)
    runs = list(args.runs)
    if args.simulate:
        from ddplugins.analyses.datasets import run_preset

        runs += [f"pseudo_{run_preset(st)}_{args.simulate[0] + i:03d}" for i in range(args.simulate[1])]
    if not runs:
        raise ValueError("ddcore closure needs runs: name them, or --simulate FIRST:N")
    for run in runs:
        st.make(run, "anomaly_scores")
    found = calibration_runs.flag_closure(st, runs)
    for name, row in found["categories"].items():
        p_value = "-" if row["p_value"] is None else f"{row['p_value']:.3g}"
        print(f"{name:15s} {row['flagged']:6d} of {row['events']:7d} flagged; calibration expects "
              f"{row['expected']:.2f} +- {row['expected_error']:.2f} ({100 * row['acceptance']:.3g}%); "
              f"binomial p = {p_value}")
    print(f"{'all':15s} {found['flagged']:6d} flagged, {found['expected']:.2f} +- {found['expected_error']:.2f} "
          f"expected in {len(runs)} runs: excess p = {found['p_excess']:.3g} (Z = {found['z_excess']:.2f})")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(found, f, indent=1)


def _first_and_count(text):
    try:
        first, count = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give FIRST:N, e.g. 420:10") from None
    return first, count


def cmd_train(args):
    from ddplugins.search import training

    st = CommandLine.context_from(args)
    if args.model == "cnn":
        training.train_cnn(st, _model_path(args, st.detector, "cnn"), image_kind=args.image_kind, n_train=args.events,
                           n_validation=args.validation_events, epochs=args.epochs or 15,
                           batch_size=args.batch_size or 64, n_conv_layers=args.layers,
                           leaky_alpha=args.alpha, learning_rate=args.learning_rate, seed=args.seed,
                           with_features=not args.images_only, with_s1_waveform=args.s1_waveform)
    elif args.model == "cvae":
        training.train_cvae(st, _model_path(args, st.detector, "cvae"), image_kind=args.image_kind,
                            preset=args.cvae_preset, n_train=args.events,
                            n_validation=args.validation_events, epochs=args.epochs or 30,
                            batch_size=args.batch_size or 100, beta=args.beta,
                            learning_rate=args.learning_rate, seed=args.seed)
    else:
        cnn = args.cnn or resolve_path(st.config.get("cnn_model_file"))
        cvae = args.cvae or resolve_path(st.config.get("cvae_model_file"))
        if not cnn or not cvae:
            raise ValueError("ddcore train calibrate needs --cnn and --cvae model files")
        output = _model_path(args, st.detector, "anomaly_calibration", ".json")
        if args.from_calibration_runs:
            from ddplugins.search import calibration_runs

            if args.simulate_campaign:
                models_st = ddcore.derive(st, cnn_model_file=str(cnn), cvae_model_file=str(cvae))
                calibration_runs.simulate_calibration_runs(models_st, *args.simulate_campaign,
                                                           wall_tail_events=args.wall_tail_events)
            simulated = args.simulate_campaign[3] if args.simulate_campaign else calibration_runs.SIMULATED_EVENTS
            calibration_runs.calibrate_from_runs(st, output, cnn, cvae, exclude=args.exclude_run,
                                                 simulated_events=simulated, wall_tail_events=args.wall_tail_events)
            return
        training.calibrate(st, output, cnn, cvae, n_events=args.events, workers=args.workers,
                           population_events=dict(args.population_events or []), strata=args.stratum)


def cmd_grid_search(args):
    import pandas as pd

    from ddplugins.search import training

    st = CommandLine.context_from(args)
    rows = training.grid_search(
        st, args.image_kind, n_events=args.events, layers=args.layers, epochs=args.epochs,
        batch_sizes=args.batch_sizes, alphas=args.alphas, learning_rates=args.learning_rates,
    )
    table = pd.DataFrame(rows).sort_values("roc_auc", ascending=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    table.to_csv(args.output, index=False)
    log.info("Saved %s", args.output)


def cmd_evaluate(args):
    from ddplugins.search import report

    st = CommandLine.context_from(args)
    pseudo_run = None
    if args.command == "report":
        from ddplugins.analyses.datasets import run_preset

        pseudo_run = args.pseudo_run or f"pseudo_{run_preset(st)}_000"
    result = report.evaluate(st, n_test=args.events, n_train=args.train_events, models_dir=args.models,
                             n_bootstrap_z=args.bootstraps, n_toys=args.toys, workers=args.workers,
                             sensitivity_masses=args.sensitivity,
                             instructions_dir=os.path.join(args.output, "fax_instructions"),
                             mismodelling_dir=(os.path.join(args.output, "mismodelled_stores")
                                               if args.mismodelling else None),
                             n_test_seeds=args.test_seeds, sensitivity_live_days=args.sensitivity_live_days,
                             er_template_runs=args.er_template_run,
                             er_from_calibration_runs=args.er_from_calibration_runs,
                             exclude_runs=[*args.exclude_run, *([pseudo_run] if pseudo_run else [])],
                             sensitivity_cs1_slices=args.sensitivity_cs1_slices,
                             wall_tail_events=args.wall_tail_events, sensitivity_seeds=args.sensitivity_seeds)
    print(report.format_evaluation(result))
    report.save_json(result, os.path.join(args.output, "evaluation.json"))
    if args.command == "report":
        from ddplugins.search.demo import pseudo_data_summary

        st.make(pseudo_run, ["event_basics", "event_truth", "anomaly_scores"], progress_bar=not args.quiet)
        result["blinding"] = {pseudo_run: blinding.state(st, pseudo_run)}
        result["pseudo_data"] = pseudo_data_summary(st, pseudo_run, result)
        report.save_json(result, os.path.join(args.output, "evaluation.json"))
        path = report.write_report(st, result, os.path.join(args.output, "report.html"), pseudo_run=pseudo_run)
        print(f"Report: {path}")


def cmd_published(args):
    if not args.no_xenon1t:
        _published_xenon1t(args)
    if args.light_wimp_release:
        _published_light_wimp(args)
    elif args.no_xenon1t:
        raise SystemExit("Nothing to do: --no-xenon1t without --light-wimp-release")


def _write_table(table, folder, name, command):
    import json

    table.to_csv(os.path.join(folder, f"{name}.csv"), index=False)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump({"command": command, "rows": table.to_dict(orient="records")}, f, indent=1)


def _published_xenon1t(args):
    import pandas as pd

    from ddplugins.search import published

    comparisons = [published.xenon1t_limits(args.masses, neyman=True),
                   published.xenon1t_limits(args.masses, neyman=False),
                   published.xenon1t_limits(args.masses, neyman=True, v0_km_s=238.0)]
    os.makedirs(args.output, exist_ok=True)
    table = pd.DataFrame(comparisons[0].rows())
    table["asymptotic_cm2"] = comparisons[1].limits
    table["v0_238_cm2"] = comparisons[2].limits
    table["v0_238_ratio"] = comparisons[2].ratios
    print("XENON1T 1 t yr SI limit (arXiv:1805.12562) from the collaboration's binwise NR likelihood "
          "(xe-likelihood) with the project's wimprates spectra, standard halo v0 = 220 km/s, Neyman threshold; "
          f"beside: the asymptotic threshold, and wimprates' default halo v0 = 238 km/s (goal: within "
          f"{published.GOAL:.0%} of the published limit):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    _write_table(table, args.output, "xenon1t_si_limits", "ddcore published")
    path = os.path.join(args.output, "xenon1t_si_limits.png")
    published.comparison_figure(comparisons).savefig(path, dpi=110)
    print(f"Figure: {path}")
    if args.project_model:
        import json

        with open(resolve_path(args.project_model)) as f:
            evaluation = json.load(f)
        table = pd.DataFrame(published.project_model_rows(evaluation))
        print("XENON1T 1 t yr: the median sensitivity of the project's own detector model and pyhf likelihoods "
              f"({args.project_model}) beside the published limit and median sensitivity:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        _write_table(table, args.output, "xenon1t_project_model",
                     f"ddcore published --project-model {args.project_model}")
        path = os.path.join(args.output, "xenon1t_project_model.png")
        published.project_model_figure(evaluation, comparisons[0]).savefig(path, dpi=110)
        print(f"Figure: {path}")


def _published_light_wimp(args):
    import pandas as pd

    from ddplugins.search import light_wimp

    release = light_wimp.read_release(resolve_path(args.light_wimp_release))
    masses = args.light_wimp_masses or None
    comparisons = [light_wimp.asymptotic_limits(release, masses)]
    if args.toys:
        comparisons.insert(0, light_wimp.neyman_limits(release, masses, n_toys=args.toys, workers=args.workers,
                                                       seed=args.seed, asymptotic=comparisons[0]))
    os.makedirs(args.output, exist_ok=True)
    table = pd.concat([pd.DataFrame(c.rows()) for c in comparisons], ignore_index=True)
    print("XENONnT 2024 light-WIMP SI limits (arXiv:2409.17868) from the release's events and templates with the "
          "project's pyhf model: 90% CL limit (power-constrained at -1 sigma), the unconstrained limit and the "
          f"median sensitivity, project / published (goal: within {light_wimp.GOAL:.0%}):")
    columns = ["mass_gev", "method", "limit_ratio", "unconstrained_ratio", "median_ratio", "within_goal"]
    columns += [c for c in ("unconstrained_ratio_error", "median_ratio_error") if c in table]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    _write_table(table, args.output, "xenonnt_light_wimp_si_limits", "ddcore published --light-wimp-release")
    path = os.path.join(args.output, "xenonnt_light_wimp_si_limits.png")
    light_wimp.comparison_figure(comparisons).savefig(path, dpi=110)
    print(f"Figure: {path}")
    if args.alea:
        from ddplugins.search import alea_cross_check

        found = pd.DataFrame(alea_cross_check.asymptotic_limits(release, masses, pyhf_limits=comparisons[-1]).rows())
        print("The same limits from the collaboration's own model (the release's alea YAML, blueice templates) "
              "fitted with alea-inference: asymptotic 90% CL upper limits (two-sided, not power-constrained), "
              "beside the project's pyhf model and the published unconstrained limits (toys):")
        print(found.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        _write_table(found, args.output, "xenonnt_light_wimp_alea", "ddcore published --light-wimp-release --alea")


def cmd_demo(args):
    from ddplugins.search.demo import run_demo

    st = CommandLine.context_from(args)
    _, summary = run_demo(st, args.output, n_events=args.events, n_bootstrap_z=args.bootstraps, n_toys=args.toys,
                          workers=args.workers)
    print(summary)


def _bootstraps_argument(parser, toys=0):
    parser.add_argument("--bootstraps", type=int, default=20,
                        help="resamples of the template events behind the error of every significance "
                        "(default 20)")
    parser.add_argument("--toys", type=int, default=toys,
                        help="toy experiments per test (background-only, and as many with the signal in each "
                        "of four sets: signal, Neyman critical value, background rates +1 and -1 sigma): "
                        "p-value distribution, toy vs Asimov significance, coverage of the 90%% CL limits "
                        f"(default {toys}; 1000 take about 10 minutes per test and worker)")
    parser.add_argument("--workers", type=int, default=1, help="processes fitting the toys (default 1)")


@hookimpl
def ddcore_register_commands(cli: CommandLine) -> None:
    p = cli.add_command(
        "train", cmd_train, help="train a CNN or CVAE, or calibrate the anomaly score",
        description="Train on simulated runs made through the context (disjoint seeds: train "
        "100+, validation 200+, test 300+, calibration 400+) and save a .keras model with a JSON "
        "manifest. 'calibrate' measures, per event category, the background distributions of both "
        "models' outputs and fits a background density (a Gaussian mixture over the event's physics, "
        "the CNN's logit and the CVAE's plane errors) on a run of every background population "
        "(--events each, weighted by its rate), and the CNN's likelihood ratio on ER and WIMP runs.",
    )
    p.add_argument("model", choices=("cnn", "cvae", "calibrate"))
    p.add_argument("--image-kind", default="hitpeak", choices=IMAGE_KINDS)
    p.add_argument("--events", type=int, default=4000, help="simulated events per class and run")
    p.add_argument("--validation-events", type=int, default=1000)
    p.add_argument("--epochs", type=int, help="default 15 (cnn), 30 (cvae)")
    p.add_argument("--batch-size", type=int, help="default 64 (cnn), 100 (cvae)")
    p.add_argument("--layers", type=int, default=2, help="CNN convolution layers (1-3)")
    p.add_argument("--images-only", action="store_true",
                   help="CNN: read the image alone (as the seed paper), without the reconstructed cS1, "
                   "cS2_b, drift time and (x, y) that the default model also reads")
    p.add_argument("--s1-waveform", action="store_true",
                   help="CNN: also read the main S1's summed waveform at full resolution "
                   "(event_waveforms, scaled to unit area) through 1-D convolutions: the pulse shape "
                   "that tells ER from NR where their S1 timing differs (--set s1_timing_model=nest)")
    p.add_argument("--alpha", type=float, default=0.05, help="LeakyReLU negative slope")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--cvae-preset", default="compact", choices=("compact", "paper"))
    p.add_argument("--beta", type=float, default=1e-4, help="KL weight of the CVAE loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cnn", help="calibrate: CNN model file (default: the context's)")
    p.add_argument("--workers", type=int, default=1,
                   help="calibrate: processes per run (each run made in chunk ranges)")
    p.add_argument("--cvae", help="calibrate: CVAE model file (default: the context's)")
    p.add_argument("--population-events", type=comma_list(_population_count), metavar="POP=N,...",
                   help="calibrate: events of these populations' runs instead of --events, "
                   "e.g. er=40000,wall=40000")
    p.add_argument("--stratum", type=_stratum, action="append", default=[], metavar="POP:LOW:HIGH:N",
                   help="calibrate: an extra run of N events of POP (er or wall) drawing only LOW-HIGH keV "
                   "of its flat spectrum, for a category that needs more events there (weighted so "
                   "that the population's total is unchanged); repeatable")
    p.add_argument("--from-calibration-runs", action="store_true",
                   help="calibrate: as an experiment does, on the store's runs that their run metadata names, "
                   "never on truth labels: rn220 (ER) and ambe (NR) calibration runs, and blinded science "
                   "runs as the sideband (see ddplugins.search.calibration_runs)")
    p.add_argument("--simulate-campaign", type=_campaign, metavar="RN220:AMBE:SIDEBAND[:SIMULATED]",
                   help="with --from-calibration-runs: first simulate an rn220 run of RN220 events, an ambe "
                   "run of AMBE events, SIDEBAND (at most 20) blinded science runs (pseudo_<preset>_400...) "
                   "and a background-simulation run of SIMULATED events (default 5000) of each small "
                   "background of the signal region (cevns, accidental, wall, multisite), e.g. 20000:5000:6")
    p.add_argument("--wall-tail-events", type=int, default=0, metavar="N",
                   help=f"with --from-calibration-runs: the wall events of the signal region from {WALL_TAIL_RUN} "
                   "(the calibration's; with --simulate-campaign made first), not from the SIMULATED-event "
                   "wall run (default 0)")
    p.add_argument("--exclude-run", action="append", default=[], metavar="RUN",
                   help="with --from-calibration-runs: a blinded run of the search itself, never a sideband; "
                   "repeatable")
    p.add_argument("--output", "-o",
                   help="model path (default dd_output/models/<detector>_<model>_<kind>.keras)")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "closure", cmd_closure, help="check that the anomaly calibration flags what it says on unseen science runs",
        description="Closure test of the anomaly score's calibration on science runs it never saw, "
        "without truth: per event category the flagged events against the events times the "
        "category's background acceptance (exact binomial p-value), and the one-sided Poisson "
        "p-value of an excess of flags in all categories together. Runs must not be blinded. The "
        "calibration is the context's (--set anomaly_calibration_file=...).")
    p.add_argument("runs", nargs="*", help="science runs, e.g. pseudo_sr0_420")
    p.add_argument("--simulate", type=_first_and_count, metavar="FIRST:N",
                   help="also the simulated science runs pseudo_<preset>_FIRST ... (N of them), made if missing; "
                   "seeds 420+ are kept for this (400-419 are the calibration's sideband), e.g. 420:10")
    p.add_argument("--output", "-o", help="write the result as JSON")
    cli.add_context_arguments(p)

    p = cli.add_command("grid-search", cmd_grid_search,
                        help="3-fold stratified cross-validation over CNN hyper-parameters")
    p.add_argument("--image-kind", default="hitpeak", choices=IMAGE_KINDS)
    p.add_argument("--events", type=int, default=2000, help="simulated events per class")
    p.add_argument("--layers", type=comma_list(int), default=[1, 2, 3])
    p.add_argument("--epochs", type=comma_list(int), default=[5, 10])
    p.add_argument("--batch-sizes", type=comma_list(int), default=[32, 64])
    p.add_argument("--alphas", type=comma_list(float), default=[0.05])
    p.add_argument("--learning-rates", type=comma_list(float), default=[1e-3])
    p.add_argument("--output", "-o", default="dd_output/grid_search.csv")
    cli.add_context_arguments(p)

    for name, text in (("evaluate", "figures of merit of every method on held-out events"),
                       ("report", "evaluate, then write a self-contained HTML report")):
        p = cli.add_command(name, cmd_evaluate, help=text, description=(
            f"{text[0].upper()}{text[1:]}: CNN per image kind, combined anomaly score, CVAE loss, "
            "boosted trees, cS2/cS1 cut; significance vs exposure for the anomaly fraction and a "
            "likelihood; an injection study of populations in and outside the background model (flag "
            "rates, live days to 3 sigma, the WIMP fit's signal count and goodness of fit)."))
        p.add_argument("--events", type=int, default=5000, help="held-out events per class")
        p.add_argument("--train-events", type=int, default=4000,
                       help="events per class for the boosted trees and the cut (train split)")
        p.add_argument("--models", help="folder with <detector>_cnn_<kind>.keras models to compare")
        p.add_argument("--sensitivity", type=comma_list(int), default=[], metavar="GEV,...",
                       help="sensitivity curves (limits with bands, 3 sigma discovery) at these WIMP masses, "
                       f"from {', '.join(map(str, SENSITIVITY_MASSES_GEV))} GeV (one simulated WIMP run each)")
        _bootstraps_argument(p)
        p.add_argument("--sensitivity-live-days", type=float, default=None, metavar="DAYS",
                       help="exposure of the sensitivity curves [live days of the fiducial mass] (default: the "
                       "science run's; 351 is 1 t yr of XENON1T's 1,042 kg, for 'ddcore published --project-model')")
        p.add_argument("--sensitivity-cs1-slices", type=int, default=0, metavar="N",
                       help="also the WIMP-template likelihood binned in N slices of cS1 (at quantiles of the ER "
                       "template's cS1) as well as in the band discriminant, as an experiment's likelihood uses the "
                       "energy: test 'likelihood_cs1' of the sensitivity curves (default 0: not made)")
        p.add_argument("--sensitivity-seeds", type=int, default=1, metavar="N",
                       help="the sensitivity's median limits also from N - 1 further independent sets of every "
                       "simulated template (ER, WIMP and background runs of other seeds): their seed-to-seed "
                       "spread beside the bootstrap error (default 1: the curves' own set only)")
        p.add_argument("--wall-tail-events", type=int, default=0, metavar="N",
                       help=f"the wall template's events in the analysis space from {WALL_TAIL_RUN}, not from the "
                       "5,000-event 'wall' run (default 0: not made)")
        p.add_argument("--test-seeds", type=int, default=1,
                       help="test runs of this many independent seeds: the spread of every figure of merit between "
                       "them, and the methods compared on all their events (7 seeds of 5,000: ~20,000 ER events in "
                       "the analysis space); the first seed makes every other figure (default 1)")
        p.add_argument("--mismodelling", action="store_true",
                       help="the test runs simulated again by detectors with shifted g1, g2, electron lifetime, "
                       "light-yield map, ER band and drift field, analysed with the nominal model: flag rates, WIMP "
                       "efficiency, false discovery Z at 1 t yr with and without each as a nuisance (stores under "
                       "the output)")
        p.add_argument("--er-template-run", action="append", default=[], metavar="RUN",
                       help="a run whose analysis-space events replace the ER template of a background-only search "
                       "(e.g. the rn220 calibration run rn220_sr0_400020000, or an ER run of another seed): the "
                       "false discovery Z its shape gives at the reference exposure and at 1 t yr; repeatable")
        p.add_argument("--er-from-calibration-runs", action="store_true",
                       help="the ER background of the likelihoods from the store's calibration runs, no truth read: "
                       "its shape the rn220 runs' analysis-space events, its count the blinded science runs' in the "
                       "control region (make them with: ddcore train calibrate --from-calibration-runs "
                       "--simulate-campaign ...); default: the simulated ER run at the physics rate")
        p.add_argument("--exclude-run", action="append", default=[], metavar="RUN",
                       help="with --er-from-calibration-runs: a blinded run that is not part of the sideband (the "
                       "search's own runs; the report's pseudo-data run is excluded anyway); repeatable")
        p.add_argument("--output", "-o", default="dd_output/evaluation",
                       help="folder for evaluation.json (report: and report.html) and the FaX instructions "
                       "of the populations outside the background model it injects")
        if name == "report":
            p.add_argument("--pseudo-run", help="the pseudo-data run the report shows (default pseudo_<preset>_000)")
        cli.add_context_arguments(p)

    p = cli.add_command(
        "published", cmd_published, help="reproduce published XENON SI WIMP limits",
        description="The XENON1T 1 t yr spin-independent limit (arXiv:1805.12562) from the collaboration's "
        "binwise NR likelihood (pip install 'ddcore[published]') fed the project's wimprates spectra, beside "
        "the published curve and its sensitivity bands: a table, a CSV/JSON and a figure. With "
        "--light-wimp-release, also the XENONnT 2024 light-WIMP limits and sensitivity (arXiv:2409.17868) from "
        "the collaboration's public events and templates, fitted with the project's pyhf model.")
    p.add_argument("--masses", type=comma_list(float), default=list(MASSES_GEV), metavar="GEV,...",
                   help="WIMP masses [GeV] (default 6 GeV to 1 TeV)")
    p.add_argument("--no-xenon1t", action="store_true", help="skip the XENON1T limit")
    p.add_argument("--project-model", metavar="EVALUATION_JSON",
                   help="also compare the median sensitivity of the project's own detector model and pyhf "
                   "likelihood (the sensitivity rows of an 'evaluate --sensitivity ... --sensitivity-live-days 351' "
                   "evaluation.json) with XENON1T's published 1 t yr limit and sensitivity bands")
    p.add_argument("--light-wimp-release", metavar="FOLDER",
                   help="also reproduce the XENONnT 2024 light-WIMP limits (arXiv:2409.17868) from its public data "
                   "release in FOLDER (templates, events as CSV, model YAML, published limits; needs h5py)")
    p.add_argument("--light-wimp-masses", type=comma_list(float), default=None, metavar="GEV,...",
                   help="light-WIMP masses [GeV] (default: every mass the release has templates for)")
    p.add_argument("--toys", type=int, default=0,
                   help="light WIMP: toys per signal strength for the Neyman construction (default 0: the "
                   "asymptotic formulae only; the published limits used toys)")
    p.add_argument("--workers", type=int, default=1, help="processes fitting the toys (one mass each)")
    p.add_argument("--seed", type=int, default=0, help="seed of the toys")
    p.add_argument("--alea", action="store_true",
                   help="light WIMP: also fit the release's own alea model with alea-inference (pip install "
                   "'ddcore[alea]'; make crosscheck-alea makes its environment) and compare its asymptotic limits "
                   "with the pyhf model's")
    p.add_argument("--output", "-o", default="dd_output/published", help="folder for the tables and figures")

    p = cli.add_command(
        "demo", cmd_demo, help="the main job on the default detector",
        description="Simulate background, signal and pseudo-data runs, process them to event "
        "images and scores with the shipped models, and write an HTML report.",
    )
    p.add_argument("--events", type=int, default=2000,
                   help="simulated events per class for the train and the test split (default 2000)")
    _bootstraps_argument(p, toys=200)
    p.add_argument("--output", "-o", default="dd_output/demo", help="report folder")
    cli.add_context_arguments(p)
