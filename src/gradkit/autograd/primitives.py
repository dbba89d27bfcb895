"""The primitive table: every forward next to its vector-Jacobian products.

Each VJP receives the upstream gradient `g`, the forward output `ans`, what the forward saved,
and the forward's own inputs, and returns the gradient for one input, reduced to that input's
shape by `unbroadcast`. Everything not here is a composite (see `ops.py`) and has no backward
code. Fused primitives exist only for numerical stability or speed; each says which.
"""

from __future__ import annotations

import functools

import numpy as np

from gradkit.autograd.primitive import defprimitive, defvariadic, unbroadcast

sh = np.shape


def _expand(g, x_shape, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced axes of an input of `x_shape`."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    elif axis is None and not keepdims:
        g = np.reshape(g, (1,) * len(x_shape))
    return np.broadcast_to(g, x_shape)


def _safe_log(x):
    """log(x) where x > 0, 0 elsewhere: the gradient of a**b with respect to b at a <= 0."""
    x = np.asarray(x)
    return np.log(np.where(x > 0, x, 1))


# -- arithmetic -------------------------------------------------------------------------------
add = defprimitive(
    "add", np.add,
    lambda g, ans, s, a, b: unbroadcast(g, sh(a)),
    lambda g, ans, s, a, b: unbroadcast(g, sh(b)),
)
multiply = defprimitive(
    "multiply", np.multiply,
    lambda g, ans, s, a, b: unbroadcast(g * b, sh(a)),
    lambda g, ans, s, a, b: unbroadcast(g * a, sh(b)),
)
negative = defprimitive("negative", np.negative, lambda g, ans, s, a: -g)
divide = defprimitive(
    "divide", np.divide,
    lambda g, ans, s, a, b: unbroadcast(g / b, sh(a)),
    lambda g, ans, s, a, b: unbroadcast(-g * ans / b, sh(b)),
)
power = defprimitive(
    "power", np.power,
    lambda g, ans, s, a, b: unbroadcast(g * b * np.power(a, b - 1), sh(a)),
    lambda g, ans, s, a, b: unbroadcast(g * ans * _safe_log(a), sh(b)),
)
maximum = defprimitive(
    "maximum", np.maximum,
    lambda g, ans, s, a, b: unbroadcast(g * (a >= b), sh(a)),
    lambda g, ans, s, a, b: unbroadcast(g * (a < b), sh(b)),
)
minimum = defprimitive(
    "minimum", np.minimum,
    lambda g, ans, s, a, b: unbroadcast(g * (a <= b), sh(a)),
    lambda g, ans, s, a, b: unbroadcast(g * (a > b), sh(b)),
)
where = defprimitive(
    "where", np.where,
    None,
    lambda g, ans, s, c, a, b: unbroadcast(np.where(c, g, 0).astype(g.dtype, copy=False), sh(a)),
    lambda g, ans, s, c, a, b: unbroadcast(np.where(c, 0, g).astype(g.dtype, copy=False), sh(b)),
)

# -- elementwise functions --------------------------------------------------------------------
exp = defprimitive("exp", np.exp, lambda g, ans, s, x: g * ans)
log = defprimitive("log", np.log, lambda g, ans, s, x: g / x)
abs = defprimitive("abs", np.abs, lambda g, ans, s, x: g * np.sign(x))
clip = defprimitive(
    "clip", lambda x, lo=None, hi=None: np.clip(x, lo, hi),
    lambda g, ans, s, x, lo=None, hi=None: g * (
        (True if lo is None else x >= lo) & (True if hi is None else x <= hi)),
)
sin = defprimitive("sin", np.sin, lambda g, ans, s, x: g * np.cos(x))
cos = defprimitive("cos", np.cos, lambda g, ans, s, x: -g * np.sin(x))
tanh = defprimitive("tanh", np.tanh, lambda g, ans, s, x: g * (1 - ans * ans))


def _sigmoid(x):
    # exp(-|x|) never overflows: sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) below.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


sigmoid = defprimitive("sigmoid", _sigmoid, lambda g, ans, s, x: g * ans * (1 - ans))
# relu is a primitive, not maximum(x, 0), for speed: its gradient is a mask of the output.
def _relu_vjp(g, ans, s, x):
    # The 0/1 mask is written as floats into the result array and multiplied there: one
    # allocation instead of a boolean mask plus a product (about 1.5x faster at 512 x 512).
    dtype = ans.dtype if g.dtype == ans.dtype else np.result_type(g, ans)
    out = np.greater(ans, 0, out=np.empty(ans.shape, dtype))
    return np.multiply(g, out, out=out)


relu = defprimitive("relu", lambda x: np.maximum(x, 0), _relu_vjp)
# softplus(x) = log(1 + e^x) = logaddexp(0, x), finite for any x.
softplus = defprimitive("softplus", lambda x: np.logaddexp(0, x),
                        lambda g, ans, s, x: g * _sigmoid(x))



def _erf(x):
    from scipy.special import erf  # SciPy's erf: NumPy has none; imported on first use

    return erf(x)


# erf is a primitive because exact GELU, x Φ(x) = ½x(1 + erf(x/√2)), needs it.
_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)
erf = defprimitive("erf", _erf,
                   lambda g, ans, s, x: g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)).astype(
                       ans.dtype, copy=False))

