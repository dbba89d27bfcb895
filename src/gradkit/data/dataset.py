"""`Dataset`: what every loader returns: float32 features, targets, and the encoding schema."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from gradkit.errors import DataError

TASKS = ("classification", "regression", "multilabel")


@dataclass(eq=False, repr=False)
class Dataset:
    """Features, targets and the schema needed to encode new data exactly the same way.

    Attributes:
        X: float32 features, shape (n_samples, n_features), or (n_samples, H, W) for images.
        y: targets or None (data to predict on). Classification: int64 indices into
            `class_names`, shape (n,). Regression: float32, shape (n,) or (n, n_targets).
            Multilabel: float32 0/1 indicators, shape (n, n_labels), one column per class name.
        feature_names: one name per feature (after one-hot encoding: "color=red"); for images
            one name per pixel of the flattened image.
        class_names: label text of each class index (None for regression).
        task: "classification", "regression" or "multilabel".
        source: where the data came from (a path or a built-in name), for messages.
        categories: for each one-hot encoded text column, its categories in encoding order.
        columns: the raw input columns of a CSV/Parquet file, in order (None for arrays).
        target: the target column name (a list of names for several targets; None for arrays).
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    class_names: list[str] | None
    task: str
    source: str = ""
    categories: dict[str, list[str]] = field(default_factory=dict)
    columns: list[str] | None = None
    target: str | list[str] | None = None

    def __post_init__(self):
        # Loaders already produce the right types; this guards hand-built Datasets.
        if self.task not in TASKS:
            raise DataError(f"task must be one of {', '.join(TASKS)}, got task={self.task!r}")
        X = np.asarray(self.X)
        if X.ndim < 2 or X.dtype.kind not in "biuf":
            raise DataError(
                "X must be a numeric array of shape (n_samples, n_features, ...), "
                f"got dtype={X.dtype} shape={X.shape}")
        self.X = X.astype(np.float32, copy=False)
        if self.y is not None:
            dtype = np.int64 if self.task == "classification" else np.float32
            self.y = np.asarray(self.y).astype(dtype, copy=False)
            if len(self.y) != len(self.X):
                raise DataError(f"X and y must have the same number of rows, "
                                f"got {len(self.X)} and {len(self.y)}")
        self.feature_names = [str(name) for name in self.feature_names]
        if len(self.feature_names) != self.n_features:
            raise DataError(
                f"feature_names must have one name per feature ({self.n_features}), "
                f"got {len(self.feature_names)}")
        if self.task != "regression" and self.class_names is None and self.y is not None:
            raise DataError(f"class_names is required when task={self.task!r} and y is given")
        if self.class_names is not None:
            self.class_names = [str(name) for name in self.class_names]

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        classes = "" if self.class_names is None else f", classes={len(self.class_names)}"
        labels = "None" if self.y is None else f"{self.y.shape} {self.y.dtype}"
        return (f"Dataset(source={self.source!r}, task={self.task!r}, "
                f"X={self.X.shape} {self.X.dtype}, y={labels}{classes})")

    @property
    def n_features(self) -> int:
        """Number of features per sample: the product of X.shape[1:]."""
        return math.prod(self.X.shape[1:])

    @property
    def n_classes(self) -> int | None:
        """Number of classes (labels for multilabel), or None for regression."""
        return None if self.class_names is None else len(self.class_names)

    def subset(self, indices) -> Dataset:
        """The samples at `indices` (an index or boolean array), with the same schema."""
        indices = np.asarray(indices)
        y = None if self.y is None else self.y[indices]
        return replace(self, X=self.X[indices], y=y)

    def flatten(self) -> Dataset:
        """The same data with X reshaped to (n_samples, n_features): images for Dense layers."""
        return replace(self, X=self.X.reshape(len(self.X), -1))

    def schema(self) -> dict:
        """The JSON-ready description that `encode_like` needs to encode new data the same way.

        A saved model stores this, so `gradkit predict MODEL new.csv` can check and encode the new
        file without the training data.
        """
        return {
            "task": self.task,
            "feature_names": list(self.feature_names),
            "feature_shape": list(self.X.shape[1:]),
            "class_names": None if self.class_names is None else list(self.class_names),
            "categories": {name: list(cats) for name, cats in self.categories.items()},
            "columns": None if self.columns is None else list(self.columns),
            "target": list(self.target) if isinstance(self.target, list) else self.target,
        }

    def encode_like(self, source, *, require_target: bool = False) -> Dataset:
        """Load `source` (e.g. a file to predict on) encoded with this data set's schema.

        Same columns (in any order; the target column may be absent), the same one-hot
        categories and the same class indices; anything unseen raises DataError.
        See `gradkit.data.encode_like`.
        """
        from gradkit.data.loading import encode_like

        return encode_like(source, self, require_target=require_target)
