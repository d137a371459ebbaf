"""Logging for ddcore and its plugins: stdlib ``logging``, one logger per module.

Library code logs and never prints; the command line decides what is shown (``--quiet``,
``--verbose``). Start-up chatter of TensorFlow and strax is silenced here without changing any
numerics (oneDNN stays on; only its log lines go).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

QUIET_ENVIRONMENT = {
    # TensorFlow's C++ log lines (grappler "remapper failed" and the like: Python raises real errors)
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def quiet_third_party() -> None:
    """Silence start-up noise of the libraries ddcore uses (the command line does, at start; a
    library user decides for their own process); a value the user set is kept."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in ("tensorflow", "absl", "h5py", "numexpr", "distributed", "numba"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def c_stderr_silenced():
    """Silence what compiled code writes straight to the process's stderr (file descriptor 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras():
    """Keras (with TensorFlow), imported without TensorFlow's start-up lines: abseil prints
    those before any log level applies, so they are kept off stderr while importing, and
    TensorFlow's C++ log level is set (where the user has not) when ddcore first needs Keras,
    not when ddcore is imported."""
    if "keras" not in sys.modules:
        from ddcore.extras import import_ml

        for name, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        with c_stderr_silenced():
            import_ml("keras", "Training and applying models")
    return sys.modules["keras"]


NOISY_LOGGERS = ("strax", "numba", "matplotlib", "PIL", "distributed", "fsspec", "h5py")


def configure(verbosity: int = 0) -> None:
    """Log to stderr: warnings only (-1, ``--quiet``), progress (0), or debug (1, ``--verbose``).

    Applies to ddcore and every plugin package (their module loggers propagate to the root);
    libraries ddcore builds on keep to warnings unless ``--verbose``.
    """
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity <= 0 else
                                           "%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbosity > 0 else logging.WARNING)
