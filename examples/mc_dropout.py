"""Test-time dropout averaging: N sampled masks against the scaled network

The KIT notes (001_55bdccef08b64fc2.txt) give two ways to use a dropout network at test time:
"average over multiple dropout masks (computationally expensive but quite robust)", or run every
unit once with the weights scaled by the keep probability (what `model.predict` does: gradkit's
inverted dropout scales in training instead). The MLHEP notes (000_dc4e091d961bec1d.txt) call
dropout "an ensemble of exponentially large number of smaller networks". A 64-256-256-10 ReLU
network with `gk.layers.Dropout(0.5)` after each hidden layer (128 wide in the fast run) is trained
on the digits; `gk.practice.predict_mc_dropout(model, X, n=N)` then predicts with N masks drawn as
in training and returns their mean and spread. Left: the test log-loss and accuracy of the average
of N masks improve with N, one mask alone being much worse; the scaled network, one pass, does as
well (its log-loss as low or lower, in the fast and the full run): the notes' cheap rule is no
worse on this network. Right: the spread of the N = 100 (fast: 50) predictions (the standard
deviation of the winning class's probability) is larger on the test digits the network gets wrong
than on those it gets right, so the masks' disagreement flags doubtful predictions.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "mc_dropout.png"


def log_loss(p, y):
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def main(fast=False, out_dir=None):
    X_train, y_train, _, _, X_test, y_test, _ = digits(seed=0)
    width = 128 if fast else 256
    model = gk.Sequential([
        gk.layers.Dense(width, activation="relu"), gk.layers.Dropout(0.5),
        gk.layers.Dense(width, activation="relu"), gk.layers.Dropout(0.5),
        gk.layers.Dense(10),
    ])
    model.compile(optimizer=gk.optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit(X_train, y_train, batch_size=32, epochs=8 if fast else 30, seed=0, verbose=0)
    scaled = model.predict_proba(X_test)

    n_max = 50 if fast else 100
    mc = gk.practice.predict_mc_dropout(model, X_test, n=n_max, seed=0)
    counts = [n for n in (1, 2, 5, 10, 20, 50, 100) if n <= n_max]
    losses = [log_loss(mc.samples[:n].mean(axis=0), y_test) for n in counts]
    accuracies = [float(np.mean(mc.samples[:n].mean(axis=0).argmax(axis=1) == y_test))
                  for n in counts]
    winner = mc.mean.argmax(axis=1)
    spread = mc.std[np.arange(len(winner)), winner]
    right = winner == y_test

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    ax = axes[0]
    ax.plot(counts, losses, "o-", color="tab:blue", label="log-loss, mean of N masks")
    ax.axhline(log_loss(scaled, y_test), color="tab:blue", ls="--",
               label="log-loss, scaled network (predict)")
    ax.set_xscale("log")
    ax.set_xlabel("N masks averaged")
    ax.set_ylabel("test log-loss")
    twin = ax.twinx()
    twin.plot(counts, accuracies, "s-", color="tab:orange", label="accuracy, mean of N masks")
    twin.axhline(float(np.mean(scaled.argmax(axis=1) == y_test)), color="tab:orange", ls="--",
                 label="accuracy, scaled network")
    twin.set_ylabel("test accuracy")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    ax.set_title("Averaging over dropout masks")
    ax.grid(alpha=0.3)

    ax = axes[1]
    bins = np.linspace(0, max(spread.max(), 1e-3), 25)
    ax.hist(spread[right], bins=bins, density=True, alpha=0.6,
            label=f"right ({right.sum()}): mean {spread[right].mean():.3f}")
    ax.hist(spread[~right], bins=bins, density=True, alpha=0.6,
            label=f"wrong ({(~right).sum()}): mean {spread[~right].mean():.3f}")
    ax.set_xlabel(f"std over {n_max} masks of the predicted class's probability")
    ax.set_ylabel("density")
    ax.set_title("The masks disagree more where the network is wrong")
    ax.legend(fontsize=9)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "masks": counts,
        "mc_log_loss": losses,
        "mc_accuracy": accuracies,
        "scaled_log_loss": log_loss(scaled, y_test),
        "scaled_accuracy": float(np.mean(scaled.argmax(axis=1) == y_test)),
        "spread_right": float(spread[right].mean()),
        "spread_wrong": float(spread[~right].mean()),
    }
    return show("Test-time dropout averaging", figures)


if __name__ == "__main__":
    main()
