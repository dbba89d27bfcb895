"""The memory budget: how many bytes one allocation plan may need before gradkit refuses it.

Before a large allocation (a decompressed file, classes x samples, a network's parameters and
activations) gradkit computes what it will need and compares it with this budget, so that a
compression bomb or `--hidden 100000000` is refused in one line at once, instead of ending
minutes later in a MemoryError (or the kernel's OOM killer) with a partial run folder.

The budget is 80% of the machine's memory (or of the cgroup limit, in a container), read
once. `GRADKIT_MEMORY_LIMIT` (bytes, or with a suffix: 512M, 16G, 2T) sets it instead, for a
machine with swap or a deliberate large run; it is read here and nowhere else.
"""

from __future__ import annotations

import os

from gradkit.errors import DataError

ENV = "GRADKIT_MEMORY_LIMIT"
FRACTION = 0.8
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _physical() -> int | None:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
    return total


def parse_size(text: str) -> int:
    """Bytes from "123", "512M", "16G" (powers of 1024); DataError naming the variable."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = value[-1:] if value[-1:] in _SUFFIXES and value[-1:] else ""
    number = value[: len(value) - len(suffix)]
    try:
        size = float(number) * _SUFFIXES[suffix]
    except ValueError:
        size = -1.0
    if not size > 0 or size != size or size == float("inf"):
        raise DataError(f"{ENV} must be a size in bytes like 8G or 512M, got {text!r}")
    return int(size)


def limit() -> int:
    """The budget in bytes (read afresh each call: cheap, and tests can set the variable)."""
    if os.environ.get(ENV):
        return parse_size(os.environ[ENV])
    total = _physical()
    return int(total * FRACTION) if total else 1 << 40


def human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"     # not reached


def check(needed: float, what: str, *, error=DataError) -> None:
    """Refuse `needed` bytes for `what` when over the budget, in one line naming both."""
    budget = limit()
    if needed > budget:
        source = f"set by {ENV}" if os.environ.get(ENV) else "80% of this machine's memory"
        raise error(f"{what} needs about {human(needed)}, more than the memory budget of "
                    f"{human(budget)} ({source}; set {ENV}, e.g. {ENV}=64G, to allow more)")
