"""compile / fit / evaluate / predict: labels of every kind, validation, weights, determinism."""

import numpy as np
import pytest

import gradkit as gk


def test_fit_returns_history_per_epoch_and_per_batch(toy, make_mlp):
    X, y = toy
    model = make_mlp(metrics=["accuracy", "f1"])
    history = model.fit(X, y, batch_size=32, epochs=3, seed=0, verbose=0,
                        validation_data=(X[:40], y[:40]))
    assert isinstance(history, gk.History) and model.history is history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "f1", "val_loss", "val_accuracy",
                                    "val_f1"}
    assert all(len(v) == 3 for v in history.history.values())
    # 120 rows in batches of 32: 32, 32, 32, 24 -> 4 batch losses per epoch.
    assert len(history.batch_loss) == 12
    sizes = np.array([32, 32, 32, 24])
    for epoch in range(3):
        batch = np.array(history.batch_loss[4 * epoch:4 * epoch + 4])
        assert history["loss"][epoch] == pytest.approx(float(batch @ sizes / 120))
    # The last validation entry is the final model evaluated on the validation data.
    final = model.evaluate(X[:40], y[:40], return_dict=True)
    assert history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == final["accuracy"]
    assert history["loss"][-1] < history["loss"][0]


def test_history_loss_is_the_loss_of_the_batches(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp(optimizer=gk.optim.SGD(0.1))
    model.build((4,), seed=1)
    w0 = model.get_weights()
    history = model.fit(X, y, batch_size=len(X), epochs=1, shuffle=False, verbose=0)
    # One batch of every row: the recorded loss is the loss of the initial weights.
    expected = helpers.cross_entropy(helpers.mlp_logits(w0, X), y).mean()
    assert history.batch_loss[0] == pytest.approx(expected, rel=1e-5)


def test_validation_split_holds_out_the_last_rows(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp()
    model.build((4,), seed=1)
    w0 = model.get_weights()
    history = model.fit(X, y, batch_size=1000, epochs=2, shuffle=False, verbose=0,
                        validation_split=0.25)
    # Trained on the first 90 rows only (one batch of all of them) ...
    assert history.batch_loss[0] == pytest.approx(
        helpers.cross_entropy(helpers.mlp_logits(w0, X[:90]), y[:90]).mean(), rel=1e-5)
    # ... and validated on the last 30.
    tail = model.evaluate(X[90:], y[90:], return_dict=True)
    assert history["val_loss"][-1] == pytest.approx(tail["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == tail["accuracy"]
    with pytest.raises(ValueError, match="validation_split must be in"):
        make_mlp().fit(X, y, validation_split=1.5, verbose=0)


def _first_batch_loss(helpers, make_mlp, X, y, **fit_kwargs):
    model = make_mlp(optimizer=gk.optim.SGD(0.1))
    model.build((4,), seed=1)
    w0 = model.get_weights()
    history = model.fit(X, y, batch_size=len(X), epochs=1, shuffle=False, verbose=0,
                        **fit_kwargs)
    return history.batch_loss[0], helpers.mlp_logits(w0, X), model


def test_class_weight_and_sample_weight_scale_each_sample(toy, make_mlp, helpers):
    X, y = toy
    cw = {0: 0.5, 1: 2.0, 2: 3.0}
    sw = np.random.default_rng(3).uniform(0.1, 2.0, size=len(X))

    loss, logits, _ = _first_batch_loss(helpers, make_mlp, X, y, class_weight=cw)
    per_sample = helpers.cross_entropy(logits, y)
    weights = np.array([cw[c] for c in y])
    assert loss == pytest.approx(np.mean(weights * per_sample), rel=1e-5)
    assert loss != pytest.approx(per_sample.mean(), rel=1e-3)

    loss, _, _ = _first_batch_loss(helpers, make_mlp, X, y, class_weight=[0.5, 2.0, 3.0])
    assert loss == pytest.approx(np.mean(weights * per_sample), rel=1e-5)

    loss, _, _ = _first_batch_loss(helpers, make_mlp, X, y, sample_weight=sw)
    assert loss == pytest.approx(np.mean(sw * per_sample), rel=1e-5)

    loss, _, _ = _first_batch_loss(helpers, make_mlp, X, y, class_weight=cw, sample_weight=sw)
    assert loss == pytest.approx(np.mean(weights * sw * per_sample), rel=1e-5)

    # A class missing from the dict keeps weight 1.
    loss, _, _ = _first_batch_loss(helpers, make_mlp, X, y, class_weight={2: 4.0})
    assert loss == pytest.approx(np.mean(np.where(y == 2, 4.0, 1.0) * per_sample), rel=1e-5)


def test_class_weight_by_class_name(toy, make_mlp, helpers):
    X, y = toy
    names = np.array(["cat", "dog", "emu"])[y]
    loss, logits, model = _first_batch_loss(helpers, make_mlp, X, names, class_weight={"emu": 4.0})
    assert model.class_names == ["cat", "dog", "emu"]
    assert loss == pytest.approx(np.mean(np.where(y == 2, 4.0, 1.0)
                                         * helpers.cross_entropy(logits, y)), rel=1e-5)
    with pytest.raises(gk.DataError, match="'cow'"):
        make_mlp().fit(X, names, class_weight={"cow": 2.0}, verbose=0)


def test_sample_weight_of_zero_removes_a_row_from_the_update(toy, make_mlp):
    X, y = toy
    sw = np.ones(len(X))
    sw[:10] = 0.0
    changed_X = X.copy()
    changed_X[:10] = 5.0                      # rows with weight 0 may hold anything
    runs = []
    for data in (X, changed_X):
        model = make_mlp(optimizer=gk.optim.SGD(0.1))
        model.fit(data, y, batch_size=len(X), epochs=2, seed=0, verbose=0, sample_weight=sw)
        runs.append(model.get_weights())
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    with pytest.raises(gk.DataError, match="sample_weight"):
        make_mlp().fit(X, y, sample_weight=sw[:5], verbose=0)


def test_string_labels_round_trip(toy, make_mlp):
    X, y = toy
    names = np.array(["cat", "dog", "emu"])[y]
    model = make_mlp()
    model.fit(X, names.tolist(), epochs=30, batch_size=16, seed=0, verbose=0)
    assert model.class_names == ["cat", "dog", "emu"]
    predicted = model.predict_classes(X)
    assert set(predicted.tolist()) <= {"cat", "dog", "emu"}
    np.testing.assert_array_equal(predicted, np.array(["cat", "dog", "emu"])[
        model.predict(X).argmax(axis=1)])
    scores = model.evaluate(X, names, return_dict=True)
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == names))
    assert scores["accuracy"] > 0.9
    with pytest.raises(gk.DataError, match="not seen in training.*'cow'"):
        model.evaluate(X[:3], ["cat", "dog", "cow"], return_dict=True)


def test_one_hot_rows_train_like_integer_labels(toy, make_mlp):
    X, y = toy
    a, b = make_mlp(), make_mlp()
    ha = a.fit(X, y, epochs=3, batch_size=16, seed=0, verbose=0)
    hb = b.fit(X, np.eye(3)[y], epochs=3, batch_size=16, seed=0, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)
    assert hb["accuracy"] == ha["accuracy"]
    assert b.evaluate(X, np.eye(3)[y], return_dict=True)["accuracy"] == \
        a.evaluate(X, y, return_dict=True)["accuracy"]
    np.testing.assert_array_equal(b.predict_classes(X), a.predict_classes(X))


def test_multi_label_targets(make_mlp):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < -0.5], axis=1).astype(np.int64)
    model = make_mlp(3, loss="binary_cross_entropy", metrics=["binary_accuracy"])
    history = model.fit(X, Y, epochs=40, batch_size=20, seed=0, verbose=0)
    assert history["binary_accuracy"][-1] > 0.9
    classes = model.predict_classes(X)
    assert classes.shape == (200, 3) and set(np.unique(classes)) <= {0, 1}
    np.testing.assert_array_equal(classes, (model.predict(X) > 0).astype(int))
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-model.predict(X).astype(np.float64))),
                               rtol=1e-5)
    assert model.evaluate(X, Y, return_dict=True)["binary_accuracy"] == \
        pytest.approx(np.mean(classes == Y))


