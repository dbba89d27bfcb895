"""Losses by name or object -> scalar Tensor.

A class named as Keras names one (`MeanSquaredError`, `MeanAbsoluteError`, `Huber`, `Hinge`,
`BinaryCrossentropy`, ...) is called as Keras calls it, `loss(y_true, y_pred, sample_weight)`;
gradkit's own classes (`CrossEntropy`, `BinaryCrossEntropy`, `MulticlassHinge`, ...) keep
gradkit's order, `loss(y_pred, y_true, sample_weight)`. `value(loss, y_pred, y_true)` takes any
loss in gradkit's order, and is how gradkit itself calls them.

Each loss computes one value per sample, multiplies by sample and class weights, and reduces
with `reduction` ("mean" over the batch, "sum", or "none"; Keras's "sum_over_batch_size" is
"mean"). gradkit's own cross-entropies (`cross_entropy`, `CrossEntropy`, `binary_cross_entropy`,
...) take logits by default (`from_logits=True`): the fused forms are finite for any logit,
unlike log(softmax). Keras's spellings (`sparse_categorical_crossentropy`,
`SparseCategoricalCrossentropy`, `binary_crossentropy`, ...) mean what they mean in Keras:
probabilities by default (`from_logits=False`). A model whose last layer applies the matching
softmax or sigmoid computes such a loss from that layer's pre-activation (see
`Sequential`), so the probabilities are never put through a log.
"""

from __future__ import annotations

import copy

import numpy as np

import gradkit.autograd as ag
from gradkit._registry import Registry
from gradkit.autograd import Tensor
from gradkit.errors import ConfigError, DataError

_REDUCTIONS = ("mean", "sum", "none")
# Keras's names for the same reductions: its default "sum_over_batch_size" is the batch mean
# (weighted values summed, divided by the batch size), as gradkit's "mean" is.
_REDUCTION_ALIASES = {"sum_over_batch_size": "mean", None: "none"}


def class_weights_per_sample(class_weight, y, class_names=None, n_classes=None):
    """Each row's class weight (float64), or None when `class_weight` is None.

    Args:
        class_weight: {class: weight} (classes missing from it weigh 1) or one weight per class.
            Dict keys may be class names when `class_names` is given ({"cat": 2.0}).
        y: class indices, or one row per sample (one-hot or probabilities: its argmax counts).
        class_names: the names string labels were encoded against, or None.
        n_classes: how many classes there are, when the caller knows (fit does); else from
            `class_names` or one-hot rows, and for bare labels no key is refused as unknown.
    """
    if class_weight is None:
        return None
    labels = y if y.ndim == 1 else np.argmax(y, axis=-1)
    # The classes a weight may name: Keras's keys 0 .. n_classes - 1.
    if n_classes is None:
        n_classes = len(class_names) if class_names is not None else \
            int(y.shape[-1]) if y.ndim > 1 else None
    if isinstance(class_weight, dict):
        # y holds indices by now, so a weight keyed by a class name is translated here, not
        # silently ignored; "2" (a JSON config's key for class 2) is class 2.
        by_index = {}
        for key, value in class_weight.items():
            if isinstance(key, str) and class_names is not None and key in class_names:
                key = class_names.index(key)
            elif isinstance(key, str) and key.isdigit():
                key = int(key)
            elif isinstance(key, str) or isinstance(key, bool) \
                    or not isinstance(key, (int, np.integer)):
                raise DataError(f"class_weight names class {key!r}, which is not among "
                                f"the labels; known classes: "
                                f"{class_names or f'0..{n_classes - 1}'}")
            if int(key) < 0 or (n_classes is not None and int(key) >= n_classes):
                raise DataError(f"class_weight names class {key!r}, which is not among the "
                                f"labels: expected keys 0..{n_classes - 1}"
                                + (f" or names {class_names}" if class_names else ""))
            by_index[int(key)] = _class_weight_value(key, value)
        return np.array([by_index.get(int(c), 1.0) for c in labels])
    if isinstance(class_weight, str) or np.ndim(class_weight) != 1:
        raise ConfigError("class_weight must be a dict {class: weight} or one weight per "
                          f"class, got class_weight={class_weight!r}"
                          + (" (scikit-learn's 'balanced' is not a Keras setting: compute "
                             "the weights and pass them as a dict)"
                             if class_weight == "balanced" else ""))
    weights = [_class_weight_value(i, v) for i, v in enumerate(class_weight)]
    if len(weights) < (n_classes or int(labels.max(initial=-1)) + 1):
        raise ConfigError(f"class_weight holds {len(weights)} weights, but the labels name "
                          f"{n_classes or int(labels.max()) + 1} classes: expected one weight per "
                          "class")
    return np.asarray(weights, dtype=np.float64)[labels.astype(np.intp)]


