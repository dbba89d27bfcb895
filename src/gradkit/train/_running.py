"""The compiled metrics added up batch by batch: Keras's running values over the epoch so far
(what a batch's logs hold) and what a fit on a Stream reports for an epoch."""

from __future__ import annotations

import numpy as np

from gradkit._moments import Moments
from gradkit.train import metrics as metrics_mod


def adds_up(fn):
    """Whether a metric has a form that adds up exactly over batches."""
    return fn in metrics_mod.ROW_MEANS or fn is metrics_mod.r2


class RunningMetrics:
    """The model's metrics that add up (`adds_up`), over the rows added so far.

    Row means (accuracy, MSE, ...) keep their row-weighted sum and the row count; R² keeps
    the residual sum of squares with the targets' count, mean and squared deviations merged
    pairwise (`gradkit._moments`). `sums` maps each name to those four numbers: JSON, which a
    checkpoint keeps.
    """

    def __init__(self, model, sums=None):
        self.model = model
        logits = model.cuts_at_zero()
        self.fns = [(name, fn, metrics_mod.bind(fn, logits=logits))
                    for name, fn in model.metrics if adds_up(fn)]
        self.sums = sums if sums is not None else {name: [0.0, 0.0, 0.0, 0.0]
                                                   for name, _, _ in self.fns}

    def add(self, y, out):
        """Add a batch: labels `y` and outputs `out` as the loss read them."""
        if not self.fns:
            return
        scores = self.model.metric_outputs(out)
        for name, fn, bound in self.fns:
            acc = self.sums[name]
            if fn is metrics_mod.r2:
                _merge_moments(acc, y, scores)
            else:
                acc[0] += float(bound(y, scores)) * len(y)
                acc[1] += len(y)

    def values(self):
        """{name: value} over the rows added so far."""
        out = {}
        for name, fn, _ in self.fns:
            acc = self.sums[name]
            if fn is metrics_mod.r2:
                out[name] = 1.0 - acc[0] / acc[3] if acc[3] > 0 else 0.0
            else:
                out[name] = acc[0] / max(acc[1], 1)
        return out


def _merge_moments(acc, y, scores):
    """acc = [residual sum of squares, count, mean, squared deviations] with a batch added:
    the targets' moments merged as `Moments` merges them, kept as JSON numbers."""
    t = np.asarray(y, np.float64).reshape(-1)
    d = np.asarray(scores, np.float64).reshape(-1) - t
    moments = Moments(1)
    moments.count, moments.mean[0], moments.m2[0] = int(acc[1]), acc[2], acc[3]
    moments.add(t[:, None])
    acc[0] += float(np.sum(d * d))
    acc[1], acc[2], acc[3] = moments.count, float(moments.mean[0]), float(moments.m2[0])
