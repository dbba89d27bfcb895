"""The backpropagation table, step by step

The MLHEP lecture (000_dc4e091d961bec1d.txt) fits a one-weight linear model h = x·w + b with the
squared error L = ½(y − h)² on a single example (y = 3, x = 1), starting from w = 0.1, b = 1 with
learning rate η = 0.2, and fills a table row by row: the forward pass (h, L), the backward pass
(∂L/∂h, then ∂L/∂w = ∂L/∂h·x and ∂L/∂b = ∂L/∂h by the chain rule) and the updated w, b. Here the
forward pass is gradkit tensors (`gk.nn.Parameter` for w and b), ∂L/∂h comes from `backward()` on
the loss stage, ∂L/∂w and ∂L/∂b from `h.backward(∂L/∂h)` — the upstream gradient flowing into the
dense stage, exactly the slide's "multiply by dLoss/dActivation" — and the update is
`gk.optim.SGD([w, b], lr=0.2).step()`. The printed table has the slide's columns and number format;
in the last row the slide prints b = 1.75 where the exact value is 1.7448 (the slide carried the
rounded b = 1.61 forward: 1.61 + 0.2·0.68 = 1.746), so gradkit prints 1.74. The right panel
continues the same loop until h reaches the target.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "backprop_table.png"
HEADER = ["h", "L", "dL/dh", "dL/dw", "dL/db", "w", "b"]
# The table as printed in 000_dc4e091d961bec1d.txt.
NOTES = [
    ["1.1", "1.80", "-1.9", "-1.9", "-1.9", "0.48", "1.38"],
    ["1.86", "0.65", "-1.14", "-1.14", "-1.14", "0.71", "1.61"],
    ["2.32", "0.23", "-0.68", "-0.68", "-0.68", "0.84", "1.75"],
]


def fmt(column, value):
    """The slide's format: two decimals, trailing zeros dropped, except L which keeps two."""
    if column == "L":
        return f"{value:.2f}"
    return f"{round(value, 2) + 0.0:g}"       # + 0.0 turns -0.0 into 0


def train(steps, *, y=3.0, x=1.0, w0=0.1, b0=1.0, eta=0.2):
    """Rows (h, L, dL/dh, dL/dw, dL/db, w, b) of `steps` SGD updates, as in the slide."""
    w = gk.nn.Parameter(np.float64(w0), name="w")
    b = gk.nn.Parameter(np.float64(b0), name="b")
    opt = gk.optim.SGD([w, b], lr=eta)
    rows = []
    for _ in range(steps):
        opt.zero_grad()
        h = x * w + b                                         # dense stage
        h_leaf = gk.tensor(h.item(), requires_grad=True, dtype=np.float64)
        loss = 0.5 * (y - h_leaf) ** 2                        # squared-error stage
        loss.backward()
        dl_dh = float(h_leaf.grad)
        h.backward(np.float64(dl_dh))                         # chain rule into w and b
        dl_dw, dl_db = float(w.grad), float(b.grad)
        opt.step()
        rows.append((h.item(), loss.item(), dl_dh, dl_dw, dl_db, float(w.data), float(b.data)))
    return rows


def table_text(rows):
    cells = [[fmt(col, v) for col, v in zip(HEADER, row)] for row in rows]
    widths = [max(len(c) for c in [head] + [r[i] for r in cells]) for i, head in enumerate(HEADER)]
    line = "| " + " | ".join(h.ljust(wd) for h, wd in zip(HEADER, widths)) + " |"
    rule = "|" + "|".join("-" * (wd + 2) for wd in widths) + "|"
    body = ["| " + " | ".join(c.ljust(wd) for c, wd in zip(r, widths)) + " |" for r in cells]
    return "\n".join([line, rule, *body]), cells


def main(fast=False, out_dir=None):
    rows = train(12 if fast else 25)
    text, cells = table_text(rows[:3])
    print("y = 3, x = 1, w = 0.1, b = 1, eta = 0.2, L = (y - h)^2 / 2")
    print(text)
    diffs = [(i, HEADER[j], cells[i][j], NOTES[i][j]) for i in range(3) for j in range(7)
             if cells[i][j] != NOTES[i][j]]
    for i, col, got, notes in diffs:
        print(f"row {i + 1}, {col}: gradkit {got} (exactly {rows[i][HEADER.index(col)]:.4f}), "
              f"the slide {notes} (it carried the rounded value of the row above)")

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8),
                                      gridspec_kw={"width_ratios": [1.25, 1]})
    left.axis("off")
    tab = left.table(cellText=cells, colLabels=["h", "L", "∂L/∂h", "∂L/∂w", "∂L/∂b", "w", "b"],
                     rowLabels=["step 1", "step 2", "step 3"], loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(11)
    tab.scale(1, 1.8)
    left.set_title("y = 3, x = 1, w = 0.1, b = 1, η = 0.2 (000_dc4e091d961bec1d.txt)")
    if diffs:
        notes = "; ".join(f"step {i + 1} {c}: the slide prints {n}, exactly "
                          f"{rows[i][HEADER.index(c)]:.4f}" for i, c, _, n in diffs)
        left.text(0.5, 0.08, notes + "\n(the slide carried the rounded value of the row above)",
                  ha="center", va="center", fontsize=9, transform=left.transAxes)
    steps = np.arange(1, len(rows) + 1)
    arr = np.array(rows)
    right.plot(steps, arr[:, 0], "o-", ms=3, label="h (before the update)")
    right.plot(steps, arr[:, 1], "s-", ms=3, label="L")
    right.plot(steps, arr[:, 5], "^-", ms=3, label="w (after)")
    right.plot(steps, arr[:, 6], "v-", ms=3, label="b (after)")
    right.axhline(3.0, color="grey", ls="--", lw=1, label="target y = 3")
    right.set_xlabel("gradient step")
    right.set_ylabel("value")
    right.set_title("The same loop continued: h → y, L → 0")
    right.grid(alpha=0.3)
    right.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "rows": [[float(f"{v:.4f}") for v in row] for row in rows[:3]],
        "printed": cells,
        "cells_differing_from_slide": [f"row {i + 1} {c}: {g} vs {n}" for i, c, g, n in diffs],
        "final_h": rows[-1][0],
        "final_loss": rows[-1][1],
    }
    return show("Backprop table", figures)


if __name__ == "__main__":
    main()
