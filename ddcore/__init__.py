"""ddcore: dark-matter direct-detection analysis on strax, stored as zarr.

The kernel: context, zarr storage, configuration, the registry of detectors and commands
(pluggy hooks over entry points), batch processing and the base plugin classes. It knows no
detector and no analysis method; those arrive through ``ddcore.hookspecs``.
"""

import logging

from ddcore.config import ConfigError
from ddcore.context import DDContext, context, derive
from ddcore.registry import Detector, UnknownDetectorError, detectors, get_detector
from ddcore.storage import ZarrStore

__version__ = "0.2.0"

# a library: importing it configures nothing of the user's process (no environment variables,
# no handlers but this one, no levels); the command line configures logging (ddcore.log)
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "DDContext",
    "Detector",
    "UnknownDetectorError",
    "ZarrStore",
    "context",
    "derive",
    "detectors",
    "get_detector",
]
