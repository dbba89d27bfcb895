"""scikit-learn's MLPClassifier examples, run as written with only the import line changed,
each checked against the result scikit-learn's documentation shows (or the spread of
scikit-learn's own random states where the result depends on the initial weights)."""

import numpy as np
import pytest


def test_user_guide_two_point_example():
    # scikit-learn's user guide, "Multi-layer Perceptron", classification.
    from gradkit.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

    X = [[0., 0.], [1., 1.]]
    y = [0, 1]
    clf = MLPClassifier(solver='lbfgs', alpha=1e-5,
                        hidden_layer_sizes=(5, 2), random_state=1)
    clf.fit(X, y)
    assert clf.predict([[2., 2.], [-1., -2.]]).tolist() == [1, 0]      # the guide's result
    proba = clf.predict_proba([[2., 2.], [-1., -2.]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 1] > 0.9 and proba[1, 0] > 0.9


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_user_guide_two_point_example_for_any_seed(random_state):
    # scikit-learn's initialization (uniform weights and biases) keeps the two ReLU units of
    # the second layer alive; zero biases left them dead on (0, 0) for most seeds.
    from gradkit.sklearn import MLPClassifier

    clf = MLPClassifier(solver='lbfgs', alpha=1e-5, hidden_layer_sizes=(5, 2),
                        random_state=random_state).fit([[0., 0.], [1., 1.]], [0, 1])
    assert clf.predict([[2., 2.], [-1., -2.]]).tolist() == [1, 0]


def test_api_reference_example():
    # The MLPClassifier API page's example.
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    from gradkit.sklearn import MLPClassifier

    X, y = make_classification(n_samples=100, random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y,
                                                        random_state=1)
    clf = MLPClassifier(random_state=1, max_iter=300).fit(X_train, y_train)
    proba = clf.predict_proba(X_test[:1])
    assert proba.shape == (1, 2) and proba.sum() == pytest.approx(1.0)
    assert clf.predict(X_test[:5, :]).tolist() == [1, 0, 1, 0, 1]       # the page's output
    # The page shows 0.88; scikit-learn's own random states 0-5 give 0.84-0.92.
    assert clf.score(X_test, y_test) >= 0.8


def test_pipeline_with_a_scaler_on_iris():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gradkit.sklearn import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,),
                                                        max_iter=300, random_state=0))
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.mean() > 0.85
    proba = clf.fit(X, y).predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert proba.shape == (150, 3)
