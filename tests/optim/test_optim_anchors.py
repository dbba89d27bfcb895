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


# -- two variables: clipping per variable or over all, weight decay -------------------------
# Per-variable and global clipping differ only where there is more than one variable.
THETAS = (np.array([1.0, -0.5, 1e-3]), np.array([2.0, 0.3]))
AS = (A, np.array([4.0, 0.1]))


def gradkit_steps_2(make, steps=5):
    ps = [Param(t) for t in THETAS]
    opt = make(ps)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        for p, a in zip(ps, AS):
            p.grad += a * p.data
        opt.step()
        out.append(np.concatenate([p.data for p in ps]))
    return np.array(out)


def keras_steps_2(make, steps=5):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    vs = [keras.Variable(t.copy(), dtype="float64") for t in THETAS]
    opt = make(keras.optimizers)
    out = []
    for _ in range(steps):
        gs = [keras.ops.convert_to_tensor(a * keras.ops.convert_to_numpy(v), dtype="float64")
              for v, a in zip(vs, AS)]
        opt.apply_gradients(list(zip(gs, vs)))
        out.append(np.concatenate([keras.ops.convert_to_numpy(v) for v in vs]))
    return np.array(out)


def torch_steps_2(make, steps=5, clip=None):
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    ps = [torch.tensor(t.copy(), dtype=torch.float64, requires_grad=True) for t in THETAS]
    opt = make(torch.optim, ps)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        for p, a in zip(ps, AS):
            p.grad = torch.tensor(a) * p.detach()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(ps, clip)
        opt.step()
        out.append(np.concatenate([p.detach().numpy() for p in ps]))
    return np.array(out)


@pytest.mark.parametrize("name, settings", [
    ("SGD", {"learning_rate": 0.1}), ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("Adam", {"learning_rate": 0.1, "epsilon": 1e-7}), ("RMSprop", {"learning_rate": 0.01})])
def test_clipnorm_clips_each_variable_as_kerass_does(name, settings):
    expected = keras_steps_2(lambda k: getattr(k, name)(**settings, clipnorm=0.5))
    got = gradkit_steps_2(keras_way(getattr(optim, name)(**settings, clipnorm=0.5)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Clipping the global norm instead takes other steps: the two are not the same test.
    other = keras_steps_2(lambda k: getattr(k, name)(**settings, global_clipnorm=0.5))
    assert np.abs(other - expected).max() > 1e-3


@pytest.mark.parametrize("name, settings", [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}), ("Adam", {"learning_rate": 0.1})])
def test_global_clipnorm_clips_the_global_norm_as_kerass_and_clip_grad_norm_do(name, settings):
    keras_settings = {**settings, "epsilon": 1e-8} if name == "Adam" else settings
    expected = keras_steps_2(lambda k: getattr(k, name)(**keras_settings, global_clipnorm=0.5))
    ours = getattr(optim, name)(**settings, global_clipnorm=0.5, **(
        {"eps_on_v_hat": False} if name == "Adam" else {}))
    np.testing.assert_allclose(gradkit_steps_2(keras_way(ours)), expected, rtol=1e-6)
    # PyTorch's habit, torch.nn.utils.clip_grad_norm_ before the step, is the global norm
    # (its factor is max_norm / (norm + 1e-6), Keras's and gradkit's max_norm / norm).
    torch_settings = {"lr": 0.1, **({"momentum": 0.9} if name == "SGD" else {})}
    np.testing.assert_allclose(
        gradkit_steps_2(lambda ps: getattr(optim, name)(ps, **torch_settings,
                                                        global_clipnorm=0.5)),
        torch_steps_2(lambda t, ps: getattr(t, name)(ps, **torch_settings), clip=0.5),
        rtol=1e-6, atol=1e-9)


