"""Data augmentation for image batches (N, H, W) or (N, H, W, C): RandomShift and RandomFlip.

Active in training only (the identity in eval mode); each sample gets its own draw from
`self.rng`. They are written with `getitem` and `where`, so they are differentiable with respect
to the input, although as the first layers of a model nothing needs that.
"""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.errors import ConfigError
from gradkit.nn.layers._random import RandomLayer
from gradkit.nn.module import register


def _check_image_shape(layer, input_shape):
    if len(input_shape) not in (2, 3):
        raise ValueError(f"{type(layer).__name__} needs image batches of shape (N, H, W) or "
                         f"(N, H, W, C), got per-sample shape {tuple(input_shape)}")


def _per_sample(mask, ndim):
    """A (N,) boolean as (N, 1, 1[, 1]), to broadcast over the image axes."""
    return mask.reshape((-1,) + (1,) * (ndim - 1))


@register
class RandomShift(RandomLayer):
    """Translates each image by a random whole number of pixels, filling the uncovered border with 0.

    The vertical and horizontal shifts are drawn independently and uniformly from
    {-max_shift, ..., max_shift}; output pixel (i, j) is input pixel (i - dy, j - dx).

    Args:
        max_shift: the largest shift in pixels, a non-negative int, or a pair (rows, columns).
        seed: seed of this layer's generator.
    """

    def __init__(self, max_shift, *, seed=None, name=None, dtype=np.float32):
        super().__init__(seed=seed, name=name, dtype=dtype)
        pair = tuple(max_shift) if isinstance(max_shift, (tuple, list)) else (max_shift,) * 2
        if len(pair) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                                 or s < 0 for s in pair):
            raise ConfigError("max_shift must be a non-negative integer or a pair of them, got "
                             f"max_shift={max_shift!r}")
        self.max_shift = tuple(int(s) for s in pair)

    def build(self, input_shape, rng=None):
        _check_image_shape(self, input_shape)
        super().build(input_shape, rng)

    def forward(self, x):
        if not self.training or self.max_shift == (0, 0):
            return x
        rng = self._generator()
        n, h, w = x.shape[:3]
        dy = rng.integers(-self.max_shift[0], self.max_shift[0] + 1, size=n)
        dx = rng.integers(-self.max_shift[1], self.max_shift[1] + 1, size=n)
        rows = np.arange(h)[None, :] - dy[:, None]          # (N, H): source row of each row
        cols = np.arange(w)[None, :] - dx[:, None]          # (N, W)
        inside = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])
        index = (np.arange(n)[:, None, None], np.clip(rows, 0, h - 1)[:, :, None],
                 np.clip(cols, 0, w - 1)[:, None, :])
        if x.ndim == 4:
            inside = inside[..., None]
        return ag.where(inside, ag.getitem(x, index), 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"max_shift": list(self.max_shift), **super().get_config()}


@register
class RandomFlip(RandomLayer):
    """Mirrors each image left-right and/or upside-down, each with probability 1/2.

    Args:
        horizontal: flip along the width axis (default True).
        vertical: flip along the height axis (default False).
        seed: seed of this layer's generator.
    """

    def __init__(self, horizontal=True, vertical=False, *, seed=None, name=None,
                 dtype=np.float32):
        super().__init__(seed=seed, name=name, dtype=dtype)
        if not isinstance(horizontal, (bool, np.bool_)) or not isinstance(vertical, (bool, np.bool_)):
            raise ConfigError("horizontal and vertical must be booleans, got "
                             f"horizontal={horizontal!r}, vertical={vertical!r}")
        self.horizontal = bool(horizontal)
        self.vertical = bool(vertical)

    def build(self, input_shape, rng=None):
        _check_image_shape(self, input_shape)
        super().build(input_shape, rng)

    def forward(self, x):
        if not self.training:
            return x
        rng = self._generator()
        for enabled, axis in ((self.vertical, 1), (self.horizontal, 2)):
            if enabled:
                flip = _per_sample(rng.random(x.shape[0]) < 0.5, x.ndim)
                index = (slice(None),) * axis + (slice(None, None, -1),)
                x = ag.where(flip, ag.getitem(x, index), x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"horizontal": self.horizontal, "vertical": self.vertical,
                **super().get_config()}
