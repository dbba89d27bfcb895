"""Metrics by name, on NumPy arrays: `metric(y_true, y_pred)` -> float.

`y_pred` is what the model outputs (logits or probabilities for classifiers, values for
regression); `y_true` holds integer labels, one-hot rows, 0/1 multi-label rows or values.
Precision, recall and F1 are macro-averaged over the classes that occur in y_true or
in the predictions (scikit-learn's `average="macro"`).
"""

from __future__ import annotations

import numpy as np

from gradkit._registry import Registry


def _labels(y_true):
    y = np.asarray(y_true)
    return y if y.ndim == 1 else np.argmax(y, axis=-1)


def _predicted_classes(y_pred):
    y = np.asarray(y_pred)
    if y.ndim == 1 or y.shape[-1] == 1:
        return (y.reshape(-1) > 0).astype(np.int64)   # one logit: positive means class 1
    return np.argmax(y, axis=-1)


def accuracy(y_true, y_pred):
    """Fraction of samples whose arg-max prediction is the true class."""
    return float(np.mean(_predicted_classes(y_pred) == _labels(y_true)))


def binary_accuracy(y_true, y_pred, threshold=0.0):
    """Fraction of 0/1 labels matched by (logit > threshold), over every label of every row."""
    t = np.asarray(y_true).reshape(np.shape(y_pred))
    return float(np.mean((np.asarray(y_pred) > threshold) == (t > 0.5)))


def top_k_accuracy(y_true, y_pred, k=5):
    """Fraction of samples whose true class is among the k highest scores."""
    top = np.argsort(np.asarray(y_pred), axis=-1)[:, -k:]
    return float(np.mean(np.any(top == _labels(y_true)[:, None], axis=-1)))


def confusion_matrix(y_true, y_pred, n_classes=None):
    """C[i, j] = number of samples of true class i predicted as class j."""
    t, p = _labels(y_true), _predicted_classes(y_pred)
    n = n_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _per_class(y_true, y_pred):
    n = np.asarray(y_pred).shape[-1] if np.ndim(y_pred) > 1 and np.shape(y_pred)[-1] > 1 else 2
    cm = confusion_matrix(y_true, y_pred, n)
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    # Average over the classes that occur (in y_true or in the predictions), as scikit-learn
    # does: a class absent from both has no precision or recall, and counting it as 0 would
    # pull the mean down (a 10-class model scored on two classes could not exceed 0.2).
    present = (predicted + actual) > 0
    return tp[present], predicted[present], actual[present]


def _safe_div(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def precision(y_true, y_pred):
    """Macro precision: mean over classes of TP / (TP + FP)."""
    tp, predicted, _ = _per_class(y_true, y_pred)
    return float(np.mean(_safe_div(tp, predicted)))


def recall(y_true, y_pred):
    """Macro recall: mean over classes of TP / (TP + FN)."""
    tp, _, actual = _per_class(y_true, y_pred)
    return float(np.mean(_safe_div(tp, actual)))


def f1(y_true, y_pred):
    """Macro F1: mean over classes of 2 P R / (P + R)."""
    tp, predicted, actual = _per_class(y_true, y_pred)
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
    "f1": f1, "mse": mse, "mae": mae, "r2": r2,
    # Keras's names for the same numbers (logs keep the name given to compile)
    "sparse_categorical_accuracy": accuracy, "categorical_accuracy": accuracy,
    "mean_squared_error": mse, "mean_absolute_error": mae}, case_sensitive=True)
# Metrics where larger is better (early stopping and checkpoints pick the direction from this).
HIGHER_IS_BETTER = {"accuracy", "acc", "binary_accuracy", "top_k_accuracy", "precision",
                    "recall", "f1", "r2", "sparse_categorical_accuracy",
                    "categorical_accuracy"}


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