KERAS_DECAY = [("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
               ("Adam", {"learning_rate": 0.05, "epsilon": 1e-7}),
               ("AdamW", {"learning_rate": 0.05, "epsilon": 1e-7}),
               ("RMSprop", {"learning_rate": 0.01}), ("Adagrad", {"learning_rate": 0.1}),
               ("Adadelta", {"learning_rate": 1.0})]


@pytest.mark.parametrize("name, settings", KERAS_DECAY)
def test_weight_decay_made_keras_style_is_kerass_decoupled_decay(name, settings):
    expected = keras_steps_2(lambda k: getattr(k, name)(**settings, weight_decay=0.1))
    got = gradkit_steps_2(keras_way(getattr(optim, name)(**settings, weight_decay=0.1)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


TORCH_DECAY = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("SGD", {"lr": 0.1, "momentum": 0.9,
                                                              "nesterov": True}),
               ("Adam", {"lr": 0.05}), ("AdamW", {"lr": 0.05}), ("RMSprop", {"lr": 0.01}),
               ("Adagrad", {"lr": 0.1}), ("Adadelta", {})]


@pytest.mark.parametrize("name, settings", TORCH_DECAY)
def test_weight_decay_made_pytorch_style_is_pytorchs(name, settings):
    expected = torch_steps_2(lambda t, ps: getattr(t, name)(ps, **settings, weight_decay=0.1))
    got = gradkit_steps_2(lambda ps: getattr(optim, name)(ps, **settings, weight_decay=0.1))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18)


def test_adam_takes_kerass_epsilon_with_kerass_meaning():
    # ε added to √v, not to √v̂: visible where v is near ε (the third coordinate).
    for eps in (1e-3, 1e-7):
        expected = keras_steps(lambda k: k.Adam(learning_rate=0.01, epsilon=eps))
        got = gradkit_steps(keras_way(optim.Adam(learning_rate=0.01, epsilon=eps)))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-10)
    expected = keras_steps(lambda k: k.AdamW())
    np.testing.assert_allclose(gradkit_steps(keras_way(optim.AdamW(epsilon=1e-7))), expected,
                               rtol=1e-6, atol=1e-10)
    with pytest.raises(TypeError, match="epsilon= .* eps= or eps_on_v_hat="):
        optim.Adam(eps=1e-8, epsilon=1e-7)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_after_a_change_of_rate_is_each_librarys(nesterov):
    # PyTorch applies the new rate to its whole momentum buffer; Keras keeps the rate inside
    # its velocity. The steps agree while the rate is constant and part after it changes.
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    tp = torch.tensor(THETA0.copy(), dtype=torch.float64, requires_grad=True)
    opt_t = torch.optim.SGD([tp], lr=0.05, momentum=0.9, nesterov=nesterov)
    p = Param(THETA0)
    opt_g = optim.SGD([p], lr=0.05, momentum=0.9, nesterov=nesterov)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    kv = keras.Variable(THETA0.copy(), dtype="float64")
    opt_k = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=nesterov)
    q = Param(THETA0)
    opt_gk = keras_way(optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=nesterov))([q])
    for step in range(6):
        if step == 3:
            opt_t.param_groups[0]["lr"] = 0.02
            opt_g.param_groups[0]["lr"] = 0.02
            opt_k.learning_rate = 0.02
            opt_gk.learning_rate = 0.02
        opt_t.zero_grad()
        tp.grad = torch.tensor(A) * tp.detach()
        opt_t.step()
        opt_g.zero_grad()
        p.grad += A * p.data
        opt_g.step()
        opt_k.apply_gradients([(keras.ops.convert_to_tensor(
            A * keras.ops.convert_to_numpy(kv), dtype="float64"), kv)])
        opt_gk.zero_grad()
        q.grad += A * q.data
        opt_gk.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(q.data, keras.ops.convert_to_numpy(kv), rtol=1e-6, atol=1e-12)
    assert np.abs(p.data - q.data).max() > 1e-4


def test_adam_made_keras_style_takes_kerass_steps_and_pytorch_style_pytorchs():
    # Small gradients, where ε's value and place show: Keras's 1e-7 on √v, PyTorch's (and
    # the notes') 1e-8 on √v̂.
    def small_steps(make):
        p = Param(THETA0 * 1e-6)
        opt = make([p])
        out = []
        for _ in range(5):
            opt.zero_grad()
            p.grad += A * p.data
            opt.step()
            out.append(p.data.copy())
        return np.array(out)

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the compat extra")
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    v = keras.Variable(THETA0 * 1e-6, dtype="float64")
    k_opt, expected = keras.optimizers.Adam(), []
    t = torch.tensor(THETA0 * 1e-6, dtype=torch.float64, requires_grad=True)
    t_opt, torch_expected = torch.optim.Adam([t]), []
    for _ in range(5):
        g = A * keras.ops.convert_to_numpy(v)
        k_opt.apply_gradients([(keras.ops.convert_to_tensor(g, dtype="float64"), v)])
        expected.append(keras.ops.convert_to_numpy(v).copy())
        t_opt.zero_grad()
        t.grad = torch.tensor(A) * t.detach()
        t_opt.step()
        torch_expected.append(t.detach().numpy().copy())
    for made in (optim.Adam(), optim.get("adam")):        # compile(optimizer="adam") too
        np.testing.assert_allclose(small_steps(keras_way(made)), expected, rtol=1e-6)
    np.testing.assert_allclose(small_steps(lambda ps: optim.Adam(ps)), torch_expected,
                               rtol=1e-9)
    assert not np.allclose(expected, torch_expected, rtol=1e-3)   # the two do differ here
