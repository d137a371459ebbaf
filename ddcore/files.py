"""Options that name a file: the path is untracked, the file's content hash is tracked.

A plugin that reads a file (a model, a calibration, an instruction table) declares the pair
with :func:`file_options`::

    cnn_model_file, cnn_model_sha256 = file_options("cnn_model", "CNN model (.keras)")

The hash option is computed from the file each time strax configures the plugin, however the
path was set (``ddcore.context``, ``st.set_config``, ``st.new_context``, ``get_array(config=...)``),
so a changed file always gives a new lineage and stale results are never loaded. Setting the
hash option by hand is allowed only to assert it: a value that differs from the file's hash is
an error.
"""

from __future__ import annotations

import functools
import hashlib
import os

import strax

from ddcore.config import PACKAGE_PATH_PREFIX, ConfigError, resolve_path  # noqa: F401 - here for their users

FILE_OPTION_SUFFIX = "_file"
HASH_OPTION_SUFFIX = "_sha256"


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, identity: tuple) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path) -> str:
    """SHA-256 of a file's content. Cached on (inode, size, mtime, ctime): a file replaced with
    its modification time kept still gets a new ctime, so it is hashed again."""
    path = os.fspath(path)
    info = os.stat(path)
    return _sha256_of(path, (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))


def hash_option_for(file_option: str) -> str:
    return file_option[: -len(FILE_OPTION_SUFFIX)] + HASH_OPTION_SUFFIX


class FileOption(strax.Config):
    """Path of a file a plugin reads (untracked); ``package:`` paths are resolved, and a
    corrections reference (``ddcore.corrections``) to the file of the run the plugin works on."""

    def __init__(self, description: str):
        super().__init__(
            default="", type=str, track=False,
            help=f"{description}; its content SHA-256 is tracked, not its path",
        )

    def validate(self, config, run_id=None, run_defaults=None, set_defaults=True):
        super().validate(config, run_id=run_id, run_defaults=run_defaults, set_defaults=set_defaults)
        if self.name in config:
            from ddcore import corrections  # corrections reads paths with resolve_path

            value = config[self.name]
            if run_id is not None and corrections.is_reference(value):
                value = corrections.resolve_file(value, run_id)  # the run's file: its hash enters the lineage
            config[self.name] = resolve_path(value)


class FileHashOption(strax.Config):
    """SHA-256 of the file named by another option, computed when strax configures the plugin."""

    def __init__(self, file_option: str):
        self.file_option = file_option
        super().__init__(
            default="", type=str,
            help=f"SHA-256 of the file named by {file_option} (computed from the file; setting "
            "it asserts the hash)",
        )

    def validate(self, config, run_id=None, run_defaults=None, set_defaults=True):
        declared = config.get(self.name, "")
        path = resolve_path(config.get(self.file_option, ""))
        actual = ""
        if path:
            try:
                actual = file_sha256(path)
            except OSError:
                actual = ""  # the plugin's setup names the missing file when it needs it
        if declared and actual and declared != actual:
            raise ConfigError(
                f"Option {self.name!r} says {declared[:12]}..., but {path} (option "
                f"{self.file_option!r}) has SHA-256 {actual[:12]}..."
            )
        config[self.name] = actual


def file_options(prefix: str, description: str) -> tuple[FileOption, FileHashOption]:
    """The (``<prefix>_file``, ``<prefix>_sha256``) option pair of a plugin that reads a file."""
    return FileOption(description), FileHashOption(prefix + FILE_OPTION_SUFFIX)


def verify_file_hash(option_name: str, path, expected_sha256: str, where: str = "") -> str:
    """Raise a ConfigError unless the file behind ``option_name`` is set, readable and still the
    one whose hash entered the lineage; return the resolved path."""
    path = resolve_path(path)
    if not path:
        raise ConfigError(f"Option {option_name!r} is not set")
    try:
        actual = file_sha256(path)
    except OSError as e:
        raise ConfigError(f"Option {option_name!r}: cannot read {path}: {e.strerror}") from None
    if actual != expected_sha256:
        raise ConfigError(
            f"{path} (option {option_name!r}) has SHA-256 {actual[:12]}..., but the lineage{where} "
            f"was computed for {expected_sha256[:12] or '(no file)'}: the file changed after the "
            "context configured the plugin. Make a new context (st.new_context() or "
            "ddcore.derive(st)) to compute with the new file"
        )
    return path
