"""gradkit's estimators inside scikit-learn: accuracy parity, Pipeline, GridSearchCV, CV, pickle."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from gradkit.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def test_digits_accuracy_matches_scikit_learn(digits):
    X_train, X_test, y_train, y_test = digits
    settings = dict(hidden_layer_sizes=(100,), solver="adam", random_state=0, max_iter=50)
    theirs = _quiet_fit(SklearnMLPClassifier(**settings), X_train, y_train).score(X_test, y_test)
    ours = _quiet_fit(MLPClassifier(**settings), X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.01, (ours, theirs)
    assert ours > 0.95


def test_digits_lbfgs_and_sgd_learn(digits):
    X_train, X_test, y_train, y_test = digits
    for est in (MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
                MLPClassifier(solver="sgd", learning_rate_init=0.05, max_iter=50,
                              random_state=0)):
        assert _quiet_fit(est, X_train, y_train).score(X_test, y_test) > 0.93


def test_grid_search_over_alpha_and_hidden_layer_sizes(digits):
    X_train, X_test, y_train, y_test = digits
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(16,), (48,)]}
    search = GridSearchCV(MLPClassifier(max_iter=30, random_state=0), grid, cv=3)
    _quiet_fit(search, X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert isinstance(best, MLPClassifier)
    assert best.get_params()["hidden_layer_sizes"] in grid["hidden_layer_sizes"]
    assert best.alpha in grid["alpha"]
    assert search.score(X_test, y_test) > 0.9


def _diabetes_pipeline():
    return Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=500,
                             random_state=0)),
    ])


def test_pipeline_regressor_fits_diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
    pipe = _quiet_fit(_diabetes_pipeline(), X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.3
    assert pipe.predict(X_test).shape == (len(X_test),)


def test_cross_val_score_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(_diabetes_pipeline(), X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.3


@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
    lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, solver="sgd",
                          dropout=0.2, batch_norm=True),
    lambda: MLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
])
def test_pickle_round_trip_then_warm_start(digits, make):
    X_train, X_test, y_train, _ = digits
    est = _quiet_fit(make(), X_train, y_train)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X_test), est.predict(X_test))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(copy.predict_proba(X_test), est.predict_proba(X_test))
    # Training continues from the same weights, optimizer state and seed in both copies.
    before = est.predict(X_test)
    for e in (est, copy):
        _quiet_fit(e.set_params(warm_start=True, max_iter=3), X_train, y_train)
    np.testing.assert_array_equal(copy.predict(X_test), est.predict(X_test))
    assert copy.n_iter_ == 3
    assert len(copy.loss_curve_) == 5 + 3
    if isinstance(est, MLPRegressor):
        assert not np.array_equal(copy.predict(X_test), before)
    copy.partial_fit(X_train, y_train)
    assert copy.n_iter_ == 1


def test_pickle_lbfgs_estimator(digits):
    X_train, X_test, y_train, _ = digits
    est = _quiet_fit(MLPClassifier(solver="lbfgs", max_iter=20, random_state=0), X_train, y_train)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X_test), est.predict_proba(X_test))
    _quiet_fit(copy.set_params(warm_start=True), X_train, y_train)
    assert copy.score(X_train, y_train) >= est.score(X_train, y_train) - 0.01
