"""Optional dependencies: ``pip install ddcore`` simulates and processes; the learning and
inference stack (TensorFlow, Keras, scikit-learn) comes with ``pip install 'ddcore[ml]'``, the
interactive event display (bokeh) with ``pip install 'ddcore[display]'``, and what needs one
says so when it is asked for, not when ddcore is imported."""

from __future__ import annotations

import importlib
import types

ML_EXTRA = "pip install 'ddcore[ml]'"
DISPLAY_EXTRA = "pip install 'ddcore[display]'"
_EXTRA_NAMES = {ML_EXTRA: "machine-learning", DISPLAY_EXTRA: "interactive-display"}


class MissingExtraError(ImportError):
    """An optional dependency that is not installed, named with the command that installs it."""


def import_extra(module: str, needed_for: str, extra: str) -> types.ModuleType:
    """``module`` of an optional extra (``extra`` is its install command); a MissingExtraError
    says what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"{needed_for} needs {module.split('.')[0]}, part of the "
                                f"{_EXTRA_NAMES.get(extra, 'optional')} extra: {extra}") from e


def import_ml(module: str, needed_for: str) -> types.ModuleType:
    """``module`` of the machine-learning extra."""
    return import_extra(module, needed_for, ML_EXTRA)


def import_display(module: str, needed_for: str) -> types.ModuleType:
    """``module`` of the interactive-display extra (bokeh)."""
    return import_extra(module, needed_for, DISPLAY_EXTRA)
