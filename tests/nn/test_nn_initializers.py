"""Initializers: the variance each one promises, and the notes' activation-statistics experiment."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import initializers as I
from gradkit.nn import layers as L

N = 512
# name -> the variance of every entry of a (512, 512) matrix (fan_in = fan_out = 512)
VARIANCE = {
    "glorot_normal": 2 / (N + N), "glorot_uniform": 2 / (N + N),
    "xavier_normal": 2 / (N + N), "xavier_uniform": 2 / (N + N),
    "he_normal": 2 / N, "he_uniform": 2 / N,
    "lecun_normal": 1 / N, "lecun_uniform": 1 / N,
    "random_normal": 0.05 ** 2, "normal": 0.05 ** 2,
    "random_uniform": 0.1 ** 2 / 12, "uniform": 0.1 ** 2 / 12,
    "orthogonal": 1 / N,                     # unit columns of length 512
    "fan_in_uniform": 1 / (3 * N),           # U(±1/√m): (1/√m)² / 3
}
CONSTANT = {"zeros": 0.0, "ones": 1.0, "constant": 0.0}


def test_every_initializer_has_a_case():
    assert set(I.names()) == set(VARIANCE) | set(CONSTANT)


@pytest.mark.parametrize("name", sorted(VARIANCE))
def test_initializer_has_the_promised_variance(name):
    W = I.get(name)((N, N), np.random.default_rng(0), np.float64)
    assert W.shape == (N, N) and W.dtype == np.float64
    assert W.var() == pytest.approx(VARIANCE[name], rel=0.02)   # 262 144 draws
    assert abs(W.mean()) < 0.02 * np.sqrt(VARIANCE[name])


@pytest.mark.parametrize("name", sorted(CONSTANT))
def test_constant_initializers(name):
    W = I.get(name)((3, 2), np.random.default_rng(0))
    np.testing.assert_array_equal(W, np.full((3, 2), CONSTANT[name], dtype=np.float32))
    np.testing.assert_array_equal(I.get({"name": "constant", "value": 0.5})((2,)), [0.5, 0.5])


def test_uniform_initializers_stay_within_their_limit():
    rng = np.random.default_rng(1)
    assert np.abs(I.get("glorot_uniform")((N, 256), rng)).max() <= np.sqrt(6 / (N + 256))
    assert np.abs(I.get("he_uniform")((N, 256), rng)).max() <= np.sqrt(6 / N)


def test_fan_in_uniform_is_the_notes_bound_and_torch_linear_default():
    import torch

    W = I.get("fan_in_uniform")((200, 30), np.random.default_rng(2), np.float64)
    bound = 1 / np.sqrt(200)                                      # MIPT: U(±1/√m), m = fan_in
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    torch.manual_seed(0)
    lin = torch.nn.Linear(200, 30)                                # torch's weight is (out, in)
    tw = lin.weight.detach().numpy()
    assert np.abs(tw).max() <= bound and np.abs(tw).max() > 0.99 * bound
    assert tw.var() == pytest.approx(W.var(), rel=0.1)


@pytest.mark.parametrize("shape", [(N, N), (300, 100), (100, 300)])
def test_orthogonal_gives_orthonormal_columns_or_rows(shape):
    W = I.get("orthogonal")(shape, np.random.default_rng(2), np.float64)
    k = min(shape)
    gram = W.T @ W if shape[0] >= shape[1] else W @ W.T
    np.testing.assert_allclose(gram, np.eye(k), atol=1e-12)
    W2 = I.Orthogonal(gain=2.0)((4, 4), np.random.default_rng(2), np.float64)
    np.testing.assert_allclose(W2.T @ W2, 4 * np.eye(4), atol=1e-12)


@pytest.mark.parametrize("name", sorted(VARIANCE))
def test_same_seed_same_weights_and_dtype_respected(name):
    a = I.get(name)((20, 10), np.random.default_rng(5))
    b = I.get(name)((20, 10), np.random.default_rng(5))
    c = I.get(name)((20, 10), np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and not np.array_equal(a, c)


def test_unknown_initializer_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'; known: .*he_normal"):
        I.get("glorot")


# -- the notes' experiment (001_55bdccef08b64fc2.txt, "Activation Statistics") -----------------
def activations(init, activation, depth, width=512, seed=0):
    """Unit-variance inputs through `depth` Dense layers of `width`: the activations of each."""
    rng = np.random.default_rng(seed)
    h = gk.tensor(rng.standard_normal((1000, width)))
    out = []
    for _ in range(depth):
        layer = L.Dense(width, activation, init=init)
        layer.build((width,), rng=rng)
        h = layer(h)
        out.append(h.numpy())
    return out


def saturated(h):
    return np.mean(np.abs(h) > 0.99)


def test_tanh_with_tiny_weights_collapses_to_zero():
    # "0.01 standard deviation for weights: all activations tend to zero for deeper networks"
    hs = activations(I.RandomNormal(std=0.01), "tanh", 6)
    stds = [h.std() for h in hs]
    assert stds[-1] < 1e-3
    assert all(b < 0.3 * a for a, b in zip(stds, stds[1:]))     # shrinking by sqrt(512)·0.01


def test_tanh_with_large_weights_saturates():
    # "most activations are saturated": |h| > 0.99 for more than a third of the units
    hs = activations(I.RandomNormal(std=0.2), "tanh", 6)
    assert all(saturated(h) > 1 / 3 for h in hs)


@pytest.mark.parametrize("init", ["glorot_normal", "glorot_uniform"])
def test_tanh_with_glorot_init_is_just_right(init):
    hs = activations(init, "tanh", 6)
    assert hs[-1].std() > 0.25
    assert all(saturated(h) < 0.01 for h in hs)


def test_relu_needs_he_init_and_shrinks_with_one_over_sqrt_n():
    # "What about ReLUs? Xavier: activations again go to 0. ReLU correction: nicely balanced."
    rms = lambda h: np.sqrt(np.mean(h.astype(np.float64) ** 2))  # noqa: E731
    he = [rms(h) for h in activations("he_normal", "relu", 10)]
    lecun = [rms(h) for h in activations("lecun_normal", "relu", 10)]
    assert all(0.7 <= r <= 1.4 for r in he)                     # the input's RMS is 1
    assert lecun[-1] < 0.1
    np.testing.assert_allclose(lecun[-1], 2 ** -5, rtol=0.2)    # half the power per layer
