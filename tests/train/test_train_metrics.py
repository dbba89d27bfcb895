"""Metrics by name, against hand-computed values and scikit-learn's."""

import numpy as np
import pytest
from sklearn import metrics as skm

import gradkit as gk
from gradkit.train import metrics


def logits_for(classes, n_classes):
    """Logits whose arg-max is `classes` (the true class gets 2, the others smaller values)."""
    z = np.tile(np.linspace(-1.0, 0.0, n_classes), (len(classes), 1))
    z[np.arange(len(classes)), classes] = 2.0
    return z.astype(np.float32)


# y_true = [0, 1, 2, 2], predicted [0, 2, 2, 1]:
#   class 0: TP 1, predicted 1, actual 1 -> P 1,   R 1,   F1 1
#   class 1: TP 0, predicted 1, actual 1 -> P 0,   R 0,   F1 0
#   class 2: TP 1, predicted 2, actual 2 -> P 1/2, R 1/2, F1 1/2
WORKED_TRUE = np.array([0, 1, 2, 2])
WORKED_PRED = logits_for(np.array([0, 2, 2, 1]), 3)


def test_worked_example_by_hand():
    assert metrics.accuracy(WORKED_TRUE, WORKED_PRED) == 0.5
    assert metrics.macro_precision(WORKED_TRUE, WORKED_PRED) == pytest.approx(0.5)
    assert metrics.macro_recall(WORKED_TRUE, WORKED_PRED) == pytest.approx(0.5)
    assert metrics.f1(WORKED_TRUE, WORKED_PRED) == pytest.approx(0.5)
    np.testing.assert_array_equal(metrics.confusion_matrix(WORKED_TRUE, WORKED_PRED),
                                  [[1, 0, 0], [0, 0, 1], [0, 1, 1]])


def test_uneven_classes_by_hand():
    # true [0, 0, 0, 1], predicted [0, 1, 1, 1]:
    # class 0: P 1/1, R 1/3;  class 1: P 1/3, R 1/1;  F1 both 2(1/3)/(4/3) = 1/2
    y, z = np.array([0, 0, 0, 1]), logits_for(np.array([0, 1, 1, 1]), 2)
    assert metrics.macro_precision(y, z) == pytest.approx((1 + 1 / 3) / 2)
    assert metrics.macro_recall(y, z) == pytest.approx((1 / 3 + 1) / 2)
    assert metrics.f1(y, z) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=200)
    z = rng.normal(size=(200, 5)).astype(np.float32)
    z[np.arange(200), y] += rng.normal(1.0, 1.0, size=200).astype(np.float32)   # better than chance
    pred = z.argmax(axis=1)
    assert metrics.accuracy(y, z) == pytest.approx(skm.accuracy_score(y, pred))
    for ours, theirs in [(metrics.macro_precision, skm.precision_score),
                         (metrics.macro_recall, skm.recall_score), (metrics.f1, skm.f1_score)]:
        assert ours(y, z) == pytest.approx(theirs(y, pred, average="macro", zero_division=0))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, z),
                                  skm.confusion_matrix(y, pred, labels=range(5)))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, z, n_classes=7)[:5, :5],
                                  skm.confusion_matrix(y, pred))


def test_macro_average_skips_classes_that_never_occur():
    # A 10-class model scored on three classes: the seven absent ones have no precision or
    # recall, and must not count as zeros (scikit-learn's macro average does the same).
    y, z = WORKED_TRUE, np.pad(WORKED_PRED, ((0, 0), (0, 7)), constant_values=-5.0)
    pred = z.argmax(axis=1)
    assert metrics.macro_precision(y, z) == pytest.approx(0.5)
    assert metrics.macro_recall(y, z) == pytest.approx(
        skm.recall_score(y, pred, average="macro", zero_division=0))
    assert metrics.f1(y, z) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert metrics.confusion_matrix(y, z, n_classes=10).shape == (10, 10)


def test_one_hot_labels_and_single_logit():
    onehot = np.eye(3)[WORKED_TRUE]
    assert metrics.accuracy(onehot, WORKED_PRED) == 0.5
    assert metrics.f1(onehot, WORKED_PRED) == pytest.approx(0.5)
    # One logit per sample: positive means class 1.
    y = np.array([1, 0, 1, 1, 0])
    z = np.array([[2.0], [-1.0], [-0.5], [0.1], [0.3]], dtype=np.float32)
    pred = np.array([1, 0, 0, 1, 1])
    assert metrics.accuracy(y, z) == pytest.approx(0.6)
    assert metrics.macro_precision(y, z) == pytest.approx(
        skm.precision_score(y, pred, average="macro"))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, z), [[1, 1], [1, 2]])


def test_binary_accuracy_counts_every_label():
    y = np.array([[1, 0, 1], [0, 0, 1]])
    z = np.array([[3.0, -1.0, -2.0], [0.5, -0.1, 0.2]], dtype=np.float32)
    # thresholded at logit 0: [[1, 0, 0], [1, 0, 1]] -> 4 of 6 labels right
    assert metrics.binary_accuracy(y, z, threshold=0.0) == pytest.approx(4 / 6)
    # at 0.3 the 0.2 logit turns negative: [[1, 0, 0], [1, 0, 0]] -> 3 of 6
    assert metrics.binary_accuracy(y, z, threshold=0.3) == pytest.approx(3 / 6)
    # a column of labels against one output per sample, and the other way round
    assert metrics.binary_accuracy(np.array([1, 0]), np.array([[1.0], [1.0]])) == 0.5
    assert metrics.binary_accuracy(np.array([[1], [0]]), np.array([0.7, 0.2])) == 1.0


