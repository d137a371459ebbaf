"""ddcore: dark-matter direct-detection analysis on strax, stored as zarr."""

__version__ = "0.1.0"

from ddcore.config import ConfigError  # noqa: E402
from ddcore.context import context  # noqa: E402
from ddcore.registry import Detector, UnknownDetectorError, detectors, get_detector  # noqa: E402
from ddcore.storage import ZarrStore  # noqa: E402

__all__ = [
    "ConfigError",
    "Detector",
    "UnknownDetectorError",
    "ZarrStore",
    "context",
    "detectors",
    "get_detector",
]
