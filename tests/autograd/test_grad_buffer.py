"""Tensor.grad_buffer: autograd's protocol for gradients written into memory someone else owns."""

import numpy as np
import pytest

import gradkit as gk

# matmul's gradient is computed, then copied into the buffer; linear's weight gradient is
# computed straight into it (its VJP has an `into` form).
LOSSES = {
    "matmul": lambda w, x: (gk.tanh(x @ w) ** 2).sum(),
    "linear": lambda w, x: (gk.tanh(gk.linear(x, w, gk.tensor(np.zeros(2)))) ** 2).sum(),
}


@pytest.mark.parametrize("op", sorted(LOSSES))
def test_backward_fills_the_buffer_and_makes_it_the_grad(op):
    loss_of = LOSSES[op]
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.standard_normal((4, 3)))
    plain = gk.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    loss_of(plain, x).backward()

    owner = np.full(10, -7.0)                      # memory the buffer is a view of
    w = gk.tensor(plain.data.copy(), requires_grad=True)
    w.grad_buffer = owner[2:8].reshape(3, 2)
    loss_of(w, x).backward()
    assert w.grad is w.grad_buffer                 # no copy: the owner sees the gradient
    np.testing.assert_allclose(owner[2:8].reshape(3, 2), plain.grad, rtol=1e-12)
    assert owner[0] == owner[9] == -7.0            # nothing outside the view is touched

    loss_of(w, x).backward()  # a second backward adds, in the buffer
    np.testing.assert_allclose(owner[2:8].reshape(3, 2), 2 * plain.grad, rtol=1e-12)


def test_a_tensor_has_no_buffer_unless_one_is_given():
    t = gk.tensor([1.0, 2.0], requires_grad=True)
    assert t.grad_buffer is None
    (t * t).sum().backward()
    assert t.grad_buffer is None and t.grad.tolist() == [2.0, 4.0]
