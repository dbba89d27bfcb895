"""What `fit`, `evaluate` and the practice tools accept as data: features, targets, weights.

Validation happens here, at the boundary; the loop trusts what these return.
"""

from __future__ import annotations

import math

import numpy as np

from gradkit.errors import DataError
from gradkit.nn.losses import class_weights_per_sample


def encode_targets(model, y):
    """Labels as the loss wants them: int64 class indices, float32 rows or values.

    String labels become indices into `model.class_names` (sorted, kept on the model);
    labels the model has not seen are refused.
    """
    y = np.asarray(y)
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
    kind = getattr(model.loss, "output", None)
    if kind == "softmax" and y.ndim == 1:
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise DataError("classification labels must be whole numbers, got fractional values")
        return y.astype(np.int64)
    return y.astype(np.float32)


def as_features(X, name="X"):
    """X as C-contiguous float32 rows; refuses 1-D input, no rows, NaN and inf."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim < 2:
        raise DataError(f"{name} must have one row per sample (2-D or more), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"{name} has no rows")
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


def row_weights(y, *, class_weight=None, sample_weight=None, class_names=None):
    """One float64 weight per row (class weight times sample weight), or None for neither."""
    w = class_weights_per_sample(class_weight, y, class_names)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != (len(y),):
            raise DataError(f"sample_weight must hold one weight per row, shape ({len(y)},), "
                            f"got shape {sw.shape}")
        w = sw if w is None else w * sw
    return w
