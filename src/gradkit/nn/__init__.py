"""Modules, layers, activations, losses, initializers and regularizers."""

from gradkit.nn import activations, functional, initializers, regularizers
from gradkit.nn.module import (Layer, Module, Parameter, get_layer_class, layer_from_config,
                               register)
from gradkit.nn import layers
from gradkit.nn.layers import *  # noqa: F401,F403
from gradkit.nn import losses
from gradkit.nn.perceptron import Perceptron
# After the layers: in gradkit.nn, Flatten, Dropout and PReLU are PyTorch's (gradkit.layers has
# Keras's).
from gradkit.nn import init, torch_modules
from gradkit.nn.torch_modules import (GELU, BatchNorm1d, BCEWithLogitsLoss, CrossEntropyLoss,
                                      Dropout, Flatten, Identity, L1Loss, LeakyReLU, Linear,
                                      LogSoftmax, ModuleList, MSELoss, PReLU, ReLU, Sequential,
                                      Sigmoid, Softmax, Tanh)

_TORCH = ["Linear", "BatchNorm1d", "ReLU", "PReLU", "Sigmoid", "Tanh", "GELU", "LeakyReLU",
          "Softmax", "LogSoftmax", "Flatten", "Dropout", "Sequential", "ModuleList", "Identity",
          "CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss", "init"]
__all__ = ["Module", "Parameter", "Layer", "register", "get_layer_class", "layer_from_config",
           "activations", "functional", "initializers", "regularizers", "layers", "losses",
           "Perceptron", *(n for n in layers.__all__ if n not in _TORCH), "torch_modules",
           *_TORCH]
