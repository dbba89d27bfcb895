"""Linear regions of ReLU networks: the notes' hyperplane counting (004), bound and measured.

A ReLU unit is a hyperplane w·x + b = 0 that cuts the input space in two; on each side the unit is
linear. s hyperplanes in general position cut d-dimensional space into at most

    Σ_{n=0}^{d} C(s, n)  pieces                 (10 cuts in 2-D: 56; 40 cuts in 10-D: 1,221,246,132)

which is also the most linear regions one layer of s ReLUs can make. For deeper networks each
layer cuts every region of the layers before it again, and the bound of Serra, Tjandraatmadja &
Ramalingam (2018, Theorem 1), for n_0 inputs and layers of n_1, …, n_L units, is

    Σ_{(j_1..j_L) ∈ J} Π_l C(n_l, j_l),
    J: 0 ≤ j_l ≤ min(n_0, n_1 − j_1, …, n_{l−1} − j_{l−1}, n_l) for every layer l,

which is the formula above for one layer. The measured count walks a grid of 2-D inputs and counts
distinct activation patterns (which units are on): inside one region the pattern is constant, and
the set of inputs sharing a pattern is convex, so each pattern is one region. A grid can miss
regions thinner than its spacing, so the count is a lower bound that grows with `resolution`.
"""

from __future__ import annotations

import math

import numpy as np

import gradkit.autograd as ag
from gradkit.autograd import Tensor, no_grad
from gradkit.nn.layers import Activation, Dense, PReLU
from gradkit.practice.plots import _figures, _save

# Activations that are piecewise linear with a kink at 0: their on/off pattern marks a region.
_PIECEWISE = {"relu", "leaky_relu", "prelu"}


