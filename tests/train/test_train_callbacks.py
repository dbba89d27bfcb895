"""Callbacks: progress bar, early stopping, checkpoints, learning-rate control, CSV, snapshots."""

import csv
import io
import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.train import callbacks as cb


def test_progress_bar_is_quiet_off_a_terminal_and_renders_when_forced(toy, make_mlp, capsys):
    X, y = toy
    make_mlp().fit(X, y, epochs=2, seed=0, verbose=1, callbacks=[cb.ProgressBar()])
    assert capsys.readouterr() == ("", "")
    stream = io.StringIO()
    make_mlp().fit(X, y, epochs=2, seed=0, verbose=1, validation_split=0.2,
                   callbacks=[cb.ProgressBar(force=True, file=stream)])
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "val loss" in text and "loss" in text
    assert capsys.readouterr() == ("", "")       # only to the stream it was given


# Scripted validation losses: best at epoch index 2, then no improvement by more than 0.01.
CURVE = [1.0, 0.8, 0.6, 0.65, 0.595, 0.7, 0.5, 0.4, 0.3, 0.2]


@pytest.mark.parametrize("patience, stop", [(3, 5), (1, 3), (0, 3)])
def test_early_stopping_on_a_scripted_curve(toy, make_mlp, helpers, patience, stop):
    X, y = toy
    model = make_mlp()
    recorder = helpers.Recorder()
    early = cb.EarlyStopping(patience=patience, min_delta=0.01, restore_best=True)
    # The scripted callback comes first, so EarlyStopping sees its value.
    history = model.fit(X, y, epochs=10, seed=0, verbose=0, validation_split=0.2,
                        callbacks=[helpers.Scripted("val_loss", CURVE), early, recorder])
    # `patience` epochs without improvement after the best (epoch 2) stop training; 0.595 is
    # not better than 0.6 by min_delta.
    assert early.best_epoch == 2 and early.best == 0.6
    assert early.stopped_epoch == stop
    assert history.epoch == list(range(stop + 1))
    assert history["val_loss"] == CURVE[:stop + 1]
    assert helpers.weights_equal(model.get_weights(), recorder.epoch_end[2])
    assert not helpers.weights_equal(model.get_weights(), recorder.epoch_end[-1])


