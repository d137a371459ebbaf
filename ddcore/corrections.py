"""A versioned store of per-run detector conditions (electron lifetime, drift velocity, gains ...),
in the spirit of straxen's CMT / URLConfig, with no server: a TOML file per store.

An option of a plugin declared with :class:`Correctable` takes a number, or a reference to the
store, resolved for the run the plugin works on::

    electron_lifetime_us = "corrections://electron_lifetime_us?version=v2&store=xenon1t"

``store`` is a registered detector (its package's ``corrections.toml``, ``Detector.corrections_file``)
or a file path (``package:`` paths too). The lineage holds the reference, that is the version,
not the values fetched: a new version re-makes only what reads that option, and a published
version is never edited (a change is a new version). A store file::

    [versions.v2]
    description = "electron lifetime from the Kr83m fits of SR0, drifting"

    [[versions.v2.electron_lifetime_us]]
    runs = [0, 99]            # first and last run number it holds for (run ids end in the number)
    value = [450.0, 650.0]    # at the first and the last run, linear between; or one number

    [[versions.v2.dead_channels]]
    runs = [0, 49]
    channels = [17, 103]      # a set of channels for every run of the range

    [[versions.v2.pmt_table]]
    runs = [0, 49]
    file = "pmts_2017_02.csv" # a file for every run of the range (relative to the store file):
                              # per-run PMT gains through the file option pmt_table_file

A file option (``ddcore.files``) takes a reference too: it reads the run's file, and the lineage
holds that file's content hash.

A run outside every range of the version, an unknown version or correction, a malformed file:
a :class:`CorrectionError` naming the run, the correction, the version and the file.
"""

from __future__ import annotations

import functools
import os
import re
import typing as ty
import urllib.parse

from ddcore import registry
from ddcore.config import ConfigError, read_toml, resolve_path

SCHEME = "corrections://"
STORE_FILE = "corrections.toml"


class CorrectionError(ConfigError):
    """A correction that cannot be resolved for a run."""


def is_reference(value) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def parse(reference: str) -> tuple[str, str, str]:
    """(correction, version, store) of a reference; CorrectionError if it is malformed."""
    parts = urllib.parse.urlsplit(reference)
    query = urllib.parse.parse_qs(parts.query)
    name = parts.netloc
    version, store = query.get("version", [""])[0], query.get("store", [""])[0]
    if not (parts.scheme == SCHEME[:-3] and name and version and store and not parts.path):
        raise CorrectionError(f"{reference!r} is not a correction reference: write "
                              f"'{SCHEME}<correction>?version=<version>&store=<detector or file>'")
    return name, version, store


def store_file(store: str) -> str:
    """The file of a store: a registered detector's corrections file, or a path."""
    if store in registry.detectors():
        path = registry.get_detector(store).corrections_file
        if path is None:
            raise CorrectionError(f"Detector {store!r} has no corrections store ({STORE_FILE} in its package)")
        return str(path)
    return resolve_path(store)


@functools.lru_cache(maxsize=16)
def _versions(path: str, stamp: tuple) -> dict:
    document = read_toml(path)
    versions = document.get("versions")
    if not isinstance(versions, dict):
        raise CorrectionError(f"Corrections store {path} has no [versions.<name>] tables")
    return versions


def run_number(run_id) -> int:
    """The number a run id ends in (``025420`` -> 25420, ``er_sr0_007`` -> 7)."""
    found = re.search(r"(\d+)$", str(run_id))
    if found is None:
        raise CorrectionError(f"Run {run_id!r} has no run number at its end: corrections hold per run number")
    return int(found.group(1))


def resolve(reference: str, run_id):
    """The value a reference gives for a run: a number, or a tuple of channels."""
    name, version, store = parse(reference)
    path = store_file(store)
    try:
        info = os.stat(path)
    except OSError:
        raise CorrectionError(f"Corrections store {path} of {reference!r} cannot be read") from None
    versions = _versions(path, (info.st_mtime_ns, info.st_size))
    where = f"Run {run_id!r}: correction {name!r} version {version!r} ({path})"
    if version not in versions:
        raise CorrectionError(f"{where}: no such version; the store has {', '.join(sorted(versions))}")
    rows = versions[version].get(name)
    if not rows:
        known = sorted(k for k, v in versions[version].items() if isinstance(v, list))
        raise CorrectionError(f"{where}: the version has no such correction; it has {', '.join(known)}")
    number = run_number(run_id)
    for row in rows:
        first, last = _range(row, where)
        if first <= number <= last:
            if "file" in row:
                return _file(row, os.path.dirname(os.path.abspath(path)), where)
            return _value(row, number, first, last, where)
    ranges = ", ".join(f"{a}-{b}" for a, b in (_range(row, where) for row in rows))
    raise CorrectionError(f"{where}: run number {number} is outside the version's validity ({ranges})")


def _range(row: dict, where: str) -> tuple[int, int]:
    runs = row.get("runs") if isinstance(row, dict) else None
    if not (isinstance(runs, list) and len(runs) == 2 and all(isinstance(r, int) for r in runs) and runs[0] <= runs[1]):
        raise CorrectionError(f"{where}: each entry needs runs = [first, last] (integers), got {row!r}")
    return runs[0], runs[1]


def _file(row: dict, folder: str, where: str) -> str:
    name = row["file"]
    if not (isinstance(name, str) and name):
        raise CorrectionError(f"{where}: file must be a file name, got {name!r}")
    path = resolve_path(name)
    return path if os.path.isabs(path) else os.path.join(folder, path)


def resolve_file(reference: str, run_id) -> str:
    """The file a reference gives for a run (a row with ``file = ...``); CorrectionError if the
    correction holds numbers or channels instead."""
    value = resolve(reference, run_id)
    if not isinstance(value, str):
        name, version, _ = parse(reference)
        raise CorrectionError(f"Run {run_id!r}: correction {name!r} version {version!r} holds {value!r}, not a "
                              "file: a file option needs rows with file = \"...\"")
    return value


def _value(row: dict, number: int, first: int, last: int, where: str):
    if "channels" in row:  # a set of channels (dead ones): the same for every run of the range
        channels = row["channels"]
        if not (isinstance(channels, list) and all(isinstance(c, int) and c >= 0 for c in channels)):
            raise CorrectionError(f"{where}: channels must be a list of channel numbers, got {channels!r}")
        return tuple(channels)
    value = row.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        fraction = (number - first) / (last - first) if last > first else 0.0
        return float(value[0] + fraction * (value[1] - value[0]))
    raise CorrectionError(f"{where}: value must be a number or [at first run, at last run], got {value!r}")


class CorrectableMixin:
    """For an option (``ddcore.plugins.Correctable``) whose value may be a correction reference:
    the plugin reads the value resolved for its run; the lineage holds the reference."""

    @staticmethod
    def takes_reference(value) -> bool:
        return is_reference(value)

    def fetch(self, plugin) -> ty.Any:
        value = super().fetch(plugin)
        if not is_reference(value):
            return value
        resolved = resolve(value, plugin.run_id)
        self.check(resolved)
        return resolved

    def check(self, value) -> None:
        if is_reference(value):
            parse(value)  # the form; the store is read for a run when the plugin reads the option
            return
        super().check(value)
