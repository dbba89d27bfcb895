"""Fused elementwise kernels for relu layers: one pass over memory where NumPy makes two.

A hidden Dense layer's forward adds the bias to x @ W and then clamps at 0; relu's gradient
builds a 0/1 mask and then multiplies by it. On the notes' 784-512-512-10 network at batch 512
each NumPy pass over a 512 x 512 float32 array costs 40-90 us here, about what one copy costs,
so the pairs cost twice what one loop does. Compiled with numba, each pair is one loop with the
same arithmetic in the same order (no fast-math), so the results are NumPy's bit for bit; tests
compare the bits, signed zeros and NaN included.

They run only for arrays of at least `MIN_SIZE` elements, and only where numba is imported
already: the fused optimizer imports it for any model with that many parameters, so training
gets them for free. numba's own import (about 0.35 s) is more than these passes save in a
whole predict of 60,000 rows through 2 x 512 hidden units, so inference alone never pays it.
Where NumPy's BLAS is a pthreads OpenBLAS, each loop is split over its threads
(`gradkit._blaspool`), every thread taking its own rows: the results stay the same.
"""

from __future__ import annotations

import numpy as np

from gradkit import _blaspool
from gradkit._numba import contiguous_floats, lazy, loaded

MIN_SIZE = 1 << 16


def _compile():
    from gradkit.autograd import _relu_numba

    return _relu_numba


_kernels = lazy(_compile)


def _usable(*arrays):
    a = arrays[0]
    return (a.size >= MIN_SIZE and loaded() and contiguous_floats(*arrays)
            and _kernels() is not False)


def bias_relu_(out, b):
    """out = max(out + b, 0) in place, b broadcast over the rows; False (nothing done) where
    the kernel does not apply, and the caller takes the NumPy path."""
    if not (b.ndim == 1 and out.shape[-1:] == b.shape and _usable(out, b)):
        return False
    out = out.reshape(-1, b.shape[0])
    if not _blaspool.split(*_kernels().bias_relu_split, out.shape[0], out, b):
        _kernels().bias_relu(out, b)
    return True


def relu_grad(g, ans):
    """g · [ans > 0] as a new array, or None where the kernel does not apply."""
    if g.shape != ans.shape or not _usable(g, ans):
        return None
    out = np.empty_like(ans)
    args = g.reshape(-1), ans.reshape(-1), out.reshape(-1)
    if not _blaspool.split(*_kernels().relu_grad_split, g.size, *args):
        _kernels().relu_grad(*args)
    return out


__all__ = ["MIN_SIZE", "bias_relu_", "relu_grad"]