def _class_weight_value(key, value):
    """A class's weight as a float: finite and >= 0, as a sample weight must be."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if not (np.isfinite(weight) and weight >= 0):
        raise ConfigError(f"class_weight gives class {key!r} the weight {value!r}: expected a "
                          "finite number >= 0")
    return weight


class Loss:
    """Base: per-sample values, weights, reduction. Subclasses define `per_sample`."""

    name = "loss"
    # How predictions become outputs users read: "softmax", "sigmoid" or None (regression).
    output = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "call" in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines Keras's call(y_true, y_pred); a gradkit "
                            "Loss subclass defines per_sample(self, y_pred, y_true) instead, "
                            "returning one value per sample (gradkit's order)")

    def __init__(self, *, reduction="mean", class_weight=None):
        reduction = _REDUCTION_ALIASES.get(reduction, reduction)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got reduction={reduction!r}")
        self.reduction = reduction
        self.class_weight = class_weight

    def __call__(self, y_pred, y_true, sample_weight=None):
        return self.loss_of(y_pred, y_true, sample_weight)

    def loss_of(self, y_pred, y_true, sample_weight=None):
        """The loss in gradkit's order, (prediction, target), whatever the class's call order
        (Keras's classes are called as Keras calls them: loss(y_true, y_pred))."""
        y_true = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
        weights = self._weights(y_true, sample_weight)
        if weights is not None:
            # float64 weights would silently turn a float32 loss (and its gradient) into float64.
            weights = weights.astype(y_pred.dtype, copy=False)
        return self.compute(y_pred, y_true, weights)

    def compute(self, y_pred, y_true, weights):
        return self._reduce(self.per_sample(y_pred, y_true), weights)

    def _reduce(self, losses, weights):
        if weights is not None:
            losses = losses * weights.astype(losses.dtype, copy=False)
        if self.reduction == "mean":
            return ag.mean(losses)
        if self.reduction == "sum":
            return ag.sum(losses)
        return losses

    def per_sample(self, y_pred, y_true):
        raise NotImplementedError

    def _weights(self, y_true, sample_weight):
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.class_weight is not None:
            per_class = class_weights_per_sample(self.class_weight, y_true)
            w = per_class if w is None else w * per_class
        return w

    def get_config(self):
        cw = self.class_weight
        if isinstance(cw, dict):
            cw = {str(k): float(v) for k, v in cw.items()}
        elif cw is not None:
            cw = [float(v) for v in np.asarray(cw)]
        return {"reduction": self.reduction, "class_weight": cw}

    def describe(self):
        return {"name": self.name, **self.get_config()}

    def with_logits(self):
        """This loss reading logits: a copy with `from_logits=True` (self if it has no such
        setting, or already reads logits). The model uses it to compute a probabilities loss
        from the pre-activation of its softmax or sigmoid output layer."""
        if getattr(self, "from_logits", True):
            return self
        twin = copy.copy(self)
        twin.from_logits = True
        return twin


class _KerasOrder:
    """Keras's call order: `loss(y_true, y_pred, sample_weight=None)`, arrays welcome.

    Every class whose name is a Keras loss class's takes it, whatever the loss: the order
    cannot follow the values (MSE is symmetric, Hinge is not), only the name.
    """

    # A model compiled with a Keras loss class gives its metrics Keras's readings (see
    # `OutputAndInference.cuts_at_zero`).
    keras_class = True

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not isinstance(y_pred, Tensor):
            y_pred = np.asarray(y_pred)
            y_pred = Tensor(y_pred if y_pred.dtype.kind == "f" else y_pred.astype(np.float32))
        return self.loss_of(y_pred, y_true, sample_weight)


def _rowwise_mean(x):
    """Mean over every axis but the batch axis (a 1-D input is already one value per sample)."""
    if x.ndim == 1:
        return x
    return ag.mean(ag.reshape(x, (x.shape[0], -1)), axis=1)


def _as_pred_shape(y_true, y_pred):
    if y_true.shape != y_pred.shape and y_true.size == y_pred.data.size:
        y_true = y_true.reshape(y_pred.shape)
    return y_true.astype(y_pred.dtype, copy=False)


class MeanSquaredError(_KerasOrder, Loss):
    """Keras's `MeanSquaredError`: (y - t)² averaged over the outputs of a sample. Called as
    Keras calls it: `loss(y_true, y_pred)`."""

    name = "mse"

    def per_sample(self, y_pred, y_true):
        d = y_pred - _as_pred_shape(y_true, y_pred)
        return _rowwise_mean(d * d)


class MeanAbsoluteError(_KerasOrder, Loss):
    """Keras's `MeanAbsoluteError`: |y - t| averaged over the outputs of a sample. Called as
    Keras calls it: `loss(y_true, y_pred)`."""

    name = "mae"

    def per_sample(self, y_pred, y_true):
        return _rowwise_mean(ag.abs(y_pred - _as_pred_shape(y_true, y_pred)))


class Huber(_KerasOrder, Loss):
    """Keras's `Huber`: ½r² for |r| <= δ, δ(|r| - ½δ) beyond: quadratic near 0, linear for
    outliers. Called as Keras calls it: `loss(y_true, y_pred)`."""

    name = "huber"

    def __init__(self, delta=1.0, **kw):
        super().__init__(**kw)
        if delta <= 0:
            raise ValueError(f"delta must be > 0, got delta={delta!r}")
        self.delta = float(delta)

    def per_sample(self, y_pred, y_true):
        r = ag.abs(y_pred - _as_pred_shape(y_true, y_pred))
        quad = ag.minimum(r, self.delta)
        # ½q² + δ(r - q) equals both branches: q = r inside, q = δ outside.
        return _rowwise_mean(quad * quad * 0.5 + (r - quad) * self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class Hinge(_KerasOrder, Loss):
    """Keras's `Hinge`: max(0, 1 - t z) for labels t in {-1, +1} (0/1 labels are mapped to
    -1/+1, as Keras maps them). Called as Keras calls it: `loss(y_true, y_pred)`."""

    name = "hinge"

    def per_sample(self, y_pred, y_true):
        t = _as_pred_shape(y_true, y_pred)
        if np.all((t == 0) | (t == 1)):
            t = 2 * t - 1
        return _rowwise_mean(ag.relu(1.0 - y_pred * t))


class BinaryCrossEntropy(Loss):
    """-[t log p + (1 - t) log(1 - p)], p = σ(z); multi-label rows average their labels.

    A row of K labels (multi-label classification) gives the mean of its K terms, as Keras
    does (`label_reduction="mean"`), or their sum, the MIPT notes' form
    -(1/N) Σₙ Σₖ [yₙₖ ln ŷₙₖ + (1 - yₙₖ) ln(1 - ŷₙₖ)] (`label_reduction="sum"`, K times larger).
    """

    name = "binary_cross_entropy"
    output = "sigmoid"

    def __init__(self, *, from_logits=True, label_smoothing=0.0, label_reduction="mean", **kw):
        super().__init__(**kw)
        _check_smoothing(label_smoothing)
        if label_reduction not in ("mean", "sum"):
            raise ValueError("label_reduction must be 'mean' or 'sum', got "
                             f"label_reduction={label_reduction!r}")
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        self.label_reduction = label_reduction

    def compute(self, y_pred, y_true, weights):
        loss = self._mean_over_labels(y_pred, y_true, weights)
        if self.label_reduction == "sum" and y_pred.ndim > 1:
            # Every sample has the same K labels, so the sum is K times the mean, exactly.
            loss = loss * float(np.prod(y_pred.shape[1:]))
        return loss

    def _mean_over_labels(self, y_pred, y_true, weights):
        t = _as_pred_shape(y_true, y_pred)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            return ag.sigmoid_binary_cross_entropy(y_pred, t, reduction=self.reduction,
                                                   weights=weights)
        eps = 1e-7
        p = ag.clip(y_pred, eps, 1 - eps)
        losses = _rowwise_mean(-(ag.log(p) * t + ag.log(1.0 - p) * (1 - t)))
        return self._reduce(losses, weights)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "label_reduction": self.label_reduction}


class MulticlassHinge(Loss):
    """The multi-class SVM loss on K class scores s for integer labels y (KIT, beside softmax).

        form="weston_watkins" (default):  Σ_{j≠y} max(0, Δ + s_j − s_y)
        form="crammer_singer":            max(0, Δ + max_{j≠y} s_j − s_y)

    Weston-Watkins is the form of the Stanford CS231n slides the KIT notes draw from (and
    PyTorch's MultiMarginLoss times K, which divides by K); Crammer-Singer charges only the
    worst wrong class. Δ is the margin (default 1). The scores are not probabilities:
    `predict_classes` takes their argmax; `predict_proba` is refused.
    """

    name = "multiclass_hinge"
    output = "scores"
    FORMS = ("weston_watkins", "crammer_singer")

    def __init__(self, *, form="weston_watkins", margin=1.0, **kw):
        super().__init__(**kw)
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {self.FORMS}, got form={form!r}")
        if isinstance(margin, bool) or not isinstance(margin, (int, float, np.number)) \
                or not margin > 0:
            raise ValueError(f"margin must be a number > 0, got margin={margin!r}")
        self.form, self.margin = form, float(margin)

    def per_sample(self, y_pred, y_true):
        if y_pred.ndim != 2 or y_true.ndim != 1 or len(y_true) != y_pred.shape[0]:
            raise ValueError("multiclass_hinge needs scores of shape (samples, classes) and "
                             f"integer labels of shape (samples,), got {y_pred.shape} and "
                             f"{y_true.shape}")
        k = y_pred.shape[1]
        labels = y_true.astype(np.intp)
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"multiclass_hinge labels must be in [0, {k}), got labels from "
                             f"{labels.min()} to {labels.max()}")
        onehot = np.eye(k, dtype=y_pred.dtype)[labels]
        true_score = ag.sum(y_pred * onehot, axis=1, keepdims=True)
        if self.form == "weston_watkins":
            # The true class's own term is max(0, Δ) = Δ: the mask takes it out.
            return ag.sum(ag.relu(y_pred - true_score + self.margin) * (1.0 - onehot), axis=1)
        worst = ag.max(ag.where(onehot > 0, -np.inf, y_pred), axis=1, keepdims=True)
        return ag.reshape(ag.relu(worst - true_score + self.margin), (-1,))

    def get_config(self):
        return {**super().get_config(), "form": self.form, "margin": self.margin}


