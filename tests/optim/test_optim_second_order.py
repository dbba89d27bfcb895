"""Full-batch L-BFGS and damped Newton, through closures over ordinary parameters."""

import math

import numpy as np
import pytest

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
    opt = optim.LBFGS([w, b], tol=1e-10, ftol=1e-15)
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
