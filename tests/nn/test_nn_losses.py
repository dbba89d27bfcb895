"""Losses: hand-computed values, extreme logits, smoothing, weights, reductions, gradients."""

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import losses

F64 = np.float64
R = np.random.default_rng(0)


def t64(values, grad=True):
    return gk.tensor(values, requires_grad=grad, dtype=F64)


def value(loss, y_pred, y_true, **kw):
    """The loss in gradkit's order, whatever the class's own call order (Keras's classes)."""
    return losses.value(loss, t64(y_pred, grad=False), y_true, **kw).numpy()


# -- hand-computed values --------------------------------------------------------------------------
def test_hinge_matches_hand_computed_values_for_pm1_and_01_labels():
    # max(0, 1 - t z): z = 0.5, t = +1 -> 0.5;  z = -2, t = -1 -> 0;  z = 0.2, t = -1 -> 1.2
    z = [[0.5], [-2.0], [0.2]]
    assert value(losses.Hinge(), z, np.array([[1], [-1], [-1]])) == pytest.approx(1.7 / 3)
    assert value(losses.Hinge(), z, np.array([1, 0, 0])) == pytest.approx(1.7 / 3)
    np.testing.assert_allclose(value(losses.Hinge(reduction="none"), z, np.array([1, -1, -1])),
                               [0.5, 0.0, 1.2])


def test_huber_matches_hand_computed_values():
    # residuals 0.5, -2, 3.  δ = 1: ½·0.25 = 0.125, 1·(2 - ½) = 1.5, 1·(3 - ½) = 2.5
    y, t = np.array([1.5, 0.0, 4.0]), np.array([1.0, 2.0, 1.0])
    np.testing.assert_allclose(value(losses.Huber(reduction="none"), y, t), [0.125, 1.5, 2.5])
    # δ = 2: 0.125, ½·4 = 2, 2·(3 - 1) = 4
    np.testing.assert_allclose(value(losses.Huber(2.0, reduction="none"), y, t), [0.125, 2.0, 4.0])
    assert value(losses.Huber(reduction="sum"), y, t) == pytest.approx(4.125)
    with pytest.raises(ValueError, match="delta must be > 0, got delta=0"):
        losses.Huber(0)


def test_gaussian_nll_matches_hand_computed_values():
    # ½ (s + (t - μ)² e^-s + log 2π), s = log σ².  μ = 1, σ² = 4, t = 3: ½ (log 4 + 1 + log 2π)
    y = [[1.0, math.log(4.0)], [0.0, 0.0]]
    got = value(losses.GaussianNLL(reduction="none"), y, np.array([3.0, 0.0]))
    log2pi = math.log(2 * math.pi)
    np.testing.assert_allclose(got, [0.5 * (math.log(4) + 1 + log2pi), 0.5 * log2pi], rtol=1e-12)
    with pytest.raises(ValueError, match="needs 2D outputs"):
        value(losses.GaussianNLL(), [[1.0, 2.0, 3.0]], np.array([1.0]))


