"""The notes' network constructions, with their weights set by hand and their numbers written out."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import layers as L

F64 = np.float64
AB = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def dense(units, activation, W, b, n_in):
    layer = L.Dense(units, activation, dtype=F64)
    layer.build((n_in,))
    layer.W.data[...] = W
    layer.b.data[...] = b
    return layer


def test_hard_threshold_2_2_1_network_computes_xor():
    # 001_55bdccef08b64fc2.txt: XOR(a, b) = (a OR b) AND NOT (a AND b); hard threshold units,
    # h1 = a OR b, h2 = a AND b, y = h1 AND NOT h2.
    hidden = dense(2, "step", W=[[1.0, 1.0], [1.0, 1.0]], b=[-0.5, -1.5], n_in=2)
    out = dense(1, "step", W=[[1.0], [-1.0]], b=[-0.5], n_in=2)
    h = hidden(gk.tensor(AB, dtype=F64))
    np.testing.assert_array_equal(h.numpy(), [[0, 0], [1, 0], [1, 0], [1, 1]])   # OR, AND
    np.testing.assert_array_equal(out(h).numpy()[:, 0], [0, 1, 1, 0])


def test_a_single_threshold_unit_cannot_compute_xor():
    # "Not computable by a single unit": no (w1, w2, b) on a fine grid gets all four right.
    grid = np.linspace(-2, 2, 41)
    w1, w2, b = np.meshgrid(grid, grid, grid, indexing="ij")
    outputs = (AB[:, 0, None, None, None] * w1 + AB[:, 1, None, None, None] * w2 + b) > 0
    correct = outputs == np.array([0, 1, 1, 0], dtype=bool)[:, None, None, None]
    assert correct.all(axis=0).sum() == 0
    assert correct.sum(axis=0).max() == 3


def relu_net(w2):
    # 004_b03d6a67b28a555f.txt, "Universal Approximation": one input x, ten ReLU units
    # relu(w1_k x + b_k) with w1 = 1 and b = 0, -1, ..., -9, and a linear output Σ w2_k h_k.
    hidden = dense(10, "relu", W=np.ones((1, 10)), b=-np.arange(10.0), n_in=1)
    output = dense(1, None, W=np.asarray(w2, dtype=F64).reshape(10, 1), b=[0.0], n_in=10)
    return lambda x: output(hidden(gk.tensor(np.reshape(x, (-1, 1)), dtype=F64))).numpy()[:, 0]


def test_one_relu_layer_with_the_notes_weights_is_a_piecewise_linear_2_to_the_x():
    f = relu_net(2.0 ** np.arange(10))                 # w2 = 1, 2, 4, ..., 512
    n = np.arange(11.0)
    # Unit k switches on at x = k, so the slope on [n, n+1] is Σ_{k<=n} 2^k = 2^(n+1) - 1 (it
    # doubles, plus one, from piece to piece) and f(n) = Σ_{k<n} 2^k (n - k) = 2^(n+1) - n - 2.
    # The slides' "f(x) ≈ 2^x" is this exponential growth: f(n) / 2^(n+1) -> 1.
    expected = 2.0 ** (n + 1) - n - 2
    np.testing.assert_array_equal(f(n), expected)
    np.testing.assert_array_equal(f(n)[:6], [0, 1, 4, 11, 26, 57])
    np.testing.assert_array_equal(np.diff(f(n)), 2.0 ** np.arange(1, 11) - 1)
    assert f(10.0)[0] / 2.0 ** 11 == pytest.approx(1.0, abs=0.01)
    # linear between the integer points (the knots), including the last piece beyond x = 9
    t = np.array([0.25, 0.5, 0.75])
    for k in range(10):
        x = k + t
        np.testing.assert_allclose(f(x), (1 - t) * expected[k] + t * expected[k + 1], rtol=1e-12)
    np.testing.assert_array_equal(f([-3.0, -0.5]), [0.0, 0.0])    # every unit off below 0


def test_the_same_layer_with_unit_output_weights_approximates_x_squared():
    # The slide before it: w2 = 1, ..., 1 gives f(n) = Σ_{k<n} (n - k) = n(n+1)/2 ≈ x²/2.
    f = relu_net(np.ones(10))
    n = np.arange(11.0)
    np.testing.assert_array_equal(f(n), n * (n + 1) / 2)


def test_two_stacked_dense_layers_without_activation_are_one_dense_layer():
    # 000_dc4e091d961bec1d.txt, "Will stacking linear functions improve quality? Answer: no":
    # x W1 + b1 then h W2 + b2 is x (W1 W2) + (b1 W2 + b2).
    rng = np.random.default_rng(0)
    first, second = L.Dense(6, dtype=F64), L.Dense(3, dtype=F64)
    first.build((4,), rng=rng)
    second.build((6,), rng=rng)
    first.b.data[...] = rng.normal(size=6)
    second.b.data[...] = rng.normal(size=3)
    W1, b1, W2, b2 = first.W.numpy(), first.b.numpy(), second.W.numpy(), second.b.numpy()
    one = dense(3, None, W=W1 @ W2, b=b1 @ W2 + b2, n_in=4)
    x = gk.tensor(rng.normal(size=(10, 4)), dtype=F64)
    np.testing.assert_allclose(second(first(x)).numpy(), one(x).numpy(), rtol=1e-12, atol=1e-12)
