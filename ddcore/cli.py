"""``dd``: the command line of ddcore. ``dd COMMAND --help`` explains each command."""

import argparse
import os
import sys
import tomllib

import strax

from ddcore import config as dd_config
from ddcore import registry
from ddcore.context import DATA_DIR_ENV, context, default_data_dir


def parse_option(text):
    """'key=value' -> (key, value) with the value read as a TOML value when it is one."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set wants key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    return key.strip(), value


def _add_context_arguments(parser):
    parser.add_argument("--detector", "-d", default="xenon1t", help="registered detector (default xenon1t)")
    parser.add_argument("--preset", help="option preset of the detector config, e.g. sr0 or sr1")
    parser.add_argument(
        "--data", default=None,
        help=f"zarr store folder (default ${DATA_DIR_ENV} or ./dd_data, now {default_data_dir()})",
    )
    parser.add_argument(
        "--set", dest="options", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
        help="override a detector option, e.g. --set sim_n_events=500 (repeatable)",
    )


def _context_from(args):
    return context(args.detector, storage=args.data, preset=args.preset, **dict(args.options))


def cmd_detectors(args):
    for name in registry.detectors():
        spec = registry.get_detector(name)
        presets = dd_config.preset_names(spec.config_file) if spec.config_file else []
        print(f"{name:10s} {spec.description}")
        if presets:
            print(f"{'':10s} presets: {', '.join(presets)} (default {spec.default_preset})")
        print(f"{'':10s} data types: {', '.join(spec.provides)}")


def cmd_make(args):
    st = _context_from(args)
    for run_id in args.runs:
        st.make(run_id, args.target, progress_bar=not args.no_progress)
        print(f"{run_id}: {args.target} stored as {st.key_for(run_id, args.target)}")


def cmd_batch(args):
    from ddcore.batch import make_runs

    results = make_runs(
        args.runs, args.target, detector=args.detector, storage=args.data, preset=args.preset,
        options=dict(args.options), scheduler=args.scheduler, n_workers=args.workers,
        retries=args.retries,
    )
    failed = 0
    for result in results:
        detail = result.get("error") or f"{result.get('seconds', '')}s".strip("s") or ""
        print(f"{result['run_id']:24s} {result['status']:15s} {detail}")
        failed += result["status"] == "failed"
    return 1 if failed else 0


def cmd_info(args):
    st = _context_from(args)
    store = st.storage[0]
    rows = store.inventory(args.run) if hasattr(store, "inventory") else []
    if not rows:
        print(f"Nothing stored for run {args.run!r} in {store}")
        return 1
    current = {}
    for data_type in sorted({row["data_type"] for row in rows}):
        try:
            current[data_type] = st.key_for(args.run, data_type).lineage_hash
        except Exception:
            current[data_type] = None
    print(f"Run {args.run} in {store}")
    print(f"{'data type':20s} {'lineage hash':14s} {'rows':>9s} {'chunks':>6s} {'MB':>9s}  state")
    for row in rows:
        state = "complete" if row["complete"] else "INCOMPLETE"
        if current.get(row["data_type"]) == row["lineage_hash"]:
            state += ", matches current options"
        print(
            f"{row['data_type']:20s} {row['lineage_hash']:14s} {row['rows']:9d} {row['chunks']:6d} "
            f"{row['bytes_on_disk'] / 1e6:9.2f}  {state}"
        )
    return 0


def cmd_show(args):
    from ddcore.display import save_event_display

    st = _context_from(args)
    path = save_event_display(st, args.run, args.event, args.output, size=args.size)
    print(f"Event {args.event} of {args.run} drawn in {path}")


def cmd_validate_sim(args):
    from ddcore.validation import validate_simulation

    st = _context_from(args)
    validate_simulation(st, args.output, n_events=args.events)


def cmd_demo(args):
    from ddcore.demo import run_demo

    st = _context_from(args)
    run_demo(st, args.output, n_events=args.events)


def _model_path(args, kind, suffix=".keras"):
    image = f"_{args.image_kind}" if kind in ("cnn", "cvae") else ""
    return args.output or os.path.join("dd_output", "models", f"{args.detector}_{kind}{image}{suffix}")


def cmd_train(args):
    from ddplugins.ml import training

    st = _context_from(args)
    if args.model == "cnn":
        training.train_cnn(st, _model_path(args, "cnn"), image_kind=args.image_kind, n_train=args.events,
                           n_validation=args.validation_events, epochs=args.epochs or 15,
                           batch_size=args.batch_size or 64, n_conv_layers=args.layers,
                           leaky_alpha=args.alpha, learning_rate=args.learning_rate, seed=args.seed)
    elif args.model == "cvae":
        training.train_cvae(st, _model_path(args, "cvae"), image_kind=args.image_kind,
                            preset=args.cvae_preset, n_train=args.events,
                            n_validation=args.validation_events, epochs=args.epochs or 30,
                            batch_size=args.batch_size or 100, beta=args.beta,
                            learning_rate=args.learning_rate, seed=args.seed)
    else:
        cnn = args.cnn or st.config.get("cnn_model_file")
        cvae = args.cvae or st.config.get("cvae_model_file")
        if not cnn or not cvae:
            raise ValueError("dd train calibrate needs --cnn and --cvae model files")
        training.calibrate(st, _model_path(args, "anomaly_calibration", ".json"), cnn, cvae,
                           n_events=args.events)


def cmd_grid_search(args):
    import pandas as pd

    from ddplugins.ml import training

    st = _context_from(args)
    rows = training.grid_search(
        st, args.image_kind, n_events=args.events, layers=args.layers, epochs=args.epochs,
        batch_sizes=args.batch_sizes, alphas=args.alphas, learning_rates=args.learning_rates,
    )
    table = pd.DataFrame(rows).sort_values("roc_auc", ascending=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    table.to_csv(args.output, index=False)
    print(f"Saved {args.output}")


def cmd_evaluate(args):
    from ddcore import report

    st = _context_from(args)
    result = report.evaluate(st, n_test=args.events, n_train=args.train_events, models_dir=args.models)
    report.print_evaluation(result)
    report.save_json(result, os.path.join(args.output, "evaluation.json"))
    if args.command == "report":
        path = report.write_report(st, result, os.path.join(args.output, "report.html"))
        print(f"Report: {path}")


def cmd_newsdm(args):
    from ddplugins.newsdm import workflow

    args.detector = "newsdm"
    st = _context_from(args)
    output = args.output or "dd_output/models/newsdm_cnn3d{}.keras"
    if args.action == "train":
        workflow.train_model(st, output.format(""), n_tracks=args.tracks, epochs=args.epochs,
                             rotations=not args.no_rotations)
        return
    models = {"": args.model or st.config.get("newsdm_model_file")}
    if args.compare_rotations:
        models = {"rotations on: ": output.format("_rotations"), "rotations off: ": output.format("_no_rotations")}
        for label, path in models.items():
            workflow.train_model(st, path, n_tracks=args.tracks, epochs=args.epochs,
                                 rotations=label.startswith("rotations on"))
    results = {}
    for label, path in models.items():
        results[label or "model"] = workflow.evaluate(st, path, n_signal=args.signal_tracks,
                                                      n_background=args.background_tracks)
        workflow.print_evaluation(results[label or "model"], label)
    os.makedirs("dd_output", exist_ok=True)
    with open(os.path.join("dd_output", "newsdm_evaluation.json"), "w") as f:
        import json

        json.dump(results, f, indent=1)


def _comma_list(cast):
    return lambda text: [cast(v) for v in text.split(",")]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="dd",
        description="ddcore: simulate and process dark-matter direct-detection data with strax, "
        "stored as zarr. Data are computed on request and kept in the store.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("detectors", help="list registered detectors, their presets and data types")
    p.set_defaults(func=cmd_detectors)

    p = sub.add_parser(
        "make", help="compute and store TARGET for runs",
        description="Compute TARGET (and whatever it needs that is not stored yet) for each run.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids, e.g. er_sr0_000 pseudo_sr0_000")
    p.add_argument("target", metavar="TARGET", help="data type, e.g. event_images")
    p.add_argument("--no-progress", action="store_true", help="hide strax's progress bar")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_make)

    p = sub.add_parser(
        "batch", help="make many runs in parallel on a dask cluster",
        description="dd batch make RUN... TARGET: one task per run on a dask.distributed "
        "cluster (a LocalCluster unless --scheduler is given), writing to the shared zarr store. "
        "Failed tasks are retried and reported per run; stored runs are skipped.",
    )
    p.add_argument("action", choices=("make",))
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--scheduler", help="address of a running dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--retries", type=int, default=2, help="extra attempts per failed run")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "info", help="what is stored for a run, with lineage hashes",
        description="List the data types stored for RUN, their lineage hashes, sizes, whether "
        "they were written completely and whether they match the current options.",
    )
    p.add_argument("run", metavar="RUN")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("show", help="draw an event display PNG", description="Draw event EVENT "
                       "(its index in the run's event_basics) as an 800x800 PNG: hit patterns "
                       "and waveforms of the main S1 and S2.")
    p.add_argument("run", metavar="RUN")
    p.add_argument("event", type=int, metavar="EVENT")
    p.add_argument("--output", "-o", default=None, help="PNG path (default <run>_event<EVENT>.png)")
    p.add_argument("--size", type=int, default=800, help="image side in pixels (default 800)")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "validate-sim", help="check the simulator against the detector parameters",
        description="Simulate ER and WIMP runs, print g1, g2, S2 AFT, widths vs drift time and "
        "discrimination figures, and save plots.",
    )
    p.add_argument("--events", type=int, default=2000, help="events per class (default 2000)")
    p.add_argument("--output", "-o", default="dd_output/validation", help="folder for plots")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_validate_sim)

    p = sub.add_parser(
        "train", help="train a CNN or CVAE, or calibrate the anomaly score",
        description="Train on simulated runs made through the context (disjoint seeds: train "
        "100+, validation 200+, test 300+, calibration 400+) and save a .keras model with a JSON "
        "manifest. 'calibrate' measures background quantiles of both models' outputs.",
    )
    p.add_argument("model", choices=("cnn", "cvae", "calibrate"))
    p.add_argument("--image-kind", default="hitpeak", choices=("hit", "peak", "hitpeak"))
    p.add_argument("--events", type=int, default=4000, help="simulated events per class and run")
    p.add_argument("--validation-events", type=int, default=1000)
    p.add_argument("--epochs", type=int, help="default 15 (cnn), 30 (cvae)")
    p.add_argument("--batch-size", type=int, help="default 64 (cnn), 100 (cvae)")
    p.add_argument("--layers", type=int, default=2, help="CNN convolution layers (1-3)")
    p.add_argument("--alpha", type=float, default=0.05, help="LeakyReLU negative slope")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--cvae-preset", default="compact", choices=("compact", "paper"))
    p.add_argument("--beta", type=float, default=1e-4, help="KL weight of the CVAE loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cnn", help="calibrate: CNN model file (default: the context's)")
    p.add_argument("--cvae", help="calibrate: CVAE model file (default: the context's)")
    p.add_argument("--output", "-o", help="model path (default dd_output/models/<detector>_<model>_<kind>.keras)")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "grid-search", help="3-fold stratified cross-validation over CNN hyper-parameters",
    )
    p.add_argument("--image-kind", default="hitpeak", choices=("hit", "peak", "hitpeak"))
    p.add_argument("--events", type=int, default=2000, help="simulated events per class")
    p.add_argument("--layers", type=_comma_list(int), default=[1, 2, 3])
    p.add_argument("--epochs", type=_comma_list(int), default=[5, 10])
    p.add_argument("--batch-sizes", type=_comma_list(int), default=[32, 64])
    p.add_argument("--alphas", type=_comma_list(float), default=[0.05])
    p.add_argument("--learning-rates", type=_comma_list(float), default=[1e-3])
    p.add_argument("--output", "-o", default="dd_output/grid_search.csv")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_grid_search)

    for name, text in (("evaluate", "figures of merit of every method on held-out events"),
                       ("report", "evaluate, then write a self-contained HTML report")):
        p = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}: CNN per "
                           "image kind, combined anomaly score, CVAE loss, boosted trees, cS2/cS1 cut; "
                           "significance vs exposure for the anomaly fraction and a likelihood.")
        p.add_argument("--events", type=int, default=5000, help="held-out events per class")
        p.add_argument("--train-events", type=int, default=4000,
                       help="events per class for the boosted trees and the cut (train split)")
        p.add_argument("--models", help="folder with <detector>_cnn_<kind>.keras models to compare")
        p.add_argument("--output", "-o", default="dd_output/evaluation")
        _add_context_arguments(p)
        p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "newsdm", help="NEWSdm: train / evaluate the 3D CNN on polarisation stacks",
        description="train: fit the 3D CNN on simulated mixed runs (random 2D rotations of whole "
        "stacks unless --no-rotations). evaluate: background rejection vs signal efficiency for "
        "fog and gamma tracks, and the efficiency at 1e4 rejection; --compare-rotations trains "
        "with and without rotations and evaluates both.",
    )
    p.add_argument("action", choices=("train", "evaluate"))
    p.add_argument("--tracks", type=int, default=6000, help="training tracks")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--no-rotations", action="store_true")
    p.add_argument("--compare-rotations", action="store_true")
    p.add_argument("--model", help="evaluate: model file (default: the shipped one)")
    p.add_argument("--signal-tracks", type=int, default=3000, help="per carbon energy")
    p.add_argument("--background-tracks", type=int, default=20000, help="per background type")
    p.add_argument("--output", "-o", help="model path")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_newsdm)

    p = sub.add_parser(
        "demo", help="the main job on the default detector",
        description="Simulate background, signal and pseudo-data runs, process them to event "
        "images and scores, and write a report.",
    )
    p.add_argument("--events", type=int, default=2000,
                   help="simulated events per class for the train and the test split (default 2000)")
    p.add_argument("--output", "-o", default="dd_output/demo", help="report folder")
    _add_context_arguments(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (
        registry.UnknownDetectorError,
        dd_config.ConfigError,
        strax.DataNotAvailable,
        ValueError,
        KeyError,
        FileNotFoundError,
    ) as e:
        print(f"dd {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
