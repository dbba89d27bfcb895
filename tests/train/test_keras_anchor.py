"""Side by side with Keras 3 (PyTorch backend) on tiny cases: the same names give the same
numbers. Runs where the `compat` extra (keras, torch) is installed."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra: "
                                            "pip install gradkit[compat]")
if keras.backend.backend() != "torch":
    pytest.skip("the anchors run Keras on its PyTorch backend (KERAS_BACKEND=torch)",
                allow_module_level=True)

import gradkit as gk  # noqa: E402

# Keras's own NumPy-2 deprecation notices, not gradkit's.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

R = np.random.default_rng(1)
X = R.normal(size=(24, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
W = [R.normal(0, 0.5, size=(4, 3)).astype(np.float32), R.normal(0, 0.1, 3).astype(np.float32)]


def _pair(activation, loss, units=3):
    weights = [W[0][:, :units], W[1][:units]]
    k = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(units,
                                                                      activation=activation)])
    k.set_weights(weights)
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss,
              metrics=["accuracy"])
    g = gk.Sequential([gk.layers.Input(shape=(4,)), gk.layers.Dense(units,
                                                                    activation=activation)])
    g.set_weights(weights)
    g.compile(optimizer=gk.optim.SGD(learning_rate=0.5), loss=loss, metrics=["accuracy"])
    return k, g


@pytest.mark.parametrize("activation, loss, target", [
    ("softmax", "sparse_categorical_crossentropy", lambda: Y),
    ("softmax", "categorical_crossentropy", lambda: np.eye(3, dtype=np.float32)[Y]),
    ("sigmoid", "binary_crossentropy", lambda: (Y > 0).astype(np.float32)),
])
def test_loss_metrics_and_one_step_match_keras(activation, loss, target):
    units = 1 if activation == "sigmoid" else 3
    k, g = _pair(activation, loss, units)
    y = target()
    k_loss, k_acc = k.evaluate(X, y, verbose=0)
    g_loss, g_acc = g.evaluate(X, y)
    assert g_loss == pytest.approx(k_loss, rel=1e-5) and g_acc == pytest.approx(k_acc)
    np.testing.assert_allclose(g.predict(X), k.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    k.fit(X, y, batch_size=24, epochs=1, shuffle=False, verbose=0)
    g.fit(X, y, batch_size=24, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls, kwargs", [
    ("SparseCategoricalCrossentropy", {}),
    ("SparseCategoricalCrossentropy", {"from_logits": True}),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}),
    ("BinaryCrossentropy", {}),
])
def test_loss_objects_read_what_keras_reads(cls, kwargs):
    logits = R.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0, 2])
    if cls == "BinaryCrossentropy":
        y_pred, y_true = 1 / (1 + np.exp(-logits)), (logits > 0.3).astype(np.float32)
    else:
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y_pred = logits if kwargs.get("from_logits") else probs
        y_true = labels if cls.startswith("Sparse") else np.eye(3, dtype=np.float32)[labels]
    expected = float(getattr(keras.losses, cls)(**kwargs)(y_true, y_pred))
    got = float(getattr(gk.losses, cls)(**kwargs)(y_true, y_pred).numpy())     # Keras's order
    assert got == pytest.approx(expected, rel=1e-5)


def test_batch_normalization_matches_keras_in_training_and_inference():
    x = R.normal(1.0, 2.0, size=(16, 3)).astype(np.float32)
    k = keras.layers.BatchNormalization()
    g = gk.layers.BatchNormalization()
    g.build((3,))
    k_out = np.asarray(k(x, training=True).detach().cpu())
    g_out = g(gk.tensor(x), training=True).numpy()
    np.testing.assert_allclose(g_out, k_out, rtol=1e-4, atol=1e-5)
    k_mean, k_var = (np.asarray(v.numpy()) for v in (k.moving_mean, k.moving_variance))
    np.testing.assert_allclose(g.running_mean, k_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g.running_var, k_var, rtol=1e-5)
    inference = np.asarray(k(x).detach().cpu())          # Keras's default: training=False
    np.testing.assert_allclose(g(gk.tensor(x)).numpy(), inference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g(gk.tensor(x), training=False).numpy(), inference, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(g.running_mean, k_mean, rtol=1e-5, atol=1e-7)  # not updated


def test_leaky_relu_and_selu_match_keras():
    x = np.linspace(-3, 3, 13).astype(np.float32)
    np.testing.assert_allclose(gk.layers.LeakyReLU()(gk.tensor(x)).numpy(),
                               np.asarray(keras.layers.LeakyReLU()(x).cpu()), rtol=1e-6)
    np.testing.assert_allclose(gk.activations.apply("selu", gk.tensor(x)).numpy(),
                               np.asarray(keras.activations.selu(x).cpu()), rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("n, split", [(10, 0.25), (7, 0.15), (33, 0.1), (24, 0.33)])
def test_validation_split_holds_out_the_rows_keras_holds_out(n, split):
    class Steps(keras.callbacks.Callback):
        count = 0

        def on_train_batch_end(self, batch, logs=None):
            Steps.count += 1

    class GkSteps(gk.callbacks.Callback):
        count = 0

        def on_batch_end(self, batch, logs=None):
            GkSteps.count += 1

    k, g = _pair("softmax", "sparse_categorical_crossentropy")
    Xn, Yn = np.resize(X, (n, 4)), np.resize(Y, n)
    k.fit(Xn, Yn, batch_size=1, epochs=1, validation_split=split, shuffle=False, verbose=0,
          callbacks=[Steps()])
    g.fit(Xn, Yn, batch_size=1, epochs=1, validation_split=split, shuffle=False, verbose=0,
          callbacks=[GkSteps()])
    assert GkSteps.count == Steps.count        # one step per training row


def test_a_validation_split_that_leaves_no_rows_is_refused():
    g = _pair("softmax", "sparse_categorical_crossentropy")[1]
    with pytest.raises(ValueError, match="leaves no rows to train on among 1"):
        g.fit(X[:1], Y[:1], validation_split=0.5, verbose=0)      # Keras refuses it too


def test_reduce_lr_on_plateau_takes_keras_arguments_in_keras_order(capsys):
    losses = [1.0, 0.9, 0.895, 0.9, 0.89, 0.95, 0.96, 0.5, 0.51, 0.52, 0.53, 0.54]
    args = ("loss", 0.5, 2, 1, "auto", 0.01, 1, 0.02)   # factor, patience, verbose, mode,
    rates = []                                         # min_delta, cooldown, min_lr
    for lib, model in zip((keras, gk), _pair("softmax", "sparse_categorical_crossentropy")):
        callback = lib.callbacks.ReduceLROnPlateau(*args)
        callback.set_model(model)
        callback.on_train_begin({})
        seen = []
        for epoch, loss in enumerate(losses):
            callback.on_epoch_end(epoch, {"loss": loss})
            seen.append(float(np.asarray(model.optimizer.learning_rate)))
        rates.append(seen)
    np.testing.assert_allclose(rates[1], rates[0], rtol=1e-6)
    assert rates[1][-1] < 0.5                        # it did reduce, and printed so:
    assert "ReduceLROnPlateau reducing learning rate to" in capsys.readouterr().out


def test_calling_a_model_infers_unless_training_is_true_as_in_keras():
    # model(x) is Keras's inference call: Dropout off, BatchNormalization on its moving
    # statistics, which the call leaves alone; training=True is the training call.
    k = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3),
                          keras.layers.BatchNormalization(), keras.layers.Dropout(0.5)])
    k.set_weights([W[0], W[1], *(R.uniform(0.5, 1.5, 3).astype(np.float32) for _ in range(4))])
    g = gk.Sequential([gk.layers.Input(shape=(4,)), gk.layers.Dense(3),
                       gk.layers.BatchNormalization(), gk.layers.Dropout(0.5)])
    g.set_weights(k.get_weights())
    for _ in range(2):
        np.testing.assert_allclose(g(X).numpy(), np.asarray(k(X).detach().cpu()), rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_allclose(g.get_weights()[4], k.get_weights()[4])     # moving mean kept
    trained = g(X, training=True).numpy()
    assert np.mean(trained == 0) > 0.3                                      # dropout acted
    assert not np.allclose(g.get_weights()[4], k.get_weights()[4])         # and BN updated
    k(X, training=True)
    np.testing.assert_allclose(g.get_weights()[4], k.get_weights()[4], rtol=1e-5, atol=1e-7)


def test_calling_a_layer_infers_unless_training_is_true_as_in_keras():
    x = R.normal(size=(200, 5)).astype(np.float32)
    for name, kwargs in (("Dropout", {"rate": 0.5}), ("GaussianNoise", {"stddev": 1.0})):
        k, g = getattr(keras.layers, name)(**kwargs), getattr(gk.layers, name)(**kwargs)
        np.testing.assert_array_equal(g(gk.tensor(x)).numpy(), np.asarray(k(x).cpu()))
        assert not np.allclose(g(gk.tensor(x), training=True).numpy(), x)
        assert not np.allclose(np.asarray(k(x, training=True).cpu()), x)


def _dense_bn_dense(lib, inputs):
    return lib.Sequential([inputs((4,)), lib.layers.Dense(6), lib.layers.BatchNormalization(),
                           lib.layers.Dense(3)])


def test_weights_come_layer_by_layer_and_count_params_counts_them_all_as_in_keras():
    k = _dense_bn_dense(keras, keras.Input)
    g = _dense_bn_dense(gk, gk.layers.Input)
    # Keras's order: kernel, bias, gamma, beta, moving mean, moving variance, kernel, bias.
    assert [w.shape for w in g.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    g.set_weights(k.get_weights())
    for ours, theirs in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert g.count_params() == k.count_params() == 30 + 24 + 21
    assert g.layers[1].count_params() == k.layers[1].count_params() == 24


def test_a_frozen_layer_keeps_its_weights_through_fit_as_in_keras():
    k = _dense_bn_dense(keras, keras.Input)
    g = _dense_bn_dense(gk, gk.layers.Input)
    g.set_weights(k.get_weights())
    for model in (k, g):
        model.layers[0].trainable = False
        model.layers[1].trainable = False        # a frozen BatchNorm infers, in Keras 3 too
    assert (len(g.trainable_weights), len(g.non_trainable_weights)) == \
        (len(k.trainable_weights), len(k.non_trainable_weights)) == (2, 6)
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    g.compile(optimizer=gk.optim.SGD(learning_rate=0.1), loss="cross_entropy")
    before = g.get_weights()
    k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    g.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for i, (ours, theirs) in enumerate(zip(g.get_weights(), k.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=str(i))
    for i in range(6):
        np.testing.assert_array_equal(g.get_weights()[i], before[i])
    assert not np.array_equal(g.get_weights()[6], before[6])
