"""The `fit` loop: shuffled mini-batches, train steps, validation, callbacks, checkpoints."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gradkit._streams import is_stream
from gradkit.errors import DataError, ModelFileError, NotCompiledError
from gradkit.train import _boundary
from gradkit.train import checkpoint as ckpt
from gradkit.train.callbacks import CallbackList, TerminateOnNaN, fit_callbacks
from gradkit.train.history import History
from gradkit.train.inputs import as_features, encode_targets, row_weights
from gradkit.train._running import RunningMetrics, adds_up
from gradkit.train.streaming import fit_stream

__all__ = ["fit", "encode_targets"]


class _EpochAccumulator:
    """Running loss of the epoch and its outputs (for training metrics); checkpointed."""

    def __init__(self, n, out_shape, with_outputs):
        self.scalars = {"loss_sum": 0.0, "count": 0}
        self.arrays = {"outputs": np.zeros((n,) + out_shape, np.float32)} if with_outputs else {}

    def add(self, idx, value, out):
        self.scalars["loss_sum"] += value * len(idx)
        self.scalars["count"] += len(idx)
        if self.arrays:
            self.arrays["outputs"][idx] = out


class _BatchMetrics:
    """Keras's batch logs past the loss: each metric over the epoch's rows seen so far.

    Metrics that add up (accuracy, MSE, R², ...) are added batch by batch, at the cost of one
    metric call on the batch; any other (precision, a custom function) is computed again over
    every row seen, at each batch, the price of its exact running value. A fit makes this only
    where a callback reads the batch logs.
    """

    def __init__(self, model):
        self.model = model
        self.running = RunningMetrics(model)
        self.others = [(name, fn) for name, fn in model.metrics if not adds_up(fn)]

    def logs(self, run, seen, y, out):
        """The metrics after a batch (labels `y`, outputs `out`) that ends `seen` rows in."""
        self.running.add(y, out)
        values = self.running.values()
        if self.others:
            rows = run.perm[:seen]
            values.update(self.model.metric_values(run.data.y[rows],
                                                   run.acc.arrays["outputs"][rows],
                                                   self.others))
        return {name: values[name] for name, _ in self.model.metrics}


@dataclasses.dataclass
class _Data:
    """The validated training and validation arrays of one fit."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    X_val: np.ndarray | None
    y_val: np.ndarray | None


@dataclasses.dataclass
class _Run:
    """What the stages of one fit share: the data, the schedule of batches, the cursor."""

    model: object
    data: _Data
    cbs: CallbackList
    guard: TerminateOnNaN
    rng: np.random.Generator
    batch_size: int
    steps: int
    shuffle: bool
    history: History
    acc: _EpochAccumulator
    checkpoint_dir: str | None
    checkpoint_every: int | None
    tag: object = None
    start_epoch: int = 0
    start_batch: int = 0
    step: int = 0
    perm: np.ndarray | None = None
    batch_logs: dict = dataclasses.field(default_factory=dict)
    batch_metrics: _BatchMetrics | None = None


def fit(model, X=None, y=None, *, batch_size=None, epochs=1, shuffle=True,
        validation_split=0.0, validation_data=None, class_weight=None, sample_weight=None,
        callbacks=None, seed=None, verbose="auto", checkpoint_dir=None, checkpoint_every=None,
        resume_from=None, x=None, checkpoint_tag=None):
    """Train `model` on (X, y) with mini-batch gradient descent; X may be a
    `gradkit.data.Stream` (y None; validation_data another Stream), read and never held.

    Args:
        batch_size, epochs, shuffle: the mini-batch schedule (reshuffled every epoch).
            batch_size=None means 32, or every training row at once for the full-batch
            optimizers (L-BFGS, Newton: the notes' "usually works very well in full batch"),
            whose `step(closure)` then makes one epoch (up to `maxiter` iterations: 100 for
            L-BFGS, 20 for Newton); they accept a smaller batch if given.
        validation_split: fraction of the rows (taken from the end, before shuffling) held out.
        validation_data: (X_val, y_val) instead of a split.
        class_weight: {class: weight} or per-class array; sample_weight: one weight per row.
        callbacks: list of `Callback`s. A non-finite loss or gradient raises
            `TrainingDiverged` unless a `TerminateOnNaN` callback says otherwise.
        seed: seeds shuffling, weight initialization and dropout: same seed, same weights.
        verbose: as Keras's: 0 nothing; 1 ("auto") a progress bar on a terminal and one line
            per epoch elsewhere (a script piped to a log); 2 one line per epoch.
        checkpoint_dir: write resumable checkpoints there at every epoch end (and every
            `checkpoint_every` steps if given).
        resume_from: a checkpoint file or directory to continue from.
        x: Keras's name for X (`fit(x=..., y=...)`).
        checkpoint_tag: JSON identifying the run, written into every checkpoint; resuming
            from a checkpoint with another tag is refused.
    """
    X = _boundary.keras_x(X, {"X": x} if x is not None else {}, "fit")
    if model.optimizer is None or model.loss is None:
        raise NotCompiledError("call compile(optimizer, loss, metrics) before fit")
    if batch_size is not None:
        batch_size = _boundary.batch_size(batch_size, None)
    epochs = _boundary.epochs(epochs)
    seed = _boundary.seed(seed)
    callbacks = _boundary.callback_list(callbacks)
    validation_split = _boundary.validation_split(validation_split)
    if is_stream(X):        # data larger than memory: read, never held (train/streaming.py)
        return fit_stream(
            model, X, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
            validation_split=validation_split, validation_data=validation_data,
            class_weight=class_weight, sample_weight=sample_weight, callbacks=callbacks,
            seed=seed, verbose=verbose, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, resume_from=resume_from,
            checkpoint_tag=checkpoint_tag)
    data = _prepare_data(model, X, y, validation_split=validation_split,
                         validation_data=validation_data, class_weight=class_weight,
                         sample_weight=sample_weight)
    if batch_size is None:
        full_batch = getattr(model.optimizer, "requires_closure", False)
        batch_size = len(data.X) if full_batch else 32
    run = _start(model, data, batch_size=batch_size, shuffle=shuffle, callbacks=callbacks,
                 seed=seed, verbose=verbose, checkpoint_dir=checkpoint_dir,
                 checkpoint_every=checkpoint_every)
    run.tag = checkpoint_tag
    saved = _resume(run, resume_from) if resume_from is not None else None
    model.history = run.history
    model.stop_training = False

    run.cbs.on_train_begin({"epochs": epochs, "steps": run.steps})
    if saved is not None:
        tensors, meta = saved
        ckpt.restore_callbacks(run.cbs.callbacks, tensors, meta)
        if meta.get("stopped"):      # a callback had stopped the run at that epoch's end
            run.start_epoch = epochs
    for epoch in range(run.start_epoch, epochs):
        _run_epoch(run, epoch)
        if model.stop_training:
            break
    run.cbs.on_train_end({})
    return run.history


