"""Tensor methods that NumPy and PyTorch both spell: one meaning each, or a refusal.

`Tensor` takes these from `TensorMethods`. Reductions accept NumPy's `axis`/`keepdims` and
PyTorch's `dim`/`keepdim` (the same meaning). Where the two libraries give the same call
different results, the method follows PyTorch when the call can only be PyTorch's
(`max(dim=1)` gives values and indices; `transpose(0, 2)` on 3 axes swaps two) and refuses it
when it could be either (`x.max(1)`, `x.var()`, `transpose(0, 1)` on a matrix): a wrong guess
would be a silently different number. The conversions (`float()`, `long()`, `tolist()`,
`size()`, `to("cpu")`, ...) are PyTorch's.
"""

from __future__ import annotations

import numbers

import numpy as np


class Size(int):
    """`t.size`: the element count as NumPy means it, and, called, the shape as PyTorch means it.

    `t.size * 2` and `t.size == 6` use the count; `t.size()` is the shape tuple and
    `t.size(0)` the length of axis 0.
    """

    def __new__(cls, shape):
        self = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        self.shape = tuple(shape)
        return self

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


def _dtype(value, where):
    from gradkit.autograd.creation import DTYPES

    if isinstance(value, str) and value in DTYPES:
        return np.dtype(DTYPES[value])
    try:
        return np.dtype(value)
    except TypeError:
        raise TypeError(f"{where}: expected a dtype such as gk.float32 or 'int64', got "
                        f"{value!r}") from None


