"""Weight penalties added to the loss: L1 = λ Σ|w|, L2 = λ Σ w², and both together.

The notes regularize weights, not biases (regularizing b tends to underfit), so layers apply
these to the kernel by default.
"""

from __future__ import annotations

import gradkit.autograd as ag
from gradkit._registry import Registry


class Regularizer:
    """Callable `penalty(weight_tensor) -> scalar Tensor`."""

    name = "regularizer"

    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    def describe(self):
        return {"name": self.name, **self.get_config()}


class L1L2(Regularizer):
    """λ₁ Σ|w| + λ₂ Σ w²."""

    name = "l1_l2"

    def __init__(self, l1=0.0, l2=0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"penalty factors must be >= 0, got l1={l1!r}, l2={l2!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        penalty = None
        if self.l1:
            penalty = ag.sum(ag.abs(w)) * self.l1
        if self.l2:
            sq = ag.sumsq(w, scale=self.l2)
            penalty = sq if penalty is None else penalty + sq
        return penalty if penalty is not None else ag.sum(w * 0.0)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    name = "l1"

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    name = "l2"

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


REGULARIZERS = Registry("regularizer", {"l1": L1, "l2": L2, "l1_l2": L1L2},
                        case_sensitive=True)


def get(reg, **kwargs):
    """A regularizer from None, a name, a config dict, or an object."""
    if reg is None or isinstance(reg, Regularizer) or callable(reg):
        return reg
    return REGULARIZERS.create(reg, **kwargs)


def l1(factor=0.01):
    return L1(factor)


def l2(factor=0.01):
    return L2(factor)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)
