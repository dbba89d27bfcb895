"""Elementwise kernels split over the threads of NumPy's own OpenBLAS.

A training step alternates matrix products, which OpenBLAS runs on all cores, with elementwise
passes (Adam, bias + relu, relu's mask), which ran on one. A thread pool of our own does not
help: after each product OpenBLAS's worker spins for about 0.1 s waiting for more work and
keeps the other core, and waking a sleeping Python thread costs 80-110 us in this VM, more
than a pass over a 512 x 512 array. So the passes go to OpenBLAS's worker itself, the thread
that is spinning anyway: OpenBLAS exports `gotoblas_pthread(n, function, args, stride)`, its
GotoBLAS-compatible way to run `function(args + i * stride)` for i < n on its pool (the
calling thread takes i = 0 and then waits for the rest). Handing over one task costs 1-2 us.

Each kernel is a numba `cfunc` taking one row of an int64 `blocks` array (addresses, sizes,
and float64 scalars in the same row). Each thread gets its own contiguous part of the data and
runs the same loop as the single-threaded kernel, so the results are the same bit for bit.

`threads()` is 1, and the kernels run on the calling thread alone, where NumPy's BLAS is not
a pthreads OpenBLAS that exports that function, or when OpenBLAS is limited to one thread (by
OPENBLAS_NUM_THREADS or threadpoolctl, read on every call).
"""

from __future__ import annotations

import functools
import os

import numpy as np  # (also: NumPy's BLAS is loaded before it is looked up)

ROW = 32            # int64 slots per task: addresses and sizes first, float64 scalars after
MAX_THREADS = 8     # tasks per call, at most


def _loaded_openblas_paths():
    """The OpenBLAS libraries this process has loaded (Linux's /proc/self/maps), NumPy's
    first: a wheel's own copy lives in numpy.libs, and SciPy (which numba imports) loads a
    second one, whose pool is not the one that runs NumPy's products."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    paths = set()
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and "openblas" in os.path.basename(fields[5]).lower():
            paths.add(fields[5].strip())
    return sorted(paths, key=lambda path: ("numpy" not in path, path))


def _symbol(lib, *names):
    for name in names:
        try:
            return getattr(lib, name)
        except AttributeError:
            continue
    return None


@functools.cache
def _openblas():
    """(gotoblas_pthread, get_num_threads) of NumPy's OpenBLAS as ctypes functions, or None."""
    import ctypes

    for path in _loaded_openblas_paths():
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)      # only what is loaded already
        except OSError:
            continue
        run = _symbol(lib, "gotoblas_pthread")
        count = _symbol(lib, "scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                        "openblas_get_num_threads")
        parallel = _symbol(lib, "scipy_openblas_get_parallel64_", "openblas_get_parallel64_",
                           "openblas_get_parallel")
        if run is None or count is None or parallel is None:
            continue
        parallel.restype = ctypes.c_int
        parallel.argtypes = []
        if parallel() != 1:           # 0: sequential build, 2: OpenMP (no pthreads pool)
            continue
        # Addresses travel as int64, which is how x86-64 and AArch64 pass pointers.
        run.restype = ctypes.c_int
        run.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int]
        count.restype = ctypes.c_int
        count.argtypes = []
        return run, count
    return None


def threads():
    """How many threads the kernels split over now: OpenBLAS's current count, at most
    MAX_THREADS, and 1 without a pthreads OpenBLAS."""
    lib = _openblas()
    if lib is None:
        return 1
    return max(1, min(MAX_THREADS, lib[1]()))


def run(task, rows, n):
    """Run the cfunc at address `task` on the n rows at address `rows`, row 0 on this thread,
    and return when all are done (ctypes releases the GIL for the call)."""
    _openblas()[0](n, task, rows, ROW * 8)


def split(task, prepare, size, *args):
    """Run the cfunc `task` over `size` items, one contiguous part per thread; prepare(blocks,
    size, *args) fills the rows and returns their address. False (nothing done) with one
    thread."""
    k = threads()
    if k == 1:
        return False
    blocks = np.empty((k, ROW), np.int64)      # held here until the tasks are done
    run(task, prepare(blocks, size, *args), k)
    return True


__all__ = ["MAX_THREADS", "ROW", "run", "split", "threads"]
