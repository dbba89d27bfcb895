"""Keras's namespace over gradkit: a Keras program runs with its import line changed.

    from gradkit import keras            # for: from tensorflow import keras / import keras
    import gradkit as tf                 # for: import tensorflow as tf  (then tf.keras....)

Every name here is gradkit's own object under Keras's name, and means what it means in
Keras (docs/habits.md lists each habit and the few deliberate differences, which raise an
error rather than compute another number).
"""

from types import SimpleNamespace

from gradkit import optim as optimizers
from gradkit.io import load_model, save
from gradkit.nn import activations, initializers, layers, losses, regularizers
from gradkit.nn.layers import Input
from gradkit.train import Model, Sequential, callbacks, metrics

models = SimpleNamespace(Sequential=Sequential, Model=Model, load_model=load_model)
saving = SimpleNamespace(load_model=load_model, save_model=save)

__all__ = ["Sequential", "Model", "Input", "layers", "models", "optimizers", "losses",
           "callbacks", "metrics", "activations", "initializers", "regularizers",
           "load_model", "saving"]
