"""Hook specifications: how a package adds a detector to ddcore.

A detector package exposes a module with a ``ddcore_register_detectors`` hook implementation and
names that module in the ``ddcore`` entry-point group of its package metadata::

    [project.entry-points.ddcore]
    mytpc = "mytpc.detector"

The built-in detectors (``ddplugins.xenon1t`` ...) are registered through the very same hook.
"""

import pluggy

PROJECT_NAME = "ddcore"
ENTRY_POINT_GROUP = "ddcore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ddcore_register_detectors():
    """Return a list of :class:`ddcore.registry.Detector` objects this package provides."""
