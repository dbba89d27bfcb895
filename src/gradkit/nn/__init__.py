"""Modules, layers, activations, losses, initializers and regularizers."""

from gradkit.nn import activations, functional, initializers, regularizers
from gradkit.nn.module import (Layer, Module, Parameter, get_layer_class, layer_from_config,
                               register)
from gradkit.nn import layers
from gradkit.nn.layers import *  # noqa: F401,F403
from gradkit.nn import losses
from gradkit.nn.perceptron import Perceptron

__all__ = ["Module", "Parameter", "Layer", "register", "get_layer_class", "layer_from_config",
           "activations", "functional", "initializers", "regularizers", "layers", "losses",
           "Perceptron", *layers.__all__]
