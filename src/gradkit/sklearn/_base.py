"""What MLPClassifier and MLPRegressor share: parameters, validation, the two training paths.

Stochastic solvers (adam, sgd, or any first-order gradkit optimizer) run `Sequential.fit` once
for all epochs, with `EpochMonitor` doing scikit-learn's per-epoch bookkeeping and stopping.
Full-batch methods (lbfgs, newton) minimize a closure over all the rows.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from gradkit import optim
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import InvalidParameterError, TrainingDiverged
from gradkit.nn import activations, initializers, losses
from gradkit.nn.layers import Dense
from gradkit.optim import schedules
from gradkit._threads import blas_limit
from gradkit.sklearn import _components as comp
from gradkit.sklearn._monitor import EpochMonitor
from gradkit.sklearn._params import RANDOM_STATE, VERBOSE, Boolean, Interval, Options, Sizes
from gradkit.train import Sequential

# Rows per forward pass at prediction time (bounds the memory of the float64 activations).
PREDICT_CHUNK = 8192

_ACTIVATIONS = (set(activations.names()) - {"softmax", "log_softmax"}) | set(
    comp.ACTIVATION_ALIASES)


# Below this many parameters, fit with one BLAS thread.
SMALL_MODEL = 100_000


class BaseMLP(BaseEstimator):
    """Base class of the scikit-learn-compatible estimators; use the subclasses."""

    # What each parameter accepts (see _params); checked when fit and partial_fit start.
    _constraints: dict = {
        "hidden_layer_sizes": [Sizes()],
        "activation": [Options(str, _ACTIVATIONS)],
        "solver": [Options(str, {"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Options(str, {"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Options(str, {"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": [Boolean()],
        "random_state": RANDOM_STATE,
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": VERBOSE,
        "warm_start": [Boolean()],
        # gradkit's SGD needs momentum < 1 (scikit-learn accepts 1, which never decays).
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": [Boolean()],
        "early_stopping": [Boolean()],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(float, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": [Boolean()],
        "init": [None, Options(str, set(initializers.names())), dict, initializers.Initializer],
        "optimizer": [None, str, dict, optim.Optimizer],
        "learning_rate_schedule": [None, Options(str, set(comp.SCHEDULE_NAMES)), dict,
                                   schedules.Schedule],
        "callbacks": [None, list],
        "dtype": [Options(str, {"float32", "float64"}), Options(type, {np.float32, np.float64})],
    }

    # -- subclass hooks -------------------------------------------------------------------------
    # _validate_input(X, y, incremental, reset) -> X, y
    # _setup_targets(y) -> (base loss, loss scale, n_outputs, out_activation); first pass only
    # _encode(y) -> targets as the gradkit loss wants them
    # _fit_weights(y, sample_weight) -> per-row weights or None
    # _score_outputs(outputs, y, sample_weight) -> float

    # -- fitting --------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, len(X))
        weights = self._fit_weights(y, sample_weight)
        if weights is not None and not np.any(weights > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        full_batch = comp.requires_closure(self.optimizer, self.solver)
        if full_batch and self.dropout:
            raise ValueError(f"dropout={self.dropout!r} makes the loss random, which a "
                             "full-batch solver (lbfgs, newton) cannot minimize; use dropout=0 "
                             "or solver='adam'/'sgd'")
        if first_pass:
            self._initialize(X, y, hidden)
        targets = self._encode(y)
        # The networks people fit through this interface are mostly small: their matrix
        # products gain nothing from BLAS threads, which only add synchronization (and spin
        # against any other busy process on a small machine).
        small = self.model_.num_parameters() < SMALL_MODEL
        with blas_limit(1 if small else None):
            if full_batch:
                self._fit_full_batch(X, targets, weights)
            else:
                self._fit_stochastic(X, y, targets, weights, incremental)
        return self

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        return [int(s) for s in sizes]

    def _initialize(self, X, y, hidden):
        """Build a fresh network and reset every fitted attribute (first fit, or no warm start)."""
        base, scale, n_outputs, out_activation = self._setup_targets(y)
        loss = comp.BatchLoss(base, scale)
        nominal_batch = min(200, len(X)) if self.batch_size == "auto" else self.batch_size
        penalty = comp.BatchL2(self.alpha, loss, nominal_batch) if self.alpha > 0 else None
        init = None if self.init is None else self._param("init", comp.resolve_init, self.init)
        layers = comp.build_layers(hidden, activation=self.activation, init=init,
                                   n_features=int(np.prod(X.shape[1:])),
                                   dropout=float(self.dropout), batch_norm=self.batch_norm,
                                   n_outputs=n_outputs, penalty=penalty,
                                   dtype=np.dtype(self.dtype).type)
        model = Sequential(layers, name=type(self).__name__)
        model.loss = loss
        model.feature_names = (None if not hasattr(self, "feature_names_in_")
                               else [str(c) for c in self.feature_names_in_])
        self.model_ = model
        self.n_outputs_ = n_outputs
        self.out_activation_ = out_activation
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._learning_rate = float(self.learning_rate_init)
        self._best_weights = None
        if self.early_stopping:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _param(self, name, build, value):
        """Build a component from a parameter; a value gradkit refuses names the parameter."""
        try:
            return build(value)
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(self).__name__} is not usable: got "
                f"{value!r} ({e})") from e

    def _seed(self, incremental):
        """fit's seed: the int random_state (with the samples seen so far, for partial_fit)."""
        rs = self.random_state
        if rs is None:
            return None
        if isinstance(rs, Integral):
            return [int(rs), int(self.t_)] if incremental else int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _fit_stochastic(self, X, y, targets, weights, incremental):
        model = self.model_
        validation = None
        if self.early_stopping:
            X, targets, weights, validation = self._split_validation(X, y, targets, weights)
        n = len(X)
        batch_size = self._batch_size(n)
        steps = math.ceil(n / batch_size)
        if not incremental or model.optimizer is None or model.optimizer.requires_closure:
            lr = self._param("learning_rate_schedule", lambda spec: comp.resolve_schedule(
                spec, lr=float(self.learning_rate_init), steps_per_epoch=steps,
                epochs=self.max_iter), self.learning_rate_schedule)
            model.optimizer = self._param("optimizer", lambda _: comp.make_optimizer(self, lr),
                                          self.optimizer)
            self._learning_rate = float(self.learning_rate_init)
        sklearn_lr = None
        if (self.optimizer is None and self.solver == "sgd"
                and self.learning_rate_schedule is None and self.learning_rate != "constant"):
            sklearn_lr = self.learning_rate
        monitor = EpochMonitor(self, n, validation, sklearn_lr)
        self.n_iter_ = 0
        try:
            model.fit(X, targets, batch_size=batch_size, epochs=1 if incremental else self.max_iter,
                      shuffle=bool(self.shuffle), sample_weight=weights,
                      callbacks=[monitor, *(self.callbacks or [])],
                      seed=self._seed(incremental), verbose=0)
        except TrainingDiverged as e:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             f"contain large values and need to be preprocessed. ({e})") from e
        if validation is not None:
            monitor.restore_best()
        if not incremental and not model.stop_training and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)

    def _split_validation(self, X, y, targets, weights):
        """Hold out validation_fraction of the rows (stratified for single-label classes)."""
        stratify = y if self._stratify_validation() else None
        idx = np.arange(len(X))
        train, val = train_test_split(idx, random_state=check_random_state(self.random_state),
                                      test_size=self.validation_fraction, stratify=stratify)
        if len(val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        w_val = None if weights is None else weights[val]
        w_train = None if weights is None else weights[train]
        return X[train], targets[train], w_train, (X[val], y[val], w_val)

    def _stratify_validation(self):
        return False

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _fit_full_batch(self, X, targets, weights):
        """Minimize the loss over all rows at once (lbfgs, newton): one closure, no batches."""
        model = self.model_
        opt = self._param("optimizer", lambda _: comp.make_optimizer(
            self, float(self.learning_rate_init)), self.optimizer)
        model.optimizer = opt
        if not model.built:
            model.build(X.shape[1:], seed=self._seed(False))
        opt.bind(model.parameters())
        xt = Tensor(np.ascontiguousarray(X, dtype=self.dtype))
        model.train()

        def closure():
            opt.zero_grad()
            # A non-finite value is the optimizer's to refuse (it keeps the best finite point);
            # NumPy's warning on the way there would only repeat it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss = model.loss(model.forward(xt), targets, weights)
                penalty = model.penalty()
                if penalty is not None:
                    loss = loss + penalty
                if np.isfinite(loss.data):
                    loss.backward()
            return loss

        result = opt.minimize(closure, maxiter=self.max_iter)
        self.n_iter_ = int(result.iterations)
        self.t_ += len(X)
        self.loss_ = float(result.loss)
        self.loss_curve_.append(self.loss_)
        if not math.isfinite(self.loss_):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        if not result.success:
            warnings.warn(f"{opt.name} failed to converge after {self.n_iter_} iteration(s): "
                          f"{result.message}. Increase the number of iterations (max_iter) or "
                          "scale the data.", ConvergenceWarning)

    def _check_partial_fit(self):
        if comp.requires_closure(self.optimizer, self.solver):
            raise AttributeError("partial_fit is only available for stochastic optimizers; "
                                 f"solver={self.solver!r}, optimizer={self.optimizer!r} trains "
                                 "full-batch")
        if self.early_stopping:
            # One epoch on a batch of rows has no validation split to stop on.
            raise AttributeError("partial_fit is not available with early_stopping=True")
        return True

    # -- inference -------------------------------------------------------------------------------
    def _decision(self, X):
        """The network's outputs (logits for classifiers), float64, in eval mode."""
        model = self.model_
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                chunks = [model.forward(Tensor(np.asarray(X[i:i + PREDICT_CHUNK],
                                                          dtype=np.float64))).data
                          for i in range(0, len(X), PREDICT_CHUNK)]
        finally:
            model.train(was_training)
        return np.asarray(np.concatenate(chunks), dtype=np.float64)

    # -- scikit-learn's fitted weights, read from (and written into) the network ----------------
    def _dense_layers(self):
        return [layer for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def coefs_(self):
        """Weight matrices, one per layer transition, (n_in, n_out) as scikit-learn's.

        The arrays are the network's own (a change in place changes the model, as in
        scikit-learn); assigning a list copies it in after checking the shapes.
        """
        return [layer.W.data for layer in self._dense_layers()]

    @coefs_.setter
    def coefs_(self, values):
        self._assign("coefs_", [layer.W.data for layer in self._dense_layers()], values)

    @property
    def intercepts_(self):
        """Bias vectors, one per layer transition, (n_out,) as scikit-learn's."""
        return [layer.b.data for layer in self._dense_layers()]

    @intercepts_.setter
    def intercepts_(self, values):
        self._assign("intercepts_", [layer.b.data for layer in self._dense_layers()], values)

    @property
    def n_layers_(self):
        """Number of layers, input and output included (scikit-learn's count)."""
        return len(self._dense_layers()) + 1

    def _assign(self, name, targets, values):
        values = list(values)
        if len(values) != len(targets):
            raise ValueError(f"{name} needs {len(targets)} arrays, got {len(values)}")
        arrays = [np.asarray(v) for v in values]
        for i, (target, value) in enumerate(zip(targets, arrays)):
            if value.shape != target.shape:
                raise ValueError(f"{name}[{i}] has shape {value.shape}; expected {target.shape}")
        for target, value in zip(targets, arrays):
            target[...] = value      # in place: the weights may be views of a flat buffer

    def _loss_on(self, outputs, y):
        """The (unpenalized) loss of `outputs` against labels y, as trained."""
        with no_grad():
            return float(np.asarray(self.model_.loss(Tensor(outputs), self._encode(y)).data))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False   # gradkit computes on dense arrays
        return tags


def check_sample_weight(sample_weight, n_samples):
    """Per-row weights as float64: a number (the same for every row) or one value per row.

    The weights must be finite and non-negative; that none is positive is fit's to refuse.
    """
    if isinstance(sample_weight, Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    w = check_array(sample_weight, ensure_2d=False, dtype=np.float64, order="C",
                    input_name="sample_weight")
    if w.ndim != 1 or len(w) != n_samples:
        raise ValueError(f"sample_weight must be a number or one weight per row of X "
                         f"({n_samples} rows); got an array of shape {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be non-negative; got {float(w[w < 0][0])!r} in row "
                         f"{int(np.argmax(w < 0))}")
    return w


def loss_names(outputs):
    """gradkit's loss names whose predictions are read as `outputs` (softmax, sigmoid, None)."""
    return {name for name in losses.names() if losses.get(name).output in outputs}
