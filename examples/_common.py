"""Shared helpers of the gallery scripts: where figures go, how they are saved, the digits split.

Every gallery script has `main(fast=False, out_dir=None)`: it writes one PNG (named by the
script's `PNG`), prints the numbers it shows, and returns a dict of its figures of merit.
`fast=True` shrinks data and epochs so that the test suite can run every script in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGES = Path(__file__).resolve().parent / "images"
DPI = 100


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_dir, name):
    """Save `fig` as out_dir/name (default folder: examples/images) and close it; the path."""
    folder = Path(out_dir) if out_dir is not None else IMAGES
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    print(f"wrote {path}")
    return path


def show(title, figures):
    """Print a script's figures of merit, one per line, and return them."""
    print(title)
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"  {key}: {value}")
    return figures


def digits(*, seed=0, n_train=None, val=0.2, test=0.2):
    """The digits set (8x8 images), split and scaled as the notes scale their images.

    The notes feed Fashion-MNIST as x / 255 - 0.5; digits' pixels run from 0 to 16, so x / 16 - 0.5.
    Returns (X_train, y_train, X_val, y_val, X_test, y_test, dataset); `n_train` keeps only the
    first rows of the (shuffled, stratified) training split.
    """
    import gradkit as gk

    ds = gk.data.load("digits")
    train, valid, tst = gk.data.train_val_test_split(ds, val=val, test=test, seed=seed)
    scale = np.float32(1 / 16)

    def prep(part):
        return part.X * scale - np.float32(0.5), part.y

    X_train, y_train = prep(train)
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    return (X_train, y_train, *prep(valid), *prep(tst), ds)


def plane_grid(X, n=200, margin=0.5):
    """A regular n x n grid over the bounding box of the 2-D points X (plus a margin)."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def moving_average(values, window):
    """gradkit's moving average of a noisy curve (gk.practice.plots.moving_average)."""
    from gradkit.practice.plots import moving_average as ma

    return ma(values, window)
