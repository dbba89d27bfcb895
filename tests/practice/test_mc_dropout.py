"""Test-time averaging over dropout masks (KIT 001: "average over multiple dropout masks")."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.practice import predict_mc_dropout

L = gk.layers
R = np.random.default_rng(0)
X = R.normal(size=(8, 3)).astype(np.float32)


def linear_model():
    model = gk.Sequential([L.Dense(16), L.Dropout(0.5), L.Dense(2)])
    model.build((3,), seed=0)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_the_mean_over_masks_of_a_linear_network_is_the_plain_prediction():
    # Inverted dropout keeps E[mask] = 1, so a network linear in the dropped units averages
    # back to `predict`; the spread shrinks as 1/√n around it.
    model = linear_model()
    mc = predict_mc_dropout(model, X, n=4000, seed=1)
    assert mc.samples.shape == (4000, 8, 2) and mc.mean.shape == mc.std.shape == (8, 2)
    np.testing.assert_allclose(mc.mean, mc.samples.mean(axis=0))
    np.testing.assert_allclose(mc.std, mc.samples.std(axis=0))
    assert np.all(mc.std > 0)
    error = np.abs(mc.mean - model.predict(X))
    assert np.all(error < 5 * mc.std / np.sqrt(4000) + 1e-6)


def test_classifier_passes_are_probabilities_reproducible_and_leave_the_model_as_it_was():
    model = gk.Sequential([L.Dense(16, activation="relu"), L.BatchNorm(), L.Dropout(0.3),
                           L.DropConnect(4, 0.3)])
    model.build((3,), seed=0)
    model.compile(optimizer="adam", loss="cross_entropy")
    bn = model.layers[1]
    running = bn.running_mean.copy()
    before = model.predict(X)
    mc = predict_mc_dropout(model, X, n=20, seed=3)
    np.testing.assert_allclose(mc.samples.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(mc.std.max(axis=-1) > 0)                       # the masks differ
    again = predict_mc_dropout(model, X, n=20, seed=3)
    np.testing.assert_array_equal(again.samples, mc.samples)
    assert mc.predict_classes().tolist() == np.argmax(mc.mean, axis=-1).tolist()
    # Batch norm ran on its running statistics (not batch ones) and nothing was updated.
    np.testing.assert_array_equal(bn.running_mean, running)
    assert all(m.training for m in model.modules())              # built models start training
    np.testing.assert_array_equal(model.predict(X), before)


def test_a_model_without_dropout_and_bad_n_are_refused():
    model = gk.Sequential([L.Dense(2)])
    model.build((3,), seed=0)
    with pytest.raises(ValueError, match="needs a model with Dropout or DropConnect layers"):
        predict_mc_dropout(model, X)
    with pytest.raises(ValueError, match="n must be a positive integer, got n=0"):
        predict_mc_dropout(linear_model(), X, n=0)
