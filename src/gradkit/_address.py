"""numba helpers for kernels that receive their arrays as int64 addresses (`_blaspool`'s
tasks): `array(address, n, dtype)` is the n-element 1-D array of dtype at that address, and
`part(n, k, t)` is the range of items that task t of k takes.

numba has no cast from an integer to a pointer, so `pointer` is an LLVM `inttoptr`. The
module imports numba, so only the kernel modules' compile functions import it; as top-level
functions these are found in numba's cache by later processes (closures were not).
"""

from __future__ import annotations

import numba
from numba import types
from numba.extending import intrinsic


@intrinsic
def pointer(typingctx, address):
    """An int64 address as a void pointer."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return types.voidptr(types.int64), codegen


@numba.njit(cache=True, nogil=True)
def array(address, n, dtype):
    return numba.carray(pointer(address), (n,), dtype)


ALIGN = 16      # parts start on multiples of 16 items (64 bytes of float32): no shared cache line


@numba.njit(cache=True, nogil=True)
def part(n, k, t):
    """[lo, hi) of part t when range(n) is cut into k contiguous parts starting on ALIGN
    multiples (the last parts may be empty)."""
    per = -(-n // k)
    per = -(-per // ALIGN) * ALIGN
    return min(n, t * per), min(n, (t + 1) * per)
