"""Helpers shared by the loaders: error locations, the pyarrow gate, float32 conversion."""

from __future__ import annotations

import os
import re
import stat

import numpy as np

from gradkit.errors import DataError

# CVE-2023-47248: pyarrow 0.14.0 to 14.0.0 deserialize arbitrary Python objects from the
# extension-type metadata of IPC and Parquet files, so reading an untrusted file could run code.
MIN_PYARROW = (14, 0, 1)

# Every row number in a message is 1-based and counts data rows only, so the header line of a
# CSV file is not row 1; the note travels with each number so nobody has to guess.
ROW_NOTE = "1-based, header not counted"


def locate(path, *, column=None, row=None, header=True) -> str:
    """Format "FILE, column 'C', data row R (1-based ...)" for the start of an error message.

    Args:
        path: the file (or data set name) the value came from.
        column: the column name, or None when the problem is not in one column.
        row: 0-based index of the data row; it is printed 1-based.
        header: whether the file has a header line (CSV); changes only the note.
    """
    parts = [str(path)]
    if column is not None:
        parts.append(f"column {column!r}")
    if row is not None:
        note = ROW_NOTE if header else "1-based"
        parts.append(f"data row {int(row) + 1} ({note})")
    return ", ".join(parts)


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def require_regular_file(path) -> None:
    """Refuse anything but a regular file, before it is opened.

    Opening a FIFO blocks until a writer comes, and /dev/zero or /dev/urandom behind a data
    file's name never end: reading either hung gradkit (deaf to Ctrl-C inside the CSV parser).
    A symbolic link is followed, so a link to a regular file is fine.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path}: is a folder; expected a file here")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        raise DataError(f"{path}: is {kind}, not a regular file; gradkit reads data only "
                        "from regular files (save the data to a file first)")


def short(value, limit: int = 40) -> str:
    """repr() of a value, cut to `limit` characters so one hostile cell cannot flood a message."""
    if isinstance(value, np.generic):
        value = value.item()  # 'abc', not np.str_('abc')
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def version_tuple(version: str) -> tuple[int, int, int]:
    """Parse the leading "MAJOR.MINOR.PATCH" of a version string; missing parts count as 0."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if match is None:
        return (0, 0, 0)
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def require_pyarrow():
    """Import pyarrow, refusing versions older than 14.0.1 (CVE-2023-47248).

    Called inside the CSV and Parquet readers, never at import time, so that `import gradkit.data`
    stays cheap. Returns the pyarrow module.
    """
    try:
        import pyarrow
    except ImportError as exc:
        raise DataError(
            "reading CSV or Parquet files needs pyarrow >= 14.0.1, which is not installed; "
            "install it with: pip install 'pyarrow>=14.0.1'") from exc
    found = version_tuple(pyarrow.__version__)
    if found < MIN_PYARROW:
        raise DataError(
            f"pyarrow {pyarrow.__version__} is installed, but gradkit needs pyarrow >= 14.0.1: "
            "older versions can run code hidden in a Parquet or Arrow file (CVE-2023-47248); "
            "upgrade with: pip install 'pyarrow>=14.0.1'")
    import pyarrow.compute  # noqa: F401  (not loaded by `import pyarrow` alone)
    return pyarrow


def finite_float32(values: np.ndarray, *, where) -> np.ndarray:
    """Convert a numeric array to float32, refusing NaN, infinity and values float32 cannot hold.

    `where(index_tuple)` returns the location prefix for an error at that index of `values`.
    """
    if values.dtype.kind in "biu":
        # Integers up to 2**127 fit float32's range, so no value can become infinite here.
        return values.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(np.float32)
    finite = np.isfinite(out)
    if finite.all():
        return out
    index = tuple(int(i) for i in np.argwhere(~finite)[0])
    original = values[index]
    if np.isfinite(original):
        problem = f"value {short(original)} is too large for float32 (largest is about 3.4e38)"
    else:
        problem = f"value {short(original)} is NaN or infinite; clean the data or drop that row"
    raise DataError(f"{where(index)}: {problem}")
