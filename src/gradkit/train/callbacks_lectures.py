"""EPFL's early-stopping rule: stop after M successive increases of the averaged validation error.

The EPFL notes (003) state the rule "early stopping of training after M successive increases in
validation error" with the averaged error Ē_n = (1/n) Σᵢ₌₁ⁿ Eᵢ beside it, and mark it "not
recommended" (it is easily fooled by noise, and stops late); `EarlyStopping` (patience on the
best value, Keras's rule) is the usual choice. This one is here so the lecture's rule can be run
and compared.
"""

from __future__ import annotations

import math

from gradkit.train.callbacks import Callback, _monitored


class SuccessiveIncreaseStopping(Callback):
    """Stop once the averaged `monitor` has risen at `increases` (M) successive epochs.

    The average after epoch n is Ē_n = mean(E₁ … E_n), the notes' running mean (window=None),
    or the mean of the last `window` values (a moving average). An epoch counts as an increase
    when Ē_n > Ē_{n−1}; any epoch that is not resets the count.

    Args:
        monitor: the logged value E (default "val_loss"; lower is better).
        increases: M ≥ 1, successive increases that stop training (default 3).
        window: None for the running mean of every epoch so far, or a positive integer.
        restore_best: put back the weights of the epoch with the lowest E at the end.

    Attributes after `fit`: averages (Ē per epoch), stopped_epoch (0-based, or None),
    best_epoch (lowest E).
    """

    def __init__(self, monitor="val_loss", *, increases=3, window=None, restore_best=True):
        if isinstance(increases, bool) or not isinstance(increases, int) or increases < 1:
            raise ValueError(f"increases must be a positive integer, got increases={increases!r}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window < 1):
            raise ValueError(f"window must be None or a positive integer, got window={window!r}")
        self.monitor, self.increases, self.window = monitor, increases, window
        self.restore_best = bool(restore_best)

    def on_train_begin(self, logs=None):
        self.values, self.averages, self.run = [], [], 0
        self.best, self.best_epoch, self.best_weights, self.stopped_epoch = (
            math.inf, None, None, None)

    def on_epoch_end(self, epoch, logs=None):
        value = float(_monitored(logs, self.monitor, "SuccessiveIncreaseStopping"))
        self.values.append(value)
        recent = self.values if self.window is None else self.values[-self.window:]
        average = sum(recent) / len(recent)
        rose = bool(self.averages) and average > self.averages[-1]
        self.averages.append(average)
        self.run = self.run + 1 if rose else 0
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self.best_weights = self.model.get_weights()
        if self.run >= self.increases:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if (logs or {}).get("diverged"):
            return      # TrainingDiverged promises the weights from before the failed step
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
