"""NEWSdm: directional dark-matter search with nuclear emulsions, read out optically under
polarised light. A detector that is not a TPC: no PMTs, no waveforms; track candidates imaged
at 8 polarisation angles and classified with a 3D CNN. Registers the ``newsdm`` detector and
the ``ddcore newsdm`` command."""

import json
import os
from pathlib import Path

from ddcore.cli import CommandLine
from ddcore.files import resolve_path
from ddcore.hookspecs import hookimpl
from ddcore.registry import Detector


@hookimpl
def ddcore_register_detectors():
    from ddplugins.newsdm.signal_probability import SignalProbability
    from ddplugins.newsdm.track_images import TrackImages

    return [
        Detector(
            name="newsdm",
            plugins=(TrackImages, SignalProbability),
            config_file=Path(__file__).with_name("newsdm.toml"),
            description="NEWSdm nuclear-emulsion detector: track candidates under 8 polarisations",
            default_preset="run1",
        )
    ]


def cmd_newsdm(args):
    from ddplugins.newsdm import workflow

    args.detector = "newsdm"
    st = CommandLine.context_from(args)
    output = args.output or "dd_output/models/newsdm_cnn3d{}.keras"
    if args.action == "train":
        workflow.train_model(st, output.format(""), n_tracks=args.tracks, epochs=args.epochs,
                             rotations=not args.no_rotations)
        return
    models = {"": args.model or resolve_path(st.config.get("newsdm_model_file"))}
    if args.compare_rotations:
        models = {"rotations on: ": output.format("_rotations"), "rotations off: ": output.format("_no_rotations")}
        for label, path in models.items():
            workflow.train_model(st, path, n_tracks=args.tracks, epochs=args.epochs,
                                 rotations=label.startswith("rotations on"))
    results = {}
    for label, path in models.items():
        results[label or "model"] = workflow.evaluate(st, path, n_signal=args.signal_tracks,
                                                      n_background=args.background_tracks)
        print(workflow.format_evaluation(results[label or "model"], label))
    os.makedirs("dd_output", exist_ok=True)
    with open(os.path.join("dd_output", "newsdm_evaluation.json"), "w") as f:
        json.dump(results, f, indent=1)


@hookimpl
def ddcore_register_commands(cli: CommandLine) -> None:
    p = cli.add_command(
        "newsdm", cmd_newsdm, help="NEWSdm: train / evaluate the 3D CNN on polarisation stacks",
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
    cli.add_context_arguments(p, with_detector=False)