def test_early_stopping_without_restore_keeps_the_last_weights(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp()
    recorder = helpers.Recorder()
    early = cb.EarlyStopping(patience=2, min_delta=0.01, restore_best=False)
    model.fit(X, y, epochs=10, seed=0, verbose=0, validation_split=0.2,
              callbacks=[helpers.Scripted("val_loss", CURVE), early, recorder])
    assert early.stopped_epoch == 4
    assert helpers.weights_equal(model.get_weights(), recorder.epoch_end[4])


def test_early_stopping_on_a_metric_that_grows(toy, make_mlp, helpers):
    X, y = toy
    early = cb.EarlyStopping("val_accuracy", patience=1)
    assert early.mode == "max"
    history = make_mlp().fit(X, y, epochs=10, seed=0, verbose=0, validation_split=0.2,
                             callbacks=[helpers.Scripted("val_accuracy", [0.5, 0.7, 0.6, 0.9]),
                                        early])
    assert early.best_epoch == 1 and history.epoch == [0, 1, 2]


def test_early_stopping_names_a_missing_monitor(toy, make_mlp):
    X, y = toy
    with pytest.raises(KeyError, match="val_loss.*validation_data or validation_split"):
        make_mlp().fit(X, y, epochs=2, seed=0, verbose=0, callbacks=[cb.EarlyStopping()])
    with pytest.raises(ValueError, match="patience must be >= 0"):
        cb.EarlyStopping(patience=-1)


@pytest.fixture
def gk_io():
    import gradkit.io
    return gradkit.io


def test_model_checkpoint_every_epoch(toy, make_mlp, tmp_path, gk_io):
    X, y = toy
    model = make_mlp()
    predictions = []

    class Predictions(cb.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predictions.append(self.model.predict(X))

    saver = cb.ModelCheckpoint(tmp_path / "model-{epoch}.safetensors")
    model.fit(X, y, epochs=3, seed=0, verbose=0, callbacks=[saver, Predictions()])
    assert saver.saved == [str(tmp_path / f"model-{e}.safetensors") for e in (1, 2, 3)]
    for path, expected in zip(saver.saved, predictions):
        np.testing.assert_array_equal(gk_io.load(path).predict(X), expected)


def test_model_checkpoint_best_only(toy, make_mlp, tmp_path, helpers, gk_io):
    X, y = toy
    model = make_mlp()
    recorder = helpers.Recorder()
    saver = cb.ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    curve = [1.0, 0.5, 0.7, 0.4, 0.45]
    model.fit(X, y, epochs=5, seed=0, verbose=0, validation_split=0.2,
              callbacks=[helpers.Scripted("val_loss", curve), saver, recorder])
    assert len(saver.saved) == 3                  # epochs 1, 2 and 4 improved
    best = gk_io.load(saver.saved[-1])
    assert helpers.weights_equal(best.get_weights(), recorder.epoch_end[3])


def test_learning_rate_scheduler_sets_the_rate_each_epoch(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp(optimizer=gk.optim.SGD(0.1))
    recorder = helpers.Recorder()
    rates = [0.1, 0.0, 0.05]
    history = model.fit(X, y, epochs=3, batch_size=40, seed=0, verbose=0,
                        callbacks=[cb.LearningRateScheduler(lambda e: rates[e]), recorder])
    assert history["lr"] == rates
    assert recorder.lrs == [0.1] * 3 + [0.0] * 3 + [0.05] * 3
    # A learning rate of 0 leaves the weights where they were through epoch 2.
    assert helpers.weights_equal(recorder.epoch_end[0], recorder.epoch_end[1])
    assert not helpers.weights_equal(recorder.epoch_end[1], recorder.epoch_end[2])


def test_learning_rate_scheduler_with_a_gradkit_schedule(toy, make_mlp, helpers):
    X, y = toy
    for per in ("step", "epoch"):
        schedule = gk.schedules.StepDecay(0.1, 1, factor=0.5, per=per)
        history = make_mlp(optimizer=gk.optim.SGD(0.1)).fit(
            X, y, epochs=3, batch_size=40, seed=0, verbose=0,
            callbacks=[cb.LearningRateScheduler(schedule)])
        assert history["lr"] == [0.1, 0.05, 0.025]


@pytest.mark.parametrize("cooldown, expected", [
    (0, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]),
    (2, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]),
])
def test_reduce_lr_on_plateau(toy, make_mlp, helpers, cooldown, expected):
    X, y = toy
    model = make_mlp(optimizer=gk.optim.SGD(0.1))
    recorder = helpers.Recorder()
    reduce = cb.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=cooldown)
    history = model.fit(X, y, epochs=7, batch_size=60, seed=0, verbose=0, validation_split=0.5,
                        callbacks=[helpers.Scripted("val_loss", [1.0] * 7), reduce, recorder])
    assert history["lr"] == pytest.approx(expected)
    # The optimizer steps with the reduced rate from the next epoch on.
    assert recorder.lrs == pytest.approx([0.1] + expected[:-1])


def test_reduce_lr_on_plateau_resets_on_improvement_and_stops_at_min_lr(toy, make_mlp, helpers):
    X, y = toy
    reduce = cb.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.002)
    curve = [1.0, 0.9, 0.95, 0.8, 0.85, 0.9]
    history = make_mlp(optimizer=gk.optim.SGD(0.1)).fit(
        X, y, epochs=6, seed=0, verbose=0, validation_split=0.2,
        callbacks=[helpers.Scripted("val_loss", curve), reduce])
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.002, 0.002])
    with pytest.raises(ValueError, match="factor must be in"):
        cb.ReduceLROnPlateau(factor=2.0)


