"""Keras habits on gradkit's model: the same meaning as in Keras, or one clear error.

The anchors (Keras 3 on its PyTorch backend) run only where the `compat` extra is installed;
the rest checks gradkit's own numbers against each other or against formulas.
"""

import csv

import numpy as np
import pytest

import gradkit as gk
from gradkit import keras

L = gk.layers
R = np.random.default_rng(0)
X = R.normal(size=(24, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)


def softmax_model(loss="sparse_categorical_crossentropy", metrics=("accuracy",), seed=0):
    model = gk.Sequential([L.Input(shape=(4,)), L.Dense(8, activation="relu"),
                           L.Dense(3, activation="softmax")])
    model.build((None, 4), seed=seed)
    model.compile(optimizer=gk.optim.SGD(learning_rate=0.1), loss=loss, metrics=list(metrics))
    return model


def logits_twin(model):
    """The same network with a linear output layer, trained with gradkit's logits loss."""
    twin = gk.Sequential([L.Dense(8, activation="relu"), L.Dense(3)])
    twin.build((4,))
    twin.set_weights(model.get_weights())
    twin.compile(optimizer=gk.optim.SGD(learning_rate=0.1), loss="cross_entropy",
                 metrics=["accuracy"])
    return twin


# -- point 1: a softmax / sigmoid output with a Keras cross-entropy --------------------------------
def test_softmax_output_trains_from_its_pre_activation_not_twice():
    model = softmax_model()
    twin = logits_twin(model)
    assert model.evaluate(X, Y) == pytest.approx(twin.evaluate(X, Y), rel=1e-6)
    model.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    twin.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    p = model.predict(X)                       # probabilities, as Keras's predict returns
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, model.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(model.predict_classes(X), p.argmax(axis=1))


def test_sigmoid_output_with_binary_crossentropy():
    y = (X[:, 0] > 0).astype(np.float32)
    model = gk.Sequential([L.Dense(8, activation="tanh", input_shape=(4,)),
                           L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=gk.optim.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(X, y, epochs=40, batch_size=8, seed=0, verbose=0)
    loss, acc = model.evaluate(X, y)
    p = model.predict(X)[:, 0]
    assert np.all((p > 0) & (p < 1))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss == pytest.approx(expected, rel=1e-4)
    assert acc == np.mean((p > 0.5) == y) and acc > 0.9      # far above the class prior


def test_keras_loss_classes_take_keras_argument_order():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 2])
    expected = -np.mean(np.log([0.7, 0.8]))
    keras_loss = gk.losses.SparseCategoricalCrossentropy()
    assert float(keras_loss(labels, probs).numpy()) == pytest.approx(expected, rel=1e-6)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    assert float(gk.losses.CategoricalCrossentropy()(one_hot, probs).numpy()) == \
        pytest.approx(expected, rel=1e-6)
    # gradkit's own classes keep gradkit's order, (prediction, target), and read logits
    logits = gk.tensor(np.log(probs))
    assert float(gk.losses.CrossEntropy()(logits, labels).numpy()) == \
        pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("loss, last, message", [
    ("cross_entropy", "softmax", "reads logits.*applies softmax"),
    (gk.losses.SparseCategoricalCrossentropy(from_logits=True), "softmax", "applied twice"),
    ("sparse_categorical_crossentropy", None, "reads probabilities.*activation='softmax'"),
    ("binary_crossentropy", None, "reads probabilities.*activation='sigmoid'"),
])
def test_a_loss_that_does_not_fit_the_output_layer_is_refused(loss, last, message):
    model = gk.Sequential([L.Dense(3, activation=last)])
    with pytest.raises(gk.ConfigError, match=message):
        model.compile(optimizer="adam", loss=loss)


# -- evaluate, verbose --------------------------------------------------------------------------------
def test_evaluate_returns_what_keras_returns():
    model = softmax_model(metrics=("accuracy", "f1"))
    logs = model.evaluate(X, Y, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "f1"]
    loss, acc, f1 = model.evaluate(X, Y)
    assert [loss, acc, f1] == list(logs.values())
    alone = softmax_model(metrics=())
    assert alone.evaluate(X, Y) == pytest.approx(logs["loss"])       # a float, not a list


def test_evaluate_and_predict_print_one_line_when_verbose(capsys):
    model = softmax_model()
    loss, acc = model.evaluate(X, Y, verbose=1)
    model.predict(X, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and f"loss: {loss:.4f}" in lines[0] and f"accuracy: {acc:.4f}" \
        in lines[0]
    with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto'"):
        model.predict(X, verbose=3)


# -- the model API ----------------------------------------------------------------------------------
def test_input_flatten_input_shape_and_build_with_a_batch_axis():
    a = gk.Sequential([L.Flatten(input_shape=(2, 2)), L.Dense(5), L.Dense(3)])
    b = gk.Sequential([L.Input(shape=(2, 2)), L.Flatten(), L.Dense(5), L.Dense(3)])
    c = gk.Sequential([L.Flatten(), L.Dense(5), L.Dense(3)])
    c.build((None, 2, 2))
    for model in (a, b, c):
        assert model.built and model.input_shape == (2, 2) and len(model.layers) == 3
        assert model.count_params() == 4 * 5 + 5 + 5 * 3 + 3 == 43
    assert [lay.count_params() for lay in a.layers] == [0, 25, 18]
    assert a.get_layer("dense_1") is a.layers[2] and a.get_layer(index=0) is a.layers[0]
    assert a.layer_names() == ["flatten", "dense", "dense_1"]
    kernel, bias = a.get_layer("dense").get_weights()
    assert kernel.shape == (4, 5) and bias.shape == (5,)
    a.layers[1].set_weights([np.ones((4, 5)), np.zeros(5)])
    assert np.all(a.layers[1].W.numpy() == 1)
    with pytest.raises(ValueError, match="no layer named 'dense_9'"):
        a.get_layer("dense_9")


def test_kernel_and_bias_initializer_are_keras_names_for_init():
    layer = L.Dense(3, kernel_initializer="ones", bias_initializer=gk.initializers.Constant(0.5))
    layer.build((2,))
    assert np.all(layer.W.numpy() == 1) and np.all(layer.b.numpy() == 0.5)
    with pytest.raises(ValueError, match="init and kernel_initializer are one setting"):
        L.Dense(3, init="zeros", kernel_initializer="ones")


def test_a_saved_model_keeps_its_compile_settings_and_optimizer_state(tmp_path):
    # Two epochs in one go, or one, save, load, one more: the same weights (Adam's moments
    # and step count travel in the file, as in a Keras .keras file).
    def make():
        model = gk.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
        model.compile(optimizer=gk.optim.Adam(learning_rate=0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    whole = make()
    whole.fit(X, Y, epochs=2, batch_size=8, shuffle=False, seed=3, verbose=0)
    first = make()
    first.fit(X, Y, epochs=1, batch_size=8, shuffle=False, seed=3, verbose=0)
    first.save(tmp_path / "m.safetensors")
    loaded = gk.load_model(tmp_path / "m.safetensors")
    assert loaded.evaluate(X, Y) == pytest.approx(first.evaluate(X, Y), rel=1e-6)
    assert isinstance(loaded.optimizer, gk.optim.Adam) and loaded.optimizer.lr == 0.01
    loaded.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- callbacks ----------------------------------------------------------------------------------------
def test_early_stopping_takes_keras_arguments():
    stop = gk.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    assert stop.restore_best and stop.restore_best_weights
    assert gk.callbacks.EarlyStopping().patience == 0                  # Keras's defaults
    assert not gk.callbacks.EarlyStopping().restore_best
    with pytest.raises(ValueError, match="one setting"):
        gk.callbacks.EarlyStopping(restore_best=True, restore_best_weights=False)


def test_model_checkpoint_formats_its_filepath_with_the_logs(tmp_path):
    model = softmax_model()
    saver = gk.callbacks.ModelCheckpoint(
        filepath=str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.safetensors"), save_best_only=True)
    history = model.fit(X, Y, epochs=3, batch_size=8, validation_split=0.25, seed=0,
                        verbose=0, callbacks=[saver])
    vals = history["val_loss"]
    best = [i for i, v in enumerate(vals) if v == min(vals[:i + 1])]
    expected = {f"m-{i + 1:02d}-{vals[i]:.2f}.safetensors" for i in best}
    assert {p.name for p in tmp_path.iterdir()} == expected
    with pytest.raises(ValueError, match="save_weights_only=True is not supported"):
        gk.callbacks.ModelCheckpoint("w.safetensors", save_weights_only=True)


def test_learning_rate_scheduler_gets_epoch_and_lr():
    model = softmax_model()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5

    history = model.fit(X, Y, epochs=3, batch_size=8, seed=0, verbose=0,
                        callbacks=[gk.callbacks.LearningRateScheduler(schedule)])
    assert seen == [(0, pytest.approx(0.1)), (1, pytest.approx(0.05)),
                    (2, pytest.approx(0.025))]
    assert history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])


def test_csv_logger_appends_as_keras_does(tmp_path):
    path = tmp_path / "log.csv"
    model = softmax_model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[gk.callbacks.CSVLogger(str(path))])
    model.fit(X, Y, epochs=1, verbose=0,
              callbacks=[gk.callbacks.CSVLogger(str(path), append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]      # one header, Keras's 0-based epochs
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[gk.callbacks.CSVLogger(str(path))])
    assert len(path.read_text().splitlines()) == 2           # append=False replaces the file


def test_custom_callback_with_keras_hook_names():
    calls = []

    class Hooks(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

        def on_test_end(self, logs=None):
            calls.append(("test", sorted(logs)))

    model = softmax_model()
    history = model.fit(X, Y, epochs=1, batch_size=12, validation_split=0.5, shuffle=False,
                        verbose=0, callbacks=[Hooks()])
    b = history.batch_loss
    assert calls == [("begin", 0), ("end", 0, b[0]), ("test", ["accuracy", "loss"])]


# -- optimizers and layers under Keras's names ----------------------------------------------------------
@pytest.mark.parametrize("cls", [gk.optim.SGD, gk.optim.Momentum, gk.optim.Nesterov,
                                 gk.optim.Adagrad, gk.optim.RMSprop, gk.optim.Adadelta,
                                 gk.optim.Adam, gk.optim.AdamW])
def test_every_optimizer_takes_learning_rate(cls):
    assert cls(learning_rate=0.0123).lr == pytest.approx(0.0123)
    with pytest.raises(TypeError, match="one setting"):
        cls(lr=0.1, learning_rate=0.2)


def test_keras_optimizer_arguments_mean_the_same_or_are_refused():
    adam = gk.optim.Adam(beta_1=0.8, beta_2=0.99)
    assert (adam.beta1, adam.beta2) == (0.8, 0.99)
    assert gk.optim.RMSprop(rho=0.7).gamma == 0.7
    # Keras's epsilon is added to √v (gradkit's eps, PyTorch's, to √v̂): taken with that meaning.
    keras_eps = gk.optim.Adam(epsilon=1e-7)
    assert (keras_eps.eps, keras_eps.eps_on_v_hat) == (1e-7, False)


def test_batch_normalization_has_keras_defaults_and_meaning():
    bn = L.BatchNormalization()
    assert (bn.momentum, bn.eps) == (0.99, 1e-3)
    bn.build((3,))
    x = R.normal(2.0, 3.0, size=(16, 3))
    out = bn(gk.tensor(x, dtype=np.float32), training=True).numpy()
    mean, var = x.mean(axis=0), x.var(axis=0)               # biased, as Keras's
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean, 0.01 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.99 + 0.01 * var, rtol=1e-5)


def test_leaky_relu_layer_and_selu():
    x = gk.tensor([-2.0, 3.0])
    np.testing.assert_allclose(L.LeakyReLU()(x).numpy(), [-0.6, 3.0])      # Keras 3: 0.3
    np.testing.assert_allclose(L.LeakyReLU(negative_slope=0.2)(x).numpy(), [-0.4, 3.0])
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    np.testing.assert_allclose(gk.activations.apply("selu", x).numpy(),
                               [lam * alpha * np.expm1(-2.0), lam * 3.0], rtol=1e-6)


# -- point 4 / issue 17 class 7: bad arguments, gradkit's errors -----------------------------------------
@pytest.mark.parametrize("y, message", [
    (np.where(np.arange(24) == 5, 3, Y), "label 3 at row 5.*3 units: expected labels 0..2"),
    (np.where(np.arange(24) == 7, -1, Y), "negative label -1 at row 7"),
    (Y[:20], "X has 24 rows but y has 20"),
    (np.array([None] * 24, dtype=object), "y holds None at row 0"),
    (None, "y is missing"),
])
def test_bad_labels_are_refused_in_fit_and_evaluate(y, message):
    model = softmax_model()
    with pytest.raises(gk.DataError, match=message):
        model.fit(X, y, epochs=1, verbose=0)
    if y is not None:
        with pytest.raises(gk.DataError, match=message.replace("X has", "X has")):
            model.evaluate(X, y)


def test_bad_labels_are_refused_before_the_first_build():
    model = gk.Sequential([L.Dense(4, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(gk.DataError, match="label 7 at row 0"):
        model.fit(X, np.full(24, 7), epochs=1, verbose=0)


@pytest.mark.parametrize("x, message", [
    (X[:, :3], r"X has shape \(24, 3\); this model takes \(n_samples, 4,\): expected 4 "
               r"features per row, found 3"),
    (X.reshape(24, 2, 2), r"expected rank 2, found rank 3"),
    (X[0], r"one row per sample"),
    (np.array([["a"] * 4] * 24), r"must hold numbers"),
])
def test_inputs_of_the_wrong_shape_are_refused(x, message):
    model = softmax_model()
    with pytest.raises(gk.DataError, match=message):
        model.predict(x)
    with pytest.raises(gk.DataError, match=message):
        model.evaluate(x, Y)
    with pytest.raises(gk.DataError, match=message):
        model.fit(x, Y, epochs=1, verbose=0)


def test_a_model_built_for_3_features_refuses_2_5_3():
    model = gk.Sequential([L.Dense(2)])
    model.build((3,))
    with pytest.raises(gk.DataError, match=r"shape \(2, 5, 3\).*expected rank 2, found rank 3"):
        model(np.zeros((2, 5, 3), np.float32))


@pytest.mark.parametrize("units, y, shown", [
    (3, Y.astype(np.float32), r"\((24|3),\).*\(n_samples, 3,\).*classification loss"),
    (1, np.eye(3, dtype=np.float32)[Y], r"\((24|3), 3\).*\(n_samples, 1,\)"),
    (3, np.eye(3, dtype=np.float32)[Y][:, :1], r"\((24|3), 1\).*\(n_samples, 3,\)"),
])
def test_targets_of_another_shape_than_the_outputs_are_refused(units, y, shown):
    # Keras broadcasts (n, 1) against 3 outputs, or 3 targets against one output (and (n,)
    # against 3 outputs where the batch happens to have 3 rows) into a loss of every output
    # against every target; gradkit names both shapes instead.
    model = gk.Sequential([L.Input(shape=(4,)), L.Dense(units)])
    model.compile(optimizer="sgd", loss="mse")
    for call in (lambda: model.fit(X, y, epochs=1, verbose=0),
                 lambda: model.fit(X[:3], y[:3], batch_size=3, epochs=1, verbose=0),
                 lambda: model.evaluate(X, y),
                 lambda: model.fit(X, np.zeros((24, units), np.float32), epochs=1, verbose=0,
                                   validation_data=(X, y))):
        with pytest.raises(gk.DataError, match="y has shape " + shown):
            call()
    column = gk.Sequential([L.Input(shape=(4,)), L.Dense(1)]).compile(optimizer="sgd",
                                                                       loss="mae")
    assert np.isfinite(column.evaluate(X, Y.astype(np.float32)))      # (n,) for one output


def test_a_tuple_of_x_and_y_as_x_is_refused():
    model = softmax_model()
    for call in (lambda: model.fit((X, Y), epochs=1, verbose=0),
                 lambda: model.fit(x=(X, Y), epochs=1, verbose=0),
                 lambda: model.evaluate((X, Y))):
        with pytest.raises(gk.DataError, match=r"X is a tuple of 2 arrays.*\(24, 4\), "
                                               r"\(24,\).*fit\(x, y\)"):
            call()


def test_to_categorical_as_keras():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    assert keras.utils.to_categorical([[1], [0]], 3).shape == (2, 3)
    with pytest.raises(gk.DataError, match="label 3 with num_classes=3"):
        keras.utils.to_categorical([3], 3)


def test_changing_trainable_takes_effect_at_the_next_compile_and_is_saved(tmp_path):
    X = R.normal(size=(32, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = gk.Sequential([L.Input(shape=(4,)), L.Dense(5), L.Dense(2)])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy")
    model.fit(X, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    with pytest.raises(gk.ConfigError, match=r"call compile\(\) again after setting trainable"):
        model.fit(X, y, epochs=1, verbose=0)
    model.compile(gk.optim.Adam(1e-2), "cross_entropy")
    frozen = model.layers[0].get_weights()
    model.fit(X, y, epochs=2, verbose=0)
    for a, b in zip(model.layers[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m.safetensors")
    loaded = gk.load_model(tmp_path / "m.safetensors")
    assert [layer.trainable for layer in loaded.layers] == [False, True]
    loaded.fit(X, y, epochs=1, verbose=0)                    # resumes with its optimizer state
    np.testing.assert_array_equal(loaded.layers[0].get_weights()[0], frozen[0])
    model.trainable = False
    assert not model.trainable and not model.trainable_weights
    with pytest.raises(gk.ConfigError, match="every layer is frozen"):
        model.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="trainable must be True or False"):
        model.layers[1].trainable = "no"
    assert not L.Dense(3, trainable=False).trainable


def test_a_frozen_layer_records_no_gradient():
    X = R.normal(size=(16, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = gk.Sequential([L.Input(shape=(4,)), L.Dense(5, trainable=False), L.Dense(2)])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy")
    model.fit(X, y, epochs=2, verbose=0)
    assert model.layers[0].W.grad is None and model.layers[1].W.grad is not None
    model.layers[0].trainable = True                      # and thawing records it again
    model.compile(gk.optim.Adam(1e-2), "cross_entropy")
    model.fit(X, y, epochs=1, verbose=0)
    assert model.layers[0].W.grad is not None
