"""Full-batch L-BFGS and damped Newton, through closures over ordinary parameters."""

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim


class Param:
    __slots__ = ("data", "grad")

    def __init__(self, data, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = None


def rosenbrock(opt, a, b):
    """f(a, b) = (1 − a)² + 100(b − a²)², minimum 0 at (1, 1)."""

    def closure():
        opt.zero_grad()
        x, y = float(a.data[0]), float(b.data)
        a.grad[0] += -2 * (1 - x) - 400 * x * (y - x * x)
        b.grad += 200 * (y - x * x)
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    return closure


def least_squares_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + 0.7 + 0.1 * rng.standard_normal(40)
    solution = np.linalg.lstsq(np.c_[X, np.ones(40)], y, rcond=None)[0]
    return X, y, solution


def linear_closure(opt, w, b, X, y):
    """L = ½ mean((Xw + b − y)²), gradients filled as backward would."""

    def closure():
        opt.zero_grad()
        r = X @ w.data + b.data - y
        w.grad += X.T @ r / len(y)
        b.grad += r.mean()
        return 0.5 * float(r @ r) / len(y)

    return closure


def test_lbfgs_minimizes_the_rosenbrock_function():
    a, b = Param([-1.2]), Param(1.0)
    opt = optim.LBFGS([a, b], maxiter=200, tol=1e-9, ftol=1e-15)
    result = opt.minimize(rosenbrock(opt, a, b))
    assert result.success, result.message
    np.testing.assert_allclose([a.data[0], b.data], [1.0, 1.0], atol=1e-6)
    assert result.loss < 1e-12 and result.iterations == opt.iterations < 100
    assert np.shares_memory(a.data, opt.flat)


def test_lbfgs_solves_least_squares():
    X, y, solution = least_squares_problem()
    w, b = Param(np.zeros(5)), Param(0.0)
    opt = optim.LBFGS(tol=1e-10, ftol=1e-15).bind([w, b])     # step() as compile calls it
    closure = linear_closure(opt, w, b, X, y)
    assert opt.step(closure) is True
    np.testing.assert_allclose(np.r_[w.data, b.data], solution, atol=1e-7)
    # The gradient buffer is left holding the gradient at the final point.
    final = opt.flat_grad.copy()
    closure()
    np.testing.assert_allclose(opt.flat_grad, final, atol=1e-15)


def test_lbfgs_stops_at_the_best_finite_point_on_a_non_finite_loss():
    p = Param([3.0])
    opt = optim.LBFGS([p])

    def closure():
        opt.zero_grad()
        x = float(p.data[0])
        if x < 1.0:                           # "the loss exploded" below 1
            p.grad += np.nan
            return math.nan
        p.grad += 2 * x
        return x * x

    result = opt.minimize(closure)
    assert not result.success and "non-finite" in result.message
    assert math.isfinite(result.loss) and p.data[0] >= 1.0 and result.loss == p.data[0] ** 2


def test_newton_solves_linear_regression_in_a_handful_of_steps():
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 25)
    y = 2.5 * x - 0.7 + 0.05 * rng.standard_normal(25)
    solution = np.polyfit(x, y, 1)
    w, b = Param([0.0]), Param(0.0)
    opt = optim.Newton([w, b])
    result = opt.minimize(linear_closure(opt, w, b, x[:, None], y))
    assert result.success and result.iterations <= 5, result
    np.testing.assert_allclose([w.data[0], b.data], solution, atol=1e-9)


def test_newton_adapts_its_damping_on_the_rosenbrock_valley():
    a, b = Param([-1.2]), Param(1.0)
    opt = optim.Newton([a, b], maxiter=100, tol=1e-7)
    result = opt.minimize(rosenbrock(opt, a, b))
    assert result.success, result
    np.testing.assert_allclose([a.data[0], b.data], [1.0, 1.0], atol=1e-6)


def test_newton_step_and_state():
    X, y, solution = least_squares_problem(1)
    w, b = Param(np.zeros(5)), Param(0.0)
    opt = optim.Newton([w, b], damping=1.0)
    closure = linear_closure(opt, w, b, X, y)
    assert opt.step(closure) and opt.step(closure)
    assert opt.damping == pytest.approx(0.01) and opt.iterations == 2
    state = opt.state_dict()
    assert float(state["damping"]) == opt.damping
    other = optim.Newton([Param(np.zeros(5)), Param(0.0)])
    other.load_state_dict(state)
    assert other.damping == opt.damping and other.iterations == 2


def test_closure_methods_refuse_misuse():
    for opt in (optim.LBFGS([Param([1.0])]), optim.Newton([Param([1.0])])):
        assert opt.requires_closure
        with pytest.raises(TypeError, match="closure"):
            opt.step()
    with pytest.raises(ValueError, match="N=3000.*max_params=2000"):
        optim.Newton([Param(np.zeros(3000))])
    with pytest.raises(ValueError, match="history=0"):
        optim.LBFGS(history=0)
    with pytest.raises(ValueError, match="damping=-1"):
        optim.Newton(damping=-1)
    with pytest.raises(TypeError, match="no learning rate"):
        optim.LBFGS(0.1)


def test_lbfgs_made_pytorch_style_refuses_pytorchs_step_and_settings():
    # torch.optim.LBFGS(params).step(closure): at most 20 iterations of a fixed step, no line
    # search. gradkit's LBFGS is SciPy's, with a line search, to convergence: other numbers,
    # so PyTorch's spelling is refused and gradkit's own (minimize) named.
    torch = pytest.importorskip("torch", reason="PyTorch is in the compat and bench extras")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 3, 64)
    W1, W2 = rng.normal(size=(4, 16)), rng.normal(size=(16, 3))       # a 4-16-3 tanh network
    t1, t2 = (torch.tensor(a.copy(), requires_grad=True) for a in (W1, W2))
    opt_t = torch.optim.LBFGS([t1, t2])

    def torch_closure():
        opt_t.zero_grad()
        logits = torch.tanh(torch.tensor(X) @ t1) @ t2
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
        loss.backward()
        return loss

    opt_t.step(torch_closure)
    w1, w2 = (gk.tensor(a.copy(), requires_grad=True) for a in (W1, W2))
    opt = optim.LBFGS([w1, w2])

    def closure():
        opt.zero_grad()
        loss = gk.nn.CrossEntropyLoss()(gk.tanh(gk.tensor(X) @ w1) @ w2, y)
        loss.backward()
        return loss

    with pytest.raises(TypeError, match=r"made with parameters \(PyTorch's habit\) refuses "
                                        r"step\(closure\).*opt.minimize\(closure\)"):
        opt.step(closure)
    result = opt.minimize(closure)
    assert float(torch_closure().detach()) - result.loss > 0.4       # 0.43 and 2.6e-7: why
    for key, ours in [("lr", None), ("max_iter", "maxiter"), ("history_size", "history"),
                      ("tolerance_grad", "tol"), ("line_search_fn", None)]:
        match = rf"LBFGS\({key}=...\) is PyTorch's setting"
        if ours:
            match += rf".*nearest setting here is {ours}="
        with pytest.raises(TypeError, match=match):
            optim.LBFGS([w1], **{key: 1})
