"""``ddcore.context``: a configured strax.Context for one registered detector."""

import os

import strax

from ddcore import config as dd_config
from ddcore import registry
from ddcore.storage import ZarrStore

DATA_DIR_ENV = "DD_DATA"
DEFAULT_DATA_DIR = "./dd_data"


def default_data_dir():
    return os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)


def _storage_frontends(storage):
    if storage is None:
        return [ZarrStore(default_data_dir())]
    if isinstance(storage, (str, os.PathLike)):
        return [ZarrStore(storage)]
    if isinstance(storage, strax.StorageFrontend):
        return [storage]
    return list(storage)


def context(detector="xenon1t", storage=None, preset=None, config_file=None, **options):
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
    known_options = dd_config.plugin_options(spec.plugins)
    config_path = config_file or spec.config_file
    preset = preset or spec.default_preset
    values = {}
    if config_path is not None:
        values = dd_config.load_detector_config(config_path, spec.plugins, preset=preset)
    elif preset is not None:
        raise dd_config.ConfigError(f"Detector {detector!r} has no config file for preset {preset!r}")
    for name, value in options.items():
        values[name] = dd_config.check_option(
            name, value, known_options, f"ddcore.context({detector!r}) argument"
        )
    dd_config.add_file_hashes(values, known_options, explicit=options)
    context_options = dict(spec.context_options)
    st = strax.Context(
        storage=_storage_frontends(storage),
        register=list(spec.plugins),
        config=values,
        **context_options,
    )
    st.dd_detector = detector
    st.dd_preset = preset
    return st