def test_binary_accuracy_is_keras_s():
    # Keras's default cut is 0.5 (its outputs are probabilities), and a label counts as right
    # only when it equals the 0/1 prediction: a soft label 0.9 never does.
    p = np.array([[0.7], [0.4], [0.55], [0.2]], dtype=np.float32)
    assert metrics.binary_accuracy(np.array([[1], [0], [0], [0]]), p) == 0.75
    # predicted [1, 0, 1, 0]: the soft labels 0.9 and 0.1 miss, the third misses, the last hits
    assert metrics.binary_accuracy(np.array([[0.9], [0.1], [0.0], [0.0]]), p) == 0.25
    with pytest.raises(gk.DataError, match=r"labels have shape \(4, 3\).*predictions \(4, 1\)"):
        metrics.binary_accuracy(np.zeros((4, 3)), p)


def test_accuracy_picks_keras_s_form_from_the_shapes():
    # One output column: binary accuracy, whether the labels come as (n,) or as a column.
    # Taking the arg-max of a one-column label array made every label 0.
    z = np.array([[2.0], [-1.0], [-3.0], [0.5]], dtype=np.float32)
    column = np.array([[1], [0], [1], [1]])
    assert metrics.accuracy(column, z) == metrics.accuracy(column[:, 0], z) == 0.75
    assert metrics.accuracy(column, 1 / (1 + np.exp(-z)), threshold=0.5) == 0.75
    # Several columns: class indices (also as a column) or one-hot rows.
    assert metrics.accuracy(WORKED_TRUE[:, None], WORKED_PRED) == 0.5
    assert metrics.accuracy(np.eye(3)[WORKED_TRUE], WORKED_PRED) == 0.5
    assert metrics.sparse_categorical_accuracy(WORKED_TRUE, WORKED_PRED) == 0.5
    assert metrics.categorical_accuracy(np.eye(3)[WORKED_TRUE], WORKED_PRED) == 0.5


def test_a_model_cuts_its_probabilities_at_one_half_and_its_logits_at_zero():
    cut = metrics.bind(metrics.accuracy, logits=False)
    assert cut.keywords == {"threshold": 0.5}
    assert metrics.bind(metrics.f1, logits=True).keywords == {"threshold": 0.0}
    assert metrics.bind(metrics.mse, logits=False) is metrics.mse


def test_top_k_accuracy():
    y = np.array([0, 1, 2, 3])
    z = np.array([[0.9, 0.8, 0.1, 0.0],    # true class ranked 1st
                  [0.9, 0.8, 0.1, 0.0],    # 2nd
                  [0.9, 0.8, 0.1, 0.0],    # 3rd
                  [0.9, 0.8, 0.1, 0.0]])   # 4th
    assert metrics.top_k_accuracy(y, z, k=1) == 0.25
    assert metrics.top_k_accuracy(y, z, k=2) == 0.5
    assert metrics.top_k_accuracy(y, z, k=3) == 0.75
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 10, 300), rng.normal(size=(300, 10))
    for k in (1, 3, 5):
        assert metrics.top_k_accuracy(y, z, k=k) == pytest.approx(
            skm.top_k_accuracy_score(y, z, k=k, labels=range(10)))


def test_regression_metrics():
    t = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0], dtype=np.float32)
    assert metrics.mse(t, p) == pytest.approx((0.25 + 0.25 + 0 + 1) / 4)
    assert metrics.mae(t, p) == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    # SS_res = 1.5, mean 2.875, SS_tot = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875
    assert metrics.r2(t, p) == pytest.approx(1 - 1.5 / 29.1875)
    rng = np.random.default_rng(1)
    t, p = rng.normal(size=50), rng.normal(size=(50, 1))
    assert metrics.mse(t, p) == pytest.approx(skm.mean_squared_error(t, p[:, 0]))
    assert metrics.mae(t, p) == pytest.approx(skm.mean_absolute_error(t, p[:, 0]))
    assert metrics.r2(t, p) == pytest.approx(skm.r2_score(t, p[:, 0]))


def test_lookup_by_name_and_direction():
    for name in ["accuracy", "binary_accuracy", "top_k_accuracy", "precision", "recall",
                 "macro_precision", "macro_recall", "f1", "mse", "mae", "r2"]:
        key, fn = metrics.get(name)
        assert key == name and fn is getattr(metrics, name)

    def custom(y_true, y_pred):
        return 0.0

    assert metrics.get(custom) == ("custom", custom)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        metrics.get("nope")
    assert metrics.mode_for("val_accuracy") == "max"
    assert metrics.mode_for("f1") == "max"
    assert metrics.mode_for("val_loss") == "min"
    assert metrics.mode_for("mae") == "min"
