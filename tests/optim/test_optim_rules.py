"""Each optimizer's first steps against the notes' formulas, written out by hand here."""

import numpy as np
import pytest

from gradkit import optim
from gradkit.optim import updates


class Param:
    __slots__ = ("data", "grad")

    def __init__(self, data, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = None


# L(θ) = ½ Σ aᵢ θᵢ² over two parameters, w (2 entries) and b (a scalar), flat order (w0, w1, b).
A = np.array([1.0, 3.0, 10.0])
THETA0 = np.array([1.0, -2.0, 0.5])


def grad(theta):
    return A * theta


def run(opt, steps):
    """Bind the quadratic's parameters to `opt` (an optimizer, or a function making one from
    the parameters, PyTorch-style), take `steps` steps, return θ after each."""
    w, b = Param(THETA0[:2]), Param(THETA0[2])
    if isinstance(opt, optim.Optimizer):
        opt.bind([w, b])
    else:
        opt = opt([w, b])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        w.grad += A[:2] * w.data
        b.grad += A[2] * b.data
        assert opt.step() is True
        out.append(np.concatenate([w.data, [b.data]]))
    return out


def assert_steps(got, expected):
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15, err_msg=f"step {k + 1}")


def test_sgd():
    theta, expected = THETA0.copy(), []
    for _ in range(3):
        theta = theta - 0.1 * grad(theta)
        expected.append(theta)
    assert_steps(run(optim.SGD(lr=0.1), 3), expected)


def test_sgd_weight_decay_made_pytorch_style_adds_lambda_theta_to_the_gradient():
    theta, velocity, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        velocity = 0.9 * velocity + grad(theta) + 0.01 * theta
        theta = theta - 0.1 * velocity
        expected.append(theta)
    assert_steps(run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), 3),
                 expected)


def test_sgd_weight_decay_made_keras_style_decays_the_weights_before_the_step():
    theta, velocity, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        theta = theta * (1 - 0.1 * 0.01)
        velocity = 0.9 * velocity + g
        theta = theta - 0.1 * velocity
        expected.append(theta)
    assert_steps(run(optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01), 3), expected)


@pytest.mark.parametrize("make", [
    lambda: optim.SGD(lr=0.05, momentum=0.9),
    lambda: optim.Momentum(lr=0.05, gamma=0.9, form="velocity"),
])
def test_momentum_velocity_form(make):
    # MIPT / DESY: Δ ← γΔ + η g;  θ ← θ − Δ.
    theta, delta, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        delta = 0.9 * delta + 0.05 * grad(theta)
        theta = theta - delta
        expected.append(theta)
    assert_steps(run(make(), 3), expected)


def test_momentum_average_form():
    # KIT: m ← γm + (1 − γ)g;  θ ← θ − η m.
    theta, m, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        m = 0.8 * m + (1 - 0.8) * grad(theta)
        theta = theta - 0.05 * m
        expected.append(theta)
    assert_steps(run(optim.Momentum(lr=0.05, gamma=0.8), 3), expected)


@pytest.mark.parametrize("make", [
    lambda: optim.Nesterov(lr=0.05, gamma=0.9),
    lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True),
])
def test_nesterov_evaluates_the_gradient_at_the_look_ahead_point(make):
    # MIPT: v ← γv + α∇L(θ − γv);  θ ← θ − v. The optimizer's parameters are θ − γv.
    theta, v, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        v = 0.9 * v + 0.05 * grad(theta - 0.9 * v)
        theta = theta - v
        expected.append(theta - 0.9 * v)
    assert_steps(run(make(), 3), expected)


def test_adagrad():
    # MIPT: c ← c + g²;  θ ← θ − α g / (√c + ε).
    theta, c, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        c = c + g**2
        theta = theta - 0.1 * g / (np.sqrt(c) + 1e-8)
        expected.append(theta)
    assert_steps(run(optim.Adagrad(lr=0.1, eps=1e-8, initial_accumulator=0.0,
                                   eps_inside_sqrt=False), 3), expected)


def test_rmsprop():
    # MIPT: v ← γv + (1 − γ)g²;  θ ← θ − α g / (√v + ε).
    theta, v, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        v = 0.9 * v + (1 - 0.9) * g**2
        theta = theta - 0.01 * g / (np.sqrt(v) + 1e-8)
        expected.append(theta)
    assert_steps(run(optim.RMSProp(lr=0.01, eps=1e-8, eps_inside_sqrt=False), 3), expected)


def test_rmsprop_defaults_are_kerass():
    # Keras's RMSprop(): ρ = 0.9, ε = 1e-7 inside the root, learning rate 1e-3.
    theta, v, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        v = 0.9 * v + (1 - 0.9) * g**2
        theta = theta - 1e-3 * g / np.sqrt(v + 1e-7)
        expected.append(theta)
    for opt in (optim.RMSProp(), optim.get("rmsprop"), optim.RMSprop(learning_rate=1e-3)):
        assert_steps(run(opt, 3), expected)


