"""Batch size against the best learning rate

The KIT notes (001_55bdccef08b64fc2.txt) write the mini-batch step θ ← θ − (η/b) Σᵢ∈I ∇l(xᵢ; θ):
the mean over b samples, whose noise shrinks as b grows; the EPFL notes (003_0e0d53c6182edb6a.txt)
list the mini-batch size and the learning rate among the hyper-parameters to search, and DESY
(004_b03d6a67b28a555f.txt) warns that "a too large learning rate will result in jumpy or even non
converging behavior". The two are not independent. For each batch size, a 64-64-10 ReLU network is
trained on the digits (`gk.data.load("digits")`) with plain `gk.optim.SGD` for the same 3 epochs
(so larger batches take fewer steps) at every learning rate of a logarithmic grid, and the
validation loss (in the full run the mean over 3 seeds) is plotted against η; the star marks each
curve's best η. A larger batch averages away more gradient noise and takes fewer steps, so it both
tolerates and needs a larger rate: the best η grows with the batch size, by less than the
proportional "linear scaling rule" over this range, until the largest batches all meet the same
stability limit (η ≈ 1 to 2 here, above which training diverges whatever the batch).
"""

from __future__ import annotations

import math

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "batch_size_lr.png"
EPOCHS = 3


def val_loss(lr, batch_size, data, seed):
    X_train, y_train, X_val, y_val = data
    model = gk.Sequential([gk.layers.Dense(64, activation="relu"), gk.layers.Dense(10)])
    model.compile(optimizer=gk.optim.SGD(lr=float(lr)), loss="cross_entropy")
    history = model.fit(X_train, y_train, batch_size=batch_size, epochs=EPOCHS, seed=seed,
                        verbose=0, callbacks=[gk.callbacks.TerminateOnNaN(enabled=False)])
    loss = model.evaluate(X_val, y_val, return_dict=True)["loss"]
    # A diverged run is as bad as guessing, whatever the overflowed numbers say.
    if not (math.isfinite(loss) and all(map(math.isfinite, history.history["loss"]))):
        return math.log(10)
    return min(loss, math.log(10))


def main(fast=False, out_dir=None):
    X_train, y_train, X_val, y_val, _, _, _ = digits(seed=0)
    data = (X_train, y_train, X_val, y_val)
    sizes = [8, 32, 128] if fast else [8, 16, 32, 64, 128, 256, 512]
    rates = np.logspace(-2.5, 0.5, 9 if fast else 25)
    seeds = [0] if fast else [0, 1, 2]
    with np.errstate(all="ignore"):     # the largest rates overflow: that is the point
        curves = {b: [float(np.mean([val_loss(lr, b, data, s) for s in seeds]))
                      for lr in rates] for b in sizes}
    best = {b: float(rates[int(np.argmin(c))]) for b, c in curves.items()}

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    ax = axes[0]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    for color, b in zip(colors, sizes):
        ax.plot(rates, curves[b], "o-", ms=3, color=color, label=f"batch {b}")
        ax.plot(best[b], min(curves[b]), "*", ms=14, color=color, markeredgecolor="k")
    ax.axhline(math.log(10), color="grey", ls="--", lw=1, label="ln 10: guessing / diverged")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate η (plain SGD)")
    ax.set_ylabel(f"validation loss after {EPOCHS} epochs" +
                  ("" if len(seeds) == 1 else f", mean of {len(seeds)} seeds"))
    ax.set_title("Each batch size has its own best η (stars)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[1]
    ax.plot(sizes, [best[b] for b in sizes], "o-", label="best η found")
    ref = [best[sizes[0]] * b / sizes[0] for b in sizes]
    ax.plot(sizes, ref, ":", color="grey", label="linear scaling from the smallest batch")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.set_yticks(sorted(set(best.values())))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(min(best.values()) / 2, max(best.values()) * 4)
    ax.set_xlabel("batch size")
    ax.set_ylabel("best learning rate")
    ax.set_title("Larger batches want larger rates, up to a stability limit")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "seeds": seeds,
        "batch_sizes": sizes,
        "best_lr": [best[b] for b in sizes],
        "best_val_loss": [float(min(curves[b])) for b in sizes],
    }
    return show("Batch size against the best learning rate", figures)


if __name__ == "__main__":
    main()
