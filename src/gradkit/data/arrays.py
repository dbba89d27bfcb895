"""NumPy files: `.npz` archives with arrays X and y, and `.npy` pairs. Never unpickled.

NPY pair convention: `NAME_X.npy` goes with `NAME_y.npy` next to it, `X.npy` with `y.npy`, and a
folder stands for the `X.npy` / `y.npy` inside it. The y file is optional (data to predict on).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from gradkit import _budget
from gradkit.data._common import finite_float32, require_regular_file, short
from gradkit.data.dataset import TASKS, Dataset
from gradkit.errors import DataError


def _refusal(path, key: str, exc: Exception) -> DataError:
    text = str(exc)
    if "allow_pickle" in text or "pickled" in text:
        return DataError(
            f"{path}: array {key!r} holds pickled Python objects (dtype=object); gradkit never "
            "unpickles data files because that can run code; save plain numeric or string arrays")
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return DataError(f"{path}: cannot read array {key!r} ({first_line})")


def _read_npy(path: Path, key: str) -> np.ndarray:
    require_regular_file(path)
    _check_npy_size(path, key)
    try:
        # allow_pickle=False: an object array raises instead of running its pickle.
        array = np.load(path, allow_pickle=False)
    except _ARCHIVE_ERRORS as exc:     # bytes that start as a zip are opened as an archive
        raise _refusal(path, key, exc) from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path}: expected a .npy array file, got a .npz archive; "
                        "load it as .npz or save X and y with np.save")
    return array


def _npy_header(stream, where):
    """(shape, dtype) from the header of an .npy stream, read without the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = reader(stream)
    except Exception as exc:  # noqa: BLE001 - numpy parses the header with Python's
        # tokenizer and ast: hostile bytes raise ValueError, SyntaxError, tokenize.TokenError,
        # UnicodeDecodeError, ... and every one of them means the same: not a valid header.
        text = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise DataError(f"{where}: not a valid .npy array ({text})") from None
    return shape, dtype


def _claimed_bytes(shape, dtype) -> int:
    return math.prod(shape) * dtype.itemsize


def _check_array_plan(path, planned) -> None:
    """Refuse arrays whose headers claim more memory than the budget (with the float32
    features made from them), before any of their bytes is read."""
    needed = sum(_claimed_bytes(shape, dtype) + 4 * math.prod(shape)
                 for shape, dtype in planned.values())
    if needed > _budget.limit():
        shown = ", ".join(f"{key} {shape} {dtype}" for key, (shape, dtype) in planned.items())
        _budget.check(needed, f"{path}: reading the arrays ({shown})")


def _check_npy_size(path: Path, key: str) -> None:
    """The header of an .npy file must claim no more bytes than the file holds."""
    with open(path, "rb") as stream:
        if stream.read(6) != b"\x93NUMPY":
            return          # not .npy at all (a pickle?): np.load says what it is
        stream.seek(0)
        shape, dtype = _npy_header(stream, f"{path}: array {key!r}")
        if dtype.hasobject:
            return          # np.load refuses it without unpickling, with its own message
        held = os.fstat(stream.fileno()).st_size - stream.tell()
    claimed = _claimed_bytes(shape, dtype)
    if claimed > held:
        raise DataError(f"{path}: cannot read array {key!r} (its header claims shape {shape} "
                        f"of {dtype}, {claimed:,} bytes, but the file holds {held:,} bytes of "
                        "data; is it truncated?)")
    _check_array_plan(path, {key: (shape, dtype)})


# What a damaged .npz raises from zipfile, zlib and NumPy's header parser: zipfile raises
# NotImplementedError for a member "needing" a newer zip version or an unknown compression,
# and RuntimeError for an encrypted member.
_ARCHIVE_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
                   NotImplementedError, RuntimeError)


def _check_npz_members(path: Path, archive, keys) -> None:
    """Each member's header against the size the archive records for it, then the total
    against the memory budget, before any member is decompressed (a compression bomb)."""
    planned = {}
    for key in keys:
        member = key + ".npy"
        try:
            info = archive.zip.getinfo(member)
            with archive.zip.open(member) as stream:
                shape, dtype = _npy_header(stream, f"{path}: array {key!r}")
                header_size = stream.tell()
        except (KeyError, *_ARCHIVE_ERRORS) as exc:
            raise _refusal(path, key, exc) from None
        if dtype.hasobject:
            continue
        claimed = _claimed_bytes(shape, dtype)
        if claimed > info.file_size - header_size:
            raise DataError(f"{path}: cannot read array {key!r} (its header claims shape "
                            f"{shape} of {dtype}, {claimed:,} bytes, but the archive records "
                            f"{max(info.file_size - header_size, 0):,} bytes for it)")
        planned[key] = (shape, dtype)
    _check_array_plan(path, planned)


