"""`MLPRegressor`: scikit-learn's MLP regressor on gradkit's engine."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from gradkit.nn import losses
from gradkit.sklearn import _components as comp
from gradkit.sklearn._base import BaseMLP, loss_names
from gradkit.sklearn._params import Options, checked_fit

# Regression losses with one output per target (gaussian_nll needs two, hinge is a classifier's).
_REGRESSION_LOSSES = loss_names({None}) - {"gaussian_nll", "hinge"}


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's `MLPRegressor`, trained by gradkit.

    It minimizes scikit-learn's squared error ½·mean((y − ŷ)²) plus ½ α ‖W‖² / batch size with
    an identity output, with the same parameters and stopping rule, and adds what gradkit offers.

    Parameters: as `MLPClassifier` (scikit-learn's, then dropout, batch_norm, init, optimizer,
    learning_rate_schedule, callbacks, dtype), without class_weight, and
        loss: None or "squared_error" (scikit-learn's, ½ of gradkit's "mse"), or a gradkit
            regression loss: "mse", "mae", "huber", a config dict or a Loss object.

    Attributes:
        n_features_in_, feature_names_in_, n_outputs_, out_activation_ ("identity"), model_,
        loss_, loss_curve_, best_loss_, validation_scores_ (R²), validation_loss_curve_,
        best_validation_score_, n_iter_, t_, coefs_ and intercepts_ (the network's weights,
        scikit-learn's shapes), n_layers_.

    Differences from scikit-learn's: training runs in float32 by default; sparse input is
    refused; momentum must be < 1; the "poisson" loss is not offered.
    """

    _constraints: dict = {
        **BaseMLP._constraints,
        "loss": [None, Options(str, _REGRESSION_LOSSES | {"squared_error"}), dict, losses.Loss],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate="constant",
                 learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, batch_norm=False, init=None, loss=None,
                 optimizer=None, learning_rate_schedule=None, callbacks=None,
                 dtype="float32"):
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
        self.callbacks = callbacks
        self.dtype = dtype

    @checked_fit
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and targets y (n_samples[, n_outputs])."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_partial_fit())  # not with lbfgs or early_stopping
    @checked_fit
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=False, multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not reset and self.n_outputs_ != (1 if y.ndim == 1 else y.shape[1]):
            raise ValueError(f"y has {1 if y.ndim == 1 else y.shape[1]} targets; this model was "
                             f"fitted on {self.n_outputs_}")
        return X, y

    def _setup_targets(self, y):
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if self.loss is None or self.loss == "squared_error":
            return losses.MeanSquaredError(), 0.5, n_outputs, "identity"
        base = self._param("loss", comp.resolve_loss, self.loss)
        if getattr(base, "output", None) is not None:
            raise ValueError(f"loss={self.loss!r} is a classification loss; MLPRegressor needs "
                             "a regression loss such as 'squared_error', 'mae' or 'huber'")
        return base, 1.0, n_outputs, "identity"

    def _encode(self, y):
        return np.asarray(y, dtype=np.float32)

    def _fit_weights(self, y, sample_weight):
        return sample_weight

    def _score_outputs(self, outputs, y, sample_weight):
        if not np.isfinite(outputs).all():
            return float("nan")
        return float(r2_score(y, self._shaped(outputs), sample_weight=sample_weight))

    def _shaped(self, outputs):
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def predict(self, X):
        """Predicted targets: shape (n_samples,) for one target, else (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=False, dtype=(np.float64, np.float32),
                          reset=False)
        return self._shaped(self._decision(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
