"""Atomic file writes: a temporary file in the target's directory, fsync, `os.replace`.

A crash never leaves a half-written file: readers see the old content or the new, whole. Every
file gradkit writes goes through here. Standard library only; every layer may import it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

__all__ = [
    "atomic_open",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_directory",
    "remove_stale_temps",
]

# A temporary file's name: the target's name, the writing process's id (so that a temp left by
# a process killed mid-write can be told from one still being written) and a random token.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.(?P<pid>[0-9]+)\.[0-9a-f]{12}\.tmp\Z")

T = TypeVar("T")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on a clean exit it replaces ``path`` atomically.

    The data is flushed and fsynced, ``os.replace`` moves it onto ``path`` and the directory is
    fsynced, so a crash leaves either the old file or the new one, never half of one. On any
    exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: the file to write.
        mode: ``"wb"`` (default) or ``"w"`` for text.
        encoding: text encoding, text mode only (default ``"utf-8"``).
        newline: as for ``open``, text mode only.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got mode={mode!r}")
    target = os.fspath(path)
    _refuse_special(target)
    directory = os.path.dirname(os.path.abspath(target))
    tmp, fd = _create_temp(directory, os.path.basename(target))
    try:
        text_args = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **text_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _copy_mode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def atomic_write(
    path: str | os.PathLike, write_fn: Callable[[IO[Any]], T], *, mode: str = "wb"
) -> T:
    """Call ``write_fn(f)`` on a temporary file that atomically replaces ``path`` if it returns.

    Args:
        path: the file to write.
        write_fn: writes the content to the open file it is given; its result is returned.
        mode: ``"wb"`` (default) or ``"w"`` (UTF-8 text).
    """
    with atomic_open(path, mode) as f:
        return write_fn(f)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Atomically replace ``path`` with ``data``."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Atomically replace ``path`` with ``text``, written as given (no newline translation)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


def _create_temp(directory: str, name: str) -> tuple[str, int]:
    # Not tempfile.mkstemp: that creates mode 0600, while a saved model should get the usual
    # umask-derived permissions, which os.open with 0o666 gives.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file for {name!r} in {directory!r}")


def remove_stale_temps(directory: str | os.PathLike) -> list[str]:
    """Remove the temporary files this module left in ``directory`` when their writer died
    before renaming them (a SIGKILL mid-write); return their names.

    Only regular files named as ``_create_temp`` names them are touched, and only those whose
    writing process no longer exists: a live writer's temp (this process's included) is kept.
    A reused process id keeps a stale temp, which is harmless.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        if _process_exists(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return sorted(removed)


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name == "nt":
        return True               # no safe signal-0 probe on Windows: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True               # another user's process, or an id beyond probing: keep it
    return True


# What a file type is called in the refusal; anything else that is not a regular file is "a
# special file".
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a file of `st_mode` `mode` is called in a refusal ("a FIFO", "a directory")."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _refuse_special(target: str) -> None:
    # The rename would put a regular file where a device, FIFO or socket was: writing to
    # /dev/null as root replaced the machine's /dev/null. Only a regular file (or a symlink to
    # one) or a new name is replaced.
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError:
        return                  # unreadable: the write below reports it with its own error
    if stat.S_ISREG(mode):
        return
    raise FileExistsError(errno.EEXIST,
                          f"is {kind_of(mode)}, not a regular file; refusing to replace it",
                          target)


def _copy_mode(target: str, tmp: str) -> None:
    # Overwriting a file keeps its permissions, as writing in place would.
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return
    os.chmod(tmp, mode)


def fsync_directory(directory: str) -> None:
    # Makes the rename itself durable. Windows cannot open a directory; there the rename is as
    # durable as the file system makes it.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
