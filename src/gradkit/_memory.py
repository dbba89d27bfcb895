"""Keep freed array memory in the process, so the next training step reuses it (glibc only).

A training step allocates its activations and gradients afresh (a 512-row batch of the notes'
784-512-512-10 network: about ten arrays of 1-2 MiB) and frees them when the graph is freed.
glibc's malloc hands arrays of that size back to the kernel as they are freed (they are mapped
on their own, or trimmed from the top of the heap), so every step faulted ~2,200 fresh pages
in: 4 ms of system time a step, a quarter of the step. Raising the two thresholds keeps freed
blocks in the heap for reuse: the faults go to zero (measured with `ru_minflt`) and the peak
memory stays what the step needs, since the same blocks serve every step.

This is a process-wide malloc setting, changed once, when gradkit first trains or predicts,
and left alone if the user set glibc's own variables (MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_) or the C library is not glibc.
"""

from __future__ import annotations

import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above 32 MiB on 64-bit systems; arrays larger than that
# (whole data sets) are still mapped on their own and returned when freed.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20

_applied = None


def reuse_freed_memory():
    """Apply the setting once per process; True if it is in effect."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply():
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):
        return False                        # not glibc (musl, macOS, Windows)
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
