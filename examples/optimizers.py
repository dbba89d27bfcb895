"""Optimizers: the canyon and the digits

Plain gradient descent is slow in a "canyon", a loss that "changes quickly in one direction and
slowly in another: very slow progress along the shallow dimension, jitter along the steep one"
(001_55bdccef08b64fc2.txt); momentum ("remember the last step", 004_b03d6a67b28a555f.txt) damps the
jitter and builds up speed along the floor; Nesterov evaluates the gradient at the look-ahead point;
Adagrad, RMSProp and Adam scale each coordinate by its own gradient history
(002_7a1911faa9f7a81a.txt, 003_0e0d53c6182edb6a.txt). Top: the quadratic canyon f(θ) = ½(0.1 θ₁² + 5
θ₂²) (condition number 50) minimized from (−8, 1) by `gk.optim.SGD`, `Momentum(form="velocity",
gamma=0.9)`, `Nesterov(gamma=0.9)`, `Adagrad`, `RMSProp` and `Adam`, each bound to one
`gk.nn.Parameter` (an optimizer binds to anything with `.data` and `.grad`) and each with the
learning rate, from a grid, that gets f below 10⁻³ for good in the fewest steps. Bottom left: f per
step (with a constant rate RMSProp and Adam end up hovering instead of converging, the reason for
learning-rate decay). Bottom right: the same six optimizers training a 64-64-10 ReLU network on
digits with `model.compile(optimizer=...)`; the three gradient-descent flavours share η = 0.01
(momentum's velocity form then steps about ten times further once it has built up), Adagrad
(the notes' form: the accumulator from 0, ε outside the root) η = 0.01 too, RMSProp and Adam
their default rate (Keras's 0.001) — the KIT slide's comparison on MNIST, where plain SGD is the slowest.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "optimizers.png"
CURVATURE = np.array([0.1, 5.0])
START = np.array([-8.0, 1.0])
TOL = 1e-3
CANYON = {
    "SGD": lambda p, lr: gk.optim.SGD(p, lr=lr),
    "Momentum": lambda p, lr: gk.optim.Momentum(p, lr=lr, gamma=0.9, form="velocity"),
    "Nesterov": lambda p, lr: gk.optim.Nesterov(p, lr=lr, gamma=0.9),
    "Adagrad": lambda p, lr: gk.optim.Adagrad(p, lr=lr),
    "RMSProp": lambda p, lr: gk.optim.RMSProp(p, lr=lr),
    "Adam": lambda p, lr: gk.optim.Adam(p, lr=lr),
}
DIGITS = {
    "SGD": lambda: gk.optim.SGD(0.01),
    "Momentum": lambda: gk.optim.Momentum(0.01, gamma=0.9, form="velocity"),
    "Nesterov": lambda: gk.optim.Nesterov(0.01, gamma=0.9),
    # The notes' Adagrad (c from 0, ε outside the root); made this way, Adagrad is Keras's.
    "Adagrad": lambda: gk.optim.Adagrad(0.01, initial_accumulator=0.0, eps=1e-8,
                                        eps_inside_sqrt=False),
    "RMSProp": lambda: gk.optim.RMSProp(),
    "Adam": lambda: gk.optim.Adam(),
}


def canyon_run(make, lr, steps):
    """Positions and losses of `steps` updates on the canyon, and the step from which on f stays
    below TOL (passing through the tolerance on the way back up does not count)."""
    theta = gk.nn.Parameter(START.copy(), name="theta")
    opt = make([theta], lr)
    path, losses = [START.copy()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * gk.sum(theta * theta * CURVATURE)
        loss.backward()
        losses.append(loss.item())
        opt.step()
        path.append(np.array(theta.data))
    final = 0.5 * float(np.sum(CURVATURE * path[-1] ** 2))
    losses.append(final)
    losses = np.array(losses)
    above = np.flatnonzero(~(losses < TOL))          # NaN counts as above
    hit = int(above[-1]) + 1 if above.size else 0
    hit = hit if hit < len(losses) else None
    return np.array(path), losses, hit


def best_lr(make, grid, steps):
    """The grid's learning rate that gets f below TOL for good in the fewest steps."""
    results = []
    with np.errstate(over="ignore", invalid="ignore"):
        for lr in grid:
            hit = canyon_run(make, lr, steps)[2]
            results.append((hit if hit is not None else np.inf, lr))
    hit, lr = min(results)
    return lr, (None if not np.isfinite(hit) else int(hit))