def test_mse_and_mae_average_over_outputs_then_over_samples():
    y, t = [[1.0, 2.0], [0.0, -1.0]], np.array([[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(value(losses.MeanSquaredError(reduction="none"), y, t), [2.5, 2.0])
    assert value(losses.MeanAbsoluteError(), y, t) == pytest.approx((1.5 + 1.0) / 2)


# -- cross-entropies at extreme logits -------------------------------------------------------------
def test_softmax_cross_entropy_from_logits_of_1e4_is_finite_with_the_right_gradient():
    for dtype in (np.float32, F64):
        z = gk.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], requires_grad=True, dtype=dtype)
        loss = losses.CrossEntropy()(z, np.array([1, 1]))
        assert loss.dtype == dtype
        assert loss.item() == pytest.approx(1e4)              # (2e4 + 0) / 2
        loss.backward()
        np.testing.assert_allclose(z.grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)


def test_binary_cross_entropy_from_logits_of_1e4_is_finite_with_the_right_gradient():
    z = gk.tensor([1e4, -1e4, 1e4], requires_grad=True)
    loss = losses.BinaryCrossEntropy()(z, np.array([0.0, 0.0, 1.0]))
    assert loss.item() == pytest.approx(1e4 / 3)
    loss.backward()
    np.testing.assert_allclose(z.grad, [1 / 3, 0.0, 0.0], atol=1e-7)


def test_cross_entropies_on_probabilities_clip_instead_of_taking_log_zero():
    p = gk.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    loss = losses.CrossEntropy(from_logits=False)(p, np.array([1, 1]))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(-np.log(1e-7) / 2, rel=1e-3)
    bce = losses.BinaryCrossEntropy(from_logits=False)(gk.tensor([1.0, 0.0]), np.array([0.0, 0.0]))
    assert np.isfinite(bce.item())


# -- smoothing, weights, reductions ----------------------------------------------------------------
def log_softmax(z):
    z = np.asarray(z, dtype=F64)
    shifted = z - z.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_label_smoothing_mixes_the_targets_with_the_uniform_distribution():
    z = [[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]
    labels = np.array([0, 2])
    t = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])           # ε = 0.3, K = 3: 0.7 one-hot + 0.1
    expected = -(t * log_softmax(z)).sum(-1).mean()
    assert value(losses.CrossEntropy(label_smoothing=0.3), z, labels) == pytest.approx(expected)
    # binary: t (1 - ε) + ε/2 with ε = 0.2 -> 0.9 and 0.1
    zb = np.array([1.5, -0.5])
    tb = np.array([0.9, 0.1])
    sig = 1 / (1 + np.exp(-zb))
    expected_b = -(tb * np.log(sig) + (1 - tb) * np.log(1 - sig)).mean()
    got = value(losses.BinaryCrossEntropy(label_smoothing=0.2), zb, np.array([1.0, 0.0]))
    assert got == pytest.approx(expected_b)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\), got label_smoothing=1"):
        losses.CrossEntropy(label_smoothing=1)


def test_class_weight_and_sample_weight_multiply_each_sample_loss():
    z = [[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]]
    labels = np.array([0, 1, 1])
    per = -log_softmax(z)[np.arange(3), labels]
    w = np.array([1.0, 3.0, 3.0]) * np.array([0.5, 1.0, 2.0])
    for cw in ({0: 1.0, 1: 3.0}, [1.0, 3.0]):
        got = value(losses.CrossEntropy(class_weight=cw), z, labels, sample_weight=[0.5, 1.0, 2.0])
        assert got == pytest.approx((w * per).sum() / 3)      # mean over the batch of w·l
    mse = value(losses.MeanSquaredError(reduction="sum"), [1.0, 2.0], np.array([0.0, 0.0]),
                sample_weight=[2.0, 0.25])
    assert mse == pytest.approx(2 * 1 + 0.25 * 4)


def test_sample_weights_keep_a_float32_loss_float32():
    z = gk.tensor([[2.0, 0.5], [0.0, 1.0]], requires_grad=True)
    loss = losses.CrossEntropy()(z, np.array([0, 1]), sample_weight=[1.0, 2.0])
    assert loss.dtype == np.float32
    loss.backward()
    assert z.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "hinge", "binary_cross_entropy",
                                  "cross_entropy", "gaussian_nll", "multiclass_hinge"])
def test_reductions_none_sum_mean(name):
    y = R.normal(size=(5, 2))
    targets = {"cross_entropy": np.array([0, 1, 1, 0, 1]), "gaussian_nll": R.normal(size=5),
               "multiclass_hinge": np.array([0, 1, 1, 0, 1]),
               "hinge": np.sign(R.normal(size=(5, 2))),
               "binary_cross_entropy": (R.random((5, 2)) < 0.5).astype(F64)}
    t = targets.get(name, R.normal(size=(5, 2)))
    none = value(losses.get(name, reduction="none"), y, t)
    assert none.shape == (5,)
    assert value(losses.get(name, reduction="sum"), y, t) == pytest.approx(none.sum())
    assert value(losses.get(name), y, t) == pytest.approx(none.mean())
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.get(name, reduction="avg")


