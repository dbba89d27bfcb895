"""Activations: every name gradient-checked in float64, values at known points, dtype kept."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import activations as A

R = np.random.default_rng(0)


def apart(*shape):
    """|x| in [0.2, 3] with random signs: no kink (relu, step, leaky, elu) near a sample."""
    x = R.uniform(0.2, 3.0, size=shape) * R.choice([-1.0, 1.0], size=shape)
    return gk.tensor(x, requires_grad=True, dtype=np.float64)


# name -> keyword settings to check it with (every registered name needs an entry)
CASES = {"identity": {}, "linear": {}, "step": {}, "sigmoid": {}, "tanh": {}, "relu": {},
         "leaky_relu": {"alpha": 0.3}, "elu": {"alpha": 0.7}, "selu": {}, "softplus": {},
         "softmax": {}, "log_softmax": {}, "gelu": {}, "silu": {}, "swish": {},
         "rbf": {"gamma": 0.7}}


def test_every_activation_has_a_case():
    assert set(A.names()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_gradient_matches_central_differences(name):
    fn = A.get(name, **CASES[name])
    assert gk.gradcheck(fn, apart(3, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_keeps_the_dtype(name, dtype):
    out = A.get(name, **CASES[name])(gk.tensor(R.normal(size=(2, 3)), dtype=dtype))
    assert out.dtype == dtype


def test_activation_values_at_known_points():
    x = gk.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float64)
    values = {
        "step": [0, 0, 1, 1, 1],                               # θ(x) = 1 for x >= 0 (DESY)
        "relu": [0, 0, 0, 0.5, 2],
        "leaky_relu": [-0.4, -0.1, 0, 0.5, 2],                 # Keras's slope, 0.2
        "elu": np.where(x.numpy() > 0, x.numpy(), np.expm1(x.numpy())),
        "sigmoid": 1 / (1 + np.exp(-x.numpy())),
        "tanh": np.tanh(x.numpy()),
        "softplus": np.log1p(np.exp(x.numpy())),
        "silu": x.numpy() / (1 + np.exp(-x.numpy())),
        "rbf": np.exp(-x.numpy() ** 2),                        # Gaussian e^{-x²}, 1 at 0
    }
    for name, expected in values.items():
        np.testing.assert_allclose(A.apply(name, x).numpy(), expected, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(A.apply("softmax", x).numpy().sum(), 1.0)


def test_extreme_inputs_stay_finite():
    x = gk.tensor([-1e4, -50.0, 50.0, 1e4])
    for name in ("sigmoid", "tanh", "softplus", "elu", "silu", "softmax", "log_softmax", "gelu"):
        assert np.all(np.isfinite(A.apply(name, x).numpy())), name


def test_step_has_zero_gradient_everywhere():
    x = apart(5)
    A.step(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(5))


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown activation 'rellu'; known: .*relu"):
        A.get("rellu")


def test_step_fires_at_zero_like_the_perceptron():
    # One convention: the DESY notes' θ(0) = 1, which Perceptron.predict also uses.
    X = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, 0.0], [0.5, 0.0]])
    p = gk.nn.Perceptron(2)
    p.w[...] = [1.0, 1.0]
    layer = gk.layers.Dense(1, activation="step")
    layer.build((2,))
    layer.W.data[...] = [[1.0], [1.0]]
    layer.b.data[...] = 0.0
    out = layer(gk.tensor(X, dtype=np.float32)).numpy().reshape(-1)
    assert out.tolist() == [1.0, 1.0, 0.0, 1.0]
    assert p.predict(X).tolist() == out.astype(int).tolist()


def test_rbf_width_follows_gamma_and_rejects_bad_gamma():
    x = gk.tensor([0.0, 1.0, 2.0], dtype=np.float64)
    np.testing.assert_allclose(A.apply("rbf", x, gamma=0.5).numpy(), np.exp(-0.5 * x.numpy() ** 2))
    with pytest.raises(ValueError, match="gamma must be > 0, got gamma=0"):
        A.apply("rbf", x, gamma=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_takes_an_array_or_a_list(name):
    # Keras's activations take arrays; an array keeps its dtype, a list becomes float32.
    x = R.normal(size=(2, 3))
    fn = A.get(name, **CASES[name])
    expected = np.asarray(getattr(fn(gk.tensor(x, dtype=np.float64)), "data", x))
    from_array = fn(x)
    from_list = fn(x.tolist())
    np.testing.assert_allclose(np.asarray(getattr(from_array, "data", from_array)), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(np.asarray(getattr(from_list, "data", from_list)), expected,
                               rtol=1e-6)
    if name not in ("identity", "linear"):
        assert from_array.dtype == np.float64 and from_list.dtype == np.float32


@pytest.mark.parametrize("name", ["elu", "leaky_relu", "selu", "relu", "gelu", "softmax"])
def test_activation_functions_on_arrays_give_kerass_values(name):
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    x = np.linspace(-6, 6, 25, dtype=np.float32).reshape(5, 5)
    expected = keras.ops.convert_to_numpy(getattr(keras.activations, name)(x))
    np.testing.assert_allclose(getattr(A, name)(x).numpy(), expected, rtol=1e-6, atol=1e-6)