class CrossEntropy(Loss):
    """-Σ_c t_c log softmax(z)_c for integer labels or probability rows (one-hot included)."""

    name = "cross_entropy"
    output = "softmax"

    def __init__(self, *, from_logits=True, label_smoothing=0.0, **kw):
        super().__init__(**kw)
        _check_smoothing(label_smoothing)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def compute(self, y_pred, y_true, weights):
        n_classes = y_pred.shape[-1]
        t = self._targets(y_true, n_classes, y_pred.dtype)
        if self.from_logits:
            return ag.softmax_cross_entropy(y_pred, t, reduction=self.reduction, weights=weights)
        if t.ndim == 1:
            t = np.eye(n_classes, dtype=y_pred.dtype)[t]
        # Keras's form for probabilities: rows renormalized to sum 1, clipped to [eps, 1 - eps].
        p = y_pred / ag.sum(y_pred, axis=-1, keepdims=True)
        logp = ag.log(ag.clip(p, 1e-7, 1.0 - 1e-7))
        losses = -ag.sum(logp * t, axis=-1)
        return self._reduce(losses, weights)

    def _targets(self, y_true, n_classes, dtype):
        if y_true.ndim == 1 and not self.label_smoothing:
            return y_true.astype(np.intp, copy=False)
        t = np.eye(n_classes, dtype=dtype)[y_true.astype(np.intp)] if y_true.ndim == 1 \
            else y_true.astype(dtype, copy=False)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        return t

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossEntropy(CrossEntropy):
    """Cross-entropy against one-hot or probability rows."""

    name = "categorical_cross_entropy"

    def compute(self, y_pred, y_true, weights):
        if y_true.ndim != y_pred.ndim:
            raise ValueError("categorical_cross_entropy needs one-hot or probability targets of "
                             f"shape {y_pred.shape}, got {y_true.shape}; use "
                             "sparse_categorical_cross_entropy for integer labels")
        return super().compute(y_pred, y_true, weights)