def _prepare_data(model, X, y, *, validation_split, validation_data, class_weight,
                  sample_weight):
    """Validate and encode the arrays, weigh the rows, and hold out the validation rows."""
    expected = model.input_shape if model.built else None
    X = as_features(X, "X", expected)
    y = encode_targets(model, y, rows=len(X))
    softmax = model.built and getattr(model.loss, "output", None) == "softmax"
    w = row_weights(y, class_weight=class_weight, sample_weight=sample_weight,
                    class_names=model.class_names,
                    n_classes=int(model.output_shape[-1]) if softmax else None)
    if validation_data is not None:
        validation_data = _boundary.validation_pair(validation_data)
        X_val = as_features(validation_data[0], "validation_data's X", X.shape[1:])
        return _Data(X, y, w, X_val, encode_targets(model, validation_data[1], rows=len(X_val)))
    if validation_split:
        # Keras's cut, to the row: the first floor(n * (1 - split)) rows train.
        cut = math.floor(len(X) * (1.0 - validation_split))
        if cut in (0, len(X)):
            raise DataError(f"validation_split={validation_split} leaves no rows to "
                            f"{'train' if cut == 0 else 'validate'} on among {len(X)}; give "
                            "more data or another fraction")
        return _Data(X[:cut], y[:cut], None if w is None else w[:cut], X[cut:], y[cut:])
    return _Data(X, y, w, None, None)


def _start(model, data, *, batch_size, shuffle, callbacks, seed, verbose, checkpoint_dir,
           checkpoint_every):
    """Build the model, bind the optimizer, assemble the callbacks: a run at epoch 0."""
    rng = np.random.default_rng(seed)
    if not model.built or (getattr(model, "_fresh", False) and seed is not None):
        # (a model built at construction, whose weights nobody set, draws them from the seed)
        model.build(data.X.shape[1:], rng)
        _boundary.targets_fit_outputs(model, data.y)
        if data.y_val is not None:
            _boundary.targets_fit_outputs(model, data.y_val, "validation_data's y")
    model._plan = None
    model._loss_plan()          # a loss that cannot go with the output layer: said first
    _boundary.bind_trainable(model)

    cbs, guard = fit_callbacks(model, callbacks, _boundary.verbosity(verbose))
    n = len(data.X)
    steps = math.ceil(n / batch_size)
    _boundary.epoch_steps(model.optimizer, steps)
    return _Run(model=model, data=data, cbs=cbs, guard=guard, rng=rng,
                batch_size=batch_size, steps=steps, shuffle=shuffle, history=History(),
                acc=_EpochAccumulator(n, tuple(model.output_shape), bool(model.metrics)),
                checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every)


