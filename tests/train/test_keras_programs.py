"""The introductory Keras programs, run as written with only the import line changed, each
checked by its result: the DESY lecture's network (on the built-in digits, 8x8, since
Fashion-MNIST cannot be downloaded here), and the patterns of Keras's "The Sequential model"
and "Writing your own callbacks" guides. Small data and few epochs keep them fast."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def digit_images():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0 - 0.5       # the lecture's x / 255 - 0.5
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:900], order[1500:]
    return (images[train], d.target[train]), (images[test], d.target[test])


def test_desy_lecture_program(digit_images):
    (x_train, y_train), (x_test, y_test) = digit_images
    # ---- the lecture's program (004_b03d6a67b28a555f.txt); only this import line changed:
    import gradkit as tf

    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(8, 8)),
        tf.keras.layers.Dense(512, activation='relu'),
        tf.keras.layers.Dense(512, activation='relu'),
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    model.summary(print_fn=None)
    model.compile(optimizer='adam',
                  loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(x_train, y_train,
                        validation_data=(x_test, y_test),
                        batch_size=32, epochs=5, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test)
    fiveImages = x_test[0:5]
    predictions = model.predict(fiveImages)
    # ---- end of the program
    assert accuracy > 0.93 and loss < 0.3         # Keras 3 on the same split: see bench/NOTES
    assert history.history["val_accuracy"][-1] == accuracy
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)   # probabilities
    assert np.all(predictions >= 0)
    assert np.mean(np.argmax(predictions, axis=1) == y_test[:5]) >= 0.8


def test_sequential_model_guide():
    from gradkit import keras
    from gradkit.keras import layers

    model = keras.Sequential([
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ])
    x = np.ones((3, 3))
    y = model(x)
    assert y.shape == (3, 4)
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2

    layer = layers.Dense(3)
    assert layer.weights == []                     # no weights before it sees an input
    layer(np.ones((1, 4), np.float32))
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert len(model.weights) == 2 and model.count_params() == 10
    text = model.summary(print_fn=None)
    assert "Trainable params: 10" in text

    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Flatten())
    model.add(layers.Dense(3))
    assert model.output_shape == (3,)
    with pytest.raises(gk_data_error()):
        model.predict(np.zeros((1, 250, 250)))     # a wrong input shape: gradkit's error


def gk_data_error():
    import gradkit as gk

    return gk.DataError


@pytest.fixture(scope="module")
def mnist_like():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype("float32") / 16.0
    return (x[:800], y[:800].astype("float32")), (x[800:1000], y[800:1000].astype("float32"))


def get_model(keras):
    # The callbacks guide's model, as written there.
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


def test_callbacks_guide_custom_callbacks(mnist_like):
    from gradkit import keras

    (x_train, y_train), (x_test, y_test) = mnist_like
    seen = []

    class CustomCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("train_begin", sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch, sorted(logs)))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch_end", batch, sorted(logs)))

        def on_test_end(self, logs=None):
            seen.append(("test_end", sorted(logs)))

    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(("mae", epoch, logs["loss"], logs["mean_absolute_error"]))

    model = get_model(keras)
    history = model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0,
                        validation_split=0.5,
                        callbacks=[CustomCallback(), LossAndErrorPrintingCallback()])
    assert seen[0][0] == "train_begin"
    batch_ends = [s for s in seen if s[0] == "batch_end"]
    # Keras's batch logs: the loss and the metrics, each over the epoch so far.
    assert len(batch_ends) == 2 * 4 and all(s[2] == ["loss", "mean_absolute_error"]
                                            for s in batch_ends)
    assert ("test_end", ["loss", "mean_absolute_error"]) in seen
    maes = [s for s in seen if s[0] == "mae"]
    assert [m[3] for m in maes] == history.history["mean_absolute_error"]
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    assert len(res) == 2 and res[1] == pytest.approx(
        np.mean(np.abs(model.predict(x_test)[:, 0] - y_test)), rel=1e-5)


def test_callbacks_guide_early_stopping_at_min_loss(mnist_like):
    from gradkit import keras

    (x_train, y_train), _ = mnist_like

    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        """The guide's callback: stop when the loss is at its min, keep the best weights."""

        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

    LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
            return lr
        for i in range(len(LR_SCHEDULE)):
            if epoch == LR_SCHEDULE[i][0]:
                return LR_SCHEDULE[i][1]
        return lr

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            scheduled_lr = self.schedule(epoch, lr)
            self.model.optimizer.learning_rate = scheduled_lr
            rates.append(float(self.model.optimizer.learning_rate))

    rates = []
    model = get_model(keras)
    stopper = EarlyStoppingAtMinLoss(patience=1)
    history = model.fit(x_train, y_train, batch_size=64, epochs=8, verbose=0,
                        callbacks=[stopper, CustomLearningRateScheduler(lr_schedule)])
    losses = history.history["loss"]
    assert rates[:4] == [0.1, 0.1, 0.1, 0.05][:len(rates[:4])]
    assert len(losses) == len(rates) <= 8
    if stopper.stopped_epoch:
        assert losses[-1] >= min(losses[:-1])      # stopped on an epoch that did not improve
    assert stopper.best == min(losses)


def test_keras_callbacks_write_files(tmp_path, digit_images):
    from gradkit import keras

    (x_train, y_train), (x_test, y_test) = digit_images
    model = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(
            filepath=str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.safetensors"),
            save_best_only=True),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv"), append=True),
    ]
    history = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=4,
                        batch_size=64, verbose=0, callbacks=callbacks)
    saved = sorted(p.name for p in tmp_path.glob("m-*.safetensors"))
    assert saved and saved[0].startswith("m-01-")
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,accuracy,learning_rate,loss,lr,") and len(rows) == 5
    best = keras.models.load_model(tmp_path / saved[-1])
    loss, acc = best.evaluate(x_test, y_test)
    assert loss == pytest.approx(min(history.history["val_loss"]), rel=1e-5)
    assert model.evaluate(x_test, y_test) == pytest.approx([loss, acc], rel=1e-5)