# -- reductions -------------------------------------------------------------------------------
sum = defprimitive(
    "sum", lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims),
    lambda g, ans, s, x, axis=None, keepdims=False: _expand(g, sh(x), axis, keepdims),
)


def _sumsq(x, scale=1.0):
    flat = np.ravel(x)
    out = np.dot(flat, flat)
    return out * out.dtype.type(scale) if scale != 1.0 else out


# scale · Σ x², fused for speed: weight penalties are computed every step, and one dot product
# replaces a product, a sum, the penalty factor's product and their three graph nodes.
sumsq = defprimitive("sumsq", _sumsq,
                     lambda g, ans, s, x, scale=1.0: (2 * scale * g).astype(x.dtype) * x)


def _max_forward(x, axis=None, keepdims=False):
    if axis is not None and not isinstance(axis, int):
        raise ValueError(f"max reduces over one axis or all of them, got axis={axis!r}")
    idx = np.argmax(x, axis=axis, keepdims=True) if axis is not None else np.argmax(x)
    if axis is None:
        out = x.reshape(-1)[idx]
        return (out.reshape((1,) * x.ndim) if keepdims else out), idx
    out = np.take_along_axis(x, idx, axis=axis)
    return (out if keepdims else np.squeeze(out, axis=axis)), idx


def _max_vjp(g, ans, idx, x, axis=None, keepdims=False):
    # The whole gradient goes to the (first) arg-max, as in the subgradient the notes use.
    out = np.zeros(x.shape, dtype=np.result_type(g, x))
    if axis is None:
        out.reshape(-1)[idx] = np.reshape(g, ())
    else:
        gk = g if keepdims else np.expand_dims(g, axis)
        np.put_along_axis(out, idx, gk, axis=axis)
    return out


max = defprimitive("max", _max_forward, _max_vjp, saves=True)


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


logsumexp = defprimitive(
    "logsumexp", _logsumexp,
    lambda g, ans, s, x, axis=None, keepdims=False: (
        _expand(g, sh(x), axis, keepdims) * np.exp(x - _expand(ans, sh(x), axis, keepdims))),
)


# NumPy reduces a short last axis slowly: np.max over the 10 logits of 512 rows costs ~50 us
# (an inner loop per row), while argmax, a column gather and a matrix-vector product run at
# memory speed. The softmax family reduces over the classes every step, so for a 2-D input
# with few columns these two helpers take the fast route; the results are the same values
# (the sum's rounding order differs, within float32's precision).
_FEW_COLUMNS = 64