def test_rmsprop_made_with_parameters_is_pytorchs():
    # torch.optim.RMSprop(params, lr=0.01): α = 0.99, ε = 1e-8 added to √v.
    theta, v, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        v = 0.99 * v + (1 - 0.99) * g**2
        theta = theta - 0.01 * g / (np.sqrt(v) + 1e-8)
        expected.append(theta)
    assert_steps(run(lambda ps: optim.RMSprop(ps), 3), expected)
    assert_steps(run(lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.99), 3), expected)
    with pytest.raises(TypeError, match=r"RMSprop\(momentum=0.9\) is not supported"):
        optim.RMSprop(momentum=0.9)
    with pytest.raises(TypeError, match="alpha= .PyTorch's name. and rho=/gamma="):
        optim.RMSprop(alpha=0.9, rho=0.9)


def test_rmsprop_with_eps_inside_the_root_is_the_kit_form():
    # KIT: θ ← θ − η g / √(v + ε); with ε = 0.5 the two forms differ visibly.
    theta, v, expected = THETA0.copy(), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        v = 0.9 * v + (1 - 0.9) * g**2
        theta = theta - 0.01 * g / np.sqrt(v + 0.5)
        expected.append(theta)
    assert_steps(run(optim.RMSProp(lr=0.01, eps=0.5, eps_inside_sqrt=True), 3), expected)
    outside = run(optim.RMSProp(lr=0.01, eps=0.5, eps_inside_sqrt=False), 1)[0]
    assert not np.allclose(outside, expected[0])
    opt = optim.get({"name": "rmsprop", "eps_inside_sqrt": True})
    assert opt.eps_inside_sqrt is True and opt.get_config()["eps_inside_sqrt"] is True
    with pytest.raises(ValueError, match="eps_inside_sqrt must be True or False, got "
                                         "eps_inside_sqrt='yes'"):
        optim.RMSProp(eps_inside_sqrt="yes")


def test_momentum_with_the_arithmetic_coefficient_averages_every_gradient():
    # KIT: γ_k = (k − 1)/k turns m into the arithmetic mean (1/k) Σ gᵢ of the gradients so far.
    theta, grads, expected = THETA0.copy(), [], []
    for _ in range(4):
        grads.append(grad(theta))
        theta = theta - 0.05 * np.mean(grads, axis=0)
        expected.append(theta)
    opt = optim.Momentum(lr=0.05, gamma="arithmetic")
    assert_steps(run(opt, 4), expected)
    np.testing.assert_allclose(opt._buffer("m"), np.mean(grads, axis=0), rtol=1e-12)
    assert optim.get(opt.get_config()).gamma == "arithmetic"
    with pytest.raises(ValueError, match="gamma='arithmetic' is the coefficient of the running "
                                         "average"):
        optim.Momentum(gamma="arithmetic", form="velocity")


def test_adadelta():
    # Zeiler 2012, Algorithm 1, with ρ = 0.95, ε = 1e-6 and η = 1.
    theta, eg2, edx2, expected = THETA0.copy(), np.zeros(3), np.zeros(3), []
    for _ in range(3):
        g = grad(theta)
        eg2 = 0.95 * eg2 + 0.05 * g**2
        dx = -np.sqrt(edx2 + 1e-6) / np.sqrt(eg2 + 1e-6) * g
        edx2 = 0.95 * edx2 + 0.05 * dx**2
        theta = theta + dx
        expected.append(theta)
    assert_steps(run(optim.Adadelta(lr=1.0, rho=0.95, eps=1e-6), 3), expected)


def adam_reference(theta, steps, *, alpha=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, decay=0.0):
    """Adam as the notes' pseudocode (Kingma & Ba, Algorithm 1), plus AdamW's decay."""
    m = np.zeros_like(theta)   # m_0 <- 0 (1st moment vector)
    v = np.zeros_like(theta)   # v_0 <- 0 (2nd moment vector)
    t = 0                      # t <- 0 (timestep)
    out = []
    for _ in range(steps):
        t = t + 1
        g = grad(theta)
        theta = theta - alpha * decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - alpha * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def test_adam_defaults_are_the_notes_recommended_values():
    # The notes' values are PyTorch's defaults: Adam made with parameters, as PyTorch's is.
    config = optim.Adam([Param(THETA0)]).get_config()
    assert (config["lr"], config["beta1"], config["beta2"], config["eps"],
            config["eps_on_v_hat"]) == (1e-3, 0.9, 0.999, 1e-8, True)
    # Made without parameters (Keras's habit, or "adam" by name) it has Keras's ε on √v.
    config = optim.Adam().get_config()
    assert (config["lr"], config["eps"], config["eps_on_v_hat"]) == (1e-3, 1e-7, False)
    assert optim.get("adam").get_config() == config


