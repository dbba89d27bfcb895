"""The relu kernels give the NumPy reference's results bit for bit, and run only where meant."""

import numpy as np
import pytest

import gradkit as gk
from gradkit import _fast
from gradkit.autograd import PRIMITIVES

N = _fast.MIN_SIZE // 256 + 3          # rows of 256 units: just above the kernels' threshold


def _compiled():
    compiled = _fast.compiled()
    if not compiled:
        pytest.skip("numba is not installed: only the NumPy reference runs")
    return compiled


def _specials(a):
    """Scatter NaN, +-inf, signed zeros and the smallest normals through a."""
    flat = a.reshape(-1)
    info = np.finfo(a.dtype)
    for k, value in enumerate([np.nan, np.inf, -np.inf, 0.0, -0.0, info.tiny, -info.tiny]):
        flat[k::97] = value
    return a


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    uint = np.uint32 if a.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(a.view(uint), b.view(uint))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_kernel_equals_numpy_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    out = _specials(rng.standard_normal((N, 256)).astype(dtype))
    b = rng.standard_normal(256).astype(dtype)
    b[:4] = [0.0, -0.0, np.inf, np.nan]
    out[0, :4] = -b[:4]                      # sums of exactly 0 and -0.0, and inf - inf
    with np.errstate(invalid="ignore"):              # inf - inf, on purpose
        expected = np.maximum(out + b, 0)
    _compiled().bias_relu(out, b)
    _same_bits(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_kernel_equals_the_reference_vjp_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    g = _specials(rng.standard_normal((N, 256)).astype(dtype))
    ans = np.maximum(_specials(rng.standard_normal((N, 256)).astype(dtype))[:, ::-1], 0)
    ans = np.ascontiguousarray(ans)
    with gk.set_kernels(False), np.errstate(invalid="ignore"):     # inf * 0, on purpose
        expected = PRIMITIVES["relu"].vjps[0](g, ans, None, None)
    out = np.empty_like(ans)
    _compiled().relu_grad(g.reshape(-1), ans.reshape(-1), out.reshape(-1))
    _same_bits(out, expected)


def _relu_layers(x, w, b):
    """A fused relu layer and an unfused relu, forward and backward: outputs and gradients."""
    ts = [gk.Tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    fused = gk.linear(*ts, activation="relu")
    h = gk.Tensor(x @ w, requires_grad=True)
    plain = gk.relu(h)
    ((fused * fused).sum() + (plain * plain).sum()).backward()
    return [fused.data, plain.data, h.grad] + [t.grad for t in ts]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_layers_give_the_reference_results_both_ways(dtype, kernel_calls):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, 64)).astype(dtype)
    w = rng.standard_normal((64, 256)).astype(dtype)
    b = rng.standard_normal(256).astype(dtype)
    got = _relu_layers(x, w, b)
    expected_calls = ["bias_relu", "relu_grad", "relu_grad"] if gk.kernels_enabled() else []
    assert kernel_calls == expected_calls
    with gk.set_kernels(False):
        expected = _relu_layers(x, w, b)
    for a, e in zip(got, expected):
        _same_bits(a, e)


def test_the_relu_kernels_leave_small_mixed_or_strided_arrays_to_the_reference(kernel_calls):
    rng = np.random.default_rng(2)
    big = rng.standard_normal((N, 256)).astype(np.float32)
    w = np.eye(256, dtype=np.float32)
    relu, linear_relu = PRIMITIVES["relu"], PRIMITIVES["linear_relu"]
    linear_relu.forward(big[:4], w, np.zeros(256, np.float32))              # small
    linear_relu.forward(big, w, np.zeros(256, np.float64))                  # mixed types
    linear_relu.forward(big, w, np.zeros((1, 256), np.float32))             # a 2-D bias
    linear_relu.forward(big.astype(np.float64), w, np.zeros(256))           # x not w's type
    relu.vjps[0](big[:4], big[:4], None, None)
    relu.vjps[0](big, big.astype(np.float64), None, None)
    relu.vjps[0](big[:, ::2], big[:, ::2], None, None)
    ints = np.ones((N, 256), np.int64)
    relu.vjps[0](ints, ints, None, None)
    assert kernel_calls == []


def test_the_switch_installs_and_removes_the_fast_paths():
    _compiled()
    relu, linear_relu = PRIMITIVES["relu"], PRIMITIVES["linear_relu"]
    with gk.set_kernels(False):
        reference = relu.vjps, linear_relu.forward
        assert reference[0][0].__module__ == "gradkit.autograd.primitives"
        with gk.set_kernels(True):
            assert gk.kernels_enabled()
            assert relu.vjps[0].__module__ == linear_relu.forward.__module__ == "gradkit._fast"
        assert not gk.kernels_enabled()
        assert (relu.vjps, linear_relu.forward) == reference
