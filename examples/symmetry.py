"""Zero initialization keeps units identical; stacked linear layers collapse to one

The MLHEP notes (000_dc4e091d961bec1d.txt) ask "will stacking linear functions improve
quality?" and answer no: σ(Σⱼ wⱼᵒ(Σᵢ wᵢⱼʰ xᵢ + bⱼʰ) + bᵒ) is the single model σ(Σᵢ w′ᵢ xᵢ + b′)
with w′ᵢ = Σⱼ wⱼᵒ wᵢⱼʰ and b′ = Σⱼ wⱼᵒ bⱼʰ + bᵒ. They then show that hidden units started
alike "will always get the same updates" ("need to break symmetry!"); the KIT notes
(001_55bdccef08b64fc2.txt) say the same ("all the gradients are the same! Network can never
learn distinct features"), and the EPFL notes (003_0e0d53c6182edb6a.txt) "do not initialize w
to be zero". On the moons set (`gk.data.load("moons")`), panel 1 trains a 2-8-1 tanh network
(`gk.layers.Dense(8, activation="tanh", init=...)`) from three starts and plots the first input
weight of each of the 8 hidden units by epoch: from zeros nothing but the output bias ever moves
(tanh(0) = 0 blocks every weight gradient), from a constant 0.3 the 8 units move but stay one
curve, from Glorot-uniform random weights they spread. Panel 2 compares the decision boundaries.
Panel 3 trains 2-16-16-1 with no activations and folds its three matrices into the notes' w′, b′:
the folded single unit reproduces the stacked network's outputs to float precision, and its
boundary is a straight line, as good as one trained `gk.layers.Dense(1)` and no better.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import plane_grid, pyplot, save, show

PNG = "symmetry.png"
STARTS = {"zeros": gk.initializers.Zeros(), "constant 0.3": gk.initializers.Constant(0.3),
          "random (Glorot)": "glorot_uniform"}


class FirstWeights(gk.callbacks.Callback):
    """Each hidden unit's first input weight at every epoch end."""

    def on_train_begin(self, logs=None):
        self.rows = [self.model.layers[0].W.data[0].copy()]

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append(self.model.layers[0].W.data[0].copy())


def fit_net(layers, ds, epochs, callbacks=()):
    model = gk.Sequential(layers)
    model.compile(optimizer=gk.optim.Adam(0.05), loss="binary_cross_entropy",
                  metrics=["accuracy"])
    model.fit(ds.X, ds.y.astype(np.float32), batch_size=32, epochs=epochs, seed=0, verbose=0,
              callbacks=list(callbacks))
    return model


def accuracy(model, ds):
    return float(np.mean((model.predict(ds.X).reshape(-1) > 0) == (ds.y == 1)))


def main(fast=False, out_dir=None):
    ds = gk.data.load("moons", n_samples=200 if fast else 500, noise=0.15, seed=0)
    epochs = 40 if fast else 120
    nets, traces = {}, {}
    for name, init in STARTS.items():
        trace = FirstWeights()
        nets[name] = fit_net([gk.layers.Dense(8, activation="tanh", init=init),
                              gk.layers.Dense(1, init=init)], ds, epochs, [trace])
        traces[name] = np.array(trace.rows)
    spread = {n: float(np.ptp(nets[n].layers[0].W.data, axis=1).max()) for n in STARTS}

    stacked = fit_net([gk.layers.Dense(16), gk.layers.Dense(16), gk.layers.Dense(1)], ds, epochs)
    (W1, b1), (W2, b2), (W3, b3) = [(layer.W.data.astype(np.float64),
                                     layer.b.data.astype(np.float64)) for layer in stacked.layers]
    w_folded = W1 @ W2 @ W3                         # w′ = Σⱼ wⱼᵒ wᵢⱼʰ, twice
    b_folded = (b1 @ W2 + b2) @ W3 + b3             # b′ = Σⱼ wⱼᵒ bⱼʰ + bᵒ, twice
    folded = ds.X.astype(np.float64) @ w_folded + b_folded
    fold_error = float(np.abs(folded - stacked.predict(ds.X)).max())
    single = fit_net([gk.layers.Dense(1)], ds, epochs)

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(19, 5))
    ax = axes[0]
    styles = {"zeros": ":", "constant 0.3": "--", "random (Glorot)": "-"}
    colors = {"zeros": "k", "constant 0.3": "tab:red", "random (Glorot)": "tab:blue"}
    for name, rows in traces.items():
        for j in range(rows.shape[1]):
            ax.plot(rows[:, j], styles[name], color=colors[name], lw=1,
                    label=f"{name}: spread {spread[name]:.3g}" if j == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("first input weight of each of the 8 hidden units")
    ax.set_title("Symmetric starts stay symmetric")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    xx, yy, pts = plane_grid(ds.X, n=200, margin=0.3)
    ax = axes[1]
    for name, model in nets.items():
        z = model.predict(pts).reshape(xx.shape)
        if np.ptp(z) > 0:
            ax.contour(xx, yy, z, levels=[0.0], colors=colors[name], linestyles=styles[name])
        ax.plot([], [], styles[name], color=colors[name],
                label=f"{name}: accuracy {accuracy(model, ds):.0%}")
    scatter(ax, ds)
    ax.set_title("2-8-1 tanh network: decision boundaries")
    ax.legend(fontsize=8, loc="lower left", framealpha=0.9)

    ax = axes[2]
    for model, color, label in ((stacked, "tab:purple", "2-16-16-1, no activation"),
                                (single, "tab:green", "one Dense(1)")):
        ax.contour(xx, yy, model.predict(pts).reshape(xx.shape), levels=[0.0], colors=color)
        ax.plot([], [], color=color, label=f"{label}: accuracy {accuracy(model, ds):.0%}")
    scatter(ax, ds)
    ax.set_title(f"Stacked linear = one linear unit (fold error {fold_error:.1e})")
    ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "hidden_unit_spread": spread,
        "zeros_weights_moved": float(np.abs(nets["zeros"].layers[0].W.data).max()),
        "accuracy": {n: accuracy(m, ds) for n, m in nets.items()},
        "stacked_linear_fold_max_error": fold_error,
        "stacked_linear_accuracy": accuracy(stacked, ds),
        "single_linear_accuracy": accuracy(single, ds),
    }
    return show("Symmetry and stacked linear layers", figures)


def scatter(ax, ds):
    for c, color in ((0, "tab:blue"), (1, "tab:red")):
        ax.scatter(ds.X[ds.y == c, 0], ds.X[ds.y == c, 1], s=8, color=color, alpha=0.5)


if __name__ == "__main__":
    main()
