"""The `Tensor`: an ndarray plus the node of the computation graph that produced it.

A tensor made by a primitive from inputs that need gradients remembers the primitive, its
inputs, their arrays, the keyword settings and whatever the forward pass saved for the
backward pass. That is the whole graph: `backward()` walks it in reverse topological order
(see `backward.py`) and frees it afterwards.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from gradkit.autograd.tensor_methods import TensorMethods


class _GradMode(threading.local):
    enabled = True          # the class default is every thread's initial value


_state = _GradMode()


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph (False inside `no_grad`)."""
    return _state.enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator: operations inside build no graph.

    >>> with no_grad():
    ...     y = tensor([1.0], requires_grad=True) * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False


class enable_grad(contextlib.ContextDecorator):
    """Re-enable graph recording inside a `no_grad` block."""

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = True
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False


class Node:
    """How a tensor was computed: primitive, inputs (tensors or constants), saved values.

    `parents` lists (position, tensor) for the inputs that require gradients, found once when
    the node is made, so that the backward pass never tests the other inputs again.
    """

    __slots__ = ("prim", "inputs", "args", "kwargs", "saved", "parents")

    def __init__(self, prim, inputs, args, kwargs, saved, parents):
        self.prim = prim
        self.inputs = inputs
        self.args = args
        self.kwargs = kwargs
        self.saved = saved
        self.parents = parents

    def __repr__(self):
        return f"<{self.prim.name} backward>"


class Tensor(TensorMethods):
    """An n-dimensional array that can record the operations applied to it.

    Its array methods (reductions, shapes, conversions) live in `TensorMethods`, which keeps
    NumPy's and PyTorch's spellings apart where they would mean different things.

    Attributes:
        data: the values, a NumPy array.
        grad: the gradient of the last `backward()` with respect to this tensor (leaves only),
            an array of the same shape, or None.
        requires_grad: whether operations on this tensor are recorded for differentiation.
        grad_buffer: None, or an array of this tensor's shape and dtype that `backward` fills
            with the tensor's gradient when `grad` is None, then makes the `grad`. An owner of
            preallocated gradient memory (an optimizer's flat gradient buffer) sets it: the
            gradient lands there with no copy, and resetting `grad = None` is a free zeroing.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "name", "grad_buffer", "__weakref__")
    # NumPy must hand `ndarray + Tensor` to Tensor.__radd__ instead of broadcasting over objects.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, *, name=None):
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self.name = name
        self.grad_buffer = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def T(self):
        return _ops.transpose(self)

    @property
    def is_leaf(self):
        return self._node is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = f", dtype={self.data.dtype}" if self.data.dtype != np.float32 else ""
        if self._node is not None:
            extra += f", grad_fn={self._node.prim.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- conversion ---------------------------------------------------------------------------
    def numpy(self):
        """The values as a NumPy array (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self):
        """The same values, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype):
        """A copy cast to `dtype`, cut from the graph unless it is a float dtype."""
        return _ops.cast(self, dtype)

    def zero_grad(self):
        self.grad = None

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Back-propagate from this tensor: fill `.grad` of every leaf that requires it.

        As PyTorch's: a second backward through the same graph accumulates into `.grad` and
        needs `retain_graph=True` in the first (otherwise it raises).

        Args:
            gradient: dL/d(self); needed unless self holds a single value (then 1).
            retain_graph: keep the graph so `backward` can run through it again.
            create_graph: not supported (gradkit computes first derivatives only).
        """
        if create_graph:
            raise NotImplementedError("create_graph=True (a graph of the gradient, for "
                                      "higher-order derivatives) is not supported by gradkit")
        _backward.backward(self, gradient, retain_graph=bool(retain_graph))

    # -- operators ------------------------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other):
        return Tensor(self.data < _data(other))

    def __le__(self, other):
        return Tensor(self.data <= _data(other))

    def __gt__(self, other):
        return Tensor(self.data > _data(other))

    def __ge__(self, other):
        return Tensor(self.data >= _data(other))

    def __eq__(self, other):
        return Tensor(self.data == _data(other))

    def __ne__(self, other):
        return Tensor(self.data != _data(other))

    __hash__ = object.__hash__

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    # -- elementwise methods (the reductions and shapes are in TensorMethods) ---------------------
    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def clip(self, lo=None, hi=None):
        return _ops.clip(self, lo, hi)

    def matmul(self, other):
        return _ops.matmul(self, other)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


_FLOATS = (np.float16, np.float32, np.float64)


def tensor(data, requires_grad=False, dtype=None, *, name=None):
    """Make a tensor from a number, nested list or array (a copy, as PyTorch's `tensor`).

    Without `dtype`, as in PyTorch: a NumPy array (or scalar) keeps its dtype, a float64
    array included; whole numbers stay integers (int64) and booleans stay booleans; other
    Python numbers and lists of them become float32, gradkit's working precision (PyTorch's
    default dtype). Only floating-point tensors can require gradients.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        kind = np.asarray(data).dtype.kind
        keeps = kind in "biu" or (isinstance(data, (np.ndarray, np.generic)) and kind == "f")
        dtype = None if keeps else np.float32
    array = np.array(data, dtype=dtype)
    if requires_grad and array.dtype.type not in _FLOATS:
        raise TypeError(f"only floating-point tensors can require gradients, got dtype={array.dtype}")
    return Tensor(array, requires_grad, name=name)


# Bound at the end so tensor.py, ops.py and backward.py can refer to one another.
from gradkit.autograd import backward as _backward  # noqa: E402
from gradkit.autograd import ops as _ops  # noqa: E402
from gradkit.autograd import tensor_methods as _tensor_methods  # noqa: E402

_tensor_methods._ops, _tensor_methods.Tensor = _ops, Tensor
