"""Data larger than memory: a `Stream` of encoded mini-batches read with pyarrow's datasets.

    import gradkit as gk
    data = gk.data.stream("higgs/", target="label", seed=0)     # a folder, a glob, or one file
    train, val, test = data.split(val=0.1, test=0.2)
    model.fit(train, None, batch_size=256, epochs=10, validation_data=val)
    model.evaluate(test, None)

A Stream never holds the data set: it reads record batches of `batch_rows` rows, checks and
encodes them with the in-memory loaders' code (the same errors, naming file, column and row),
and yields mini-batches through a shuffle buffer. Two passes come before training: the schema
pass (column kinds, categories, classes; a Parquet file's numeric columns are not read) and the
statistics pass (every row checked and encoded; count, mean and variance of the training rows
merged pairwise in float64, see `gradkit._moments`). Rows are assigned to train/val/test by a hash of
(seed, file, row), so a row's split does not depend on the order of reading, on the epoch, on
a resume, or on which worker reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from gradkit import _safetensors
from gradkit._streams import BatchStream, is_stream
from gradkit.data._common import require_pyarrow
from gradkit.data._epoch import EpochBatches
from gradkit._moments import Moments
from gradkit.data._sources import Files, is_stream_source, row_uniforms
from gradkit.data._stream_schema import infer_schema
from gradkit.data.dataset import Dataset
from gradkit.data.loading import _schema
from gradkit.data.split import _check_fraction
from gradkit.data.tabular import _encode_targets, encode_table
from gradkit.errors import DataError, ModelFileError

__all__ = ["PARTS", "Stream", "StreamStats", "is_stream", "is_stream_source", "stream"]

PARTS = ("train", "val", "test")


@dataclass
class StreamStats:
    """What the statistics pass found for one part (train, val, test or all rows)."""

    count: int
    moments: Moments
    class_counts: np.ndarray | None = None
    files: list = field(default_factory=list)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name} must be a positive integer, got {name}={value!r}")


class _Shared:
    """What the views of one data set (its splits) share: files, schema, statistics."""

    def __init__(self, source, *, target, task, like, max_categories, batch_rows):
        self.files = Files(source)
        self.options = {"target": target, "task": task, "max_categories": max_categories}
        self.batch_rows = batch_rows
        self.schema = None if like is None else _schema_of(like)
        self.stats: dict = {}

    def get_schema(self):
        if self.schema is None:
            schema = infer_schema(self.files, batch_rows=self.batch_rows, **self.options)
            schema.pop("n_rows")
            self.schema = schema
        return self.schema


def _schema_of(like) -> dict:
    schema = _schema(like)
    if schema["columns"] is None:
        raise DataError("like= must describe a table (CSV or Parquet columns); the training "
                        "data of this schema was an array")
    return schema


class Stream(BatchStream):
    """A data set read in record batches; `fit`, `evaluate` and `predict` accept it for X.

    Build one with `gradkit.data.stream(...)`; `split()` gives the train/val/test views.
    """

    def __init__(self, shared, *, part, split, seed, shuffle_buffer, prefetch):
        self._shared, self.part, self._split = shared, part, split
        self.seed, self.shuffle_buffer, self.prefetch = seed, shuffle_buffer, prefetch

    def __repr__(self):
        return (f"Stream({self.source!r}, part={self.part!r}, files={len(self.files.paths)}, "
                f"units={self.n_units})")

    # -- description --------------------------------------------------------------------------
    @property
    def files(self):
        return self._shared.files

    @property
    def source(self) -> str:
        return self.files.source

    @property
    def n_units(self) -> int:
        return len(self.files.units)

    @property
    def schema(self) -> dict:
        """The encoding schema, as `Dataset.schema()` gives it (a saved model stores it)."""
        return self._shared.get_schema()

    @property
    def task(self) -> str:
        return self.schema["task"]

    @property
    def class_names(self):
        return self.schema["class_names"]

    @property
    def feature_names(self):
        return self.schema["feature_names"]

    @property
    def n_features(self) -> int:
        return len(self.schema["feature_names"])

    @property
    def n_classes(self):
        names = self.schema["class_names"]
        return None if names is None else len(names)

    @property
    def target_shape(self) -> tuple:
        target, task = self.schema["target"], self.schema["task"]
        return (len(target),) if isinstance(target, list) and task != "classification" else ()

    @property
    def target_dtype(self):
        return np.int64 if self.schema["task"] == "classification" else np.float32

    def __len__(self) -> int:
        return self.statistics().count

    def fingerprint(self) -> dict:
        """What identifies this view's rows: files and sizes, split, seed, buffer."""
        return {"files": self.files.fingerprint, "part": self.part, "split": self._split,
                "seed": self.seed, "shuffle_buffer": self.shuffle_buffer}

    # -- splits -------------------------------------------------------------------------------
    def split(self, *, val: float = 0.1, test: float = 0.2):
        """(train, val, test) views: each row goes to test when u < test, to val when
        u < test + val, else to train, with u = hash(seed, file, row) / 2**64 uniform in [0, 1).

        The fractions hold in expectation (not exactly, and not stratified by class): the
        price of a split that needs no pass over the data and never moves a row.
        """
        _check_fraction("val", val)
        _check_fraction("test", test)
        if val + test >= 1:
            raise DataError(f"val + test must leave a training set, got val={val}, test={test}")
        if self.part is not None:
            raise DataError(f"this stream is already the {self.part!r} part of a split")
        return tuple(Stream(self._shared, part=part, split=(float(val), float(test)),
                            seed=self.seed, shuffle_buffer=self.shuffle_buffer,
                            prefetch=self.prefetch) for part in PARTS)

    def _parts(self, unit, table) -> np.ndarray:
        """Index into PARTS of each row of a record batch (all "train" without a split)."""
        if self._split is None:
            return np.zeros(table.n_rows, np.int8)
        val, test = self._split
        u = row_uniforms(self.seed, self.files.keys[unit.file], table.first_row, table.n_rows)
        return np.where(u < test, 2, np.where(u < test + val, 1, 0)).astype(np.int8)

    # -- passes -------------------------------------------------------------------------------
    def _encode(self, table, *, require_target=True):
        fast = self._encode_numeric(table, require_target)
        if fast is not None:
            return fast
        ds = encode_table(table, self.schema, require_target=require_target)
        return ds.X, ds.y

    def _encode_numeric(self, table, require_target):
        """(X, y) of a Parquet batch whose features are all numbers, without nulls and finite
        in float32, in one copy instead of a checked column each (784 columns cost ~50 µs
        each that way); None for any other batch, which `encode_table` then encodes and, if
        a value is bad, reports with its file, column and row."""
        schema = self.schema
        if table.header or schema["categories"]:
            return None
        import pyarrow as pa

        columns = [table._batch.column(name) for name in schema["columns"]]
        if any(c.null_count or not (pa.types.is_integer(c.type) or pa.types.is_floating(c.type))
               for c in columns):
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            batch = table._batch.select(schema["columns"])
            if hasattr(batch, "to_tensor"):            # pyarrow >= 16: row-major in C++
                X = np.asarray(batch.to_tensor(row_major=True)).astype(np.float32, copy=False)
            else:
                X = np.empty((table.n_rows, len(columns)), np.float32)
                for j, column in enumerate(columns):
                    X[:, j] = column.to_numpy(zero_copy_only=False)
        flat = X.reshape(-1)
        if not np.isfinite(np.dot(flat, flat)) and not np.isfinite(X).all():
            return None
        targets = schema["target"] if isinstance(schema["target"], list) else [schema["target"]]
        if not all(name in table.names for name in targets):
            if require_target or any(name in table.names for name in targets):
                return None          # encode_table says which target column is missing
            return X, None
        y = self._integer_classes(table, targets)
        return X, (y if y is not None else _encode_targets(table, schema, targets))

    def _integer_classes(self, table, targets):
        """Class indices of an integer target column whose classes are integers, by a numeric
        search (the general path compares the labels as text); None otherwise."""
        import pyarrow as pa

        names = self.schema["class_names"]
        column = table._batch.column(targets[0])
        if self.schema["task"] != "classification" or column.null_count \
                or not pa.types.is_integer(column.type) \
                or not all(n.lstrip("-").isdigit() for n in names):
            return None
        labels = np.array([int(n) for n in names], np.int64)
        order = np.argsort(labels, kind="stable")
        values = column.to_numpy(zero_copy_only=False)
        pos = np.clip(np.searchsorted(labels[order], values), 0, len(labels) - 1)
        if not np.array_equal(labels[order][pos], values):
            return None                   # an unseen class: encode_table names its row
        return order[pos].astype(np.int64)

    def statistics(self, *, covariance: bool = False) -> StreamStats:
        """Count, moments (float64, merged pairwise) and class counts of this view's rows.

        The pass checks and encodes every row of every file, so a bad value anywhere is
        reported before training starts. Covariance (for PCA and whitening) is gathered for
        the training rows only when asked.
        """
        key = (self._split, self.seed, covariance)
        stats = self._shared.stats.get(key)
        if stats is None:
            cached = self._shared.stats.get((self._split, self.seed, True))
            stats = cached if cached is not None else self._statistics_pass(covariance)
            self._shared.stats[key] = stats
        return stats[self.part or "train"]

    def _statistics_pass(self, covariance):
        width, n_classes = self.n_features, self.n_classes
        stats = {}
        for index, part in enumerate(PARTS):
            gather = covariance and index == 0
            counts = np.zeros(n_classes, np.int64) if self.task == "classification" else None
            stats[part] = StreamStats(0, Moments(width, covariance=gather), counts)
        for u, unit in enumerate(self.files.units):
            for table in self.files.read(u, batch_rows=self._shared.batch_rows):
                X, y = self._encode(table)
                parts = self._parts(unit, table)
                for index, part in enumerate(PARTS):
                    rows = parts == index
                    if not rows.any():
                        continue
                    entry = stats[part]
                    entry.count += int(rows.sum())
                    entry.moments.add(X[rows])
                    if entry.class_counts is not None:
                        entry.class_counts += np.bincount(y[rows], minlength=n_classes)
        return stats

    def save_statistics(self, path) -> None:
        """Write the statistics of every part of this split (computing them if needed) to a
        safetensors file, so that other processes reading the same files (a search's trials)
        load them with `load_statistics` instead of making the pass again."""
        self.statistics()
        key = max(k for k in self._shared.stats if k[:2] == (self._split, self.seed))
        tensors, counts = {}, {}
        for part, entry in self._shared.stats[key].items():
            counts[part] = entry.count
            tensors[f"{part}.mean"], tensors[f"{part}.m2"] = entry.moments.mean, entry.moments.m2
            if entry.moments.comoment is not None:
                tensors[f"{part}.comoment"] = entry.moments.comoment
            if entry.class_counts is not None:
                tensors[f"{part}.class_counts"] = entry.class_counts
        meta = {"identity": self._statistics_identity(), "counts": counts,
                "covariance": key[2]}
        _safetensors.save_tensors(path, tensors, {"gradkit_stream_statistics": json.dumps(meta)})

    def _statistics_identity(self):
        return json.loads(json.dumps({"files": self.files.fingerprint, "split": self._split,
                                      "seed": self.seed, "schema": self.schema}))

    def load_statistics(self, path) -> bool:
        """Take the statistics from a `save_statistics` file; False (and nothing loaded) when
        the file was written for other files, another split, seed or schema."""
        try:
            tensors, metadata = _safetensors.load_tensors(path)
            meta = json.loads(metadata["gradkit_stream_statistics"])
        except (ModelFileError, KeyError, ValueError, OSError) as err:
            raise DataError(f"{path}: not a statistics file of gradkit.data.stream ({err})") \
                from None
        if meta.get("identity") != self._statistics_identity():
            return False
        stats = {}
        for part in PARTS:
            moments = Moments(self.n_features)
            moments.count = int(meta["counts"][part])
            moments.mean, moments.m2 = tensors[f"{part}.mean"], tensors[f"{part}.m2"]
            moments.comoment = tensors.get(f"{part}.comoment")      # the training part's
            stats[part] = StreamStats(moments.count, moments, tensors.get(f"{part}.class_counts"))
        self._shared.stats[(self._split, self.seed, bool(meta["covariance"]))] = stats
        return True

    # -- reading ------------------------------------------------------------------------------
    def _tables(self, order, unit_pos, unit_rows):
        """(unit position, BatchTable) of every record batch, units in `order`, from row
        `unit_rows` of unit `unit_pos` on: only pyarrow's reading, which runs without the GIL
        (what the reader thread does)."""
        for pos in range(unit_pos, len(order)):
            skip = unit_rows if pos == unit_pos else 0
            for table in self.files.read(int(order[pos]), batch_rows=self._shared.batch_rows,
                                         skip=skip):
                yield pos, table

    def _chunk(self, order, pos, table):
        """(X, y, unit position, rows of that unit read) of this view's rows of one record
        batch, or None when it has none. Runs on the training thread: the encoding is Python
        and NumPy, and a reader thread holding the GIL for it stalls every step (measured:
        an epoch of 784-512-512-10 took 1.5x as long with the encoding on the reader thread)."""
        unit = self.files.units[order[pos]]
        mine = self._parts(unit, table) == PARTS.index(self.part or "train")
        end = table.first_row - unit.first_row + table.n_rows
        if not mine.any():
            return None, pos, end
        if not mine.all():
            pa = require_pyarrow()
            table._batch = table._batch.filter(pa.array(mine))
            table.n_rows = table._batch.num_rows
        X, y = self._encode(table)
        return (X, y), pos, end

    def batches(self, batch_size: int, *, epoch: int = 0, shuffle: bool = True, state=None):
        """An `EpochBatches` iterator of (X, y) for one epoch; see `gradkit.data._epoch`."""
        _positive("batch_size", batch_size)
        return EpochBatches(self, batch_size=batch_size, epoch=epoch, shuffle=shuffle,
                            state=state)

    def sample(self, n: int, *, seed: int = 0) -> Dataset:
        """A uniform random sample of min(n, rows) rows of this view as an in-memory Dataset,
        in one pass, holding n rows and one record batch: every row draws a key and the n
        smallest keys are kept. Deterministic for (this stream's seed, `seed`)."""
        _positive("n", n)
        rng = np.random.default_rng([self.seed, int(seed)])
        width = self.n_features
        keys = np.zeros(0)
        X = np.zeros((0, width), np.float32)
        y = np.zeros((0,) + self.target_shape, self.target_dtype)
        for Xb, yb in self.batches(self._shared.batch_rows, shuffle=False):
            kb = rng.random(len(Xb))
            if len(keys) >= n:              # only rows that beat the largest key kept
                better = kb < keys.max()
                Xb, yb, kb = Xb[better], yb[better], kb[better]
            keys = np.concatenate([keys, kb])
            X, y = np.concatenate([X, Xb]), np.concatenate([y, yb])
            if len(keys) > n:
                best = np.argpartition(keys, n - 1)[:n]
                keys, X, y = keys[best], X[best], y[best]
        if not len(X):
            raise DataError(f"{self.source}: the {self.part or 'whole'} stream has no rows to "
                            "sample")
        order = np.argsort(keys, kind="stable")     # a random order, the same for a seed
        schema = self.schema
        return Dataset(X=X[order], y=y[order], feature_names=schema["feature_names"],
                       class_names=schema["class_names"], task=schema["task"],
                       source=str(self.source), categories=schema["categories"],
                       columns=schema["columns"], target=schema["target"])

    def in_order(self, *, require_target: bool = False):
        """Yield (X, y or None) per record batch of every row, in file and row order (for
        prediction: the output rows line up with the input rows)."""
        if self._split is not None:
            raise DataError("in_order reads every row; use the stream from before split()")
        for u in range(self.n_units):
            for table in self.files.read(u, batch_rows=self._shared.batch_rows):
                yield self._encode(table, require_target=require_target)


