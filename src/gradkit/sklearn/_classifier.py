"""`MLPClassifier`: scikit-learn's MLP classifier on gradkit's engine."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from gradkit.nn import losses
from gradkit.sklearn import _components as comp
from gradkit.sklearn._base import BaseMLP, loss_names
from gradkit.sklearn._params import Options, checked_fit

# Cross-entropies that take integer labels or 0/1 indicator rows (the categorical_* names insist
# on one-hot rows; cross_entropy is the same loss without that restriction).
_CLASSIFICATION_LOSSES = (loss_names({"softmax", "sigmoid"})
                          - {"categorical_cross_entropy", "categorical_crossentropy"})


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's `MLPClassifier`, trained by gradkit.

    It minimizes the log-loss (softmax for several classes, a sigmoid unit for two classes or per
    label for multi-label targets) plus ½ α ‖W‖² / batch size, as scikit-learn does, with the
    same parameters and stopping rule, and adds what gradkit offers.

    Parameters shared with scikit-learn (same names, meanings and defaults):
        hidden_layer_sizes=(100,), activation="relu" (also "logistic", "tanh", "identity" and
        any gradkit activation name), solver="adam" ("adam", "sgd", "lbfgs"), alpha=1e-4,
        batch_size="auto" (min(200, n_samples)), learning_rate="constant" (sgd only:
        "invscaling", "adaptive"), learning_rate_init=1e-3, power_t=0.5, max_iter=200 (epochs;
        iterations for lbfgs), shuffle=True, random_state=None, tol=1e-4, verbose=False,
        warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
        validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
        max_fun=15000.

    gradkit's additions:
        dropout: drop probability after each hidden layer (default 0: none).
        batch_norm: BatchNorm before each hidden activation (default False).
        init: weight initializer name, config or object; None (the default) is
            scikit-learn's own: weights and biases uniform in ±sqrt(6 / (fan_in + fan_out))
            (2 instead of 6 for activation="logistic").
        loss: None or "log_loss" (scikit-learn's), or a gradkit cross-entropy (name, config dict
            or object), e.g. "cross_entropy" (softmax even for two classes) or
            {"name": "cross_entropy", "label_smoothing": 0.1}.
        optimizer: a gradkit optimizer (name, config dict or object) used instead of `solver`;
            a name gets learning_rate_init as its learning rate.
        learning_rate_schedule: "cosine", "linear", "inverse_sqrt", "constant" (built from
            learning_rate_init and max_iter epochs), a schedule config dict or a Schedule.
        class_weight: None, {label: weight}, or "balanced" (weights the rows' losses).
        callbacks: gradkit callbacks called by the fit loop (`self.model` is `model_`); their
            epoch logs hold "loss" and, with early stopping, "val_loss" and "val_score". They
            are used as given (so they can be inspected after fit); `clone`, and so
            GridSearchCV, hands each copy of the estimator copies of them.
        dtype: "float32" (default) or "float64": the network's weights, activations and
            gradients. With adam/sgd the fit loop still feeds inputs and targets as float32;
            full-batch solvers use the dtype throughout.

    Attributes:
        classes_, n_features_in_, feature_names_in_, n_outputs_, out_activation_, model_ (the
        gradkit Sequential), loss_, loss_curve_, best_loss_, validation_scores_,
        validation_loss_curve_, best_validation_score_, n_iter_, t_, coefs_ and intercepts_
        (the network's weights, scikit-learn's shapes), n_layers_.

    Differences from scikit-learn's: training runs in float32 by default; sparse input is
    refused; momentum must be < 1; predict_log_proba is computed from the logits.

    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    >>> clf.fit(X, y).predict(X[:3])        # doctest: +SKIP
    """

    _constraints: dict = {
        **BaseMLP._constraints,
        "loss": [None, Options(str, _CLASSIFICATION_LOSSES | {"log_loss"}), dict, losses.Loss],
        "class_weight": [None, dict, Options(str, {"balanced"})],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate="constant",
                 learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, batch_norm=False, init=None, loss=None,
                 optimizer=None, learning_rate_schedule=None, class_weight=None,
                 callbacks=None, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.init = init
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate_schedule = learning_rate_schedule
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.dtype = dtype

    # -- fitting --------------------------------------------------------------------------------
    @checked_fit
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and labels y (or a label indicator matrix).

        Returns self.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_partial_fit())  # not with lbfgs or early_stopping
    @checked_fit
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); `classes` (all labels) is required on the first call."""
        if self._first_partial_fit(classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=False, multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        _check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        if len(self.classes_) < 2 and not self._multilabel:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got "
                             f"one class: {self.classes_[0]!r}")
        return X, y

    def _first_partial_fit(self, classes):
        """Whether this partial_fit call is the first; it sets `classes_` from `classes`.

        `classes` is required on the first call and, when given again, must name the same labels.
        """
        known = getattr(self, "classes_", None)
        if known is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit; got "
                             "classes=None")
        if classes is None:
            return False
        if known is not None:
            if not np.array_equal(known, unique_labels(classes)):
                raise ValueError(f"classes={classes!r} is not the same as on the last call to "
                                 f"partial_fit, which had {known.tolist()!r}")
            return False
        self.classes_ = unique_labels(classes)
        return True

    @property
    def _multilabel(self):
        return self._label_binarizer.y_type_.startswith("multilabel")

    def _setup_targets(self, y):
        multilabel = self._multilabel
        n_classes = len(self.classes_)
        if self.loss is None or self.loss == "log_loss":
            if multilabel or n_classes == 2:
                # The sum over labels of scikit-learn's log-loss is gradkit's mean times L.
                n_out = n_classes if multilabel else 1
                return losses.BinaryCrossEntropy(), n_out, n_out, "logistic"
            return losses.CrossEntropy(), 1.0, n_classes, "softmax"
        base = self._param("loss", comp.resolve_loss, self.loss)
        kind = getattr(base, "output", None)
        if kind == "softmax" and not multilabel:
            return base, 1.0, n_classes, "softmax"
        if kind == "sigmoid" and (multilabel or n_classes == 2):
            return base, 1.0, n_classes if multilabel else 1, "logistic"
        target = "multilabel" if multilabel else f"{n_classes}-class"
        raise ValueError(f"loss={self.loss!r} cannot fit {target} targets: use a softmax "
                         "cross-entropy for several classes and a sigmoid one (binary) for two "
                         "classes or multi-label targets")

    def _encode(self, y):
        if self._multilabel:
            return self._label_binarizer.transform(y).astype(np.float32)
        idx = np.searchsorted(self.classes_, y)
        if self.out_activation_ == "softmax":
            return idx.astype(np.int64)
        return idx.astype(np.float32)

    def _fit_weights(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if self._multilabel:
            raise ValueError("class_weight is not supported for multilabel targets")
        weights = compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is None else weights * sample_weight

    def _stratify_validation(self):
        return not self._multilabel

    # -- inference -------------------------------------------------------------------------------
    def _labels(self, outputs):
        if self.out_activation_ == "softmax":
            return self.classes_[np.argmax(outputs, axis=1)]
        if self._multilabel:
            return self._label_binarizer.inverse_transform((outputs > 0).astype(int))
        return self.classes_[(outputs[:, 0] > 0).astype(np.intp)]

    def _score_outputs(self, outputs, y, sample_weight):
        if not np.isfinite(outputs).all():
            return float("nan")
        return float(accuracy_score(y, self._labels(outputs), sample_weight=sample_weight))

    def _checked_outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=False, dtype=(np.float64, np.float32),
                          reset=False)
        return self._decision(X)

    def predict(self, X):
        """Predicted labels (an indicator matrix for multi-label targets)."""
        return self._labels(self._checked_outputs(X))

    def predict_proba(self, X):
        """Class probabilities, columns ordered as `classes_` (per label for multi-label)."""
        z = self._checked_outputs(X)
        if self.out_activation_ == "softmax":
            return softmax(z, axis=1)
        if self._multilabel:
            return expit(z)
        # σ(-z), not 1 - σ(z): keeps the small probability that the subtraction would round to 0.
        return np.column_stack([expit(-z[:, 0]), expit(z[:, 0])])

    def predict_log_proba(self, X):
        """log(predict_proba(X)), computed from the logits (finite where the log would not be)."""
        z = self._checked_outputs(X)
        if self.out_activation_ == "softmax":
            return log_softmax(z, axis=1)
        log_p, log_q = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
        if self._multilabel:
            return log_p
        return np.column_stack([log_q[:, 0], log_p[:, 0]])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# Targets a classifier fits: discrete labels, one or several per row (scikit-learn's list).
_CLASSIFICATION_TARGETS = ("binary", "multiclass", "multiclass-multioutput",
                           "multilabel-indicator", "multilabel-sequences")


def _check_classification_targets(y):
    """Refuse continuous targets; warn where most labels occur once (a regression target?)."""
    kind = type_of_target(y, input_name="y")
    if kind not in _CLASSIFICATION_TARGETS:
        raise ValueError(f"Unknown label type: {kind}. A classifier needs discrete labels "
                         f"({', '.join(_CLASSIFICATION_TARGETS)}); got {kind} targets, which a "
                         "regressor (MLPRegressor) fits.")
    if "multiclass" in kind and len(y) > 20:
        n_classes = len(np.unique(y))
        if n_classes > round(0.5 * len(y)):
            warnings.warn(f"The number of unique classes ({n_classes}) is greater than 50% of "
                          f"the number of samples ({len(y)}); y may be a regression target.",
                          UserWarning)
