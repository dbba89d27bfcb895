"""Tables (CSV, Parquet) -> `Dataset`: pick the target, one-hot encode text, encode new files alike.

A table here is anything with `path`, `names`, `n_rows`, `header` and `column(name, expect=)`
returning a checked `RawColumn` (see csvfile.CsvTable, parquetfile.ParquetTable).
"""

from __future__ import annotations

import numpy as np

from gradkit import _budget
from gradkit.data._common import finite_float32, locate, short
from gradkit.data.dataset import TASKS, Dataset
from gradkit.errors import DataError


def _names_list(names, limit: int = 12) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve_target(path, names: list[str], target) -> list[str]:
    """Target column names from a name, an integer index (negative from the end), a list of
    either, or None (the last column). A string of digits that is not a column name is an index,
    so `--target 0` works from the command line."""
    if target is None:
        return [names[-1]]
    if isinstance(target, (list, tuple)):
        resolved = [resolve_target(path, names, one)[0] for one in target]
        if not resolved or len(set(resolved)) != len(resolved):
            raise DataError(f"target must list distinct columns, got target={target!r}")
        return resolved
    if isinstance(target, str) and target in names:
        return [target]
    if isinstance(target, str) and target.lstrip("-").isdigit():
        target = int(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if -len(names) <= target < len(names):
            return [names[target]]
        raise DataError(f"{path}: target column index {target} is out of range; the file has "
                        f"{len(names)} columns (valid: 0 to {len(names) - 1}, or negative)")
    raise DataError(f"{path}: no target column {target!r}; columns are: {_names_list(names)}")


def _at(table, column: str, row: int) -> str:
    """The error location of `row` (0-based within `table`) of `column`; a table that is one
    record batch of a streamed file carries `first_row`, the batch's offset in that file."""
    return locate(table.path, column=column, row=getattr(table, "first_row", 0) + row,
                  header=table.header)


def _float32(table, column) -> np.ndarray:
    def where(index):
        return _at(table, column.name, index[0])

    return finite_float32(column.values, where=where)


def lookup(values: np.ndarray, known: list[str]) -> tuple[np.ndarray, int | None]:
    """Position of each value in `known` (any order), and the first row whose value is unknown."""
    # Object values (a column with one very long field) are compared as Python strings: a
    # fixed-width copy of `known` would truncate them.
    known_arr = np.array(known, dtype=object) if values.dtype == object \
        else np.asarray(known, dtype=str)
    order = np.argsort(known_arr, kind="stable")
    ordered = known_arr[order]
    pos = np.clip(np.searchsorted(ordered, values), 0, max(len(ordered) - 1, 0))
    unseen = np.flatnonzero(ordered[pos] != values) if len(ordered) else np.arange(len(values))
    first = int(unseen[0]) if len(unseen) else None
    return order[pos].astype(np.int64), first


def _class_targets(table, column):
    name, values = column.name, column.values
    if column.kind == "float":
        if not np.all(values == np.round(values)):
            row = int(np.flatnonzero(values != np.round(values))[0])
            raise DataError(
                f"{_at(table, name, row)}: value "
                f"{short(values[row])} is not a class label (it has a fraction); "
                "use task='regression'")
        values = values.astype(np.int64)
    labels, y = np.unique(values, return_inverse=True)
    names = [str(int(v)) for v in labels] if values.dtype.kind == "i" else labels.tolist()
    return y.reshape(-1).astype(np.int64), names


def _check_binary(table, column) -> None:
    bad = np.flatnonzero((column.values != 0) & (column.values != 1))
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"{_at(table, column.name, row)}: multilabel "
            f"targets must be 0 or 1, got {short(column.values[row])}")


def _targets(table, targets: list[str], task: str | None):
    """(y, class_names, task) for the target columns; task None means infer it."""
    if len(targets) == 1:
        if task == "multilabel":
            raise DataError(f"task='multilabel' needs several 0/1 target columns, "
                            f"got one ({targets[0]!r})")
        column = table.column(targets[0], expect="number" if task == "regression" else None)
        if task is None:
            task = "regression" if column.kind == "float" else "classification"
        if task == "classification":
            y, class_names = _class_targets(table, column)
            return y, class_names, task
        return _float32(table, column), None, task
    if task == "classification":
        raise DataError(f"task='classification' takes one target column, got {len(targets)} "
                        f"({', '.join(targets)}); use task='multilabel' for 0/1 columns")
    columns = [table.column(name, expect="number") for name in targets]
    binary = all(c.kind == "int" and np.isin(c.values, (0, 1)).all() for c in columns)
    if task is None:
        task = "multilabel" if binary else "regression"
    if task == "multilabel":
        for column in columns:
            _check_binary(table, column)
        return np.column_stack([c.values for c in columns]).astype(np.float32), targets, task
    return np.column_stack([_float32(table, c) for c in columns]), None, task


