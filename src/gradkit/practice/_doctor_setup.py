"""What `doctor` examines: the data splits, and fresh copies of the model to train in each step.

A `Setup` comes from a `RunConfig` (the model is `practice.run.build_model`'s, as `gradkit train`
builds it) or from a `Sequential` (copied layer by layer from its config, with the preprocessing
statistics of its Normalization layers). Either way `make(lr=..., l2=..., seed=...)` returns a
newly initialized, compiled model, so every step and trial starts from scratch.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gradkit import data as gdata
from gradkit import optim
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import ConfigError, DataError
from gradkit.nn import initializers, regularizers
from gradkit.nn.layers import Activation, BatchNorm, Dense, Dropout, Flatten, Normalization
from gradkit.nn.module import layer_from_config
from gradkit.practice._stream_run import open_stream, wants_stream
from gradkit.practice.run import (RunConfig, build_model, check_classes, check_memory,
                                  load_data, loss_and_metrics, make_optimizer,
                                  refuse_one_class, split_data)
from gradkit.train import Sequential


@dataclasses.dataclass
class Setup:
    train_X: np.ndarray
    train_y: np.ndarray
    val_X: np.ndarray
    val_y: np.ndarray
    task: str
    n_outputs: int
    loss_name: str
    metric_names: list
    batch_size: int
    lr: float
    optimizer: str
    init: str
    activation: str | None
    data_name: str
    config: object = None          # RunConfig, when the setup came from one
    train_ds: object = None        # the training Dataset build_model adapts on
    base: object = None            # the Sequential, when the setup came from one
    constant_layers: list = dataclasses.field(default_factory=list)
    init_problem: bool = False
    n_test: int = 0
    test_X: np.ndarray | None = None    # the separate test file (test_data), else None
    test_y: np.ndarray | None = None
    sampled: bool = False               # the samples are a sample of a streamed data set

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def create(cls, model_or_config, X, y, *, validation_data=None, data=None,
               sample_rows=100_000):
        if isinstance(model_or_config, Sequential):
            return cls._from_model(model_or_config, X, y, validation_data, data)
        if model_or_config is None:
            config = RunConfig()
        elif isinstance(model_or_config, dict):
            config = RunConfig.from_dict(model_or_config)
        elif isinstance(model_or_config, RunConfig):
            config = dataclasses.replace(model_or_config)
        else:
            raise TypeError("doctor needs a RunConfig, a config dict or a Sequential, got "
                            f"{type(model_or_config).__name__}")
        if data is not None or X is not None:
            config.data = data or "arrays"     # recommended.json names the data it was run on
        config.validate()
        if X is None and wants_stream(config):
            train, val, test = _stream_sample(config, sample_rows)
        else:
            train, val, test = _splits(config, X, y, validation_data)
        # The same refusal as train's, before a trial builds the network.
        check_memory(config, train, len(val) + (len(test) if test is not None else 0))
        loss, metrics = loss_and_metrics(train.task)
        given = test if config.test_data is not None else None
        return cls(train.X, train.y, val.X, val.y, train.task, _n_outputs(train), loss, metrics,
                   config.rows_per_batch(len(train.X)), config.lr, config.optimizer,
                   config.init, config.activation, config.data, config=config,
                   train_ds=train, n_test=len(test) if test is not None else 0,
                   sampled=X is None and wants_stream(config),
                   test_X=given.X if given is not None else None,
                   test_y=given.y if given is not None else None)

    @classmethod
    def _from_model(cls, model, X, y, validation_data, data):
        if X is None or y is None:
            raise ValueError("doctor(model, X, y): a model needs the data X and y to examine")
        train, val, _ = _splits(RunConfig(), X, y, validation_data)
        if not model.built:
            model.build(train.X.shape[1:], np.random.default_rng(0))
        loss, metrics = loss_and_metrics(train.task)
        if model.loss is not None:
            loss = model.loss.name
        dense = [layer for layer in model.layers if isinstance(layer, Dense)]
        hidden_act = next((d.activation_name for d in dense[:-1]), None)
        init = _init_name(dense[0].init if dense else None, hidden_act)
        opt = model.optimizer
        lr = float(opt.lr) if opt is not None and opt.takes_lr else 1e-3
        name = opt.name if opt is not None and opt.takes_lr else "adam"
        return cls(train.X, train.y, val.X, val.y, train.task, int(model.output_shape[-1]),
                   loss, metrics, 32, lr, name, init, hidden_act, data or "arrays", base=model)

    # -- models --------------------------------------------------------------------------------
    def make(self, *, lr, l2, seed, init=None, overfit=False, changes=None):
        """A freshly initialized, compiled model; `overfit` turns dropout and L1 off;
        `changes` (hidden, dropout) apply to a configuration's model only."""
        rng = np.random.default_rng(seed)
        if self.config is not None:
            cfg = dataclasses.replace(self.config, lr=lr, l2=l2, schedule="constant",
                                      init=init or self.config.init, **(changes or {}))
            if overfit:
                cfg.l1, cfg.dropout = 0.0, 0.0
            model = build_model(cfg, self.train_ds, rng)
            steps = -(-len(self.train_X) // self.batch_size)
            optimizer = make_optimizer(cfg, steps)
        else:
            model = self._copy_base(rng, l2=l2, init=init, overfit=overfit)

            optimizer = optim.get(self.optimizer, lr=lr)
        model.compile(optimizer=optimizer, loss=self.loss_name, metrics=self.metric_names)
        return model

    def make_as_given(self, seed):
        """The model exactly as the user gave it (schedule, init, regularization), as
        `gradkit train` builds it: the baseline."""
        rng = np.random.default_rng(seed)
        if self.config is not None:
            model = build_model(self.config, self.train_ds, rng)
            steps = -(-len(self.train_X) // self.config.batch_size)
            optimizer = make_optimizer(self.config, steps)
        else:
            model = self._copy_base(rng, l2=None, init=None, overfit=False)
            optimizer = optim.get(self.optimizer, lr=self.lr)
        model.compile(optimizer=optimizer, loss=self.loss_name, metrics=self.metric_names)
        return model

    def _copy_base(self, rng, *, l2, init, overfit):
        layers = [layer_from_config(layer.describe()) for layer in self.base.layers]
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        for layer in dense if l2 is not None else ():     # None: keep the model's own
            layer.kernel_regularizer = regularizers.L1L2(l2=l2) if l2 else None
        if init is not None:
            for layer in dense[:-1]:
                layer.init = initializers.get(init)
        if overfit:
            for layer in layers:
                if isinstance(layer, Dropout):
                    layer.rate = 0.0
        model = Sequential(layers)
        model.build(self.base.input_shape, rng)
        for new, old in zip(model.layers, self.base.layers):
            if isinstance(new, Normalization):
                if old.adapted:
                    for (_, a), (_, b) in zip(new.named_buffers(), old.named_buffers()):
                        a[...] = b
                else:
                    new.adapt(self.train_X.reshape(len(self.train_X), -1))
        model.class_names = self.base.class_names
        return model

    # -- scores --------------------------------------------------------------------------------
    @property
    def metric_name(self):
        return {"classification": "accuracy", "multilabel": "binary_accuracy"}.get(self.task,
                                                                                   "r2")

    @property
    def score_name(self):
        return {"accuracy": "accuracy", "binary_accuracy": "binary accuracy",
                "r2": "R²"}[self.metric_name]

    @property
    def fit_goal(self):
        return "an R² of 0.99 or more" if self.task == "regression" else \
            f"100% training {self.score_name}"

    def score(self, logs):
        """Higher is better: the validation metric."""
        return float(logs.get(self.metric_name, -logs["loss"]))

    def format_score(self, value):
        return f"{value:.2%}" if self.metric_name != "r2" else f"{value:.4f}"

    def error(self, logs):
        return 1.0 - self.score(logs)

    @property
    def error_is_fraction(self):
        return self.metric_name != "r2"

    def train_score(self, model, X, y):
        return self.score(model.evaluate_logs(X, y))

    def fits(self, model, X, y):
        s = self.train_score(model, X, y)
        return s >= 0.99 if self.task == "regression" else s >= 1.0

    def input_scale(self, model, X):
        """(largest |mean|, largest std) of the features entering the first Dense layer."""
        x = Tensor(np.asarray(X, dtype=np.float32))
        with no_grad():
            for layer in model.layers:
                if isinstance(layer, Dense):
                    break
                x = layer.forward(x)
        a = np.asarray(x.data, dtype=np.float64).reshape(len(X), -1)
        return float(np.max(np.abs(a.mean(axis=0)))), float(np.max(a.std(axis=0)))

    # -- the result ------------------------------------------------------------------------------
    def recommend_as_given(self):
        """Your configuration unchanged (when the doctor's setting did not beat it)."""
        if self.config is not None:
            return dataclasses.replace(self.config)
        return self.recommend(lr=self.lr, l2=0.0, epochs=30, init=self.init, early_stopping=0)

    def recommend(self, *, lr, l2, epochs, init, early_stopping, changes=None):
        """The RunConfig `gradkit train --config` runs: yours with the doctor's settings."""
        if self.config is not None:
            base = self.config
        else:
            base = _config_from_model(self.base, self.data_name, self.optimizer)
            if base is None:
                return None
        cfg = dataclasses.replace(base, lr=float(lr), l2=float(l2), epochs=int(epochs),
                                  init=init, early_stopping=int(early_stopping),
                                  **(changes if self.config is not None and changes else {}))
        try:
            return RunConfig.from_dict(cfg.to_dict())
        except ConfigError:
            return None

    def describe(self):
        if self.config is not None:
            c = self.config
            model = (f"hidden {c.hidden}, {c.activation}, init {c.init}, optimizer "
                     f"{c.optimizer}, batch size {self.batch_size}")
        else:
            model = f"{len(self.base.layers)} layers ({self.base.num_parameters():,} parameters)"
        test = f", {self.n_test} test samples set aside (not used)" if self.n_test else ""
        if self.test_X is not None:
            test = (f", a test file of {len(self.test_X)} samples (evaluated once, at the "
                    f"end)")
        sampled = " (a uniform sample of the streamed splits)" if self.sampled else ""
        return (f"data {self.data_name}: {len(self.train_X)} training and {len(self.val_X)} "
                f"validation samples{sampled}{test}; model: {model}")


def refuse_small_splits(setup, check_folds):
    """Refuse, before anything is trained or written, splits the doctor cannot work on: an
    empty training or validation split, fewer training rows than step 8's folds (each fold
    holds rows out and trains on the rest), or a training split of one class (as `gradkit
    train` refuses it)."""
    n_train, n_val = len(setup.train_X), len(setup.val_X)
    n_test = len(setup.test_X) if setup.test_X is not None else setup.n_test
    if n_train < max(1, check_folds) or n_val < 1:
        rows = "rows sampled" if setup.sampled else "rows"
        need = (f"{check_folds} training rows (one per fold of step 8's {check_folds}-fold "
                "cross-check; --check-folds 0 turns it off)" if check_folds
                else "1 training row")
        raise DataError(
            f"{setup.data_name}: {n_train + n_val + n_test} {rows} split into {n_train} for "
            f"training, {n_val} for validation and {n_test} for test; the doctor needs at "
            f"least {need} and 1 validation row")
    if setup.task == "classification" and len(np.unique(setup.train_y)) < 2:
        refuse_one_class(f"{setup.data_name} (its training split)", "?" if not len(
            setup.train_y) else _class_name(setup, int(setup.train_y[0])))


def _class_name(setup, index):
    names = getattr(setup.train_ds, "class_names", None)
    return names[index] if names and 0 <= index < len(names) else index


def _init_name(init, activation):
    """The initializer's name for a RunConfig, which holds names only: one with settings
    (random_normal with its std) is replaced by the standard one for the activation."""
    if isinstance(init, initializers.Initializer) and not init.get_config():
        return init.describe()["name"]
    return "glorot_uniform" if activation in ("tanh", "sigmoid") else "he_normal"


def _n_outputs(train):
    if train.task != "regression":
        return train.n_classes
    return 1 if train.y.ndim == 1 else train.y.shape[1]


def _stream_sample(config, rows):
    """(train, validation, None): uniform samples of a streamed data set's splits, `rows`
    training rows at most and validation rows in proportion, read in one pass each. The
    doctor trains dozens of short runs, so it examines a sample that fits in memory; the
    config it recommends streams the whole data set."""
    if config.test_data is not None:
        raise ConfigError(f"{config.data}: the doctor examines a sample of a streamed data set "
                          "and sets no test file aside; evaluate the recommended run on "
                          f"{config.test_data} instead (gradkit evaluate)")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 2:
        raise ConfigError(f"sample_rows must be an integer >= 2, got {rows!r}")
    val_fraction = config.val or 0.1
    _, (train, val, _) = open_stream(dataclasses.replace(config, val=val_fraction))
    share = val_fraction / (1 - val_fraction - config.test)
    train_ds = train.sample(rows, seed=config.seed)
    val_ds = val.sample(max(1, math.ceil(rows * share)), seed=config.seed)
    return train_ds, val_ds, None


def _splits(config, X, y, validation_data):
    """(train, validation, test or None) Datasets."""
    val_fraction = config.val or 0.1
    if X is None:
        ds = load_data(config)
        if ds.y is None:
            raise ConfigError(f"{config.data}: has no target to examine")
        check_classes(ds, config.data)
        return split_data(dataclasses.replace(config, val=val_fraction), ds)
    if y is None:
        raise ValueError("doctor needs labels y with X")
    X = np.asarray(X)
    y = np.asarray(y)
    if validation_data is None:
        ds = gdata.arrays_to_dataset(X, y, source="arrays")
        check_classes(ds, "y")
        train, val, _ = gdata.train_val_test_split(ds, val=val_fraction, test=0.0,
                                                   seed=config.seed)
        return train, val, None
    # One data set for both, so that labels become the same class indices in each.
    Xv, yv = np.asarray(validation_data[0]), np.asarray(validation_data[1])
    ds = gdata.arrays_to_dataset(np.concatenate([X, Xv]), np.concatenate([y, yv]),
                                 source="arrays")
    n = len(X)
    train = ds.subset(np.arange(n))
    check_classes(train, "y")
    return train, ds.subset(np.arange(n, n + len(Xv))), None


def _config_from_model(model, data, optimizer):
    """A RunConfig describing a plain MLP (Normalization, Dense, Dropout, BatchNorm), or None."""
    known = (Dense, Dropout, BatchNorm, Activation, Flatten, Normalization)
    if any(type(layer) not in known for layer in model.layers):
        return None
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    norm = next((layer for layer in model.layers if isinstance(layer, Normalization)), None)
    drop = next((layer for layer in model.layers if isinstance(layer, Dropout)), None)
    acts = [d.activation_name for d in dense[:-1]] + \
        [a.activation_name for a in model.layers if isinstance(a, Activation)]
    acts = [a for a in acts if a not in (None, "identity", "linear")]
    cfg = RunConfig(data=data, hidden=[d.units for d in dense[:-1]] or [64],
                    activation=acts[0] if acts else "relu", optimizer=optimizer,
                    dropout=drop.rate if drop is not None else 0.0,
                    batch_norm=any(isinstance(layer, BatchNorm) for layer in model.layers),
                    normalize=norm.mode if norm is not None else "none",
                    pca_components=norm.n_components if norm is not None else None)
    return cfg
