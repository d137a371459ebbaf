"""Optional dependencies: ``pip install ddcore`` simulates and processes; the learning and
inference stack (TensorFlow, Keras, scikit-learn) comes with ``pip install 'ddcore[ml]'``, and
what needs it says so when it is asked for, not when ddcore is imported."""

from __future__ import annotations

import importlib
import types

ML_EXTRA = "pip install 'ddcore[ml]'"


class MissingExtraError(ImportError):
    """An optional dependency that is not installed, named with the command that installs it."""


def import_ml(module: str, needed_for: str) -> types.ModuleType:
    """``module`` of the machine-learning extra; a MissingExtraError says what needs it and how
    to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"{needed_for} needs {module.split('.')[0]}, part of the machine-learning "
                                f"extra: {ML_EXTRA}") from e