def build_dataset(table, *, target=None, task: str | None = None,
                  max_categories: int = 1000) -> Dataset:
    """Turn a table into a Dataset.

    Numeric columns become one feature each; text columns are one-hot encoded,
    x_{i, c=k} = 1 if row i has category k else 0, with categories sorted and recorded in
    `Dataset.categories`. The target column's text or integer labels become class indices into
    the sorted `class_names`; a float target means regression.

    Args:
        target: column name, integer index, or a list of them (several 0/1 columns: multilabel;
            several numeric columns: multi-output regression). Default None: the last column.
        task: None to infer, or "classification" / "regression" / "multilabel" to force.
        max_categories: refuse a text column with more distinct values than this (an ID or
            free-text column would otherwise explode into thousands of one-hot features).
    """
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)} or None, got task={task!r}")
    targets = resolve_target(table.path, table.names, target)
    feature_columns = [name for name in table.names if name not in targets]
    if not feature_columns:
        raise DataError(f"{table.path}: no feature columns left besides the target "
                        f"({', '.join(targets)})")
    blocks, feature_names, categories = [], [], {}
    for name in feature_columns:
        column = table.column(name)
        if column.kind != "text":
            blocks.append(_float32(table, column))
            feature_names.append(name)
            continue
        cats, codes = np.unique(column.values, return_inverse=True)
        if len(cats) > max_categories:
            raise DataError(
                f"{locate(table.path, column=name)}: {len(cats)} distinct text values (more than "
                f"max_categories={max_categories}); is it an ID or free-text column? drop it")
        blocks.append(_OneHot(codes.reshape(-1), len(cats)))
        categories[name] = cats.tolist()
        feature_names.extend(f"{name}={cat}" for cat in cats.tolist())
    X = _assemble(table, blocks, len(feature_names))
    y, class_names, task = _targets(table, targets, task)
    return Dataset(
        X=X, y=y, feature_names=feature_names,
        class_names=class_names, task=task, source=str(table.path), categories=categories,
        columns=feature_columns, target=targets[0] if len(targets) == 1 else targets)


class _OneHot:
    """A text column's category codes, expanded into `width` 0/1 features by `_assemble`."""

    def __init__(self, codes: np.ndarray, width: int):
        self.codes, self.width = codes, width


def _assemble(table, blocks: list, width: int) -> np.ndarray:
    """The feature matrix from numeric columns and `_OneHot` codes, written into one float32
    array whose size (rows x one-hot width) is checked against the memory budget first: 40
    text columns of 1,000 values each make 40,000 features from a file of a few MB."""
    rows = len(blocks[0].codes if isinstance(blocks[0], _OneHot) else blocks[0])
    n_text = sum(isinstance(b, _OneHot) for b in blocks)
    _budget.check(4 * rows * width, f"{table.path}: the features ({rows:,} rows x {width:,} "
                                    f"columns, {n_text} text columns one-hot encoded)")
    X = np.zeros((rows, width), dtype=np.float32)
    at = 0
    for block in blocks:
        if isinstance(block, _OneHot):
            X[np.arange(rows), at + block.codes] = 1.0
            at += block.width
        else:
            X[:, at] = block
            at += 1
    return X


def _check_columns(table, columns: list[str], targets: list[str]) -> list[str]:
    """Compare a new file's columns with the training columns; return the targets present."""
    present = [name for name in targets if name in table.names]
    if present and len(present) != len(targets):
        missing = [name for name in targets if name not in table.names]
        raise DataError(f"{table.path}: target columns {', '.join(missing)} are missing while "
                        f"{', '.join(present)} are present; give all target columns or none")
    missing = [name for name in columns if name not in table.names]
    extra = [name for name in table.names if name not in columns and name not in targets]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + \
            ([f"unexpected {', '.join(map(repr, extra))}"] if extra else [])
        raise DataError(f"{table.path}: columns differ from the training data: "
                        f"{'; '.join(parts)} (expected: {_names_list(columns)})")
    return present


def encode_table(table, schema: dict, *, require_target: bool = False) -> Dataset:
    """Encode a table with a training schema (`Dataset.schema()`): same columns in any order,
    numeric columns numeric, text values among the recorded categories, labels among the classes.
    The target column may be absent (y is then None) unless `require_target`."""
    columns, categories = schema["columns"], schema["categories"]
    targets = schema["target"] if isinstance(schema["target"], list) else [schema["target"]]
    present = _check_columns(table, columns, targets)
    if require_target and not present:
        raise DataError(f"{table.path}: target column {', '.join(map(repr, targets))} is missing; "
                        "it is needed to compare predictions with the truth")
    blocks = []
    for name in columns:
        if name not in categories:
            blocks.append(_float32(table, table.column(name, expect="number")))
            continue
        column = table.column(name, expect="text")
        codes, unseen = lookup(column.values, categories[name])
        if unseen is not None:
            raise DataError(
                f"{_at(table, name, unseen)}: category "
                f"{short(column.values[unseen])} was not seen in training "
                f"(known: {_names_list(categories[name])})")
        blocks.append(_OneHot(codes, len(categories[name])))
    width = sum(b.width if isinstance(b, _OneHot) else 1 for b in blocks)
    if width != len(schema["feature_names"]):
        raise DataError(f"{table.path}: the schema is inconsistent: {width} encoded features "
                        f"but {len(schema['feature_names'])} feature names")
    X = _assemble(table, blocks, width)
    y = _encode_targets(table, schema, targets) if present else None
    return Dataset(
        X=X, y=y, feature_names=list(schema["feature_names"]), class_names=schema["class_names"],
        task=schema["task"], source=str(table.path), categories=dict(categories),
        columns=list(columns), target=schema["target"])


def _encode_targets(table, schema: dict, targets: list[str]) -> np.ndarray:
    task = schema["task"]
    if task == "classification":
        column = table.column(targets[0], expect="text")
        y, unseen = lookup(column.values, schema["class_names"])
        if unseen is not None:
            raise DataError(
                f"{_at(table, column.name, unseen)}: "
                f"class {short(column.values[unseen])} was not seen in training "
                f"(known: {_names_list(schema['class_names'])})")
        return y
    columns = [table.column(name, expect="number") for name in targets]
    if task == "multilabel":
        for column in columns:
            _check_binary(table, column)
        return np.column_stack([c.values for c in columns]).astype(np.float32)
    y = np.column_stack([_float32(table, c) for c in columns])
    return y[:, 0] if len(columns) == 1 else y
