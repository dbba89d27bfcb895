"""Layers: validated in __init__, weights made in build(input_shape), round-trip via get_config()."""

from gradkit.nn.layers.core import Activation, Dense, Flatten
from gradkit.nn.layers.activation import PReLU
from gradkit.nn.layers.augmentation import RandomFlip, RandomShift
from gradkit.nn.layers.normalization import BatchNorm
from gradkit.nn.layers.preprocessing import NotAdaptedError, Normalization
from gradkit.nn.layers.regularization import DropConnect, Dropout, GaussianNoise

__all__ = ["Activation", "Dense", "Flatten", "PReLU", "RandomFlip", "RandomShift", "BatchNorm",
           "Normalization", "NotAdaptedError", "DropConnect", "Dropout", "GaussianNoise"]
