"""XOR: one unit cannot, two layers can

XOR is the lectures' classical reason for hidden layers: "not computable by a single unit"
(001_55bdccef08b64fc2.txt), Minsky and Papert's objection to the perceptron
(003_0e0d53c6182edb6a.txt), and Rosenblatt's perceptron cuts the plane with one line
(004_b03d6a67b28a555f.txt). Panel 1: `gk.nn.Perceptron` learns AND in a few epochs but makes
mistakes in every epoch on XOR, so `fit` reports that it did not converge. Panel 2: a single sigmoid
unit trained by gradient descent (`gk.Sequential([gk.layers.Dense(1)])` with
`loss="binary_cross_entropy"`) plateaus at ln 2 = 0.693, the loss of answering ½ everywhere, while a
2-2-1 tanh network trained the same way reaches zero (from most seeds: the full run counts how many
of eight seeds stall in a poor local optimum, which the KIT notes warn about). Panel 3 is the notes'
hand-wired network XOR(a, b) = (a OR b) AND NOT (a AND b) with hard-threshold units
(`gk.layers.Dense(2, activation="step")`, weights set by hand): h1 = a OR b, h2 = a AND b, y = h1
AND NOT h2, exact on all four inputs. Panel 4 trains a 2-8-1 tanh network with `fit` on the noisy
built-in `gk.data.load("xor")` set and draws its decision boundary: two lines' worth of bends, which
one unit cannot make. (`examples/xor_lowlevel.py` trains the same kind of network with the
PyTorch-style low-level API.)
"""

from __future__ import annotations

import math

import numpy as np

import gradkit as gk

from _common import plane_grid, pyplot, save, show

PNG = "xor.png"
AB = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR = np.array([0, 1, 1, 0])
AND = np.array([0, 0, 0, 1])


def hand_wired():
    """The notes' 2-2-1 threshold network: h1 = a OR b, h2 = a AND b, y = h1 AND NOT h2."""
    model = gk.Sequential([gk.layers.Dense(2, activation="step"),
                           gk.layers.Dense(1, activation="step")])
    model.build((2,))
    hidden, out = model.layers
    hidden.W.data[...] = [[1, 1], [1, 1]]      # both units sum a + b ...
    hidden.b.data[...] = [-0.5, -1.5]          # ... OR fires above 0.5, AND above 1.5
    out.W.data[...] = [[1], [-1]]              # h1 AND NOT h2
    out.b.data[...] = [-0.5]
    return model


def train_on_four_points(hidden, epochs, seed):
    """A sigmoid output unit (hidden=None) or a 2-hidden-1 tanh network on the four XOR rows."""
    layers = [] if hidden is None else [gk.layers.Dense(hidden, activation="tanh")]
    model = gk.Sequential(layers + [gk.layers.Dense(1)])
    model.compile(optimizer=gk.optim.Adam(0.05), loss="binary_cross_entropy")
    history = model.fit(AB, XOR.astype(np.float32), batch_size=4, epochs=epochs, seed=seed,
                        verbose=0)
    pred = (model.predict(AB).reshape(-1) > 0).astype(int)
    return model, history.history["loss"], float(np.mean(pred == XOR))


