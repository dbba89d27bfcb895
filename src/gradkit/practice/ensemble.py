"""Ensembles: average the predicted probabilities of several networks trained from different seeds.

Each network makes its own mistakes (a different initialization and batch order land it in a
different minimum); averaging their probabilities cancels part of them, so an ensemble usually
scores at least as well as its average member, and often better than its best one.

    ens = Ensemble([model_a, model_b, model_c])
    ens.predict_proba(X)            # mean of the members' softmax outputs
    ens.evaluate(X, y)              # {"loss": cross-entropy of the mean, "accuracy": ...}

    run = train_ensemble(RunConfig(hidden=[128], epochs=10), 5)
    run.test_metrics, run.member_test_metrics

`train_ensemble` splits the data once (with `config.seed`), so every member sees the same training
set and the test set stays unseen by all; member i is initialized and shuffled with seed
`config.seed + 1 + i`. Pass a `concurrent.futures` executor to train members in parallel (a
`ProcessPoolExecutor` uses several cores; the members come back as weights, not pickled models).
"""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from gradkit import _atomic
from gradkit import io as gio
from gradkit._threads import blas_limit
from gradkit.autograd import Tensor
from gradkit.errors import ConfigError
from gradkit.io import load
from gradkit.nn import losses
from gradkit.practice import _run_folder
from gradkit.practice._stream_ensemble import evaluate_ensemble_stream, train_stream_ensemble
from gradkit.practice._stream_run import check_stream, open_stream, wants_stream
from gradkit.practice.run import (RunConfig, build_model, load_and_split, loss_and_metrics,
                                  make_optimizer)
from gradkit.train import metrics as gmetrics
from gradkit.train.callbacks import EarlyStopping
from gradkit.train.history import History
from gradkit.train.inputs import encode_targets


class Ensemble:
    """Several trained models used as one: probabilities (or regression outputs) are averaged.

    Args:
        models: trained models with the same outputs (same classes in the same order).
        weights: optional weight per model (normalized to sum to 1); default equal.
    """

    def __init__(self, models, weights=None):
        self.models = list(models)
        if not self.models:
            raise ValueError("an Ensemble needs at least one model, got none")
        if weights is None:
            w = np.full(len(self.models), 1.0 / len(self.models))
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(self.models),) or np.any(w < 0) or not w.sum() > 0:
                raise ValueError(f"weights must be {len(self.models)} non-negative numbers with "
                                 f"a positive sum, got {weights!r}")
            w = w / w.sum()
        self.weights = w
        first = self.models[0]
        self.class_names = getattr(first, "class_names", None)
        self.loss = getattr(first, "loss", None)
        for m in self.models[1:]:
            if getattr(m, "class_names", None) != self.class_names:
                raise ValueError("the models of an Ensemble must have the same classes, got "
                                 f"{self.class_names!r} and {getattr(m, 'class_names', None)!r}")

    def __len__(self):
        return len(self.models)

    @property
    def _kind(self):
        return getattr(self.loss, "output", None)

    def predict(self, X):
        """The weighted mean of the members' raw outputs (regression values; for classifiers
        use `predict_proba`: averaging logits is not averaging probabilities)."""
        return sum(w * m.predict(X) for w, m in zip(self.weights, self.models))

    def predict_proba(self, X):
        """The weighted mean of the members' class probabilities."""
        if self._kind not in ("softmax", "sigmoid"):
            raise ValueError("predict_proba needs classifiers (a cross-entropy loss); use "
                             "predict for regression")
        return sum(w * m.predict_proba(X) for w, m in zip(self.weights, self.models))

    def predict_classes(self, X):
        """The class with the highest mean probability (class names when the models have them)."""
        proba = self.predict_proba(X)
        if self._kind == "sigmoid":
            if proba.shape[-1] > 1:
                return (proba > 0.5).astype(np.int64)
            idx = (proba.reshape(-1) > 0.5).astype(np.int64)
        else:
            idx = np.argmax(proba, axis=-1)
        if self.class_names is not None:
            return np.asarray(self.class_names, dtype=object)[idx]
        return idx

    def evaluate(self, X, y, *, return_dict=True):
        """{"loss", metric...}: classifiers get the cross-entropy of the mean probabilities and
        the accuracy; regression gets the members' loss on the mean output. (A dict always:
        `return_dict` is accepted so that code written for `Sequential.evaluate(...,
        return_dict=True)` runs on an ensemble too.)"""
        first = self.models[0]
        yt = encode_targets(first, y)
        if self._kind == "softmax":
            p = self.predict_proba(X)
            true = yt if yt.ndim == 1 else np.argmax(yt, axis=-1)
            picked = np.clip(p[np.arange(len(p)), true.astype(np.intp)], 1e-12, 1.0)
            return {"loss": float(-np.mean(np.log(picked))),
                    "accuracy": float(np.mean(np.argmax(p, axis=-1) == true))}
        if self._kind == "sigmoid":
            p = np.clip(self.predict_proba(X), 1e-12, 1 - 1e-12)
            t = yt.reshape(p.shape)
            loss = float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
            return {"loss": loss, "binary_accuracy": gmetrics.binary_accuracy(t, p)}
        out = self.predict(X)
        logs = {"loss": float(losses.value(first.loss, Tensor(out), yt).data)}
        for name, fn in first.metrics:
            logs[name] = fn(yt, out)
        return logs

    def evaluate_members(self, X, y):
        """Each member's own `evaluate(X, y)`."""
        return [m.evaluate_logs(X, y) for m in self.models]

    @classmethod
    def load(cls, paths):
        """An Ensemble of saved model files (`gk.save` / `gradkit train` output)."""
        return cls([load(p) for p in paths])