def test_binary_classifier_with_one_logit_and_names(make_mlp):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    names = np.where(X[:, 0] > 0, "yes", "no")
    model = make_mlp(1, loss="binary_cross_entropy", metrics=["accuracy"])
    model.fit(X, names, epochs=30, batch_size=10, seed=0, verbose=0)
    assert model.class_names == ["no", "yes"]
    predicted = model.predict_classes(X)
    np.testing.assert_array_equal(predicted, np.where(model.predict(X)[:, 0] > 0, "yes", "no"))
    assert np.mean(predicted == names) > 0.9
    proba = model.predict_proba(X)
    assert proba.shape == (100, 1) and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(proba > 0.5, model.predict(X) > 0)


def test_predict_is_batched_and_without_dropout(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp(dropout=0.5)
    model.fit(X, y, epochs=2, seed=0, verbose=0)
    assert model.training                          # fit leaves the model in training mode
    full = model.predict(X)
    assert full.shape == (120, 3) and full.dtype == np.float32
    for batch_size in (1, 7, 64, 120, 500):
        np.testing.assert_allclose(model.predict(X, batch_size=batch_size), full,
                                   rtol=1e-5, atol=1e-6)
    assert model.training                          # and predict gives the mode back
    # Dropout is off: the output is the plain forward pass of the two Dense layers.
    np.testing.assert_allclose(full, helpers.mlp_logits(model.get_weights(), X), rtol=1e-4,
                               atol=1e-5)
    proba = model.predict_proba(X, batch_size=7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), full.argmax(axis=1))
    np.testing.assert_array_equal(model.predict_classes(X), full.argmax(axis=1))


