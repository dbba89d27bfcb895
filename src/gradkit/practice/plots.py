"""Figures for runs: learning curves and confusion matrices (matplotlib's object API, lazy)."""

from __future__ import annotations

import types

import numpy as np

from gradkit._atomic import atomic_write


def _figures():
    """The few pyplot calls gradkit's figures make, on matplotlib's object API instead.

    A `Figure` made directly is drawn by the Agg canvas its `savefig` picks, so gradkit chooses
    no backend and leaves pyplot's state alone: the user's backend (a notebook's, an
    `MPLBACKEND`) stays theirs, and no figure stays open in pyplot's list.
    """
    import matplotlib
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    def subplots(nrows=1, ncols=1, *, figsize=None, constrained_layout=None, **kwargs):
        fig = Figure(figsize=figsize, layout="constrained" if constrained_layout else None)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    return types.SimpleNamespace(figure=Figure, subplots=subplots, Normalize=Normalize,
                                 get_cmap=lambda name: matplotlib.colormaps[name])


def _save(fig, path):
    """Write the figure atomically: a temporary file in the same folder, then os.replace."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))


def moving_average(values, window):
    """Mean of the last `window` values at each point (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def learning_curves(history, path, *, metric=None, title="Learning curves"):
    """Loss per batch (points and moving average) and per epoch (train and validation), and the
    metric per epoch — the two views the notes tell you to watch."""
    plt = _figures()
    from matplotlib.ticker import MaxNLocator

    h = history.history
    epochs = np.arange(1, len(history.epoch) + 1)
    batch = np.asarray(history.batch_loss, dtype=np.float64)
    ncols = 2 if metric and metric in h else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.5 * ncols, 4.5), squeeze=False)
    ax = axes[0, 0]
    if len(batch):
        steps_per_epoch = len(batch) / max(len(epochs), 1)
        x = np.arange(1, len(batch) + 1) / steps_per_epoch
        ax.plot(x, batch, ".", ms=2, alpha=0.25, color="tab:blue", label="train loss (batch)")
        window = max(1, int(steps_per_epoch // 4) or 1)
        ax.plot(x, moving_average(batch, window), color="tab:blue", lw=1,
                label=f"train loss (moving average of {window} batches)")
    ax.plot(epochs, h["loss"], "o-", color="tab:orange", label="train loss (epoch)")
    if "val_loss" in h:
        ax.plot(epochs, h["val_loss"], "s-", color="tab:green", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if len(batch) and np.all(batch > 0) and batch.max() / max(batch.min(), 1e-12) > 50:
        ax.set_yscale("log")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if ncols == 2:
        ax = axes[0, 1]
        ax.plot(epochs, h[metric], "o-", color="tab:orange", label=f"train {metric}")
        if f"val_{metric}" in h:
            ax.plot(epochs, h[f"val_{metric}"], "s-", color="tab:green",
                    label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


# Above this many classes a confusion matrix is a picture of n² cells nobody can read, and
# drawing it costs minutes: a tick label per class, an image of n² cells resampled in float64
# (10,000 classes: 10,000 labels on each axis and 800 MB per copy of the image).
MAX_CONFUSION_CLASSES = 100


def confusion_matrix(cm, class_names, path, *, title="Confusion matrix (test split)"):
    """Counts of true class (rows) against predicted class (columns), annotated up to 30
    classes. Draws nothing and returns False above `MAX_CONFUSION_CLASSES` classes (the
    caller says so); True once written."""
    cm = np.asarray(cm)
    n = len(cm)
    if n > MAX_CONFUSION_CLASSES:
        return False
    plt = _figures()
    size = min(4 + 0.45 * n, 14)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="samples")
    labels = [str(c) for c in class_names] if class_names else [str(i) for i in range(n)]
    ax.set_xticks(range(n), labels, rotation=45 if max(map(len, labels)) > 3 else 0, ha="right"
                  if max(map(len, labels)) > 3 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:
        top = cm.max() if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > top / 2 else "black")
    ax.set_title(title)
    _save(fig, path)
    return True


__all__ = ["learning_curves", "confusion_matrix", "moving_average"]
