"""scikit-learn estimators backed by gradkit: drop-in `MLPClassifier` and `MLPRegressor`.

    from gradkit.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.2, random_state=0).fit(X, y)

They take scikit-learn's MLP parameters (same names, defaults and stopping rule), pass its
estimator checks, and work in Pipeline, GridSearchCV and cross_val_score; the fitted network
is `model_`, a `gradkit.Sequential`. This package is the only part of gradkit that imports
scikit-learn (`import gradkit` does not import it).
"""

from gradkit.sklearn._classifier import MLPClassifier
from gradkit.sklearn._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
