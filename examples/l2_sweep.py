"""A sweep of the L2 strength: training and validation loss against λ

The notes add λ·penalty(θ) to the loss (KIT 001_55bdccef08b64fc2.txt: argmin Σ l(xᵢ, θ) + λ
penalty(θ); EPFL 003_0e0d53c6182edb6a.txt: C̃ = C + αΩ(W) with Ω(W) = ‖W‖² "drives weights closer
to zero"; MIPT 002_7a1911faa9f7a81a.txt: L2), and KIT's recipe searches the weight decay on a
grid. Here a 64-128-10 ReLU network is trained on only 100 digits (`gk.data.load("digits")`, so it
can overfit) with `kernel_regularizer=gk.regularizers.l2(λ)` on both layers, for each λ on a
logarithmic grid, the same seed and epochs each time. The training loss (the data term alone,
from `model.evaluate`) rises steadily with λ: the penalty trades fit for small weights. The
validation loss is U-shaped: too little λ overfits (near-zero training loss, high validation
loss), too much underfits (both high, up to ln 10 = 2.30 where the weights are squeezed to
zero), and the best λ lies between. The gap between the two curves closes as λ grows.
"""

from __future__ import annotations

import math

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "l2_sweep.png"


def train(lam, data, epochs):
    X_train, y_train, X_val, y_val = data
    reg = gk.regularizers.l2(lam) if lam else None
    model = gk.Sequential([
        gk.layers.Dense(128, activation="relu", kernel_regularizer=reg),
        gk.layers.Dense(10, kernel_regularizer=reg),
    ])
    model.compile(optimizer=gk.optim.Adam(0.01), loss="cross_entropy", metrics=["accuracy"])
    model.fit(X_train, y_train, batch_size=32, epochs=epochs, seed=0, verbose=0)
    return tuple({**model.evaluate(X, y, return_dict=True), "loss": data_term(model, X, y)}
                 for X, y in ((X_train, y_train), (X_val, y_val)))


def data_term(model, X, y):
    """The cross-entropy alone: the sweep compares the fit to the data across λ, and
    `evaluate`'s loss includes the L2 penalty (as Keras's does)."""
    return float(gk.losses.value(model.loss, gk.tensor(model.predict(X)), y).data)


def main(fast=False, out_dir=None):
    X_train, y_train, X_val, y_val, _, _, _ = digits(seed=0, n_train=100)
    lambdas = [0.0, 1e-4, 1e-3, 1e-2, 1e-1] if fast else \
        [0.0, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    epochs = 150
    results = [train(lam, (X_train, y_train, X_val, y_val), epochs) for lam in lambdas]
    train_loss = [r[0]["loss"] for r in results]
    val_loss = [r[1]["loss"] for r in results]
    val_acc = [r[1]["accuracy"] for r in results]
    best = int(np.argmin(val_loss))

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    # λ = 0 has no place on a log axis: it is drawn a decade left of the smallest λ > 0.
    xs = [lambdas[1] / 10 if lam == 0 else lam for lam in lambdas]
    ax.plot(xs, train_loss, "o-", label="training loss (data term)")
    ax.plot(xs, val_loss, "s-", label="validation loss")
    ax.plot(xs[best], val_loss[best], "*", ms=16, color="tab:red",
            label=f"best λ = {lambdas[best]:g} (validation accuracy {val_acc[best]:.1%})")
    ax.axhline(math.log(10), color="grey", ls="--", lw=1, label="ln 10: uniform guess")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(["0"] + [f"{lam:g}" for lam in lambdas[1:]], rotation=45)
    ax.set_xlabel("L2 strength λ")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"64-128-10 ReLU on 100 digits, {epochs} epochs: overfit ← λ → underfit")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "lambdas": lambdas,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
        "best_lambda": lambdas[best],
    }
    return show("L2 sweep", figures)


if __name__ == "__main__":
    main()
