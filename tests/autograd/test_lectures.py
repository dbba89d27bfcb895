"""The lectures' worked examples, with their numbers written out."""

import numpy as np
import pytest

import gradkit as gk


def test_backprop_table_of_the_intro_lecture():
    # 000_dc4e091d961bec1d.txt: y=3, x=1, w=0.1, b=1, eta=0.2, L = (y - h)^2 / 2, h = x w + b.
    # Each row: h, L, dL/dh, dL/dw, dL/db, then w, b after the update.
    expected = [
        (1.10, 1.80, -1.90, -1.90, -1.90, 0.48, 1.38),
        (1.86, 0.65, -1.14, -1.14, -1.14, 0.71, 1.61),
        (2.32, 0.23, -0.68, -0.68, -0.68, 0.84, 1.75),
    ]
    y, x, eta = 3.0, 1.0, 0.2
    w = gk.tensor(0.1, requires_grad=True, dtype=np.float64)
    b = gk.tensor(1.0, requires_grad=True, dtype=np.float64)
    for row in expected:
        h = x * w + b
        loss = 0.5 * (y - h) ** 2
        dl_dh = (h - y).item()                       # the table's dL/dh column
        loss.backward()
        with gk.no_grad():
            w.data = w.data - eta * w.grad
            b.data = b.data - eta * b.grad
        got = (h.item(), loss.item(), dl_dh, float(w.grad), float(b.grad), w.item(), b.item())
        # The notes carried rounded values from row to row (b: 1.61 + 0.2 * 0.68 = 1.746 -> 1.75,
        # exactly 1.7448), so agreement is to the table's two decimals, within one unit of the last.
        np.testing.assert_allclose(got, row, atol=0.0051 if row is not expected[-1] else 0.006)
        w.grad = b.grad = None


def test_regularized_logistic_least_squares_backward():
    # 001_55bdccef08b64fc2.txt: z = wx + b, y = σ(z), L = (y - t)²/2, R = w²/2, L_reg = L + λR.
    # The fan-out of w gives w̄ = z̄ x + λ R̄ w with R̄ = 1; y̅ = y - t; z̅ = y̅ σ'(z); b̅ = z̅.
    x, t, lam = 1.5, 1.0, 0.3
    w = gk.tensor(-0.4, requires_grad=True, dtype=np.float64)
    b = gk.tensor(0.2, requires_grad=True, dtype=np.float64)
    z = w * x + b
    y = gk.sigmoid(z)
    loss = 0.5 * (y - t) ** 2 + lam * (0.5 * w ** 2)
    loss.backward()

    s = 1 / (1 + np.exp(-(-0.4 * x + 0.2)))
    y_bar = s - t
    z_bar = y_bar * s * (1 - s)
    assert float(w.grad) == pytest.approx(z_bar * x + lam * -0.4, rel=1e-12)
    assert float(b.grad) == pytest.approx(z_bar, rel=1e-12)


@pytest.mark.parametrize("t_value", [0.3, 1.0, 2.5])
def test_multivariable_chain_rule(t_value):
    # f(x, y) = y + exp(xy), x = cos t, y = t²: t fans out to x and y, so
    # df/dt = (y exp(xy))(-sin t) + (1 + x exp(xy))(2t).
    t = gk.tensor(t_value, requires_grad=True, dtype=np.float64)
    x, y = gk.cos(t), t ** 2
    f = y + gk.exp(x * y)
    f.backward()
    xv, yv = np.cos(t_value), t_value ** 2
    expected = yv * np.exp(xv * yv) * -np.sin(t_value) + (1 + xv * np.exp(xv * yv)) * 2 * t_value
    assert float(t.grad) == pytest.approx(expected, rel=1e-12)


def test_mlp_in_matrix_form_matches_hand_written_numpy(rng):
    # z = W1 x + b1, h = σ(z), y = W2 h + b2, L = ½ (y-t)ᵀ(y-t); the notes' backward pass:
    # ȳ = y - t, W̄2 = ȳ hᵀ, b̄2 = ȳ, h̄ = W2ᵀ ȳ, z̄ = h̄ ∘ σ'(z), W̄1 = z̄ xᵀ, b̄1 = z̄.
    x, tgt = rng.normal(size=(4, 1)), rng.normal(size=(3, 1))
    W1, b1 = rng.normal(size=(5, 4)), rng.normal(size=(5, 1))
    W2, b2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 1))
    params = [gk.tensor(a, requires_grad=True, dtype=np.float64) for a in (W1, b1, W2, b2)]
    tW1, tb1, tW2, tb2 = params
    h = gk.sigmoid(tW1 @ x + tb1)
    y = tW2 @ h + tb2
    d = y - tgt
    (0.5 * (d.T @ d)).sum().backward()

    z = W1 @ x + b1
    hh = 1 / (1 + np.exp(-z))
    yy = W2 @ hh + b2
    y_bar = yy - tgt
    W2_bar, b2_bar = y_bar @ hh.T, y_bar
    z_bar = (W2.T @ y_bar) * hh * (1 - hh)
    W1_bar, b1_bar = z_bar @ x.T, z_bar
    for got, want in zip(params, (W1_bar, b1_bar, W2_bar, b2_bar)):
        np.testing.assert_allclose(got.grad, want, rtol=1e-12, atol=1e-14)
