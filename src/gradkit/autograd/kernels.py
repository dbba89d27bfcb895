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
"""

from __future__ import annotations

import numpy as np

from gradkit._numba import lazy, loaded

MIN_SIZE = 1 << 16
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _compile():
    import numba

    jit = numba.njit(cache=True, nogil=True, error_model="numpy")

    @jit
    def bias_relu(out, b):
        n, m = out.shape
        for i in range(n):
            row = out[i]
            for j in range(m):
                v = row[j] + b[j]
                # np.maximum(v, 0): v when v > 0 or NaN, else +0.0 (so -0.0 becomes +0.0).
                row[j] = v if (v > 0 or v != v) else 0

    @jit
    def relu_grad(g, ans, out):
        for i in range(g.shape[0]):
            # g times the 0/1 mask, as a product: NaN or inf in g stays NaN where masked.
            out[i] = g[i] * (1 if ans[i] > 0 else 0)

    return {"bias_relu": bias_relu, "relu_grad": relu_grad}


_kernels = lazy(_compile)


def _usable(*arrays):
    a = arrays[0]
    return (a.size >= MIN_SIZE and loaded() and a.dtype in _FLOATS
            and all(x.dtype == a.dtype and x.flags.c_contiguous for x in arrays)
            and _kernels() is not False)


def bias_relu_(out, b):
    """out = max(out + b, 0) in place, b broadcast over the rows; False (nothing done) where
    the kernel does not apply, and the caller takes the NumPy path."""
    if not (b.ndim == 1 and out.shape[-1:] == b.shape and _usable(out, b)):
        return False
    _kernels()["bias_relu"](out.reshape(-1, b.shape[0]), b)
    return True


def relu_grad(g, ans):
    """g · [ans > 0] as a new array, or None where the kernel does not apply."""
    if g.shape != ans.shape or not _usable(g, ans):
        return None
    out = np.empty_like(ans)
    _kernels()["relu_grad"](g.reshape(-1), ans.reshape(-1), out.reshape(-1))
    return out


__all__ = ["MIN_SIZE", "bias_relu_", "relu_grad"]