def default_feature_names(shape: tuple[int, ...], prefix: str = "x") -> list[str]:
    """"x0", "x1", ... for 1-D samples; "pixel_R_C" (row, column) for images."""
    if len(shape) == 1:
        return [f"{prefix}{j}" for j in range(shape[0])]
    return ["pixel_" + "_".join(map(str, index)) for index in np.ndindex(*shape)]


def _features(X: np.ndarray, source, key: str) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DataError(f"{source}: array {key!r} has dtype {X.dtype}; expected numbers")
    if X.ndim < 2:
        raise DataError(f"{source}: array {key!r} has shape {X.shape}; expected "
                        "(n_samples, n_features, ...); use X.reshape(-1, 1) for one feature")
    if len(X) == 0 or math.prod(X.shape[1:]) == 0:
        raise DataError(f"{source}: array {key!r} has shape {X.shape}; it holds no values")

    def where(index):
        position = ", ".join(map(str, index))
        return f"{source}: array {key!r}, row {index[0] + 1} (1-based; {key}[{position}])"

    return finite_float32(X, where=where)


def _as_text(values: np.ndarray, source, key: str) -> np.ndarray:
    """A string array from str or bytes values; bytes are read as UTF-8 (ASCII included), and
    a value that is not UTF-8 is refused with its row, not a UnicodeDecodeError."""
    if values.dtype.kind != "S":
        return values.astype(str)
    flat = values.reshape(-1)
    for row, raw in enumerate(flat.tolist()):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{source}: array {key!r}, row {row + 1} (1-based): {raw[:40]!r} "
                            f"is not UTF-8 text (byte {exc.start} is "
                            f"{raw[exc.start:exc.start + 1]!r})") from None
    return np.char.decode(values, "utf-8")


def _labels(y: np.ndarray, source, key: str, class_names, task):
    """(y, class_names, task) from a label array."""
    if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "biuUS":
        y = y[:, 0]
    if y.dtype.kind not in "biufUS" or y.ndim not in (1, 2):
        raise DataError(f"{source}: array {key!r} has dtype {y.dtype} and shape {y.shape}; "
                        "expected labels (n,) or targets (n,) / (n, k) of numbers")
    if task is None:
        binary = y.dtype.kind in "biu" and np.isin(y, (0, 1)).all()
        if y.ndim == 2:
            task = "multilabel" if binary else "regression"
        else:
            task = "regression" if y.dtype.kind == "f" else "classification"
    if task == "regression" or task == "multilabel":
        if y.dtype.kind not in "biuf":
            raise DataError(f"{source}: array {key!r} has dtype {y.dtype}; task={task!r} "
                            "needs numeric targets")
        values = finite_float32(y, where=lambda i: f"{source}: array {key!r}, row {i[0] + 1} "
                                                   "(1-based)")
        if task == "regression":
            return values, None, task
        if values.ndim != 2 or not np.isin(values, (0, 1)).all():
            raise DataError(f"{source}: array {key!r}: multilabel targets must be a 2-D array "
                            "of 0/1 values")
        names = list(class_names) if class_names is not None else \
            [f"label{j}" for j in range(values.shape[1])]
        return values, names, task
    if y.ndim != 1:
        raise DataError(f"{source}: array {key!r} has shape {y.shape}; class labels must be 1-D")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            row = int(np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0])
            raise DataError(f"{source}: array {key!r}, row {row + 1} (1-based): {short(y[row])} is "
                            "not a class label; use task='regression' for real-valued targets")
        y = y.astype(np.int64)
    if class_names is not None:
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(class_names):
            got = f"values {short(y.min())} to {short(y.max())}" if y.dtype.kind in "iu" \
                else f"{y.dtype} labels"
            raise DataError(f"{source}: array {key!r} must hold class indices 0 to "
                            f"{len(class_names) - 1} to match class_names, got {got}")
        return y.astype(np.int64), [str(name) for name in class_names], task
    labels, indices = np.unique(_as_text(y, source, key) if y.dtype.kind in "US" else y,
                                return_inverse=True)
    names = [str(label) for label in labels.tolist()]
    return indices.reshape(-1).astype(np.int64), names, task


