"""The fitted attributes scikit-learn's MLPClassifier/MLPRegressor have, with their shapes."""

import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression

from gradkit.sklearn import MLPClassifier, MLPRegressor

ATTRS = ("n_layers_", "n_outputs_", "out_activation_", "n_iter_", "n_features_in_")


def _data(kind):
    if kind == "multiclass":
        X, y = load_iris(return_X_y=True)
        return X[::3], y[::3]
    if kind == "binary":
        X, y = load_iris(return_X_y=True)
        return X[::3], (y[::3] == 2).astype(int)
    if kind == "multilabel":
        return make_multilabel_classification(n_samples=60, n_features=5, n_classes=3,
                                              random_state=0)
    return make_regression(n_samples=60, n_features=4, n_targets=2, random_state=0)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_fitted_attributes_have_scikit_learns_shapes_and_values(kind):
    X, y = _data(kind)
    ours_cls, theirs_cls = ((MLPRegressor, sk.MLPRegressor) if kind == "regression"
                            else (MLPClassifier, sk.MLPClassifier))
    settings = dict(hidden_layer_sizes=(7, 5), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # both warn that 5 epochs do not converge
        ours = ours_cls(**settings).fit(X, y)
        theirs = theirs_cls(**settings).fit(X, y)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    for name in ATTRS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert len(ours.loss_curve_) == ours.n_iter_ == 5
    if kind != "regression":
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)


def test_coefs_are_the_networks_weights():
    X, y = _data("multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    # The forward pass written with the attributes, as scikit-learn users write it.
    hidden = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    logits = hidden @ clf.coefs_[1] + clf.intercepts_[1]
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                               clf.predict_proba(X), rtol=1e-4, atol=1e-6)
    # Assigning changes the model; a wrong shape is refused before anything changes.
    clf.intercepts_ = [np.zeros(6), np.array([0.0, 0.0, 50.0])]
    assert (clf.predict(X) == 2).all()
    before = [c.copy() for c in clf.coefs_]
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape \(3, 6\); expected \(6, 3\)"):
        clf.coefs_ = [np.zeros((4, 6)), np.zeros((3, 6))]
    for a, b in zip(before, clf.coefs_):
        np.testing.assert_array_equal(a, b)


def test_attributes_do_not_exist_before_fit():
    clf = MLPClassifier()
    for name in ("coefs_", "intercepts_", "n_layers_"):
        assert not hasattr(clf, name)