class TensorMethods:
    """The array and PyTorch-style methods of `Tensor` (mixed in; holds no state)."""

    __slots__ = ()

    # -- reductions: NumPy's or PyTorch's keywords --------------------------------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, *positional, **kwargs):
        """NumPy's var with axis=/ddof= (ddof=0), PyTorch's with dim=/correction= (n - 1)."""
        return _ops.var(self, *positional, **kwargs)

    def std(self, *positional, **kwargs):
        """NumPy's std with axis=/ddof= (ddof=0), PyTorch's with dim=/correction= (n - 1)."""
        return _ops.std(self, *positional, **kwargs)

    def max(self, *other, **kwargs):
        """Values with axis= (NumPy); (values, indices) with dim= (PyTorch); see `ops.max`."""
        return _ops.max(self, *other, **kwargs)

    def min(self, *other, **kwargs):
        """Values with axis= (NumPy); (values, indices) with dim= (PyTorch); see `ops.min`."""
        return _ops.min(self, *other, **kwargs)

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _ops.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, axis=None, *, dim=None):
        return _ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis=None, *, dim=None):
        return _ops.log_softmax(self, axis, dim=dim)

    # -- shapes ---------------------------------------------------------------------------------
    @property
    def size(self):
        return Size(self.data.shape)

    def dim(self):
        """The number of axes (PyTorch's name for `ndim`)."""
        return self.data.ndim

    def numel(self):
        return self.data.size

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    view = reshape

    def transpose(self, *axes):
        """NumPy's permutation, or PyTorch's swap of two axes where it can only mean that.

        `transpose(1, 0)` transposes a matrix in both libraries; `transpose(0, 1)` is the
        identity permutation in NumPy and a swap in PyTorch, so on a matrix it is refused.
        """
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        ndim = self.data.ndim
        if len(axes) == 2 and all(isinstance(a, numbers.Integral) for a in axes) and ndim >= 2:
            a, b = (int(x) % ndim for x in axes)
            if ndim == 2 and (a, b) == (0, 1):
                raise TypeError(
                    "transpose(0, 1) on a matrix is ambiguous: NumPy keeps the axes in order "
                    "(identity), PyTorch swaps them; write x.T or transpose(1, 0) to swap")
            if ndim > 2:
                perm = list(range(ndim))
                perm[a], perm[b] = perm[b], perm[a]
                axes = tuple(perm)
        return _ops.transpose(self, axes or None)

    def t(self):
        """The transpose of a matrix (PyTorch's `t()`; at most 2 axes)."""
        if self.data.ndim > 2:
            raise ValueError(f"t() expects a tensor with at most 2 dimensions, got shape "
                             f"{self.data.shape}; use transpose(d0, d1) or permute")
        return _ops.transpose(self) if self.data.ndim == 2 else self

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _ops.transpose(self, dims)

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim):
        shape = list(self.data.shape)
        shape.insert(dim if dim >= 0 else len(shape) + dim + 1, 1)
        return _ops.reshape(self, tuple(shape))

    def squeeze(self, dim=None):
        shape = self.data.shape
        if dim is None:
            new = tuple(n for n in shape if n != 1)
        else:
            d = dim % len(shape) if shape else 0
            new = shape if not shape or shape[d] != 1 else shape[:d] + shape[d + 1:]
        return _ops.reshape(self, new)

    # -- conversions (PyTorch's) ------------------------------------------------------------
    def __index__(self):
        """A one-element integer tensor as an index (`classes[pred.argmax()]`)."""
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(f"only a one-element integer tensor can be used as an index, got "
                            f"shape {self.data.shape} dtype {self.data.dtype}")
        return int(self.data.reshape(()))

    def tolist(self):
        return self.data.tolist()

    def float(self):
        """float32 (differentiable from a float tensor)."""
        return self._converted(np.float32)

    def double(self):
        """float64 (differentiable from a float tensor)."""
        return self._converted(np.float64)

    def half(self):
        return self._converted(np.float16)

    def long(self):
        """int64, cut from the graph (integers carry no gradient)."""
        return self._converted(np.int64)

    def int(self):
        return self._converted(np.int32)

    def bool(self):
        return self._converted(np.bool_)

    def type(self, dtype):
        """A copy cast to `dtype` (`gk.float32`, `gk.long`, ... or a NumPy dtype)."""
        return self._converted(_dtype(dtype, "type()"))

    def to(self, *args, dtype=None, device=None):
        """`to("cpu")` returns the tensor itself; `to(dtype)` casts. gradkit runs on the CPU
        only, so any other device is refused."""
        for arg in args:
            if isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps", "xpu"):
                device = arg
            else:
                dtype = arg
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"gradkit runs on the CPU only, got device={device!r}; "
                             "use 'cpu'")
        return self if dtype is None else self._converted(_dtype(dtype, "to()"))

    def cpu(self):
        return self

    @property
    def device(self):
        """Always "cpu": gradkit computes with NumPy on the CPU."""
        return "cpu"

    @property
    def grad_fn(self):
        """The graph node that computed this tensor (None for a leaf), as PyTorch names it."""
        return self._node

    # -- PyTorch's method names for the arithmetic operators -------------------------------------
    def add(self, other):
        return _ops.add(self, other)

    def sub(self, other):
        return _ops.subtract(self, other)

    def mul(self, other):
        return _ops.multiply(self, other)

    def div(self, other):
        return _ops.divide(self, other)

    def pow(self, exponent):
        return _ops.power(self, exponent)

    def clone(self):
        """A copy that stays in the graph (its gradient flows back to this tensor)."""
        return _ops.cast(self, self.data.dtype)

    def _converted(self, dtype):
        dtype = np.dtype(dtype)
        if dtype.kind == "f" and self.data.dtype.kind == "f":
            return self if dtype == self.data.dtype else _ops.cast(self, dtype)
        return Tensor(self.data.astype(dtype))      # a plain tensor, even from a Parameter

    # -- in place: `p -= lr * p.grad` under no_grad, as PyTorch's manual update is written --------
    def __iadd__(self, other):
        return self._in_place(_ops.add, np.add, other)

    def __isub__(self, other):
        return self._in_place(_ops.subtract, np.subtract, other)

    def __imul__(self, other):
        return self._in_place(_ops.multiply, np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place(_ops.divide, np.divide, other)

    def _in_place(self, op, ufunc, other):
        """Change the values in place where the graph cannot see it (no gradient is recorded),
        as PyTorch does; a computed tensor in a recorded graph gets a new tensor with the same
        values (the graph has no in-place nodes); a leaf that requires grad is refused, as in
        PyTorch, because the update would be lost or recorded."""
        from gradkit.autograd.tensor import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            if self._node is None:
                raise RuntimeError(
                    "a leaf tensor that requires grad is being used in an in-place operation; "
                    "update parameters inside `with gk.no_grad():` (p -= lr * p.grad)")
            return op(self, other)
        ufunc(self.data, getattr(other, "data", other), out=self.data, casting="same_kind")
        return self

    # -- in place (PyTorch's trailing underscore) ------------------------------------------------
    def add_(self, other):
        return self._in_place_only(np.add, other)

    def sub_(self, other):
        return self._in_place_only(np.subtract, other)

    def mul_(self, other):
        return self._in_place_only(np.multiply, other)

    def div_(self, other):
        return self._in_place_only(np.divide, other)

    def _in_place_only(self, ufunc, other):
        self._check_writable("an in-place operation")
        ufunc(self.data, getattr(other, "data", other), out=self.data, casting="same_kind")
        return self

    def __setitem__(self, index, value):
        """`t[:, 1] = 0`, in place, where no gradient is recorded (as `fill_`)."""
        self._check_writable("item assignment")
        if isinstance(index, tuple):
            index = tuple(getattr(i, "data", i) for i in index)
        self.data[getattr(index, "data", index)] = getattr(value, "data", value)

    def _check_writable(self, what):
        from gradkit.autograd.tensor import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"a tensor that requires grad is being used in {what}, which "
                               "the graph would not see; wrap it in `with gk.no_grad():`")

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got "
                            f"dtype={self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        """Overwrite the values in place; refused where PyTorch refuses it (a leaf that
        requires grad, outside no_grad), because the graph would not see the change."""
        self._check_writable("an in-place operation")
        self.data[...] = value
        return self


# Set by tensor.py once both exist (ops imports tensor, which imports this module).
_ops = Tensor = None
