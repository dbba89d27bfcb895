"""The numba loops behind `gradkit._fast`, which alone imports this module (on first need).

Each loop does the arithmetic of a NumPy reference (`updates.adam_update`, relu's forward and
its gradient) in the same order and precision, with no fast-math, so its results are the
reference's bit for bit; the tests compare the bits, NaN, infinities and signed zeros included.
They are module-level functions so that numba's on-disk cache finds them in later processes.
"""

from __future__ import annotations

import math

import numba

# error_model="numpy": no Python zero-division checks, so LLVM vectorizes the loops.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def adam(p, g, m, v, decay, b1, c1, b2, c2, step, eps_hat, tiny, zero, one):
    """`updates.adamw_update` on flat arrays in one pass (decay = 1 - lr·λ; 1 for Adam)."""
    for i in range(p.shape[0]):
        gi = g[i]
        mi = m[i] * b1 + gi * c1
        vi = v[i] * b2 + (gi * gi) * c2
        # Subnormal moments flushed to zero when tiny > 0, as updates.flush_subnormal does
        # (and why): the same product by 0 or 1, so NaN, inf and signed zeros match it.
        mi = mi * (one if abs(mi) >= tiny else zero)
        vi = vi * (one if abs(vi) >= tiny else zero)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay + (mi / (math.sqrt(vi) + eps_hat)) * step


@_jit
def bias_relu(out, b):
    """out = max(out + b, 0) in place on an (n, m) array, b of length m."""
    n, m = out.shape
    for i in range(n):
        row = out[i]
        for j in range(m):
            v = row[j] + b[j]
            # np.maximum(v, 0): v when v > 0 or NaN, else +0.0 (so -0.0 becomes +0.0).
            row[j] = v if (v > 0 or v != v) else 0


@_jit
def relu_grad(g, ans, out):
    """out = g · [ans > 0] on flat arrays."""
    for i in range(g.shape[0]):
        # g times the 0/1 mask, as a product: NaN or inf in g stays NaN where masked.
        out[i] = g[i] * (1 if ans[i] > 0 else 0)