def test_evaluate_reports_loss_and_metrics(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp(metrics=["accuracy", "macro_precision", "top_k_accuracy"])
    model.fit(X, y, epochs=3, seed=0, verbose=0)
    scores = model.evaluate(X, y, batch_size=50, return_dict=True)
    logits = helpers.mlp_logits(model.get_weights(), X)
    assert scores["loss"] == pytest.approx(helpers.cross_entropy(logits, y).mean(), rel=1e-4)
    assert scores["accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == y))
    assert scores["top_k_accuracy"] == 1.0        # k = 5 > 3 classes
    assert set(scores) == {"loss", "accuracy", "macro_precision", "top_k_accuracy"}


def test_regression(make_mlp):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    t = X @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32) + 0.3
    model = make_mlp(1, hidden=32, loss="mse", metrics=["mse", "mae", "r2"])
    history = model.fit(X, t, epochs=60, batch_size=20, seed=0, verbose=0)
    scores = model.evaluate(X, t, return_dict=True)
    assert scores["r2"] > 0.95 and history["r2"][-1] > 0.9
    assert scores["mse"] == pytest.approx(scores["loss"], rel=1e-5)
    assert model.predict(X).shape == (200, 1)
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        model.predict_proba(X)


def test_same_seed_same_weights(toy, make_mlp, helpers):
    X, y = toy
    runs = []
    for seed in (5, 5, 6):
        model = make_mlp(dropout=0.3)
        model.fit(X, y, epochs=3, batch_size=16, seed=seed, verbose=0, validation_split=0.2)
        runs.append(model.get_weights())
    assert helpers.weights_equal(runs[0], runs[1])
    assert not helpers.weights_equal(runs[0], runs[2])


@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_verbose_prints_one_line_per_epoch_when_not_a_terminal(toy, make_mlp, capsys, verbose):
    # Keras's habit: a script piped to a log gets one line per epoch, not silence.
    X, y = toy
    history = make_mlp().fit(X, y, epochs=2, seed=0, verbose=verbose, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert f"val_loss: {history['val_loss'][1]:.4f}" in lines[1]


def test_verbose_0_prints_nothing(toy, make_mlp, capsys):
    X, y = toy
    model = make_mlp()
    model.fit(X, y, epochs=2, seed=0, verbose=0, validation_split=0.2)
    model.evaluate(X, y, verbose=0)
    model.predict(X, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_epoch_schedules_get_steps_per_epoch_from_fit(toy, make_mlp, helpers):
    X, y = toy
    schedule = gk.schedules.StepDecay(0.1, [1, 2], factor=0.5, per="epoch")
    model = make_mlp(optimizer=gk.optim.SGD(lr=schedule))
    recorder = helpers.Recorder()
    model.fit(X, y, epochs=3, batch_size=40, seed=0, verbose=0, callbacks=[recorder])
    assert schedule.steps_per_epoch == 3
    assert recorder.lrs == [0.1] * 3 + [0.05] * 3 + [0.025] * 3


def test_bad_arguments_are_refused(toy, make_mlp):
    X, y = toy
    with pytest.raises(RuntimeError, match="compile"):
        gk.Sequential([gk.layers.Dense(3)]).fit(X, y, verbose=0)
    model = make_mlp()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.fit(X, y, batch_size=0, verbose=0)
    with pytest.raises(gk.DataError, match="120 rows but y has 119"):
        model.fit(X, y[:-1], verbose=0)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(gk.DataError, match="row 7"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(gk.DataError, match="whole numbers"):
        model.fit(X, y + 0.5, verbose=0)
    with pytest.raises(RuntimeError, match="needs a trained or built model"):
        make_mlp().predict(X)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_fit_names_the_first_row_with_nan_or_inf(toy, make_mlp, value):
    X, y = toy
    bad = X.copy()
    bad[[41, 90], 1] = value
    with pytest.raises(gk.DataError, match=r"X contains NaN or inf \(first at row 41\)"):
        make_mlp().fit(bad, y, verbose=0)
    with pytest.raises(gk.DataError, match=r"validation_data's X contains .* row 40\)"):
        make_mlp().fit(X, y, validation_data=(bad[50:], y[50:]), verbose=0)


def test_fit_accepts_finite_values_whose_squares_overflow(toy, make_mlp):
    # The finiteness check sums squares first; 1e30 squared overflows float32, and such a
    # value must still be taken as the finite number it is.
    X, y = toy
    big = X.copy()
    big[3, 0] = 1e30
    from gradkit.train.inputs import all_finite as _all_finite
    assert _all_finite(big.astype(np.float32))
    assert not _all_finite(np.array([[1e30, np.nan]], np.float32))
    make_mlp().fit(big, y, verbose=0, callbacks=[gk.callbacks.TerminateOnNaN(enabled=False)])


def test_weights_round_trip_and_summary(toy, make_mlp):
    X, y = toy
    a, b = make_mlp(), make_mlp()
    a.fit(X, y, epochs=2, seed=0, verbose=0)
    b.build((4,), seed=9)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    with pytest.raises(ValueError, match="set_weights needs 4 arrays, got 1"):
        b.set_weights(a.get_weights()[:1])
    text = a.summary(print_fn=None)
    assert "Dense" in text and f"{4 * 16 + 16 + 16 * 3 + 3:,}" in text
