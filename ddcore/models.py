"""Model files: native ``.keras`` archives with a JSON manifest beside them, for every model family.

Loading uses Keras' safe mode (no arbitrary code is deserialised; nothing is unpickled) and
checks the model against what the plugin applying it expects (its input name and number of
outputs). The manifest (``<model>.json``) records kind, detector, architecture, training runs
with their lineage hashes, metrics and date, for people; what changes results is all inside the
``.keras`` file, whose SHA-256 enters the lineage of every data type computed with it. Loaded
models are cached per process on that content hash, never on path or modification time.
"""

from __future__ import annotations

import collections
import datetime
import json
import logging
import os
import weakref
from pathlib import Path

import numpy as np

from ddcore.config import ConfigError
from ddcore.files import file_sha256
from ddcore.log import import_keras

log = logging.getLogger(__name__)

MODELS_KEPT = 4
_loaded: collections.OrderedDict = collections.OrderedDict()
_inference_calls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ModelFileError(ConfigError):
    """A model file that is missing, unsafe, or not the model a plugin expects."""


def manifest_path(model_path) -> Path:
    return Path(model_path).with_suffix(".json")


def save_model(model, path, kind: str, manifest: dict) -> dict:
    """Write ``model`` to ``path`` (.keras) and its manifest; return the manifest written.

    :param kind: model family, e.g. ``"cnn"``; loading checks it against the manifest
    :param manifest: what else to record (detector, training runs, metrics ...)
    """
    keras = import_keras()

    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"Model file {path} must end in .keras")
    os.makedirs(path.parent, exist_ok=True)
    model.save(path)
    manifest = {
        "kind": kind,
        "input_name": model.inputs[0].name,
        "input_shape": list(model.inputs[0].shape[1:]),
        "parameters": int(model.count_params()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "keras_version": keras.__version__,
        "model_sha256": file_sha256(path),
        **manifest,
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    log.info("Saved %s model %s (%d parameters)", kind, path, manifest["parameters"])
    return manifest


def read_manifest(path) -> dict:
    """The manifest beside a model file, or {} if there is none."""
    try:
        return json.loads(manifest_path(path).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{manifest_path(path)}: not valid JSON ({e})") from None


def load_model(path, kind: str, input_names: tuple[str, ...], n_outputs: int,
               extra_inputs: tuple[str, ...] = (), probability_output: bool = False):
    """The Keras model at ``path``, checked to read one of ``input_names`` first, any further
    inputs among ``extra_inputs``, and to have ``n_outputs`` outputs; with ``probability_output``
    its (one) output must be one unit with a sigmoid activation, a probability (a 2-unit softmax
    or an unbounded linear output is refused, not scored). Cached per process on the file's
    content hash."""
    keras = import_keras()

    path = str(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{kind} model file {path} does not exist")
    key = (file_sha256(path), kind)
    if key in _loaded:
        _loaded.move_to_end(key)
        model = _loaded[key]
    else:
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as e:
            raise ModelFileError(f"Cannot load {kind} model {path}: {type(e).__name__}: {e}") from None
    _check_interface(model, path, kind, input_names, n_outputs, extra_inputs)
    if probability_output:
        _check_probability_output(model, path, kind)
    if key not in _loaded:
        if len(_loaded) >= MODELS_KEPT:
            _loaded.popitem(last=False)
        _loaded[key] = model
        log.debug("Loaded %s model %s", kind, path)
    return model


def _check_interface(model, path, kind, input_names, n_outputs, extra_inputs):
    field = model.inputs[0].name
    if field not in input_names:
        raise ModelFileError(f"Model {path} reads input {field!r}, not one of {input_names}")
    unknown = [i.name for i in model.inputs[1:] if i.name not in extra_inputs]
    if unknown:
        raise ModelFileError(f"Model {path} has inputs {unknown} that a {kind} model cannot be given "
                             f"(known: {', '.join(extra_inputs) or 'none'})")
    if len(model.outputs) != n_outputs:
        raise ModelFileError(
            f"Model {path} has {len(model.outputs)} outputs: it is not a {kind} model "
            f"(which has {n_outputs})"
        )


def _check_probability_output(model, path, kind):
    output = model.outputs[0]

    def outputs_of(layer):
        return layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]

    producers = [layer for layer in model.layers if any(o is output for o in outputs_of(layer))]
    activation = getattr(getattr(producers[0], "activation", None), "__name__", None) if producers else None
    if tuple(output.shape[1:]) != (1,) or activation != "sigmoid":
        raise ModelFileError(
            f"Model {path}: a {kind} model's output is a probability, one unit with a sigmoid activation; "
            f"this one has shape {tuple(output.shape[1:])} and activation {activation!r}"
        )


def _inference_call(model):
    """``model(x, training=False)``, compiled into a graph once per model with TensorFlow."""
    if model not in _inference_calls:
        model_ref = weakref.ref(model)  # the call must not keep its model (the cache key) alive

        def call(x):
            return model_ref()(x, training=False)

        if import_keras().backend.backend() == "tensorflow":
            import tensorflow as tf

            call = tf.function(call, reduce_retracing=True)
        _inference_calls[model] = call
    return _inference_calls[model]


def predict(model, inputs, batch_size: int = 128):
    """What ``model.predict(inputs, batch_size=batch_size)`` gives (one array, or a list for
    several outputs; ``inputs`` an array, a list of arrays or a dict of them by input name),
    without its per-call machinery (callbacks, data adapters, progress): the model called on
    each batch in a compiled graph, 2.7x faster on the few hundred events of a chunk.

    A last, partial batch is padded with zero rows to ``batch_size``: the model only ever sees
    one batch shape. Each new shape made TensorFlow build and keep kernels for it, and a run's
    chunks end in batches of every size, so memory grew with run length (by ~0.1 GB over
    40,000 events).
    """
    if isinstance(inputs, dict):
        arrays, as_model_input = list(inputs.values()), lambda rows: dict(zip(inputs, rows))
    elif isinstance(inputs, (list, tuple)):
        arrays, as_model_input = list(inputs), list
    else:
        arrays, as_model_input = [inputs], lambda rows: rows[0]
    n_rows = len(arrays[0])
    call = _inference_call(model)
    batches = []
    for start in range(0, max(n_rows, 1), batch_size):  # no rows: one (padded) batch
        outputs = call(as_model_input([_padded(a[start:start + batch_size], batch_size) for a in arrays]))
        kept = min(batch_size, n_rows - start)
        batches.append([np.asarray(o)[:kept] for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])])
    joined = [np.concatenate([b[k] for b in batches]) for k in range(len(batches[0]))]
    return joined if len(joined) > 1 else joined[0]


def _padded(rows, n):
    """``rows`` with zero rows appended up to ``n``."""
    if len(rows) == n:
        return rows
    padded = np.zeros((n, *rows.shape[1:]), dtype=rows.dtype)
    padded[:len(rows)] = rows
    return padded
