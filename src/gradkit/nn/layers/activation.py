"""Keras's PReLU, the leaky ReLU whose slope is learned (the notes' "parametric rectifier",
001), and Keras's LeakyReLU layer, each with Keras's arguments and defaults."""

from __future__ import annotations

import numbers

import numpy as np

import gradkit.autograd as ag
from gradkit.errors import ConfigError, ConfigTypeError
from gradkit.nn import initializers
from gradkit.nn.module import Layer, Parameter, register


@register
class PReLU(Layer):
    """Keras's `PReLU`: f(x) = x for x > 0, α x otherwise, with a learned α per input value.

    α has one sample's shape, as in Keras, with size 1 along each of `shared_axes` (counted
    from 1, the batch axis being 0): on (steps, features) inputs, `shared_axes=[1]` learns one
    α per feature. α starts at Keras's 0 (a ReLU at first); He et al. (2015) start at 0.25:
    `PReLU(alpha_init=0.25)`. PyTorch's `nn.PReLU`, one α shared by every feature unless
    told otherwise, is `gk.nn.PReLU`.

    Args:
        alpha_initializer: Keras's: an initializer name, config or object (default "zeros").
        shared_axes: Keras's: the axes α is shared along (default None: none).
        alpha_init: gradkit's: a number, the starting slope (the same setting as
            alpha_initializer, as a constant).

    Parameters: alpha, of one sample's shape (1 along shared axes).
    """

    def __init__(self, alpha_initializer=None, alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, *, alpha_init=None, name=None, dtype=np.float32):
        super().__init__(name=name, dtype=dtype)
        for key, value in (("alpha_regularizer", alpha_regularizer),
                           ("alpha_constraint", alpha_constraint)):
            if value is not None:
                raise ConfigTypeError(f"PReLU({key}=...) is not supported by gradkit, got "
                                f"{key}={value!r}; leave it at None")
        if alpha_init is not None:
            if alpha_initializer is not None:
                raise ConfigTypeError("PReLU got alpha_init= and Keras's alpha_initializer=, which "
                                "are one setting: pass one")
            if isinstance(alpha_init, bool) or not isinstance(alpha_init, numbers.Real) \
                    or not np.isfinite(alpha_init):
                raise ConfigError("alpha_init must be a finite number, got "
                                 f"alpha_init={alpha_init!r}")
            alpha_initializer = initializers.Constant(alpha_init)
        self.alpha_initializer = initializers.get(
            "zeros" if alpha_initializer is None else alpha_initializer)
        self.shared_axes = _axes(shared_axes)
        self.alpha = None

    def _alpha_shape(self, input_shape):
        shape = list(input_shape)
        for axis in self.shared_axes or ():
            if axis > len(shape):
                raise ConfigError(f"PReLU shared_axes={list(self.shared_axes)} names axis "
                                 f"{axis}, but the samples have {len(shape)} axes (shape "
                                 f"{tuple(input_shape)}; axis 0 is the batch)")
            shape[axis - 1] = 1
        return tuple(int(d) for d in shape)

    def weight_count(self, input_shape):
        return int(np.prod(self._alpha_shape(input_shape)))

    def build(self, input_shape, rng=None):
        if len(input_shape) < 1:
            raise ValueError(f"PReLU needs inputs with a feature axis, got shape {input_shape}")
        shape = self._alpha_shape(input_shape)
        self.alpha = Parameter(self.alpha_initializer(shape, rng, self.dtype), name="alpha")
        super().build(input_shape)

    def forward(self, x):
        # where, not max(x, αx): that would be wrong for α > 1, which nothing forbids a learner.
        return ag.where(x.data > 0, x, x * self.alpha)

    def get_config(self):
        return {"alpha_initializer": initializers.describe(self.alpha_initializer),
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
                "name": self.name, "dtype": self.dtype.name}


def _axes(shared_axes):
    if shared_axes is None:
        return None
    axes = [shared_axes] if isinstance(shared_axes, numbers.Integral) else list(shared_axes)
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) and a >= 1
               for a in axes):
        raise ConfigError("shared_axes must be axes counted from 1 (0 is the batch axis), got "
                         f"shared_axes={shared_axes!r}")
    return tuple(int(a) for a in axes)


@register
class LeakyReLU(Layer):
    """Keras's `LeakyReLU`: f(x) = x for x > 0, negative_slope · x otherwise.

    Args:
        negative_slope: Keras 3's default, 0.3 (the layer's; Keras's `leaky_relu` function
            and gradkit's activation "leaky_relu" default to 0.2).
    """

    def __init__(self, negative_slope=0.3, *, name=None, dtype=np.float32, alpha=None):
        super().__init__(name=name, dtype=dtype)
        if alpha is not None:     # Keras 2's name, which Keras 3 still takes
            negative_slope = alpha
        if isinstance(negative_slope, bool) or not isinstance(negative_slope,
                                                              (int, float, np.number)) \
                or not np.isfinite(negative_slope) or negative_slope < 0:
            raise ConfigError("negative_slope must be a finite number >= 0, got "
                             f"negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return ag.where(x.data > 0, x, x * self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope, "name": self.name,
                "dtype": self.dtype.name}
