"""Linear regions: shallow (20 units) against deep (2 × 10)

A ReLU unit cuts the input space with a hyperplane, and a ReLU network is linear on each piece
(004_b03d6a67b28a555f.txt, "Cutting hyperplanes"): s cuts in d dimensions make at most Σ_{n≤d} C(s,
n) pieces — the slide's 56 (10 cuts in 2-D), 821, 1024 and 1,221,246,132 are
`gk.practice.linear_regions.upper_bound`. The slide's figure (Montúfar et al.) compares a shallow
model with 20 hidden units against a deep one with two layers of 10: "more complicated boundaries
can be described with the same number of nodes … deep is better than large"; the EPFL notes
(003_0e0d53c6182edb6a.txt) say the same of "deeper and narrow". Here both networks
(`gk.layers.Dense(20, activation="relu")` against two `Dense(10, activation="relu")`) are trained
with `fit` on the 2-D built-in `gk.data.load("spirals")` from several seeds. The panels draw the
decision boundary (black) and the borders of the linear regions (grey) of the first seed, and the
region counts of every seed, measured by `gk.practice.linear_regions.count_regions` (distinct on/off
patterns of the ReLUs on a grid over the data). The deep network is more accurate and, on average,
cuts the plane into more pieces — far below both bounds (211 for the shallow one, 3136 for the deep
one), as trained networks usually are.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import plane_grid, pyplot, save, show

PNG = "linear_regions.png"
regions = gk.practice.linear_regions
SHAPES = {"shallow (20)": [20], "deep (10, 10)": [10, 10]}


def train(hidden, X, y, *, seed, epochs):
    model = gk.Sequential([gk.layers.Dense(h, activation="relu", init="he_normal")
                           for h in hidden] + [gk.layers.Dense(2)])
    model.compile(optimizer=gk.optim.Adam(0.02), loss="cross_entropy", metrics=["accuracy"])
    model.fit(X, y, batch_size=32, epochs=epochs, seed=seed, verbose=0)
    return model


def region_ids(model, points):
    """An integer per point naming its linear region (its ReLU on/off pattern)."""
    patterns = np.packbits(regions.activation_patterns(model, points), axis=1)
    _, ids = np.unique(patterns, axis=0, return_inverse=True)
    return ids.reshape(-1)


def main(fast=False, out_dir=None):
    ds = gk.data.load("spirals", n_samples=300 if fast else 400, noise=0.05, seed=0)
    X, y = ds.X, ds.y
    xx, yy, points = plane_grid(X, n=200 if fast else 400, margin=0.3)
    box = ((xx.min(), xx.max()), (yy.min(), yy.max()))
    seeds = range(6 if fast else 8)
    epochs = 40 if fast else 150
    models, counts, accs = {}, {}, {}
    for label, hidden in SHAPES.items():
        models[label] = [train(hidden, X, y, seed=s, epochs=epochs) for s in seeds]
        counts[label] = [regions.count_regions(m, box, resolution=xx.shape[0])
                         for m in models[label]]
        accs[label] = [m.evaluate(X, y, return_dict=True)["accuracy"] for m in models[label]]

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, (label, hidden) in zip(axes, SHAPES.items()):
        model = models[label][0]
        pred = np.argmax(model.predict(points), axis=1).reshape(xx.shape)
        ids = region_ids(model, points).reshape(xx.shape)
        edge = np.zeros(xx.shape, dtype=bool)
        edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
        edge[1:, :] |= ids[1:, :] != ids[:-1, :]
        ax.contourf(xx, yy, pred, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:red"],
                    alpha=0.18)
        ax.contour(xx, yy, edge.astype(float), levels=[0.5], colors="grey", linewidths=0.4)
        ax.contour(xx, yy, pred, levels=[0.5], colors="k", linewidths=1.5)
        for c, color in ((0, "tab:blue"), (1, "tab:red")):
            ax.scatter(X[y == c, 0], X[y == c, 1], s=8, color=color, edgecolors="k",
                       linewidths=0.2, label=f"class {c}")
        ax.plot([], [], color="k", label="decision boundary")
        ax.plot([], [], color="grey", lw=0.6, label=f"linear regions: {counts[label][0]}")
        ax.set_title(f"{label}: {sum(hidden)} ReLUs, accuracy {accs[label][0]:.1%}\n"
                     f"bound Σ C(s, n): {regions.upper_bound(hidden, 2)} regions")
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    ax = axes[2]
    for k, label in enumerate(SHAPES):
        ax.scatter(np.full(len(seeds), k) + np.linspace(-0.12, 0.12, len(seeds)), counts[label],
                   s=30, label=f"{label}: mean {np.mean(counts[label]):.0f} regions, "
                               f"accuracy {np.mean(accs[label]):.1%}")
        ax.hlines(np.mean(counts[label]), k - 0.25, k + 0.25, color="k")
    ax.set_xticks(range(len(SHAPES)), list(SHAPES))
    ax.set_xlim(-0.6, len(SHAPES) - 0.4)
    ax.set_ylabel("linear regions over the plotted window")
    ax.set_title(f"Counts for {len(seeds)} seeds (bar: mean)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "slide_bounds_10_40_cuts_in_2d_10d": [regions.upper_bound(s, d)
                                              for d in (2, 10) for s in (10, 40)],
        "bound_shallow_20": regions.upper_bound([20], 2),
        "bound_deep_10_10": regions.upper_bound([10, 10], 2),
        "regions_shallow_per_seed": counts["shallow (20)"],
        "regions_deep_per_seed": counts["deep (10, 10)"],
        "mean_regions_shallow": float(np.mean(counts["shallow (20)"])),
        "mean_regions_deep": float(np.mean(counts["deep (10, 10)"])),
        "mean_accuracy_shallow": float(np.mean(accs["shallow (20)"])),
        "mean_accuracy_deep": float(np.mean(accs["deep (10, 10)"])),
    }
    return show("Linear regions", figures)


if __name__ == "__main__":
    main()
