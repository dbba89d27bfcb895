"""Test-time averaging over dropout masks (Monte-Carlo dropout).

The KIT notes (001) give two ways to test a network trained with dropout: "average over multiple
dropout masks (computationally expensive but quite robust)", or use every unit once with the
weights scaled (what `predict` does; inverted dropout folds the scaling into training). This is
the first: N forward passes with freshly drawn masks, their mean as the prediction and their
spread as a measure of the model's uncertainty (Gal & Ghahramani 2016).

    mc = predict_mc_dropout(model, X, n=50, seed=0)
    mc.mean, mc.std, mc.samples          # (N, classes), (N, classes), (n, N, classes)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradkit.autograd import Tensor, no_grad
from gradkit.nn.layers.regularization import DropConnect, Dropout


@dataclass
class MCDropoutPrediction:
    """`samples`: the n passes' outputs; `mean`, `std`: over the passes (axis 0).

    Outputs are probabilities for a classifier (softmax or sigmoid of each pass's logits:
    the masks' predictions are averaged, not their logits) and raw outputs otherwise.
    """

    samples: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    multilabel: bool = False

    def predict_classes(self):
        """The class of the averaged probabilities (0/1 per label for a sigmoid output)."""
        if self.multilabel or self.mean.shape[-1] == 1:
            return (self.mean > 0.5).astype(np.int64)
        return np.argmax(self.mean, axis=-1)


def _dropout_layers(model):
    return [m for m in model.modules() if isinstance(m, (Dropout, DropConnect))]


def predict_mc_dropout(model, X, *, n=30, seed=None, batch_size=1024):
    """n predictions of `model` on X with dropout masks drawn as in training, and their mean/std.

    Only Dropout and DropConnect layers draw masks; everything else (batch norm's running
    statistics, noise layers) runs as in `predict`. The model's modes and generators are put
    back afterwards. `seed` makes the masks reproducible (None: the layers' own generators).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    if not getattr(model, "built", False):
        raise RuntimeError("predict_mc_dropout needs a trained or built model")
    layers = _dropout_layers(model)
    if not layers:
        raise ValueError("predict_mc_dropout needs a model with Dropout or DropConnect layers; "
                         "this one has none, so every pass would give the same prediction")
    X = np.asarray(X, dtype=np.float32)
    kind = getattr(getattr(model, "loss", None), "output", None)
    modes = [(m, m.training) for m in model.modules()]
    rngs = [(layer, layer.rng) for layer in layers]
    try:
        model.eval()
        if seed is not None:
            children = np.random.SeedSequence(seed).spawn(len(layers))
            for layer, child in zip(layers, children):
                layer.rng = np.random.default_rng(child)
        for layer in layers:
            layer.training = True
        passes = []
        with no_grad():
            for _ in range(n):
                out = np.concatenate([model.forward(Tensor(X[i:i + batch_size])).data
                                      for i in range(0, len(X), batch_size)])
                passes.append(_as_output(out, kind))
    finally:
        for module, mode in modes:
            module.training = mode
        for layer, rng in rngs:
            layer.rng = rng
    samples = np.stack(passes)
    return MCDropoutPrediction(samples=samples, mean=samples.mean(axis=0),
                               std=samples.std(axis=0), multilabel=kind == "sigmoid")


def _as_output(logits, kind):
    logits = logits.astype(np.float64)
    if kind == "softmax":
        z = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    if kind == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * logits))      # σ(z), finite for any z
    return logits
