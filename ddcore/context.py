"""``ddcore.context``: a configured strax.Context for one registered detector."""

from __future__ import annotations

import os
import typing as ty

import strax

from ddcore import config as dd_config
from ddcore import registry
from ddcore.storage import ZarrStore

DATA_DIR_ENV = "DD_DATA"
DEFAULT_DATA_DIR = "./dd_data"


class DDContext(strax.Context):
    """A strax.Context that remembers the detector and preset it was made for.

    Everything else is strax's: ``get_df``, ``make``, ``key_for``, ``show_config`` ... Contexts
    derived with ``new_context`` keep the detector and preset.
    """

    detector: ty.Optional[str] = None
    preset: ty.Optional[str] = None

    def new_context(self, *args, **kwargs) -> "DDContext":
        new = super().new_context(*args, **kwargs)
        # strax builds a plain Context; the subclass adds no state but these two names
        new.__class__ = type(self)
        new.detector, new.preset = self.detector, self.preset
        return new


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)


def _storage_frontends(storage) -> list:
    if storage is None:
        return [ZarrStore(default_data_dir())]
    if isinstance(storage, (str, os.PathLike)):
        return [ZarrStore(storage)]
    if isinstance(storage, strax.StorageFrontend):
        return [storage]
    return list(storage)


def context(detector: str = "xenon1t", storage=None, preset: ty.Optional[str] = None,
            config_file=None, **options) -> DDContext:
    """A strax.Context with ``detector``'s plugins, configuration and a zarr store.

    :param detector: a registered detector name (see ``ddcore.detectors()``)
    :param storage: folder of the zarr store (default ``$DD_DATA`` or ``./dd_data``), a strax
        storage frontend, or a list of them
    :param preset: option preset from the detector's config file (e.g. ``"sr1"``); defaults to
        the detector's default preset
    :param config_file: TOML file to use instead of the detector's own config file
    :param options: option values that override the config file (they enter the lineage)
    """
    spec = registry.get_detector(detector)
    config_path = config_file or spec.config_file
    preset = preset or spec.default_preset
    values = {}
    if config_path is not None:
        values = dd_config.load_detector_config(config_path, spec.plugins, preset=preset)
    elif preset is not None:
        raise dd_config.ConfigError(f"Detector {detector!r} has no config file for preset {preset!r}")
    values.update(_checked(detector, options, f"ddcore.context({detector!r}) argument"))
    st = DDContext(
        storage=_storage_frontends(storage),
        register=list(spec.plugins),
        config=values,
        **dict(spec.context_options),
    )
    st.detector, st.preset = detector, preset
    return st


def _checked(detector: ty.Optional[str], options: dict, where: str) -> dict:
    if detector is None:
        return dict(options)
    known = dd_config.plugin_options(registry.get_detector(detector).plugins)
    return {name: dd_config.check_option(name, value, known, where) for name, value in options.items()}


def derive(st: strax.Context, **options) -> strax.Context:
    """A context like ``st`` (same store, plugins, options) with some options changed.

    Options are checked against the detector's plugins; file options get their content hashes
    when strax configures the plugins that read them, as for every context.
    """
    detector = getattr(st, "detector", None)
    return st.new_context(config=_checked(detector, options, "ddcore.derive argument"))
