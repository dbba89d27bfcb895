"""Snapshot ensembles on a cyclic schedule against one model

The KIT notes (001_55bdccef08b64fc2.txt): "instead of training independent models, use multiple
snapshots of a single model during training! Use cyclic learning rates to make it work even
better". `gk.callbacks.SnapshotEnsemble(5, lr_max=...)` restarts a cosine learning rate five
times in one run and keeps the weights at the end of each cycle; its `predict_proba` averages the
snapshots' probabilities. Against it stands one model trained by the same SGD (momentum 0.9) for
the same epochs on one cosine decay from the same peak (`gk.schedules.get("cosine", ...)`), on 150
digits (`gk.data.load("digits")`), 64-256-10 ReLU. With a high peak (η = 0.5) each restart throws
the weights out of their minimum into another: the snapshots' average beats every snapshot and
the one model, as the notes promise. With a low peak (η = 0.05) the snapshots sit in one
basin and the first ones are undertrained: the ensemble is worse than the one model. Averaging
probabilities never does worse than the members' mean loss (Jensen's inequality), but it is the
snapshots' diversity that makes it win; and on this small problem the gentle single run is
better than either high-rate run, which the figure shows too.
"""

from __future__ import annotations

import math

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "snapshot_ensemble.png"
EPOCHS, CYCLES = 40, 5


class RateTrace(gk.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rates = []

    def on_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.lr))


def network(optimizer):
    model = gk.Sequential([gk.layers.Dense(256, activation="relu"), gk.layers.Dense(10)])
    model.compile(optimizer=optimizer, loss="cross_entropy", metrics=["accuracy"])
    return model


def log_loss(p, y):
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def run(peak, data, seed):
    X_train, y_train, X_val, y_val = data
    model = network(gk.optim.SGD(lr=peak, momentum=0.9))
    snap, trace = gk.callbacks.SnapshotEnsemble(CYCLES, lr_max=peak), RateTrace()
    model.fit(X_train, y_train, batch_size=32, epochs=EPOCHS, seed=seed, verbose=0,
              callbacks=[snap, trace])
    members = []
    for weights in snap.snapshots:
        model.set_weights(weights)
        members.append(model.predict_proba(X_val))
    ensemble = snap.predict_proba(X_val)
    steps = EPOCHS * math.ceil(len(X_train) / 32)
    single = network(gk.optim.SGD(lr=gk.schedules.get("cosine", initial=peak, steps=steps),
                                  momentum=0.9))
    single.fit(X_train, y_train, batch_size=32, epochs=EPOCHS, seed=seed, verbose=0)
    labels = np.array([p.argmax(axis=1) for p in members])
    return {
        "members": [log_loss(p, y_val) for p in members],
        "ensemble": log_loss(ensemble, y_val),
        "single": log_loss(single.predict_proba(X_val), y_val),
        "ensemble_accuracy": float(np.mean(ensemble.argmax(axis=1) == y_val)),
        "single_accuracy": float(np.mean(single.predict_proba(X_val).argmax(axis=1) == y_val)),
        "disagreement": float(np.mean(labels != labels[-1])),
        "rates": trace.rates,
    }


def main(fast=False, out_dir=None):
    X_train, y_train, X_val, y_val, _, _, _ = digits(seed=0, n_train=150)
    data = (X_train, y_train, X_val, y_val)
    seeds = [0] if fast else [0, 1, 2]
    peaks = {"high": 0.5, "low": 0.05}
    runs = {name: [run(peak, data, s) for s in seeds] for name, peak in peaks.items()}

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(19, 4.8))
    ax = axes[0]
    for name, peak in peaks.items():
        rates = runs[name][0]["rates"]
        ax.plot(np.arange(len(rates)) / (len(rates) / EPOCHS), rates, label=f"peak η = {peak}")
    for k in range(1, CYCLES + 1):
        ax.axvline(k * EPOCHS / CYCLES, color="k", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (dotted: a snapshot is kept)")
    ax.set_ylabel("learning rate")
    ax.set_title(f"SnapshotEnsemble: {CYCLES} cosine cycles")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    for ax, (name, peak) in zip(axes[1:], peaks.items()):
        r = runs[name][0]
        xs = np.arange(CYCLES)
        ax.bar(xs, r["members"], color="tab:grey", label="snapshot k alone")
        ax.bar([CYCLES + 0.5], [r["ensemble"]], color="tab:green",
               label=f"average of the {CYCLES} snapshots")
        ax.bar([CYCLES + 1.5], [r["single"]], color="tab:blue",
               label="one model, one cosine decay")
        ax.set_xticks(list(xs) + [CYCLES + 0.5, CYCLES + 1.5])
        ax.set_xticklabels([f"{k + 1}" for k in xs] + ["ensemble", "single"])
        ax.set_ylabel("validation log-loss")
        ax.set_title(f"peak η = {peak}: snapshots differ from the last on "
                     f"{r['disagreement']:.0%} of labels", fontsize=11)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3, axis="y")
    top = max(max(r["members"] + [r["single"]]) for rs in runs.values() for r in rs)
    for ax in axes[1:]:
        ax.set_ylim(0, top * 1.3)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    def mean(name, key):
        return float(np.mean([r[key] for r in runs[name]]))

    figures = {"seeds": seeds}
    for name, peak in peaks.items():
        figures[f"{name}_peak"] = peak
        figures[f"{name}_members_val_loss"] = runs[name][0]["members"]
        figures[f"{name}_best_member_val_loss"] = float(
            np.mean([min(r["members"]) for r in runs[name]]))
        figures[f"{name}_members_mean_val_loss"] = float(
            np.mean([np.mean(r["members"]) for r in runs[name]]))
        for key in ("ensemble", "single", "ensemble_accuracy", "single_accuracy",
                    "disagreement"):
            figures[f"{name}_{key}" + ("_val_loss" if key in ("ensemble", "single") else "")] = \
                mean(name, key)
    return show("Snapshot ensembles", figures)


if __name__ == "__main__":
    main()
