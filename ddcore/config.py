"""Per-detector option sets from TOML files, validated against the detector's strax options.

A detector config file groups options in tables for readability (``[geometry]``, ``[physics]``,
``[processing]`` ...); the table names are not part of the option names. Presets (for example
science runs) are tables under ``[presets.<name>]`` whose keys override the base values::

    [physics]
    electron_lifetime_us = 450.0

    [presets.sr1]
    electron_lifetime_us = 600.0

Every key must be an option of one of the detector's plugins and have the option's type, so
values reach the plugins as strax options and enter the lineage.

An *analysis config* (``configs/*.toml`` of the repository, ``ddcore.context(config=...)``,
``--config`` of the commands) is the user's file on top of a detector's packaged one: which
detector and preset, where the store is, the options the analysis changes and defaults for the
arguments of commands::

    detector = "xenon1t"
    preset = "sr0"
    data = "dd_data"              # store folder, relative to the working directory (as --data)
    raw_data = "/data/strax"      # optional: raw data of other software to process (as --raw-data)

    [options]                     # strax options over the detector's defaults: they enter the lineage
    electron_lifetime_us = 500.0

    [commands.demo]               # defaults of `ddcore demo --config this.toml`
    events = 2000
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import numbers
import os
import tomllib
import typing as ty
from pathlib import Path

import strax

PRESETS_TABLE = "presets"


class ConfigError(ValueError):
    """A configuration file or option value that cannot be used."""


PACKAGE_PATH_PREFIX = "package:"


def resolve_path(value):
    """A path option's value as a filesystem path; ``package:pkg.name/rel/path`` points into an
    installed package (how detectors ship their models)."""
    if isinstance(value, str) and value.startswith(PACKAGE_PATH_PREFIX):
        package, _, relative = value[len(PACKAGE_PATH_PREFIX) :].partition("/")
        try:
            return str(importlib.resources.files(package).joinpath(relative))
        except ModuleNotFoundError:
            raise ConfigError(f"{value!r}: package {package!r} is not installed") from None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def plugin_options(plugins) -> dict[str, strax.Option]:
    """{option name: strax.Option} over all plugins (first declaration wins)."""
    options = {}
    for plugin in plugins:
        for name, option in plugin.takes_config.items():
            options.setdefault(name, option)
    return options


def _expected_type(option):
    if option.type is not strax.OMITTED:
        return option.type
    default = option.default
    if default is strax.OMITTED or default is None:
        return None
    if isinstance(default, bool):
        return bool
    if isinstance(default, numbers.Integral):
        return int
    if isinstance(default, numbers.Real):
        return (float, int)
    if isinstance(default, (tuple, list)):
        return (tuple, list)
    return type(default)


def check_option(name: str, value, options: dict, where: str):
    """Return ``value`` in the form the option wants, or raise ConfigError naming ``where``."""
    if name not in options:
        raise ConfigError(
            f"{where}: unknown option {name!r}. Known options: {', '.join(sorted(options))}"
        )
    takes_reference = getattr(options[name], "takes_reference", None)  # ddcore.corrections
    if takes_reference is not None and takes_reference(value):
        return value
    expected = _expected_type(options[name])
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, list):
        value = tuple(_freeze(v) for v in value)
    if expected is None:
        return value
    expected_tuple = expected if isinstance(expected, tuple) else (expected,)
    if float in expected_tuple and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return float(value)
    if bool not in expected_tuple and isinstance(value, bool) and int in expected_tuple:
        raise ConfigError(f"{where}: option {name!r} must be a number, got a boolean {value!r}")
    if not isinstance(value, expected_tuple):
        names = " or ".join(t.__name__ for t in expected_tuple)
        raise ConfigError(
            f"{where}: option {name!r} must be {names}, got {type(value).__name__} {value!r}"
        )
    return value


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _flatten(table, path, source):
    """Flatten option tables, refusing an option that appears in two tables."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            for sub_key, sub_value in _flatten(value, f"{path}{key}.", source).items():
                if sub_key in flat:
                    raise ConfigError(f"{source}: option {sub_key!r} is set twice")
                flat[sub_key] = sub_value
        else:
            if key in flat:
                raise ConfigError(f"{source}: option {key!r} is set twice")
            flat[key] = value
    return flat


def read_toml(path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None


def load_detector_config(path, plugins, preset: str | None = None) -> dict:
    """Option values for the detector, base values updated with ``preset``'s overrides."""
    options = plugin_options(plugins)
    document = read_toml(path)
    presets = document.pop(PRESETS_TABLE, {})
    values = {
        key: check_option(key, value, options, f"{path} key {key!r}")
        for key, value in _flatten(document, "", path).items()
    }
    if preset is not None:
        if preset not in presets:
            raise ConfigError(
                f"{path}: unknown preset {preset!r}; presets defined: {', '.join(sorted(presets))}"
            )
        for key, value in presets[preset].items():
            values[key] = check_option(key, value, options, f"{path} preset {preset!r} key {key!r}")
    return values


def preset_names(path) -> list[str]:
    return sorted(read_toml(path).get(PRESETS_TABLE, {}))


ANALYSIS_KEYS = ("detector", "preset", "data", "raw_data", "options", "commands")


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """An analysis config file, read and checked for its form (the options are checked against
    the detector's plugins when a context is made from it)."""

    path: Path
    detector: ty.Optional[str] = None
    preset: ty.Optional[str] = None
    data: ty.Optional[str] = None
    raw_data: ty.Optional[str] = None
    options: dict = dataclasses.field(default_factory=dict)
    commands: dict = dataclasses.field(default_factory=dict)


def load_analysis_config(path) -> AnalysisConfig:
    """The analysis config in ``path``; a ConfigError names the file and the key at fault."""
    path = Path(path)
    document = read_toml(path)
    unknown = sorted(set(document) - set(ANALYSIS_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; an analysis config holds "
                          "detector, preset, data, raw_data, [options] and [commands.<command>]")
    for key in ("detector", "preset", "data", "raw_data"):
        if key in document and not isinstance(document[key], str):
            raise ConfigError(f"{path}: {key!r} must be a string, got {document[key]!r}")
    for key in ("options", "commands"):
        if not isinstance(document.get(key, {}), dict):
            raise ConfigError(f"{path}: {key!r} must be a table ([{key}])")
    commands = document.get("commands", {})
    for name, table in commands.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: commands.{name} must be a table ([commands.{name}])")
    return AnalysisConfig(path=path, detector=document.get("detector"), preset=document.get("preset"),
                          data=document.get("data"), raw_data=document.get("raw_data"),
                          options=_flatten(document.get("options", {}), "", path), commands=commands)
