"""Callbacks: hooks into `fit`. Each subclasses `Callback`, whose hooks do nothing, resets its
state in `on_train_begin`, and stops training with `model.stop_training = True`."""

from __future__ import annotations

import csv
import inspect
import io
import math
import os

import numpy as np

from gradkit import _atomic
from gradkit._model_format import write_model
from gradkit.errors import TrainingDiverged
from gradkit.optim.schedules import Schedule
from gradkit.train.metrics import mode_for


class Callback:
    """Base class: every hook is a no-op. `self.model` is set by `fit`.

    Keras's hook names work: `on_train_batch_begin`/`on_train_batch_end` are the per-batch
    hooks (`on_batch_begin`/`on_batch_end` are their older names, as in Keras; override
    either), and `on_test_begin`/`on_test_end` bracket the validation pass at each epoch end.
    A batch's logs hold "loss", the mean loss of the epoch so far (Keras's running mean).
    """

    model = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def get_state(self):
        """What a checkpoint must hold to resume this callback bit for bit: a dict of JSON
        values and NumPy arrays, or None. The base holds no state; a callback that keeps any
        across epochs overrides this and `set_state`."""
        return None

    def set_state(self, state):
        """Take back what `get_state` returned; a resumed `fit` calls it after
        `on_train_begin`."""


def _overrides(cb, *hooks):
    return any(getattr(type(cb), h) is not getattr(Callback, h) for h in hooks)


def _weights_state(name, weights):
    """A list of arrays as state entries `name.0`, `name.1`, ... (None: no entries)."""
    return {} if weights is None else {f"{name}.{j}": w for j, w in enumerate(weights)}


def _weights_from_state(name, state):
    """The list `_weights_state` stored under `name`, or None."""
    found = sorted((int(k[len(name) + 1:]), v) for k, v in state.items()
                   if k.startswith(name + ".") and k[len(name) + 1:].isdigit())
    return [np.array(v) for _, v in found] or None


def _number(value):
    return None if value is None else float(value)


_KINDS = {"number": (int, float), "count": (int,), "bool": (bool,), "list": (list,)}


def _read_state(state, **fields):
    """The named entries of a saved state, each checked against its kind ("number", "count",
    "bool", "list"; a trailing "?" allows None): a checkpoint edited or damaged on disk gives
    a TypeError naming the field here, rather than a wrong type surfacing epochs later."""
    values = []
    for name, kind in fields.items():
        value = state[name]
        optional = kind.endswith("?")
        kinds = _KINDS[kind.rstrip("?")]
        fits = (value is None and optional) or (
            isinstance(value, kinds) and (kind.startswith("bool") or not isinstance(value, bool))
            and not (kind.startswith("count") and value < 0))
        if not fits:
            raise TypeError(f"state field {name!r} must be a {kind.rstrip('?')}"
                            f"{' or None' if optional else ''}, got {value!r}")
        values.append(value)
    return values


