"""A training run from a config: load, split, build, fit, evaluate, write the run folder.

`RunConfig` holds every choice of a run; `config.json` in the run folder is that config, so
`gradkit train --config runs/NAME/config.json` reproduces the run bit for bit.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import stat
from dataclasses import dataclass, field

import numpy as np

from gradkit import _atomic, _budget, optim
from gradkit import data as gdata
from gradkit import io as gio
from gradkit.data.stream import is_stream, is_stream_source
from gradkit.errors import ConfigError, DataError
from gradkit.nn import initializers, regularizers
from gradkit.nn import layers as L
from gradkit.optim import schedules
from gradkit.optim.optimizer import OPTIMIZERS
from gradkit.practice import _run_folder, plots
from gradkit.train import Sequential
from gradkit.train import callbacks as cb
from gradkit.train import metrics as gmetrics

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu", "softplus")
NORMALIZE = ("standardize", "pca", "whiten", "random_projection", "none")
SCHEDULES = ("constant", "cosine", "step", "exponential", "inverse_time", "linear",
             "inverse_sqrt")


def _has_type(value, kinds, items=()):
    """isinstance, except that bool is not an int (JSON true is no epoch count) and a list
    must hold `items`."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, list):
        return list in kinds and all(_has_type(v, items) for v in value)
    return isinstance(value, kinds)


_STR, _INT, _REAL, _NONE = (str,), (int,), (int, float), (type(None),)
# field -> (accepted types, item types of a list, the words for them in a message)
_FIELD_TYPES = {
    "data": (_STR, (), "a file path or a data set name"),
    "target": (_STR + _INT + _NONE + (list,), _STR + _INT,
               "a column name or index, a list of them, or null"),
    "hidden": ((list,), _INT, "a list of positive integers"),
    **{name: (_STR, (), "a string")
       for name in ("activation", "init", "optimizer", "schedule", "normalize")},
    **{name: (_REAL, (), "a number") for name in ("lr", "dropout", "l1", "l2", "val", "test")},
    **{name: (_INT, (), "an integer")
       for name in ("epochs", "early_stopping", "seed", "checkpoint_every")},
    "batch_size": (_INT + _NONE, (), "an integer, or null for every training row in one batch"),
    "pca_components": (_INT + _NONE, (), "an integer or null"),
    "task": (_STR + _NONE, (), "classification, regression, multilabel or null"),
    "test_data": (_STR + _NONE, (), "a file path or null"),
    "batch_norm": ((bool,), (), "true or false"),
    "stream": ((bool,), (), "true or false"),
    "shuffle_buffer": (_INT, (), "an integer"),
    "statistics": (_STR + _NONE, (), "a file path or null"),
}


