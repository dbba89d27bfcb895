"""The numba loops behind `kernels` (imported only by its lazy compile): module-level
functions, so that numba's cache finds them in later processes, which closures defeated."""

from __future__ import annotations

import numba
import numpy as np

from gradkit._address import array, part
from gradkit._blaspool import ROW

# error_model="numpy": no Python zero-division checks, so LLVM vectorizes the loops.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_task = numba.cfunc(numba.types.void(numba.types.voidptr), cache=True, nogil=True,
                    error_model="numpy")


@_jit
def bias_relu(out, b):
    n, m = out.shape
    for i in range(n):
        row = out[i]
        for j in range(m):
            v = row[j] + b[j]
            # np.maximum(v, 0): v when v > 0 or NaN, else +0.0 (so -0.0 becomes +0.0).
            row[j] = v if (v > 0 or v != v) else 0


@_jit
def relu_grad(g, ans, out):
    for i in range(g.shape[0]):
        # g times the 0/1 mask, as a product: NaN or inf in g stays NaN where masked.
        out[i] = g[i] * (1 if ans[i] > 0 else 0)


# The same loops as tasks for OpenBLAS's threads (gradkit._blaspool), one block of rows (or
# of elements) each. A row's slots: the arrays' addresses, the part [lo, hi), then for
# bias_relu the row length; the item size last.

@_jit
def _bias_relu_part(row, dtype):
    lo, hi, m = row[2], row[3], row[4]
    at = lo * m * row[5]
    bias_relu(array(row[0] + at, (hi - lo) * m, dtype).reshape((hi - lo, m)),
              array(row[1], m, dtype))


@_task
def _bias_relu_task(block):
    row = numba.carray(block, (ROW,), np.int64)
    if row[5] == 4:
        _bias_relu_part(row, np.float32)
    else:
        _bias_relu_part(row, np.float64)


@_jit
def _bias_relu_prepare(blocks, n, out, b):
    for t in range(blocks.shape[0]):
        row = blocks[t]
        row[0], row[1] = out.ctypes.data, b.ctypes.data
        row[2], row[3] = part(n, blocks.shape[0], t)
        row[4], row[5] = b.shape[0], b.itemsize
    return blocks.ctypes.data


@_jit
def _relu_grad_part(row, dtype):
    lo, n = row[3], row[4] - row[3]
    at = lo * row[5]
    relu_grad(array(row[0] + at, n, dtype), array(row[1] + at, n, dtype),
              array(row[2] + at, n, dtype))


@_task
def _relu_grad_task(block):
    row = numba.carray(block, (ROW,), np.int64)
    if row[5] == 4:
        _relu_grad_part(row, np.float32)
    else:
        _relu_grad_part(row, np.float64)


@_jit
def _relu_grad_prepare(blocks, n, g, ans, out):
    for t in range(blocks.shape[0]):
        row = blocks[t]
        row[0], row[1], row[2] = g.ctypes.data, ans.ctypes.data, out.ctypes.data
        row[3], row[4] = part(n, blocks.shape[0], t)
        row[5] = g.itemsize
    return blocks.ctypes.data


# (task address, prepare) pairs for gradkit._blaspool.split
bias_relu_split = (_bias_relu_task.address, _bias_relu_prepare)
relu_grad_split = (_relu_grad_task.address, _relu_grad_prepare)