def upper_bound(units, d):
    """The most linear regions a ReLU network can cut d-dimensional input space into.

    Args:
        units: s, the units of one layer (= hyperplanes), or a list of units per layer.
        d: the input dimension.

    >>> upper_bound(10, 2), upper_bound(40, 2), upper_bound(10, 10), upper_bound(40, 10)
    (56, 821, 1024, 1221246132)
    >>> upper_bound([10, 10], 2)      # two layers of 10 in the plane
    3136
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
        raise ValueError(f"d must be a non-negative integer, got d={d!r}")
    layers = [units] if isinstance(units, (int, np.integer)) else list(units)
    if not layers or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0
                         for n in layers):
        raise ValueError(f"units must be a non-negative integer or a non-empty list of them, "
                         f"got units={units!r}")
    # ways[cap] = Σ over the j's chosen so far of Π C(n_l, j_l), where cap is the bound on the
    # next j: min(n_0, n_1 − j_1, …). Exact integers throughout.
    ways = {int(d): 1}
    for n in (int(n) for n in layers):
        nxt = {}
        for cap, count in ways.items():
            for j in range(min(cap, n) + 1):
                key = min(cap, n - j)
                nxt[key] = nxt.get(key, 0) + count * math.comb(n, j)
        ways = nxt
    return sum(ways.values())


def _grid(grid_range, resolution):
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got resolution={resolution!r}")
    r = np.asarray(grid_range, dtype=np.float64)
    if r.shape == (2,):
        r = np.stack([r, r])
    if r.shape != (2, 2) or not np.all(r[:, 0] < r[:, 1]):
        raise ValueError("grid_range must be (low, high) or ((x_low, x_high), (y_low, y_high)) "
                         f"with low < high, got {grid_range!r}")
    xs = np.linspace(r[0, 0], r[0, 1], resolution)
    ys = np.linspace(r[1, 0], r[1, 1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)


def activation_patterns(model, X):
    """(samples, units) booleans: which piecewise-linear units are on (pre-activation > 0).

    Only Dense layers with relu / leaky_relu, and Activation / PReLU layers after them, count;
    other layers are applied as they are.
    """
    bits = []
    model.eval()
    x = Tensor(np.asarray(X, dtype=np.float32))
    with no_grad():
        for layer in model.layers:
            if isinstance(layer, Dense) and layer.activation_name in _PIECEWISE:
                z = ag.linear(x, layer.W, layer.b)
                bits.append(z.data > 0)
                x = layer.activation(z)
            elif isinstance(layer, (Activation, PReLU)):
                name = "prelu" if isinstance(layer, PReLU) else layer.activation_name
                if name in _PIECEWISE:
                    bits.append(x.data > 0)
                x = layer.forward(x)
            else:
                x = layer.forward(x)
    if not bits:
        raise ValueError("the model has no ReLU-like units (relu, leaky_relu, PReLU): every "
                         "input is in one linear region")
    return np.concatenate([b.reshape(len(X), -1) for b in bits], axis=1)


def _pattern_ids(patterns):
    packed = np.packbits(patterns, axis=1)
    rows = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))
    _, ids = np.unique(rows.ravel(), return_inverse=True)
    return ids.reshape(-1)


def count_regions(model, grid_range=(-1.0, 1.0), resolution=400):
    """Linear regions of `model` seen on a resolution × resolution grid of 2-D inputs.

    Args:
        model: a Sequential on 2 inputs whose hidden layers are ReLU-like.
        grid_range: (low, high) for both axes, or ((x_low, x_high), (y_low, y_high)).
        resolution: grid points per axis, default 400.

    Returns the number of distinct activation patterns on the grid (a lower bound on the regions
    in that window).
    """
    _, _, points = _grid(grid_range, resolution)
    if not model.built:
        model.build((2,))
    if tuple(model.input_shape) != (2,):
        raise ValueError(f"count_regions needs a model on 2-D inputs, this one takes "
                         f"{tuple(model.input_shape)}")
    return int(_pattern_ids(activation_patterns(model, points)).max() + 1)


def plot_decision_boundary(model, X, y, path, *, resolution=300, regions=False, title=None,
                           margin=0.5):
    """The predicted class over the plane, the data on top, for a classifier on 2-D inputs.

    Args:
        model: a trained classifier (softmax or sigmoid outputs) on 2 features.
        X, y: the points to draw (2 columns) and their labels (class indices).
        path: the PNG to write.
        resolution: grid points per axis.
        regions: also draw the borders of the linear regions (ReLU networks).
        margin: space around the data, in input units.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D inputs (2 columns), got {X.shape}")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy, points = _grid(((lo[0], hi[0]), (lo[1], hi[1])), resolution)
    logits = model.predict(points)
    if logits.ndim == 1 or logits.shape[1] == 1:
        pred = (logits.reshape(-1) > 0).astype(np.int64)
        n_classes = 2
    else:
        pred = np.argmax(logits, axis=1)
        n_classes = logits.shape[1]
    plt = _figures()
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(gx, gy, pred.reshape(gx.shape), levels=levels, cmap=cmap, alpha=0.25,
                vmin=-0.5, vmax=cmap.N - 0.5)
    ax.contour(gx, gy, pred.reshape(gx.shape), levels=levels, colors="k", linewidths=1.0)
    if regions:
        ids = _pattern_ids(activation_patterns(model, points)).reshape(gx.shape)
        edge = np.zeros(gx.shape, dtype=bool)
        edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
        edge[1:, :] |= ids[1:, :] != ids[:-1, :]
        ax.imshow(np.ma.masked_where(~edge, edge.astype(float)), origin="lower",
                  extent=(lo[0], hi[0], lo[1], hi[1]), cmap="Greys", vmin=0, vmax=2,
                  interpolation="nearest", aspect="auto", alpha=0.8)
        ax.plot([], [], color="gray", lw=0.6, label=f"linear regions ({ids.max() + 1})")
    names = getattr(model, "class_names", None)
    for c in np.unique(y):
        mask = y == c
        label = names[int(c)] if names is not None and int(c) < len(names) else f"class {c}"
        ax.scatter(X[mask, 0], X[mask, 1], s=12, color=cmap(int(c) % cmap.N),
                   edgecolors="k", linewidths=0.3, label=str(label))
    ax.plot([], [], color="k", lw=1.0, label="decision boundary")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.set_title(title or "Decision boundary")
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)


__all__ = ["activation_patterns", "count_regions", "plot_decision_boundary", "upper_bound"]
