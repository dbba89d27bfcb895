"""Layers: validated in __init__, weights made in build(input_shape), round-trip via get_config()."""

from gradkit.nn.layers.core import Activation, Dense, Flatten, Input, InputLayer
from gradkit.nn.layers.activation import LeakyReLU, PReLU
from gradkit.nn.layers.augmentation import RandomFlip, RandomShift
from gradkit.nn.layers.normalization import BatchNorm, BatchNormalization
from gradkit.nn.layers.preprocessing import NotAdaptedError, Normalization
from gradkit.nn.layers.regularization import DropConnect, Dropout, GaussianNoise

__all__ = ["Activation", "Dense", "Flatten", "Input", "InputLayer", "LeakyReLU", "PReLU",
           "RandomFlip", "RandomShift", "BatchNorm", "BatchNormalization",
           "Normalization", "NotAdaptedError", "DropConnect", "Dropout", "GaussianNoise"]
