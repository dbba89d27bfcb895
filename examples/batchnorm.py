"""Batch normalization on a deep sigmoid network

Sigmoid units "saturate and lead to vanishing gradients" and are "not zero-centred"
(000_dc4e091d961bec1d.txt); stack eight of them and the gradient that reaches the first layers is
tiny. Batch normalization "controls mean and variance of outputs before activations": h ← γ(h −
μ)/√σ² + β with μ, σ² from the current batch during training and their exponential moving average at
test time (000; the algorithm of 002_7a1911faa9f7a81a.txt, which adds that it is "robust to bad
initializations"). Here the same 64-8×64-10 sigmoid network is trained on digits with plain
`gk.optim.SGD(0.1)`, once as `gk.layers.Dense(64, activation="sigmoid")` layers and once as
`Dense(64, use_bias=False)` → `gk.layers.BatchNorm()` → `gk.layers.Activation("sigmoid")` (β
replaces the bias). Left: without batch norm the loss sits at ln 10, the loss of guessing, for the
whole run; with it the network learns. Right: why — the norm of the gradient of each layer's weights
at initialization (one backward pass on a batch), which without batch norm falls by orders of
magnitude from the last layer to the first.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "batchnorm.png"
DEPTH, WIDTH = 8, 64


def network(batchnorm):
    layers = []
    for _ in range(DEPTH):
        if batchnorm:
            layers += [gk.layers.Dense(WIDTH, use_bias=False), gk.layers.BatchNorm(),
                       gk.layers.Activation("sigmoid")]
        else:
            layers.append(gk.layers.Dense(WIDTH, activation="sigmoid"))
    model = gk.Sequential(layers + [gk.layers.Dense(10)])
    model.compile(optimizer=gk.optim.SGD(0.1), loss="cross_entropy", metrics=["accuracy"])
    return model


def gradient_norms(model, X, y):
    """‖∂L/∂W‖ of every Dense layer, from one forward and backward pass on (X, y)."""
    model.build(X.shape[1:], seed=0)
    loss = model.loss(model(gk.tensor(X), training=True), y)
    loss.backward()
    dense = [layer for layer in model.layers if isinstance(layer, gk.layers.Dense)]
    norms = [float(np.linalg.norm(layer.W.grad)) for layer in dense]
    model.zero_grad()
    return norms


def main(fast=False, out_dir=None):
    X_train, y_train, X_val, y_val, *_ = digits(n_train=600 if fast else None)
    epochs = 5 if fast else 15
    runs = {}
    for label, bn in (("without batch norm", False), ("with batch norm", True)):
        grads = gradient_norms(network(bn), X_train[:256], y_train[:256])
        model = network(bn)
        h = model.fit(X_train, y_train, batch_size=32, epochs=epochs, seed=0, verbose=0,
                      validation_data=(X_val, y_val))
        runs[label] = (h.history, grads, model.evaluate(X_train, y_train, return_dict=True)["loss"])

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    ax = axes[0]
    e = np.arange(1, epochs + 1)
    for (label, (hist, _, _)), color in zip(runs.items(), ("tab:blue", "tab:orange")):
        ax.plot(e, hist["loss"], "o-", color=color, label=f"{label}: training loss")
        ax.plot(e, hist["val_loss"], "s--", color=color,
                label=f"{label}: validation (accuracy {hist['val_accuracy'][-1]:.1%})")
    ax.axhline(np.log(10), color="grey", ls=":", lw=1, label="ln 10: guessing among 10 classes")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"{DEPTH} sigmoid layers of {WIDTH} on digits, SGD(0.1)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    for (label, (_, grads, _)), color in zip(runs.items(), ("tab:blue", "tab:orange")):
        ax.semilogy(range(1, len(grads) + 1), grads, "o-", color=color, label=label)
    ax.set_xlabel("Dense layer (1 = first, 9 = output)")
    ax.set_ylabel("‖∂L/∂W‖ at initialization (log scale)")
    ax.set_title("Gradient reaching each layer, before training")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {}
    for label, (hist, grads, train_loss) in runs.items():
        key = "bn" if label.startswith("with ") else "plain"
        figures[f"{key}_final_train_loss"] = float(train_loss)
        figures[f"{key}_final_val_accuracy"] = float(hist["val_accuracy"][-1])
        figures[f"{key}_grad_norm_first_over_last"] = grads[0] / grads[-1]
    return show("Batch normalization", figures)


if __name__ == "__main__":
    main()
