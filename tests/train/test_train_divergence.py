"""A non-finite loss or gradient stops training at that step, says where, and leaves the weights
(and the checkpoints) as they were before it: the NaN guard (`TerminateOnNaN`, on by default)."""

import re

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn.module import Layer
from gradkit.train import callbacks as cb
from gradkit.train import checkpoint


class NaNOnCall(Layer):
    """The identity, except that its k-th forward pass in training mode returns NaN."""

    def __init__(self, k, *, nan_rows=slice(None)):
        super().__init__()
        self.k, self.nan_rows, self.calls = k, nan_rows, 0

    def forward(self, x):
        if not self.training:
            return x
        self.calls += 1
        if self.calls != self.k:
            return x
        mask = np.zeros(x.shape, np.float32)
        mask[self.nan_rows] = np.nan
        return x + mask


def nan_model(k, *, batch_norm=False, optimizer=None, **layer_kwargs):
    layers = [gk.layers.Dense(8, activation="relu"), NaNOnCall(k, **layer_kwargs)]
    if batch_norm:
        layers.append(gk.layers.BatchNorm())
    layers.append(gk.layers.Dense(3))
    model = gk.Sequential(layers)
    model.compile(optimizer or gk.optim.Adam(1e-2), "cross_entropy", ["accuracy"])
    return model


def expected_message(epoch, batch):
    return re.escape(f"training diverged at epoch {epoch}, batch {batch}:")


# 120 rows in batches of 16: 8 steps per epoch. Step 13 is epoch 2, batch 5 (1-based).
@pytest.mark.parametrize("k, epoch, batch", [(1, 1, 1), (8, 1, 8), (13, 2, 5)])
def test_nan_in_a_batch_stops_with_the_weights_before_it(toy, helpers, tmp_path, k, epoch,
                                                         batch):
    X, y = toy
    model = nan_model(k)
    recorder = helpers.Recorder()
    with pytest.raises(gk.TrainingDiverged, match=expected_message(epoch, batch)) as info:
        model.fit(X, y, epochs=3, batch_size=16, seed=0, verbose=0, callbacks=[recorder],
                  checkpoint_dir=tmp_path, checkpoint_every=1)
    assert "the loss is not finite" in str(info.value)
    assert len(recorder.before_batch) == k
    assert helpers.weights_equal(model.get_weights(), recorder.before_batch[-1])
    assert len(model.history.batch_loss) == k - 1           # the bad step is not recorded
    if k == 1:
        assert checkpoint.list_checkpoints(tmp_path) == []  # nothing good to keep yet
        return
    # Checkpoints after every step: the newest holds exactly the pre-divergence weights.
    tensors, meta = checkpoint.load_latest(tmp_path)
    assert meta["step"] == k - 1
    saved = {name[len("param:"):]: value for name, value in tensors.items()
             if name.startswith("param:")}
    assert list(saved) == list(model.state_dict())
    assert helpers.weights_equal(list(saved.values()), model.get_weights())


def test_nan_leaves_batch_norm_statistics_as_they_were(toy, helpers):
    X, y = toy
    model = nan_model(5, batch_norm=True, nan_rows=(slice(0, 2), 3))
    recorder = helpers.Recorder()
    with pytest.raises(gk.TrainingDiverged, match=expected_message(1, 5)):
        model.fit(X, y, epochs=2, batch_size=16, seed=0, verbose=0, callbacks=[recorder])
    # get_weights includes the running mean and variance, which the forward pass updates.
    assert len(model.get_weights()) == 8
    assert helpers.weights_equal(model.get_weights(), recorder.before_batch[-1])
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_early_stopping_does_not_replace_the_pre_divergence_weights(toy, helpers):
    X, y = toy
    model = nan_model(20)
    recorder = helpers.Recorder()
    early = cb.EarlyStopping(patience=5, restore_best=True)
    # 96 training rows: 6 steps per epoch, so step 20 is epoch 4, batch 2.
    with pytest.raises(gk.TrainingDiverged, match=expected_message(4, 2)):
        model.fit(X, y, epochs=5, batch_size=16, seed=0, verbose=0, validation_split=0.2,
                  callbacks=[early, recorder])
    assert early.best_weights is not None
    assert helpers.weights_equal(model.get_weights(), recorder.before_batch[-1])


