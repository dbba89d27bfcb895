"""A run folder belongs to one run: a lock keeps a second process out, a fingerprint of the
settings and the data ties its checkpoints to the run that wrote them.

Without these, training run B into run A's folder left A's checkpoints there for a later
`--resume` to continue from, and two processes training into one folder deleted each other's
checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil

from gradkit._atomic import remove_stale_temps
from gradkit.errors import ConfigError
from gradkit.train.checkpoint import list_checkpoints, load_latest

LOCK_NAME = ".gradkit.lock"
# What `train_run` and `train_ensemble` write; `--overwrite` removes these and nothing else.
# A folder holding either is used, so a run and an ensemble never share one.
RUN_FILES = ("model.safetensors", "config.json", "metrics.json", "history.csv",
             "learning_curves.png", "confusion_matrix.png", "ensemble.json")
# What marks a search folder (`gradkit search --out`): a run trained into it would mix its
# files with the study's, so neither --resume nor --overwrite makes it a run's.
SEARCH_FILES = ("study.journal", "best.json")
MEMBER = re.compile(r"member_\d+\.safetensors\Z")
CHECKPOINTS = "checkpoints"

# Settings that may change between a run and its resume: more epochs continue the same run
# (unless the learning-rate schedule is stretched over the total), checkpoint_every only
# decides how often the same run is saved, and the data path is checked by content instead.
_FREE = ("epochs", "checkpoint_every", "data")
_SCHEDULES_OF_STEPS = ("constant", "inverse_sqrt")


def fingerprint_settings(config) -> dict:
    """The settings that decide the weights: all but those a resume may change."""
    free = _FREE if config.schedule in _SCHEDULES_OF_STEPS else \
        tuple(k for k in _FREE if k != "epochs")
    return {k: v for k, v in config.to_dict().items() if k not in free}


def fingerprint(config, train) -> dict:
    """{"settings": the settings that decide the weights, "data": SHA-256 of the training split}."""
    settings = fingerprint_settings(config)
    digest = hashlib.sha256()
    for array in (train.X, train.y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array.reshape(-1)).cast("B") if array.flags.c_contiguous
                      else array.tobytes())
    digest.update(repr((train.feature_names, train.class_names)).encode())
    return {"settings": settings, "data": digest.hexdigest()}


def stream_fingerprint(config, stream) -> dict:
    """`fingerprint` of a streamed run. Its data are never whole in memory, so the digest is of
    what identifies the files instead of their bytes: each file's name, size and modification
    time, and the schema read from them (columns, classes, categories)."""
    settings = fingerprint_settings(config)
    files = [[name, size, os.stat(path).st_mtime_ns] for (name, size), path
             in zip(stream.files.fingerprint, stream.files.paths, strict=True)]
    digest = hashlib.sha256(json.dumps([files, stream.schema], sort_keys=True).encode())
    return {"settings": settings, "data": digest.hexdigest()}


def difference(saved, current) -> str | None:
    """What differs between two fingerprints, in words, or None when they match."""
    if not isinstance(saved, dict):
        return "the checkpoints carry no run fingerprint (written by another program or version)"
    parts = []
    old, new = saved.get("settings") or {}, current["settings"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    if saved.get("data") != current["data"]:
        parts.append("the training data differs (SHA-256 "
                     f"{str(saved.get('data'))[:12]} -> {current['data'][:12]})")
    return "; ".join(parts) or None


def used_by(out) -> list[str]:
    """The run files already in `out` (empty when the folder is new or empty of runs)."""
    found = [name for name in RUN_FILES if os.path.exists(os.path.join(out, name))]
    found += _members(out)
    ckpt = os.path.join(out, CHECKPOINTS)
    if os.path.isdir(ckpt) and os.listdir(ckpt):
        found.append(CHECKPOINTS + "/")
    return found


def _members(out) -> list[str]:
    """The ensemble members' model files in `out`."""
    try:
        return sorted(name for name in os.listdir(out) if MEMBER.match(name))
    except (FileNotFoundError, NotADirectoryError):
        return []


def clear(out) -> None:
    """Remove the files of the run in `out` (the lock is held), leaving any other file."""
    for name in (*RUN_FILES, *_members(out)):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out, name))
    shutil.rmtree(os.path.join(out, CHECKPOINTS), ignore_errors=True)


def in_folder(out, tag, *, resume, overwrite, run):
    """`run(resume_from)` while holding the lock of `out`, once `out` is known to be this
    run's (see `_claim`)."""
    created = not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    lock = FolderLock(out)
    try:
        lock.acquire()
        # The lock keeps other runs out; a temp of the atomic writer whose process is gone is
        # a write that a kill interrupted, and nothing will ever rename it.
        for folder in (out, os.path.join(out, CHECKPOINTS)):
            remove_stale_temps(folder)
        return run(_claim(out, tag, resume=resume, overwrite=overwrite))
    finally:
        lock.release()
        if created and not os.listdir(out):     # a refused run leaves no empty folder behind
            os.rmdir(out)


def _claim(out, tag, *, resume, overwrite):
    """The checkpoint folder to resume from (or None), once `out` is known to be this run's."""
    search = [name for name in SEARCH_FILES if os.path.lexists(os.path.join(out, name))]
    if search:
        raise ConfigError(f"{out}: holds a search ({', '.join(search)}), not a run; choose "
                          "another --out")
    ckpt_dir = os.path.join(out, CHECKPOINTS)
    used = used_by(out)
    if used and overwrite:
        clear(out)
        return None
    if used and not resume:
        # An ensemble keeps no checkpoints: there is nothing to resume.
        ensemble = "ensemble.json" in used or any(MEMBER.match(name) for name in used)
        options = "pass" if ensemble else "pass --resume to continue it,"
        raise ConfigError(f"{out}: already holds a run ({', '.join(used)}); {options} "
                          "--overwrite to replace it, or choose another --out")
    if not resume or not list_checkpoints(ckpt_dir):
        return None
    if tag is None:
        return ckpt_dir
    _, meta = load_latest(ckpt_dir)
    differs = difference(meta.get("tag"), tag)
    if differs:
        raise ConfigError(f"{out}: cannot resume, this is not the run in the folder: {differs}; "
                          "train into another --out, or pass --overwrite to replace it")
    return ckpt_dir


class FolderLock:
    """An exclusive lock on a run folder: `fcntl.flock` on `.gradkit.lock` inside it.

    The kernel drops a flock when its process ends, however it ends (SIGKILL included), so a
    lock file left by a dead process is stale by construction and is simply taken over. The
    file is removed on release; a process that opened it just before then finds the name gone
    (or pointing at a new file) after locking, and tries again.
    """

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.fd = None

    def acquire(self):
        try:
            import fcntl
        except ImportError:       # no flock (Windows): the folder is not locked
            return self
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"process {holder}" if holder else "another process"
                raise ConfigError(f"{self.folder}: run folder is in use by {who} training into "
                                  "it; wait for it to finish or choose another --out") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return self
            os.close(fd)          # released and removed while we locked it: try again
        raise ConfigError(f"{self.folder}: cannot lock the run folder (its lock file keeps "
                          "changing); is another process starting runs into it?")

    def release(self):
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_pid(fd) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
