"""The fused f(x @ W + b) nodes (relu, tanh, sigmoid): the values and gradients of the two
unfused nodes."""

import numpy as np
import pytest

import gradkit as gk


def _inputs(dtype, rows=6):
    rng = np.random.default_rng(1)
    x = gk.tensor(rng.standard_normal((rows, 4)), dtype=dtype, requires_grad=True)
    W = gk.nn.Parameter(rng.standard_normal((4, 5)).astype(dtype))
    b = gk.nn.Parameter(rng.standard_normal(5).astype(dtype))
    return x, W, b


ACTIVATIONS = {"relu": gk.relu, "tanh": gk.tanh, "sigmoid": gk.sigmoid}


def _grads(act, fused, dtype, bind=False):
    x, W, b = _inputs(dtype)
    if bind:                                   # gradients written into the optimizer's buffer
        gk.optim.SGD([W, b], lr=0.1).zero_grad()
    h = gk.linear(x, W, b, activation=act) if fused else ACTIVATIONS[act](gk.linear(x, W, b))
    loss = (h * h).sum() + h.sum()
    loss.backward()
    return h.data, [x.grad, W.grad, b.grad]


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bind", [False, True])
def test_fused_node_equals_linear_then_activation(act, dtype, bind):
    out_f, grads_f = _grads(act, True, dtype, bind)
    out_u, grads_u = _grads(act, False, dtype, bind)
    assert out_f.dtype == dtype
    if act == "relu":
        assert (out_f == 0).any() and (out_f > 0).any()   # both sides of the kink are covered
    # The same operations in the same order: the same bits, the gradients included.
    np.testing.assert_array_equal(out_f, out_u)
    for f, u in zip(grads_f, grads_u):
        np.testing.assert_array_equal(f, u)


def test_second_backward_through_a_kept_graph_uses_the_new_upstream_gradient():
    # The three VJPs share one masked gradient per pass: a retained graph run again with a
    # different upstream gradient must not reuse the first pass's.
    x, W, b = _inputs(np.float64)
    h = gk.linear(x, W, b, activation="relu")
    g1 = np.ones(h.shape)
    g2 = np.arange(h.data.size, dtype=np.float64).reshape(h.shape)
    h.backward(g1, retain_graph=True)
    first = W.grad.copy()
    W.grad = None
    h.backward(g2)
    mask = (h.data > 0).astype(np.float64)
    np.testing.assert_allclose(first, x.data.T @ (g1 * mask))
    np.testing.assert_allclose(W.grad, x.data.T @ (g2 * mask))


@pytest.mark.parametrize("act, f", [
    ("relu", lambda z: np.maximum(z, 0)), ("tanh", np.tanh),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z.astype(np.float64))))])
def test_dense_layer_uses_the_fused_node(act, f):
    layer = gk.layers.Dense(3, activation=act)
    layer.build((4,), rng=np.random.default_rng(0))
    x = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    out = layer(gk.tensor(x))
    assert out._node.prim.name == f"linear_{act}"
    np.testing.assert_allclose(out.data, f(x @ layer.W.data + layer.b.data), rtol=1e-6)


def test_dense_layer_without_bias_or_with_another_activation_is_not_fused():
    x = gk.tensor(np.ones((2, 4), np.float32))
    for layer, name in ((gk.layers.Dense(3, activation="tanh", use_bias=False), "tanh"),
                        (gk.layers.Dense(3, activation="softplus"), "softplus")):
        layer.build((4,), rng=np.random.default_rng(0))
        assert layer(x)._node.prim.name == name


def test_dense_layer_takes_an_unhashable_callable_activation():
    class Scaled:                              # defines __eq__, so it cannot be hashed
        def __eq__(self, other):
            return isinstance(other, Scaled)

        def __call__(self, z):
            return z * 2.0

    layer = gk.layers.Dense(3, activation=Scaled())
    layer.build((4,), rng=np.random.default_rng(0))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(layer(gk.tensor(x)).data, 2 * (x @ layer.W.data + layer.b.data))


def test_linear_without_bias_applies_the_activation_after_the_product():
    x, W, _ = _inputs(np.float64)
    out = gk.linear(x, W, activation="sigmoid")
    assert out._node.prim.name == "sigmoid"
    np.testing.assert_allclose(out.data, 1 / (1 + np.exp(-(x.data @ W.data))))


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_fused_node_on_integer_inputs_gives_the_unfused_values(act):
    x, w, b = np.arange(6).reshape(2, 3), np.ones((3, 2), np.int64), np.array([-20, 1])
    fused = gk.linear(gk.tensor(x), gk.tensor(w), gk.tensor(b), activation=act).data
    unfused = ACTIVATIONS[act](gk.linear(gk.tensor(x), gk.tensor(w), gk.tensor(b))).data
    assert fused.dtype == unfused.dtype
    np.testing.assert_array_equal(fused, unfused)


def test_linear_refuses_an_activation_it_cannot_fuse():
    x, W, b = _inputs(np.float64)
    with pytest.raises(ValueError, match="'relu', 'tanh' or 'sigmoid', got activation='elu'"):
        gk.linear(x, W, b, activation="elu")
