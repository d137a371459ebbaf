"""ddcore: dark-matter direct-detection analysis on strax, stored as zarr.

The kernel: context, zarr storage, configuration, the registry of detectors and commands
(pluggy hooks over entry points), batch processing and the base plugin classes. It knows no
detector and no analysis method; those arrive through ``ddcore.hookspecs``.
"""

__version__ = "0.2.0"

from ddcore.log import quiet_third_party as _quiet_third_party

_quiet_third_party()

from ddcore.config import ConfigError  # noqa: E402
from ddcore.context import DDContext, context, derive  # noqa: E402
from ddcore.registry import Detector, UnknownDetectorError, detectors, get_detector  # noqa: E402
from ddcore.storage import ZarrStore  # noqa: E402

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
