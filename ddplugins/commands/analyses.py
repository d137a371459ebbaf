"""Commands of the analyses package: ``show``, ``validate-sim``, ``blind`` and ``unblind``."""

import logging

from ddcore import blinding
from ddcore.cli import CommandLine
from ddcore.hookspecs import hookimpl
# these add st.event_display and st.interactive_event_display to strax contexts
from ddplugins.analyses import event_display, interactive_display

log = logging.getLogger(__name__)


def cmd_show(args):
    st = CommandLine.context_from(args)
    if args.html:
        path = interactive_display.save_interactive_event_display(st, args.run, args.event, args.output)
    else:
        path = event_display.save_event_display(st, args.run, args.event, args.output)
    print(f"Event {args.event} of {args.run} drawn in {path}")


def cmd_validate_sim(args):
    from ddplugins.analyses.validation import validate_simulation

    st = CommandLine.context_from(args)
    print(validate_simulation(st, args.output, n_events=args.events))


def cmd_blind(args):
    st = CommandLine.context_from(args)
    for run in args.runs:
        record = blinding.blind(st, run, args.region)
        print(f"{run}: {record['state']} (events that {args.region} marks are left out of every read)")


def cmd_unblind(args):
    st = CommandLine.context_from(args)
    for run in args.runs:
        record = blinding.unblind(st, run, args.reason)
        print(f"{run}: {record['state']} by {record['history'][-1]['user']} ({args.reason})")


@hookimpl
def ddcore_register_commands(cli: CommandLine) -> None:
    p = cli.add_command("show", cmd_show, help="draw an event display (PNG, or interactive HTML)", description=(
        "Draw event EVENT (its event_number in the run's event_basics) as a PNG: main S1 and S2 "
        "waveforms, S1 and S2 hit patterns on both arrays, reconstructed and true position, "
        "event information and scores, the whole event and the images the CNN sees. With --html, "
        "an interactive page instead (bokeh, pip install 'ddcore[display]'): the waveform with zoom "
        "and pan, each peak's hit patterns with per-PMT hover, a peak table, linked selection; "
        "it opens in any browser without a network."))
    p.add_argument("run", metavar="RUN")
    p.add_argument("event", type=int, metavar="EVENT", help="event_number (event_basics field)")
    p.add_argument("--html", action="store_true", help="write the interactive display (HTML) instead of a PNG")
    p.add_argument("--output", "-o", default=None,
                   help="file path (default <run>_event<EVENT>.png, or .html with --html)")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "validate-sim", cmd_validate_sim, help="check the simulator against the detector parameters and Table I",
        description="Simulate a run of every population (er, wimp, neutron, cevns, accidental, wall, "
        "s2only, multisite); print g1, g2, S2 AFT, widths vs drift time and discrimination "
        "figures from the ER and WIMP runs, and per population the events its rate produces in "
        "34.2 live days and the share that lands in the SR0 analysis space, next to Table I of "
        "arXiv:1911.09210 and the wimprates integral; save plots and populations.csv.",
    )
    p.add_argument("--events", type=int, default=2000, help="events per population (default 2000)")
    p.add_argument("--output", "-o", default="dd_output/validation", help="folder for plots")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "blind", cmd_blind, help="hide the signal region of runs from every read",
        description="Blind runs: record in their run metadata that the events in the signal region (cS1 3-70 PE "
        "below the ER band median, the blinding_region data type) are left out of every read (get_array, "
        "get_df, the report) until 'ddcore unblind'. The stored data stay whole; the record keeps who blinded "
        "and when.")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--region", default="blinding_region",
                   help="data type whose in_blinded_region field marks the region (default blinding_region)")
    cli.add_context_arguments(p)

    p = cli.add_command(
        "unblind", cmd_unblind, help="unblind runs (an explicit, logged act with a reason)",
        description="Unblind runs: their signal region becomes readable again; the reason, the user and the date "
        "are added to the run's blinding history and logged as a warning.")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--reason", required=True, help="why now (recorded in the run metadata)")
    cli.add_context_arguments(p)
