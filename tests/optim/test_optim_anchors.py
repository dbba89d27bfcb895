"""The optimizer names Keras and PyTorch share with different rules or defaults (RMSprop,
Adadelta), against both: made each library's way, each takes that library's steps."""

import os

import numpy as np
import pytest

from gradkit import optim

A = np.array([10.0, 2.0, 0.5])
THETA0 = np.array([1.0, -0.5, 1e-3])  # the last: v near ε, where the forms differ


class Param:
    """The two attributes an optimizer binds (as in test_optim_rules), in float64."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data, self.grad = np.array(data, dtype=np.float64), None


def gradkit_steps(make, steps=5):
    p = Param(THETA0)
    opt = make([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad += A * p.data
        opt.step()
        out.append(p.data.copy())
    return np.array(out)


def keras_steps(make, steps=5):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    v = keras.Variable(THETA0.copy(), dtype="float64")
    opt = make(keras.optimizers)
    expected = []
    for _ in range(steps):
        g = A * keras.ops.convert_to_numpy(v)
        opt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), v)])
        expected.append(keras.ops.convert_to_numpy(v).copy())
    return np.array(expected)


def torch_steps(make, steps=5):
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    p = torch.tensor(THETA0.copy(), dtype=torch.float64, requires_grad=True)
    opt = make(torch.optim, [p])
    expected = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(A) * p.detach()
        opt.step()
        expected.append(p.detach().numpy().copy())
    return np.array(expected)


def keras_way(opt):
    def make(ps):
        opt.bind(ps)
        return opt
    return make


def test_adadelta_made_keras_style_takes_kerass_steps():
    expected = keras_steps(lambda k: k.Adadelta(learning_rate=1.0))
    np.testing.assert_allclose(gradkit_steps(keras_way(optim.Adadelta(learning_rate=1.0))),
                               expected, rtol=1e-6)
    by_name = optim.get("adadelta")                  # compile(optimizer="adadelta")
    np.testing.assert_allclose(gradkit_steps(keras_way(by_name)),
                               keras_steps(lambda k: k.Adadelta()), rtol=1e-6)


def test_adadelta_made_pytorch_style_takes_pytorchs_steps():
    np.testing.assert_allclose(gradkit_steps(lambda ps: optim.Adadelta(ps)),
                               torch_steps(lambda t, ps: t.Adadelta(ps)), rtol=1e-12)


def test_rmsprop_made_keras_style_takes_kerass_steps():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    v = keras.Variable(THETA0.copy(), dtype="float64")
    opt = keras.optimizers.RMSprop(learning_rate=0.01)
    expected = []
    for _ in range(5):
        g = A * keras.ops.convert_to_numpy(v)
        opt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), v)])
        expected.append(keras.ops.convert_to_numpy(v).copy())

    def make(ps):
        opt = optim.RMSprop(learning_rate=0.01)
        opt.bind(ps)
        return opt

    np.testing.assert_allclose(gradkit_steps(make), np.array(expected), rtol=1e-6)


def test_rmsprop_made_pytorch_style_takes_pytorchs_steps():
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    p = torch.tensor(THETA0.copy(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=0.01)
    expected = []
    for _ in range(5):
        opt.zero_grad()
        p.grad = torch.tensor(A) * p.detach()
        opt.step()
        expected.append(p.detach().numpy().copy())
    np.testing.assert_allclose(gradkit_steps(lambda ps: optim.RMSprop(ps, lr=0.01)),
                               np.array(expected), rtol=1e-12)


def test_adagrad_made_keras_style_takes_kerass_steps():
    np.testing.assert_allclose(gradkit_steps(keras_way(optim.Adagrad(learning_rate=0.1))),
                               keras_steps(lambda k: k.Adagrad(learning_rate=0.1)), rtol=1e-6)
    np.testing.assert_allclose(gradkit_steps(keras_way(optim.get("adagrad"))),
                               keras_steps(lambda k: k.Adagrad()), rtol=1e-6)


def test_adagrad_made_pytorch_style_takes_pytorchs_steps():
    np.testing.assert_allclose(gradkit_steps(lambda ps: optim.Adagrad(ps)),
                               torch_steps(lambda t, ps: t.Adagrad(ps)), rtol=1e-12)


def test_adamw_decays_by_each_librarys_default():
    # Keras's 0.004, PyTorch's 0.01. Keras adds its epsilon elsewhere (Adam's documented
    # difference), which shows only where v is near it: the third coordinate is left out.
    np.testing.assert_allclose(gradkit_steps(keras_way(optim.get("adamw")))[:, :2],
                               keras_steps(lambda k: k.AdamW())[:, :2], rtol=1e-6)
    np.testing.assert_allclose(gradkit_steps(lambda ps: optim.AdamW(ps)),
                               torch_steps(lambda t, ps: t.AdamW(ps)), rtol=1e-12, atol=1e-18)
