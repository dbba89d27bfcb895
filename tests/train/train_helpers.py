"""Helpers the training tests share (a module, not conftest: conftest is not importable)."""

import numpy as np

import gradkit as gk


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