def test_adam_matches_the_pseudocode_with_its_defaults():
    got = run(optim.Adam, 3)
    assert_steps(got, adam_reference(THETA0.copy(), 3))
    # The first bias-corrected step is α g/(|g| + ε): every coordinate moves by α, downhill.
    g = grad(THETA0)
    np.testing.assert_allclose(got[0], THETA0 - 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-15)
    np.testing.assert_allclose(got[0], [0.999, -1.999, 0.499], rtol=0, atol=1e-10)


def test_adam_other_settings():
    got = run(optim.Adam(lr=0.05, beta1=0.5, beta2=0.9, eps=1e-3), 3)
    assert_steps(got, adam_reference(THETA0.copy(), 3, alpha=0.05, beta1=0.5, beta2=0.9,
                                     eps=1e-3))


def test_adamw_decays_the_weights_outside_the_moments():
    got = run(lambda params: optim.AdamW(params, lr=0.01, weight_decay=0.1), 3)
    assert_steps(got, adam_reference(THETA0.copy(), 3, alpha=0.01, decay=0.1))


def test_the_intro_lectures_sgd_table():
    # 000_dc4e091d961bec1d.txt: h = xw + b, L = ½(y − h)², y=3, x=1, w=0.1, b=1, η=0.2.
    # Rows: w and b after each update, as printed (two decimals).
    table = [(0.48, 1.38), (0.71, 1.61), (0.84, 1.75)]
    w, b = Param(0.1), Param(1.0)
    opt = optim.SGD([w, b], lr=0.2)
    for w_row, b_row in table:
        opt.zero_grad()
        dl_dh = (1.0 * w.data + b.data) - 3.0
        w.grad += dl_dh * 1.0
        b.grad += dl_dh
        opt.step()
        # The notes carried rounded values from row to row: agreement to the last printed digit.
        assert abs(float(w.data) - w_row) <= 0.011 and abs(float(b.data) - b_row) <= 0.011


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rules_on_nd_and_strided_arrays_match_the_flat_path(dtype):
    # The pure rules accept any same-shape arrays; BLAS is used only where the layout allows.
    rng = np.random.default_rng(1)
    p = rng.standard_normal((4, 6)).astype(dtype)
    g = rng.standard_normal((4, 6)).astype(dtype)
    for layout in ("contiguous", "strided"):
        p1, g1 = (p.copy(), g.copy()) if layout == "contiguous" else (
            np.repeat(p, 2, axis=1)[:, ::2], np.repeat(g, 2, axis=1)[:, ::2])
        m1, v1 = np.zeros_like(p), np.zeros_like(p)
        pf, mf, vf = p.ravel().copy(), np.zeros(p.size, dtype), np.zeros(p.size, dtype)
        for t in (1, 2):
            updates.adam_update(p1, g1, m1, v1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, t=t)
            updates.adam_update(pf, g.ravel(), mf, vf, lr=0.1, beta1=0.9, beta2=0.999,
                                eps=1e-8, t=t, scratch=np.empty_like(pf))
        np.testing.assert_allclose(p1.ravel(), pf, rtol=5e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decaying_state_is_flushed_to_zero_below_the_smallest_normal_number(dtype):
    # A parameter with zero gradient (a dead ReLU unit) decays its state into the subnormal
    # range, where every vectorized operation is an order of magnitude slower: with flush=True
    # the rules set it to 0; without, they are the textbook formulas.
    tiny = np.finfo(dtype).tiny
    start = np.array([tiny * 1.05, -tiny * 1.05, 1e3 * tiny, np.inf], dtype=dtype)
    g = np.zeros(4, dtype)
    kept = start[2:] * dtype(0.9)

    def zeros():
        return np.zeros(4, dtype)

    rules = {
        "momentum average": lambda s, f: updates.momentum_update(
            zeros(), g, s, lr=0.1, gamma=0.9, form="average", flush=f),
        "momentum velocity": lambda s, f: updates.momentum_update(
            zeros(), g, s, lr=0.1, gamma=0.9, form="velocity", flush=f),
        "momentum accumulated": lambda s, f: updates.momentum_update(
            zeros(), g, s, lr=0.1, gamma=0.9, form="accumulated", flush=f),
        "nesterov": lambda s, f: updates.nesterov_update(
            zeros(), g, s, lr=0.1, gamma=0.9, flush=f),
        "nesterov, PyTorch's form": lambda s, f: updates.nesterov_update(
            zeros(), g, s, lr=0.1, gamma=0.9, lr_in_velocity=False, flush=f),
        "rmsprop": lambda s, f: updates.rmsprop_update(
            zeros(), g, s, lr=0.1, gamma=0.9, eps=1e-8, flush=f),
        "adadelta": lambda s, f: updates.adadelta_update(
            zeros(), g, s, zeros(), lr=1.0, rho=0.9, eps=1e-6, flush=f),
        "adam m": lambda s, f: updates.adam_update(
            zeros(), g, s, zeros() + 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, t=1, flush=f),
        "adam v": lambda s, f: updates.adam_update(
            zeros(), g, zeros(), s, lr=0.1, beta1=0.9, beta2=0.9, eps=1e-8, t=1, flush=f),
    }
    for name, rule in rules.items():
        for flush in (True, False):
            state = start.copy()
            with np.errstate(invalid="ignore"):      # the inf entry's update is inf - inf
                rule(state, flush)
            if flush:
                assert state[0] == 0 and state[1] == 0 and not np.signbit(state[0]), name
            else:
                assert 0 < state[0] < tiny and -tiny < state[1] < 0, name
            np.testing.assert_array_equal(state[2:], kept, err_msg=name)


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, 1e-3),
                                  lambda ps: optim.Momentum(ps, 0.1),
                                  lambda ps: optim.RMSProp(ps, 0.1)],
                         ids=["adam", "momentum", "rmsprop"])
