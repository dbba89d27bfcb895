"""The relu layers' fused kernels give NumPy's results bit for bit, and run only where meant."""

import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import kernels

numba = pytest.importorskip("numba", reason="numba is not installed: the NumPy passes run")

N = kernels.MIN_SIZE // 256 + 3          # rows of 256 units: just above the kernels' threshold


def _specials(a):
    """Scatter NaN, +-inf, signed zeros and the smallest normals through a."""
    flat = a.reshape(-1)
    info = np.finfo(a.dtype)
    for k, value in enumerate([np.nan, np.inf, -np.inf, 0.0, -0.0, info.tiny, -info.tiny]):
        flat[k::97] = value
    return a


@pytest.fixture(params=["one thread", "OpenBLAS's threads"])
def pool(request):
    """The kernels on the calling thread (the session's one BLAS thread), then split over two
    (the list of tasks handed to the pool)."""
    return request.getfixturevalue("blas_pool") if request.param != "one thread" else None


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    uint = np.uint32 if a.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(a.view(uint), b.view(uint))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_equals_numpy_bit_for_bit(dtype, pool):
    rng = np.random.default_rng(0)
    out = _specials(rng.standard_normal((N, 256)).astype(dtype))
    b = rng.standard_normal(256).astype(dtype)
    b[:4] = [0.0, -0.0, np.inf, np.nan]
    out[0, :4] = -b[:4]                      # sums of exactly 0 and -0.0, and inf - inf
    with np.errstate(invalid="ignore"):              # inf - inf, on purpose
        expected = np.maximum(out + b, 0)
    assert kernels.bias_relu_(out, b) is True
    _same_bits(out, expected)
    assert pool is None or len(pool) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_equals_numpy_bit_for_bit(dtype, pool):
    rng = np.random.default_rng(1)
    g = _specials(rng.standard_normal((N, 256)).astype(dtype))
    ans = np.maximum(_specials(rng.standard_normal((N, 256)).astype(dtype))[:, ::-1], 0)
    ans = np.ascontiguousarray(ans)
    with np.errstate(invalid="ignore"):              # inf * 0, on purpose
        expected = g * (ans > 0).astype(dtype)
    got = kernels.relu_grad(g, ans)
    _same_bits(got, expected)
    assert got is not g and got is not ans
    assert pool is None or len(pool) == 1


def test_kernels_decline_small_mixed_or_strided_arrays():
    rng = np.random.default_rng(2)
    small = rng.standard_normal((4, 256)).astype(np.float32)
    big = rng.standard_normal((N, 256)).astype(np.float32)
    assert kernels.bias_relu_(small, np.zeros(256, np.float32)) is False
    assert kernels.bias_relu_(big, np.zeros(256, np.float64)) is False
    assert kernels.bias_relu_(big, np.zeros((1, 256), np.float32)) is False
    assert kernels.bias_relu_(big[:, ::2], np.zeros(128, np.float32)) is False
    assert kernels.relu_grad(small, small) is None
    assert kernels.relu_grad(big, big.astype(np.float64)) is None
    assert kernels.relu_grad(big[:, ::2], big[:, ::2]) is None
    ints = np.ones((N, 256), np.int64)
    assert kernels.relu_grad(ints, ints) is None


def test_fused_relu_layer_gives_the_numpy_results_and_gradients(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, 64)).astype(np.float32)
    w = rng.standard_normal((64, 256)).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)

    def run():
        ts = [gk.Tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
        out = gk.linear(*ts, activation="relu")
        (out * out).sum().backward()
        return [out.data] + [t.grad for t in ts]

    used = []                                  # which kernels the layer actually ran
    bias_relu_, relu_grad = kernels.bias_relu_, kernels.relu_grad
    monkeypatch.setattr(kernels, "bias_relu_",
                        lambda *a: used.append("bias_relu") or bias_relu_(*a))
    monkeypatch.setattr(kernels, "relu_grad", lambda *a: used.append("relu_grad") or relu_grad(*a))
    with_kernels = run()
    assert used == ["bias_relu", "relu_grad"]
    monkeypatch.setattr(kernels, "loaded", lambda: False)
    assert bias_relu_(x @ w, b) is False and relu_grad(x @ w, x @ w) is None
    for got, expected in zip(with_kernels, run()):
        _same_bits(got, expected)


def test_import_gradkit_does_not_import_numba():
    code = "import sys, gradkit; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