# -- gradients, table-driven -----------------------------------------------------------------------
def apart(shape, low=0.2, high=1.0):
    """Values with |x| in [low, high] and random signs: far from every kink."""
    return t64(R.uniform(low, high, size=shape) * R.choice([-1.0, 1.0], size=shape))


LABELS = np.array([0, 2, 1, 2])
ONE_HOT = np.eye(3)[LABELS]
CASES = {
    "mse": [(losses.MeanSquaredError(), apart((4, 2)), R.normal(size=(4, 2)))],
    "mae": [(losses.MeanAbsoluteError(reduction="sum"), apart((4, 2)), np.zeros((4, 2)))],
    "huber": [(losses.Huber(0.5), apart((4, 2), 0.1, 2.0), np.full((4, 2), 0.01))],
    "hinge": [(losses.Hinge(), apart((4, 1), 0.1, 0.8), np.array([1, -1, 1, -1]))],
    "binary_cross_entropy": [
        (losses.BinaryCrossEntropy(label_smoothing=0.1), apart((4, 2), 0.1, 3.0),
         (R.random((4, 2)) < 0.5).astype(F64)),
        (losses.BinaryCrossEntropy(from_logits=False), t64(R.uniform(0.1, 0.9, size=4)),
         np.array([0.0, 1.0, 1.0, 0.0]))],
    "cross_entropy": [
        (losses.CrossEntropy(), apart((4, 3), 0.1, 3.0), LABELS),
        (losses.CrossEntropy(label_smoothing=0.2, class_weight=[1.0, 2.0, 0.5]),
         apart((4, 3)), LABELS),
        (losses.CrossEntropy(from_logits=False), t64(R.uniform(0.1, 0.9, size=(4, 3))), LABELS)],
    "categorical_cross_entropy": [(losses.CategoricalCrossEntropy(), apart((4, 3)), ONE_HOT)],
    "sparse_categorical_cross_entropy": [
        (losses.SparseCategoricalCrossEntropy(reduction="sum"), apart((4, 3)), LABELS)],
    "gaussian_nll": [(losses.GaussianNLL(), apart((4, 4)), R.normal(size=(4, 2)))],
    # Scores 0.1 apart at least around a margin of 0.35: no hinge kink within the check's step.
    "multiclass_hinge": [
        (losses.MulticlassHinge(margin=0.35), t64(np.array(
            [[0.1, 0.9, -0.4], [1.0, 0.2, 0.3], [-0.5, 0.6, 0.0], [0.8, -0.2, 1.6]])), LABELS),
        (losses.MulticlassHinge(form="crammer_singer", reduction="sum", margin=0.35), t64(
            np.array([[0.1, 0.9, -0.4], [1.0, 0.2, 0.3], [-0.5, 0.6, 0.0], [0.8, -0.2, 1.6]])),
         LABELS)],
    # Keras's spellings read probabilities by default, as in Keras.
    "categorical_crossentropy": [
        (losses.CategoricalCrossentropy(label_smoothing=0.1),
         t64(R.uniform(0.1, 0.9, size=(4, 3))), ONE_HOT)],
    "sparse_categorical_crossentropy": [
        (losses.SparseCategoricalCrossentropy(), t64(R.uniform(0.1, 0.9, size=(4, 3))), LABELS),
        (losses.SparseCategoricalCrossentropy(from_logits=True), apart((4, 3)), LABELS)],
    "binary_crossentropy": [
        (losses.BinaryCrossentropy(), t64(R.uniform(0.1, 0.9, size=(4, 2))),
         (R.random((4, 2)) < 0.5).astype(F64))],
}


def test_every_loss_has_a_gradient_case():
    assert {cls.name for cls in (cls for _, cls in losses.LOSSES.items())} == set(CASES)


