"""Metrics by name, on NumPy arrays: `metric(y_true, y_pred)` -> float.

`y_pred` is what the model outputs, as `predict` returns it (logits or probabilities for
classifiers, values for regression); `y_true` holds integer labels, one-hot rows, 0/1
multi-label rows or values. A model gives each metric its outputs and, through `bind`, the
threshold that cuts a single output column: 0 for logits, Keras's 0.5 for anything else.
Keras's names (`binary_accuracy`, `sparse_categorical_accuracy`, `categorical_accuracy`, and
"accuracy" as compile reads it, "precision" and "recall") compute Keras's numbers.
gradkit's `macro_precision`, `macro_recall` and `f1` are macro-averaged over the classes that
occur in y_true or in the predictions (scikit-learn's `average="macro"`).
"""

from __future__ import annotations

import functools

import numpy as np

from gradkit._registry import Registry
from gradkit.errors import DataError


def _labels(y_true):
    y = np.asarray(y_true)
    return y if y.ndim == 1 else np.argmax(y, axis=-1)


def _predicted_classes(y_pred, threshold=0.0):
    y = np.asarray(y_pred)
    if y.ndim == 1 or y.shape[-1] == 1:
        return (y.reshape(-1) > threshold).astype(np.int64)   # one column: above means class 1
    return np.argmax(y, axis=-1)


def _same_rank(t, p):
    """Keras's `squeeze_or_expand_to_same_rank`: where the ranks differ by one and the longer
    array ends in an axis of one, that axis goes (or the rank-1 array gets one); any other
    difference of shapes is refused, where Keras would broadcast or fail in its backend."""
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        t, p = (t, p[:, None]) if p.ndim == 1 else (t[..., 0], p)
    elif p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        t, p = (t[:, None], p) if t.ndim == 1 else (t, p[..., 0])
    if t.shape != p.shape:
        raise DataError(f"the labels have shape {t.shape} and the predictions {p.shape}: "
                        "expected one label per output")
    return t, p


def accuracy(y_true, y_pred, threshold=0.0):
    """Keras's "accuracy" of `compile`, chosen from the shapes as Keras chooses: one output
    column is `binary_accuracy` (cut at `threshold`: 0 for a logit, the default; a model
    passes 0.5 for its probabilities and other outputs); labels with fewer axes than the
    outputs, or one column against several, are `sparse_categorical_accuracy`; one-hot rows
    `categorical_accuracy`."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if p.ndim == 1 or p.shape[-1] == 1:
        return binary_accuracy(t, p, threshold)
    if t.ndim < p.ndim or t.shape[-1] == 1:
        return sparse_categorical_accuracy(t, p)
    return categorical_accuracy(t, p)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Keras's: the fraction of labels equal to (y_pred > threshold), over every label of
    every row. A label other than 0 or 1 never counts as right (Keras compares for
    equality). On logits pass threshold=0.0 (probability 0.5)."""
    t, p = _same_rank(np.asarray(y_true), np.asarray(y_pred))
    return float(np.mean(t == (p > threshold).astype(t.dtype)))


def sparse_categorical_accuracy(y_true, y_pred):
    """Keras's: the fraction of rows whose arg-max output is the label (a class index)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    return float(np.mean(np.argmax(p, axis=-1) == t))


def categorical_accuracy(y_true, y_pred):
    """Keras's: the fraction of rows whose arg-max output is the arg-max of the one-hot row."""
    return float(np.mean(np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)))


def top_k_accuracy(y_true, y_pred, k=5):
    """Fraction of samples whose true class is among the k highest scores."""
    top = np.argsort(np.asarray(y_pred), axis=-1)[:, -k:]
    return float(np.mean(np.any(top == _labels(y_true)[:, None], axis=-1)))


def confusion_matrix(y_true, y_pred, n_classes=None, *, threshold=0.0):
    """C[i, j] = number of samples of true class i predicted as class j (one output column
    is class 1 above `threshold`)."""
    t, p = _labels(y_true), _predicted_classes(y_pred, threshold)
    n = n_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _per_class(y_true, y_pred, threshold):
    n = np.asarray(y_pred).shape[-1] if np.ndim(y_pred) > 1 and np.shape(y_pred)[-1] > 1 else 2
    cm = confusion_matrix(y_true, y_pred, n, threshold=threshold)
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    # Average over the classes that occur (in y_true or in the predictions), as scikit-learn
    # does: a class absent from both has no precision or recall, and counting it as 0 would
    # pull the mean down (a 10-class model scored on two classes could not exceed 0.2).
    present = (predicted + actual) > 0
    return tp[present], predicted[present], actual[present]


