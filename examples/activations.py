"""Activation functions and their derivatives

The lectures list the nonlinearities and judge them by their slopes: sigmoid "saturates and kills
the gradients" and is not zero-centred, tanh is zero-centred "but still pretty much like sigmoid",
ReLU's gradient "does not vanish for x > 0" but is zero below (units "can die"), leaky ReLU "will
not die", ELU saturates softly for negative inputs, and the McCulloch-Pitts step has "zero gradient,
bad for backpropagation" (000_dc4e091d961bec1d.txt, 001_55bdccef08b64fc2.txt,
003_0e0d53c6182edb6a.txt, 004_b03d6a67b28a555f.txt). The top row plots each function from
`gk.nn.activations.get(name)`; the bottom row plots its derivative as gradkit's reverse mode
computes it (`y.sum().backward()`, then `x.grad`) — no derivative is written by hand, and the script
checks the backward pass against the closed forms.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "activations.png"
NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "step"]


def closed_form(name, x):
    """The textbook derivative, used only to check what backward() returns."""
    s = 1 / (1 + np.exp(-x))
    return {
        "sigmoid": s * (1 - s),
        "tanh": 1 - np.tanh(x) ** 2,
        "relu": (x > 0).astype(float),
        "leaky_relu": np.where(x > 0, 1.0, 0.1),
        "elu": np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
        "softplus": s,
        "step": np.zeros_like(x),
    }[name]


def value_and_grad(name, x):
    """f(x) and f'(x), the latter from gradkit's backward pass (elementwise, so sum's VJP is 1)."""
    t = gk.tensor(x, requires_grad=True, dtype=np.float64)
    # The notes' leaky ReLU is max(0.1x, x); gradkit's default slope is Keras's 0.2.
    y = gk.nn.activations.get(name, **({"alpha": 0.1} if name == "leaky_relu" else {}))(t)
    y.sum().backward()
    return y.numpy(), np.asarray(t.grad)


def main(fast=False, out_dir=None):
    # An even number of points keeps x = 0 (where ReLU and step have a kink) off the grid.
    x = np.linspace(-5, 5, 200 if fast else 1000)
    curves = {name: value_and_grad(name, x) for name in NAMES}
    err = max(float(np.max(np.abs(g - closed_form(name, x)))) for name, (_, g) in curves.items())

    def grad_at(name, where):
        return float(value_and_grad(name, np.array([where]))[1][0])

    figures = {
        "max_abs_error_backward_vs_closed_form": err,
        "sigmoid_max_derivative": float(curves["sigmoid"][1].max()),
        "sigmoid_derivative_at_5": grad_at("sigmoid", 5.0),
        "tanh_max_derivative": float(curves["tanh"][1].max()),
        "tanh_derivative_at_5": grad_at("tanh", 5.0),
        "relu_derivative_at_-2": grad_at("relu", -2.0),
        "relu_derivative_at_2": grad_at("relu", 2.0),
        "leaky_relu_derivative_at_-2": grad_at("leaky_relu", -2.0),
        "elu_derivative_at_-2": grad_at("elu", -2.0),
        "step_max_abs_derivative": float(np.abs(curves["step"][1]).max()),
        "tanh_mean_on_symmetric_grid": float(curves["tanh"][0].mean()),
        "sigmoid_mean_on_symmetric_grid": float(curves["sigmoid"][0].mean()),
    }

    plt = pyplot()
    fig, axes = plt.subplots(2, len(NAMES), figsize=(2.6 * len(NAMES), 5.4), sharex=True)
    for k, name in enumerate(NAMES):
        y, g = curves[name]
        top, bottom = axes[0, k], axes[1, k]
        top.plot(x, y, color="tab:blue")
        top.set_title(name)
        bottom.plot(x, g, color="tab:red")
        for ax in (top, bottom):
            ax.axhline(0, color="grey", lw=0.5)
            ax.axvline(0, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
        bottom.set_xlabel("x")
        bottom.set_ylim(-0.1, 1.15)
    axes[0, 0].set_ylabel("f(x)")
    axes[1, 0].set_ylabel("f'(x) from backward()")
    fig.suptitle("Activation functions (top) and their derivatives computed by gradkit's "
                 f"reverse mode (bottom); max |backward - closed form| = {err:.1e}")
    fig.tight_layout()
    save(fig, out_dir, PNG)
    return show("Activation derivatives (from backward)", figures)


if __name__ == "__main__":
    main()