def test_optimizers_flush_on_every_FLUSH_EVERY_th_step(make):
    tiny = np.finfo(np.float32).tiny
    p = Param(np.zeros(3), dtype=np.float32)
    opt = make([p])
    key = opt.state_names[0]
    for step in range(1, 2 * updates.FLUSH_EVERY + 1):
        opt._buffer(key)[:] = tiny * 1.01   # decays below tiny in this step (zero gradient)
        p.grad = np.zeros(3, np.float32)
        opt.step()
        flushed = bool(np.all(opt._buffer(key) == 0))
        assert flushed == (step % updates.FLUSH_EVERY == 0), step


def test_momentum_rule_rejects_an_unknown_form():
    p = np.zeros(2)
    with pytest.raises(ValueError, match="form='heavy'"):
        updates.momentum_update(p, p, p.copy(), lr=0.1, gamma=0.9, form="heavy")


def test_adam_rule_counts_steps_from_one():
    p = np.zeros(2)
    with pytest.raises(ValueError, match="t=0"):
        updates.adam_update(p, p, p.copy(), p.copy(), lr=1e-3, beta1=0.9, beta2=0.999,
                            eps=1e-8, t=0)


# -- the canyon: momentum against plain gradient descent ------------------------------------------

def steps_to_tolerance(make, *, tol=1e-6, limit=600):
    """Steps until f = ½(x² + 100y²) < tol from (1, 1); `limit` when never (or diverging)."""
    xy = Param([1.0, 1.0])
    opt = make()
    opt.bind([xy])
    scale = np.array([1.0, 100.0])
    for k in range(limit):
        f = 0.5 * float(scale @ xy.data**2)
        if f < tol:
            return k
        if f > 1e6:
            return limit
        opt.zero_grad()
        xy.grad += scale * xy.data
        opt.step()
    return limit


def test_momentum_and_nesterov_cross_the_canyon_faster_than_sgd():
    # Condition number 100: gradient descent needs O(κ) steps, momentum O(√κ). Each method
    # gets its best learning rate from the same grid.
    grid = np.geomspace(1e-3, 1.0, 16)
    best = {
        name: min(steps_to_tolerance(lambda: make(lr)) for lr in grid)
        for name, make in {
            "sgd": lambda lr: optim.SGD(lr=lr),
            "momentum": lambda lr: optim.Momentum(lr=lr, gamma=0.9, form="velocity"),
            "momentum (average)": lambda lr: optim.Momentum(lr=lr, gamma=0.9),
            "nesterov": lambda lr: optim.Nesterov(lr=lr, gamma=0.9),
        }.items()
    }
    assert 200 < best["sgd"] < 600, best
    for name in ("momentum", "momentum (average)", "nesterov"):
        assert best[name] < best["sgd"] / 2, best


def test_momentum_with_the_same_fixed_rate_beats_sgd_in_the_canyon():
    lr = 0.01  # stable for all three (Nesterov with γ = 0.9 needs η·100 < 3.8/2.8)
    sgd = steps_to_tolerance(lambda: optim.SGD(lr=lr), limit=2000)
    momentum = steps_to_tolerance(lambda: optim.SGD(lr=lr, momentum=0.9), limit=2000)
    nesterov = steps_to_tolerance(lambda: optim.SGD(lr=lr, momentum=0.9, nesterov=True),
                                  limit=2000)
    assert sgd < 2000
    assert momentum < sgd / 3 and nesterov < sgd / 3, (sgd, momentum, nesterov)