def _resume(run, resume_from):
    """Restore weights, optimizer, generators, history and the cursor from a checkpoint;
    return (tensors, meta) for the callbacks, restored once they have begun."""
    n = len(run.data.X)
    tensors, meta = ckpt.load_latest(resume_from)
    if run.tag is not None and meta.get("tag") != run.tag:
        raise ModelFileError(f"checkpoint {resume_from} was written by another run (its tag "
                             "differs from checkpoint_tag); resume the same run")
    if meta["batch"] and len(tensors["perm"]) != n:   # checked before anything changes
        raise ModelFileError(f"checkpoint {resume_from} was written for "
                             f"{len(tensors['perm'])} training rows, this fit has {n}; resume "
                             "with the same data")
    if not {"loss_sum", "count"} <= set(meta["accum"]) or "stream_fingerprint" in meta["accum"]:
        raise ModelFileError(f"checkpoint {resume_from} was written by a fit on a stream; "
                             "resume it with the same stream")
    for key, array in run.acc.arrays.items():
        saved = tensors.get(f"accum:{key}")
        if meta["batch"] and (saved is None or saved.shape != array.shape):
            raise ModelFileError(f"checkpoint {resume_from}: its epoch outputs do not fit this "
                                 "model and data; resume with the same ones")
    try:
        run.start_epoch, run.start_batch, run.step, perm, arrays = ckpt.restore(
            run.model, run.rng, tensors, meta)
    except ModelFileError as err:
        raise ModelFileError(f"checkpoint {resume_from}: {err}") from None
    run.history = History.from_dict(meta["history"])
    run.acc.scalars = dict(meta["accum"])
    run.acc.arrays.update(arrays)
    # An epoch-end checkpoint starts the next epoch afresh; a mid-epoch one continues its order.
    run.perm = perm if run.start_batch else None
    return tensors, meta


def _run_epoch(run, epoch):
    """One pass over the training rows (or the rest of one, after a resume); then the logs."""
    model, data, cbs = run.model, run.data, run.cbs
    n = len(data.X)
    if run.perm is None:
        run.perm = run.rng.permutation(n) if run.shuffle else np.arange(n)
        run.acc = _EpochAccumulator(n, tuple(model.output_shape), bool(model.metrics))
        first = 0
    else:
        first = run.start_batch
    if model.metrics and cbs.wants_batch_metrics:
        run.batch_metrics = _BatchMetrics(model)
        if first:           # a resumed epoch: the rows seen before the checkpoint count too
            rows = run.perm[:first * run.batch_size]
            run.batch_metrics.running.add(data.y[rows], run.acc.arrays["outputs"][rows])
    cbs.on_epoch_begin(epoch, {})
    model.train()
    for b in range(first, run.steps):
        _train_batch(run, epoch, b)
        if model.stop_training:
            break
    run.perm = None
    logs = _epoch_logs(model, run.acc, data.y, data.X_val, data.y_val, cbs)
    cbs.on_epoch_end(epoch, logs)
    run.history.record_epoch(epoch, logs)
    if run.checkpoint_dir:
        ckpt.save(run.checkpoint_dir, model=model, rng=run.rng, epoch=epoch + 1, batch=0,
                  step=run.step, perm=np.zeros(0, np.int64), history=run.history,
                  accum=_EpochAccumulator(0, (), False), callbacks=cbs.callbacks,
                  tag=run.tag, stopped=model.stop_training)


def _train_batch(run, epoch, b):
    """One train step on batch `b` of the epoch's order; refuses a diverged step."""
    data, cbs, batch_logs = run.data, run.cbs, run.batch_logs
    idx = run.perm[b * run.batch_size:(b + 1) * run.batch_size]
    # Plain take, not take(..., out=buffer): the plain form is faster for float32 rows.
    xb = np.take(data.X, idx, axis=0)
    cbs.on_batch_begin(b, batch_logs)
    value, out, applied = run.model.train_step(xb, data.y[idx],
                                               None if data.w is None else data.w[idx])
    if applied:
        run.step += 1
    else:
        run.guard.unapplied_step(run.model, cbs, epoch, b, value)
    run.acc.add(idx, value, out)
    run.history.batch_loss.append(value)
    # Keras's batch logs: the mean loss of the epoch so far (its progress bar's number) and
    # the metrics over the same rows.
    batch_logs["loss"] = run.acc.scalars["loss_sum"] / run.acc.scalars["count"]
    if run.batch_metrics is not None:
        batch_logs.update(run.batch_metrics.logs(run, run.acc.scalars["count"],
                                                 data.y[idx], out))
    cbs.on_batch_end(b, batch_logs)
    if run.checkpoint_dir and run.checkpoint_every and run.step % run.checkpoint_every == 0 \
            and b + 1 < run.steps:
        ckpt.save(run.checkpoint_dir, model=run.model, rng=run.rng, epoch=epoch, batch=b + 1,
                  step=run.step, perm=run.perm, history=run.history, accum=run.acc,
                  callbacks=cbs.callbacks, tag=run.tag)


def _epoch_logs(model, acc, y, X_val, y_val, cbs):
    logs = {"loss": acc.scalars["loss_sum"] / max(acc.scalars["count"], 1)}
    if acc.arrays:
        logs.update(model.metric_values(y, acc.arrays["outputs"]))
    if X_val is not None:
        cbs.on_test_begin({})
        val = model.evaluate_logs(X_val, y_val)
        cbs.on_test_end(dict(val))
        for key, value in val.items():
            logs[f"val_{key}"] = value
    return logs
