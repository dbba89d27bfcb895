"""Array functions on tensors, named as in NumPy: primitives and the composites built from them.

Composites (subtract, mean, sqrt, var, ...) are written with primitives only, so their gradients
come from the chain rule and need no code of their own.
"""

from __future__ import annotations

import builtins
import collections

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


def erf(x):
    """The error function, 2/√π ∫₀ˣ e^(−t²) dt."""
    return apply(P.erf, (x,), {})


def softplus(x):
    """log(1 + e^x), finite for any x."""
    return apply(P.softplus, (x,), {})


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axis, keepdims = _dims("sum", axis, keepdims, dim, keepdim)
    return apply(P.sum, (x,), {"axis": axis, "keepdims": keepdims})


def sumsq(x, *, scale=1.0):
    """scale · Σ x² over every element (one fused node; used by weight penalties)."""
    return apply(P.sumsq, (x,), {"scale": float(scale)})


# PyTorch's max(x, dim=d) and min(x, dim=d) return both, under these field names.
MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def max(x, *other, axis=None, keepdims=False, dim=None, keepdim=None):
    """The largest value; the gradient goes to the (first) arg-max.

    `max(x, axis=a)` is NumPy's (the values); `max(x, dim=d)` is PyTorch's (a named tuple of
    values and indices); `max(x, y)` with a tensor or array y is the elementwise maximum, as
    in PyTorch. A positional axis, `max(x, 1)`, means the values in NumPy and the pair in
    PyTorch, so it is refused rather than guessed.
    """
    if other:
        return _positional_extreme("max", x, other, maximum)
    if dim is not None:
        axis, keepdims = _dims("max", axis, keepdims, dim, keepdim)
        return MaxResult(_max_prim(x, axis, keepdims), argmax(x, axis=axis, keepdims=keepdims))
    return _max_prim(x, *_dims("max", axis, keepdims, None, keepdim))


def _max_prim(x, axis, keepdims):
    return apply(P.max, (x,), {"axis": axis, "keepdims": keepdims})


def _positional_extreme(name, x, other, elementwise):
    if len(other) == 1 and isinstance(other[0], (Tensor, np.ndarray)):
        return elementwise(x, other[0])
    raise TypeError(
        f"{name}(x, {', '.join(map(repr, other))}) is ambiguous: NumPy's {name}(x, 1) gives the "
        f"values, PyTorch's gives (values, indices); write {name}(x, axis=1) for the values or "
        f"{name}(x, dim=1) for both")


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the largest value (int64, no gradient), over all elements or along an axis."""
    axis, keepdims = _dims("argmax", axis, keepdims, dim, keepdim)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(np.argmax(data, axis=axis, keepdims=keepdims).astype(np.int64))


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the smallest value (int64, no gradient), over all elements or along an axis."""
    axis, keepdims = _dims("argmin", axis, keepdims, dim, keepdim)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(np.argmin(data, axis=axis, keepdims=keepdims).astype(np.int64))


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """log Σ e^x, shifted by the maximum so it never overflows."""
    axis, keepdims = _dims("logsumexp", axis, keepdims, dim, keepdim)
    return apply(P.logsumexp, (x,), {"axis": axis, "keepdims": keepdims})


def log_softmax(x, axis=None, *, dim=None):
    """x - logsumexp(x) along `axis` (default -1): log-probabilities, stable for large |x|."""
    axis = _dims("log_softmax", axis, False, dim, None)[0]
    return apply(P.log_softmax, (x,), {"axis": -1 if axis is None else axis})


def softmax(x, axis=None, *, dim=None):
    """e^x / Σ e^x along `axis` (`dim`, as PyTorch spells it; default -1)."""
    axis = _dims("softmax", axis, False, dim, None)[0]
    return apply(P.softmax, (x,), {"axis": -1 if axis is None else axis})


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


def concatenate(tensors, axis=None, *, dim=None):
    """The tensors joined along `axis` (`dim`; default 0)."""
    axis = _dims("concatenate", axis, False, dim, None)[0]
    return apply(P.concatenate, tuple(tensors), {"axis": 0 if axis is None else axis})


def cat(tensors, dim=0):
    """PyTorch's name for `concatenate`."""
    return concatenate(tensors, dim=dim)


def stack(tensors, axis=None, *, dim=None):
    """The tensors stacked along a new `axis` (`dim`; default 0)."""
    axis = _dims("stack", axis, False, dim, None)[0]
    return apply(P.stack, tuple(tensors), {"axis": 0 if axis is None else axis})


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


