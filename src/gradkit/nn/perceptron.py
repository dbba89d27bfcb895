"""Rosenblatt's perceptron (1957), the first learning machine of the notes (004).

    y = θ(b + wᵀx),   θ(a) = 1 if a >= 0 else 0
    on a mistake:  w ← w + lr (t - y) x,   b ← b + lr (t - y)

The perceptron convergence theorem: on linearly separable data (AND, OR) the rule stops making
mistakes after finitely many updates. On data no hyperplane separates (XOR) every epoch makes at
least one mistake, so `fit` runs out of epochs and reports that it did not converge.
"""

from __future__ import annotations

import numpy as np


class Perceptron:
    """A single threshold unit trained with the perceptron learning rule (no gradients).

    Args:
        n_inputs: number of input features.
        lr: learning rate, > 0 (with zero initial weights any lr learns the same boundary).
        max_epochs: passes over the data before `fit` gives up.

    Attributes:
        w: weights, shape (n_inputs,), float64, zeros before `fit`. b: the bias.
        errors_: mistakes made in each epoch of the last `fit`.
        converged_: whether the last epoch of `fit` made no mistake.

    >>> p = Perceptron(2)
    >>> p.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1])   # AND
    True
    >>> p.predict([[1, 1], [0, 1]]).tolist()
    [1, 0]
    """

    def __init__(self, n_inputs, lr=1.0, max_epochs=100):
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) \
                or n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive integer, got n_inputs={n_inputs!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not lr > 0:
            raise ValueError(f"lr must be a number > 0, got lr={lr!r}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, np.integer)) \
                or max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer, got max_epochs={max_epochs!r}")
        self.n_inputs = int(n_inputs)
        self.lr = float(lr)
        self.max_epochs = int(max_epochs)
        self.w = np.zeros(self.n_inputs)
        self.b = 0.0
        self.errors_ = []
        self.converged_ = False

    def net_input(self, X):
        """b + X w for every row of X."""
        return self._check_X(X) @ self.w + self.b

    def predict(self, X):
        """θ(b + wᵀx) for every row: int array of 0s and 1s."""
        return (self.net_input(X) >= 0).astype(np.int64)

    def fit(self, X, t):
        """Sweep the samples in order, updating on each mistake, until an epoch makes none.

        Starts from zero weights. Returns True when it converged (an epoch with no mistake),
        False when `max_epochs` passed without one.
        """
        X = self._check_X(X)
        t = np.asarray(t)
        if t.shape != (X.shape[0],) or not np.all((t == 0) | (t == 1)):
            raise ValueError(f"t must hold one 0/1 label per row of X ({X.shape[0]}), got {t!r}")
        self.w = np.zeros(self.n_inputs)
        self.b = 0.0
        self.errors_ = []
        for _ in range(self.max_epochs):
            mistakes = 0
            for x, target in zip(X, t):
                y = 1 if x @ self.w + self.b >= 0 else 0
                if y != target:
                    self.w += self.lr * (target - y) * x
                    self.b += self.lr * (target - y)
                    mistakes += 1
            self.errors_.append(mistakes)
            if mistakes == 0:
                break
        self.converged_ = self.errors_[-1] == 0
        return self.converged_

    def _check_X(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have shape (samples, {self.n_inputs}), got {X.shape}")
        return X

    def get_config(self):
        return {"n_inputs": self.n_inputs, "lr": self.lr, "max_epochs": self.max_epochs}

    def __repr__(self):
        return f"Perceptron(n_inputs={self.n_inputs}, lr={self.lr}, max_epochs={self.max_epochs})"
