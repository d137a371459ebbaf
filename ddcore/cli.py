"""``ddcore``: the command line. ``ddcore COMMAND --help`` explains each command.

The kernel brings ``detectors``, ``make``, ``info`` and ``batch``; every other command (training,
reports, event displays, detector-specific tools) is added by an installed package through the
``ddcore_register_commands`` hook.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import typing as ty

import strax

from ddcore import blinding
from ddcore import config as dd_config
from ddcore import log as dd_log
from ddcore import registry
from ddcore.extras import MissingExtraError
from ddcore.context import DATA_DIR_ENV, context, default_data_dir

PROG = "ddcore"


def parse_option(text: str) -> tuple[str, ty.Any]:
    """'key=value' -> (key, value) with the value read as a TOML value when it is one."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set wants key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    return key.strip(), value


def comma_list(cast: ty.Callable) -> ty.Callable[[str], list]:
    """argparse type for 'a,b,c' lists."""
    return lambda text: [cast(v) for v in text.split(",")]


class CommandLine:
    """What a ``ddcore_register_commands`` hook receives: adds sub-commands to ``ddcore``."""

    def __init__(self, subparsers):
        self._subparsers = subparsers
        self.parsers: dict[str, argparse.ArgumentParser] = {}

    @property
    def names(self) -> list[str]:
        return list(self.parsers)

    def add_command(self, name: str, function: ty.Callable[[argparse.Namespace], ty.Optional[int]],
                    help: str, description: ty.Optional[str] = None) -> argparse.ArgumentParser:
        """A new sub-command ``name`` running ``function(args)``; returns its parser."""
        if name in self.parsers:
            raise ValueError(f"Command {name!r} is registered twice")
        parser = self.parsers[name] = self._subparsers.add_parser(name, help=help, description=description or help)
        parser.set_defaults(func=function)
        return parser

    @staticmethod
    def add_context_arguments(parser: argparse.ArgumentParser, with_detector: bool = True) -> None:
        """--detector, --preset, --data and --set, which ``context_from`` turns into a context."""
        if with_detector:
            parser.add_argument("--detector", "-d", default=None,
                                help="registered detector (default: the registered default detector; "
                                "see 'ddcore detectors')")
        else:
            parser.set_defaults(detector=None)
        parser.add_argument("--preset", help="option preset of the detector config, e.g. sr0 or sr1")
        parser.add_argument(
            "--data", default=None,
            help=f"zarr store folder (default ${DATA_DIR_ENV} or ./dd_data, now {default_data_dir()})",
        )
        parser.add_argument(
            "--set", dest="options", action="append", type=parse_option, default=[],
            metavar="KEY=VALUE",
            help="override a detector option, e.g. --set sim_n_events=500 (repeatable)",
        )
        parser.add_argument(
            "--raw-data", default=None, metavar="FOLDER",
            help="process the runs of raw data that other software wrote (a strax DataDirectory "
            "folder with raw_records, e.g. from straxen, WFSim, fuse or a DAQ), read only, "
            "instead of simulating them",
        )
        parser.add_argument(
            "--config", default=None, metavar="TOML",
            help="analysis config (e.g. configs/xenon1t_sr1.toml): detector, preset, store, options and "
            "this command's defaults ([commands.<command>]); the other arguments override it",
        )

    @staticmethod
    def context_from(args: argparse.Namespace, **extra_options):
        """The context described by the arguments of ``add_context_arguments``."""
        return context(args.detector, storage=args.data, preset=args.preset, config=getattr(args, "config", None),
                       raw_data=getattr(args, "raw_data", None), **{**dict(args.options), **extra_options})


def cmd_detectors(args):
    try:
        default = registry.default_detector()
    except (registry.UnknownDetectorError, ValueError):
        default = None
    for name in registry.detectors():
        spec = registry.get_detector(name)
        presets = dd_config.preset_names(spec.config_file) if spec.config_file else []
        print(f"{name:10s} {spec.description}{' (default)' if name == default else ''}")
        if presets:
            print(f"{'':10s} presets: {', '.join(presets)} (default {spec.default_preset})")
        print(f"{'':10s} data types: {', '.join(spec.provides)}")


def cmd_make(args):
    st = CommandLine.context_from(args)
    for run_id in args.runs:
        if args.workers > 1:
            from ddcore.parallel import make_run

            make_run(st, run_id, args.target, workers=args.workers)
        else:
            st.make(run_id, args.target, progress_bar=not args.no_progress)
        print(f"{run_id}: {args.target} stored as {st.key_for(run_id, args.target)}")


