"""`gradkit train` on data larger than memory: the run of `practice.run`, read as a Stream.

A run streams when its data is a folder of Parquet or CSV files or a glob of them, or when
`stream` is set (`--stream`) for one file. Everything else is the in-memory run's: the same
config, the same model, the same run folder. What differs is where the numbers come from: the
split is fixed by each row's identity (a hash of seed, file and row, see `gradkit.data.stream`)
rather than a stratified shuffle, the Normalization statistics come from the statistics pass,
and the test metrics and confusion matrix are summed over the test rows batch by batch.
"""

from __future__ import annotations

import os

import numpy as np

from gradkit import data as gdata
from gradkit.data.stream import is_stream_source
from gradkit.errors import ConfigError
from gradkit.practice.run import (RunConfig, RunResult, build_model, check_network_memory,
                                  loss_and_metrics, make_optimizer, refuse_one_class,
                                  write_run_folder)
from gradkit.train import callbacks as cb
from gradkit.train import metrics as gmetrics
from gradkit.train.streaming import evaluate_stream

# Rows per record batch read; fixed so that a config reproduces its run bit for bit (the
# buffer's draws depend on the size of the batches that fill it).
BATCH_ROWS = 65536


def wants_stream(config) -> bool:
    """Whether the run streams: `stream` set, or data that is a folder or glob of tables."""
    return bool(config.stream) or is_stream_source(config.data)


def open_stream(config):
    """The data set of `config` as a Stream, and its (train, val, test) split."""
    s = gdata.stream(config.data, target=config.target, task=config.task,
                     batch_rows=BATCH_ROWS, shuffle_buffer=config.shuffle_buffer,
                     seed=config.seed)
    parts = s.split(val=config.val, test=config.test)
    if config.statistics and os.path.exists(config.statistics):
        parts[0].load_statistics(config.statistics)     # False: other data; the pass runs
    return s, parts


def statistics_file(out):
    """Where a search (or a streamed ensemble) in `out` keeps the shared statistics."""
    return os.path.join(out, "statistics.safetensors")


def share_statistics(config, out, *, train=None):
    """A search's base config (a dict) with `statistics` naming a file in `out` that holds the
    streamed data set's statistics, computed here once instead of in every trial (or taken
    from `train`, the training view of the same data opened already)."""
    path = statistics_file(out)
    run = RunConfig.from_dict(config, source="search base")
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        if train is None:
            _, (train, _, _) = open_stream(run)
        train.statistics(covariance=run.normalize in ("pca", "whiten"))
        train.save_statistics(path)
    return {**config, "statistics": path}


def _test_results(model, test, task, n_classes):
    """Test metrics and (for classifiers) the confusion matrix, summed batch by batch."""
    results = {"test_" + k: v for k, v in evaluate_stream(model, test).items()}
    cm = None
    if task == "classification":
        cm = np.zeros((n_classes, n_classes), np.int64)
        for X, y in test.batches(4096, shuffle=False):
            cm += gmetrics.confusion_matrix(y, model.predict(X), n_classes)
    return results, cm


def check_stream(config, opened):
    """Refuse, before a run folder is touched, what a streamed run cannot train: too few rows
    to split, a null batch_size, one class, a network too large for memory."""
    whole, (train, _, test) = opened
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(f"{config.data}: {len(train)} training and {len(test)} test rows "
                          f"after the split (val={config.val}, test={config.test}); the data "
                          "set is too small to split")
    if config.batch_size is None:      # one batch of every row is what streaming avoids
        raise ConfigError(f"{config.data}: a streamed run reads record batches, so it needs an "
                          "integer batch_size, got null (every row in one batch)")
    if whole.task == "classification" and whole.n_classes < 2:
        refuse_one_class(config.data, whole.class_names[0] if whole.class_names else "?")
    n_out = whole.n_classes if whole.task != "regression" else \
        (whole.target_shape or (1,))[0]
    # The shuffle buffer and one record batch of inputs are in memory; the epoch's outputs
    # are not kept.
    check_network_memory(config, whole.n_features, n_out, len(train),
                         batch=min(config.batch_size, len(train)), eval_rows=4096,
                         held=(config.shuffle_buffer + BATCH_ROWS) * whole.n_features,
                         classification=whole.task == "classification")


def train_stream_run(config, out, opened, *, resume_from=None, tag=None, verbose=1,
                     console=None, callbacks=()):
    """`practice.run.train_run` for a streamed data set (`opened`: `open_stream(config)`),
    continued from the checkpoints in `resume_from` if given; returns its RunResult."""
    check_stream(config, opened)
    whole, (train, val, test) = opened
    schema, task = whole.schema, whole.task
    rng = np.random.default_rng(config.seed)
    model = build_model(config, train, rng)
    loss, metric_names = loss_and_metrics(task)
    steps = -(-len(train) // config.batch_size)
    model.compile(optimizer=make_optimizer(config, steps), loss=loss, metrics=metric_names)
    model.class_names = whole.class_names
    model.feature_names = whole.feature_names

    os.makedirs(out, exist_ok=True)
    ckpt_dir = os.path.join(out, "checkpoints")
    extra, callbacks = list(callbacks), [cb.ProgressBar(file=console)] if verbose else []
    has_val = len(val) > 0
    if config.early_stopping and has_val:
        callbacks.append(cb.EarlyStopping("val_loss", patience=config.early_stopping,
                                          restore_best=True))
    callbacks += extra
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = model.fit(train, None, batch_size=config.batch_size, epochs=config.epochs,
                            validation_data=val if has_val else None, callbacks=callbacks,
                            seed=config.seed, verbose=0, checkpoint_dir=ckpt_dir,
                            checkpoint_every=config.checkpoint_every or None,
                            resume_from=resume_from, checkpoint_tag=tag)
        results, cm = _test_results(model, test, task, whole.n_classes)
    results.update({"train_samples": len(train), "val_samples": len(val),
                    "test_samples": len(test), "epochs_run": len(history.epoch)})
    write_run_folder(out, config, model, history, results, schema=schema, task=task,
                     metric=metric_names[0], confusion=cm, class_names=whole.class_names)
    return RunResult(model, history, results, out)
