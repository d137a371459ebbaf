"""Model files: native ``.keras`` archives with a JSON manifest beside them.

Loading uses Keras' safe mode (no arbitrary code is deserialised; nothing is unpickled) and
checks that the model is of the expected kind and reads a known image field. The manifest
(``<model>.json``) records architecture, options, training runs with their lineage hashes,
metrics and date, for people; what changes results is all inside the ``.keras`` file, whose
SHA-256 enters the lineage of every data type computed with it.
"""

import datetime
import json
import os
from pathlib import Path

import strax

from ddcore.config import ConfigError, file_sha256

# kind -> number of outputs
MODEL_OUTPUTS = {"cnn": 1, "cvae": 3, "newsdm_cnn3d": 1}
EVENT_IMAGE_FIELDS = ("hit_image", "peak_image", "hitpeak_image")
MODELS_KEPT = 4
_loaded = {}


class ModelFileError(ConfigError):
    pass


def model_file_options(prefix, description):
    """The (``<prefix>_file``, ``<prefix>_sha256``) option pair of a plugin that uses a model.

    The path is untracked; the content hash is tracked (ddcore.context computes it)."""
    return (
        strax.Config(default="", type=str, track=False,
                     help=f"{description}; its SHA-256 is tracked, not its path"),
        strax.Config(default="", type=str,
                     help=f"SHA-256 of {prefix}_file (ddcore.context computes it)"),
    )


def manifest_path(model_path):
    return Path(model_path).with_suffix(".json")


def save_model(model, path, kind, manifest):
    """Write ``model`` to ``path`` (.keras) and its manifest; return the manifest written."""
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"Model file {path} must end in .keras")
    os.makedirs(path.parent, exist_ok=True)
    model.save(path)
    manifest = {
        "kind": kind,
        "image_field": model.inputs[0].name,
        "input_shape": list(model.inputs[0].shape[1:]),
        "parameters": int(model.count_params()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "keras_version": keras.__version__,
        "model_sha256": file_sha256(path),
        **manifest,
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def read_manifest(path):
    try:
        return json.loads(manifest_path(path).read_text())
    except FileNotFoundError:
        return {}


def load_model(path, kind, input_names=EVENT_IMAGE_FIELDS):
    """The Keras model at ``path`` (cached per process), checked to be a ``kind`` model reading
    one of ``input_names``."""
    import keras

    path = str(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{kind} model file {path} does not exist (train one with dd train {kind})")
    key = (path, os.path.getmtime(path), kind)
    if key in _loaded:
        return _loaded[key]
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        raise ModelFileError(f"Cannot load {kind} model {path}: {type(e).__name__}: {e}") from None
    field = model.inputs[0].name
    if field not in input_names:
        raise ModelFileError(f"Model {path} reads input {field!r}, not one of {input_names}")
    n_outputs = len(model.outputs)
    if n_outputs != MODEL_OUTPUTS[kind]:
        raise ModelFileError(
            f"Model {path} has {n_outputs} outputs: it is not a {kind} model "
            f"(which has {MODEL_OUTPUTS[kind]})"
        )
    if len(_loaded) >= MODELS_KEPT:
        _loaded.pop(next(iter(_loaded)))
    _loaded[key] = model
    return model
