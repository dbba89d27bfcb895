"""A saddle point and a poor local minimum: each optimizer's path

The KIT notes (001_55bdccef08b64fc2.txt) list why plain gradient descent struggles: the loss "has
local minima and plateaus" where the gradient is zero and "gradient descent gets stuck", with the
pictures "Local Minima" and "Saddle points" under "SGD + Momentum"; the EPFL notes
(003_0e0d53c6182edb6a.txt) add that "deep networks can have several local minima". Left:
f(x, y) = x² + y⁴/4 − y²/2, a saddle at the origin between two minima at y = ±1, entered from
(1.5, 10⁻⁴), almost on the ridge. Right: f(x, y) = (x² − 1)² + x/2 + y², a poor local minimum at
x ≈ 0.93 beside the global one at x ≈ −1.06, entered from (2, 1). Each path is the optimizer
classes of `gk.optim` (SGD, SGD with momentum 0.9, Nesterov, RMSProp, Adam, all with η = 0.05)
stepping a two-entry `gk.nn.Parameter` on gradients from `backward()`. At the saddle, plain
gradient descent needs the most steps to leave (the gradient along y starts at 10⁻⁴ and only grows
geometrically); momentum builds up speed, and RMSProp and Adam, dividing by the gradient's size,
leave almost at once. In the double well, SGD, RMSProp and Adam settle into the nearest, poor
minimum, while momentum's velocity carries the heavy ball over the barrier into the better one.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "saddle_minima.png"
LR = 0.05
OPTIMIZERS = {
    "SGD": lambda ps: gk.optim.SGD(ps, lr=LR),
    "Momentum": lambda ps: gk.optim.SGD(ps, lr=LR, momentum=0.9),
    "Nesterov": lambda ps: gk.optim.SGD(ps, lr=LR, momentum=0.9, nesterov=True),
    "RMSProp": lambda ps: gk.optim.RMSProp(ps, lr=LR),
    "Adam": lambda ps: gk.optim.Adam(ps, lr=LR),
}


def saddle(p):
    x, y = p[0], p[1]
    return x * x + y ** 4 * 0.25 - y * y * 0.5


def double_well(p):
    x, y = p[0], p[1]
    return (x * x - 1.0) ** 2 + x * 0.5 + y * y


def path(f, start, make, steps):
    p = gk.nn.Parameter(np.array(start, dtype=np.float64))
    opt = make([p])
    points = [p.data.copy()]
    for _ in range(steps):
        opt.zero_grad()
        f(p).backward()
        opt.step()
        points.append(p.data.copy())
    return np.array(points)


def surface(ax, f, xlim, ylim):
    xs, ys = np.linspace(*xlim, 300), np.linspace(*ylim, 300)
    gx, gy = np.meshgrid(xs, ys)
    z = f(np.stack([gx, gy]))
    ax.contourf(gx, gy, z, levels=30, cmap="Greys", alpha=0.5)
    ax.contour(gx, gy, z, levels=30, colors="grey", linewidths=0.3)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def main(fast=False, out_dir=None):
    steps = 250 if fast else 400
    saddle_paths = {n: path(saddle, [1.5, 1e-4], make, steps) for n, make in OPTIMIZERS.items()}
    well_paths = {n: path(double_well, [2.0, 1.0], make, steps) for n, make in OPTIMIZERS.items()}

    def escape(points):
        out = np.abs(points[:, 1]) > 0.5
        return int(np.argmax(out)) if out.any() else None

    escapes = {n: escape(p) for n, p in saddle_paths.items()}
    ends = {n: float(p[-1, 0]) for n, p in well_paths.items()}
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    colors = dict(zip(OPTIMIZERS, ["tab:blue", "tab:orange", "tab:green", "tab:red",
                                   "tab:purple"]))
    ax = axes[0]
    surface(ax, saddle, (-1.0, 1.7), (-1.4, 1.4))
    for n, p in saddle_paths.items():
        ax.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=1, color=colors[n],
                label=f"{n}: |y| > 0.5 after {escapes[n]} steps")
    ax.plot([0], [0], "kx", ms=10)
    ax.annotate("saddle", (0.03, 0.05))
    ax.set_title("Saddle: f = x² + y⁴/4 − y²/2, start (1.5, 1e-4)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)

    ax = axes[1]
    surface(ax, double_well, (-2.3, 2.3), (-1.3, 1.3))
    for n, p in well_paths.items():
        where = "global" if ends[n] < 0 else "poor local"
        ax.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=1, color=colors[n],
                label=f"{n}: ends at x = {ends[n]:.2f} ({where})")
    ax.set_title("Double well: f = (x² − 1)² + x/2 + y², start (2, 1)")
    ax.set_xlabel("x")
    ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    fig.suptitle(f"gk.optim on two 2-D losses, η = {LR} for all, {steps} steps")
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "saddle_steps_to_leave": escapes,
        "saddle_final_y": {n: float(p[-1, 1]) for n, p in saddle_paths.items()},
        "double_well_final_x": ends,
        "double_well_final_loss": {n: float(double_well(p[-1])) for n, p in well_paths.items()},
    }
    return show("Saddle point and poor local minimum", figures)


if __name__ == "__main__":
    main()
