"""BatchNorm (batch statistics, moving averages, eval mode), Normalization (standardize, PCA,
whitening), and state dicts that carry their buffers."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import Module
from gradkit.nn import layers as L

F64 = np.float64


def batch(seed, shape=(64, 3), loc=(1.0, -2.0, 5.0), scale=(0.5, 3.0, 2.0)):
    return np.random.default_rng(seed).normal(loc, scale, size=shape)


# -- BatchNorm ------------------------------------------------------------------------------------
def test_batchnorm_training_output_has_mean_beta_and_std_gamma_per_feature():
    layer = L.BatchNorm(eps=1e-5, dtype=F64)
    layer.build((3,))
    layer.gamma.data[...] = [2.0, 0.5, -1.0]
    layer.beta.data[...] = [0.0, 1.0, -3.0]
    x = batch(0)
    out = layer(gk.tensor(x, dtype=F64), training=True).numpy()
    np.testing.assert_allclose(out.mean(axis=0), [0.0, 1.0, -3.0], atol=1e-12)
    # std(x̂) = sqrt(σ² / (σ² + eps)), a hair below one.
    shrink = np.sqrt(x.var(axis=0) / (x.var(axis=0) + 1e-5))
    np.testing.assert_allclose(out.std(axis=0), np.array([2.0, 0.5, 1.0]) * shrink, rtol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [2.0, 0.5, 1.0], rtol=1e-4)


def test_batchnorm_running_statistics_follow_the_moving_average_exactly():
    m = 0.8
    layer = L.BatchNorm(momentum=m, dtype=F64)
    layer.build((3,))
    x1, x2 = batch(1), batch(2, shape=(16, 3))
    layer(gk.tensor(x1, dtype=F64), training=True)
    layer(gk.tensor(x2, dtype=F64), training=True)
    mean = m * (m * 0.0 + (1 - m) * x1.mean(0)) + (1 - m) * x2.mean(0)
    var = m * (m * 1.0 + (1 - m) * x1.var(0)) + (1 - m) * x2.var(0)      # biased batch variance
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)


def test_batchnorm_eval_uses_running_statistics_and_does_not_update_them():
    layer = L.BatchNorm(momentum=0.5, eps=1e-3, dtype=F64)
    layer.build((3,))
    layer(gk.tensor(batch(3), dtype=F64), training=True)
    layer.gamma.data[...] = [1.5, 1.0, 0.5]
    layer.beta.data[...] = [0.1, 0.2, 0.3]
    rm, rv = layer.running_mean.copy(), layer.running_var.copy()
    layer.eval()
    x = batch(4, shape=(5, 3))
    out = layer(gk.tensor(x, dtype=F64)).numpy()
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-3) * [1.5, 1.0, 0.5] + [0.1, 0.2, 0.3],
                               rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, rm)
    np.testing.assert_array_equal(layer.running_var, rv)
    # A sample's output no longer depends on the rest of its batch.
    np.testing.assert_allclose(layer(gk.tensor(x[:1], dtype=F64)).numpy(), out[:1], rtol=1e-12)


def test_batchnorm_normalizes_images_per_channel():
    layer = L.BatchNorm(dtype=F64)
    x = np.random.default_rng(5).normal([1.0, -4.0], [2.0, 0.1], size=(8, 4, 4, 2))
    out = layer(gk.tensor(x, dtype=F64), training=True).numpy()
    assert layer.gamma.shape == (2,) and layer.running_mean.shape == (2,)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), [1.0, 1.0], rtol=1e-3)


# -- Normalization ---------------------------------------------------------------------------------
def correlated(seed=0, n=2000):
    mixing = np.array([[3.0, 1.0, 0.0, 0.5], [0.0, 0.5, 0.2, 0.0],
                       [0.0, 0.0, 10.0, 4.0], [0.0, 0.3, 0.0, 0.1]])
    return np.random.default_rng(seed).normal(size=(n, 4)) @ mixing + [100.0, -3.0, 0.0, 7.0]


def test_standardize_gives_zero_mean_unit_std_and_stores_the_statistics():
    X = correlated()
    layer = L.Normalization(dtype=F64).adapt(X)
    np.testing.assert_allclose(layer.mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.std, X.std(0), rtol=1e-12)
    assert int(layer.count) == 2000
    out = layer(gk.tensor(X, dtype=F64)).numpy()
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(out.std(0), 1.0, rtol=1e-10)


def test_pca_decorrelates_with_the_eigenvalues_in_decreasing_order():
    X = correlated()
    out = L.Normalization("pca", dtype=F64).adapt(X)(gk.tensor(X, dtype=F64)).numpy()
    cov = np.cov(out, rowvar=False, bias=True)
    Z = (X - X.mean(0)) / X.std(0)
    eig = np.sort(np.linalg.eigvalsh(np.cov(Z, rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(cov, np.diag(eig), atol=1e-10)
    assert np.trace(cov) == pytest.approx(4.0)        # the correlation matrix's trace
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-10)
    two = L.Normalization("pca", n_components=2, dtype=F64).adapt(X)
    out2 = two(gk.tensor(X, dtype=F64)).numpy()
    assert out2.shape == (2000, 2) and two.compute_output_shape((4,)) == (2,)
    np.testing.assert_allclose(out2, out[:, :2], atol=1e-10)


def test_whitening_gives_the_identity_covariance():
    X = correlated()
    layer = L.Normalization("whiten", eps=1e-9, dtype=F64).adapt(X)
    out = layer(gk.tensor(X, dtype=F64)).numpy()
    # λ/(λ + eps) with the smallest λ about 5e-4: one part in 10^5 below 1
    np.testing.assert_allclose(np.cov(out, rowvar=False, bias=True), np.eye(4), atol=1e-5)
    # float32 with the default eps = 1e-5: the covariance is diag(λ / (λ + eps)), to float32
    # precision; eps damps the near-degenerate direction instead of blowing up its noise.
    default = L.Normalization("whiten").adapt(X)
    out32 = default(gk.tensor(X, dtype=np.float32)).numpy()
    assert out32.dtype == np.float32
    lam = layer.explained_variance
    np.testing.assert_allclose(np.cov(out32.astype(F64), rowvar=False, bias=True),
                               np.diag(lam / (lam + 1e-5)), atol=1e-4)
    assert lam[-1] / (lam[-1] + 1e-5) < 0.98


def test_normalization_refuses_to_run_before_adapt_and_rejects_bad_data():
    layer = L.Normalization()
    with pytest.raises(L.NotAdaptedError, match=r"call layer.adapt\(X_train\)"):
        layer(gk.tensor(np.ones((2, 3))))
    with pytest.raises(RuntimeError):                  # NotAdaptedError is a RuntimeError
        L.Normalization("pca")(gk.tensor(np.ones((2, 3))))
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite values, got nan at index \(2, 1\)"):
        L.Normalization().adapt(X)
    with pytest.raises(ValueError, match=r"shape \(samples, features\), got \(3,\)"):
        L.Normalization().adapt(np.ones(3))


def test_a_constant_feature_becomes_zero_not_nan():
    X = np.column_stack([np.full(10, 0.7), np.arange(10.0)])
    for mode in ("standardize", "pca", "whiten"):
        out = L.Normalization(mode, dtype=F64).adapt(X)(gk.tensor(X, dtype=F64)).numpy()
        assert np.all(np.isfinite(out))
    out = L.Normalization(dtype=F64).adapt(X)(gk.tensor(X, dtype=F64)).numpy()
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-12)


# -- state dicts ----------------------------------------------------------------------------------
class Net(Module):
    def __init__(self):
        self.layers = [L.Normalization("whiten"), L.Dense(5, "relu"), L.BatchNorm(),
                       L.PReLU(), L.Dense(2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_state_dict_round_trip_carries_parameters_and_buffers():
    X = correlated(1, n=50).astype(np.float32)
    net = Net()
    net.layers[0].adapt(X)
    for start in (0, 16):
        net(gk.tensor(X[start:start + 16]))                  # training steps move BatchNorm's stats
    state = net.state_dict()
    assert {"layers.0.mean", "layers.0.std", "layers.0.count", "layers.0.components",
            "layers.0.explained_variance", "layers.1.W", "layers.1.b", "layers.2.gamma",
            "layers.2.beta", "layers.2.running_mean", "layers.2.running_var",
            "layers.3.alpha", "layers.4.W", "layers.4.b"} == set(state)
    assert not np.allclose(state["layers.2.running_var"], 1.0)

    fresh = Net()
    for layer, shape in zip(fresh.layers, [(4,), (4,), (5,), (5,), (5,)]):
        layer.build(shape)
    fresh.load_state_dict(state)
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    net.eval(), fresh.eval()
    np.testing.assert_array_equal(fresh(gk.tensor(X)).numpy(), net(gk.tensor(X)).numpy())
    state["layers.2.running_mean"][0] += 1                   # state_dict() hands out copies
    assert fresh.layers[2].running_mean[0] != state["layers.2.running_mean"][0]


def test_load_state_dict_names_the_key_and_both_shapes_on_a_mismatch():
    net = Net()
    for layer, shape in zip(net.layers, [(4,), (4,), (5,), (5,), (5,)]):
        layer.build(shape)
    state = net.state_dict()
    state["layers.2.running_var"] = np.ones(7, dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape mismatch for 'layers.2.running_var': the model has "
                                         r"\(5,\), the state dict has \(7,\)"):
        net.load_state_dict(state)
    del state["layers.2.running_var"]
    with pytest.raises(ValueError, match=r"missing \['layers.2.running_var'\]"):
        net.load_state_dict(state)


def test_random_projection_keeps_distances_as_johnson_lindenstrauss_says(tmp_path):
    # 60 points on a 3-dimensional subspace of R^500, projected onto k = 400 random axes:
    # with R ~ N(0, 1/k) every squared distance is kept within a few percent (JL, 004).
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(60, 3)) @ rng.normal(size=(3, 500))).astype(np.float64)
    X += rng.normal(scale=1e-3, size=X.shape)
    k = 400
    norm = L.Normalization("random_projection", n_components=k, seed=1, dtype=np.float64)
    norm.adapt(X)
    Z = norm(gk.tensor(X, dtype=np.float64)).numpy()
    assert Z.shape == (60, k) and norm.compute_output_shape((500,)) == (k,)
    R = norm.components
    assert R.shape == (500, k)
    assert np.var(R) * k == pytest.approx(1.0, rel=0.02)          # entries N(0, 1/k)
    S = (X - norm.mean) / norm.std                                   # standardized first
    np.testing.assert_allclose(Z, S @ R, rtol=1e-10, atol=1e-10)
    iu = np.triu_indices(60, 1)
    d_in = ((S[:, None] - S[None]) ** 2).sum(-1)[iu]
    d_out = ((Z[:, None] - Z[None]) ** 2).sum(-1)[iu]
    ratio = d_out / d_in
    assert 0.8 < ratio.min() and ratio.max() < 1.2
    # The same seed draws the same axes; a saved model carries them (they are buffers).
    again = L.Normalization("random_projection", n_components=k, seed=1, dtype=np.float64)
    np.testing.assert_array_equal(again.adapt(X).components, R)
    model = gk.Sequential([norm, L.Dense(2)])
    model.build((500,), seed=0)
    gk.save(model, tmp_path / "m.safetensors")
    loaded = gk.load(tmp_path / "m.safetensors")
    assert loaded.layers[0].get_config()["mode"] == "random_projection"
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-5, atol=1e-6)


def test_random_projection_needs_its_dimension_and_seed_only_belongs_to_it():
    with pytest.raises(ValueError, match="random_projection' needs n_components"):
        L.Normalization("random_projection")
    with pytest.raises(ValueError, match="seed is for mode='random_projection'"):
        L.Normalization("pca", seed=3)
    wide = L.Normalization("random_projection", n_components=8, seed=0).adapt(np.eye(4))
    assert wide.components.shape == (4, 8)          # k may exceed D (a random feature map)