@functools.lru_cache(maxsize=64)
def _row_starts(n, c):
    """0, c, 2c, ...: where each row of a C-ordered (n, c) array starts in its flat view."""
    starts = np.arange(0, n * c, c)
    starts.flags.writeable = False
    return starts


def _max_last(x):
    """max over the last axis, kept as a length-1 axis."""
    if x.ndim == 2 and 0 < x.shape[1] <= _FEW_COLUMNS:
        n, c = x.shape
        return x.reshape(-1).take(x.argmax(axis=1) + _row_starts(n, c))[:, None]
    return np.max(x, axis=-1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _ones_column(c, dtype):
    ones = np.ones((c, 1), dtype=dtype)
    ones.flags.writeable = False
    return ones


def _sum_last(x):
    """sum over the last axis, kept as a length-1 axis."""
    if x.ndim == 2 and 0 < x.shape[1] <= _FEW_COLUMNS and x.dtype.kind == "f":
        return x @ _ones_column(x.shape[1], x.dtype)
    return np.sum(x, axis=-1, keepdims=True)


def _last(axis, x):
    return axis == -1 or axis == x.ndim - 1


def _log_softmax(x, axis=-1):
    if _last(axis, x):
        shifted = x - _max_last(x)
        shifted -= np.log(_sum_last(np.exp(shifted)))
        return shifted
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax(x, axis=-1):
    if _last(axis, x):
        e = np.exp(x - _max_last(x))
        e /= _sum_last(e)
        return e
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


log_softmax = defprimitive(
    "log_softmax", _log_softmax,
    lambda g, ans, s, x, axis=-1: g - np.exp(ans) * (
        _sum_last(g) if _last(axis, g) else np.sum(g, axis=axis, keepdims=True)),
)
softmax = defprimitive(
    "softmax", _softmax,
    lambda g, ans, s, x, axis=-1: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)),
)

# -- shapes -----------------------------------------------------------------------------------
reshape = defprimitive("reshape", lambda x, shape: np.reshape(x, shape),
                       lambda g, ans, s, x, shape: np.reshape(g, sh(x)))
transpose = defprimitive(
    "transpose", lambda x, axes=None: np.transpose(x, axes),
    lambda g, ans, s, x, axes=None: np.transpose(g, None if axes is None else np.argsort(axes)),
)


def _getitem_vjp(g, ans, s, x, index):
    out = np.zeros(x.shape, dtype=g.dtype)
    # Integer-array indexing may pick a row twice; add.at accumulates where += would not.
    np.add.at(out, index, g)
    return out


getitem = defprimitive("getitem", lambda x, index: x[index], _getitem_vjp)


def _concat_vjp(i, g, ans, s, *xs, axis=0):
    start = int(np.sum([np.shape(x)[axis] for x in xs[:i]], dtype=np.int64))
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + np.shape(xs[i])[axis])
    return g[tuple(index)]


concatenate = defvariadic("concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis),
                          _concat_vjp)
stack = defvariadic("stack", lambda *xs, axis=0: np.stack(xs, axis=axis),
                    lambda i, g, ans, s, *xs, axis=0: np.take(g, i, axis=axis))

# -- linear algebra ---------------------------------------------------------------------------


def _matmul_vjp_a(g, ans, s, a, b):
    if np.ndim(a) == 2 and np.ndim(b) == 2:
        return g @ b.T
    A, B, G = _promote(a, b, g)
    ga = G @ np.swapaxes(B, -1, -2)
    if np.ndim(a) == 1:
        ga = ga[..., 0, :]
    return unbroadcast(ga, sh(a))


def _matmul_vjp_b(g, ans, s, a, b):
    if np.ndim(a) == 2 and np.ndim(b) == 2:
        return a.T @ g
    A, B, G = _promote(a, b, g)
    gb = np.swapaxes(A, -1, -2) @ G
    if np.ndim(b) == 1:
        gb = gb[..., 0]
    return unbroadcast(gb, sh(b))


