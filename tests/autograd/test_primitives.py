"""Every entry of the primitive table is gradient-checked in float64 on several shapes."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import PRIMITIVES

R = np.random.default_rng(1234)


def t(*shape, low=-1.0, high=1.0):
    """A float64 tensor that requires grad, with values in [low, high]."""
    return gk.tensor(R.uniform(low, high, size=shape), requires_grad=True, dtype=np.float64)


def apart(*shape):
    """Values whose pairwise gaps are large against eps, so max/argmax is well defined."""
    n = int(np.prod(shape)) if shape else 1
    vals = R.permutation(n).astype(np.float64) * 0.1 - 0.05 * n + R.uniform(0.01, 0.04)
    return gk.tensor(vals.reshape(shape), requires_grad=True, dtype=np.float64)


P = lambda name: PRIMITIVES[name]  # noqa: E731

# name -> list of (fn, inputs); fn returns a Tensor. Several shapes, broadcast ones included.
CASES = {
    "add": [(gk.add, [t(3, 4), t(3, 4)]), (gk.add, [t(3, 4), t(4)]),
            (gk.add, [t(2, 1, 3), t(4, 1)]), (lambda a: a + 2.0, [t(3)])],
    "multiply": [(gk.multiply, [t(3, 4), t(3, 4)]), (gk.multiply, [t(5, 1), t(1, 3)]),
                 (gk.multiply, [t(), t(2, 3)])],
    "negative": [(gk.negative, [t(3, 2)])],
    "divide": [(gk.divide, [t(3, 4), t(3, 4, low=0.5, high=2.0)]),
               (gk.divide, [t(2, 3), t(3, low=0.5, high=2.0)]),
               (lambda b: 1.0 / b, [t(4, low=0.5, high=2.0)])],
    "power": [(lambda a: a ** 3, [t(3, 4)]), (lambda a: a ** 0.5, [t(4, low=0.5, high=2.0)]),
              (gk.power, [t(3, 2, low=0.5, high=2.0), t(2, low=-1, high=2)]),
              (lambda b: 2.0 ** b, [t(3)])],
    "maximum": [(gk.maximum, [apart(3, 4), apart(3, 4)]), (gk.maximum, [apart(3, 4), apart(4)])],
    "minimum": [(gk.minimum, [apart(3, 4), apart(3, 4)]), (gk.minimum, [apart(2, 3), apart(1, 3)])],
    "where": [(lambda a, b: gk.where(np.array([[True, False, True]]), a, b), [t(2, 3), t(3)])],
    "exp": [(gk.exp, [t(3, 4)])],
    "log": [(gk.log, [t(3, 4, low=0.2, high=3.0)])],
    "abs": [(gk.abs, [apart(3, 4)])],
    "clip": [(lambda x: gk.clip(x, -0.3, 0.4), [apart(4, 5)]),
             (lambda x: gk.clip(x, None, 0.1), [apart(6)])],
    "sin": [(gk.sin, [t(3, 4, low=-3, high=3)])],
    "cos": [(gk.cos, [t(3, 4, low=-3, high=3)])],
    "tanh": [(gk.tanh, [t(3, 4, low=-3, high=3)])],
    "sigmoid": [(gk.sigmoid, [t(3, 4, low=-5, high=5)])],
    "relu": [(gk.relu, [apart(3, 4)])],
    "softplus": [(gk.softplus, [t(3, 4, low=-5, high=5)])],
    # erf, and exact GELU (x Φ(x)), which is what it is there for
    "erf": [(gk.erf, [t(3, 4, low=-3, high=3)]),
            (lambda x: gk.nn.functional.gelu(x), [t(3, 4, low=-4, high=4)])],
    "sum": [(gk.sum, [t(3, 4)]), (lambda x: gk.sum(x, axis=0), [t(3, 4)]),
            (lambda x: gk.sum(x, axis=(0, 2), keepdims=True), [t(2, 3, 4)]),
            (lambda x: x.sum(axis=-1, keepdims=True), [t(2, 5)])],
    "sumsq": [(gk.sumsq, [t(3, 4)]), (lambda x: gk.sumsq(x) * 3.0, [t(5)]),
              (lambda x: gk.sumsq(x, scale=0.25), [t(2, 3)])],
    "max": [(gk.max, [apart(3, 4)]), (lambda x: gk.max(x, axis=1), [apart(3, 4)]),
            (lambda x: gk.max(x, axis=0, keepdims=True), [apart(3, 4)])],
    "logsumexp": [(gk.logsumexp, [t(3, 4)]), (lambda x: gk.logsumexp(x, axis=1), [t(3, 4)]),
                  (lambda x: gk.logsumexp(x, axis=0, keepdims=True), [t(3, 4)])],
    "log_softmax": [(gk.log_softmax, [t(3, 4)]), (lambda x: gk.log_softmax(x, axis=0), [t(3, 4)])],
    "softmax": [(gk.softmax, [t(3, 4)]), (lambda x: gk.softmax(x, axis=0), [t(2, 3)])],
    "matmul": [(gk.matmul, [t(3, 4), t(4, 2)]), (gk.matmul, [t(2, 3, 4), t(4, 5)]),
               (gk.matmul, [t(2, 3, 4), t(2, 4, 2)]), (gk.matmul, [t(4), t(4, 3)]),
               (gk.matmul, [t(3, 4), t(4)]), (gk.matmul, [t(4), t(4)])],
    "reshape": [(lambda x: x.reshape(4, 3), [t(3, 4)]), (lambda x: x.reshape(-1), [t(2, 3)])],
    "transpose": [(lambda x: x.T, [t(3, 4)]), (lambda x: x.transpose(2, 0, 1), [t(2, 3, 4)])],
    "getitem": [(lambda x: x[1], [t(3, 4)]), (lambda x: x[:, 1:3], [t(3, 4)]),
                (lambda x: x[np.array([0, 2, 0, 1])], [t(3, 4)]),
                (lambda x: x[np.arange(3), np.array([1, 0, 3])], [t(3, 4)])],
    "concatenate": [(lambda a, b: gk.concatenate([a, b], axis=1), [t(2, 3), t(2, 2)]),
                    (lambda a, b, c: gk.concatenate([a, b, c]), [t(1, 3), t(2, 3), t(1, 3)])],
    "stack": [(lambda a, b: gk.stack([a, b], axis=1), [t(2, 3), t(2, 3)])],
    "linear": [(gk.linear, [t(5, 3), t(3, 4), t(4)]), (gk.linear, [t(2, 5, 3), t(3, 4), t(4)])],
    **{f"linear_{act}": [(lambda x, w, b, act=act: gk.linear(x, w, b, activation=act), shapes)
                         for shapes in ([t(5, 3), t(3, 4), t(4)], [t(2, 5, 3), t(3, 4), t(4)])]
       for act in ("relu", "tanh", "sigmoid")},
    "softmax_cross_entropy": [
        (lambda z: gk.softmax_cross_entropy(z, np.array([0, 2, 1, 2])), [t(4, 3, low=-3, high=3)]),
        (lambda z: gk.softmax_cross_entropy(z, np.array([1, 0]), reduction="sum"), [t(2, 3)]),
        (lambda z: gk.softmax_cross_entropy(z, np.array([1, 0]), reduction="none",
                                            weights=np.array([0.5, 2.0])), [t(2, 3)]),
        (lambda z, p: gk.softmax_cross_entropy(z, p), [t(3, 4), t(3, 4, low=0.0, high=1.0)]),
    ],
    "sigmoid_binary_cross_entropy": [
        (lambda z: gk.sigmoid_binary_cross_entropy(z, np.array([0.0, 1.0, 1.0])), [t(3, low=-4, high=4)]),
        (lambda z, y: gk.sigmoid_binary_cross_entropy(z, y, reduction="sum"),
         [t(3, 2), t(3, 2, low=0, high=1)]),
        (lambda z: gk.sigmoid_binary_cross_entropy(z, np.array([[1.0, 0.0], [0.0, 1.0]]),
                                                   reduction="none", weights=np.array([1.0, 3.0])),
         [t(2, 2)]),
    ],
    "cast": [(lambda x: gk.cast(x, np.float64) * 2, [t(2, 3)])],
}


def test_every_primitive_has_a_gradient_check_case():
    missing = sorted(set(PRIMITIVES) - set(CASES))
    assert not missing, f"primitives without a gradient-check case: {missing}"


@pytest.mark.parametrize(
    "name,index", [(name, i) for name, cases in CASES.items() for i in range(len(cases))])
def test_primitive_gradient_matches_central_differences(name, index):
    fn, inputs = CASES[name][index]
    out = fn(*inputs)
    assert name in _prims_used(out), f"case does not exercise {name}"
    assert gk.gradcheck(fn, *inputs)


def _prims_used(out):
    from gradkit.autograd.backward import topological_order
    return {x._node.prim.name for x in topological_order(out) if x._node is not None}


def test_gradcheck_reports_input_and_element_of_a_wrong_gradient():
    from gradkit.autograd.primitive import defprimitive
    bad = defprimitive("_bad_square", np.square, lambda g, ans, s, x: g * x)  # should be 2x
    try:
        with pytest.raises(gk.GradcheckError, match=r"input 0 \(shape \(3,\)\) at element"):
            gk.gradcheck(lambda x: bad(x), gk.tensor([1.0, 2.0, 3.0], True, np.float64))
    finally:
        del PRIMITIVES["_bad_square"]


def test_tanh_gelu_is_gradient_checked_in_float64():
    # Not a primitive (a composite of tanh), but a separate formula from exact GELU.
    x = t(3, 4, low=-4, high=4)
    assert gk.gradcheck(lambda v: gk.nn.functional.gelu(v, approximate="tanh"), x)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_values_match_torch(approximate):
    torch = pytest.importorskip("torch", reason="torch is the anchor for PyTorch's gelu")
    x = np.linspace(-6, 6, 97)
    want = torch.nn.functional.gelu(torch.from_numpy(x), approximate=approximate).numpy()
    got = gk.nn.functional.gelu(gk.tensor(x, dtype=np.float64), approximate=approximate)
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-15)
    got32 = gk.nn.functional.gelu(gk.tensor(x, dtype=np.float32), approximate=approximate)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32.data, want, rtol=1e-6, atol=1e-6)


def test_gelu_default_is_exact_and_differs_from_tanh_form():
    x = gk.tensor([1.0], dtype=np.float64)
    exact = gk.nn.functional.gelu(x).item()
    assert exact == pytest.approx(0.8413447460685429)          # 1 · Φ(1)
    assert gk.nn.functional.gelu(x, approximate="tanh").item() == pytest.approx(0.8411919906082768)
    assert gk.nn.functional.gelu(x, approximate=False).item() == exact   # Keras's spelling
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        gk.nn.functional.gelu(x, approximate="erf")
