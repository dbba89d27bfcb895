"""Initialization: activation statistics layer by layer

The KIT lecture (001_55bdccef08b64fc2.txt) runs a 6-layer tanh network on zero-mean, unit-variance
inputs and plots each layer's activations: with weights of std 0.01 "all activations tend to zero
for deeper networks — no gradients", with larger weights "most activations are saturated — vanishing
gradients", with Xavier's 1/√D_in they are "nicely scaled for all layers"; for ReLU, Xavier lets the
activations "again go to 0" and He's correction keeps them "nicely balanced". MLHEP
(000_dc4e091d961bec1d.txt) derives the variances (Var(Σ x_i w_i) = Var(x)·n·Var(w), so Var(w) = 1/n;
×2 for ReLU) and MIPT and EPFL (002_7a1911faa9f7a81a.txt, 003_0e0d53c6182edb6a.txt) give the same
recipes. Here six `gk.layers.Dense(512, activation=...)` layers are built with
`init=gk.initializers.RandomNormal(std=0.01)`, `RandomNormal(std=0.2)`, `"glorot_normal"` or
`"he_normal"`, and `gk.practice.layer_stats(model, X)` measures each layer's outputs on a batch of
standard-normal inputs (std, share of saturated tanh outputs |h| > 0.99, share of dead ReLUs). (The
slide's "too large" std 0.05 at width 4096 gives the same pre-activation scale, 0.05·√4096 ≈ 3, as
std 0.2 at width 512.) Top rows: histograms of every layer's outputs (tanh on [−1, 1]; ReLU: the
positive outputs on a log scale, the zeros counted in the legend); bottom row: the standard
deviation per layer.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "initialization.png"
INITS = {
    "std 0.01": lambda: gk.initializers.RandomNormal(std=0.01),
    "std 0.2": lambda: gk.initializers.RandomNormal(std=0.2),
    "Glorot (Xavier)": lambda: "glorot_normal",
    "He": lambda: "he_normal",
}
ACTIVATIONS = ("tanh", "relu")
DEPTH = 6


def network(activation, init, width):
    return gk.Sequential([gk.layers.Dense(width, activation=activation, init=init())
                          for _ in range(DEPTH)])


def outputs_per_layer(model, X):
    """Every layer's output on X (no graph)."""
    outs, h = [], gk.tensor(X)
    with gk.no_grad():
        for layer in model.layers:
            h = layer(h)
            outs.append(h.numpy().ravel())
    return outs


def main(fast=False, out_dir=None):
    width = 512
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256 if fast else 1000, width)).astype(np.float32)
    stats, outs = {}, {}
    for act in ACTIVATIONS:
        for label, init in INITS.items():
            model = network(act, init, width)
            model.build((width,), seed=0)
            stats[act, label] = gk.practice.layer_stats(model, X)
            outs[act, label] = outputs_per_layer(model, X)

    plt = pyplot()
    fig, axes = plt.subplots(3, 4, figsize=(18, 11.5))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, DEPTH))
    for row, act in enumerate(ACTIVATIONS):
        for col, label in enumerate(INITS):
            ax = axes[row, col]
            layers = outs[act, label]
            if act == "tanh":
                bins = np.linspace(-1, 1, 51)
                for k, h in enumerate(layers):
                    ax.hist(h, bins=bins, histtype="step", color=colors[k], lw=1.4,
                            weights=np.full(h.size, 1 / h.size), label=f"layer {k + 1}")
                ax.set_xlabel("tanh output")
                sat = stats[act, label][DEPTH - 1].saturated
                ax.set_title(f"tanh, {label}\nlast layer: std {layers[-1].std():.2g}, "
                             f"saturated {sat:.0%}", fontsize=10)
            else:
                pos = [h[h > 0] for h in layers]
                lo = max(min(p.min() for p in pos if p.size), 1e-12)
                hi = max(p.max() for p in pos if p.size)
                bins = np.geomspace(lo, hi, 51)
                for k, (h, p) in enumerate(zip(layers, pos)):
                    ax.hist(p, bins=bins, histtype="step", color=colors[k], lw=1.4,
                            weights=np.full(p.size, 1 / h.size), label=f"layer {k + 1}")
                ax.set_xscale("log")
                ax.set_xlabel("ReLU output (> 0, log scale)")
                zeros = np.mean([1 - p.size / h.size for h, p in zip(layers, pos)])
                ax.set_title(f"ReLU, {label}: std layer 1 {layers[0].std():.2g}, "
                             f"layer 6 {layers[-1].std():.2g}\n(zeros, not shown: "
                             f"{zeros:.0%} of the outputs)", fontsize=10)
            if col == 0:
                ax.set_ylabel("fraction of outputs")
            ax.grid(alpha=0.3)
    for k, act in enumerate(ACTIVATIONS):
        ax = plt.subplot2grid((3, 4), (2, 2 * k), colspan=2, fig=fig)
        axes[2, 2 * k].remove()
        axes[2, 2 * k + 1].remove()
        for label in INITS:
            ax.plot(range(1, DEPTH + 1), [s.std for s in stats[act, label]], "o-", label=label)
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel("std of the layer's outputs (log scale)")
        ax.set_title(f"{act}: spread of the activations, layer by layer")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=DEPTH, fontsize=9,
               bbox_to_anchor=(0.99, 0.975), title="histogram colour")
    fig.suptitle(f"Six Dense({width}) layers on standard-normal inputs: activation "
                 "statistics by initialization (gk.practice.layer_stats)", fontsize=13, x=0.3,
                 y=0.985)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save(fig, out_dir, PNG)

    figures = {}
    for act in ACTIVATIONS:
        for label in INITS:
            key = f"{act}_{label.split(' (')[0].replace(' ', '').replace('.', '')}"
            s = stats[act, label]
            figures[f"{key}_std_per_layer"] = [float(f"{x.std:.3g}") for x in s]
            if act == "tanh":
                figures[f"{key}_saturated_last_layer"] = float(s[DEPTH - 1].saturated)
            else:
                figures[f"{key}_dead_last_layer"] = float(s[DEPTH - 1].dead)
    return show("Initialization", figures)


if __name__ == "__main__":
    main()
