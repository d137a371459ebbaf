"""Registry of detectors and commands, collected from the ``ddcore`` entry-point group only."""

from __future__ import annotations

import dataclasses
import functools
import typing as ty
from pathlib import Path

import pluggy
import strax

from ddcore import hookspecs


class UnknownDetectorError(KeyError):
    def __str__(self):
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Detector:
    """What a package provides to make a detector usable in ddcore.

    :param name: short lowercase name used in ``ddcore.context(name)``
    :param plugins: strax plugin classes providing the detector's data types
    :param config_file: TOML file with the detector's default option values and presets
    :param description: one line shown by ``ddcore detectors``
    :param default_preset: preset used when a context is made without one (None: base values)
    :param context_options: extra ``strax.Context`` settings (e.g. ``allow_multiprocess``)
    :param is_default: the detector ``ddcore.context()`` and the command line use when none is
        named (at most one registered detector may claim it)
    :param corrections_file: its store of per-run conditions (``ddcore.corrections``), if any
    """

    name: str
    plugins: tuple
    config_file: ty.Optional[Path] = None
    description: str = ""
    default_preset: ty.Optional[str] = None
    context_options: dict = dataclasses.field(default_factory=dict)
    is_default: bool = False
    corrections_file: ty.Optional[Path] = None

    def __post_init__(self):
        for plugin in self.plugins:
            if not (isinstance(plugin, type) and issubclass(plugin, strax.Plugin)):
                raise TypeError(
                    f"Detector {self.name!r}: {plugin!r} is not a strax.Plugin subclass"
                )

    @property
    def provides(self) -> list[str]:
        return sorted(dt for p in self.plugins for dt in strax.to_str_tuple(p.provides))


@functools.lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager holding every module of the ``ddcore`` entry-point group."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    return pm


@functools.lru_cache(maxsize=1)
def _registered() -> dict[str, Detector]:
    detectors = {}
    for batch in plugin_manager().hook.ddcore_register_detectors():
        for det in batch:
            if det.name in detectors:
                raise ValueError(f"Detector {det.name!r} is registered twice")
            detectors[det.name] = det
    return detectors


def detectors() -> list[str]:
    """Names of all registered detectors, sorted."""
    return sorted(_registered())


def default_detector() -> str:
    """The detector used when none is named: the one that claims it, or the only one."""
    registered = _registered()
    claiming = [name for name, det in registered.items() if det.is_default]
    if len(claiming) > 1:
        raise ValueError(f"Detectors {', '.join(sorted(claiming))} all claim to be the default: name one")
    if claiming:
        return claiming[0]
    if len(registered) == 1:
        return next(iter(registered))
    raise UnknownDetectorError(
        f"No default detector among {', '.join(detectors()) or 'none registered'}: name one"
    )


def get_detector(name: str | None) -> Detector:
    if name is None:
        name = default_detector()
    try:
        return _registered()[name]
    except KeyError:
        known = ", ".join(detectors()) or (
            "none (is the ddcore distribution installed? 'pip install -e .' registers the "
            "built-in detectors as entry points)"
        )
        raise UnknownDetectorError(
            f"Unknown detector {name!r}; registered detectors: {known}. Detectors register "
            f"through the {hookspecs.ENTRY_POINT_GROUP!r} entry-point group."
        ) from None


def refresh() -> None:
    """Forget cached registrations (after installing a detector package at run time)."""
    _registered.cache_clear()
    plugin_manager.cache_clear()