@pytest.mark.parametrize("name,index", [(n, i) for n, c in CASES.items() for i in range(len(c))])
def test_loss_gradient_matches_central_differences(name, index):
    loss, y_pred, y_true = CASES[name][index]
    # losses.value: (prediction, target) whatever the class's own call order (Keras's classes
    # are called as Keras calls them, loss(y_true, y_pred)).
    assert gk.gradcheck(lambda y: losses.value(loss, y, y_true, np.linspace(0.5, 2.0, 4)),
                        y_pred)
    assert gk.gradcheck(lambda y: losses.value(loss, y, y_true), y_pred)


def test_losses_by_name_config_and_errors():
    assert isinstance(losses.get("sparse_categorical_crossentropy"),
                      losses.SparseCategoricalCrossentropy)
    assert losses.get("sparse_categorical_crossentropy").from_logits is False   # Keras's
    assert losses.get("sparse_categorical_cross_entropy").from_logits is True   # gradkit's
    loss = losses.get({"name": "huber", "delta": 2.0, "reduction": "sum"})
    assert loss.describe() == {"name": "huber", "reduction": "sum", "class_weight": None,
                               "delta": 2.0}
    assert losses.get(loss.describe()).describe() == loss.describe()
    with pytest.raises(ValueError, match="unknown loss 'l2'; known:"):
        losses.get("l2")
    with pytest.raises(ValueError, match="use sparse_categorical_cross_entropy"):
        losses.CategoricalCrossEntropy()(t64([[1.0, 2.0]]), np.array([1]))


# -- the lectures' multi-label and multi-class SVM forms -------------------------------------------
def test_multiclass_hinge_matches_hand_values_and_torch_multimargin():
    import torch

    # scores of 2 samples over 3 classes, labels 0 and 2.
    s = [[3.2, 5.1, -1.7], [2.2, 2.5, -3.1]]
    y = np.array([0, 2])
    # Weston-Watkins (CS231n's numbers): max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9;
    # max(0, 2.2+3.1+1) + max(0, 2.5+3.1+1) = 6.3 + 6.6 = 12.9.
    np.testing.assert_allclose(value(losses.MulticlassHinge(reduction="none"), s, y), [2.9, 12.9])
    # Crammer-Singer: only the worst wrong class: 2.9 and 6.6.
    np.testing.assert_allclose(
        value(losses.MulticlassHinge(form="crammer_singer", reduction="none"), s, y), [2.9, 6.6])
    scores = R.normal(size=(16, 5))
    labels = R.integers(0, 5, 16)
    ref = torch.nn.MultiMarginLoss(margin=0.5)(torch.tensor(scores), torch.tensor(labels))
    got = value(losses.get("multiclass_hinge", margin=0.5), scores, labels)
    assert got == pytest.approx(5 * float(ref), rel=1e-12)     # torch divides by the K classes
    with pytest.raises(ValueError, match="form must be one of .*got form='ww'"):
        losses.MulticlassHinge(form="ww")
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got labels from 0 to 3"):
        value(losses.MulticlassHinge(), s, np.array([0, 3]))


def test_multiclass_hinge_trains_a_classifier_and_predicts_by_argmax():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 5, dtype=np.float32) + \
        R.normal(scale=0.05, size=(20, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 1] * 5)
    model = gk.Sequential([gk.layers.Dense(16, activation="tanh"), gk.layers.Dense(3)])
    model.compile(optimizer=gk.optim.Adam(0.05), loss="multiclass_hinge", metrics=["accuracy"])
    history = model.fit(X, y, epochs=60, batch_size=20, seed=0, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    assert model.predict_classes(X).tolist() == y.tolist()
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        model.predict_proba(X)


def test_binary_cross_entropy_summed_over_labels_is_the_mipt_form_and_torch_sum():
    import torch

    z = R.normal(size=(6, 4))
    t = (R.random((6, 4)) < 0.5).astype(F64)
    mean = value(losses.BinaryCrossEntropy(), z, t)
    summed = value(losses.BinaryCrossEntropy(label_reduction="sum"), z, t)
    # MIPT: -(1/N) Σₙ Σₖ [y ln ŷ + (1 - y) ln(1 - ŷ)]
    p = 1 / (1 + np.exp(-z))
    mipt = -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p)) / 6
    assert summed == pytest.approx(mipt, rel=1e-12) and summed == pytest.approx(4 * mean)
    ref = torch.nn.BCEWithLogitsLoss(reduction="sum")(torch.tensor(z), torch.tensor(t)) / 6
    assert summed == pytest.approx(float(ref), rel=1e-12)
    probs = value(losses.BinaryCrossEntropy(from_logits=False, label_reduction="sum",
                                            reduction="none"), p, t)
    np.testing.assert_allclose(probs, -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1),
                               rtol=1e-6)
    loss = losses.BinaryCrossEntropy(label_reduction="sum")
    assert gk.gradcheck(lambda y: loss(y, t), t64(z))
    assert losses.get(loss.describe()).label_reduction == "sum"
    with pytest.raises(ValueError, match="label_reduction must be 'mean' or 'sum'"):
        losses.BinaryCrossEntropy(label_reduction="total")


