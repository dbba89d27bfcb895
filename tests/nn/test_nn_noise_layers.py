"""Dropout, DropConnect, GaussianNoise, RandomShift, RandomFlip and PReLU, value by value."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import layers as L


def built(layer, shape, rng=None):
    layer.build(shape, rng=rng)
    return layer


# -- Dropout --------------------------------------------------------------------------------------
def test_dropout_is_the_identity_in_eval_mode():
    x = gk.tensor(np.arange(12.0).reshape(3, 4))
    layer = L.Dropout(0.5, seed=0).eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_dropout_zeroes_a_fraction_rate_and_scales_the_rest_by_one_over_keep():
    p = 0.3
    x = gk.tensor(np.random.default_rng(1).uniform(1.0, 2.0, size=(400, 50)), dtype=np.float64)
    layer = built(L.Dropout(p, seed=42), (50,))
    out = layer(x, training=True).numpy()
    keep = np.random.default_rng(42).random((400, 50)) >= p      # the documented draw
    np.testing.assert_array_equal(out, np.where(keep, x.numpy() * (1 / (1 - p)), 0.0))
    assert np.mean(out == 0) == pytest.approx(p, abs=0.01)      # 20 000 units: std 0.003
    assert out.mean() == pytest.approx(x.numpy().mean(), rel=0.01)  # inverted: E[out] = x


def test_dropout_mask_changes_between_calls_and_its_gradient_is_the_mask():
    layer = built(L.Dropout(0.5, seed=0), (8,))
    x = gk.tensor(np.ones((4, 8)), requires_grad=True)
    a = layer(x, training=True)
    a.sum().backward()
    np.testing.assert_array_equal(x.grad, a.numpy())              # d(x·m)/dx = m = out / 1
    assert not np.array_equal(layer(x, training=True).numpy(), a.numpy())


def test_dropout_seed_wins_over_the_model_rng_which_wins_over_a_fresh_one():
    x = gk.tensor(np.ones((6, 10)))
    seeded = [built(L.Dropout(0.5, seed=3), (10,), rng=np.random.default_rng(i))(
        x, training=True).numpy() for i in (0, 1)]
    np.testing.assert_array_equal(*seeded)
    shared = [built(L.Dropout(0.5), (10,), rng=np.random.default_rng(9))(x, training=True).numpy()
              for _ in range(2)]
    np.testing.assert_array_equal(*shared)
    layer = built(L.Dropout(0.5), (10,), rng=np.random.default_rng(9))
    assert layer.rng is not None
    assert not np.array_equal(layer(x, training=True).numpy(), seeded[0])


def test_dropout_rate_zero_is_the_identity_and_float32_stays_float32():
    x = gk.tensor(np.ones((2, 3), np.float32))
    assert L.Dropout(0.0)(x) is x
    assert L.Dropout(0.5, seed=1)(x).dtype == np.float32


# -- DropConnect ----------------------------------------------------------------------------------
def _dropconnect(rate=0.5, seed=11):
    layer = built(L.DropConnect(3, rate, seed=seed, dtype=np.float64), (4,),
                  rng=np.random.default_rng(0))
    layer.b.data[...] = [0.1, -0.2, 0.3]
    return layer


def test_dropconnect_drops_weights_with_one_mask_per_batch():
    layer = _dropconnect()
    x = np.random.default_rng(2).normal(size=(5, 4))
    out = layer(gk.tensor(x, dtype=np.float64), training=True).numpy()
    keep = np.random.default_rng(11).random((4, 3)) >= 0.5
    np.testing.assert_allclose(out, x @ np.where(keep, layer.W.numpy() / 0.5, 0.0) + layer.b.numpy(),
                               rtol=1e-12)


def test_dropconnect_evaluates_with_the_expected_weights():
    layer = _dropconnect(rate=0.4)
    x = gk.tensor(np.random.default_rng(3).normal(size=(2, 4)), dtype=np.float64)
    dense = np.asarray(x) @ layer.W.numpy() + layer.b.numpy()
    np.testing.assert_allclose(layer.eval()(x).numpy(), dense, rtol=1e-12)
    layer.train()
    average = np.mean([layer(x, training=True).numpy() for _ in range(4000)], axis=0)
    np.testing.assert_allclose(average, dense, atol=0.05)     # E[W ⊙ M] = W


def test_dropconnect_gradient_reaches_only_the_kept_weights():
    layer = _dropconnect(rate=0.5, seed=5)
    layer(gk.tensor(np.ones((2, 4)), dtype=np.float64), training=True).sum().backward()
    keep = np.random.default_rng(5).random((4, 3)) >= 0.5
    np.testing.assert_allclose(layer.W.grad, np.where(keep, 2 / 0.5, 0.0))
    np.testing.assert_allclose(layer.b.grad, [2.0, 2.0, 2.0])


# -- GaussianNoise --------------------------------------------------------------------------------
def test_gaussian_noise_adds_seeded_normal_noise_in_training_only():
    x = gk.tensor(np.zeros((2000, 10)), dtype=np.float64)
    layer = built(L.GaussianNoise(0.5, seed=8), (10,))
    out = layer(x, training=True).numpy()
    np.testing.assert_array_equal(out, np.random.default_rng(8).normal(0.0, 0.5, size=(2000, 10)))
    assert out.std() == pytest.approx(0.5, rel=0.02)
    assert layer.eval()(x) is x


# -- augmentation ---------------------------------------------------------------------------------
def _shift(img, dy, dx):
    out = np.zeros_like(img)
    h, w = img.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@pytest.mark.parametrize("shape", [(6, 5, 7), (6, 5, 7, 3)])
def test_random_shift_translates_each_image_and_fills_with_zeros(shape):
    x = np.random.default_rng(0).uniform(1, 2, size=shape)
    layer = built(L.RandomShift((2, 3), seed=4), shape[1:])
    out = layer(gk.tensor(x, dtype=np.float64), training=True).numpy()
    rng = np.random.default_rng(4)
    dy, dx = rng.integers(-2, 3, size=6), rng.integers(-3, 4, size=6)
    for i in range(6):
        np.testing.assert_array_equal(out[i], _shift(x[i], dy[i], dx[i]))
    assert np.any(dy != 0) and np.any(dx != 0)
    np.testing.assert_array_equal(layer.eval()(gk.tensor(x, dtype=np.float32)).numpy(),
                                  x.astype(np.float32))


def test_random_flip_mirrors_about_half_of_the_images():
    x = np.random.default_rng(1).normal(size=(400, 3, 4))
    layer = built(L.RandomFlip(horizontal=True, vertical=True, seed=2), (3, 4))
    out = layer(gk.tensor(x, dtype=np.float64), training=True).numpy()
    rng = np.random.default_rng(2)
    flip_v, flip_h = rng.random(400) < 0.5, rng.random(400) < 0.5     # vertical drawn first
    expected = np.where(flip_v[:, None, None], x[:, ::-1, :], x)
    expected = np.where(flip_h[:, None, None], expected[:, :, ::-1], expected)
    np.testing.assert_array_equal(out, expected)
    assert flip_h.mean() == pytest.approx(0.5, abs=0.07)
    assert layer.eval()(gk.tensor(x, dtype=np.float32)).numpy().tobytes() == \
        x.astype(np.float32).tobytes()


def test_random_flip_horizontal_only_on_channels_last_images():
    x = np.arange(2 * 2 * 3 * 2, dtype=np.float64).reshape(2, 2, 3, 2)
    layer = built(L.RandomFlip(seed=0), (2, 3, 2))
    out = layer(gk.tensor(x, dtype=np.float64), training=True).numpy()
    flip = np.random.default_rng(0).random(2) < 0.5
    for i in range(2):
        np.testing.assert_array_equal(out[i], x[i, :, ::-1, :] if flip[i] else x[i])


# -- PReLU ----------------------------------------------------------------------------------------
def test_prelu_values_and_the_gradient_of_its_slopes():
    layer = built(L.PReLU(dtype=np.float64), (3,))
    np.testing.assert_array_equal(layer.alpha.numpy(), [0.0, 0.0, 0.0])     # Keras's start
    np.testing.assert_array_equal(built(L.PReLU(alpha_init=0.25), (3,)).alpha.numpy(),
                                  [0.25, 0.25, 0.25])                         # He et al.'s
    layer.alpha.data[...] = [0.1, 0.5, 2.0]
    x = gk.tensor([[-2.0, 3.0, -1.0], [4.0, -4.0, -0.5]], dtype=np.float64)
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), [[-0.2, 3.0, -2.0], [4.0, -2.0, -1.0]])
    out.sum().backward()
    np.testing.assert_allclose(layer.alpha.grad, [-2.0, -4.0, -1.5])   # Σ x over x < 0
    assert [n for n, _ in layer.named_parameters()] == ["alpha"]


def _keras():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="Keras 3 is in the compat extra")


@pytest.mark.parametrize("shape, settings", [((5,), {}), ((4, 3), {}),
                                             ((4, 3), {"shared_axes": [1]})])
def test_prelu_is_kerass_shape_start_values_and_gradients(shape, settings):
    import torch

    keras = _keras()
    theirs = keras.layers.PReLU(**settings)
    theirs.build((None, *shape))
    ours = built(L.PReLU(**settings, dtype=np.float64), shape)
    assert ours.alpha.shape == tuple(theirs.alpha.shape)
    np.testing.assert_array_equal(ours.alpha.numpy(), keras.ops.convert_to_numpy(theirs.alpha))
    assert ours.weight_count(shape) == theirs.count_params()
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.1, 0.9, size=ours.alpha.shape)
    theirs.alpha.assign(alpha)
    ours.alpha.data[...] = alpha
    x = rng.normal(size=(6, *shape))
    xt, xg = torch.tensor(x, requires_grad=True), gk.tensor(x, requires_grad=True)
    yt, yg = theirs(xt), ours(xg)
    np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=1e-6)
    (yt ** 2).sum().backward()
    (yg ** 2).sum().backward()
    np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.alpha.grad, theirs.alpha.value.grad.numpy(), rtol=1e-6)
