"""`train_ensemble` on a streamed data set: members trained on the stream, the ensemble
evaluated on the test split batch by batch.

The split, the statistics pass and the class set are the streamed run's (`_stream_run`) and are
made once: in this process they are cached on the stream, so each member's Normalization adapts
from the same pass; members on an executor (other processes, a Dask cluster reading the same
path from shared storage) load the statistics file this process wrote instead of reading the
data set again. A member returns its weights and history, never a model object.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gradkit._threads import blas_limit
from gradkit.practice._stream_run import open_stream, share_statistics
from gradkit.practice.run import RunConfig, build_model, loss_and_metrics, make_optimizer
from gradkit.train import callbacks as cb
from gradkit.train.history import History
from gradkit.train.streaming import StreamMetrics, evaluate_stream

# Rows per evaluation batch: large enough that each member's forward pass is a few products.
_EVAL_ROWS = 4096


def train_stream_ensemble(config, seeds, opened, *, executor=None, out=None,
                          blas_threads=None):
    """(models, histories, the whole stream, its test split) of members trained from `seeds`
    on `opened` (`open_stream(config)`, passed by `_stream_run.check_stream`).

    `blas_threads` caps BLAS while members train; `out` receives the shared statistics file
    when an executor runs the members.
    """
    whole, (train, val, test) = opened
    # The cap is process-wide: set here for members in this process (in turn or in threads);
    # members in other processes set their own.
    elsewhere = executor is not None and not isinstance(executor, ThreadPoolExecutor)
    with blas_limit(blas_threads):
        if executor is None:
            results = [_train_member(config.to_dict(), seed, opened) for seed in seeds]
        else:
            scratch = None if out is not None else tempfile.mkdtemp(prefix="gradkit-ensemble-")
            try:
                shared = share_statistics(config.to_dict(), out if out is not None else scratch)
                futures = [executor.submit(_train_member, shared, seed, None,
                                           blas_threads if elsewhere else None)
                           for seed in seeds]
                results = [f.result() for f in futures]
            finally:
                if scratch is not None:
                    shutil.rmtree(scratch, ignore_errors=True)
    loss, metric_names = loss_and_metrics(whole.task)
    models = []
    for (weights, _), seed in zip(results, seeds, strict=True):
        model = build_model(config, train, np.random.default_rng(seed))
        model.set_weights(weights)
        model.compile(optimizer=config.optimizer, loss=loss, metrics=metric_names)
        model.class_names, model.feature_names = whole.class_names, whole.feature_names
        models.append(model)
    return models, [History.from_dict(h) for _, h in results], whole, test


def _train_member(config_dict, seed, opened=None, blas_threads=None):
    """Train one member on the stream; (weights, history dict). Module level, so another
    process can run it: there it opens the stream itself (`opened` None)."""
    config = RunConfig.from_dict(config_dict)
    whole, (train, val, _) = opened if opened is not None else open_stream(config)
    member = dataclasses.replace(config, seed=seed)
    model = build_model(member, train, np.random.default_rng(seed))
    loss, metric_names = loss_and_metrics(whole.task)
    steps = -(-len(train) // config.batch_size)
    model.compile(optimizer=make_optimizer(member, steps), loss=loss, metrics=metric_names)
    callbacks = []
    if config.early_stopping and len(val):
        callbacks.append(cb.EarlyStopping("val_loss", patience=config.early_stopping,
                                          restore_best=True))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            blas_limit(blas_threads):
        history = model.fit(train, None, batch_size=config.batch_size, epochs=config.epochs,
                            validation_data=val if len(val) else None, callbacks=callbacks,
                            seed=seed, verbose=0)
    return model.get_weights(), history.to_dict()


def evaluate_ensemble_stream(ensemble, test):
    """The ensemble's test metrics over a streamed split, summed batch by batch: the loss of
    the mean probabilities (classifiers) or of the mean output (regression), and the
    members' metrics computed on those; and each member's own test metrics."""
    totals = StreamMetrics(ensemble.models[0])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for X, y in test.batches(_EVAL_ROWS, shuffle=False):
            logs = ensemble.evaluate(X, y)
            totals.add(logs["loss"], y, _as_outputs(ensemble, X))
        members = [evaluate_stream(m, test, batch_size=_EVAL_ROWS) for m in ensemble.models]
    return totals.logs(), members


def _as_outputs(ensemble, X):
    """The ensemble's prediction as a single model's raw output, which the metrics read:
    log of the mean probabilities (softmax of it gives them back), the logit of the mean
    sigmoid probability, or the mean regression output."""
    kind = ensemble._kind
    if kind == "softmax":
        return np.log(np.clip(ensemble.predict_proba(X), 1e-12, 1.0))
    if kind == "sigmoid":
        p = np.clip(ensemble.predict_proba(X), 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)
    return ensemble.predict(X)


__all__ = ["evaluate_ensemble_stream", "train_stream_ensemble"]
