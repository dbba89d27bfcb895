"""Model files: one safetensors file, the JSON config in its metadata.

Loading builds layers only from gradkit's own registry, checks every weight's shape against
the config, and never runs code from the file: a file that is not exactly what gradkit wrote
is refused with `ModelFileError` saying why.
"""

from __future__ import annotations

import json
import os
import platform

import numpy as np

from gradkit import _files
from gradkit.errors import ModelFileError

FORMAT_VERSION = 1
_KEY = "gradkit"


def save(model, path, *, extra=None):
    """Write `model` (weights, architecture, class and feature names) to `path` atomically.

    Args:
        extra: more JSON-able information to keep in the config (e.g. training settings).
    """
    if not getattr(model, "built", False):
        raise ValueError("save() needs a built model: train it or call build(input_shape)")
    import gradkit

    config = {
        "format_version": FORMAT_VERSION,
        "library": "gradkit", "library_version": gradkit.__version__,
        "numpy_version": np.__version__, "python_version": platform.python_version(),
        "model": model.get_config(),
        "extra": extra or {},
    }
    tensors = {k: np.array(v, order="C") for k, v in model.state_dict().items()}
    _files.save_tensors(os.fspath(path), tensors, {_KEY: json.dumps(config)})


def read_config(path):
    """The JSON config of a model file (and its tensors), validated at the top level."""
    path = os.fspath(path)
    tensors, metadata = _files.load_tensors(path)
    if _KEY not in metadata:
        raise ModelFileError(f"{path}: not a gradkit model file (no '{_KEY}' entry in its "
                             "metadata)")
    try:
        config = json.loads(metadata[_KEY])
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{path}: the model config is not valid JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ModelFileError(f"{path}: the model config is not a JSON object with a 'model' entry")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version!r}, this gradkit reads "
                             f"version {FORMAT_VERSION}")
    return config, tensors


def load(path):
    """Rebuild the model saved at `path`; refuse anything gradkit did not write."""
    from gradkit.train import Sequential

    path = os.fspath(path)
    config, tensors = read_config(path)
    model_config = config["model"]
    layers = model_config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(f"{path}: the config lists no layers")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str) \
                or not isinstance(layer.get("config", {}), dict):
            raise ModelFileError(f"{path}: layer {i} is not a {{class_name, config}} object")
    try:
        model = Sequential.from_config(model_config)
    except (ValueError, TypeError, KeyError, MemoryError) as err:
        raise ModelFileError(f"{path}: cannot build the model from its config: {err}") from None
    if not model.built:
        raise ModelFileError(f"{path}: the config has no input_shape")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not match the config: missing {missing}, "
                             f"unexpected {unexpected}")
    for name, array in tensors.items():
        if array.shape != expected[name].shape:
            raise ModelFileError(f"{path}: weight {name!r} has shape {array.shape}, the config "
                                 f"needs {expected[name].shape}")
        if array.dtype != expected[name].dtype:
            tensors[name] = array.astype(expected[name].dtype)
    model.load_state_dict(tensors)
    model.saved_config = config
    model.eval()
    return model