def main(fast=False, out_dir=None):
    steps = 300 if fast else 500
    grid = np.logspace(-3, 0.5, 8 if fast else 15)
    canyon = {}
    for name, make in CANYON.items():
        lr, hit = best_lr(make, grid, steps)
        path, losses, _ = canyon_run(make, lr, steps)
        canyon[name] = (lr, hit, path, losses)

    X_train, y_train, X_val, y_val, *_ = digits(n_train=600 if fast else None)
    epochs = 3 if fast else 12
    curves = {}
    for name, make in DIGITS.items():
        model = gk.Sequential([gk.layers.Dense(64, activation="relu", init="he_normal"),
                               gk.layers.Dense(10)])
        model.compile(optimizer=make(), loss="cross_entropy", metrics=["accuracy"])
        h = model.fit(X_train, y_train, batch_size=32, epochs=epochs, seed=0, verbose=0,
                      validation_data=(X_val, y_val))
        curves[name] = (np.array(h.batch_loss), h.history["loss"][-1],
                        h.history["val_accuracy"][-1])

    plt = pyplot()
    from _common import moving_average

    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    xs, ys = np.meshgrid(np.linspace(-9, 1.5, 300), np.linspace(-1.6, 1.6, 200))
    f = 0.5 * (CURVATURE[0] * xs ** 2 + CURVATURE[1] * ys ** 2)
    groups = {"gradient descent, with and without momentum": ["SGD", "Momentum", "Nesterov"],
              "per-coordinate adaptive rates": ["Adagrad", "RMSProp", "Adam"]}
    colors = dict(zip(CANYON, plt.get_cmap("tab10").colors))
    for ax, (title, names) in zip(axes[0], groups.items()):
        ax.contour(xs, ys, f, levels=np.geomspace(1e-3, 20, 14), colors="grey", linewidths=0.6)
        for name in names:
            lr, hit, path, _ = canyon[name]
            shown = path[: (hit if hit is not None else len(path) - 1) + 1]
            ax.plot(shown[:, 0], shown[:, 1], ".-", ms=3, lw=1, color=colors[name],
                    label=f"{name} (η={lr:.3g}): "
                          f"{hit if hit is not None else 'more than ' + str(steps)} steps")
        ax.plot(*START, "ko", ms=6, label="start")
        ax.plot(0, 0, "k*", ms=12, label="minimum")
        ax.set_xlim(-9, 1.5)
        ax.set_ylim(-1.6, 1.6)
        ax.set_xlabel("θ₁ (shallow direction)")
        ax.set_ylabel("θ₂ (steep direction)")
        ax.set_title(f"Canyon ½(0.1 θ₁² + 5 θ₂²), {title}:\npaths until f stays below 1e-3",
                     fontsize=11)
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)

    ax = axes[1, 0]
    for name, (lr, hit, _, losses) in canyon.items():
        ax.semilogy(np.maximum(losses, 1e-12), color=colors[name], label=f"{name} (η={lr:.3g})")
    ax.axhline(TOL, color="k", ls="--", lw=1, label="tolerance 1e-3")
    ax.set_ylim(1e-8, 50)
    ax.set_xlabel("step")
    ax.set_ylabel("f(θ)")
    ax.set_title("Loss on the canyon, best η of the grid for each")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[1, 1]
    for name, (batch, final, acc) in curves.items():
        steps_per_epoch = len(batch) / epochs
        x = np.arange(1, len(batch) + 1) / steps_per_epoch
        window = max(1, int(steps_per_epoch // 2))
        ax.plot(x, moving_average(batch, window), color=colors[name],
                label=f"{name}: validation accuracy {acc:.1%}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"training loss (moving average of {window} batches)")
    ax.set_title(f"64-64-10 ReLU network on digits ({len(X_train)} training images)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {}
    for name, (lr, hit, _, _) in canyon.items():
        figures[f"canyon_steps_{name}"] = hit
        figures[f"canyon_lr_{name}"] = float(lr)
    for name, (_, final, acc) in curves.items():
        figures[f"digits_final_loss_{name}"] = float(final)
        figures[f"digits_val_accuracy_{name}"] = float(acc)
    return show("Optimizers", figures)


if __name__ == "__main__":
    main()
