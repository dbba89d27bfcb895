"""The numba loop behind `kernels.adam` (imported only by its lazy compile): module-level
functions, so that numba's cache finds them in later processes, which closures defeated."""

from __future__ import annotations

import math

import numba
import numpy as np

from gradkit._address import array, part
from gradkit._blaspool import ROW

# error_model="numpy": no Python zero-division checks, so LLVM vectorizes the loop.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def adam(p, g, m, v, decay, b1, c1, b2, c2, step, eps_hat, tiny, zero, one):
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


# The same loop as a task for OpenBLAS's threads (gradkit._blaspool). A row's slots: the four
# buffers' addresses, the part [lo, hi), the item size and, from slot 8, the ten scalars
# (float64 slots holding values of the buffer's precision, so converting back is exact).

@_jit
def _part(row, dtype):
    lo, n = row[4], row[5] - row[4]
    at = lo * row[6]
    s = row.view(np.float64)[8:18].astype(dtype)
    adam(array(row[0] + at, n, dtype), array(row[1] + at, n, dtype),
         array(row[2] + at, n, dtype), array(row[3] + at, n, dtype),
         s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9])


@numba.cfunc(numba.types.void(numba.types.voidptr), cache=True, nogil=True,
             error_model="numpy")
def _task(block):
    row = numba.carray(block, (ROW,), np.int64)
    if row[6] == 4:
        _part(row, np.float32)
    else:
        _part(row, np.float64)


@_jit
def _prepare(blocks, n, p, g, m, v, scalars):
    for t in range(blocks.shape[0]):
        row = blocks[t]
        row[0], row[1] = p.ctypes.data, g.ctypes.data
        row[2], row[3] = m.ctypes.data, v.ctypes.data
        row[4], row[5] = part(n, blocks.shape[0], t)
        row[6] = p.itemsize
        row.view(np.float64)[8:18] = scalars
    return blocks.ctypes.data


adam_split = (_task.address, _prepare)      # for gradkit._blaspool.split
