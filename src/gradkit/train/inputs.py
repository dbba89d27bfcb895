"""What `fit`, `evaluate` and the practice tools accept as data: features, targets, weights.

Validation happens here, at the boundary; the loop trusts what these return.
"""

from __future__ import annotations

import math

import numpy as np

from gradkit.errors import DataError
from gradkit.nn.losses import class_weights_per_sample
from gradkit.train import _boundary


def encode_targets(model, y, rows=None):
    """Labels as the loss wants them: int64 class indices, float32 rows or values.

    String labels become indices into `model.class_names` (sorted, kept on the model);
    labels the model has not seen are refused. Labels are checked here (None, negative,
    outside the output layer, one per row of X when `rows` is given): a `DataError` naming
    what was found and what was expected.
    """
    if y is None:
        raise DataError("y is missing: pass one label (or target row) per sample")
    y = np.asarray(y)
    _boundary.no_nones(y)
    if rows is not None:
        _boundary.rows_match(rows, len(y) if y.ndim else 0)
    if y.dtype.kind in "USO" and getattr(model.loss, "output", None) not in ("softmax",
                                                                              "sigmoid"):
        # Strings are class names: as regression targets they would train on their indices.
        raise DataError(f"y holds text ({str(y.reshape(-1)[0])!r} at row 0), but loss "
                        f"{getattr(model.loss, 'name', model.loss)!r} is a regression loss that "
                        "needs numbers: for class names use a classification loss such as "
                        "'sparse_categorical_crossentropy'")
    if y.dtype.kind in "USO":
        labels = y.astype(str)
        if model.class_names is None:
            model.class_names = sorted(set(labels.tolist()))
        index = {name: i for i, name in enumerate(model.class_names)}
        unseen = sorted(set(labels.tolist()) - set(index))
        if unseen:
            raise DataError(f"labels not seen in training: {unseen[:5]}; "
                            f"known classes: {model.class_names}")
        return np.array([index[v] for v in labels.tolist()], dtype=np.int64)
    if y.dtype.kind not in "biuf":
        raise DataError(f"y must hold numbers or class names, got an array of dtype {y.dtype}")
    kind = getattr(model.loss, "output", None)
    if kind == "softmax" and y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "biu":
        y = y[:, 0]               # Keras takes integer labels as a column too
    if kind == "softmax" and y.ndim == 1:
        labels = _boundary.class_indices(y)
        _boundary.labels_fit_outputs(model, labels)
        return labels
    if kind == "softmax":
        _boundary.labels_fit_outputs(model, y)
    if kind == "sigmoid":
        return _boundary.probabilities(y)
    y = y.astype(np.float32)
    _boundary.targets_fit_outputs(model, y)
    return y


def as_features(X, name="X", expected=None):
    """X as C-contiguous float32 rows of the model's input shape (`expected`, when built);
    refuses other shapes, 1-D input, no rows, text, NaN and inf."""
    X = _boundary.features(X, name, expected)
    if not all_finite(X):
        row = int(np.argwhere(~np.isfinite(X.reshape(len(X), -1)))[0, 0])
        raise DataError(f"{name} contains NaN or inf (first at row {row})")
    return X


def all_finite(X):
    """Whether X holds no NaN or inf, in one pass with no temporary.

    A finite sum of squares means every value is finite: a NaN or inf makes it NaN or inf.
    Only an overflow of the sum (values near 1e19 in float32) leaves it to the exact check,
    which otherwise costs a boolean array the size of X and twice the time, once per fit.
    """
    flat = X.reshape(-1)
    return math.isfinite(np.vdot(flat, flat)) or bool(np.isfinite(X).all())


def row_weights(y, *, class_weight=None, sample_weight=None, class_names=None,
                n_classes=None):
    """One float64 weight per row (class weight times sample weight), or None for neither.
    `n_classes` (the output layer's width, when known) bounds the keys of class_weight; else
    the labels seen do."""
    if class_weight is not None and n_classes is None and class_names is None and y.ndim == 1:
        n_classes = int(y.max(initial=-1)) + 1
    w = class_weights_per_sample(class_weight, y, class_names, n_classes)
    if sample_weight is not None:
        sw = _boundary.sample_weights(sample_weight, len(y))
        w = sw if w is None else w * sw
    return w
