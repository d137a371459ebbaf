"""Detector registry: collects detectors from built-in modules and ``ddcore`` entry points."""

import dataclasses
import functools
import typing as ty
from pathlib import Path

import pluggy
import strax

from ddcore import hookspecs

BUILTIN_DETECTOR_MODULES = (
    "ddplugins.xenon1t",
    "ddplugins.xenonnt",
    "ddplugins.newsdm",
)


class UnknownDetectorError(KeyError):
    def __str__(self):
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Detector:
    """What a package provides to make a detector usable in ddcore.

    :param name: short lowercase name used in ``ddcore.context(name)``
    :param plugins: strax plugin classes providing the detector's data types
    :param config_file: TOML file with the detector's default option values (may be None)
    :param description: one line shown by ``dd detectors``
    :param presets: names of the option presets (e.g. science runs) found in the config file
    """

    name: str
    plugins: tuple
    config_file: ty.Optional[Path] = None
    description: str = ""
    default_preset: ty.Optional[str] = None
    context_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for plugin in self.plugins:
            if not (isinstance(plugin, type) and issubclass(plugin, strax.Plugin)):
                raise TypeError(
                    f"Detector {self.name!r}: {plugin!r} is not a strax.Plugin subclass"
                )

    @property
    def provides(self):
        return sorted(dt for p in self.plugins for dt in strax.to_str_tuple(p.provides))


def _plugin_manager():
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_DETECTOR_MODULES:
        pm.register(__import__(module_name, fromlist=["_"]), name=module_name)
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    return pm


@functools.lru_cache(maxsize=1)
def _registered():
    detectors = {}
    for batch in _plugin_manager().hook.ddcore_register_detectors():
        for det in batch:
            if det.name in detectors:
                raise ValueError(f"Detector {det.name!r} is registered twice")
            detectors[det.name] = det
    return detectors


def detectors():
    """Names of all registered detectors, sorted."""
    return sorted(_registered())


def get_detector(name) -> Detector:
    try:
        return _registered()[name]
    except KeyError:
        raise UnknownDetectorError(
            f"Unknown detector {name!r}; registered detectors: {', '.join(detectors())}. "
            f"Third-party detectors register through the {hookspecs.ENTRY_POINT_GROUP!r} "
            "entry-point group."
        ) from None


def refresh():
    """Forget cached registrations (after installing a detector package at run time)."""
    _registered.cache_clear()
