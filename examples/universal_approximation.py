"""Universal approximation with one ReLU layer: x² and 2^x

The DESY lecture (004_b03d6a67b28a555f.txt) builds x² and 2^x on [0, 10] from one layer of ten ReLU
units relu(x − k), k = 0…9 (first-layer weights 1, biases 0, −1, …, −9) and a linear output with
weights w2: "1 layer of ReLU presents a piecewise linear approximation". Top row: those hand-set
networks, built as `gk.Sequential([gk.layers.Dense(10, activation="relu"), gk.layers.Dense(1)])`
with the weights written into `layer.W.data`. With the slide's output weights the result has the
right shape but not the right values — w2 = 1,…,1 gives n(n+1)/2 ≈ x²/2 at the integers and w2 = 1,
2, 4, …, 512 gives 2^(n+1) − n − 2 ≈ 2·2^x, since each unit adds its weight to the slope of every
piece to its right. Setting w2 to the differences of the target's slopes (1, 2, 2, …, 2 for x²; 1,
1, 2, 4, …, 256 plus an output bias of 1 for 2^x) makes the same network interpolate the target
exactly at the knots. Bottom row: the same ten-unit layer trained rather than hand-set (full-batch
`gk.optim.LBFGS` on the mean squared error, biases drawn with
`bias_init=gk.initializers.RandomUniform(...)` so the kinks start spread out); the dots mark where
each unit switches on (x = −b/w), i.e. where the piecewise linear fit may bend.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "universal_approximation.png"
UNITS = 10
TARGETS = {"x²": lambda x: x ** 2, "2^x": lambda x: 2.0 ** x}
# (output weights, output bias) from the slides, and the ones that interpolate at the integers.
NOTES_W2 = {"x²": (np.ones(10), 0.0), "2^x": (2.0 ** np.arange(10), 0.0)}
EXACT_W2 = {"x²": (np.r_[1.0, np.full(9, 2.0)], 0.0),
            "2^x": (np.r_[1.0, 2.0 ** np.arange(9)], 1.0)}


def relu_layer_net(w2, b2):
    """The slide's network: relu(x − k) for k = 0..9, then Σ w2_k h_k + b2."""
    model = gk.Sequential([gk.layers.Dense(UNITS, activation="relu", dtype=np.float64),
                           gk.layers.Dense(1, dtype=np.float64)])
    model.build((1,))
    hidden, out = model.layers
    hidden.W.data[...] = 1.0
    hidden.b.data[...] = -np.arange(UNITS, dtype=np.float64)
    out.W.data[...] = np.asarray(w2, dtype=np.float64).reshape(UNITS, 1)
    out.b.data[...] = b2
    return model


def fit_relu_layer(x, y, *, seed, maxiter):
    """Train one layer of ten ReLUs on (x, y) with full-batch L-BFGS; inputs/targets rescaled."""
    xs, ys = x / 5.0 - 1.0, y / y.max()              # [0, 10] -> [-1, 1]; targets to [0, 1]
    model = gk.Sequential([
        gk.layers.Dense(UNITS, activation="relu", init="he_normal",
                        bias_init=gk.initializers.RandomUniform(-1.0, 1.0), dtype=np.float64),
        gk.layers.Dense(1, dtype=np.float64)])
    model.build((1,), seed=seed)
    X = gk.tensor(xs.reshape(-1, 1), dtype=np.float64)
    Y = ys.reshape(-1, 1)
    opt = gk.optim.LBFGS(model.parameters(), maxiter=maxiter, tol=1e-12, ftol=1e-15)

    def closure():
        opt.zero_grad()
        loss = gk.mean((model(X) - Y) ** 2)
        loss.backward()
        return loss

    result = opt.minimize(closure)
    hidden = model.layers[0]
    w, b = hidden.W.numpy().reshape(-1), hidden.b.numpy()
    with np.errstate(divide="ignore"):
        knots = np.where(w != 0, -b / np.where(w != 0, w, 1.0), np.nan)
    knots = (knots + 1.0) * 5.0                       # back to the original x
    predict = lambda q: model.predict((q / 5.0 - 1.0).reshape(-1, 1)).reshape(-1) * y.max()
    return predict, knots, result


def main(fast=False, out_dir=None):
    x = np.linspace(0, 10, 201 if fast else 1001)
    n = np.arange(11.0)
    figures = {}
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for col, (name, f) in enumerate(TARGETS.items()):
        notes = relu_layer_net(*NOTES_W2[name])
        exact = relu_layer_net(*EXACT_W2[name])
        at_n = notes.predict(n.reshape(-1, 1)).reshape(-1)
        exact_n = exact.predict(n.reshape(-1, 1)).reshape(-1)
        gap = float(np.max(np.abs(exact.predict(x.reshape(-1, 1)).reshape(-1) - f(x))))
        key = "x2" if name == "x²" else "2x"
        figures[f"notes_weights_{key}_at_0..10"] = at_n.round(6).tolist()
        figures[f"exact_weights_{key}_max_error_at_integers"] = float(
            np.max(np.abs(exact_n - f(n))))
        figures[f"exact_weights_{key}_max_error_between"] = gap

        ax = axes[0, col]
        ax.plot(x, f(x), color="k", lw=2.5, alpha=0.35, label=f"target {name}")
        w2_text = "1, …, 1" if name == "x²" else "1, 2, 4, …, 512"
        ax.plot(x, notes.predict(x.reshape(-1, 1)), color="tab:orange",
                label=f"slide's weights w2 = {w2_text}")
        ax.plot(x, exact.predict(x.reshape(-1, 1)), "--", color="tab:blue",
                label="w2 = slope differences (exact at integers)")
        ax.plot(n, f(n), "o", ms=4, color="k", label="knots x = 0, 1, …, 10")
        ax.set_title(f"Hand-set: 10 ReLU units relu(x − k) → {name}")
        ax.set_xlabel("x")
        ax.set_ylabel("network output")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)

        predict, knots, result = fit_relu_layer(x, f(x), seed=col, maxiter=150 if fast else 1000)
        fit = predict(x)
        rel = float(np.max(np.abs(fit - f(x))) / np.ptp(f(x)))
        figures[f"trained_{key}_max_error_relative_to_range"] = rel
        figures[f"trained_{key}_lbfgs_iterations"] = result.iterations
        ax = axes[1, col]
        ax.plot(x, f(x), color="k", lw=2.5, alpha=0.35, label=f"target {name}")
        ax.plot(x, fit, color="tab:green", label=f"trained 10-unit ReLU layer (max error "
                                                  f"{rel:.2%} of the range)")
        inside = knots[(knots >= 0) & (knots <= 10)]
        ax.plot(inside, predict(inside), "o", ms=5, mfc="white", color="tab:green",
                label=f"unit switch-on points in [0, 10] ({len(inside)})")
        ax.set_title(f"Trained with L-BFGS (gk.optim.LBFGS) → {name}")
        ax.set_xlabel("x")
        ax.set_ylabel("network output")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("One hidden layer of ReLUs is a piecewise linear function "
                 "(004_b03d6a67b28a555f.txt)")
    fig.tight_layout()
    save(fig, out_dir, PNG)
    return show("Universal approximation", figures)


if __name__ == "__main__":
    main()