def arrays_to_dataset(X, y, *, source, feature_names=None, class_names=None, task=None,
                      keys=("X", "y")) -> Dataset:
    """Check and convert in-memory arrays to a Dataset.

    Integer or string labels become class indices into sorted `class_names` (the label values as
    text), unless `class_names` is given, in which case y must already hold indices. Float y means
    regression; a 2-D 0/1 integer y means multilabel. With y None, task is "regression"
    (unlabeled data; `encode_like` gives it the training task).
    """
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)} or None, got task={task!r}")
    X = np.asarray(X)
    features = _features(X, source, keys[0])
    names = list(feature_names) if feature_names is not None else \
        default_feature_names(X.shape[1:])
    if len(names) != math.prod(X.shape[1:]):
        raise DataError(f"{source}: {len(names)} feature names for "
                        f"{math.prod(X.shape[1:])} features")
    if y is None:
        return Dataset(X=features, y=None, feature_names=names, class_names=None,
                       task=task or "regression", source=str(source))
    y = np.asarray(y)
    if y.ndim == 0:
        raise DataError(f"{source}: array {keys[1]!r} is a single value ({short(y.item())}), "
                        f"not one label per row: expected shape ({len(X)},) to match "
                        f"{keys[0]}")
    if len(y) != len(X):
        raise DataError(f"{source}: {keys[0]} has {len(X)} rows but {keys[1]} has {len(y)}; "
                        "they must match")
    labels, classes, task = _labels(y, source, keys[1], class_names, task)
    return Dataset(X=features, y=labels, feature_names=names, class_names=classes, task=task,
                   source=str(source))


def load_npz(path, *, task: str | None = None) -> Dataset:
    """Load a `.npz` archive with array `X` and optional `y`, `feature_names`, `class_names`.

    Loaded with allow_pickle=False: object arrays are refused with a DataError, never unpickled.
    """
    path = Path(path)
    require_regular_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except _ARCHIVE_ERRORS as exc:
        raise _refusal(path, "X", exc) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: expected a .npz archive (np.savez), got a single array")
    with archive:
        if "X" not in archive.files:
            # repr: a member's name is the file's bytes, and may hold a newline.
            found = ", ".join(map(repr, archive.files[:20])) or "nothing"
            raise DataError(f"{path}: no array named 'X' (found: {found}); expected X and "
                            "optionally y, feature_names, class_names")
        _check_npz_members(path, archive, [key for key in ("X", "y", "feature_names",
                                                           "class_names")
                                           if key in archive.files])
        arrays = {}
        for key in ("X", "y", "feature_names", "class_names"):
            if key in archive.files:
                try:
                    arrays[key] = archive[key]
                except _ARCHIVE_ERRORS as exc:
                    raise _refusal(path, key, exc) from None
    for key in ("feature_names", "class_names"):
        if key in arrays and (arrays[key].dtype.kind not in "US" or arrays[key].ndim != 1):
            raise DataError(f"{path}: array {key!r} must be a 1-D array of strings, "
                            f"got dtype {arrays[key].dtype} shape {arrays[key].shape}")
        if key in arrays:
            arrays[key] = _as_text(arrays[key], path, key).tolist()
    return arrays_to_dataset(arrays["X"], arrays.get("y"), source=path, task=task,
                             feature_names=arrays.get("feature_names"),
                             class_names=arrays.get("class_names"))


def npy_pair(path) -> tuple[Path, Path | None]:
    """The (X file, y file or None) that `path` stands for, by the pair convention above."""
    path = Path(path)
    if path.is_dir():
        x_path, y_path = path / "X.npy", path / "y.npy"
        if not x_path.is_file():
            raise DataError(f"{path}: folder has no X.npy; expected X.npy and optionally y.npy")
    elif path.name == "X.npy":
        x_path, y_path = path, path.with_name("y.npy")
    elif path.name.endswith("_X.npy"):
        x_path, y_path = path, path.with_name(path.name[: -len("X.npy")] + "y.npy")
    elif path.name == "y.npy" or path.name.endswith("_y.npy"):
        raise DataError(f"{path}: this is a labels file; pass the features file "
                        f"({path.name[: -len('y.npy')]}X.npy) instead")
    else:
        raise DataError(f"{path}: cannot tell features from labels; name the pair NAME_X.npy and "
                        "NAME_y.npy (or X.npy and y.npy), or save both in one .npz with np.savez")
    return x_path, (y_path if y_path.is_file() else None)


def load_npy(path, *, task: str | None = None) -> Dataset:
    """Load an NPY pair (see the module docstring); allow_pickle=False throughout."""
    x_path, y_path = npy_pair(path)
    X = _read_npy(x_path, "X")
    y = None if y_path is None else _read_npy(y_path, "y")
    return arrays_to_dataset(X, y, source=x_path, task=task)
