"""`fit`, `evaluate` and `predict` on a `gradkit.data.Stream`: the data is read, never held.

The stages are those of the in-memory loop (callbacks, the NaN guard, History, checkpoints),
with two differences that bounded memory forces:

* Training metrics cannot keep every output of the epoch, so they are accumulated batch by
  batch in forms that add up exactly: row-weighted means (accuracy, binary accuracy, top-k
  accuracy, MSE, MAE) and, for R², the residual sum of squares with the targets' moments
  merged pairwise. A metric without such a form is refused by name.
* A mid-epoch checkpoint holds the stream's position and shuffle state (`EpochBatches.state`)
  instead of a permutation of the rows, so a resumed run reads on from the same row with the
  same buffer contents and ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import math

import numpy as np

from gradkit._streams import is_stream
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import DataError, ModelFileError
from gradkit.nn import losses
from gradkit.train import _boundary
from gradkit.train import checkpoint as ckpt
from gradkit.train import metrics as metrics_mod
from gradkit.train._running import RunningMetrics, adds_up
from gradkit.train.callbacks import fit_callbacks
from gradkit.train.history import History
from gradkit.train.inputs import row_weights


class StreamMetrics:
    """Loss and metrics accumulated over batches; `scalars` is JSON (checkpointed)."""

    def __init__(self, model, scalars=None):
        self.model = model
        for name, fn in model.metrics:
            if not adds_up(fn):
                raise DataError(f"metric {name!r} has no streamed form (one that adds up over "
                                "batches); with a Stream use accuracy, binary_accuracy, "
                                "top_k_accuracy, mse, mae or r2")
        self.scalars = scalars if scalars is not None else {"loss_sum": 0.0, "count": 0,
                                                            "metrics": None}
        self.running = RunningMetrics(model, self.scalars["metrics"])
        self.scalars["metrics"] = self.running.sums

    def add(self, value, y, out):
        n = len(y)
        self.scalars["loss_sum"] += value * n
        self.scalars["count"] += n
        self.running.add(y, out)

    def logs(self) -> dict:
        return {"loss": self.scalars["loss_sum"] / max(self.scalars["count"], 1),
                **self.running.values()}


class _Accum:
    """What `checkpoint.save` stores of an epoch in progress: the metrics' sums and the
    stream's position (scalars, JSON) and its buffered rows (arrays)."""

    def __init__(self, scalars, arrays):
        self.scalars, self.arrays = scalars, arrays


def _targets(model, stream):
    """Give the model the stream's class names; refuse a model trained on other classes."""
    names = stream.class_names
    if names is not None:
        if model.class_names is None:
            model.class_names = list(names)
        elif list(model.class_names) != list(names):
            raise DataError(f"{stream.source}: classes {names[:8]} differ from the model's "
                            f"{list(model.class_names)[:8]}")


def check_stream_arguments(y, validation_split, sample_weight):
    if y is not None:
        raise DataError("a Stream carries its targets: pass y=None")
    if validation_split:
        raise DataError("validation_split needs arrays; split the stream instead: "
                        "train, val, test = stream.split(val=..., test=...), then pass "
                        "validation_data=val")
    if sample_weight is not None:
        raise DataError("sample_weight needs arrays; with a Stream use class_weight")