def _dims(name, axis, keepdims, dim, keepdim):
    """NumPy's axis/keepdims or PyTorch's dim/keepdim (same meaning), one of each pair."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}() got axis={axis!r} and dim={dim!r}; pass one of them")
        axis = dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{name}() got keepdims={keepdims!r} and keepdim={keepdim!r}; "
                            "pass one of them")
        keepdims = keepdim
    return _axis(axis), bool(keepdims)


# -- composites: no backward code --------------------------------------------------------------
def subtract(a, b):
    # A constant is negated as it is: a Python float stays weakly typed and never upcasts.
    return add(a, negative(b) if isinstance(b, Tensor) else -b)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    x = _t(x)
    axis, keepdims = _dims("mean", axis, keepdims, dim, keepdim)
    return multiply(sum(x, axis=axis, keepdims=keepdims), 1.0 / _count(x.shape, axis))


def var(x, *positional, axis=None, keepdims=False, ddof=None, dim=None, keepdim=None,
        correction=None, unbiased=None):
    """Mean squared deviation from the mean, divided by (n - ddof).

    NumPy's spelling (`axis`, `keepdims`, `ddof`, default ddof=0) divides by n; PyTorch's
    (`dim`, `keepdim`, `correction` or `unbiased`, default correction=1) by n - 1. A call that
    names neither (`var(x)`, `var(x, 1)`) would mean different numbers to the two, so it is
    refused: say `ddof=`, `axis=` or `dim=`.
    """
    x = _t(x)
    ddof, axis, keepdims = _spread("var", positional, axis, keepdims, ddof, dim, keepdim,
                                   correction, unbiased)
    d = subtract(x, mean(x, axis=axis, keepdims=True))
    n = _count(x.shape, axis)
    return multiply(sum(multiply(d, d), axis=axis, keepdims=keepdims), 1.0 / (n - ddof))


def std(x, *positional, axis=None, keepdims=False, ddof=None, dim=None, keepdim=None,
        correction=None, unbiased=None):
    """sqrt(var): the same two spellings and defaults as `var`."""
    ddof, axis, keepdims = _spread("std", positional, axis, keepdims, ddof, dim, keepdim,
                                   correction, unbiased)
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def _spread(name, positional, axis, keepdims, ddof, dim, keepdim, correction, unbiased):
    """(ddof, axis, keepdims) from NumPy's or PyTorch's arguments to var/std."""
    torch_style = any(v is not None for v in (dim, keepdim, correction, unbiased))
    numpy_style = axis is not None or ddof is not None or keepdims
    if positional or not (torch_style or numpy_style):
        raise TypeError(
            f"{name}() needs its axis by name: NumPy's {name} divides by n (ddof=0), "
            f"PyTorch's by n - 1 (correction=1); write {name}(x, axis=...) or "
            f"{name}(x, ddof=0) for NumPy's, {name}(x, dim=...) or {name}(x, correction=1) "
            f"for PyTorch's, got positional {positional!r}")
    if torch_style and numpy_style:
        raise TypeError(f"{name}() mixes NumPy's axis/keepdims/ddof with PyTorch's "
                        "dim/keepdim/correction/unbiased; use one spelling")
    if not torch_style:
        return (0 if ddof is None else ddof), _axis(axis), bool(keepdims)
    if correction is not None and unbiased is not None:
        raise TypeError(f"{name}() got correction={correction!r} and unbiased={unbiased!r}; "
                        "pass one of them")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return correction, _axis(dim), bool(keepdim)


def sqrt(x):
    return power(x, 0.5)


def square(x):
    return multiply(x, x)


def min(x, *other, axis=None, keepdims=False, dim=None, keepdim=None):
    """The smallest value; the same spellings as `max` (dim= gives values and indices)."""
    if other:
        return _positional_extreme("min", x, other, minimum)
    if dim is not None:
        axis, keepdims = _dims("min", axis, keepdims, dim, keepdim)
        values = negative(_max_prim(negative(x), axis, keepdims))
        return MinResult(values, argmin(x, axis=axis, keepdims=keepdims))
    axis, keepdims = _dims("min", axis, keepdims, None, keepdim)
    return negative(_max_prim(negative(x), axis, keepdims))


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim merged into one (PyTorch's flatten: all of them by default)."""
    shape = _t(x).shape
    if not shape:
        return reshape(x, (1,))
    start, end = (a % len(shape) for a in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} "
                         f"for a tensor of shape {shape}")
    return reshape(x, shape[:start] + (-1,) + shape[end + 1:])


__all__ = [name for name in dir() if not name.startswith("_") and name not in
           {"annotations", "builtins", "collections", "np", "P", "apply", "Tensor",
            "MaxResult", "MinResult"}]
del builtins
