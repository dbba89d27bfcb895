"""gradkit: feed-forward neural networks from first principles on NumPy.

    import gradkit as gk
    w = gk.tensor(0.1, requires_grad=True)
    loss = 0.5 * (3.0 - (1.0 * w + 1.0)) ** 2
    loss.backward(); w.grad          # -1.9

Subpackages with heavy dependencies are imported on first use, so `import gradkit` stays cheap.
"""

import importlib

from gradkit._version import __version__
from gradkit.autograd import *  # noqa: F401,F403
from gradkit.autograd import __all__ as _autograd_all
from gradkit._fast import kernels_enabled, set_kernels
from gradkit.autograd.creation import DTYPES as _DTYPES
from gradkit.errors import (ConfigError, DataError, GradkitError, ModelFileError,
                            TrainingDiverged)


# name -> (module, attribute or None for the module itself)
_LAZY = {
    "nn": ("gradkit.nn", None),
    "layers": ("gradkit.nn.layers", None),
    "initializers": ("gradkit.nn.initializers", None),
    "losses": ("gradkit.nn.losses", None),
    "regularizers": ("gradkit.nn.regularizers", None),
    "activations": ("gradkit.nn.activations", None),
    "optim": ("gradkit.optim", None),
    "schedules": ("gradkit.optim.schedules", None),
    "train": ("gradkit.train", None),
    "callbacks": ("gradkit.train.callbacks", None),
    "metrics": ("gradkit.train.metrics", None),
    "Sequential": ("gradkit.train", "Sequential"),
    "Model": ("gradkit.train", "Model"),
    "History": ("gradkit.train", "History"),
    "data": ("gradkit.data", None),
    "io": ("gradkit.io", None),
    "save": ("gradkit.io", "save"),
    "load": ("gradkit.io", "load"),
    "load_model": ("gradkit.io", "load_model"),
    "keras": ("gradkit.keras", None),
    "Input": ("gradkit.nn.layers", "Input"),
    "practice": ("gradkit.practice", None),
    "sklearn": ("gradkit.sklearn", None),
    "accelerator": ("gradkit.accelerator", None),
}


def __getattr__(name):
    # PyTorch's dtype names that are also Python builtins (gk.float, gk.long, ...): attributes
    # only, never star-imported, so `from gradkit import *` cannot shadow float or int.
    if name in _DTYPE_NAMES:
        return _DTYPES[name]
    if name not in _LAZY:
        raise AttributeError(f"module 'gradkit' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value

_DTYPE_NAMES = ("float", "double", "half", "long", "int", "bool")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_DTYPE_NAMES))


__all__ = [*_autograd_all, *_LAZY, "ConfigError", "DataError", "GradkitError",
           "ModelFileError", "TrainingDiverged", "__version__", "kernels_enabled", "set_kernels"]