def main(fast=False, out_dir=None):
    perceptron = gk.nn.Perceptron(2, max_epochs=20)
    xor_converged = perceptron.fit(AB, XOR)
    xor_errors = list(perceptron.errors_)
    and_converged = perceptron.fit(AB, AND)
    and_errors = list(perceptron.errors_)

    epochs = 150 if fast else 400
    _, unit_loss, unit_acc = train_on_four_points(None, epochs, seed=0)
    _, net_loss, net_acc = train_on_four_points(2, epochs, seed=0)
    # The loss surface is not convex ("can get stuck in poor local optima", 001): count the
    # seeds whose 2-2-1 network stalls (full run only; it trains eight networks).
    stuck = None if fast else sum(train_on_four_points(2, epochs, seed=s)[2] < 1 for s in range(8))

    wired = hand_wired()
    wired_out = wired.predict(AB).reshape(-1).astype(int)
    hidden_out = wired.layers[0](gk.tensor(AB)).numpy().astype(int)

    ds = gk.data.load("xor", n_samples=200 if fast else 600, noise=0.1, seed=0)
    train, _, test = gk.data.train_val_test_split(ds, val=0.0, test=0.25, seed=0)
    net = gk.Sequential([gk.layers.Dense(8, activation="tanh"), gk.layers.Dense(2)])
    net.compile(optimizer=gk.optim.Adam(0.02), loss="cross_entropy", metrics=["accuracy"])
    net.fit(train.X, train.y, batch_size=32, epochs=40 if fast else 150, seed=0, verbose=0)
    test_acc = net.evaluate(test.X, test.y, return_dict=True)["accuracy"]

    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4))
    ax = axes[0]
    ax.plot(range(1, len(xor_errors) + 1), xor_errors, "o-", label="XOR (never 0: no line works)")
    ax.plot(range(1, len(and_errors) + 1), and_errors, "s-", label="AND (converges)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mistakes in the epoch (of 4)")
    ax.set_ylim(-0.2, 4.2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Perceptron learning rule (gk.nn.Perceptron)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[1]
    ax.plot(range(1, len(unit_loss) + 1), unit_loss, label=f"one sigmoid unit (acc {unit_acc:.0%})")
    ax.plot(range(1, len(net_loss) + 1), net_loss, label=f"2-2-1 tanh network (acc {net_acc:.0%})")
    ax.axhline(math.log(2), color="grey", ls="--", lw=1, label="ln 2: answering ½ everywhere")
    ax.set_xlabel("epoch (one full-batch step)")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title("Gradient descent on the four XOR points")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[2]
    xx, yy, pts = plane_grid(AB, n=201, margin=0.5)
    region = wired.predict(pts).reshape(xx.shape)
    ax.contourf(xx, yy, region, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:orange"],
                alpha=0.25)
    for (a, b), out, (h1, h2) in zip(AB, wired_out, hidden_out):
        ax.scatter(a, b, s=120, color="tab:orange" if out else "tab:blue", edgecolors="k",
                   zorder=3)
        ax.annotate(f"h1={h1} h2={h2} → y={out}", (a, b), textcoords="offset points",
                    xytext=(0, 12), ha="center", fontsize=8)
    ax.scatter([], [], s=80, color="tab:orange", edgecolors="k", label="output y = 1")
    ax.scatter([], [], s=80, color="tab:blue", edgecolors="k", label="output y = 0")
    ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_title("Hand-wired step network: (a OR b) AND NOT (a AND b)")

    ax = axes[3]
    xx, yy, pts = plane_grid(ds.X, n=200, margin=0.2)
    proba = net.predict_proba(pts)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1.2)
    for c, color in ((0, "tab:blue"), (1, "tab:red")):
        m = test.y == c
        ax.scatter(test.X[m, 0], test.X[m, 1], s=14, color=color, edgecolors="k",
                   linewidths=0.3, label=f"test, class {c}")
    ax.plot([], [], color="k", label="decision boundary (p = 0.5)")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(f"Trained 2-8-1 tanh network: test accuracy {test_acc:.1%}")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "perceptron_converged_on_xor": bool(xor_converged),
        "perceptron_fewest_mistakes_per_epoch_on_xor": int(min(xor_errors)),
        "perceptron_converged_on_and": bool(and_converged),
        "single_unit_final_loss": float(unit_loss[-1]),
        "single_unit_accuracy": unit_acc,
        "two_layer_final_loss": float(net_loss[-1]),
        "two_layer_accuracy": net_acc,
        "two_layer_seeds_stuck_of_8": stuck,
        "hand_wired_outputs": wired_out.tolist(),
        "hand_wired_exact": bool(np.array_equal(wired_out, XOR)),
        "trained_test_accuracy": float(test_acc),
    }
    return show("XOR", figures)


if __name__ == "__main__":
    main()