class SparseCategoricalCrossEntropy(CrossEntropy):
    """Cross-entropy against integer class labels."""

    name = "sparse_categorical_cross_entropy"

    def compute(self, y_pred, y_true, weights):
        if y_true.ndim != 1:
            raise ValueError("sparse_categorical_cross_entropy needs integer labels of shape "
                             f"({y_pred.shape[0]},), got {y_true.shape}")
        return super().compute(y_pred, y_true, weights)


class GaussianNLL(Loss):
    """Probabilistic regression: the network predicts mean μ and log-variance s = log σ².

    y_pred has 2D columns [μ (D), s (D)];  L = ½ (s + (t - μ)² e^-s + log 2π), averaged over D.
    """

    name = "gaussian_nll"

    def per_sample(self, y_pred, y_true):
        d = y_pred.shape[-1] // 2
        if y_pred.shape[-1] != 2 * d or d == 0:
            raise ValueError(f"gaussian_nll needs 2D outputs (mean and log-variance), got "
                             f"{y_pred.shape[-1]} columns")
        mu, log_var = y_pred[:, :d], y_pred[:, d:]
        t = y_true.reshape(y_true.shape[0], d).astype(y_pred.dtype, copy=False)
        r = t - mu
        nll = (log_var + r * r * ag.exp(-log_var) + float(np.log(2 * np.pi))) * 0.5
        return _rowwise_mean(nll)


