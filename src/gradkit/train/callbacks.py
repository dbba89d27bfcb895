"""Callbacks: hooks into `fit`. Each subclasses `Callback`, whose hooks do nothing, resets its
state in `on_train_begin`, and stops training with `model.stop_training = True`."""

from __future__ import annotations

import csv
import io
import math
import sys
import time

import numpy as np

from gradkit import _atomic
from gradkit._model_format import write_model
from gradkit.optim.schedules import Schedule
from gradkit.train.metrics import mode_for


class Callback:
    """Base class: every hook is a no-op. `self.model` is set by `fit`."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


class CallbackList(Callback):
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
        # Only callbacks that override the per-batch hooks are called per batch (hot path).
        self._batch_end = [cb for cb in self.callbacks
                           if type(cb).on_batch_end is not Callback.on_batch_end]
        self._batch_begin = [cb for cb in self.callbacks
                             if type(cb).on_batch_begin is not Callback.on_batch_begin]

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_batch_end(batch, logs)

    @property
    def wants_batch_logs(self):
        return bool(self._batch_end)


def _better(mode, value, best, min_delta):
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise KeyError(f"{who} monitors {monitor!r}, which is not in the logs: {sorted(logs)} "
                       "(validation metrics need validation_data or validation_split)")
    return logs[monitor]


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    With `restore_best=True`, the weights of the best epoch are put back at the end.
    """

    def __init__(self, monitor="val_loss", *, patience=5, min_delta=0.0, mode="auto",
                 restore_best=True):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got patience={patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.mode = mode_for(monitor) if mode == "auto" else mode
        self.restore_best = restore_best

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.wait = None, None, 0
        self.best_weights, self.stopped_epoch = None, None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        # `patience` epochs without improvement stop training (Keras's rule; the notes' "after
        # M successive increases"): with `>` it took patience + 1.
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if (logs or {}).get("diverged"):
            return      # TrainingDiverged promises the weights from before the failed step
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (safetensors + config) after each epoch, or only when `monitor` improves.

    `path` may contain `{epoch}`, formatted with the 1-based epoch number.
    """

    def __init__(self, path, *, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = mode_for(monitor) if mode == "auto" else mode

    def on_train_begin(self, logs=None):
        self.best = None
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not _better(self.mode, value, self.best, 0.0):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1)
        write_model(self.model, path)         # gradkit.io.save's writer, a floor below train
        self.saved.append(path)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate from `schedule(epoch)` at the start of every epoch.

    `schedule` is a gradkit schedule or any callable epoch -> learning rate. (For a per-step
    schedule, give it to the optimizer itself: `Adam(lr=gk.schedules.Cosine(...))`.)
    """

    def __init__(self, schedule):
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        # A gradkit schedule is evaluated at t = epoch directly: through __call__ a per="epoch"
        # schedule would divide the epoch by steps_per_epoch again (or refuse without it).
        value = getattr(self.schedule, "value", None) if isinstance(self.schedule, Schedule) \
            else None
        self.model.optimizer.lr = float(value(epoch) if value else self.schedule(epoch))

    def on_epoch_end(self, epoch, logs=None):
        logs["lr"] = float(self.model.optimizer.lr)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(self, monitor="val_loss", *, factor=0.1, patience=3, min_delta=1e-4,
                 min_lr=0.0, cooldown=0, mode="auto"):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got factor={factor!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_delta, self.min_lr, self.cooldown = float(min_delta), float(min_lr), cooldown
        self.mode = mode_for(monitor) if mode == "auto" else mode

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooling = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if self.cooling:
            self.cooling -= 1
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
        elif not self.cooling:
            self.wait += 1
            if self.wait >= self.patience:
                opt = self.model.optimizer
                opt.lr = max(float(opt.lr) * self.factor, self.min_lr)
                self.wait, self.cooling = 0, self.cooldown
        logs["lr"] = float(self.model.optimizer.lr)


class TerminateOnNaN(Callback):
    """On by default in `fit`: a non-finite loss or gradient stops training at that step,
    before the weights change, with `gk.TrainingDiverged` naming the epoch and batch.

    The check itself lives in the training step (it must happen before the update); this
    callback only switches it on or off: pass `TerminateOnNaN(enabled=False)` to skip the step
    and go on instead.
    """

    def __init__(self, enabled=True):
        self.enabled = enabled


class CSVLogger(Callback):
    """Write one row per epoch (epoch, loss, metrics...) to a CSV file, atomically each epoch."""

    def __init__(self, path):
        self.path = str(path)

    def on_train_begin(self, logs=None):
        # A resumed fit has already put the earlier epochs on the model's history: start from
        # them, or the file would be rewritten with the epochs after the resume only.
        history = getattr(self.model, "history", None)
        self.rows = []
        for i, epoch in enumerate(history.epoch if history is not None else []):
            self._add(epoch, {k: v[i] for k, v in history.history.items() if i < len(v)})

    def on_epoch_end(self, epoch, logs=None):
        self._add(epoch, logs)
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        _atomic.atomic_write_text(self.path, buf.getvalue())

    def _add(self, epoch, logs):
        self.rows.append({"epoch": epoch + 1, **{k: v for k, v in logs.items()
                                                 if np.isscalar(v)}})


class ProgressBar(Callback):
    """A rich progress bar with loss, metrics and ETA; quiet when output is not a terminal."""

    def __init__(self, *, force=False, file=None):
        self.force, self.file = force, file

    def on_train_begin(self, logs=None):
        stream = self.file or sys.stdout
        self.enabled = self.force or (hasattr(stream, "isatty") and stream.isatty())
        self.progress = None
        self.epochs = (logs or {}).get("epochs", 0)
        self.steps = (logs or {}).get("steps", 0)
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
            console=Console(file=stream, force_terminal=self.force or None), transient=False)
        self.progress.start()
        self.last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        if self.progress is not None:
            self.task = self.progress.add_task("", total=self.steps,
                                               epoch=f"{epoch + 1}/{self.epochs}", info="")

    def on_batch_end(self, batch, logs=None):
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self.last > 0.1 or batch + 1 == self.steps:   # redraw at most 10 times a second
            self.last = now
            self.progress.update(self.task, completed=batch + 1,
                                 info=f"loss {logs['loss']:.4f}")

    def on_epoch_end(self, epoch, logs=None):
        if self.progress is not None:
            info = " ".join(f"{_short_key(k)} {v:.3f}" for k, v in logs.items()
                            if isinstance(v, float) and math.isfinite(v))
            self.progress.update(self.task, completed=self.steps, info=info)

    def on_train_end(self, logs=None):
        if self.progress is not None:
            self.progress.stop()


def _short_key(key):
    """Log names short enough that an epoch's line fits an 80-column terminal."""
    return key.replace("accuracy", "acc").replace("val_", "val ")


class SnapshotEnsemble(Callback):
    """Cyclic cosine learning rate; keep the weights at the end of each cycle (Huang et al.).

    The notes: train once, restart the learning rate M times, and average the predicted
    probabilities of the M snapshots. Use `predict_proba(X)` after `fit`.
    """

    def __init__(self, cycles=5, *, lr_max=0.1, lr_min=0.0):
        if cycles < 1:
            raise ValueError(f"cycles must be >= 1, got cycles={cycles!r}")
        self.cycles, self.lr_max, self.lr_min = int(cycles), float(lr_max), float(lr_min)
        self.snapshots = []     # here too, so predict_proba before fit says what is wrong

    def on_train_begin(self, logs=None):
        self.snapshots = []
        self.total = (logs or {}).get("epochs", self.cycles) * (logs or {}).get("steps", 1)
        self.per_cycle = max(1, self.total // self.cycles)
        self.step = 0

    def on_batch_begin(self, batch, logs=None):
        t = (self.step % self.per_cycle) / self.per_cycle
        lr = self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1 + math.cos(math.pi * t))
        self.model.optimizer.lr = lr
        self.step += 1
        if self.step % self.per_cycle == 0:
            self._snap = True

    def on_batch_end(self, batch, logs=None):
        if getattr(self, "_snap", False):
            self._snap = False
            self.snapshots.append(self.model.get_weights())

    def predict_proba(self, X, batch_size=1024):
        """Average of the snapshots' predicted probabilities."""
        if not self.snapshots:
            raise RuntimeError("SnapshotEnsemble has no snapshots: call fit first")
        current = self.model.get_weights()
        try:
            total = None
            for weights in self.snapshots:
                self.model.set_weights(weights)
                p = self.model.predict_proba(X, batch_size=batch_size)
                total = p if total is None else total + p
            return total / len(self.snapshots)
        finally:
            self.model.set_weights(current)


__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger",
           "ProgressBar", "SnapshotEnsemble"]


# The lectures' variants live in their own module; re-exported so `gk.callbacks.X` finds them.
from gradkit.train.callbacks_lectures import SuccessiveIncreaseStopping  # noqa: E402,F401
__all__ += ["SuccessiveIncreaseStopping"]
