"""Where a layer's random numbers come from: one `np.random.Generator` per layer, `layer.rng`.

A layer that draws (dropout masks, noise, augmentation) takes `seed=None` in `__init__` and gets
its generator in `build(input_shape, rng)`:

* an explicit `seed` wins, so `Dropout(0.5, seed=3)` draws the same masks in any model;
* otherwise the generator the model passes (a `Sequential` seeded once shares its generator, so
  the whole model is deterministic);
* otherwise a fresh, unseeded generator.

Tests (and users) may replace `layer.rng` at any time, e.g. to repeat the same mask.
"""

from __future__ import annotations

import numpy as np

from gradkit.errors import ConfigError
from gradkit.nn.module import Layer


def check_seed(seed):
    """`seed` as stored in a config: None or a non-negative int."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be None or a non-negative integer, got seed={seed!r}")
    return int(seed)


def layer_rng(seed, rng=None):
    """The generator a layer draws from (see the module docstring for the order)."""
    if seed is not None:
        return np.random.default_rng(seed)
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng()


def check_rate(rate, what="rate"):
    """A drop probability in [0, 1)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(rate) < 1.0:
        raise ConfigError(f"{what} must be a probability in [0, 1), got {what}={rate!r}")
    return float(rate)


class RandomLayer(Layer):
    """Base of layers that draw random numbers: `seed` in the config, `rng` set in build."""

    def __init__(self, *, seed=None, name=None, dtype=np.float32):
        super().__init__(name=name, dtype=dtype)
        self.seed = check_seed(seed)
        self.rng = None

    def build(self, input_shape, rng=None):
        self.rng = layer_rng(self.seed, rng)
        super().build(input_shape)

    def _generator(self):
        if self.rng is None:                 # forward() called without build()
            self.rng = layer_rng(self.seed)
        return self.rng

    def get_config(self):
        return {"seed": self.seed, "name": self.name, "dtype": self.dtype.name}
