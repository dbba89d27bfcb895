"""MLPClassifier / MLPRegressor: scikit-learn's semantics (loss, stopping, attributes) and gradkit's
additions (dropout, batch norm, optimizers, schedules, callbacks, class weights)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.utils import check_random_state

import gradkit as gk
from gradkit import Sequential, optim
from gradkit.errors import InvalidParameterError
from gradkit.train.callbacks import Callback
from gradkit.sklearn import MLPClassifier, MLPRegressor


def _blobs(n=120, n_classes=3, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_classes, n_features))
    y = np.arange(n) % n_classes
    return centers[y] + rng.normal(size=(n, n_features)), y


def _regression(n=100, n_features=3, n_targets=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    W = rng.normal(size=(n_features, n_targets))
    y = np.tanh(X @ W) + 0.05 * rng.normal(size=(n, n_targets))
    return X, (y[:, 0] if n_targets == 1 else y)


@pytest.fixture
def no_convergence_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- the objective: scikit-learn's loss and L2 penalty -------------------------------------------

def _first_epoch_loss(est, X, y, sample_weight=None):
    """loss_curve_[0] of one full-batch epoch with a negligible step: the initial loss."""
    est.set_params(batch_size=len(X), learning_rate_init=1e-12, max_iter=1, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, sample_weight=sample_weight)
    return est.loss_curve_[0]


def _kernels(est):
    return [layer.W.data.astype(np.float64) for layer in est.model_.layers
            if hasattr(layer, "W")]


def test_regressor_loss_is_half_squared_error_plus_scaled_l2():
    X, y = _regression(n=40)
    est = MLPRegressor(hidden_layer_sizes=(5,), alpha=0.3, random_state=0, dtype="float64")
    loss = _first_epoch_loss(est, X, y)
    pred = est.predict(X)
    penalty = sum(float((W ** 2).sum()) for W in _kernels(est))
    expected = 0.5 * np.mean((y - pred) ** 2) + 0.5 * 0.3 * penalty / len(X)
    assert loss == pytest.approx(expected, rel=1e-6)


def test_weighted_loss_divides_by_the_weight_sum():
    X, y = _regression(n=30)
    w = np.arange(30) % 4 * 1.0
    est = MLPRegressor(hidden_layer_sizes=(4,), alpha=0.5, random_state=1, dtype="float64")
    loss = _first_epoch_loss(est, X, y, sample_weight=w)
    pred = est.predict(X)
    penalty = sum(float((W ** 2).sum()) for W in _kernels(est))
    expected = (0.5 * np.sum(w * (y - pred) ** 2) + 0.5 * 0.5 * penalty) / w.sum()
    assert loss == pytest.approx(expected, rel=1e-6)


def test_classifier_log_loss_binary_and_multiclass():
    for n_classes in (2, 3):
        X, y = _blobs(n=60, n_classes=n_classes)
        est = MLPClassifier(hidden_layer_sizes=(6,), alpha=0.0, random_state=0, dtype="float64")
        loss = _first_epoch_loss(est, X, y)
        proba = est.predict_proba(X)
        assert loss == pytest.approx(-np.mean(np.log(proba[np.arange(len(y)), y])), rel=1e-6)
        assert est.out_activation_ == ("logistic" if n_classes == 2 else "softmax")
        assert est.n_outputs_ == (1 if n_classes == 2 else 3)


def test_multilabel_log_loss_sums_over_labels():
    X, _ = _blobs(n=50)
    Y = (X[:, :3] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(6,), alpha=0.0, random_state=0, dtype="float64")
    loss = _first_epoch_loss(est, X, Y)
    p = est.predict_proba(X)
    expected = -np.mean(np.sum(Y * np.log(p) + (1 - Y) * np.log(1 - p), axis=1))
    assert loss == pytest.approx(expected, rel=1e-6)
    assert est.predict(X).shape == Y.shape
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


# -- stopping, curves and attributes ---------------------------------------------------------------

def test_stops_after_n_iter_no_change_epochs_without_improvement():
    X, y = _blobs()
    # With tol this large only the first epoch (best_loss_ starts at inf) is an improvement;
    # scikit-learn stops once the count of the others exceeds n_iter_no_change.
    settings = dict(hidden_layer_sizes=(8,), tol=1e6, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier(**settings).fit(X, y)
        theirs = SklearnMLPClassifier(**settings).fit(X, y)
    assert est.n_iter_ == theirs.n_iter_ == 5
    assert len(est.loss_curve_) == 5
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.loss_ == est.loss_curve_[-1]
    assert est.t_ == 5 * len(X)


def test_convergence_warning_when_max_iter_is_reached():
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPRegressor(solver="lbfgs", max_iter=2, random_state=0).fit(*_regression())


def test_early_stopping_keeps_the_best_validation_weights(no_convergence_warning):
    X, y = _blobs(n=200, seed=3)
    est = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=5, learning_rate_init=0.01, max_iter=300,
                        random_state=4).fit(X, y)
    assert est.best_loss_ is None
    assert len(est.validation_scores_) == est.n_iter_ == len(est.validation_loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    # The same split as fit's: the restored network scores the best validation score on it.
    _, X_val, _, y_val = train_test_split(X, y, random_state=check_random_state(4),
                                          test_size=0.2, stratify=y)
    assert est.score(X_val, y_val) == pytest.approx(est.best_validation_score_)
    assert all(np.isfinite(est.validation_loss_curve_))
    assert est.n_iter_ < 300 and est.best_validation_score_ > 0.9
    # A warm-started fit that never beats the best score keeps (restores) the best weights.
    best, n_before = est.predict_proba(X_val), est.n_iter_
    est.set_params(warm_start=True, learning_rate_init=1e-9).fit(X, y)
    assert len(est.validation_scores_) == len(est.loss_curve_) == n_before + est.n_iter_
    np.testing.assert_allclose(est.predict_proba(X_val), best, atol=1e-6)


def test_regressor_early_stopping_scores_r2(no_convergence_warning):
    X, y = _regression(n=200, n_targets=2)
    est = MLPRegressor(hidden_layer_sizes=(16,), early_stopping=True, learning_rate_init=0.01,
                       random_state=0).fit(X, y)
    assert est.n_outputs_ == 2 and est.out_activation_ == "identity"
    assert est.predict(X).shape == (200, 2)
    assert est.best_validation_score_ > 0.5


def test_same_random_state_same_model(no_convergence_warning):
    X, y = _blobs()
    kw = dict(hidden_layer_sizes=(8,), max_iter=10, dropout=0.2)
    a = MLPClassifier(random_state=7, **kw).fit(X, y).predict_proba(X)
    b = MLPClassifier(random_state=7, **kw).fit(X, y).predict_proba(X)
    c = MLPClassifier(random_state=8, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_partial_fit(no_convergence_warning):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    est.partial_fit(X[60:], y[60:])
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 2 and est.t_ == len(X)
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 5)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(early_stopping=True), "partial_fit")
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(*_regression())
    assert len(reg.loss_curve_) == 3


def test_predict_proba_and_log_proba_for_string_labels(no_convergence_warning):
    X, y = _blobs(n_classes=2)
    labels = np.array(["no", "yes"])[y]
    est = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=20,
                        random_state=0).fit(X, labels)
    np.testing.assert_array_equal(est.classes_, ["no", "yes"])
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-10)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, labels) > 0.9


def test_fitted_attributes(no_convergence_warning):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=5, random_state=0).fit(X, y)
    assert isinstance(est.model_, Sequential)
    assert est.n_features_in_ == 4
    assert not hasattr(est, "feature_names_in_")
    assert est.validation_scores_ is None and est.validation_loss_curve_ is None
    assert [layer.units for layer in est.model_.layers] == [8, 4, 3]


def test_feature_names_from_a_dataframe(no_convergence_warning):
    pa = pytest.importorskip("pyarrow")
    X, y = _blobs()
    table = pa.table({name: X[:, i] for i, name in enumerate("abcd")})
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(table, y)
    np.testing.assert_array_equal(est.feature_names_in_, list("abcd"))
    assert est.model_.feature_names == list("abcd")
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        plain = est.predict(X)
    np.testing.assert_array_equal(est.predict(table), plain)


def test_model_is_a_gradkit_model_that_saves_and_loads(tmp_path, no_convergence_warning):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(8,), batch_norm=True, max_iter=5,
                        random_state=0).fit(X, y)
    gk.save(est.model_, tmp_path / "mlp.safetensors")
    loaded = gk.load(tmp_path / "mlp.safetensors")
    np.testing.assert_array_equal(loaded.predict(X), est.model_.predict(X))
    np.testing.assert_array_equal(loaded.predict(X).argmax(axis=1), est.predict(X))


def test_float64_networks(no_convergence_warning):
    X, y = _regression()
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, dtype="float64",
                       random_state=0).fit(X, y)
    assert all(p.data.dtype == np.float64 for p in est.model_.parameters())
    assert est.predict(X).dtype == np.float64


def test_verbose_prints_like_scikit_learn(capsys, no_convergence_warning):
    X, y = _blobs()
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


# -- gradkit's additions ---------------------------------------------------------------------------

def test_dropout_and_batch_norm_layers(no_convergence_warning):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(16, 8), dropout=0.25, batch_norm=True,
                        init="he_normal", activation="gelu", batch_size=16,
                        learning_rate_init=0.01, max_iter=50, random_state=0).fit(X, y)
    kinds = [type(layer).__name__ for layer in est.model_.layers]
    assert kinds == ["Dense", "BatchNorm", "Activation", "Dropout"] * 2 + ["Dense"]
    assert est.score(X, y) > 0.9
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(solver="lbfgs", dropout=0.5).fit(X, y)


def test_optimizer_loss_and_schedule_parameters(no_convergence_warning):
    X, y = _blobs(n_classes=2)
    adam = optim.Adam(0.01)
    est = MLPClassifier(hidden_layer_sizes=(8,), optimizer=adam, max_iter=30,
                        learning_rate_schedule={"name": "exponential", "initial": 0.02,
                                                "k": 0.01},
                        loss="cross_entropy", random_state=0).fit(X, y)
    assert adam.iterations == 0 and adam._flat is None     # the parameter is left untouched
    assert est.model_.optimizer is not adam
    assert est.n_outputs_ == 2 and est.out_activation_ == "softmax"
    assert est.score(X, y) > 0.9
    rms = MLPClassifier(hidden_layer_sizes=(8,), optimizer="rmsprop", max_iter=30,
                        learning_rate_schedule="cosine", random_state=0).fit(X, y)
    assert type(rms.model_.optimizer).__name__ == "RMSProp"
    assert rms.model_.optimizer.schedule.initial == pytest.approx(1e-3)
    newton = MLPRegressor(hidden_layer_sizes=(3,), optimizer="newton", max_iter=5,
                          random_state=0).fit(*_regression())
    assert newton.n_iter_ >= 1
    huber = MLPRegressor(hidden_layer_sizes=(8,), loss="huber", max_iter=20,
                         random_state=0).fit(*_regression())
    assert huber.model_.loss.name == "huber"


@pytest.mark.parametrize("settings, final_lr", [
    # scikit-learn's invscaling rate after the last epoch: lr_init / (t_ + 1) ** power_t.
    (dict(learning_rate="invscaling", max_iter=3), lambda t: 0.1 / (t + 1) ** 0.5),
    # Epoch 1 improves on best_loss_ = inf; after it the stall count exceeds 1 every second
    # epoch (3 and 5), and each time the rate is divided by 5.
    (dict(learning_rate="adaptive", tol=1e6, n_iter_no_change=1, max_iter=6),
     lambda t: 0.1 / 5 ** 2),
])
def test_sgd_learning_rate_modes_follow_scikit_learn(settings, final_lr, no_convergence_warning):
    X, y = _blobs()
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.1, random_state=0)
    ours = MLPClassifier(**kw, **settings).fit(X, y)
    theirs = SklearnMLPClassifier(**kw, **settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    # scikit-learn keeps its rate on a private optimizer object; its public t_ gives the rule's.
    assert ours.model_.optimizer.lr == pytest.approx(final_lr(theirs.t_))


def test_class_weight(no_convergence_warning):
    X, y = _blobs(n=90, seed=1)
    X = X + np.random.default_rng(0).normal(scale=6.0, size=X.shape)   # overlapping classes
    plain = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit(X, y)
    heavy = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0,
                          class_weight={0: 100.0, 1: 0.01, 2: 0.01}).fit(X, y)
    assert np.mean(heavy.predict(X) == 0) > np.mean(plain.predict(X) == 0)
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, class_weight="balanced").fit(X, y)


class _StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs, self.seen = epochs, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(dict(logs))
        if len(self.seen) == self.epochs:
            self.model.stop_training = True


def test_callbacks_see_the_logs_and_can_stop():
    X, y = _blobs()
    cb = _StopAfter(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)   # a callback's stop is no failure
        est = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, callbacks=[cb],
                            random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    assert [log["loss"] for log in cb.seen] == est.loss_curve_
    assert [log["val_score"] for log in cb.seen] == est.validation_scores_
    assert cb.model is est.model_


# -- parameter validation ------------------------------------------------------------------------

@pytest.mark.parametrize("cls, param, value", [
    (MLPClassifier, "alpha", -1.0),
    (MLPClassifier, "solver", "newton-cg"),
    (MLPClassifier, "activation", "swishy"),
    (MLPClassifier, "hidden_layer_sizes", (10, 0)),
    (MLPClassifier, "hidden_layer_sizes", "wide"),
    (MLPClassifier, "batch_size", 0),
    (MLPClassifier, "learning_rate_init", 0.0),
    (MLPClassifier, "max_iter", 0),
    (MLPClassifier, "momentum", 1.5),
    (MLPClassifier, "dropout", 1.0),
    (MLPClassifier, "init", "he_wide"),
    (MLPClassifier, "loss", "mse"),
    (MLPClassifier, "class_weight", "even"),
    (MLPClassifier, "optimizer", "adamax"),
    (MLPClassifier, "optimizer", 3),
    (MLPClassifier, "learning_rate_schedule", "exponential"),
    (MLPClassifier, "learning_rate_schedule", {"name": "cosine"}),
    (MLPClassifier, "dtype", "float16"),
    (MLPClassifier, "callbacks", "early"),
    (MLPRegressor, "loss", "cross_entropy"),
    (MLPRegressor, "validation_fraction", 1.0),
    (MLPRegressor, "n_iter_no_change", 0),
])
def test_invalid_parameters_name_the_parameter(cls, param, value):
    X, y = _blobs(n=30)
    est = cls(**{"max_iter": 2, param: value})
    with pytest.raises(InvalidParameterError, match=rf"'{param}' parameter of {cls.__name__}"):
        est.fit(X, y)


def test_import_gradkit_does_not_import_sklearn():
    code = "import sys, gradkit; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_classifier_needs_two_classes():
    X, _ = _blobs(n=10)
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().fit(X, np.ones(10))


def test_non_finite_training_raises_value_error():
    X, y = _regression()
    est = MLPRegressor(solver="sgd", learning_rate_init=1e6, momentum=0.0, max_iter=50,
                       random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y * 1e20)


@pytest.mark.parametrize("settings", [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.1, beta_1=0.8, epsilon=1e-4),
    dict(solver="adam", epsilon=1e-2, batch_size=120),      # full batch: ε's place shows
    dict(solver="sgd", momentum=0.9),
])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_coefficients_after_a_few_epochs_are_scikit_learns(settings, kind,
                                                           no_convergence_warning):
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

    X, y = _blobs() if kind == "classifier" else _regression(n=120)
    ours_cls, theirs_cls = ((MLPClassifier, SklearnMLPClassifier) if kind == "classifier"
                            else (MLPRegressor, SklearnMLPRegressor))
    kw = dict(hidden_layer_sizes=(5,), learning_rate_init=0.05, batch_size=40, shuffle=False,
              random_state=0, warm_start=True, max_iter=1, tol=0, n_iter_no_change=1000)
    kw.update(settings)
    ours, theirs = ours_cls(**kw).fit(X, y), theirs_cls(**kw).fit(X, y)
    rng = np.random.default_rng(1)
    coefs = [rng.normal(size=c.shape) * 0.5 for c in theirs.coefs_]
    intercepts = [rng.normal(size=b.shape) * 0.5 for b in theirs.intercepts_]
    for est in (ours, theirs):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
        est.set_params(max_iter=6)
        est.fit(X, y)                   # a new fit: a new optimizer, from these weights
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, atol=2e-6)
    # The first entry is the warm-up fit's, from each library's own random initial weights.
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-5)
