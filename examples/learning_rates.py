"""Learning rates: too low, good, too high, much too high; and their schedules

"If the learning rate is chosen too low: slow convergence; too high: oscillations and slow
convergence; much too high: divergence" (001_55bdccef08b64fc2.txt; the DESY notes say the same of
their learning curves, 004_b03d6a67b28a555f.txt). Left: a 64-unit tanh network on digits trained
with `gk.optim.SGD(lr)` at four rates; the training loss per epoch shows the four regimes (at η = 10
the loss jumps to hundreds and stays there). Middle: the decay schedules of the notes — step
("multiply by 0.1 at a few fixed points"), cosine ½α₀(1 + cos(tπ/T)), linear α₀(1 − t/T), inverse
square root α₀/√t (001, 002_7a1911faa9f7a81a.txt, 003_0e0d53c6182edb6a.txt) — and the cyclic rate
used for snapshot ensembles, as `gk.optim.schedules.StepDecay`, `Cosine`, `Linear`, `InverseSqrt`
and `Cyclic`, each a pure function of the step that the optimizer reads before every update
(`gk.optim.SGD(lr=schedule)`). Right: why decay ("to prevent bouncing around minimums", 002): SGD
with noisy gradients, as mini-batches give, on the quadratic canyon. At a constant rate the loss
stops falling at a noise floor proportional to the rate; every schedule that lowers the rate goes
further (the curves average five noise seeds). Which schedule is best is, as the KIT slide says,
"not clear".
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import digits, moving_average, pyplot, save, show

PNG = "learning_rates.png"
S = gk.optim.schedules
RATES = {"too low": 0.01, "good": 0.3, "too high": 3.0, "much too high": 10.0}
CURVATURE = np.array([0.1, 5.0])


def schedules(a0, T):
    """name -> (schedule, legend text)."""
    return {
        "constant": (S.Constant(a0), "constant α₀"),
        "step": (S.StepDecay(a0, [T // 2, 3 * T // 4], 0.1), "StepDecay: ×0.1 at T/2 and 3T/4"),
        "cosine": (S.Cosine(a0, T), "Cosine: ½α₀(1 + cos(πt/T))"),
        "linear": (S.Linear(a0, T), "Linear: α₀(1 − t/T)"),
        "inverse_sqrt": (S.InverseSqrt(a0, scale=T / 20), "InverseSqrt: α₀/√(1 + t/s), s = T/20"),
        "cyclic": (S.Cyclic(a0 / 20, a0, T // 8, mode="triangular2"),
                   "Cyclic: triangles, halved every cycle"),
    }


def noisy_canyon(schedule, steps, seed, noise=1.0):
    """f per step of SGD on ½(0.1 θ₁² + 5 θ₂²) with N(0, noise²) added to every gradient."""
    rng = np.random.default_rng(seed)
    theta = gk.nn.Parameter(np.array([-8.0, 1.0]))
    opt = gk.optim.SGD([theta], lr=schedule)
    losses = np.empty(steps)
    for t in range(steps):
        opt.zero_grad()
        loss = 0.5 * gk.sum(theta * theta * CURVATURE)
        loss.backward()
        theta.grad += rng.normal(0.0, noise, size=2)
        losses[t] = loss.item()
        opt.step()
    return losses


def main(fast=False, out_dir=None):
    X_train, y_train, X_val, y_val, *_ = digits(n_train=600 if fast else None)
    epochs = 5 if fast else 10
    curves = {}
    for label, lr in RATES.items():
        model = gk.Sequential([gk.layers.Dense(64, activation="tanh"), gk.layers.Dense(10)])
        model.compile(optimizer=gk.optim.SGD(lr), loss="cross_entropy", metrics=["accuracy"])
        try:
            h = model.fit(X_train, y_train, batch_size=32, epochs=epochs, seed=0, verbose=0,
                          validation_data=(X_val, y_val))
            losses = h.history["loss"]
        except gk.TrainingDiverged:
            # A non-finite loss stops fit (the weights stay those of the last good step): the
            # curve ends there, and the epoch it happened in counts as an infinite loss.
            losses = model.history.history.get("loss", []) + [np.inf]
        curves[label] = (lr, losses, model.evaluate(X_val, y_val, return_dict=True)["accuracy"])

    T = 600
    seeds = range(3 if fast else 5)
    scheds = schedules(0.3, T)
    noisy = {name: np.mean([noisy_canyon(s, T, seed) for seed in seeds], axis=0)
             for name, (s, _) in scheds.items()}
    tail = max(T // 10, 1)

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(19, 5.2))
    ax = axes[0]
    for label, (lr, losses, acc) in curves.items():
        finite = [v for v in losses if np.isfinite(v)]
        ended = "" if len(finite) == epochs else f", diverged in epoch {len(finite) + 1}"
        ax.plot(range(1, len(finite) + 1), finite, "o-",
                label=f"{label}: η = {lr:g} (validation accuracy {acc:.0%}{ended})")
    ax.axhline(np.log(10), color="grey", ls="--", lw=1, label="ln 10: guessing among 10 classes")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (mean over the epoch)")
    ax.set_title("SGD on digits (64 tanh units) at four learning rates")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")

    ax = axes[1]
    t = np.arange(T + 1)
    for name, (s, text) in scheds.items():
        ax.plot(t, [s(k) for k in t], label=text)
    ax.set_ylim(-0.01, 0.5)
    ax.set_xlabel("step t")
    ax.set_ylabel("learning rate α_t")
    ax.set_title(f"Schedules (gk.optim.schedules), α₀ = 0.3, T = {T}")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(alpha=0.3)

    ax = axes[2]
    for name, losses in noisy.items():
        ax.plot(moving_average(losses, 10), lw=1.2,
                label=f"{name}: mean of the last {tail} steps {losses[-tail:].mean():.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"f(θ), mean of {len(seeds)} noise seeds (moving average of 10 steps)")
    ax.set_title("Noisy-gradient SGD on the canyon: decay gets below the noise floor")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {f"final_loss_{label.replace(' ', '_')}": float(losses[-1])
               for label, (_, losses, _) in curves.items()}
    figures.update({f"first_epoch_loss_{label.replace(' ', '_')}": float(losses[0])
                    for label, (_, losses, _) in curves.items()})
    figures.update({f"val_accuracy_{label.replace(' ', '_')}": float(acc)
                    for label, (_, _, acc) in curves.items()})
    figures["schedule_T"] = T
    figures["schedule_values_at_t=0,T/8,T/2,T"] = {
        name: [round(float(sch(k)), 6) for k in (0, T // 8, T // 2, T)]
        for name, (sch, _) in scheds.items()}
    figures["noisy_canyon_final_loss"] = {name: round(float(v[-tail:].mean()), 5)
                                          for name, v in noisy.items()}
    return show("Learning rates and schedules", figures)


if __name__ == "__main__":
    main()
