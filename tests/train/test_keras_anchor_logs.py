"""What `fit` and `evaluate` log, side by side with Keras 3 (PyTorch backend): the metrics
"accuracy" resolves to, the regularization penalty in evaluate and val_loss, the metrics of a
batch's logs, and EarlyStopping's rule. Runs where the `compat` extra (keras, torch) is
installed."""

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

R = np.random.default_rng(0)
X = R.normal(size=(32, 4)).astype(np.float32)
W = R.normal(size=(4, 3)).astype(np.float32)
COLUMN = (R.normal(size=(32, 1)) > 0).astype(np.float32)        # 0/1 labels as a column
LABELS = R.integers(0, 3, 32)
VALUES = R.normal(size=(32, 1)).astype(np.float32)


def _pair(units, activation, loss, metrics, dense=lambda lib: {}):
    """The same one-layer model in Keras and in gradkit, with the same weights; `dense(lib)`
    gives more arguments for the Dense layer."""
    weights = [W[:, :units], np.full(units, 0.5, np.float32)]
    models = []
    for lib, opt in ((keras, keras.optimizers.SGD(learning_rate=0.1)),
                     (gk.keras, gk.keras.optimizers.SGD(learning_rate=0.1))):
        model = lib.Sequential([lib.Input(shape=(4,)),
                                lib.layers.Dense(units, activation=activation, **dense(lib))])
        model.set_weights(weights)
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
        models.append(model)
    return models


def _close(got, expected):
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key


# Keras's "accuracy" is binary accuracy (cut at 0.5) for one output column, sparse categorical
# for class indices, categorical for one-hot rows; every metric reads the model's outputs.
@pytest.mark.parametrize("units, activation, loss, metrics, y", [
    (1, "sigmoid", "binary_crossentropy", ["accuracy", "acc"], COLUMN),
    (1, "sigmoid", "binary_crossentropy", ["accuracy"], COLUMN[:, 0].astype(np.int64)),
    (1, "sigmoid", "mse", ["accuracy", "binary_accuracy"], COLUMN),
    (1, None, "mse", ["accuracy", "binary_accuracy"], COLUMN),
    (1, None, "mse", ["accuracy"], VALUES),
    (1, "sigmoid", "binary_crossentropy", ["mse", "mae"], COLUMN),
    (1, "sigmoid", "binary_crossentropy", ["accuracy"], COLUMN * 0.8 + 0.1),
    (1, "sigmoid", "binary_crossentropy",
     ["categorical_accuracy", "sparse_categorical_accuracy"], COLUMN),
    (3, "softmax", "categorical_crossentropy", ["mse", "mae", "accuracy"],
     np.eye(3, dtype=np.float32)[LABELS]),
    (3, "softmax", "sparse_categorical_crossentropy", ["accuracy"], LABELS[:, None]),
    (1, "sigmoid", "binary_crossentropy", ["precision", "recall"], COLUMN),
    (3, "softmax", "categorical_crossentropy", ["precision", "recall"],
     np.eye(3, dtype=np.float32)[LABELS]),
])
def test_metrics_read_what_keras_metrics_read(units, activation, loss, metrics, y):
    k, g = _pair(units, activation, loss, metrics)
    _close(g.evaluate(X, y, return_dict=True), k.evaluate(X, y, verbose=0, return_dict=True))
    k_hist = k.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    g_hist = g.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(g_hist[key], k_hist[key], rtol=1e-5, atol=1e-6)


def test_evaluate_and_val_loss_include_the_regularization_penalty():
    def regularized(lib):
        return {"kernel_regularizer": lib.regularizers.l2(0.1),
                "bias_regularizer": lib.regularizers.l1(0.05)}

    k, g = _pair(1, None, "mse", ["mae"], regularized)
    _close(g.evaluate(X, VALUES, return_dict=True),
           k.evaluate(X, VALUES, verbose=0, return_dict=True))
    Xv, yv = X[:12] + 0.5, VALUES[:12]
    names = {}
    for lib, model in ((keras, k), (gk.keras, g)):
        seen = names.setdefault(lib.__name__, [])

        class CheckpointNames(lib.callbacks.Callback):
            """ModelCheckpoint's file name, formatted from the epoch's logs."""

            def on_epoch_end(self, epoch, logs=None):
                seen.append("m-{epoch}-{val_loss:.5f}".format(epoch=epoch + 1, **logs))

        model.fit(X, VALUES, batch_size=16, epochs=3, shuffle=False, verbose=0,
                  validation_data=(Xv, yv), callbacks=[CheckpointNames()])
    k_hist, g_hist = k.history.history, g.history.history
    for key in k_hist:
        np.testing.assert_allclose(g_hist[key], k_hist[key], rtol=1e-5, atol=1e-6)
    # What EarlyStopping and ModelCheckpoint read: the same val_loss, so the same names.
    assert names["gradkit.keras"] == names["keras"]