@dataclass
class EnsembleRun:
    """What `train_ensemble` returns."""

    ensemble: Ensemble
    test_metrics: dict
    member_test_metrics: list[dict]
    seeds: list[int]
    histories: list = field(default_factory=list)
    out: str | None = None

    def summary(self):
        """Plain words: the ensemble's test score against its members'."""
        key = next((k for k in ("accuracy", "binary_accuracy", "r2", "loss")
                    if k in self.test_metrics), "loss")
        members = [m[key] for m in self.member_test_metrics]
        return (f"ensemble of {len(members)}: test {key} {self.test_metrics[key]:.4f}; members "
                f"{min(members):.4f} to {max(members):.4f} (mean {np.mean(members):.4f})")


def _train_member(config_dict, seed, train, val, blas_threads=None):
    """Train one member; returns (weights, history dict). Module level, so a process pool can
    run it; it returns arrays, not a model object."""
    config = RunConfig.from_dict(config_dict)
    model = build_model(config, train, np.random.default_rng(seed))
    loss, metric_names = loss_and_metrics(train.task)
    batch_size = config.rows_per_batch(len(train))
    steps = -(-len(train) // batch_size)
    model.compile(optimizer=make_optimizer(config, steps), loss=loss, metrics=metric_names)
    callbacks = []
    if config.early_stopping and len(val):
        callbacks.append(EarlyStopping("val_loss", patience=config.early_stopping,
                                       restore_best=True))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            blas_limit(blas_threads):
        history = model.fit(train.X, train.y, batch_size=batch_size,
                            epochs=config.epochs, callbacks=callbacks, seed=seed, verbose=0,
                            validation_data=(val.X, val.y) if len(val) else None)
    return model.get_weights(), history.to_dict()


def train_ensemble(config, n, *, seeds=None, executor=None, out=None, blas_threads=1,
                   overwrite=False):
    """Train `n` networks of `config` from different seeds and return them as an ensemble.

    Args:
        config: a `RunConfig` (or its dict). The data are loaded and split once, with
            `config.seed`. Streamed data (a folder or glob of tables, or `stream=True`) is
            read, never loaded: members train on the stream (in turn, or on an executor of
            processes whose workers read the same path), sharing one statistics pass, and
            the ensemble is evaluated on the test split batch by batch.
        n: number of members.
        seeds: the members' seeds; default config.seed + 1, …, config.seed + n.
        executor: a `concurrent.futures.Executor` to train members in parallel; default one
            after the other.
        out: a folder to write member_<i>.safetensors and ensemble.json (metrics) into. It is
            claimed as a run folder is (locked; one that holds a run or an ensemble is refused
            unless `overwrite`), after the data and settings pass the checks a run makes.
        blas_threads: cap on BLAS threads while a member trains (small networks run fastest
            on one); None leaves them as they are.
        overwrite: replace the run or ensemble already in `out` (default False).

    Returns:
        an `EnsembleRun`: the ensemble, its test metrics and each member's.
    """
    if isinstance(config, dict):
        config = RunConfig.from_dict(config)
    config = dataclasses.replace(config)
    config.validate()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    seeds = list(seeds) if seeds is not None else [config.seed + 1 + i for i in range(n)]
    if len(seeds) != n:
        raise ValueError(f"seeds must hold n={n} seeds, got {len(seeds)}")
    if wants_stream(config):
        opened = open_stream(config)
        check_stream(config, opened)
        _check_schedule(config, len(opened[1][0]), config.batch_size)

        def work():
            return _train_streamed(config, seeds, opened, executor, out, blas_threads)
    else:
        ds, splits = load_and_split(config)
        if not len(splits[2]):
            raise ConfigError("an ensemble is evaluated on a test set: give test > 0 or "
                              "test_data")
        _check_schedule(config, len(splits[0]), config.rows_per_batch(len(splits[0])))

        def work():
            return _train_in_memory(config, seeds, ds, splits, executor, out, blas_threads)
    if out is None:
        return work()
    return _run_folder.in_folder(out, None, resume=False, overwrite=overwrite,
                                 run=lambda _: work())


def _check_schedule(config, n_train, batch_size):
    # What make_optimizer refuses (a schedule for L-BFGS) is refused before the folder is
    # claimed and before any member trains.
    make_optimizer(config, -(-n_train // batch_size))


def _train_streamed(config, seeds, opened, executor, out, blas_threads):
    models, histories, whole, test = train_stream_ensemble(
        config, seeds, opened, executor=executor, out=out, blas_threads=blas_threads)
    ensemble = Ensemble(models)
    test_metrics, member_metrics = evaluate_ensemble_stream(ensemble, test)
    run = EnsembleRun(ensemble, test_metrics, member_metrics, seeds, histories, out)
    if out is not None:
        _write(run, config, whole.schema, whole.task, out)
    return run


def _train_in_memory(config, seeds, ds, splits, executor, out, blas_threads):
    train, val, test = splits
    cfg = config.to_dict()
    # The cap is process-wide: set it here for this process (members trained in turn or in
    # threads); members in other processes set their own.
    elsewhere = executor is not None and not isinstance(executor, ThreadPoolExecutor)
    with blas_limit(blas_threads):
        if executor is None:
            results = [_train_member(cfg, s, train, val) for s in seeds]
        else:
            futures = [executor.submit(_train_member, cfg, s, train, val,
                                       blas_threads if elsewhere else None) for s in seeds]
            results = [f.result() for f in futures]
    loss, metric_names = loss_and_metrics(ds.task)
    models = []
    for (weights, _), s in zip(results, seeds):
        model = build_model(config, train, np.random.default_rng(s))
        model.set_weights(weights)
        model.compile(optimizer=config.optimizer, loss=loss, metrics=metric_names)
        model.class_names = ds.class_names
        model.feature_names = ds.feature_names
        models.append(model)
    ensemble = Ensemble(models)

    histories = [History.from_dict(h) for _, h in results]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        test_metrics = ensemble.evaluate(test.X, test.y)
        member_metrics = ensemble.evaluate_members(test.X, test.y)
    run = EnsembleRun(ensemble, test_metrics, member_metrics, seeds, histories, out)
    if out is not None:
        _write(run, config, ds.schema(), ds.task, out)
    return run


def _write(run, config, schema, task, out):
    os.makedirs(out, exist_ok=True)
    files = []
    for i, (model, seed) in enumerate(zip(run.ensemble.models, run.seeds)):
        path = os.path.join(out, f"member_{i}.safetensors")
        member = dataclasses.replace(config, seed=seed).to_dict()
        gio.save(model, path, extra={"run": member, "data_schema": schema, "task": task})
        files.append(os.path.basename(path))
    report = {"members": files, "seeds": run.seeds, "test": run.test_metrics,
              "members_test": run.member_test_metrics, "run": config.to_dict()}
    _atomic.atomic_write_text(os.path.join(out, "ensemble.json"),
                              json.dumps(report, indent=2) + "\n")


__all__ = ["Ensemble", "EnsembleRun", "train_ensemble"]
