"""ReLU units as cuts, logic gates, compositions and line arrangements

The DESY notes (004_b03d6a67b28a555f.txt) build intuition for ReLU networks by hand. A ReLU unit
f(w x + b) is "a cut on the input variable": it is 0 below x = −b/w and rises linearly above, so
the bias "moves the distribution to the cut" (panel 1, three units of `gk.layers.Dense(3,
activation="relu")` with hand-set w and b). ReLU units are logic gates (panel 2): AND = ReLU(a + b −
1), OR = a + b − ReLU(a + b − 1) and NOT = ReLU(1 − a) ("negative weight → logic not"), each a
hand-set `gk.Sequential` whose four outputs are printed beside the slide's truth tables. The
slide's AND column Σ = 0, ½, ½, 1 is the mean (a + b)/2; the gate cuts it at ½. Panel 3 composes
units: the hat h(x) = ReLU(2x) − 2 ReLU(2x − 1) (on [0, 1]) applied to itself k times is a
sawtooth with 2^k linear pieces from only 2k units, the depth argument of the notes' "what is the
advantage of being deep?". Panel 4 draws the notes' arrangements of s = 1, 2 and 3 lines in the
plane (each line one ReLU unit on 2 inputs) and counts their regions with
`gk.practice.count_regions`: parallel lines make s + 1 pieces, the notes' lower bound; lines in
general position reach the upper bound Σₙ₌₀² C(s, n) = 2, 4, 7 (`gk.practice.upper_bound`), with 3
lines through one point making 6.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "relu_logic.png"
AB = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)   # the slide's row order


def dense(units, W, b, activation="relu"):
    layer = gk.layers.Dense(units, activation=activation)
    layer.build((np.asarray(W).shape[0],))
    layer.W.data[...] = W
    layer.b.data[...] = b
    return layer


def network(*layers):
    model = gk.Sequential(list(layers))
    model.build((layers[0].W.shape[0],))
    return model


def gates():
    """AND, OR, NOT as hand-set ReLU networks."""
    and_gate = network(dense(1, [[1.0], [1.0]], [-1.0]))
    # OR = Σ − ReLU(Σ − 1): a linear unit for Σ = a + b and a ReLU unit cutting it at 1.
    or_gate = network(dense(2, [[1.0, 1.0], [1.0, 1.0]], [0.0, -1.0]),
                      dense(1, [[1.0], [-1.0]], [0.0], activation=None))
    not_gate = network(dense(1, [[-1.0]], [1.0]))
    return and_gate, or_gate, not_gate


def hat_network(depth):
    """h∘h∘…∘h (depth times), h(x) = ReLU(2x) − 2 ReLU(2x − 1): 2 ReLU units per layer."""
    layers = []
    for k in range(depth):
        first = k == 0
        # Each layer reads the previous hat's value through its two units: t = u1 − 2 u2.
        W = [[2.0, 2.0]] if first else [[2.0, 2.0], [-4.0, -4.0]]
        layers.append(dense(2, W, [0.0, -1.0]))
    layers.append(dense(1, [[1.0], [-2.0]], [0.0], activation=None))
    return network(*layers)


def linear_pieces(y, x):
    slopes = np.round(np.diff(y) / np.diff(x), 6)
    return int(1 + np.count_nonzero(np.diff(slopes)))


ARRANGEMENTS = {   # name -> (W (2, s), b (s,)): each column a line w·x + b = 0
    "s=1": ([[1.0], [0.3]], [0.1]),
    "s=2 parallel": ([[1.0, 1.0], [0.0, 0.0]], [0.3, -0.3]),
    "s=2 general": ([[1.0, 0.0], [0.0, 1.0]], [0.1, -0.2]),
    "s=3 parallel": ([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [0.5, 0.0, -0.5]),
    "s=3 concurrent": ([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]], [0.0, 0.0, 0.0]),
    "s=3 general": ([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], [0.2, -0.1, -0.4]),
}


def main(fast=False, out_dir=None):
    and_gate, or_gate, not_gate = gates()
    truth = {
        "AND": and_gate.predict(AB).reshape(-1).tolist(),
        "OR": or_gate.predict(AB).reshape(-1).tolist(),
        "NOT": not_gate.predict(np.array([[0.0], [1.0]], np.float32)).reshape(-1).tolist(),
    }
    x = np.linspace(-0.5, 1.5, 2001, dtype=np.float32)[:, None]
    cuts = dense(3, [[1.0, 2.0, -1.0]], [0.0, -1.0, 0.5])
    cut_out = cuts(gk.tensor(x)).numpy()

    grid = np.linspace(0.0, 1.0, 4097, dtype=np.float32)[:, None]
    depths = [1, 2, 3] if fast else [1, 2, 3, 4]
    saws = {k: hat_network(k).predict(grid).reshape(-1) for k in depths}
    pieces = {k: linear_pieces(saws[k].astype(np.float64), grid[:, 0].astype(np.float64))
              for k in depths}

    resolution = 200 if fast else 500
    regions = {}
    for name, (W, b) in ARRANGEMENTS.items():
        model = network(dense(len(b), W, b))
        regions[name] = gk.practice.count_regions(model, grid_range=(-1.0, 1.0),
                                                  resolution=resolution)

    plt = pyplot()
    fig = plt.figure(figsize=(18, 9))
    grid_spec = fig.add_gridspec(2, 6, height_ratios=[1.25, 1])
    axes = [fig.add_subplot(grid_spec[0, 2 * i:2 * i + 2]) for i in range(3)]
    ax = axes[0]
    for j, (w, b) in enumerate(zip([1.0, 2.0, -1.0], [0.0, -1.0, 0.5])):
        ax.plot(x[:, 0], cut_out[:, j], label=f"ReLU({w:g}x {b:+g}): cut at x = {-b / w + 0:g}")
    ax.set_xlabel("x")
    ax.set_ylabel("unit output")
    ax.set_title("A ReLU unit is a cut on x at −b/w")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)

    ax = axes[1]
    ax.axis("off")
    rows = [["a", "b", "AND", "OR"]] + [
        [f"{a:g}", f"{b:g}", f"{truth['AND'][i]:g}", f"{truth['OR'][i]:g}"]
        for i, (a, b) in enumerate(AB)]
    table = ax.table(cellText=rows, loc="upper center", cellLoc="center", bbox=[0, 0.42, 1, 0.55])
    table.set_fontsize(11)
    ax.text(0.0, 0.33, "AND = ReLU(a + b − 1)\nOR  = (a + b) − ReLU(a + b − 1)\n"
            f"NOT = ReLU(1 − a):  NOT 0 = {truth['NOT'][0]:g}, NOT 1 = {truth['NOT'][1]:g}\n"
            "slide's AND column Σ = (a + b)/2 = 0, ½, ½, 1,\ncut at ½", fontsize=10,
            va="top", family="monospace")
    ax.set_title("ReLU logic gates, hand-set (gk.Sequential)")

    ax = axes[2]
    for k in depths:
        ax.plot(grid[:, 0], saws[k], label=f"{k} layer(s) of 2 units: {pieces[k]} pieces")
    ax.set_xlabel("x")
    ax.set_ylabel("h∘…∘h (x)")
    ax.set_title("Composing the hat h(x): 2^k linear pieces")
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    ax.grid(alpha=0.3)

    gx, gy = np.meshgrid(np.linspace(-1, 1, 300), np.linspace(-1, 1, 300))
    points = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    for i, (name, (W, b)) in enumerate(ARRANGEMENTS.items()):
        ax = fig.add_subplot(grid_spec[1, i])
        W, b = np.asarray(W), np.asarray(b)
        on = (points @ W + b) > 0
        _, ids = np.unique(on, axis=0, return_inverse=True)
        ax.imshow(ids.reshape(gx.shape), origin="lower", extent=(-1, 1, -1, 1), cmap="Pastel1",
                  interpolation="nearest")
        for j in range(W.shape[1]):
            w1, w2 = W[:, j]
            if abs(w2) > 1e-9:
                ax.plot([-1, 1], [(w1 - b[j]) / w2, (-w1 - b[j]) / w2], "k-", lw=1.2)
            else:
                ax.axvline(-b[j] / w1, color="k", lw=1.2)
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: {regions[name]} regions", fontsize=10)
    fig.suptitle("DESY: ReLU as cuts and gates; depth multiplies pieces; s lines cut the plane "
                 "into s + 1 … Σₙ₌₀² C(s, n) = 2, 4, 7 regions", fontsize=12)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "and_outputs": [int(v) for v in truth["AND"]],
        "or_outputs": [int(v) for v in truth["OR"]],
        "not_outputs": [int(v) for v in truth["NOT"]],
        "cut_positions": [float(-b / w + 0.0) for w, b in zip([1.0, 2.0, -1.0], [0.0, -1.0, 0.5])],
        "cut_zero_below_and_linear_above": bool(
            np.all(cut_out[x[:, 0] < -0.01, 0] == 0) and np.allclose(
                cut_out[x[:, 0] > 0.01, 0], x[x[:, 0] > 0.01, 0])),
        "sawtooth_pieces_per_depth": [pieces[k] for k in depths],
        "regions": regions,
        "upper_bounds_s_1_2_3": [gk.practice.upper_bound(s, 2) for s in (1, 2, 3)],
    }
    return show("ReLU cuts, gates, compositions and arrangements", figures)


if __name__ == "__main__":
    main()
