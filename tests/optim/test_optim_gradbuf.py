"""Gradients written straight into an optimizer's flat buffer equal the ordinary ones."""

import numpy as np

import gradkit as gk


def _grads(bind, tie=False):
    rng = np.random.default_rng(0)
    W = gk.nn.Parameter(rng.standard_normal((5, 5)))
    b = gk.nn.Parameter(rng.standard_normal(5))
    W2 = W if tie else gk.nn.Parameter(rng.standard_normal((5, 5)))
    x = gk.tensor(rng.standard_normal((4, 5)), dtype=np.float64)
    params = [W, b] if tie else [W, b, W2]
    if bind:
        opt = gk.optim.SGD(params, lr=0.1)
        opt.zero_grad()
        assert all(p.grad is None and p.grad_buffer is not None for p in params)
    h = gk.tanh(gk.linear(x, W, b))
    loss = (gk.linear(h, W2, b) ** 2).sum()        # b (and W when tied) used twice: fan-out
    loss.backward()
    return [p.grad.copy() for p in params], (opt if bind else None)


def test_linear_writes_into_the_gradient_buffer_with_the_same_values():
    plain, _ = _grads(bind=False)
    direct, opt = _grads(bind=True)
    for a, b in zip(plain, direct):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # The gradients live in the flat buffer: the optimizer sees them without a copy.
    np.testing.assert_array_equal(opt.flat_grad[:25], direct[0].reshape(-1))


def test_tied_weights_accumulate_both_uses():
    plain, _ = _grads(bind=False, tie=True)
    direct, _ = _grads(bind=True, tie=True)
    for a, b in zip(plain, direct):
        np.testing.assert_allclose(a, b, rtol=1e-12)