# -- Keras's classes, called as Keras calls them ----------------------------------------------
def _keras():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="Keras 3 is in the compat extra")


_SCORES = R.normal(size=(6, 3))
_PM1 = np.sign(R.normal(size=(6, 3)))
_PROBS = R.uniform(0.05, 1.0, size=(6, 3))
_PROBS /= _PROBS.sum(axis=1, keepdims=True)
_LABELS = np.array([0, 2, 1, 1, 0, 2])
# name -> (settings, y_true, y_pred): y_true and y_pred far apart in kind, so a swap shows.
KERAS_CASES = {
    "MeanSquaredError": ({}, R.normal(size=(6, 3)), _SCORES),
    "MeanAbsoluteError": ({}, R.normal(size=(6, 3)), _SCORES),
    "Huber": ({"delta": 0.5}, R.normal(size=(6, 3)), _SCORES),
    "Hinge": ({}, (_PM1 > 0).astype(F64), _SCORES),            # 0/1 labels become -1/+1
    "BinaryCrossentropy": ({}, (_PM1 > 0).astype(F64), 1 / (1 + np.exp(-_SCORES))),
    "CategoricalCrossentropy": ({"label_smoothing": 0.1}, np.eye(3)[_LABELS], _PROBS),
    "SparseCategoricalCrossentropy": ({}, _LABELS, _PROBS),
}


def test_every_class_named_as_keras_names_one_has_a_keras_case():
    keras = _keras()
    named = {name for name, cls in vars(losses).items()
             if isinstance(cls, type) and issubclass(cls, losses.Loss) and cls is not losses.Loss
             and hasattr(keras.losses, name)}
    assert named == set(KERAS_CASES)


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_keras_loss_classes_take_kerass_order_value_and_gradient(name):
    import torch

    keras = _keras()
    settings, y_true, y_pred = KERAS_CASES[name]
    weights = np.linspace(0.5, 2.0, 6)
    for sample_weight in (None, weights):
        ours_pred = t64(y_pred)
        ours = getattr(losses, name)(**settings)(y_true, ours_pred, sample_weight=sample_weight)
        ours.backward()
        theirs_pred = torch.tensor(y_pred, requires_grad=True)
        theirs = getattr(keras.losses, name)(**settings)(
            torch.tensor(y_true), theirs_pred,
            sample_weight=None if sample_weight is None else torch.tensor(sample_weight))
        theirs.backward()
        assert float(ours.data) == pytest.approx(float(theirs.detach()), rel=1e-6)
        np.testing.assert_allclose(ours_pred.grad, theirs_pred.grad.numpy(), rtol=1e-6,
                                   atol=1e-12)
    # Arrays for both, as Keras takes them; gradkit's order through losses.value.
    on_arrays = getattr(losses, name)(**settings)(y_true, y_pred)
    assert float(on_arrays.data) == pytest.approx(
        float(losses.value(getattr(losses, name)(**settings), t64(y_pred), y_true).data))


def test_a_keras_style_loss_subclass_is_refused_with_gradkits_spelling():
    with pytest.raises(TypeError, match=r"call\(y_true, y_pred\).*per_sample\(self, y_pred"):
        class MyLoss(losses.Loss):
            def call(self, y_true, y_pred):
                return y_pred
