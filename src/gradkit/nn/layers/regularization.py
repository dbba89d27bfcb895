"""Layers that regularize by injecting noise in training: Dropout, DropConnect, GaussianNoise.

All three are the identity (or, for DropConnect, a plain Dense layer) in eval mode, and draw
their noise from `self.rng` (see `_random.py`) in training mode.
"""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.errors import ConfigError, ConfigTypeError
from gradkit.nn.layers._random import RandomLayer, check_rate, check_seed, layer_rng
from gradkit.nn.layers.core import Dense
from gradkit.nn.initializers import one_setting
from gradkit.nn.module import register


def keep_mask(rng, shape, rate, dtype):
    """The inverted-dropout multiplier: 1/(1-rate) where `rng.random(shape) >= rate`, else 0.

    Drawn in float64 whatever `dtype` is, so one seed gives the same mask in float32 and float64.
    """
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


@register
class Dropout(RandomLayer):
    """Sets each input to 0 with probability `rate` in training and scales the rest by 1/(1-rate).

    "Inverted" dropout: the expectation of the output equals the input, so evaluation is the
    identity. The notes (000) describe the equivalent original form, which keeps units with
    probability p and multiplies by p at test time instead.

    Args:
        rate: drop probability in [0, 1); 0.5 is the notes' common choice.
        seed: seed of this layer's generator (None: the model's generator, else a fresh one).

    >>> layer = Dropout(0.5, seed=0).eval()
    >>> layer(ag.tensor([1.0, 2.0])[None]).numpy().tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, rate, *, seed=None, name=None, dtype=np.float32):
        super().__init__(seed=seed, name=name, dtype=dtype)
        self.rate = check_rate(rate)

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        return x * keep_mask(self._generator(), x.shape, self.rate, x.dtype)

    def get_config(self):
        return {"rate": self.rate, **super().get_config()}


@register
class GaussianNoise(RandomLayer):
    """Adds N(0, std²) noise to every input in training; the identity in eval mode.

    Args:
        std: standard deviation of the noise, >= 0 (Keras's `stddev`, the same setting).
        seed: seed of this layer's generator.
    """

    def __init__(self, std=None, *, stddev=None, seed=None, name=None, dtype=np.float32):
        super().__init__(seed=seed, name=name, dtype=dtype)
        std = one_setting("std", std, "stddev", stddev, None)
        if std is None:
            raise ConfigTypeError("GaussianNoise needs the noise's standard deviation: "
                            "GaussianNoise(0.1) (std=, or Keras's stddev=)")
        if isinstance(std, bool) or not isinstance(std, (int, float, np.number)) or std < 0:
            raise ConfigError(f"std must be a number >= 0, got std={std!r}")
        self.std = float(std)

    def forward(self, x):
        if not self.training or self.std == 0.0:
            return x
        noise = self._generator().normal(0.0, self.std, size=x.shape)
        return x + noise.astype(x.dtype, copy=False)

    def get_config(self):
        return {"std": self.std, **super().get_config()}


@register
class DropConnect(Dense):
    """A Dense layer whose weights, not units, are dropped in training (Wan et al. 2013).

    Training: y = f(x (W ⊙ M) + b), M_ij = 1/(1-rate) with probability 1-rate, else 0; one mask
    per forward pass, shared by the samples of the batch. The bias is never dropped.
    Evaluation: y = f(x W + b) with the expected weights E[W ⊙ M] = W (the notes' "use all the
    connections"; the inverted scaling already folds in the keep probability).

    Args:
        units, activation and the keyword settings: as for `Dense`.
        rate: drop probability of each weight, in [0, 1).
        seed: seed of this layer's generator.
    """

    def __init__(self, units, rate, activation=None, *, seed=None, **dense_kwargs):
        super().__init__(units, activation, **dense_kwargs)
        self.rate = check_rate(rate)
        self.seed = check_seed(seed)
        self.rng = None

    def build(self, input_shape, rng=None):
        self.rng = layer_rng(self.seed, rng)
        super().build(input_shape, rng)

    def forward(self, x):
        W = self.W
        if self.training and self.rate > 0.0:
            if self.rng is None:
                self.rng = layer_rng(self.seed)
            W = W * keep_mask(self.rng, W.shape, self.rate, W.dtype)
        return self.activation(ag.linear(x, W, self.b))

    def get_config(self):
        config = super().get_config()
        return {"units": config.pop("units"), "rate": self.rate, **config, "seed": self.seed}
