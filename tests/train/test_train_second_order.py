"""`fit` with the full-batch optimizers (L-BFGS, Newton): history, callbacks, checkpoints."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import TrainingDiverged

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (np.tanh(X @ [1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    return X, y


class Epochs(gk.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.begin, self.end, self.batches = [], [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.begin.append(epoch)

    def on_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.end.append((epoch, dict(logs)))


@pytest.mark.parametrize("name", ["lbfgs", "l-bfgs"])
def test_lbfgs_fits_xor_full_batch_with_history_and_callbacks(name):
    model = gk.Sequential([gk.layers.Dense(4, activation="tanh"), gk.layers.Dense(2)])
    model.compile(optimizer=gk.optim.get(name, maxiter=5), loss="cross_entropy",
                  metrics=["accuracy"])
    seen = Epochs()
    history = model.fit(XOR_X, XOR_Y, epochs=6, seed=0, verbose=0, callbacks=[seen])
    assert seen.begin == list(range(6)) and [e for e, _ in seen.end] == list(range(6))
    assert seen.batches == 6                          # full batch: one step per epoch
    loss = history.history["loss"]
    assert len(loss) == 6 and [logs["loss"] for _, logs in seen.end] == loss
    assert all(b <= a + 1e-7 for a, b in zip(loss, loss[1:]))   # the line search only descends
    assert loss[-1] < 0.1 < np.log(2) < loss[0] + 0.5
    assert history.history["accuracy"][-1] == 1.0
    assert model.predict_classes(XOR_X).tolist() == XOR_Y.tolist()


def test_newton_fits_a_small_regression_and_validation_is_logged():
    X, y = regression()
    model = gk.Sequential([gk.layers.Dense(4, activation="tanh"), gk.layers.Dense(1)])
    model.compile(optimizer=gk.optim.Newton(damping=1e-2), loss="mse")
    history = model.fit(X, y, epochs=5, seed=0, verbose=0, validation_split=0.25)
    loss = history.history["loss"]
    assert len(loss) == 5 and len(history.history["val_loss"]) == 5
    assert loss[-1] < 0.5 * loss[0]
    assert all(b <= a for a, b in zip(loss, loss[1:]))          # every accepted step descends


def test_lbfgs_on_the_large_batches_the_user_gives():
    X, y = regression(n=60)
    model = gk.Sequential([gk.layers.Dense(8, activation="tanh"), gk.layers.Dense(1)])
    model.compile(optimizer=gk.optim.LBFGS(maxiter=4), loss="mse")
    seen = Epochs()
    history = model.fit(X, y, batch_size=30, epochs=3, seed=0, verbose=0, callbacks=[seen])
    assert seen.batches == 6 and len(history.batch_loss) == 6
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_lbfgs_early_stopping_and_checkpoints_resume(tmp_path):
    X, y = regression()
    def make():
        model = gk.Sequential([gk.layers.Dense(8, activation="tanh"), gk.layers.Dense(1)])
        model.compile(optimizer=gk.optim.LBFGS(maxiter=3), loss="mse")
        return model
    straight = make().fit(X, y, epochs=4, seed=0, verbose=0).history["loss"]
    first = make()
    first.fit(X, y, epochs=2, seed=0, verbose=0, checkpoint_dir=tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    resumed = make()
    history = resumed.fit(X, y, epochs=4, seed=0, verbose=0, resume_from=tmp_path / "ckpt")
    np.testing.assert_allclose(history.history["loss"], straight, rtol=1e-6)
    stop = gk.callbacks.EarlyStopping("loss", patience=0, min_delta=1.0)
    history = make().fit(X, y, epochs=5, seed=0, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 2 and stop.stopped_epoch == 1


class FailingLBFGS(gk.optim.LBFGS):
    """Moves the weights, then reports a non-finite loss, as a diverging line search would."""

    def step(self, closure=None):
        closure()
        self._flat[...] += 100.0
        return False


def test_a_failed_full_batch_step_raises_and_puts_the_weights_back():
    model = gk.Sequential([gk.layers.Dense(2)])
    model.compile(optimizer=FailingLBFGS(), loss="cross_entropy")
    model.build((2,), seed=0)
    before = model.get_weights()
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1"):
        model.fit(XOR_X, XOR_Y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_first_order_optimizers_keep_batches_of_32_by_default():
    X, y = regression(n=70)
    model = gk.Sequential([gk.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X, y, epochs=1, seed=0, verbose=0)
    assert len(history.batch_loss) == 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got "
                                         "batch_size=0"):
        model.fit(X, y, batch_size=0, verbose=0)


def _weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_newton_resume_restores_the_adapted_damping_bit_for_bit(tmp_path):
    # A convex problem, so every step is accepted at the current damping and the damping
    # (100 -> 10 -> 1 after two epochs) sets each step's length: a resume that started again
    # from the initial damping would take other steps.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3
    def make():
        model = gk.Sequential([gk.layers.Dense(1)])
        model.compile(optimizer=gk.optim.Newton(damping=100.0), loss="mse")
        return model
    straight = make()
    expected = straight.fit(X, y, epochs=4, seed=0, verbose=0).history["loss"]
    first = make()
    first.fit(X, y, epochs=2, seed=0, verbose=0, checkpoint_dir=tmp_path / "ckpt")
    assert first.optimizer.damping == 1.0 != first.optimizer.initial_damping
    resumed = make()
    history = resumed.fit(X, y, epochs=4, seed=0, verbose=0, resume_from=tmp_path / "ckpt")
    assert history.history["loss"] == expected
    assert resumed.optimizer.damping == straight.optimizer.damping
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 4
    assert _weights_equal(resumed, straight)


def test_lbfgs_resume_is_bit_identical(tmp_path):
    # Each fit step is one scipy L-BFGS-B call whose curvature pairs start empty, so the
    # iteration count is all the optimizer carries from step to step.
    X, y = regression()
    def make():
        model = gk.Sequential([gk.layers.Dense(8, activation="tanh"), gk.layers.Dense(1)])
        model.compile(optimizer=gk.optim.LBFGS(maxiter=3), loss="mse")
        return model
    straight = make()
    expected = straight.fit(X, y, epochs=4, seed=0, verbose=0).history["loss"]
    make().fit(X, y, epochs=2, seed=0, verbose=0, checkpoint_dir=tmp_path / "ckpt")
    resumed = make()
    history = resumed.fit(X, y, epochs=4, seed=0, verbose=0, resume_from=tmp_path / "ckpt")
    assert history.history["loss"] == expected
    assert resumed.optimizer.iterations == straight.optimizer.iterations > 0
    assert _weights_equal(resumed, straight)