def cmd_batch(args):
    from ddcore.batch import make_runs

    # the workers rebuild the context from these: the analysis config resolved here
    analysis = dd_config.load_analysis_config(args.config) if args.config else dd_config.AnalysisConfig(path=None)
    results = make_runs(
        args.runs, args.target, detector=args.detector or analysis.detector, storage=args.data or analysis.data,
        preset=args.preset or analysis.preset, options={**analysis.options, **dict(args.options)},
        scheduler=args.scheduler, n_workers=args.workers,
        retries=args.retries, progress=not args.quiet, raw_data=args.raw_data or analysis.raw_data,
    )
    failed = 0
    for result in results:
        detail = result.get("error") or (f"{result['seconds']} s" if "seconds" in result else "")
        print(f"{result['run_id']:24s} {result['status']:15s} {detail}")
        failed += result["status"] == "failed"
    return 1 if failed else 0


def cmd_info(args):
    st = CommandLine.context_from(args)
    store = st.storage[0]
    rows = store.inventory(args.run) if hasattr(store, "inventory") else []
    if not rows:
        print(f"Nothing stored for run {args.run!r} in {store}")
        return 1
    current = {}
    for data_type in sorted({row["data_type"] for row in rows}):
        try:
            current[data_type] = st.key_for(args.run, data_type).lineage_hash
        except Exception:  # a data type this context cannot make (another detector's)
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
    record = blinding.state(st, args.run)
    if record:
        last = record["history"][-1]
        print(f"Blinding: {record['state']} ({record['region']}; last: {last['action']} {last['date']} by "
              f"{last['user']}{': ' + last['reason'] if last.get('reason') else ''})")
    return 0


def _register_kernel_commands(cli: CommandLine) -> None:
    cli.add_command("detectors", cmd_detectors, help="list registered detectors, their presets and data types")

    p = cli.add_command("make", cmd_make, help="compute and store TARGET for runs",
                        description="Compute TARGET (and whatever it needs that is not stored "
                        "yet) for each run, with strax's progress bar.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids, e.g. er_sr0_000 pseudo_sr0_000")
    p.add_argument("target", metavar="TARGET", help="data type, e.g. event_images")
    p.add_argument("--no-progress", action="store_true", help="hide strax's progress bar")
    p.add_argument("--workers", type=int, default=1,
                   help="processes per run: a simulated run is made as this many consecutive chunk "
                   "ranges at once and merged into one stored data type, identical to a serial make "
                   "(default 1: strax's serial processing with its progress bar)")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "batch", cmd_batch, help="make many runs in parallel on a dask cluster",
        description="ddcore batch make RUN... TARGET: one task per run on a dask.distributed "
        "cluster (a LocalCluster unless --scheduler is given), writing to the shared zarr store. "
        "Failed tasks are retried and reported per run; stored runs are skipped.",
    )
    p.add_argument("action", choices=("make",))
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--scheduler", help="address of a running dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--retries", type=int, default=2, help="extra attempts per failed run")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "info", cmd_info, help="what is stored for a run, with lineage hashes",
        description="List the data types stored for RUN, their lineage hashes, sizes, whether "
        "they were written completely and whether they match the current options.",
    )
    p.add_argument("run", metavar="RUN")
    cli.add_context_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, CommandLine]:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="ddcore: simulate and process dark-matter direct-detection data with strax, "
        "stored as zarr. Data are computed on request and kept in the store. Commands other "
        "than detectors/make/info/batch come from installed plugin packages.",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", "-q", action="store_true", help="show warnings and errors only")
    verbosity.add_argument("--verbose", "-v", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli = CommandLine(sub)
    _register_kernel_commands(cli)
    registry.plugin_manager().hook.ddcore_register_commands(cli=cli)
    return parser, cli


def _command_defaults(parser: argparse.ArgumentParser, cli: CommandLine, args: argparse.Namespace,
                      argv) -> argparse.Namespace:
    """``args`` parsed again with the ``[commands.<command>]`` table of the analysis config as
    the command's defaults (arguments given on the command line still win)."""
    table = dd_config.load_analysis_config(args.config).commands.get(args.command, {})
    if not table:
        return args
    command_parser = cli.parsers[args.command]
    known = {action.dest for action in command_parser._actions} - {"help", "config", "func"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise dd_config.ConfigError(f"{args.config}: [commands.{args.command}] sets {', '.join(map(repr, unknown))}, "
                                    f"not arguments of 'ddcore {args.command}' ({', '.join(sorted(known))})")
    command_parser.set_defaults(**table)
    return parser.parse_args(argv)


def main(argv: ty.Optional[ty.Sequence[str]] = None) -> int:
    dd_log.quiet_third_party()
    parser, cli = _build()
    args = parser.parse_args(argv)
    dd_log.configure(-1 if args.quiet else 1 if args.verbose else 0)
    try:
        if getattr(args, "config", None):
            args = _command_defaults(parser, cli, args, argv)
        return args.func(args) or 0
    except (
        registry.UnknownDetectorError,
        dd_config.ConfigError,
        strax.DataNotAvailable,
        MissingExtraError,
        ValueError,
        KeyError,
        FileNotFoundError,
    ) as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
