"""Overfitting, and four cures: L2, dropout, early stopping, ensembles

"Better optimization algorithms help reduce training loss, but we really care about error on new
data — how to reduce the gap?" (001_55bdccef08b64fc2.txt). A 2-256-256-2 ReLU network trained with
Adam on 200 noisy points of the built-in `gk.data.load("moons")` (noise 0.35) learns the noise: its
training loss keeps falling while the validation loss, after its minimum, climbs — "at some point
the loss on test data will become worse than on the training data" (004_b03d6a67b28a555f.txt; the
high-variance column of the bias/variance table in 003_0e0d53c6182edb6a.txt). The cures of the notes
(002_7a1911faa9f7a81a.txt: "early stopping: stop training once validation error starts to increase",
"L2 regularization", "dropout"; 001: "model ensembles … enjoy 2% extra accuracy") as gradkit spells
them: `gk.layers.Dense(..., kernel_regularizer=gk.regularizers.l2(1e-3))`, `gk.layers.Dropout(0.5)`
after each hidden layer, `fit(..., callbacks=[gk.callbacks.EarlyStopping(patience=20,
restore_best=True)])`, and `gk.practice.Ensemble` averaging the predicted probabilities of five
unregularized networks trained from different seeds. Top: the learning curves and the final
train/validation losses (the gap is the overfitting); bottom: the decision boundaries — the
unregularized network draws islands around single noisy points; L2, dropout and early stopping draw
smoother ones; the ensemble of unregularized networks improves on its average member (lower
validation loss) but keeps their islands.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import plane_grid, pyplot, save, show

PNG = "overfitting.png"
METHODS = ["none", "L2", "dropout", "early stopping", "ensemble"]


def network(kind, *, width):
    layers = []
    for _ in range(2):
        reg = gk.regularizers.l2(1e-3) if kind == "L2" else None
        layers.append(gk.layers.Dense(width, activation="relu", init="he_normal",
                                      kernel_regularizer=reg))
        if kind == "dropout":
            layers.append(gk.layers.Dropout(0.5))
    model = gk.Sequential(layers + [gk.layers.Dense(2)])
    model.compile(optimizer=gk.optim.Adam(3e-3), loss="cross_entropy", metrics=["accuracy"])
    return model


def main(fast=False, out_dir=None):
    ds = gk.data.load("moons", n_samples=500 if fast else 1000, noise=0.35, seed=0)
    train, val, test = gk.data.train_val_test_split(ds, val=0.4, test=0.4, seed=0)
    epochs = 100 if fast else 300
    members = 3 if fast else 5
    width = 128 if fast else 256
    fit_args = dict(batch_size=32, epochs=epochs, verbose=0, validation_data=(val.X, val.y))

    models, histories = {}, {}
    for kind in ["none", "L2", "dropout"]:
        models[kind] = network(kind, width=width)
        histories[kind] = models[kind].fit(train.X, train.y, seed=0, **fit_args)
    stopper = gk.callbacks.EarlyStopping(patience=20, restore_best=True)
    models["early stopping"] = network("none", width=width)
    histories["early stopping"] = models["early stopping"].fit(
        train.X, train.y, seed=0, callbacks=[stopper], **fit_args)
    others = [network("none", width=width) for _ in range(members - 1)]
    for k, m in enumerate(others):
        m.fit(train.X, train.y, seed=k + 1, **fit_args)
    models["ensemble"] = gk.practice.Ensemble([models["none"], *others])

    results = {}
    for kind, model in models.items():
        results[kind] = {"train": model.evaluate(train.X, train.y, return_dict=True),
                         "val": model.evaluate(val.X, val.y, return_dict=True),
                         "test": model.evaluate(test.X, test.y, return_dict=True)}
    member_val = [m.evaluate(val.X, val.y, return_dict=True) for m in models["ensemble"].models]
    member_test = [m.evaluate(test.X, test.y, return_dict=True) for m in models["ensemble"].models]

    plt = pyplot()
    fig = plt.figure(figsize=(21, 10))
    rows = fig.add_gridspec(2, 1, height_ratios=[1, 0.95], hspace=0.3)
    top = rows[0].subgridspec(1, 2, wspace=0.2)
    bottom = rows[1].subgridspec(1, 5, wspace=0.3)
    ax = fig.add_subplot(top[0, 0])
    e = np.arange(1, epochs + 1)
    h = histories["none"].history
    ax.plot(e, h["loss"], color="tab:blue", label="no regularization: training loss")
    ax.plot(e, h["val_loss"], color="tab:blue", ls="--", label="no regularization: validation")
    for kind, color in (("L2", "tab:orange"), ("dropout", "tab:green")):
        ax.plot(e, histories[kind].history["val_loss"], color=color, ls="--",
                label=f"{kind}: validation loss")
    best = stopper.best_epoch + 1
    stopped = stopper.stopped_epoch + 1 if stopper.stopped_epoch else epochs
    ax.axvline(best, color="tab:red", lw=1)
    ax.plot(best, stopper.best, "o", color="tab:red",
            label=f"early stopping: best epoch {best}, stopped at {stopped}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"Learning curves: {len(train)} training points, 2-{width}-{width}-2 ReLU, "
                 "Adam")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")

    ax = fig.add_subplot(top[0, 1])
    x = np.arange(len(METHODS))
    tr = [results[k]["train"]["loss"] for k in METHODS]
    va = [results[k]["val"]["loss"] for k in METHODS]
    ax.bar(x - 0.2, tr, 0.4, label="training loss", color="tab:blue")
    ax.bar(x + 0.2, va, 0.4, label="validation loss", color="tab:orange")
    for k, kind in enumerate(METHODS):
        acc = results[kind]["test"]["accuracy"]
        ax.text(k, max(tr[k], va[k]) + 0.02, f"gap {va[k] - tr[k]:.2f}\ntest acc {acc:.1%}",
                ha="center", fontsize=9)
    ax.set_xticks(x, [f"{k}\n({members} nets)" if k == "ensemble" else k for k in METHODS])
    ax.set_ylim(0, max(va) * 1.3)
    ax.set_ylabel("cross-entropy at the end of training")
    ax.set_title("The train/validation gap, and what each cure does to it")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, axis="y")

    xx, yy, pts = plane_grid(ds.X, n=100 if fast else 250, margin=0.3)
    for k, kind in enumerate(METHODS):
        ax = fig.add_subplot(bottom[0, k])
        p = models[kind].predict_proba(pts)[:, 1].reshape(xx.shape)
        ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.2)
        for c, color in ((0, "tab:blue"), (1, "tab:red")):
            m = train.y == c
            ax.scatter(train.X[m, 0], train.X[m, 1], s=10, color=color, edgecolors="k",
                       linewidths=0.3, label=f"training, class {c}")
        ax.set_title(f"{kind if kind != 'none' else 'no regularization'}:\n"
                     f"test accuracy {results[kind]['test']['accuracy']:.1%}")
        ax.set_xlabel("x0")
        if k == 0:
            ax.set_ylabel("x1")
            ax.plot([], [], color="k", label="decision boundary")
            ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    fig.suptitle("Overfitting on noisy moons (gk.data.load('moons', noise=0.35)) and its cures",
                 fontsize=13)
    save(fig, out_dir, PNG)

    figures = {}
    for kind in METHODS:
        r = results[kind]
        key = kind.replace(" ", "_")
        figures[f"{key}_train_loss"] = r["train"]["loss"]
        figures[f"{key}_val_loss"] = r["val"]["loss"]
        figures[f"{key}_gap"] = r["val"]["loss"] - r["train"]["loss"]
        figures[f"{key}_test_accuracy"] = r["test"]["accuracy"]
    figures["none_min_val_loss"] = float(min(histories["none"].history["val_loss"]))
    figures["none_epoch_of_min_val_loss"] = int(np.argmin(h["val_loss"])) + 1
    figures["early_stopping_best_epoch"] = best
    figures["early_stopping_stopped_epoch"] = stopped
    figures["ensemble_members_mean_val_loss"] = float(np.mean([m["loss"] for m in member_val]))
    figures["ensemble_members_mean_test_accuracy"] = float(np.mean([m["accuracy"]
                                                                    for m in member_test]))
    return show("Overfitting", figures)


if __name__ == "__main__":
    main()
