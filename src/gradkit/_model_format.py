"""The model file's format: one safetensors file, the JSON config in its metadata; the writer.

Below every package, so that `io.save` and the callbacks that save a model during training
(`ModelCheckpoint`, in `train`, a floor below `io`) write the same file. The model is used only
through `built`, `get_config()` and `state_dict()`; reading a model back needs the layers and
`Sequential`, so the reader stays in `gradkit.io`.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping

import numpy as np

from gradkit._safetensors import save_tensors
from gradkit._version import __version__
from gradkit.errors import ModelFileError, ModelPathError

# 2: "leaky_relu" without an alpha means 0.2 (1: 0.1). 3: an "adagrad" optimizer without
# eps_inside_sqrt means Keras's True (1 and 2: the notes' False, ε outside the root).
# 4: an optimizer's "clipnorm" clips each parameter's gradient, Keras's (1 to 3: the global
# norm, now "global_clipnorm"), and an "sgd" without decoupled_weight_decay decays Keras's
# way, decoupled (1 to 3: λθ added to the gradient).
FORMAT_VERSION = 4
CONFIG_KEY = "gradkit"          # the metadata entry that holds the JSON config
OPTIMIZER_PREFIX = "optimizer."  # the optimizer's state, when kept, under these tensor names


def model_path(path, *, writing=False):
    """`path` as a str; a ModelFileError for what cannot be a model file (None, a folder)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ModelPathError(f"a model path must be a str or os.PathLike, got "
                             f"{type(path).__name__} {path!r}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if writing and os.path.isdir(path):
        raise ModelFileError(f"{path} is a folder; save writes one file: give a file name in it, "
                             f"such as {os.path.join(path, 'model.safetensors')}")
    return path


def write_model(model, path, *, extra=None, include_optimizer=False):
    """Write `model` (weights, architecture, class and feature names, compile settings) to
    `path` atomically.

    Args:
        extra: more JSON-able information to keep in the config (e.g. training settings).
        include_optimizer: also keep the optimizer's state (Adam's moments, its step count),
            so that fitting the loaded model goes on where it stopped (`model.save` does, as
            Keras's does).
    """
    path = model_path(path, writing=True)
    if isinstance(model, Mapping):       # torch.save(model.state_dict(), path), by habit
        raise TypeError("save() writes a model (its architecture with its weights), got a "
                        f"{type(model).__name__} (a state_dict?): pass the model itself, "
                        "gk.save(model, path); model.load_state_dict(...) restores weights "
                        "into a model built the same way")
    if not getattr(model, "built", False):
        raise ValueError("save() needs a built model: train it or call build(input_shape)")
    config = {
        "format_version": FORMAT_VERSION,
        "library": "gradkit", "library_version": __version__,
        "numpy_version": np.__version__, "python_version": platform.python_version(),
        "model": model.get_config(),
        "extra": extra or {},
    }
    tensors = {k: np.array(v, order="C") for k, v in model.state_dict().items()}
    opt = getattr(model, "optimizer", None)
    if include_optimizer and opt is not None and getattr(opt, "_flat", None) is not None:
        tensors.update((OPTIMIZER_PREFIX + k, np.array(v, order="C"))
                       for k, v in opt.state_dict().items())
    save_tensors(path, tensors, {CONFIG_KEY: json.dumps(config)})
