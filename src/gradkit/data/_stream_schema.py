"""The schema of a streamed data set (column kinds, categories, classes, task) in one pass.

It is what `Dataset.schema()` gives for a table in memory, gathered batch by batch: a column is
numeric when every batch of it is, text categories and class labels are the union over all
batches (sorted, as `np.unique` sorts them in memory), and the task is inferred by the same
rules as `tabular.build_dataset`. A Parquet column whose type is numeric is not read at all
here: its kind is in the file's metadata, and its values are checked by the statistics pass.
"""

from __future__ import annotations

import numpy as np

from gradkit.data._common import locate, short
from gradkit.data.dataset import TASKS
from gradkit.data.tabular import _names_list, resolve_target
from gradkit.errors import DataError

# A target with more distinct values than this is not a set of classes (it is refused below).
_MAX_CLASSES = 100_000


class _Column:
    """What the batches seen so far say about one column."""

    def __init__(self, name):
        self.name, self.kind, self.where, self.values = name, None, None, set()

    def see(self, table, raw, *, keep_values: bool, limit: int | None):
        kind = "number" if raw.kind in ("int", "float") else "text"
        if self.kind is not None and {self.kind, kind} == {"number", "text"}:
            raise DataError(
                f"{locate(table.path, column=self.name)}: holds {kind} from data row "
                f"{table.first_row + 1}, but {self.kind} in {self.where}; a column must be "
                "numbers throughout or text throughout")
        if self.kind is None or self.kind == "int" or kind == "text":
            self.kind = raw.kind if kind == "number" else "text"
            self.where = str(table.path)
        elif raw.kind == "float":
            self.kind = "float"
        if keep_values and len(self.values) <= (limit or _MAX_CLASSES):
            self.values.update(np.unique(raw.values).tolist())


def infer_schema(files, *, target=None, task=None, max_categories: int = 1000,
                 batch_rows: int = 65536) -> dict:
    """Read what is needed of every file and return the schema dict `encode_table` takes."""
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)} or None, got task={task!r}")
    names = files.names
    targets = resolve_target(files.source, names, target)
    features = [name for name in names if name not in targets]
    if not features:
        raise DataError(f"{files.source}: no feature columns left besides the target "
                        f"({', '.join(targets)})")
    columns = {name: _Column(name) for name in names}
    to_read = []
    for name in names:
        kind = _parquet_kind(files.physical_type(name))
        if kind is None or name in targets:
            to_read.append(name)
        else:
            columns[name].kind = kind
    n_rows = 0
    for unit in range(len(files.units)):
        for table in files.read(unit, columns=to_read, batch_rows=batch_rows):
            n_rows += table.n_rows
            for name in to_read:
                raw = table.column(name)
                is_target = name in targets
                columns[name].see(table, raw, keep_values=is_target or raw.kind == "text",
                                  limit=None if is_target else max_categories)
                if not is_target and len(columns[name].values) > max_categories:
                    raise DataError(
                        f"{locate(files.source, column=name)}: more than {max_categories} "
                        f"distinct text values (max_categories={max_categories}); is it an ID "
                        "or free-text column? drop it")
    if n_rows == 0:
        raise DataError(f"{files.source}: has columns ({_names_list(names)}) but no rows")
    feature_names, categories = [], {}
    for name in features:
        column = columns[name]
        if column.kind == "text":
            cats = sorted(str(v) for v in column.values)
            categories[name] = cats
            feature_names.extend(f"{name}={cat}" for cat in cats)
        else:
            feature_names.append(name)
    class_names, task = _target_schema(files.source, [columns[t] for t in targets], task)
    return {"task": task, "feature_names": feature_names, "feature_shape": [len(feature_names)],
            "class_names": class_names, "categories": categories, "columns": features,
            "target": targets[0] if len(targets) == 1 else targets, "n_rows": n_rows}


def _parquet_kind(arrow_type) -> str | None:
    """"int" or "float" for a numeric Parquet type; None where the values must be read."""
    if arrow_type is None:
        return None
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    return None


def _target_schema(source, targets: list[_Column], task):
    """(class_names, task) by the rules of `tabular._targets`."""
    if len(targets) == 1:
        column = targets[0]
        if task == "multilabel":
            raise DataError(f"task='multilabel' needs several 0/1 target columns, "
                            f"got one ({column.name!r})")
        if task is None:
            task = "regression" if column.kind == "float" else "classification"
        if task == "regression":
            if column.kind == "text":
                raise DataError(f"{locate(source, column=column.name)}: task='regression' needs "
                                "a numeric target, got text")
            return None, task
        if len(column.values) > _MAX_CLASSES:
            raise DataError(f"{locate(source, column=column.name)}: more than {_MAX_CLASSES} "
                            "distinct target values; is it a regression target? use "
                            "task='regression'")
        values = sorted(column.values)
        if column.kind == "float":
            fractional = [v for v in values if v != round(v)]
            if fractional:
                raise DataError(f"{locate(source, column=column.name)}: value "
                                f"{short(fractional[0])} is not a class label (it has a "
                                "fraction); use task='regression'")
            values = sorted({int(v) for v in values})
        names = [str(v) for v in values]
        return names, task
    if task == "classification":
        raise DataError(f"task='classification' takes one target column, got {len(targets)} "
                        f"({', '.join(c.name for c in targets)}); use task='multilabel'")
    binary = all(c.kind == "int" and c.values <= {0, 1} for c in targets)
    for column in targets:
        if column.kind == "text":
            raise DataError(f"{locate(source, column=column.name)}: several target columns "
                            "must be numbers, got text")
    if task is None:
        task = "multilabel" if binary else "regression"
    if task == "multilabel":
        return [c.name for c in targets], task
    return None, task