class CallbackList(Callback):
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
        # Only callbacks that override a per-batch hook are called per batch (hot path).
        self._batch_end = [cb for cb in self.callbacks
                           if _overrides(cb, "on_batch_end", "on_train_batch_end")]
        self._batch_begin = [cb for cb in self.callbacks
                             if _overrides(cb, "on_batch_begin", "on_train_batch_begin")]
        self._test = [cb for cb in self.callbacks
                      if _overrides(cb, "on_test_begin", "on_test_end")]

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
            cb.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        for cb in self._test:
            cb.on_test_begin(logs)

    def on_test_end(self, logs=None):
        for cb in self._test:
            cb.on_test_end(logs)

    @property
    def wants_batch_logs(self):
        return bool(self._batch_end)

    @property
    def wants_batch_metrics(self):
        """Whether a callback may read the metrics of a batch's logs: the progress bar shows
        the loss only, so it alone does not make `fit` compute them at every batch."""
        return any(not isinstance(cb, ProgressBar) for cb in self._batch_end)


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

    Keras 3's rule, step for step: an epoch improves when it beats the best so far by more
    than `min_delta`; it restarts the patience count only if it also beats `baseline` (by
    `min_delta`), and it never stops training itself. Any other epoch adds one to the count,
    and training stops once the count reaches `patience` (never at epoch 0). Epochs before
    `start_from_epoch` are not watched. With `restore_best_weights` (gradkit's `restore_best`
    is the same switch) the weights of the best epoch are put back when training ends, even
    when no epoch beat `baseline`. Keras's defaults: `patience=0`, no restoring.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=None, start_from_epoch=0, *,
                 restore_best=None):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got patience={patience!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got mode={mode!r}")
        if restore_best is not None and restore_best_weights is not None \
                and bool(restore_best) != bool(restore_best_weights):
            raise ValueError("restore_best and restore_best_weights are one setting; got "
                             f"restore_best={restore_best!r}, "
                             f"restore_best_weights={restore_best_weights!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = mode_for(monitor) if mode == "auto" else mode
        self.restore_best = bool(restore_best if restore_best is not None
                                 else restore_best_weights)
        self.baseline, self.start_from_epoch = baseline, int(start_from_epoch)
        self.verbose = verbose

    @property
    def restore_best_weights(self):
        return self.restore_best

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.wait = None, 0, 0
        self.best_weights, self.stopped_epoch = None, 0

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if epoch < self.start_from_epoch:
            return
        if self.restore_best and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _improves(self, value, reference):
        """Keras's `_is_improvement`: beyond `reference` by more than `min_delta` (any value
        improves on None)."""
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_end(self, logs=None):
        if (logs or {}).get("diverged"):
            return      # TrainingDiverged promises the weights from before the failed step
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best and self.best_weights is not None:
            if self.verbose:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_state(self):
        return {"best": _number(self.best), "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                **_weights_state("best_weights", self.best_weights)}

    def set_state(self, state):
        self.best, best_epoch, self.wait, stopped_epoch = _read_state(
            state, best="number?", best_epoch="count?", wait="count", stopped_epoch="count?")
        # Keras's 0 where a checkpoint from before these were counts holds None.
        self.best_epoch, self.stopped_epoch = best_epoch or 0, stopped_epoch or 0
        self.best_weights = _weights_from_state("best_weights", state)


class ModelCheckpoint(Callback):
    """Save the model (safetensors + config) after each epoch, or only when `monitor` improves.

    `filepath` is formatted as Keras formats it: `{epoch}` is the 1-based epoch and every log
    is a field, so "m-{epoch:02d}-{val_loss:.2f}.safetensors" works. The file is a whole model
    (`gk.load_model` reads it back); Keras's `save_weights_only=True` is refused, since a file
    of weights alone is not a gradkit model file.
    """

    def __init__(self, filepath=None, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, *, path=None):
        if (filepath is None) == (path is None):
            raise TypeError("ModelCheckpoint needs the file to write: filepath=... (or path=)")
        if save_weights_only:
            raise ValueError("save_weights_only=True is not supported: gradkit writes the whole "
                             "model (weights and config) in one .safetensors file")
        if save_freq != "epoch":
            raise ValueError(f"save_freq must be 'epoch', got save_freq={save_freq!r} (saving "
                             "every n batches is fit's checkpoint_every)")
        self.path = str(filepath if filepath is not None else path)
        self.monitor, self.save_best_only, self.verbose = monitor, save_best_only, verbose
        self.mode = mode_for(monitor) if mode == "auto" else mode
        self.initial_value_threshold = initial_value_threshold

    @property
    def filepath(self):
        return self.path

    def on_train_begin(self, logs=None):
        self.best = self.initial_value_threshold
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not _better(self.mode, value, self.best, 0.0):
                return
            self.best = value
        path = self._format(epoch, logs or {})
        write_model(self.model, path)         # gradkit.io.save's writer, a floor below train
        self.saved.append(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved the model to {path}")

    def _format(self, epoch, logs):
        try:
            return self.path.format(**{**logs, "epoch": epoch + 1})
        except (KeyError, IndexError, ValueError) as err:
            raise KeyError(f"ModelCheckpoint cannot format {self.path!r}: {err!r}; the fields "
                           f"available are epoch and {sorted(logs)}") from None

    def get_state(self):
        return {"best": _number(self.best), "saved": list(self.saved)}

    def set_state(self, state):
        self.best, saved = _read_state(state, best="number?", saved="list")
        if not all(isinstance(path, str) for path in saved):
            raise TypeError(f"state field 'saved' must be a list of paths, got {saved!r}")
        self.saved = list(saved)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate from the schedule at the start of every epoch.

    `schedule` is Keras's `schedule(epoch, lr)` (epoch 0-based, lr the current rate), a
    callable `schedule(epoch)`, or a gradkit schedule. (For a per-step schedule, give it to
    the optimizer itself: `Adam(lr=gk.schedules.Cosine(...))`.)
    """

    def __init__(self, schedule, verbose=0):
        self.schedule, self.verbose = schedule, verbose
        self._takes_lr = not isinstance(schedule, Schedule) and _positional_count(schedule) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        # A gradkit schedule is evaluated at t = epoch directly: through __call__ a per="epoch"
        # schedule would divide the epoch by steps_per_epoch again (or refuse without it).
        value = getattr(self.schedule, "value", None) if isinstance(self.schedule, Schedule) \
            else None
        if value:
            lr = value(epoch)
        elif self._takes_lr:
            lr = self.schedule(epoch, float(self.model.optimizer.lr))
        else:
            lr = self.schedule(epoch)
        self.model.optimizer.lr = float(lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        logs["lr"] = logs["learning_rate"] = float(self.model.optimizer.lr)


def _positional_count(fn):
    """How many positional arguments `fn` can take (2 for Keras's schedule(epoch, lr))."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs.

    Keras's arguments, in Keras's order, with its defaults (patience 10, min_delta 1e-4,
    cooldown 0, min_lr 0); `verbose=1` prints each reduction as Keras does."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got factor={factor!r}")
        self.verbose = verbose
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_delta, self.min_lr, self.cooldown = float(min_delta), float(min_lr), cooldown
        self.mode = mode_for(monitor) if mode == "auto" else mode

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooling = None, 0, 0
        self.reduced_lr = None

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
                self.reduced_lr = float(opt.lr)
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{self.reduced_lr}.", flush=True)
                self.wait, self.cooling = 0, self.cooldown
        logs["lr"] = logs["learning_rate"] = float(self.model.optimizer.lr)

    def get_state(self):
        # The reduced rate lives in the optimizer, which a resumed run builds afresh with
        # its original schedule: it travels with this callback's state.
        return {"best": _number(self.best), "wait": self.wait, "cooling": self.cooling,
                "reduced_lr": self.reduced_lr}

    def set_state(self, state):
        self.best, self.wait, self.cooling, self.reduced_lr = _read_state(
            state, best="number?", wait="count", cooling="count", reduced_lr="number?")
        if self.reduced_lr is not None:
            self.model.optimizer.lr = self.reduced_lr


class TerminateOnNaN(Callback):
    """What `fit` does at a step whose loss or gradient is not finite. The step is never
    applied, so the weights stay those from before it.

    - Not passed to `fit` (gradkit's default): training stops with `gk.TrainingDiverged`
      naming the epoch and batch.
    - `TerminateOnNaN()`, Keras's form: training stops at the end of that batch, as Keras's
      `model.stop_training = True`, and `fit` returns its history; the epoch's logs count the
      non-finite loss (Keras's epoch loss is NaN too). Keras's weights would hold the NaN
      step; gradkit's are those from before it.
    - `TerminateOnNaN(raise_error=True)`: `gk.TrainingDiverged`, a `RuntimeError` (Keras raises
      a `RuntimeError` too).
    - `TerminateOnNaN(enabled=False)`: the step is skipped and training goes on.

    The check itself lives in the training step (it must happen before the update).
    """

    def __init__(self, raise_error=False, *, enabled=True):
        for key, value in (("raise_error", raise_error), ("enabled", enabled)):
            if value not in (True, False):
                raise ValueError(f"TerminateOnNaN: {key} must be True or False, got "
                                 f"{key}={value!r}")
        self.raise_error, self.enabled = bool(raise_error), bool(enabled)

    def unapplied_step(self, model, callbacks, epoch, batch, loss):
        """A step the model refused: raise, or (Keras's graceful stop) end training after this
        batch; returns quietly where the step is to be skipped."""
        if not self.enabled:
            return
        if self.raise_error:
            raise self.stop(callbacks, epoch, batch, loss)
        print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
        model.stop_training = True

    @staticmethod
    def stop(callbacks, epoch, batch, loss):
        """End training at a step that was not applied: the callbacks hear "diverged" (those
        that would change the weights at the end, as EarlyStopping restoring its best epoch,
        leave them alone, as the error promises), and the error to raise comes back."""
        callbacks.on_train_end({"diverged": True})
        what = "the loss is not finite" if not math.isfinite(loss) else \
            "a gradient is not finite"
        return TrainingDiverged(
            f"training diverged at epoch {epoch + 1}, batch {batch + 1}: {what} "
            f"(loss {loss:.4g}); the weights are those from before this step. "
            "Lower the learning rate or check the data for extreme values.")


def fit_callbacks(model, callbacks, verbose):
    """What `fit` (on arrays or on a stream) calls: the user's callbacks, with a progress bar
    first where `verbose` asks for one and none is given, and the NaN guard (the user's
    `TerminateOnNaN`, else one that raises). Returns (CallbackList, guard)."""
    user_cbs = list(callbacks or [])
    guard = next((cb for cb in user_cbs if isinstance(cb, TerminateOnNaN)),
                 TerminateOnNaN(raise_error=True))
    if verbose and not any(isinstance(cb, ProgressBar) for cb in user_cbs):
        user_cbs.insert(0, ProgressBar(verbose=verbose))
    return CallbackList(user_cbs, model), guard


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file, rewritten atomically each epoch.

    As Keras's: `filename`, `separator`, `append`; the "epoch" column is 0-based and the other
    columns are the logs in sorted order. With `append=True` the rows go after those already
    in the file (and no second header); otherwise the file is replaced.
    """

    def __init__(self, filename=None, separator=",", append=False, *, path=None):
        if (filename is None) == (path is None):
            raise TypeError("CSVLogger needs the file to write: filename=... (or path=)")
        self.path = str(filename if filename is not None else path)
        self.separator, self.append = separator, bool(append)

    @property
    def filename(self):
        return self.path

    def on_train_begin(self, logs=None):
        self.prefix = ""
        if self.append and os.path.isfile(self.path):
            with open(self.path, encoding="utf-8", newline="") as f:
                self.prefix = f.read()
            if self.prefix and not self.prefix.endswith("\n"):
                self.prefix += "\n"
        # A resumed fit has already put the earlier epochs on the model's history: start from
        # them, or the file would be rewritten with the epochs after the resume only.
        history = getattr(self.model, "history", None)
        self.rows = []
        for i, epoch in enumerate(history.epoch if history is not None else []):
            self._add(epoch, {k: v[i] for k, v in history.history.items() if i < len(v)})

    def on_epoch_end(self, epoch, logs=None):
        self._add(epoch, logs)
        keys = ["epoch"] + sorted(dict.fromkeys(k for row in self.rows for k in row
                                                if k != "epoch"))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, delimiter=self.separator,
                                lineterminator="\n")
        if not self.prefix:
            writer.writeheader()
        writer.writerows(self.rows)
        _atomic.atomic_write_text(self.path, self.prefix + buf.getvalue())

    def _add(self, epoch, logs):
        self.rows.append({"epoch": epoch, **{k: v for k, v in logs.items() if np.isscalar(v)}})


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

    def get_state(self):
        state = {"step": self.step, "snap": bool(getattr(self, "_snap", False)),
                 "n_snapshots": len(self.snapshots)}
        for k, weights in enumerate(self.snapshots):
            state.update(_weights_state(f"snapshot{k}", weights))
        return state

    def set_state(self, state):
        self.step, self._snap, n_snapshots = _read_state(state, step="count", snap="bool",
                                                         n_snapshots="count")
        self.snapshots = [_weights_from_state(f"snapshot{k}", state)
                          for k in range(n_snapshots)]

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


# The progress bar lives in its own module; it is one of the callbacks all the same.
from gradkit.train.progress import ProgressBar  # noqa: E402

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger",
           "ProgressBar", "SnapshotEnsemble"]


# The lectures' variants live in their own module; re-exported so `gk.callbacks.X` finds them.
from gradkit.train.callbacks_lectures import SuccessiveIncreaseStopping  # noqa: E402,F401
__all__ += ["SuccessiveIncreaseStopping"]
