"""Keras's namespace over gradkit: a Keras program runs with its import line changed.

    from gradkit import keras            # for: from tensorflow import keras / import keras
    import gradkit as tf                 # for: import tensorflow as tf  (then tf.keras....)

Every name here is gradkit's own object under Keras's name, and means what it means in
Keras (docs/habits.md lists each habit and the few deliberate differences, which raise an
error rather than compute another number).
"""

from types import SimpleNamespace

import numpy as np

from gradkit import optim as optimizers
from gradkit.errors import DataError
from gradkit.io import load_model, save
from gradkit.nn import activations, initializers, layers, losses, regularizers
from gradkit.nn.layers import Input
from gradkit.train import Model, Sequential, callbacks, metrics



def to_categorical(x, num_classes=None):
    """Keras's `to_categorical`: one-hot float64 rows for integer labels (num_classes: the
    largest label + 1), as Keras 3 returns them for NumPy input."""
    labels = np.asarray(x)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0):
        raise DataError("to_categorical needs whole-number labels, got fractional values")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(f"to_categorical needs labels >= 0, got {int(labels.min())}")
    n = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= n:
        raise DataError(f"to_categorical: label {int(labels.max())} with num_classes={n}")
    return np.eye(n)[labels]


utils = SimpleNamespace(to_categorical=to_categorical)
models = SimpleNamespace(Sequential=Sequential, Model=Model, load_model=load_model)
saving = SimpleNamespace(load_model=load_model, save_model=save)

__all__ = ["Sequential", "Model", "Input", "layers", "models", "optimizers", "losses",
           "callbacks", "metrics", "activations", "initializers", "regularizers",
           "load_model", "saving", "utils"]