def fit_stream(model, data, y=None, *, batch_size=None, epochs=1, shuffle=True,
               validation_split=0.0, validation_data=None, class_weight=None,
               sample_weight=None, callbacks=None, seed=None, verbose="auto", checkpoint_dir=None,
               checkpoint_every=None, resume_from=None, checkpoint_tag=None):
    """`fit` with a Stream for X; see `gradkit.train.loop.fit` for the arguments."""
    check_stream_arguments(y, validation_split, sample_weight)
    if getattr(model.optimizer, "requires_closure", False):
        raise DataError(f"{type(model.optimizer).__name__} takes full-batch steps, which need "
                        "the whole data set in memory; with a Stream use a first-order "
                        "optimizer (sgd, adam, ...)")
    batch_size = 32 if batch_size is None else batch_size
    _targets(model, data)
    n = len(data)
    if n == 0:
        raise DataError(f"{data.source}: the {data.part or 'whole'} stream has no rows")
    rng = np.random.default_rng(seed)
    if not model.built:
        model.build((data.n_features,), rng)
    _boundary.bind_trainable(model)
    StreamMetrics(model)          # refuses a metric without a streamed form before any step
    cbs, guard = fit_callbacks(model, callbacks, _boundary.verbosity(verbose))
    steps = math.ceil(n / batch_size)
    _boundary.epoch_steps(model.optimizer, steps)
    fingerprint = json.loads(json.dumps(data.fingerprint()))
    history, start_epoch, step, state, scalars, saved = History(), 0, 0, None, None, None
    if resume_from is not None:
        tensors, meta = ckpt.load_latest(resume_from)
        if checkpoint_tag is not None and meta.get("tag") != checkpoint_tag:
            raise ModelFileError(f"checkpoint {resume_from} was written by another run (its "
                                 "tag differs from checkpoint_tag); resume the same run")
        if "stream_fingerprint" not in meta["accum"]:
            raise ModelFileError(f"checkpoint {resume_from} was written by a fit on arrays; "
                                 "resume it with the same arrays, not a Stream")
        if meta["accum"]["stream_fingerprint"] != fingerprint:
            raise ModelFileError(f"checkpoint {resume_from} was written for another data "
                                 f"stream ({meta['accum']['stream_fingerprint']['files'][:3]}"
                                 "...); resume with the same files, split, seed and shuffle "
                                 "buffer")
        saved = tensors, meta
        start_epoch, batch, step, _, arrays = ckpt.restore(model, rng, tensors, meta)
        history = History.from_dict(meta["history"])
        if batch:
            scalars = dict(meta["accum"])
            state = {"meta": scalars.pop("stream"), **arrays}
            scalars.pop("stream_fingerprint")
    model.history = history
    model.stop_training = False

    cbs.on_train_begin({"epochs": epochs, "steps": steps})
    if saved is not None:
        ckpt.restore_callbacks(cbs.callbacks, *saved)
        if saved[1].get("stopped"):      # a callback had stopped the run at that epoch's end
            start_epoch = epochs
    batch_logs: dict = {}
    for epoch in range(start_epoch, epochs):
        acc = StreamMetrics(model, scalars)
        batches = data.batches(batch_size, epoch=epoch, shuffle=shuffle, state=state)
        first, state, scalars = batches.batches, None, None
        cbs.on_epoch_begin(epoch, {})
        model.train()
        try:
            for b, (xb, yb) in enumerate(batches, start=first):
                cbs.on_batch_begin(b, batch_logs)
                # A batch may lack a class: the output layer says how many there are.
                wb = row_weights(yb, class_weight=class_weight, sample_weight=None,
                                 class_names=model.class_names,
                                 n_classes=max(int(model.output_shape[-1]), 2))
                value, out, applied = model.train_step(xb, yb, wb)
                if applied:
                    step += 1
                else:
                    guard.unapplied_step(model, cbs, epoch, b, value)
                acc.add(value, yb, out)
                history.batch_loss.append(value)
                # Keras's batch logs: the loss and metrics of the epoch so far.
                batch_logs.update(acc.logs())
                cbs.on_batch_end(b, batch_logs)
                if checkpoint_dir and checkpoint_every and step % checkpoint_every == 0 \
                        and b + 1 < steps:
                    position = batches.state()
                    accum = _Accum({**acc.scalars, "stream": position.pop("meta"),
                                    "stream_fingerprint": fingerprint}, position)
                    ckpt.save(checkpoint_dir, model=model, rng=rng, epoch=epoch, batch=b + 1,
                              step=step, perm=np.zeros(0, np.int64), history=history,
                              accum=accum, callbacks=cbs.callbacks, tag=checkpoint_tag)
                if model.stop_training:
                    break
        finally:
            batches.close()
        logs = acc.logs()
        if validation_data is not None:
            for key, value in _evaluate_any(model, validation_data).items():
                logs[f"val_{key}"] = value
        cbs.on_epoch_end(epoch, logs)
        history.record_epoch(epoch, logs)
        if checkpoint_dir:
            ckpt.save(checkpoint_dir, model=model, rng=rng, epoch=epoch + 1, batch=0, step=step,
                      perm=np.zeros(0, np.int64), history=history,
                      accum=_Accum({"stream_fingerprint": fingerprint}, {}),
                      callbacks=cbs.callbacks, tag=checkpoint_tag, stopped=model.stop_training)
        if model.stop_training:
            break
    cbs.on_train_end({})
    return history


def _evaluate_any(model, validation_data):
    if is_stream(validation_data):
        return evaluate_stream(model, validation_data)
    return model.evaluate_logs(*validation_data)


def evaluate_stream(model, data, *, batch_size=1024):
    """{"loss": ..., metric: ...} over every row of a Stream, read in file order."""
    _targets(model, data)
    acc = StreamMetrics(model)
    # The loss as fit computes it: from the output layer's pre-activation where a Keras loss
    # reads the probabilities of a softmax or sigmoid layer (see Sequential._loss_plan).
    fused, loss_fn = model._loss_plan()
    for xb, yb in data.batches(max(batch_size, 1), shuffle=False):
        out = model._outputs(xb, batch_size, logits=fused)
        with no_grad():
            value = float(losses.value(loss_fn, Tensor(out), yb).data)
        acc.add(value, yb, out)
    if acc.scalars["count"] == 0:
        raise DataError(f"{data.source}: the {data.part or 'whole'} stream has no rows")
    logs = acc.logs()
    logs["loss"] += model.penalty_value()      # as evaluate on arrays, and Keras
    return {key: metrics_mod.log_value(value) for key, value in logs.items()}


def predict_stream(model, data, *, batch_size=1024):
    """The model's outputs for every row of a Stream, in file and row order."""
    if data.part is None:
        chunks = (X for X, _ in data.in_order())
    else:
        chunks = (X for X, _ in data.batches(max(batch_size, 1), shuffle=False))
    outputs = [model.predict(X, batch_size=batch_size) for X in chunks]
    if not outputs:
        raise DataError(f"{data.source}: the stream has no rows to predict")
    return np.concatenate(outputs)
