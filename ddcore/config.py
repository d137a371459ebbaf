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
"""

import hashlib
import importlib.resources
import numbers
import os
import tomllib
from pathlib import Path

import strax

PRESETS_TABLE = "presets"
PACKAGE_PATH_PREFIX = "package:"
FILE_OPTION_SUFFIX = "_file"
HASH_OPTION_SUFFIX = "_sha256"


class ConfigError(ValueError):
    """A configuration file or option value that cannot be used."""


def plugin_options(plugins):
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


def check_option(name, value, options, where):
    """Return ``value`` in the form the option wants, or raise ConfigError naming ``where``."""
    if name not in options:
        raise ConfigError(
            f"{where}: unknown option {name!r}. Known options: {', '.join(sorted(options))}"
        )
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


def read_toml(path):
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None


def load_detector_config(path, plugins, preset=None):
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


def preset_names(path):
    return sorted(read_toml(path).get(PRESETS_TABLE, {}))


def resolve_path(value):
    """A path option's value as a filesystem path; ``package:pkg.name/rel/path`` points into an
    installed package (how detectors ship models)."""
    if isinstance(value, str) and value.startswith(PACKAGE_PATH_PREFIX):
        package, _, relative = value[len(PACKAGE_PATH_PREFIX) :].partition("/")
        return str(importlib.resources.files(package).joinpath(relative))
    return value


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_option_for(file_option):
    return file_option[: -len(FILE_OPTION_SUFFIX)] + HASH_OPTION_SUFFIX


def add_file_hashes(values, options, explicit=()):
    """For every ``X_file`` option with an ``X_sha256`` partner, resolve the path and set the hash.

    File options are untracked (a path says nothing about content); their hashes are tracked, so
    the content of a model or instruction file enters the lineage. Hashes given explicitly win.
    """
    for name, option in options.items():
        if not name.endswith(FILE_OPTION_SUFFIX) or hash_option_for(name) not in options:
            continue
        path = resolve_path(values.get(name, option.default))
        if not path:
            continue
        values[name] = path
        if hash_option_for(name) in explicit:
            continue
        try:
            values[hash_option_for(name)] = file_sha256(path)
        except OSError:
            # Not fatal here: the plugin that needs the file says so when it is used.
            values[hash_option_for(name)] = ""
    return values


def verify_file_hash(option_name, path, expected_sha256):
    """Raise if the file behind an ``X_file`` option is not the one its hash option names."""
    if not path:
        raise ConfigError(f"Option {option_name!r} is not set")
    try:
        actual = file_sha256(path)
    except OSError as e:
        raise ConfigError(f"Option {option_name!r}: cannot read {path}: {e.strerror}") from None
    if actual != expected_sha256:
        raise ConfigError(
            f"{path} (option {option_name!r}) has SHA-256 {actual[:12]}..., but option "
            f"{hash_option_for(option_name)!r} says {expected_sha256[:12] or '(unset)'}: the file "
            "changed after the context was made; make a new context (ddcore.context) so its "
            "content enters the lineage"
        )
