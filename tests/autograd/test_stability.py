"""Stable forms stay finite and accurate up to |x| = 1e4, in float32 and float64."""

import numpy as np
import pytest

import gradkit as gk

BIG = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4 + 2.0]])


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def _x(dtype):
    return gk.tensor(BIG, requires_grad=True, dtype=dtype)


def _finite_with_grad(out, x):
    assert np.all(np.isfinite(out.data))
    out.sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_logsumexp(dtype):
    x = _x(dtype)
    out = gk.logsumexp(x, axis=1)
    np.testing.assert_allclose(out.data, [1e4, 1e4 + np.log1p(np.exp(-1.0)), -1e4 + 2.0 + np.log1p(2 * np.exp(-2.0))],
                               rtol=1e-6)
    _finite_with_grad(out, x)


def test_log_softmax_and_softmax(dtype):
    x = _x(dtype)
    ls = gk.log_softmax(x, axis=1)
    np.testing.assert_allclose(ls.data[0], [-2e4, -1e4, 0.0], rtol=1e-6)
    _finite_with_grad(ls, x)
    x = _x(dtype)
    sm = gk.softmax(x, axis=1)
    np.testing.assert_allclose(sm.data.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sm.data[0], [0.0, 0.0, 1.0])
    _finite_with_grad(sm, x)


def test_sigmoid_and_softplus(dtype):
    x = _x(dtype)
    s = gk.sigmoid(x)
    np.testing.assert_allclose(s.data[0], [0.0, 0.5, 1.0])
    _finite_with_grad(s, x)
    x = _x(dtype)
    sp = gk.softplus(x)
    np.testing.assert_allclose(sp.data[0], [0.0, np.log(2.0), 1e4], rtol=1e-6)
    _finite_with_grad(sp, x)


def test_softmax_cross_entropy_from_huge_logits(dtype):
    x = _x(dtype)
    loss = gk.softmax_cross_entropy(x, np.array([0, 0, 2]), reduction="none")
    np.testing.assert_allclose(loss.data, [2e4, np.log1p(np.exp(-1.0)), np.log1p(2 * np.exp(-2.0))], rtol=1e-5,
                               atol=1e-3)
    _finite_with_grad(loss, x)
    # The gradient is softmax - onehot: row 0 puts -1 on the true class and +1 on the winner.
    np.testing.assert_allclose(x.grad[0], [-1.0, 0.0, 1.0], atol=1e-6)


def test_sigmoid_binary_cross_entropy_from_huge_logits(dtype):
    z = gk.tensor([-1e4, 1e4, -1e4, 1e4], requires_grad=True, dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = gk.sigmoid_binary_cross_entropy(z, t, reduction="none")
    np.testing.assert_allclose(loss.data, [1e4, 1e4, 0.0, 0.0], rtol=1e-6)
    _finite_with_grad(loss, z)
    np.testing.assert_allclose(z.grad, [-1.0, 1.0, 0.0, 0.0])
