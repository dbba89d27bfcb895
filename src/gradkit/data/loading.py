"""`load(source)`: one entry point for files and built-in names; `encode_like` for new data.

Dispatch: an existing path is read by its kind (.csv/.tsv/.txt, optionally .gz: CSV;
.parquet/.pq: Parquet; .npz; .npy pairs; a folder of IDX files or of X.npy/y.npy); otherwise
the source must be a built-in name (see `list_datasets`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gradkit.data._common import require_regular_file, short
from gradkit.data.arrays import load_npy, load_npz
from gradkit.data.builtin import builtin_names, canonical_name, load_builtin
from gradkit.data.csvfile import read_csv_table
from gradkit.data.dataset import TASKS, Dataset
from gradkit.data.idx import SPLITS, find_idx_file, held_out_split, load_idx
from gradkit.data.parquetfile import read_parquet_table
from gradkit.data.tabular import build_dataset, encode_table, lookup
from gradkit.errors import DataError

_SUFFIX_KINDS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet",
                 ".pq": "parquet", ".npz": "npz", ".npy": "npy"}
_SCHEMA_KEYS = ("task", "feature_names", "feature_shape", "class_names", "categories", "columns",
                "target")


def file_kind(path: Path) -> str:
    """"csv", "parquet", "npz", "npy" or "idx" for an existing path; DataError otherwise."""
    if path.is_dir():
        if any(find_idx_file(path, stem) for stems in SPLITS.values() for stem in stems):
            return "idx"
        if (path / "X.npy").is_file():
            return "npy"
        raise DataError(f"{path}: folder holds neither IDX files (train-images-idx3-ubyte...) "
                        "nor X.npy / y.npy")
    require_regular_file(path)
    name = path.name.lower()
    if "-ubyte" in name:
        raise DataError(f"{path}: an IDX file; pass the folder that holds the images and "
                        "labels files instead")
    stem = name[:-3] if name.endswith(".gz") else name
    kind = _SUFFIX_KINDS.get(Path(stem).suffix)
    if kind is None or (kind != "csv" and stem != name):
        raise DataError(f"{path}: unknown file type; expected .csv, .tsv, .parquet, .npz, "
                        ".npy (X/y pair) or a folder of IDX files")
    return kind


def read_table(path: Path, kind: str):
    """A CsvTable or ParquetTable for `path`."""
    if kind == "csv":
        return read_csv_table(path)

    return read_parquet_table(path)


def load_csv(path, *, target=None, task=None, max_categories: int = 1000) -> Dataset:
    """Load a CSV file with a header line; see `gradkit.data.tabular.build_dataset`."""
    return build_dataset(read_csv_table(path), target=target, task=task,
                         max_categories=max_categories)


def load_parquet(path, *, target=None, task=None, max_categories: int = 1000) -> Dataset:
    """Load a Parquet file; same column handling as `load_csv`."""
    return build_dataset(read_parquet_table(path), target=target, task=task,
                         max_categories=max_categories)


def _refuse(source, kind: str, **given) -> None:
    unexpected = [f"{key}={value!r}" for key, value in given.items() if value is not None]
    if unexpected:
        raise DataError(f"{source}: {', '.join(unexpected)} does not apply to {kind} data")


def load(source, *, target=None, task: str | None = None, split: str | None = None,
         cache_dir=None, max_categories: int = 1000, **options) -> Dataset:
    """Load a file or a built-in data set as a `Dataset`.

    Args:
        source: a path (CSV, Parquet, NPZ, NPY pair, IDX folder) or a built-in name
            ("digits", "iris", "xor", "fashion-mnist", ...). An existing path wins over a name.
        target: CSV/Parquet only: the target column (name, index, or list); default the last.
        task: None to infer, or "classification" / "regression" / "multilabel" (tables, arrays).
        split: IDX folders and mnist / fashion-mnist: "train" (default) or "test".
        cache_dir: where fetched data sets live (default `$GRADKIT_HOME` or ~/.cache/gradkit).
        max_categories: tables: refuse text columns with more distinct values than this.
        **options: synthetic sets only: n_samples, noise, seed, ...

    Raises:
        DataError: one line naming the file, column and row of the first problem.
    """
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)} or None, got task={task!r}")
    path = Path(source)
    if not path.exists():
        if canonical_name(source) is None:
            raise DataError(f"{source}: no such file, and not a built-in data set "
                            f"({', '.join(builtin_names())})")
        _refuse(source, "built-in", target=target, task=task)
        return load_builtin(source, split=split, cache_dir=cache_dir, **options)
    kind = file_kind(path)
    _refuse(source, kind, **options)
    if kind in ("csv", "parquet"):
        _refuse(source, kind, split=split)
        loader = load_csv if kind == "csv" else load_parquet
        return loader(path, target=target, task=task, max_categories=max_categories)
    _refuse(source, kind, target=target)
    if kind == "idx":
        _refuse(source, kind, task=task if task != "classification" else None)
        return load_idx(path, split=split or "train")
    _refuse(source, kind, split=split)
    return (load_npz if kind == "npz" else load_npy)(path, task=task)


def _schema(like) -> dict:
    if isinstance(like, Dataset):
        return like.schema()
    if not isinstance(like, dict) or any(key not in like for key in _SCHEMA_KEYS):
        missing = [key for key in _SCHEMA_KEYS if not isinstance(like, dict) or key not in like]
        raise DataError("like must be a Dataset or the dict from Dataset.schema(); "
                        f"missing keys: {', '.join(missing)}")
    return like


def encode_like(source, like, *, require_target: bool = False) -> Dataset:
    """Load `source` (a file to predict on or evaluate) encoded exactly like the training data.

    Tables must have the training columns (any order; the target column optional), numeric
    columns stay numeric, text values must be among the recorded categories, and labels among the
    training class names (mapped to the same indices). Arrays must have the training sample shape.

    Args:
        source: a path or built-in name, as for `load`.
        like: the training Dataset, or its `schema()` (as stored in a model file).
        require_target: raise if the target is missing (for evaluation).

    An IDX folder gives its test split (the t10k files) where it has one, else its train split.
    """
    schema = _schema(like)
    if schema["columns"] is not None:
        path = Path(source)
        if not path.exists():
            raise DataError(f"{source}: no such file")
        kind = file_kind(path)
        if kind not in ("csv", "parquet"):
            raise DataError(f"{source}: the training data was a table (CSV or Parquet); expected "
                            "a .csv or .parquet file with the same columns")
        return encode_table(read_table(path, kind), schema, require_target=require_target)
    path = Path(source)
    kind = file_kind(path) if path.exists() else None
    # Arrays carry no schema of their own: read their labels the way the training task needs.
    # An IDX folder is read for its test files (t10k-*) where it has them: the data a model
    # is evaluated on is not the data it was trained on.
    new = load(source, task=schema["task"] if kind in ("npz", "npy") else None,
               split=held_out_split(path) if kind == "idx" else None)
    if list(new.X.shape[1:]) != list(schema["feature_shape"]):
        raise DataError(f"{source}: samples have shape {tuple(new.X.shape[1:])}, but the training "
                        f"data had {tuple(schema['feature_shape'])}")
    if new.y is None and require_target:
        raise DataError(f"{source}: no targets (y); they are needed to compare predictions")
    y = new.y
    if y is not None and schema["task"] == "classification":
        if new.class_names is None:
            raise DataError(f"{source}: targets are real numbers, but the training data had "
                            "class labels")
        labels = np.asarray(new.class_names, dtype=str)[new.y]
        y, unseen = lookup(labels, schema["class_names"])
        if unseen is not None:
            raise DataError(f"{source}: row {unseen + 1} (1-based): class {short(labels[unseen])} "
                            f"was not seen in training (known: "
                            f"{', '.join(schema['class_names'][:12])})")
    return Dataset(X=new.X, y=y, feature_names=list(schema["feature_names"]),
                   class_names=schema["class_names"], task=schema["task"], source=new.source)