def test_a_huge_learning_rate_diverges_cleanly(toy, helpers, tmp_path, make_mlp):
    X, y = toy
    model = make_mlp(optimizer=gk.optim.SGD(1e6))
    recorder = helpers.Recorder()
    # Under this suite's filters NumPy's overflow warnings are errors: the train step must
    # turn the overflow into TrainingDiverged instead of letting the warning escape.
    with pytest.raises(gk.TrainingDiverged, match=r"training diverged at epoch (\d+), batch "
                                                  r"(\d+): .* not finite") as info:
        model.fit(X, y, epochs=20, batch_size=16, seed=0, verbose=0, callbacks=[recorder],
                  checkpoint_dir=tmp_path, checkpoint_every=1)
    epoch, batch = map(int, re.search(r"epoch (\d+), batch (\d+)", str(info.value)).groups())
    steps = len(recorder.before_batch)
    assert steps > 1 and (epoch - 1) * 8 + batch == steps
    weights = model.get_weights()
    assert helpers.weights_equal(weights, recorder.before_batch[-1])
    assert all(np.isfinite(w).all() for w in weights)
    tensors, meta = checkpoint.load_latest(tmp_path)
    assert meta["step"] == steps - 1
    assert helpers.weights_equal([tensors[f"param:{k}"] for k in model.state_dict()], weights)
    # The checkpoint restores into a fresh model.
    fresh = make_mlp(optimizer=gk.optim.SGD(1e6))
    fresh.build((4,), seed=1)
    fresh.optimizer.bind(fresh.parameters())
    checkpoint.restore(fresh, np.random.default_rng(), tensors, meta)
    assert helpers.weights_equal(fresh.get_weights(), weights)


def test_a_non_finite_gradient_is_caught_too(toy, helpers):
    X, y = toy

    class NaNGradient(Layer):
        """The identity forward; its backward pass is not finite on the 3rd training call."""

        calls = 0

        def forward(self, x):
            if not self.training:
                return x
            self.calls += 1
            if self.calls != 3:
                return x
            # sqrt(0 x) adds 0, but d sqrt(u)/du = 1 / (2 sqrt(u)) is infinite at u = 0.
            return x + gk.sqrt(x * 0.0)

    model = gk.Sequential([gk.layers.Dense(8, activation="relu"), NaNGradient(),
                           gk.layers.Dense(3)])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy")
    recorder = helpers.Recorder()
    with pytest.raises(gk.TrainingDiverged, match=expected_message(1, 3)) as info:
        model.fit(X, y, epochs=1, batch_size=16, seed=0, verbose=0, callbacks=[recorder])
    assert "a gradient is not finite" in str(info.value)
    assert helpers.weights_equal(model.get_weights(), recorder.before_batch[-1])


def test_the_guard_can_be_switched_off_to_skip_bad_steps(toy, helpers):
    X, y = toy
    model = nan_model(3)
    recorder = helpers.Recorder()
    history = model.fit(X, y, epochs=1, batch_size=16, seed=0, verbose=0,
                        callbacks=[cb.TerminateOnNaN(enabled=False), recorder])
    assert len(history.batch_loss) == 8 and np.isnan(history.batch_loss[2])
    assert np.isfinite(history.batch_loss[:2] + history.batch_loss[3:]).all()
    # The bad step was skipped: the weights before step 4 are those before step 3.
    assert helpers.weights_equal(recorder.before_batch[2], recorder.before_batch[3])
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_kerass_terminate_on_nan_stops_gracefully_at_the_end_of_that_batch(toy, helpers, capsys):
    # Keras's TerminateOnNaN() sets model.stop_training: fit returns its history, the epoch's
    # loss is NaN, and on_train_end runs. gradkit's weights are those from before the bad step.
    X, y = toy
    model = nan_model(11)                                 # epoch 2, batch 3 (0-based 2)
    recorder = helpers.Recorder()
    ended = []

    class End(gk.callbacks.Callback):
        def on_train_end(self, logs=None):
            ended.append(dict(logs or {}))

    history = model.fit(X, y, epochs=5, batch_size=16, seed=0, verbose=0,
                        callbacks=[cb.TerminateOnNaN(), recorder, End()])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    assert history.epoch == [0, 1] and np.isnan(history.history["loss"][1])
    assert np.isfinite(history.history["loss"][0])
    assert len(recorder.before_batch) == 11 and ended == [{}]
    assert helpers.weights_equal(model.get_weights(), recorder.before_batch[-1])


def test_terminate_on_nan_with_raise_error_raises_a_runtime_error(toy):
    X, y = toy
    with pytest.raises(RuntimeError, match=expected_message(1, 3)):
        nan_model(3).fit(X, y, epochs=1, batch_size=16, seed=0, verbose=0,
                         callbacks=[cb.TerminateOnNaN(raise_error=True)])
    with pytest.raises(ValueError, match="raise_error must be True or False"):
        cb.TerminateOnNaN(raise_error="yes")