def _promote(a, b, g):
    """View 1-D operands of matmul as a row (left) or column (right), as NumPy does."""
    A = a[None, :] if np.ndim(a) == 1 else a
    B = b[:, None] if np.ndim(b) == 1 else b
    G = np.asarray(g)
    if np.ndim(a) == 1:
        G = G[..., None, :] if np.ndim(b) > 1 else G[..., None]
    if np.ndim(b) == 1:
        G = G[..., None]
    return A, B, G


matmul = defprimitive("matmul", np.matmul, _matmul_vjp_a, _matmul_vjp_b)


def _linear(x, w, b):
    out = x @ w
    out += b
    return out


def _rows(a):
    """`a` as a 2-D (samples, features) array: leading axes flattened, 2-D arrays as they are."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


def _linear_dw(g, ans, s, x, w, b):
    return _rows(x).T @ _rows(g)


def _linear_dw_into(out, g, ans, s, x, w, b):
    np.matmul(_rows(x).T, _rows(g), out=out)


def _linear_db(g, ans, s, x, w, b):
    return np.add.reduce(_rows(g), 0)


def _linear_db_into(out, g, ans, s, x, w, b):
    np.add.reduce(_rows(g), 0, None, out)


# Fused for speed: x @ W + b in one node, the bias added in place; gradients are the
# matrix form of the notes (dW = x^T g, db = sum of g over the batch), written straight into
# the optimizer's gradient buffer when there is one.
linear = defprimitive(
    "linear", _linear,
    lambda g, ans, s, x, w, b: g @ w.T,
    _linear_dw,
    _linear_db,
    vjps_into=(None, _linear_dw_into, _linear_db_into),
)

# linear followed by an activation whose derivative is a function of its output (relu, tanh,
# sigmoid), fused for speed (a Dense layer's hidden units): a hidden layer is one graph node,
# not two, and relu and tanh are applied in place to the fresh x @ W + b. Its VJPs
# are linear's, given the local gradient g · f'(out), which is the activation's own VJP, looked
# up in the activation's table entry (so the values are the unfused nodes' bit for bit); the
# node computes it once per backward pass for all three and keeps it in `saved`, next to the g
# it came from.
def _linear_relu(x, w, b):
    out = _linear(x, w, b)
    np.maximum(out, 0, out=out)
    return out, [None, None]


def _linear_tanh(x, w, b):
    out = _linear(x, w, b)
    # In place on floats; integer inputs get a float result, as the unfused tanh gives them.
    return np.tanh(out, out=out) if out.dtype.kind == "f" else np.tanh(out), [None, None]


def _linear_sigmoid(x, w, b):
    return _sigmoid(_linear(x, w, b)), [None, None]


def _fused_linear(activation, forward):
    def local(g, ans, saved):
        if saved[0] is not g:
            saved[0], saved[1] = g, activation.vjps[0](g, ans, None, None)
        return saved[1]

    def through(vjp):
        return lambda g, ans, s, *args: vjp(local(g, ans, s), ans, s, *args)

    def through_into(vjp_into):
        return lambda out, g, ans, s, *args: vjp_into(out, local(g, ans, s), ans, s, *args)

    return defprimitive(
        f"linear_{activation.name}", forward, *map(through, linear.vjps), saves=True,
        vjps_into=tuple(None if v is None else through_into(v) for v in linear.vjps_into))


linear_relu = _fused_linear(relu, _linear_relu)
linear_tanh = _fused_linear(tanh, _linear_tanh)
linear_sigmoid = _fused_linear(sigmoid, _linear_sigmoid)
FUSED_LINEAR = {"relu": linear_relu, "tanh": linear_tanh, "sigmoid": linear_sigmoid}

# -- fused losses (stability and speed) -------------------------------------------------------


def _reduce(losses, reduction, weights=None):
    if weights is not None:
        losses = losses * weights
    if reduction == "mean":
        return np.add.reduce(losses) / losses.shape[0]
    if reduction == "sum":
        return np.add.reduce(losses)
    return losses


def _reduction_grad(g, n, reduction, weights, dtype):
    """The upstream gradient per sample, for a loss reduced by `reduction` over n samples:
    a scalar when every sample has the same one (the common, fast case), else an (n,) array."""
    if reduction == "mean":
        g = g / n
    if weights is None:
        return np.asarray(g, dtype=dtype) if reduction == "none" else dtype.type(g)
    return (np.asarray(g) * weights).astype(dtype, copy=False)


def _per_row(scale, ndim):
    """`scale` shaped to multiply (n, ...) rows: scalars pass through."""
    if not isinstance(scale, np.ndarray) or scale.ndim == 0:
        return scale
    return np.reshape(scale, (-1,) + (1,) * (ndim - 1))


def _softmax_ce(z, t, reduction="mean", weights=None):
    """Saves log p for probability targets, p - onehot(t) for integer labels (what each VJP
    needs)."""
    if t.ndim == z.ndim:                     # probability targets
        # log p = z - logsumexp(z): never exp of a large number, never log of zero.
        logp = _log_softmax(z, axis=-1)
        return _reduce(-np.sum(t * logp, axis=-1), reduction, weights), logp
    # Integer labels: -log p_t = log Σ e^(z - m) - (z_t - m), the same rounding as -logp[t],
    # without forming log p. What is saved is the gradient before the upstream factor,
    # p - onehot(t), made in place in the softmax e / Σe.
    n, c = z.shape
    shifted = z - _max_last(z)
    e = np.exp(shifted)
    total = _sum_last(e)
    at = t + _row_starts(n, c)
    losses = np.log(total.reshape(-1)) - shifted.reshape(-1).take(at)
    e /= total
    e.reshape(-1)[at] -= 1
    return _reduce(losses, reduction, weights), e


def _softmax_ce_vjp_z(g, ans, saved, z, t, reduction="mean", weights=None):
    scale = _per_row(_reduction_grad(g, z.shape[0], reduction, weights, z.dtype), 2)
    if t.ndim < z.ndim:                      # saved is p - onehot(t)
        return np.multiply(saved, scale)
    grad = np.exp(saved)                     # d/dz of -Σ t log p is p Σt - t
    grad *= _sum_last(t)
    grad -= t
    grad *= scale
    return grad


softmax_cross_entropy = defprimitive(
    "softmax_cross_entropy", _softmax_ce,
    _softmax_ce_vjp_z,
    # Only probability targets can require a gradient, and for them `logp` is what was saved.
    lambda g, ans, logp, z, t, reduction="mean", weights=None: (
        -logp * _per_row(_reduction_grad(g, z.shape[0], reduction, weights, z.dtype), 2)),
    saves=True,
)


def _sigmoid_bce(z, t, reduction="mean", weights=None):
    # max(z, 0) - z t + log(1 + e^-|z|): the logits form, finite for any z.
    losses = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    if losses.ndim > 1:                     # multi-label: mean over the labels of a sample
        losses = losses.reshape(losses.shape[0], -1).mean(axis=1)
    return _reduce(losses, reduction, weights)


def _bce_scale(g, z, reduction, weights):
    n = z.shape[0]
    per_label = 1 if z.ndim == 1 else int(np.prod(z.shape[1:]))
    scale = _reduction_grad(g, n, reduction, weights, z.dtype) / per_label
    return _per_row(scale, z.ndim)


sigmoid_binary_cross_entropy = defprimitive(
    "sigmoid_binary_cross_entropy", _sigmoid_bce,
    lambda g, ans, s, z, t, reduction="mean", weights=None: (
        (_sigmoid(z) - t) * _bce_scale(g, z, reduction, weights)),
    lambda g, ans, s, z, t, reduction="mean", weights=None: (
        -z * _bce_scale(g, z, reduction, weights)),
)

# -- casting (float to float keeps the gradient) ----------------------------------------------
cast = defprimitive("cast", lambda x, dtype: np.asarray(x).astype(dtype),
                    lambda g, ans, s, x, dtype: g.astype(np.asarray(x).dtype))