@dataclass
class RunConfig:
    """Every setting of a training run (the flags of `gradkit train`)."""

    data: str = "digits"
    target: str | None = None
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    init: str = "he_normal"
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    batch_size: int | None = 32      # None: every training row in one batch (full batch)
    epochs: int = 30
    dropout: float = 0.0
    batch_norm: bool = False
    l1: float = 0.0
    l2: float = 0.0
    early_stopping: int = 0          # patience in epochs; 0 = off
    normalize: str = "standardize"
    pca_components: int | None = None
    val: float = 0.1
    test: float = 0.2
    seed: int = 0
    checkpoint_every: int = 0        # steps; 0 = at every epoch end only
    task: str | None = None          # None: inferred from the target (integers: classes)
    test_data: str | None = None     # a separate test file; then `test` must be 0
    stream: bool = False             # read in record batches (a folder or glob always is)
    shuffle_buffer: int = 65536      # rows the shuffle buffer of a streamed run mixes
    statistics: str | None = None    # a streamed run's statistics, computed once (a search's)

    def validate(self):
        """Raise ConfigError naming the first setting of the wrong type or out of range."""
        # Types first: a config.json is user input, and `"lr": "fast"` or `"hidden": 5` must be
        # refused with a message, not reach a comparison that raises TypeError (a traceback).
        for name, (kinds, items, expected) in _FIELD_TYPES.items():
            value = getattr(self, name)
            if not _has_type(value, kinds, items):
                raise ConfigError(f"{name} must be {expected}, got {name}={value!r}")
            # A JSON integer of 400 digits would overflow float() later, in the optimizer.
            if kinds is _REAL and not abs(value) <= 1e300:
                raise ConfigError(f"{name} must be a finite number, got {name}={str(value)[:20]}")
        checks = [
            (self.hidden != [], "hidden must list at least one layer size, got []"),
            (all(isinstance(h, int) and h > 0 for h in self.hidden),
             f"hidden must be positive integers, got {self.hidden!r}"),
            (self.activation in ACTIVATIONS,
             f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"),
            (math.isfinite(self.lr) and self.lr > 0,
             f"lr must be a finite number > 0, got {self.lr!r}"),
            (self.batch_size is None or self.batch_size >= 1,
             f"batch_size must be >= 1, got {self.batch_size!r}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs!r}"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout!r}"),
            (self.l1 >= 0 and self.l2 >= 0, f"l1 and l2 must be >= 0, got {self.l1}, {self.l2}"),
            (self.early_stopping >= 0,
             f"early_stopping must be >= 0, got {self.early_stopping!r}"),
            (self.normalize in NORMALIZE,
             f"normalize must be one of {NORMALIZE}, got {self.normalize!r}"),
            (self.schedule in SCHEDULES,
             f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (0 <= self.val < 1 and 0 <= self.test < 1 and self.val + self.test < 1,
             "val and test must be fractions in [0, 1) with val + test < 1, got "
             f"val={self.val}, test={self.test}"),
            (self.test_data is None or self.test == 0,
             f"test_data names a test file, so the test fraction must be 0 (the whole "
             f"training file trains), got test={self.test}"),
            (self.pca_components is None or self.pca_components >= 1,
             f"pca_components must be >= 1, got {self.pca_components!r}"),
            (self.pca_components is None
             or self.normalize in ("pca", "whiten", "random_projection"),
             "pca_components needs normalize 'pca', 'whiten' or 'random_projection', got "
             f"{self.normalize!r}"),
            (self.normalize != "random_projection" or self.pca_components is not None,
             "normalize 'random_projection' needs pca_components (the projected dimension)"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed!r}"),
            (self.checkpoint_every >= 0,
             f"checkpoint_every must be >= 0, got {self.checkpoint_every!r}"),
            (self.shuffle_buffer >= 0,
             f"shuffle_buffer must be >= 0, got {self.shuffle_buffer!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        try:
            optim.get(self.optimizer)
        except (ValueError, KeyError) as err:
            raise ConfigError(f"optimizer: {err}") from None
        try:     # else an unknown name surfaces as a ValueError from Dense, mid-run
            initializers.get(self.init)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"init: {err}") from None
        return self

    def rows_per_batch(self, n_train):
        """The batch size in rows: `batch_size`, or all `n_train` rows when it is None."""
        return n_train if self.batch_size is None else self.batch_size

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d, *, source="config"):
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown settings {unknown}; known: {sorted(known)}")
        config = cls(**d)
        try:      # the file is checked as a whole here, so the message can name it
            config.validate()
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        return config

    @classmethod
    def from_file(cls, path):
        d = read_json(path, "config", expected="a config.json")
        return cls.from_dict(d.get("run", d) if isinstance(d, dict) else d, source=str(path))


def read_json(path, kind, *, expected=None):
    """The JSON value in the file at `path`, or one ConfigError naming the file and what is
    wrong: not a regular file (a FIFO would block the open), missing, not UTF-8, not JSON,
    nested too deeply, or an integer of more digits than Python converts. `kind` names what
    the file should be ("config", "search space")."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{path}: not a regular file; expected {expected or 'a ' + kind}")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind} file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start} is "
                          f"{err.object[err.start:err.start + 1]!r})") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply to be a {kind}") from None
    except ValueError as err:        # an integer of more digits than Python converts
        raise ConfigError(f"{path}: not a {kind} ({err})") from None


def load_data(config):
    """The run's data set; `task` overrides what the loader infers (e.g. integer-valued
    regression targets such as counts or ages would otherwise be read as classes)."""
    if is_stream_source(config.data):
        raise ConfigError(f"{config.data}: a folder or glob of tables is read as a stream, "
                          "which this command does not do; give one file to load it into "
                          "memory")
    options = {"task": config.task} if config.task is not None else {}
    ds = gdata.load(config.data, target=config.target, **options)
    if config.task is None:
        _refuse_numbers_as_classes(ds, config)
    return ds


# A whole-number target is read as classes; with more than this many distinct values and
# fewer than this many rows per value on average, it is a quantity (diabetes' disease
# progression, rounded: 214 values in 442 rows), not a set of classes.
_MANY_CLASSES, _FEW_ROWS_PER_CLASS = 20, 5


def _refuse_numbers_as_classes(ds, config):
    """Refuse, with a line naming --task, to train one class per distinct number."""
    names = ds.class_names
    if ds.task != "classification" or names is None or len(names) <= _MANY_CLASSES:
        return
    if not all(isinstance(n, str) and n.lstrip("-").isdigit() for n in names):
        return      # named classes: the user's labels, however many
    n_rows, n_classes = len(ds.y), len(names)
    if n_rows >= _FEW_ROWS_PER_CLASS * n_classes:
        return
    raise ConfigError(
        f"{config.data}: the target holds {n_classes} distinct whole numbers in {n_rows} rows "
        f"({n_rows / n_classes:.1f} rows per value): that looks like a quantity, not classes. "
        "Pass --task regression to predict the number, or --task classification to train "
        f"{n_classes} classes")


def split_data(config, ds):
    """(train, validation, test) Datasets of a run: with `test_data`, the test set is that file
    (encoded like the training data) and the training file gives train and validation only."""
    train, val, test = gdata.train_val_test_split(ds, val=config.val, test=config.test,
                                                  seed=config.seed)
    if config.test_data is not None:
        test = gdata.encode_like(config.test_data, ds, require_target=True)
    return train, val, test


def build_model(config, train, rng):
    """The Sequential the config describes, its Normalization adapted on the training split."""
    streamed = is_stream(train)         # a Stream: shapes from its schema, statistics streamed
    model_layers = []
    if not streamed and train.X.ndim > 2:
        model_layers.append(L.Flatten())
    if config.normalize != "none":
        try:      # e.g. more pca_components than the data has features: the user's setting
            seed = {"seed": config.seed} if config.normalize == "random_projection" else {}
            norm = L.Normalization(mode=config.normalize, n_components=config.pca_components,
                                   **seed)
            norm.adapt(train if streamed else train.X.reshape(len(train.X), -1))
        except ValueError as err:
            raise ConfigError(f"normalize {config.normalize!r} on {config.data}: {err}") from None
        model_layers.append(norm)
    reg = None
    if config.l1 or config.l2:
        reg = regularizers.L1L2(l1=config.l1, l2=config.l2)
    for units in config.hidden:
        if config.batch_norm:
            # The notes normalize the pre-activation h, then apply the nonlinearity.
            model_layers += [L.Dense(units, init=config.init, kernel_regularizer=reg),
                             L.BatchNorm(), L.Activation(config.activation)]
        else:
            model_layers.append(L.Dense(units, activation=config.activation, init=config.init,
                                        kernel_regularizer=reg))
        if config.dropout:
            model_layers.append(L.Dropout(config.dropout))
    if streamed:
        n_out = train.n_classes if train.task != "regression" else \
            (train.target_shape or (1,))[0]
    else:
        n_out = train.n_classes if train.task != "regression" else \
            (1 if train.y.ndim == 1 else train.y.shape[1])
    # Small output weights: the notes' step 1 expects the initial loss to be log C (every class
    # equally likely); glorot_uniform here gave logits of std ~1.4 after He-initialized ReLU
    # layers, an initial loss ~25% above log C (`gradkit doctor` flags that).
    model_layers.append(L.Dense(n_out, init={"name": "random_normal", "std": 0.01}))
    model = Sequential(model_layers)
    model.build((train.n_features,) if streamed else train.X.shape[1:], rng)
    return model


def loss_and_metrics(task):
    if task == "classification":
        return "cross_entropy", ["accuracy"]
    if task == "multilabel":
        return "binary_cross_entropy", ["binary_accuracy"]
    return "mse", ["mae", "r2"]


def make_optimizer(config, steps_per_epoch):
    cls = OPTIMIZERS.lookup(config.optimizer)
    if not cls.takes_lr:
        # L-BFGS's line search and Newton's step choose their own step lengths.
        if config.schedule != "constant":
            raise ConfigError(f"schedule {config.schedule!r} has no meaning for optimizer "
                              f"{config.optimizer!r}, which chooses its own step lengths; "
                              "use schedule 'constant'")
        return optim.get(config.optimizer)

    total = steps_per_epoch * config.epochs
    lr = {
        "constant": config.lr,
        "cosine": {"name": "cosine", "initial": config.lr, "steps": total},
        "linear": {"name": "linear", "initial": config.lr, "end": 0.0, "steps": total},
        "step": _step_decay(config.lr, total),
        "exponential": {"name": "exponential", "initial": config.lr, "k": 3.0 / max(total, 1)},
        "inverse_time": {"name": "inverse_time", "initial": config.lr, "k": 10.0 / max(total, 1)},
        "inverse_sqrt": {"name": "inverse_sqrt", "initial": config.lr},
    }[config.schedule]
    return optim.get(config.optimizer, lr=schedules.get(lr) if isinstance(lr, dict) else lr)


def _step_decay(lr, total):
    """lr times 0.1 after half the steps and again after three quarters.

    Under four steps in all the two boundaries fall on the same step (a schedule refuses
    that) or on step 0 (which would decay the first step): only those inside the run are
    kept, and a single step keeps its lr.
    """
    boundaries = sorted({int(total * f) for f in (0.5, 0.75)} - {0})
    if not boundaries:
        return lr
    return {"name": "step", "initial": lr, "boundaries": boundaries, "factor": 0.1}


@dataclass
class RunResult:
    model: object
    history: object
    metrics: dict
    out: str


def train_run(config, out, *, resume=False, overwrite=False, verbose=1, console=None,
              callbacks=()):
    """Run `config`, writing the run folder `out`; return the model, history and test metrics.

    `callbacks` are added to the run's own (progress bar, early stopping) for this call only:
    they are not part of the config, so `config.json` does not reproduce what they change.

    A folder that already holds a run is refused unless `resume` (continue it: the settings
    and the data must be the same, else the refusal says what differs) or `overwrite`
    (replace it). A second process training into the same folder is refused while the first
    holds its lock. Everything that can be refused is refused before the folder is touched.
    """
    config.validate()
    if resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other: continue the run in "
                          f"{out}, or replace it")
    from gradkit.practice._stream_run import (check_stream, open_stream, train_stream_run,
                                              wants_stream)

    if wants_stream(config):
        opened = open_stream(config)
        check_stream(config, opened)
        tag = _run_folder.stream_fingerprint(config, opened[0])
        return _run_folder.in_folder(
            out, tag, resume=resume, overwrite=overwrite,
            run=lambda resume_from: train_stream_run(
                config, out, opened, resume_from=resume_from, tag=tag, verbose=verbose,
                console=console, callbacks=callbacks))
    ds, (train, val, test) = load_and_split(config)
    rng = np.random.default_rng(config.seed)
    model = build_model(config, train, rng)
    loss, metric_names = loss_and_metrics(ds.task)
    batch_size = config.rows_per_batch(len(train))
    steps = -(-len(train) // batch_size)
    model.compile(optimizer=make_optimizer(config, steps), loss=loss, metrics=metric_names)
    model.class_names = ds.class_names
    model.feature_names = ds.feature_names
    tag = _run_folder.fingerprint(config, train)

    return _run_folder.in_folder(
        out, tag, resume=resume, overwrite=overwrite,
        run=lambda resume_from: _train_and_write(
            config, out, ds, model, (train, val, test), metric_names, resume_from=resume_from,
            tag=tag, verbose=verbose, console=console, callbacks=callbacks))


def load_and_split(config):
    """(data set, (train, val, test)) of an in-memory run, with everything a run refuses about
    them checked before a run folder is touched: no target, one class, too large for memory.
    A plain run and an ensemble train on what this returns."""
    ds, (train, val, test) = load_and_split_data(config)
    check_memory(config, train, len(val) + len(test))
    return ds, (train, val, test)


def load_and_split_data(config):
    """`load_and_split` less the memory check, which depends on the network: a search makes
    it for the networks of its space, the data checks once."""
    ds = load_data(config)
    if ds.y is None:
        raise ConfigError(f"{config.data}: has no target to train on")
    check_classes(ds, config.data)
    train, val, test = split_data(config, ds)
    check_classes(train, f"{config.data} (its training split)")
    return ds, (train, val, test)


def check_classes(ds, where):
    """Refuse classification data with one class: nothing to learn, and every metric breaks."""
    if ds.task == "classification" and len(np.unique(ds.y)) < 2:
        present = ds.class_names[int(ds.y[0])] if ds.class_names and len(ds.y) else "?"
        refuse_one_class(where, present)


def refuse_one_class(where, present):
    """The refusal of single-class data, for in-memory and streamed runs alike."""
    raise DataError(f"{where}: every sample has the same class ({present!r}); a classifier "
                    "needs at least two classes (or use task='regression')")


def check_memory(config, train, n_other):
    """Refuse a run whose parameters and activations would not fit the memory budget.

    Counted in float32 bytes: each parameter four times (the weights, their gradients and up
    to two optimizer moments), a batch's activations three times (forward, gradients, masks),
    the epoch's outputs (samples x outputs, kept for the training metrics), the 1,024-row
    prediction batches of evaluation, a PCA's features x features matrices, and a random
    projection's features x components matrix, and a classifier's int64 confusion matrix.
    """
    n_in = int(np.prod(train.X.shape[1:]))
    n_out = train.n_classes if train.task != "regression" else \
        (1 if train.y.ndim == 1 else int(train.y.shape[1]))
    batch = min(config.rows_per_batch(len(train)), len(train))     # full batch: all rows
    check_network_memory(config, n_in, n_out, len(train), batch=batch,
                         eval_rows=min(1024, max(len(train), n_other)),
                         held=len(train) * n_out,
                         classification=train.task == "classification")


def check_network_memory(config, n_in, n_out, n_train, *, batch, eval_rows, held,
                         classification):
    """`check_memory` from the sizes alone (a streamed run has no arrays to read them from):
    `held` is the count of other float32 values the run keeps (the epoch's outputs, or a
    stream's buffered rows); a classifier keeps an n_out x n_out int64 confusion matrix."""
    widths = [n_in, *config.hidden, n_out]
    if config.normalize == "random_projection":
        # The projection is a layer of its own width: its (n_in, k) matrix, drawn in float64,
        # and k inputs to the first Dense, counted as the layer above it (k may exceed n_in).
        widths.insert(1, int(config.pca_components))
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    needed = 4 * (4 * params + 3 * batch * sum(widths) + held + 2 * eval_rows * sum(widths)
                  + (3 * n_in * n_in if config.normalize in ("pca", "whiten", "random_projection")
                     else 0)
                  + (2 * n_out * n_out if classification else 0))
    _budget.check(needed, f"training {'-'.join(map(str, widths))} ({params:,} parameters, "
                          f"{n_train:,} samples x {n_out:,} outputs)", error=ConfigError)


def _train_and_write(config, out, ds, model, splits, metric_names, *, resume_from, tag,
                     verbose, console, callbacks=()):
    train, val, test = splits
    ckpt_dir = os.path.join(out, "checkpoints")
    extra, callbacks = list(callbacks), [cb.ProgressBar(file=console)] if verbose else []
    if config.early_stopping and len(val):
        callbacks.append(cb.EarlyStopping("val_loss", patience=config.early_stopping,
                                          restore_best=True))
    callbacks += extra
    # The NaN guard reports a diverging run in one line naming the epoch and batch, and keeps
    # the last good checkpoint; NumPy's overflow warnings on the way there (from forward passes
    # with huge weights) would only print noise before that line, or raise under -W error.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = model.fit(train.X, train.y, batch_size=config.rows_per_batch(len(train)),
                            epochs=config.epochs,
                            validation_data=(val.X, val.y) if len(val) else None,
                            callbacks=callbacks, seed=config.seed, verbose=0,
                            checkpoint_dir=ckpt_dir,
                            checkpoint_every=config.checkpoint_every or None,
                            resume_from=resume_from, checkpoint_tag=tag)
        # No test set (test 0, no test_data): no test metrics, rather than NaNs of an empty set.
        results = {"test_" + k: v for k, v in model.evaluate_logs(test.X, test.y).items()} \
            if len(test) else {}
    cm = None
    if ds.task == "classification" and len(test):
        cm = gmetrics.confusion_matrix(test.y, model.predict(test.X), ds.n_classes)
    results.update({"train_samples": len(train), "val_samples": len(val),
                    "test_samples": len(test), "epochs_run": len(history.epoch)})
    write_run_folder(out, config, model, history, results, schema=ds.schema(), task=ds.task,
                     metric=metric_names[0], confusion=cm, class_names=ds.class_names)
    return RunResult(model, history, results, out)


def write_run_folder(out, config, model, history, results, *, schema, task, metric, confusion,
                     class_names):
    """The run folder's files, each written atomically: the model (carrying the run's config,
    data schema and task), config.json, metrics.json, history.csv and the plots."""
    extra = {"run": config.to_dict(), "data_schema": schema, "task": task}
    gio.save(model, os.path.join(out, "model.safetensors"), extra=extra)
    _atomic.atomic_write_text(os.path.join(out, "config.json"),
                             json.dumps({"run": config.to_dict()}, indent=2) + "\n")
    _atomic.atomic_write_text(os.path.join(out, "metrics.json"),
                             json.dumps(results, indent=2) + "\n")
    _atomic.atomic_write_text(os.path.join(out, "history.csv"), history_csv(history))
    plots.learning_curves(history, os.path.join(out, "learning_curves.png"),
                          metric=metric, title=f"gradkit train {config.data}")
    if confusion is not None:
        plots.confusion_matrix(confusion, class_names,
                               os.path.join(out, "confusion_matrix.png"))


def history_csv(history):
    """One row per epoch: epoch, then every logged value."""
    keys = list(history.history)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i, epoch in enumerate(history.epoch):
        writer.writerow([epoch + 1, *(repr(float(history.history[k][i])) for k in keys)])
    return buf.getvalue()
