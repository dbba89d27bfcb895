"""Cross-entropy against squared error on a saturated sigmoid

The MIPT notes (002_7a1911faa9f7a81a.txt) show why a sigmoid output is trained with
cross-entropy: for ŷ = σ(z), z = w x + b, the gradients are ∂L_CE/∂w = x(ŷ − y) and ∂L_MSE/∂w =
x(ŷ − y) σ'(z), so with squared error "learning starts to slow down (saturation)" where σ'(z) ≈
0. The slide says this happens when the weighted input is "close to 1"; σ'(1) = 0.197 is far
from 0: it is |z| ≫ 1 that saturates (σ'(4) = 0.018, σ'(−6) = 0.0025), and this figure says so.
Left: ∂L/∂z of both losses against z for target y = 0, each computed by gradkit's reverse mode
(`loss.backward()` on `gk.nn.losses.BinaryCrossEntropy` and on ½(σ(z) − y)²), with the notes'
closed forms checked against them. Right: the notes' source example (Nielsen, chapter 3), one
neuron with x = 1 starting from w = b = 2 (ŷ = 0.98 when y = 0 is wanted), trained by
`gk.optim.SGD` with η = 0.15: cross-entropy falls at once, squared error creeps along its plateau
for many epochs before it learns.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "saturation.png"


def dloss_dz(loss_name, z, target):
    """∂L/∂z at every z by backward(): L is cross-entropy from logits or ½(σ(z) − y)²."""
    zt = gk.tensor(z, requires_grad=True, dtype=np.float64)
    t = np.full(z.shape, float(target))
    if loss_name == "cross_entropy":
        loss = gk.nn.losses.BinaryCrossEntropy(reduction="sum")(zt[:, None], t[:, None])
    else:
        d = gk.sigmoid(zt) - t
        loss = (d * d * 0.5).sum()
    loss.backward()
    return zt.grad


def train_neuron(loss_name, epochs, lr=0.15):
    """Nielsen's neuron: x = 1, y = 0, w = b = 2; returns the output after each epoch."""
    w = gk.nn.Parameter(np.array(2.0))
    b = gk.nn.Parameter(np.array(2.0))
    opt = gk.optim.SGD([w, b], lr=lr)
    outputs = []
    for _ in range(epochs):
        opt.zero_grad()
        z = w * 1.0 + b
        if loss_name == "cross_entropy":
            loss = gk.nn.losses.BinaryCrossEntropy()(z.reshape(1, 1), np.zeros((1, 1)))
        else:
            d = gk.sigmoid(z) - 0.0
            loss = d * d * 0.5
        loss.backward()
        opt.step()
        outputs.append(float(gk.sigmoid(w * 1.0 + b).data))
    return outputs


def main(fast=False, out_dir=None):
    z = np.linspace(-8, 8, 321)
    sig = 1 / (1 + np.exp(-z))
    g_ce, g_mse = dloss_dz("cross_entropy", z, 0), dloss_dz("mse", z, 0)
    closed_ce, closed_mse = sig - 0, (sig - 0) * sig * (1 - sig)
    error = float(max(np.abs(g_ce - closed_ce).max(), np.abs(g_mse - closed_mse).max()))

    epochs = 150 if fast else 300
    ce, mse = train_neuron("cross_entropy", epochs), train_neuron("mse", epochs)

    def at(z0):
        i = int(np.argmin(np.abs(z - z0)))
        return float(g_ce[i]), float(g_mse[i])

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    ax.plot(z, g_ce, label="cross-entropy: ŷ − y")
    ax.plot(z, g_mse, label="squared error: (ŷ − y) σ'(z)")
    ax.plot(z, sig * (1 - sig), ":", color="grey", label="σ'(z)")
    ax.axvspan(2.5, 8, color="tab:red", alpha=0.08)
    ax.annotate("saturated and wrong (y = 0, ŷ → 1):\nsquared error's gradient vanishes",
                (4.5, 0.35), fontsize=9, ha="center")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.annotate("z = 1 (the slide's 'close to 1'):\nσ'(1) = 0.197, not saturated",
                xy=(1.0, 0.197), xytext=(-7.8, 0.55), fontsize=8,
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_xlabel("weighted input z")
    ax.set_ylabel("∂L/∂z (target y = 0), from backward()")
    ax.set_title("Gradient reaching z through a sigmoid output")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)

    ax = axes[1]
    ax.plot(range(1, epochs + 1), ce, label="cross-entropy")
    ax.plot(range(1, epochs + 1), mse, label="squared error")
    ax.set_xlabel("epoch (η = 0.15)")
    ax.set_ylabel("output ŷ (target 0)")
    ax.set_ylim(0, 1)
    ax.set_title("One neuron, x = 1, from w = b = 2 (ŷ = 0.98), target 0")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "max_abs_error_backward_vs_notes_formulas": error,
        "dL_dz_at_z=4_cross_entropy_mse": list(at(4.0)),
        "dL_dz_at_z=1_cross_entropy_mse": list(at(1.0)),
        "sigmoid_derivative_at_1": float(np.exp(-1) / (1 + np.exp(-1)) ** 2),
        "sigmoid_derivative_at_4": float(np.exp(-4) / (1 + np.exp(-4)) ** 2),
        "output_after_30_epochs_cross_entropy": ce[29],
        "output_after_30_epochs_mse": mse[29],
        "final_output_cross_entropy": ce[-1],
        "final_output_mse": mse[-1],
    }
    return show("Cross-entropy vs squared error on a saturated sigmoid", figures)


if __name__ == "__main__":
    main()
