"""EPFL's early-stopping rule (003): M successive increases of the averaged validation error."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.train import callbacks as cb

# Scripted validation errors E_n: best at epoch index 2, rising from epoch 3 on.
CURVE = [1.0, 0.8, 0.6, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9]


def fit_with(rule, toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp()
    recorder = helpers.Recorder()
    history = model.fit(X, y, epochs=10, seed=0, verbose=0, validation_split=0.2,
                        callbacks=[helpers.Scripted("val_loss", CURVE), rule, recorder])
    return model, history, recorder


def test_running_mean_of_the_notes_rises_three_times_then_training_stops(toy, make_mlp, helpers):
    rule = cb.SuccessiveIncreaseStopping(increases=3)
    model, history, recorder = fit_with(rule, toy, make_mlp, helpers)
    # Ē_n = (1/n) Σ E_i: 1.0, 0.9, 0.8, 0.775, 0.8, 0.85, 0.9143 — rising at epochs 4, 5, 6.
    np.testing.assert_allclose(rule.averages, [1.0, 0.9, 0.8, 0.775, 0.8, 0.85, 6.4 / 7])
    assert rule.stopped_epoch == 6 and history.epoch == list(range(7))
    assert rule.best_epoch == 2
    assert helpers.weights_equal(model.get_weights(), recorder.epoch_end[2])


def test_a_window_of_one_is_the_raw_error_and_stops_sooner(toy, make_mlp, helpers):
    rule = cb.SuccessiveIncreaseStopping(increases=3, window=1, restore_best=False)
    model, history, recorder = fit_with(rule, toy, make_mlp, helpers)
    assert rule.averages == CURVE[:6]          # rising at epochs 3, 4, 5
    assert rule.stopped_epoch == 5
    assert helpers.weights_equal(model.get_weights(), recorder.epoch_end[5])


def test_a_dip_resets_the_count(toy, make_mlp, helpers):
    X, y = toy
    zigzag = [1.0, 1.1, 1.2, 1.0, 1.1, 1.2, 1.0, 1.1, 1.2, 1.0]
    rule = cb.SuccessiveIncreaseStopping(increases=3, window=1)
    make_mlp().fit(X, y, epochs=10, seed=0, verbose=0, validation_split=0.2,
                   callbacks=[helpers.Scripted("val_loss", zigzag), rule])
    assert rule.stopped_epoch is None and len(rule.averages) == 10


def test_settings_are_checked_and_the_class_is_a_gk_callback():
    assert gk.callbacks.SuccessiveIncreaseStopping is cb.SuccessiveIncreaseStopping
    with pytest.raises(ValueError, match="increases must be a positive integer, got increases=0"):
        cb.SuccessiveIncreaseStopping(increases=0)
    with pytest.raises(ValueError, match="window must be None or a positive integer"):
        cb.SuccessiveIncreaseStopping(window=0)
