"""`train_ensemble` on a streamed data set: members trained on the stream one after another,
the ensemble evaluated on the test split batch by batch.

The split, the statistics pass and the class set are the streamed run's (`_stream_run`), done
once and shared by every member: the statistics are cached on the stream, so each member's
Normalization adapts from the same pass. Members train in turn (each fit already reads ahead
on its own thread); an executor is refused rather than ignored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gradkit.errors import ConfigError
from gradkit.practice._stream_run import open_stream
from gradkit.practice.run import build_model, loss_and_metrics, make_optimizer
from gradkit.train import callbacks as cb
from gradkit.train.streaming import StreamMetrics, evaluate_stream

# Rows per evaluation batch: large enough that each member's forward pass is a few products.
_EVAL_ROWS = 4096


def train_stream_ensemble(config, seeds):
    """(models, histories, test metrics, members' test metrics, schema, class names)."""
    whole, (train, val, test) = open_stream(config)
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(f"{config.data}: {len(train)} training and {len(test)} test rows "
                          f"after the split (val={config.val}, test={config.test}); an "
                          "ensemble is evaluated on a test set")
    if config.batch_size is None:
        raise ConfigError(f"{config.data}: a streamed run reads record batches, so it needs an "
                          "integer batch_size, got null (every row in one batch)")
    loss, metric_names = loss_and_metrics(whole.task)
    steps = -(-len(train) // config.batch_size)
    models, histories = [], []
    for seed in seeds:
        member = dataclasses.replace(config, seed=seed)
        model = build_model(member, train, np.random.default_rng(seed))
        model.compile(optimizer=make_optimizer(member, steps), loss=loss, metrics=metric_names)
        model.class_names, model.feature_names = whole.class_names, whole.feature_names
        callbacks = []
        if config.early_stopping and len(val):
            callbacks.append(cb.EarlyStopping("val_loss", patience=config.early_stopping,
                                              restore_best=True))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = model.fit(train, None, batch_size=config.batch_size, epochs=config.epochs,
                                validation_data=val if len(val) else None,
                                callbacks=callbacks, seed=seed, verbose=0)
        models.append(model)
        histories.append(history)
    return models, histories, whole, test


def evaluate_ensemble_stream(ensemble, test):
    """The ensemble's test metrics over a streamed split, summed batch by batch: the loss of
    the mean probabilities (classifiers) or of the mean output (regression), and the
    members' metrics computed on those."""
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
