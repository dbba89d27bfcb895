"""Array functions on tensors, named as in NumPy: primitives and the composites built from them.

Composites (subtract, mean, sqrt, var, ...) are written with primitives only, so their gradients
come from the chain rule and need no code of their own.
"""

from __future__ import annotations

import builtins

import numpy as np

from gradkit.autograd import primitives as P
from gradkit.autograd.primitive import apply
from gradkit.autograd.tensor import Tensor


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


# -- primitives, with NumPy's calling conventions (arrays positional, settings keyword-only) ---
def add(a, b):
    return apply(P.add, (a, b), {})


def multiply(a, b):
    return apply(P.multiply, (a, b), {})


def negative(x):
    return apply(P.negative, (x,), {})


def divide(a, b):
    return apply(P.divide, (a, b), {})


def power(a, b):
    return apply(P.power, (a, b), {})


def maximum(a, b):
    return apply(P.maximum, (a, b), {})


def minimum(a, b):
    return apply(P.minimum, (a, b), {})


def where(condition, a, b):
    """Elementwise `a` where `condition` holds, else `b` (no gradient to the condition)."""
    c = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    return apply(P.where, (c.astype(bool, copy=False), a, b), {})


def exp(x):
    return apply(P.exp, (x,), {})


def log(x):
    return apply(P.log, (x,), {})


def abs(x):
    return apply(P.abs, (x,), {})


def clip(x, lo=None, hi=None):
    """Values limited to [lo, hi]; the gradient is zero where the value was clipped."""
    return apply(P.clip, (x,), {"lo": lo, "hi": hi})


def sin(x):
    return apply(P.sin, (x,), {})


def cos(x):
    return apply(P.cos, (x,), {})


def tanh(x):
    return apply(P.tanh, (x,), {})


def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow for any x."""
    return apply(P.sigmoid, (x,), {})


def relu(x):
    """max(x, 0)."""
    return apply(P.relu, (x,), {})


def softplus(x):
    """log(1 + e^x), finite for any x."""
    return apply(P.softplus, (x,), {})


def sum(x, axis=None, keepdims=False):
    return apply(P.sum, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def sumsq(x, *, scale=1.0):
    """scale · Σ x² over every element (one fused node; used by weight penalties)."""
    return apply(P.sumsq, (x,), {"scale": float(scale)})


def max(x, axis=None, keepdims=False):
    """The largest value; the gradient goes to the (first) arg-max."""
    return apply(P.max, (x,), {"axis": axis, "keepdims": keepdims})


def logsumexp(x, axis=None, keepdims=False):
    """log Σ e^x, shifted by the maximum so it never overflows."""
    return apply(P.logsumexp, (x,), {"axis": _axis(axis), "keepdims": keepdims})


def log_softmax(x, axis=-1):
    """x - logsumexp(x): log-probabilities, stable for large |x|."""
    return apply(P.log_softmax, (x,), {"axis": axis})


def softmax(x, axis=-1):
    """e^x / Σ e^x along `axis`."""
    return apply(P.softmax, (x,), {"axis": axis})


def matmul(a, b):
    return apply(P.matmul, (a, b), {})


def reshape(x, shape):
    return apply(P.reshape, (x,), {"shape": tuple(shape) if not isinstance(shape, int) else shape})


def transpose(x, axes=None):
    return apply(P.transpose, (x,), {"axes": None if axes is None else tuple(axes)})


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return apply(P.getitem, (x,), {"index": index})


def concatenate(tensors, axis=0):
    return apply(P.concatenate, tuple(tensors), {"axis": axis})


def stack(tensors, axis=0):
    return apply(P.stack, tuple(tensors), {"axis": axis})


def cast(x, dtype):
    return apply(P.cast, (x,), {"dtype": np.dtype(dtype)})


_ACTIVATIONS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid}


def linear(x, w, b=None, *, activation=None):
    """x @ W + b with W of shape (in, out) and rows of x as samples (fused when b is given).

    `activation` "relu", "tanh" or "sigmoid" gives f(x @ W + b) as one fused node (with b);
    any other activation is applied after the product by the caller.
    """
    if activation is not None and activation not in P.FUSED_LINEAR:
        raise ValueError(f"linear fuses only activation='relu', 'tanh' or 'sigmoid', got "
                         f"activation={activation!r}")
    if b is None:
        out = matmul(x, w)
        return out if activation is None else _ACTIVATIONS[activation](out)
    return apply(P.linear if activation is None else P.FUSED_LINEAR[activation], (x, w, b), {})


def softmax_cross_entropy(logits, target, *, reduction="mean", weights=None):
    """Cross-entropy of softmax(logits) against integer labels or probability rows.

    L = -Σ_c t_c log softmax(z)_c, computed from the logits, so it stays finite for any z.
    `weights` multiplies each sample's loss; reduction is "mean", "sum" or "none".
    """
    t = target.data if isinstance(target, Tensor) and not target.requires_grad else target
    if not isinstance(t, Tensor):
        t = np.asarray(t)
        if t.dtype != np.intp and t.ndim == np.ndim(
                logits.data if isinstance(logits, Tensor) else logits) - 1:
            t = t.astype(np.intp)
    return apply(P.softmax_cross_entropy, (logits, t),
                 {"reduction": reduction, "weights": _weights(weights)})


def sigmoid_binary_cross_entropy(logits, target, *, reduction="mean", weights=None):
    """Binary cross-entropy of sigmoid(z) against 0/1 targets, from the logits z.

    L = max(z, 0) - z t + log(1 + e^-|z|) (finite for any z); multi-label rows average their labels.
    """
    return apply(P.sigmoid_binary_cross_entropy, (logits, target),
                 {"reduction": reduction, "weights": _weights(weights)})


def _weights(w):
    if w is None:
        return None
    return np.asarray(w.data if isinstance(w, Tensor) else w)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# -- composites: no backward code --------------------------------------------------------------
def subtract(a, b):
    # A constant is negated as it is: a Python float stays weakly typed and never upcasts.
    return add(a, negative(b) if isinstance(b, Tensor) else -b)


def mean(x, axis=None, keepdims=False):
    x = _t(x)
    return multiply(sum(x, axis=axis, keepdims=keepdims), 1.0 / _count(x.shape, axis))


def var(x, axis=None, keepdims=False, ddof=0):
    """Mean squared deviation from the mean, divided by (n - ddof)."""
    x = _t(x)
    d = subtract(x, mean(x, axis=axis, keepdims=True))
    n = _count(x.shape, axis)
    return multiply(sum(multiply(d, d), axis=axis, keepdims=keepdims), 1.0 / (n - ddof))


def std(x, axis=None, keepdims=False, ddof=0):
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def sqrt(x):
    return power(x, 0.5)


def square(x):
    return multiply(x, x)


def min(x, axis=None, keepdims=False):
    return negative(max(negative(x), axis=axis, keepdims=keepdims))


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def flatten(x):
    return reshape(x, (_t(x).shape[0], -1))


__all__ = [name for name in dir() if not name.startswith("_") and name not in
           {"annotations", "builtins", "np", "P", "apply", "Tensor"}]
del builtins