def stream(source, *, target=None, task: str | None = None, like=None,
           batch_rows: int = 65536, shuffle_buffer: int = 65536, seed: int = 0,
           prefetch: int = 2, max_categories: int = 1000) -> Stream:
    """A `Stream` over a folder of Parquet or CSV files, a glob of them, or one file.

    Args:
        source: a folder (its .parquet or .csv files, sorted by name), a glob such as
            "data/*.parquet", or one file.
        target, task, max_categories: as for `gradkit.data.load`.
        like: a Dataset or schema dict (e.g. a saved model's) to encode with, instead of
            inferring one; the target column may then be absent (prediction).
        batch_rows: rows per record batch read (the unit of reading and encoding).
        shuffle_buffer: rows mixed by the shuffle buffer (0: no mixing across units).
        seed: seeds the split, the unit order and the buffer: same seed, same batches.
        prefetch: record batches read ahead on a background thread (0: none).
    """
    _positive("batch_rows", batch_rows)
    for name, value in (("shuffle_buffer", shuffle_buffer), ("prefetch", prefetch),
                        ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise DataError(f"{name} must be an integer >= 0, got {name}={value!r}")
    shared = _Shared(source, target=target, task=task, like=like,
                     max_categories=max_categories, batch_rows=int(batch_rows))
    return Stream(shared, part=None, split=None, seed=int(seed),
                  shuffle_buffer=int(shuffle_buffer), prefetch=int(prefetch))
