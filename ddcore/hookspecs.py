"""Hook specifications: how packages extend ddcore.

ddcore knows no detector, analysis or machine-learning method: all of them arrive through these
hooks. A package implements some of them in a module and names that module in the ``ddcore``
entry-point group of its metadata::

    [project.entry-points.ddcore]
    mytpc = "mytpc.detector"

The detectors, analyses and commands shipped in ``ddplugins`` are registered the very same way,
as entry points of this distribution.

The hooks' types are named, not imported: the registry and the command line import this module,
so importing theirs here would close an import circle.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "ddcore"
ENTRY_POINT_GROUP = "ddcore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ddcore_register_detectors() -> list[ddcore.registry.Detector]:  # noqa: F821
    """Return the detectors this package provides.

    Each :class:`ddcore.registry.Detector` names its strax plugins, its TOML config file (with
    presets) and a description; ``ddcore.context(name)`` builds a context from it. A detector
    name may be registered only once over all packages.
    """


@hookspec
def ddcore_register_commands(cli: ddcore.cli.CommandLine) -> None:  # noqa: F821
    """Add sub-commands to the ``ddcore`` command line.

    Call ``cli.add_command(name, function, help=...)`` for each command and add its arguments to
    the ``argparse.ArgumentParser`` it returns; ``function(args)`` runs the command and returns
    an exit status (None for 0). ``cli.add_context_arguments(parser)`` adds the usual
    ``--detector``, ``--preset``, ``--data`` and ``--set`` options, and
    ``cli.context_from(args)`` makes the context they describe. Import heavy modules inside the
    command functions, not at module level, so ``ddcore --help`` stays fast.
    """