def test_csv_logger_writes_every_epoch(toy, make_mlp, tmp_path):
    X, y = toy
    path = tmp_path / "history.csv"
    history = make_mlp(metrics=["accuracy", "f1"]).fit(
        X, y, epochs=3, seed=0, verbose=0, validation_split=0.25,
        callbacks=[cb.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # Keras's layout: "epoch" (0-based) first, then the logs in sorted order.
    assert list(rows[0]) == ["epoch", "accuracy", "f1", "loss", "val_accuracy", "val_f1",
                             "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in ["loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"]:
        assert [float(r[key]) for r in rows] == history[key]     # repr round-trips exactly
    assert not [p for p in tmp_path.iterdir() if p.name != "history.csv"]   # no temp file left


def test_snapshot_ensemble(toy, make_mlp, helpers):
    X, y = toy
    model = make_mlp(optimizer=gk.optim.SGD(0.1))
    snapshots = cb.SnapshotEnsemble(3, lr_max=0.2)
    weights_after = []

    class AfterBatch(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            weights_after.append(self.model.get_weights())

    recorder = helpers.Recorder()
    # 120 rows in batches of 20: 6 steps per epoch, 36 steps, 12 per cycle.
    model.fit(X, y, epochs=6, batch_size=20, seed=0, verbose=0,
              callbacks=[snapshots, recorder, AfterBatch()])
    assert snapshots.per_cycle == 12 and len(snapshots.snapshots) == 3
    for k, snap in enumerate(snapshots.snapshots):
        assert helpers.weights_equal(snap, weights_after[12 * k + 11])
    # Cosine from lr_max down towards 0 within each cycle, then a restart.
    expected = [0.1 * (1 + math.cos(math.pi * (s % 12) / 12)) for s in range(36)]
    assert recorder.lrs == pytest.approx(expected)
    # predict_proba averages the snapshots' probabilities and leaves the model as it was.
    final = model.get_weights()
    probs = []
    for snap in snapshots.snapshots:
        model.set_weights(snap)
        logits = model.predict(X).astype(np.float64)
        probs.append(np.exp(helpers.log_softmax(logits)))
    model.set_weights(final)
    np.testing.assert_allclose(snapshots.predict_proba(X), np.mean(probs, axis=0), rtol=1e-5,
                               atol=1e-7)
    assert helpers.weights_equal(model.get_weights(), final)
    with pytest.raises(RuntimeError, match="no snapshots"):
        cb.SnapshotEnsemble(2).predict_proba(X)


def test_callback_hooks_run_in_order(toy, make_mlp):
    X, y = toy
    calls = []

    class Log(cb.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", logs["epochs"], logs["steps"]))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_batch_begin(self, batch, logs=None):
            calls.append(("batch_begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("batch_end", batch, round(logs["loss"], 6)))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            calls.append(("train_end",))

    history = make_mlp().fit(X, y, epochs=2, batch_size=60, seed=0, verbose=0,
                             callbacks=[Log()])
    b = history.batch_loss
    # A batch's logs hold Keras's number: the mean loss of the epoch so far (batches of 60).
    losses = [round(v, 6) for v in (b[0], (b[0] + b[1]) / 2, b[2], (b[2] + b[3]) / 2)]
    assert calls == [
        ("train_begin", 2, 2),
        ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0, losses[0]),
        ("batch_begin", 1), ("batch_end", 1, losses[1]), ("epoch_end", 0, ["accuracy", "loss"]),
        ("epoch_begin", 1), ("batch_begin", 0), ("batch_end", 0, losses[2]),
        ("batch_begin", 1), ("batch_end", 1, losses[3]), ("epoch_end", 1, ["accuracy", "loss"]),
        ("train_end",),
    ]


def test_a_callback_stops_training_mid_epoch(toy, make_mlp):
    X, y = toy

    class StopAfterThree(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    history = make_mlp().fit(X, y, epochs=5, batch_size=20, seed=0, verbose=0,
                             callbacks=[StopAfterThree()])
    assert len(history.batch_loss) == 3 and history.epoch == [0]


class BatchLogs(gk.callbacks.Callback):
    """A copy of every batch's logs."""

    def on_train_begin(self, logs=None):
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def test_batch_logs_hold_each_metric_over_the_rows_seen_so_far(toy, make_mlp):
    # Keras's running values: accuracy adds up batch by batch; f1 and a custom metric do not,
    # and are computed again over the rows seen. The last batch's logs are the epoch's.
    X, y = toy

    def top_row(y_true, y_pred):
        return float(y_pred[0, 0])

    model = make_mlp(metrics=("accuracy", "f1", top_row))
    batches = BatchLogs()
    model.fit(X, y, batch_size=16, epochs=1, shuffle=False, seed=0, verbose=0,
              callbacks=[batches])
    assert [sorted(logs) for logs in batches.logs] == [["accuracy", "f1", "loss", "top_row"]] * 8
    last = batches.logs[-1]
    for name in ("loss", "accuracy", "f1", "top_row"):
        assert last[name] == pytest.approx(model.history[name][-1], rel=1e-12)
    # The custom metric reads the first row seen: the output of batch 0, kept all epoch.
    assert {logs["top_row"] for logs in batches.logs} == {batches.logs[0]["top_row"]}


def test_only_callbacks_that_read_batch_logs_make_fit_compute_their_metrics(toy, make_mlp):
    calls = []

    def counted(y_true, y_pred):
        calls.append(len(y_true))
        return 0.0

    X, y = toy
    make_mlp(metrics=(counted,)).fit(X, y, batch_size=40, epochs=1, verbose=0)
    assert calls == [120]                               # once, at the end of the epoch
    make_mlp(metrics=(counted,)).fit(X, y, batch_size=40, epochs=1, verbose=0,
                                     callbacks=[cb.ProgressBar()])
    assert calls == [120, 120]                          # the bar shows the loss only
    make_mlp(metrics=(counted,)).fit(X, y, batch_size=40, epochs=1, verbose=0,
                                     callbacks=[BatchLogs()])
    assert calls == [120, 120, 40, 80, 120, 120]        # the rows seen, then the epoch
