"""A cap on BLAS threads while the practice tools train their many small networks.

The matrix products of these networks are small: a threaded BLAS only adds synchronization,
and when several trials or ensemble members run at once, every process starting a thread per
core oversubscribes the machine and its OpenBLAS threads spin against each other.
threadpoolctl (a scikit-learn dependency) sets the cap for the duration of a block; without it
nothing changes.
"""

from __future__ import annotations

import contextlib
import functools


@contextlib.contextmanager
def blas_limit(threads):
    """Run the block with at most `threads` BLAS threads (None: leave the pools as they are)."""
    if not threads:
        yield
        return
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=threads, user_api="blas"):
        yield


@functools.lru_cache(maxsize=None)
def _controller():
    """One threadpoolctl controller per process: finding the loaded BLAS libraries takes ~2 ms,
    as long as a small scikit-learn fit, and the libraries do not change."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()
