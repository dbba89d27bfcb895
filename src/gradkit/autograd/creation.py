"""Tensor factories with PyTorch's names and meanings, and the global generator they draw from.

`manual_seed(s)` seeds one generator that `randn`, `rand`, `randint`, the `*_like` draws and the
PyTorch-style modules' default initialization (`gradkit.nn.Linear`) share, so a program seeded
once is reproducible, as in PyTorch. The numbers differ from PyTorch's own for the same seed
(a NumPy PCG64 generator, not PyTorch's Mersenne twister); the distributions are the same.

Sizes are given as PyTorch gives them, `zeros(2, 3)` or `zeros((2, 3))`; values are float32
unless `dtype` says otherwise. `arange` follows PyTorch: int64 for whole-number arguments,
float32 otherwise, and `end` is excluded.
"""

from __future__ import annotations

import numbers

import numpy as np

from gradkit.autograd.tensor import Tensor

# Made on first use: numpy.random is a lazy NumPy submodule whose import would cost
# `import gradkit` about 15% more instructions.
_generator = None


def manual_seed(seed):
    """Seed the global generator (PyTorch's `torch.manual_seed`); returns the generator."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got seed={seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator():
    """The generator that `manual_seed` seeds (a `numpy.random.Generator`); unseeded, it
    starts from fresh OS entropy, as NumPy's `default_rng()` does."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


def _size(size, where):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0
               for n in size):
        raise ValueError(f"{where}: sizes must be non-negative integers, got {size!r}")
    return tuple(int(n) for n in size)


def _float_dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def _cpu(device):
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"gradkit runs on the CPU only, got device={device!r}; use 'cpu'")


def _make(array, requires_grad, where):
    if requires_grad and array.dtype.kind != "f":
        raise TypeError(f"{where}: only floating-point tensors can require gradients, got "
                        f"dtype={array.dtype}")
    return Tensor(array, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    shape = _size(size, "zeros")
    _cpu(device)
    return _make(np.zeros(shape, _float_dtype(dtype)), requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones: `ones(2, 3)` or `ones((2, 3))`."""
    shape = _size(size, "ones")
    _cpu(device)
    return _make(np.ones(shape, _float_dtype(dtype)), requires_grad, "ones")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value`."""
    shape = _size((size,), "full")
    _cpu(device)
    return _make(np.full(shape, fill_value, _float_dtype(dtype)), requires_grad, "full")


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal draws from the global generator (see `manual_seed`)."""
    shape = _size(size, "randn")
    _cpu(device)
    values = default_generator().standard_normal(shape, dtype=np.float64)
    return _make(values.astype(_float_dtype(dtype)), requires_grad, "randn")


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform draws on [0, 1) from the global generator (see `manual_seed`)."""
    shape = _size(size, "rand")
    _cpu(device)
    values = default_generator().random(shape, dtype=np.float64)
    return _make(values.astype(_float_dtype(dtype)), requires_grad, "rand")


def randint(low, high=None, size=None, *, dtype=None):
    """Integers drawn uniformly from [low, high) (int64), as `torch.randint(low, high, size)`;
    `randint(high, size)` draws from [0, high)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint needs a size tuple: randint(low, high, size) or "
                            f"randint(high, size), got low={low!r}, high={high!r}")
        low, high, size = 0, low, high
    shape = _size((size,), "randint")
    dtype = np.dtype(np.int64 if dtype is None else dtype)
    return Tensor(default_generator().integers(low, high, size=shape).astype(dtype))


def zeros_like(t, *, dtype=None, requires_grad=False):
    data = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _make(np.zeros_like(data, dtype=dtype), requires_grad, "zeros_like")


def ones_like(t, *, dtype=None, requires_grad=False):
    data = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _make(np.ones_like(data, dtype=dtype), requires_grad, "ones_like")


def randn_like(t, *, dtype=None, requires_grad=False):
    data = np.asarray(t.data if isinstance(t, Tensor) else t)
    dtype = data.dtype if dtype is None else dtype
    return randn(*data.shape, dtype=dtype, requires_grad=requires_grad)


def rand_like(t, *, dtype=None, requires_grad=False):
    data = np.asarray(t.data if isinstance(t, Tensor) else t)
    dtype = data.dtype if dtype is None else dtype
    return rand(*data.shape, dtype=dtype, requires_grad=requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """The n × m identity matrix (m = n by default)."""
    _cpu(device)
    return _make(np.eye(n, n if m is None else m, dtype=_float_dtype(dtype)), requires_grad,
                 "eye")


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from `start` up to, not including, `end` (PyTorch's arange and dtype rule)."""
    _cpu(device)
    if end is None:
        start, end = 0, start
    whole = all(isinstance(v, numbers.Integral) for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if whole else np.float32
    # Computed in float64 (or int64) and cast once, so a float32 range has no drift.
    values = np.arange(start, end, step, dtype=np.int64 if whole else np.float64)
    return _make(values.astype(dtype), requires_grad, "arange")


def from_numpy(array):
    """A tensor sharing memory with `array` and keeping its dtype (PyTorch's from_numpy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


# The dtype names PyTorch programs pass (`x.type(torch.float)`, `zeros(3, dtype=torch.long)`).
# Names that are also Python builtins (float, int, long, double, bool) are reached as
# attributes only (`gk.float`), never star-imported, so they cannot shadow a user's builtins.
DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
    "bool": np.bool_,
}

__all__ = ["manual_seed", "default_generator", "zeros", "ones", "full", "randn", "rand",
           "randint", "zeros_like", "ones_like", "randn_like", "rand_like", "eye", "arange",
           "from_numpy",
           "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8"]

float32, float64, float16 = np.float32, np.float64, np.float16
int64, int32, int16, int8, uint8 = np.int64, np.int32, np.int16, np.int8, np.uint8