def _safe_div(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def macro_precision(y_true, y_pred, threshold=0.0):
    """Macro precision: mean over classes of TP / (TP + FP)."""
    tp, predicted, _ = _per_class(y_true, y_pred, threshold)
    return float(np.mean(_safe_div(tp, predicted)))


def macro_recall(y_true, y_pred, threshold=0.0):
    """Macro recall: mean over classes of TP / (TP + FN)."""
    tp, _, actual = _per_class(y_true, y_pred, threshold)
    return float(np.mean(_safe_div(tp, actual)))


def _positives(name, y_true, y_pred, threshold):
    """Keras's confusion counts: every output value against its own label, the value above
    `threshold` a predicted positive and a label other than 0 a true one."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if p.ndim > 1 and p.shape[-1] > 1 and (t.ndim < p.ndim or t.shape[-1] == 1):
        raise DataError(f"Keras's {name!r} counts each output against its own label (0/1, "
                        f"one-hot or multi-label targets), got class indices for "
                        f"{p.shape[-1]} outputs; use 'macro_{name}', gradkit's average over "
                        "classes")
    t, p = _same_rank(t, p)
    predicted, actual = p > threshold, t != 0
    return np.sum(predicted & actual), np.sum(predicted), np.sum(actual)


def precision(y_true, y_pred, threshold=0.5):
    """Keras's "precision": TP / (TP + FP) over every output value (0 when nothing is
    predicted positive), cut at `threshold` (a model passes 0 for its logits)."""
    tp, predicted, _ = _positives("precision", y_true, y_pred, threshold)
    return float(tp / predicted) if predicted else 0.0


def recall(y_true, y_pred, threshold=0.5):
    """Keras's "recall": TP / (TP + FN) over every output value (0 without positives)."""
    tp, _, actual = _positives("recall", y_true, y_pred, threshold)
    return float(tp / actual) if actual else 0.0


def f1(y_true, y_pred, threshold=0.0):
    """Macro F1: mean over classes of 2 P R / (P + R)."""
    tp, predicted, actual = _per_class(y_true, y_pred, threshold)
    p, r = _safe_div(tp, predicted), _safe_div(tp, actual)
    return float(np.mean(_safe_div(2 * p * r, p + r)))


def mse(y_true, y_pred):
    d = np.asarray(y_pred, np.float64).reshape(-1) - np.asarray(y_true, np.float64).reshape(-1)
    return float(np.mean(d * d))


def mae(y_true, y_pred):
    d = np.asarray(y_pred, np.float64).reshape(-1) - np.asarray(y_true, np.float64).reshape(-1)
    return float(np.mean(np.abs(d)))


def r2(y_true, y_pred):
    """Coefficient of determination 1 - SS_res / SS_tot."""
    t = np.asarray(y_true, np.float64).reshape(-1)
    d = np.asarray(y_pred, np.float64).reshape(-1) - t
    ss_tot = np.sum((t - t.mean()) ** 2)
    return float(1 - np.sum(d * d) / ss_tot) if ss_tot > 0 else 0.0


METRICS = Registry("metric", {
    "accuracy": accuracy, "acc": accuracy, "binary_accuracy": binary_accuracy,
    "top_k_accuracy": top_k_accuracy, "precision": precision, "recall": recall,
    "macro_precision": macro_precision, "macro_recall": macro_recall, "f1": f1, "mse": mse, "mae": mae, "r2": r2,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    # Keras's names for the same numbers (logs keep the name given to compile)
    "mean_squared_error": mse, "mean_absolute_error": mae}, case_sensitive=True)
# Metrics where larger is better (early stopping and checkpoints pick the direction from this).
HIGHER_IS_BETTER = {"accuracy", "acc", "binary_accuracy", "top_k_accuracy", "precision",
                    "recall", "macro_precision", "macro_recall", "f1", "r2", "sparse_categorical_accuracy",
                    "categorical_accuracy"}


# Means over rows: their value over many batches is the row-weighted mean of theirs.
ROW_MEANS = {accuracy, binary_accuracy, sparse_categorical_accuracy, categorical_accuracy,
             top_k_accuracy, mse, mae}
# Metrics that cut a single output column at a threshold.
_CUTS = {accuracy, binary_accuracy, precision, recall, macro_precision, macro_recall, f1}


def bind(fn, *, logits):
    """`fn` as a model applies it to its outputs (what `predict` returns), as Keras's
    metrics read them: one column is cut at 0 where the outputs are logits (a loss that
    reads logits), and at Keras's 0.5 where they are probabilities or other values."""
    if fn in _CUTS:
        return functools.partial(fn, threshold=0.0 if logits else 0.5)
    return fn


def get(metric):
    """(name, function) for a metric name or a callable."""
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    return metric, METRICS.lookup(metric)


def names():
    return METRICS.names()


def known(name, fn):
    """Whether (name, fn) is gradkit's own metric of that name (so it can be saved by name)."""
    return name in METRICS and METRICS.lookup(name) is fn


def log_value(value):
    """A metric's result as the logs keep it: one number becomes a Python float.

    A custom metric may return a NumPy scalar; a float32 one could not go into a checkpoint's
    JSON history. Anything else (a confusion matrix) is kept as it is.
    """
    return float(value) if np.ndim(value) == 0 else value


def mode_for(monitor):
    """"max" for metrics that grow as the model improves, "min" for losses and errors."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if name in HIGHER_IS_BETTER else "min"
