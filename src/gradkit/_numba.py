"""numba, loaded lazily, for the few loops that NumPy runs as several passes over memory.

Each kernel module hands `lazy` a function that imports numba and compiles its kernels; the
kernels are built on first use and stay False where numba is missing, so that the callers keep
their NumPy path. `import gradkit` never imports numba.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def lazy(compile_kernels):
    """A function returning compile_kernels()'s result, built once, or False without numba."""

    @functools.cache
    def kernels():
        try:
            return compile_kernels()
        except ImportError:
            return False

    return kernels


def loaded():
    """Whether numba is imported already (by another kernel or by the user)."""
    return "numba" in sys.modules


def contiguous_floats(*arrays):
    """Whether the arrays are C-contiguous and of one float type, float32 or float64: what the
    kernels loop over as flat memory (and what `_blaspool` hands its threads as addresses)."""
    dtype = arrays[0].dtype
    return dtype in _FLOATS and all(a.dtype == dtype and a.flags.c_contiguous for a in arrays)
