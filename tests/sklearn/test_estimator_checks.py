"""scikit-learn's own estimator checks (`parametrize_with_checks`), on both estimators.

The default instances are checked as they are (the whole module takes ~20 s of CPU), plus variants
that exercise the other training paths: full-batch L-BFGS and SGD in float64, a network with
dropout and batch normalization, and early stopping with a learning-rate schedule.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gradkit.sklearn import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(solver="lbfgs", hidden_layer_sizes=(20,), max_iter=50, dtype="float64"),
    MLPRegressor(solver="sgd", learning_rate="adaptive", dtype="float64"),
    MLPClassifier(hidden_layer_sizes=(16, 8), dropout=0.1, batch_norm=True, init="he_normal",
                  batch_size=32, max_iter=100),
    MLPRegressor(early_stopping=True, validation_fraction=0.2, learning_rate_schedule="cosine"),
]

_FLOAT32 = (
    "training runs in float32 (gradkit's default): weighted and repeated rows are summed in "
    "different orders, so the two fits agree to about 1e-7, at the check's rtol=1e-7: it passes "
    "or fails by rounding (MLPRegressor() passes here, MLPClassifier() fails); the same "
    "network with dtype='float64' passes it always"
)
_PER_ROW_LAYERS = (
    "batch normalization and dropout act per row and know nothing of sample weights: a row of "
    "weight 2 counts once in BatchNorm's batch mean and gets one dropout mask, its two copies "
    "count twice and get two masks"
)
_VALIDATION_SPLIT = (
    "early stopping holds out a random validation split: a weighted row falls on one side, its "
    "copies may fall on both, so the two fits train and stop on different data"
)


def expected_failed_checks(estimator):
    if estimator.early_stopping:
        return {"check_sample_weight_equivalence_on_dense_data": _VALIDATION_SPLIT}
    if estimator.dropout or estimator.batch_norm:
        return {"check_sample_weight_equivalence_on_dense_data": _PER_ROW_LAYERS}
    if estimator.dtype == "float32":
        return {"check_sample_weight_equivalence_on_dense_data": _FLOAT32}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