def test_batch_logs_hold_the_running_metrics_as_keras_does():
    k, g = _pair(3, "softmax", "sparse_categorical_crossentropy", ["accuracy", "mse"])
    y = np.eye(3, dtype=np.float32)[LABELS]
    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
              loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    g.compile(optimizer=gk.keras.optimizers.SGD(learning_rate=0.5),
              loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    seen = {}
    for lib, model in ((keras, k), (gk.keras, g)):
        logs_seen = seen.setdefault(lib.__name__, [])

        class Batches(lib.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                logs_seen.append({key: float(value) for key, value in logs.items()})

        model.fit(X, y, batch_size=10, epochs=2, shuffle=False, verbose=0,
                  callbacks=[Batches()])
    k_logs, g_logs = seen["keras"], seen["gradkit.keras"]
    assert len(g_logs) == len(k_logs) == 8
    for got, expected in zip(g_logs, k_logs):
        _close(got, expected)
    assert g_logs[-1]["accuracy"] == pytest.approx(g.history.history["accuracy"][-1])


# Scripted monitored values: Keras 3's EarlyStopping and gradkit's, fed the same logs.
CURVES = {
    "falls then rises": [1.0, 0.8, 0.6, 0.65, 0.595, 0.7, 0.5, 0.4, 0.3, 0.2, 0.25, 0.3],
    "never beats the baseline": [0.9, 0.8, 0.85, 0.7, 0.75, 0.72, 0.71, 0.69, 0.8, 0.8],
    "beats the baseline late": [0.9, 0.8, 0.7, 0.6, 0.45, 0.5, 0.55, 0.56, 0.57, 0.58],
    "flat": [0.5] * 8,
}
SETTINGS = [
    {"patience": 0}, {"patience": 2}, {"patience": 2, "min_delta": 0.01},
    {"patience": 2, "baseline": 0.5}, {"patience": 3, "baseline": 0.5, "min_delta": 0.06},
    {"patience": 1, "baseline": 0.75}, {"patience": 2, "start_from_epoch": 3},
    {"patience": 1, "start_from_epoch": 2, "baseline": 0.5},
    {"patience": 2, "mode": "max"}, {"patience": 2, "mode": "max", "baseline": 0.85},
]


def _scripted_run(lib, model, curve, settings):
    """(epochs run, the attributes Keras keeps, the epoch whose weights are restored)."""
    stopper = lib.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True,
                                          **settings)
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin({})
    epochs = 0
    for epoch, value in enumerate(curve):
        model.set_weights([np.full((4, 1), epoch, np.float32), np.zeros(1, np.float32)])
        stopper.on_epoch_end(epoch, {"loss": value, "val_loss": value})
        epochs += 1
        if model.stop_training:
            break
    stopper.on_train_end({})
    restored = int(model.get_weights()[0][0, 0])
    return epochs, stopper.stopped_epoch, stopper.best_epoch, stopper.wait, restored


@pytest.mark.parametrize("curve", sorted(CURVES))
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_early_stopping_follows_keras_step_for_step(curve, settings):
    k, g = _pair(1, None, "mse", [])
    expected = _scripted_run(keras, k, CURVES[curve], settings)
    assert _scripted_run(gk.keras, g, CURVES[curve], settings) == expected


def test_early_stopping_on_a_fit_with_a_baseline_runs_as_long_as_keras():
    # The audit's case: patience 2, a baseline no epoch beats, an epoch that beats the best.
    Xf = R.normal(size=(64, 4)).astype(np.float32)
    yf = (Xf @ R.normal(size=(4, 1)) + R.normal(size=(64, 1))).astype(np.float32)
    Xv = R.normal(size=(32, 4)).astype(np.float32)
    yv = (Xv @ R.normal(size=(4, 1))).astype(np.float32)
    runs = []
    for lib, model in zip((keras, gk.keras), _pair(1, None, "mse", [])):
        model.optimizer.learning_rate = 0.9
        model.set_weights([np.zeros((4, 1), np.float32), np.zeros(1, np.float32)])
        stopper = lib.callbacks.EarlyStopping(patience=2, baseline=0.5,
                                              restore_best_weights=True)
        history = model.fit(Xf, yf, batch_size=64, epochs=15, shuffle=False, verbose=0,
                            validation_data=(Xv, yv), callbacks=[stopper])
        runs.append((len(history.history["loss"]), stopper.stopped_epoch, stopper.best_epoch,
                     model.get_weights()[0]))
    assert runs[1][:3] == runs[0][:3]
    np.testing.assert_allclose(runs[1][3], runs[0][3], rtol=1e-5, atol=1e-6)


def test_under_a_keras_loss_class_on_logits_metrics_cut_the_logits_at_keras_05():
    # Keras's BinaryCrossentropy(from_logits=True) with "accuracy", "precision", "recall": the
    # metrics cut the raw logits at 0.5, as Keras's do (gradkit's own losses cut them at 0).
    models = []
    for lib in (keras, gk.keras):
        model = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(1)])
        model.set_weights([W[:, :1], np.full(1, 0.3, np.float32)])
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.1),
                      loss=lib.losses.BinaryCrossentropy(from_logits=True),
                      metrics=["accuracy", "precision", "recall"])
        models.append(model)
    k, g = models
    _close(g.evaluate(X, COLUMN, return_dict=True),
           k.evaluate(X, COLUMN, verbose=0, return_dict=True))


def test_kerass_precision_refuses_class_indices_for_several_outputs():
    _, g = _pair(3, "softmax", "sparse_categorical_crossentropy", ["precision"])
    with pytest.raises(gk.DataError, match="use 'macro_precision'"):
        g.evaluate(X, LABELS)
