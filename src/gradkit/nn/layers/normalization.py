"""Batch normalization: normalize each feature with batch statistics, then scale and shift."""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.errors import ConfigError
from gradkit.nn.module import Layer, Parameter, register


@register
class BatchNorm(Layer):
    """y = γ (h - μ) / sqrt(σ² + eps) + β per feature (the last axis), as in the notes (000).

    Training: μ and σ² are the mean and (biased, divide-by-n) variance of the batch, over every
    axis but the last; the gradient flows through them. The running statistics follow the
    exponential moving average
        running = momentum · running + (1 - momentum) · batch statistic,
    which is the notes' μ ← α · mean_batch + (1 - α) · μ with α = 1 - momentum (as in Keras).
    Evaluation: μ and σ² are the running statistics, so a sample's output no longer depends on
    the rest of its batch.

    Args:
        momentum: weight of the old running statistic, in [0, 1]; default 0.9.
        eps: added to the variance before the square root, > 0; default 1e-5.

    Parameters: gamma (ones) and beta (zeros). Buffers: running_mean (zeros), running_var (ones).
    """

    _buffers = ("running_mean", "running_var")
    _running_buffers = _buffers

    def __init__(self, momentum=0.9, eps=1e-5, *, name=None, dtype=np.float32):
        super().__init__(name=name, dtype=dtype)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.number)) \
                or not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"momentum must be a number in [0, 1], got momentum={momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)) or eps <= 0:
            raise ConfigError(f"eps must be a number > 0, got eps={eps!r}")
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.gamma = None
        self.beta = None
        self.running_mean = None
        self.running_var = None

    def weight_count(self, input_shape):
        return 4 * int(input_shape[-1])         # gamma, beta, running mean and variance

    def build(self, input_shape, rng=None):
        if len(input_shape) < 1:
            raise ValueError(f"BatchNorm needs inputs with a feature axis, got shape {input_shape}")
        features = (int(input_shape[-1]),)
        self.gamma = Parameter(np.ones(features, dtype=self.dtype), name="gamma")
        self.beta = Parameter(np.zeros(features, dtype=self.dtype), name="beta")
        self.running_mean = np.zeros(features, dtype=self.dtype)
        self.running_var = np.ones(features, dtype=self.dtype)
        super().build(input_shape)

    def forward(self, x):
        axes = tuple(range(x.ndim - 1))
        if self.training and self.trainable:
            mean = ag.mean(x, axis=axes, keepdims=True)
            d = x - mean
            var = ag.mean(d * d, axis=axes, keepdims=True)
            self._update_running(mean.data.reshape(-1), var.data.reshape(-1))
            inv_std = (var + self.eps) ** -0.5
        else:
            d = x - self.running_mean.astype(x.dtype, copy=False)
            inv_std = 1.0 / np.sqrt(self.running_var.astype(x.dtype, copy=False) + self.eps)
        return d * (inv_std * self.gamma) + self.beta

    def _update_running(self, mean, var):
        # In place, so the arrays named_buffers() hands out stay the live ones.
        m = self.momentum
        self.running_mean *= m
        self.running_mean += (1.0 - m) * mean
        self.running_var *= m
        self.running_var += (1.0 - m) * var

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps, "name": self.name,
                "dtype": self.dtype.name}


@register
class BatchNormalization(BatchNorm):
    """Keras's `BatchNormalization`: gradkit's BatchNorm with Keras's names and defaults,
    momentum 0.99 and epsilon 1e-3.

    `momentum` means the same in both (the weight of the old running statistic, as the
    formula above), and both use the biased batch variance for the running variance (PyTorch
    keeps the unbiased one). Only the last axis is normalized (`axis=-1`).
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, *, name=None, dtype=np.float32):
        if axis != -1:
            raise ValueError(f"BatchNormalization normalizes the last axis only (axis=-1), got "
                             f"axis={axis!r}")
        super().__init__(momentum=momentum, eps=epsilon, name=name, dtype=dtype)

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.eps, "name": self.name,
                "dtype": self.dtype.name}