def value(loss, y_pred, y_true, sample_weight=None):
    """`loss` of a prediction against a target, in gradkit's order for any loss: a `Loss`
    (whatever its own call order) or a callable `fn(y_pred, y_true, sample_weight)`."""
    if isinstance(loss, Loss):
        return loss.loss_of(y_pred, y_true, sample_weight)
    return loss(y_pred, y_true, sample_weight)


class CategoricalCrossentropy(_KerasOrder, CategoricalCrossEntropy):
    """Keras's `CategoricalCrossentropy`: one-hot or probability rows against probabilities
    (`from_logits=False` by default, as in Keras); gradkit's `CategoricalCrossEntropy` reads
    logits. Called as Keras calls it: `loss(y_true, y_pred)`."""

    name = "categorical_crossentropy"

    def __init__(self, *, from_logits=False, label_smoothing=0.0, **kw):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, **kw)


class SparseCategoricalCrossentropy(_KerasOrder, SparseCategoricalCrossEntropy):
    """Keras's `SparseCategoricalCrossentropy`: integer labels against probabilities
    (`from_logits=False` by default, as in Keras); gradkit's `SparseCategoricalCrossEntropy`
    reads logits. Called as Keras calls it: `loss(y_true, y_pred)`."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, *, from_logits=False, **kw):
        super().__init__(from_logits=from_logits, **kw)


class BinaryCrossentropy(_KerasOrder, BinaryCrossEntropy):
    """Keras's `BinaryCrossentropy`: 0/1 (or soft) targets against probabilities
    (`from_logits=False` by default, as in Keras); gradkit's `BinaryCrossEntropy` reads logits.
    Called as Keras calls it: `loss(y_true, y_pred)`."""

    name = "binary_crossentropy"

    def __init__(self, *, from_logits=False, label_smoothing=0.0, **kw):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, **kw)


def _check_smoothing(eps):
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got label_smoothing={eps!r}")


LOSSES = Registry("loss", {cls.name: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, Huber, Hinge, MulticlassHinge, BinaryCrossEntropy,
    CrossEntropy, CategoricalCrossEntropy, SparseCategoricalCrossEntropy, GaussianNLL,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy)},
    case_sensitive=True)
for _alias, _cls in {"mean_squared_error": MeanSquaredError,
                     "mean_absolute_error": MeanAbsoluteError,
                     "bce": BinaryCrossEntropy, "crossentropy": CrossEntropy}.items():
    LOSSES.add(_cls, _alias)


def get(loss, **kwargs):
    """A loss from a name ("cross_entropy"), a config dict, a Loss object, or a callable."""
    if isinstance(loss, Loss) or (callable(loss) and not isinstance(loss, (str, dict))):
        return loss
    return LOSSES.create(loss, **kwargs)


def names():
    return LOSSES.names()
