"""Commands of the analyses package: ``show`` and ``validate-sim``."""

import logging

from ddcore.cli import CommandLine
from ddcore.hookspecs import hookimpl

log = logging.getLogger(__name__)


def cmd_show(args):
    from ddplugins.analyses.event_display import save_event_display

    st = CommandLine.context_from(args)
    path = save_event_display(st, args.run, args.event, args.output, size=args.size)
    print(f"Event {args.event} of {args.run} drawn in {path}")


def cmd_validate_sim(args):
    from ddplugins.analyses.validation import validate_simulation

    st = CommandLine.context_from(args)
    print(validate_simulation(st, args.output, n_events=args.events))


@hookimpl
def ddcore_register_commands(cli: CommandLine) -> None:
    p = cli.add_command("show", cmd_show, help="draw an event display PNG", description=(
        "Draw event EVENT (its index in the run's event_basics) as a PNG: hit patterns and "
        "waveforms of the main S1 and S2."))
    p.add_argument("run", metavar="RUN")
    p.add_argument("event", type=int, metavar="EVENT")
    p.add_argument("--output", "-o", default=None, help="PNG path (default <run>_event<EVENT>.png)")
    p.add_argument("--size", type=int, default=800, help="image side in pixels (default 800)")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "validate-sim", cmd_validate_sim, help="check the simulator against the detector parameters",
        description="Simulate ER and WIMP runs, print g1, g2, S2 AFT, widths vs drift time and "
        "discrimination figures, and save plots.",
    )
    p.add_argument("--events", type=int, default=2000, help="events per class (default 2000)")
    p.add_argument("--output", "-o", default="dd_output/validation", help="folder for plots")
    cli.add_context_arguments(p)
