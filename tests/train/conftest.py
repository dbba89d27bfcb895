"""Shared fixtures of the training tests.

Any RuntimeWarning is an error here (NumPy's overflow / invalid value / division by zero, and
gradkit's own), as in the other packages' suites; a test that expects one says so with
`pytest.warns`.
"""

import pathlib
import types

import numpy as np
import pytest

import gradkit as gk

_HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))


@pytest.fixture
def toy():
    """120 rows, 4 features, 3 classes that a small MLP separates well."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    return X, y


@pytest.fixture
def make_mlp():
    """Factory: a compiled Dense(hidden, relu) [-> Dropout] -> Dense(out) classifier."""

    def make(out=3, *, hidden=16, dropout=None, optimizer=None, loss="cross_entropy",
             metrics=("accuracy",)):
        layers = [gk.layers.Dense(hidden, activation="relu")]
        if dropout:
            layers.append(gk.layers.Dropout(dropout))
        layers.append(gk.layers.Dense(out))
        model = gk.Sequential(layers)
        model.compile(optimizer or gk.optim.Adam(1e-2), loss, list(metrics))
        return model

    return make


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y.astype(np.int64)


def weights_equal(a, b):
    """Bit-identical lists of arrays."""
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


class Recorder(gk.callbacks.Callback):
    """Copies of the weights before every batch and at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.before_batch, self.epoch_end, self.lrs = [], [], []

    def on_batch_begin(self, batch, logs=None):
        self.before_batch.append(self.model.get_weights())
        self.lrs.append(float(self.model.optimizer.lr))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append(self.model.get_weights())


class Scripted(gk.callbacks.Callback):
    """Overwrites logs[key] at each epoch end with the next scripted value."""

    def __init__(self, key, values):
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Interrupt(Exception):
    """What InterruptAfter raises: a crash between two training steps."""


class InterruptAfter(gk.callbacks.Callback):
    """Raises Interrupt after `steps` training steps, like a crash between two steps."""

    def __init__(self, steps):
        self.steps, self.seen = steps, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            raise Interrupt


def mlp_logits(weights, X):
    """NumPy forward pass of Dense(relu) -> Dense from get_weights() (W1, b1, W2, b2), float64."""
    W1, b1, W2, b2 = (np.asarray(w, np.float64) for w in weights)
    h = np.maximum(np.asarray(X, np.float64) @ W1 + b1, 0.0)
    return h @ W2 + b2


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(logits, labels):
    """Per-sample -log softmax(z)[label]."""
    return -log_softmax(logits)[np.arange(len(labels)), labels]


@pytest.fixture
def helpers():
    """The helpers above, for the tests (with --import-mode=importlib a test cannot import
    this file, nor a module beside it)."""
    return types.SimpleNamespace(weights_equal=weights_equal, Recorder=Recorder,
                                 Scripted=Scripted, mlp_logits=mlp_logits,
                                 log_softmax=log_softmax, cross_entropy=cross_entropy,
                                 Interrupt=Interrupt, InterruptAfter=InterruptAfter)
