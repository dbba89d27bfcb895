"""PReLU: the leaky ReLU whose slope is learned (the notes' "parametric rectifier", 001); and
Keras's LeakyReLU layer, with Keras's argument and default."""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.nn.module import Layer, Parameter, register


@register
class PReLU(Layer):
    """f(x) = x for x > 0, α x otherwise, with one learnable α per feature (the last axis).

    Args:
        alpha_init: the starting slope of every feature; default 0.25 (He et al. 2015).

    Parameters: alpha, of shape (features,).
    """

    def __init__(self, alpha_init=0.25, *, name=None, dtype=np.float32):
        super().__init__(name=name, dtype=dtype)
        if isinstance(alpha_init, bool) or not isinstance(alpha_init, (int, float, np.number)) \
                or not np.isfinite(alpha_init):
            raise ValueError(f"alpha_init must be a finite number, got alpha_init={alpha_init!r}")
        self.alpha_init = float(alpha_init)
        self.alpha = None

    def weight_count(self, input_shape):
        return int(input_shape[-1])

    def build(self, input_shape, rng=None):
        if len(input_shape) < 1:
            raise ValueError(f"PReLU needs inputs with a feature axis, got shape {input_shape}")
        self.alpha = Parameter(np.full(int(input_shape[-1]), self.alpha_init, dtype=self.dtype),
                               name="alpha")
        super().build(input_shape)

    def forward(self, x):
        # where, not max(x, αx): that would be wrong for α > 1, which nothing forbids a learner.
        return ag.where(x.data > 0, x, x * self.alpha)

    def get_config(self):
        return {"alpha_init": self.alpha_init, "name": self.name, "dtype": self.dtype.name}


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
            raise ValueError("negative_slope must be a finite number >= 0, got "
                             f"negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return ag.where(x.data > 0, x, x * self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope, "name": self.name,
                "dtype": self.dtype.name}
