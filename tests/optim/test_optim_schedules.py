"""Schedule values at given steps equal their formulas (the notes' forms, written out)."""

import math

import pytest

from gradkit.optim import schedules as S

STEPS = [0, 1, 2, 5, 10, 37, 100, 250]


def check(schedule, formula, steps=STEPS):
    for t in steps:
        assert schedule(t) == pytest.approx(formula(t), rel=1e-15, abs=1e-300), f"t={t}"


def test_constant():
    check(S.Constant(0.3), lambda t: 0.3)


def test_step_decay_the_resnet_recipe_per_epoch():
    # KIT: multiply the LR by 0.1 after epochs 30, 60 and 90.
    s = S.StepDecay(0.1, [30, 60, 90], factor=0.1, per="epoch", steps_per_epoch=10)
    expected = {0: 0.1, 299: 0.1, 300: 0.01, 599: 0.01, 600: 1e-3, 900: 1e-4, 5000: 1e-4}
    for step, value in expected.items():
        assert s(step) == pytest.approx(value, rel=1e-12), step


def test_step_decay_every_k_steps():
    check(S.StepDecay(0.5, 7, factor=0.5), lambda t: 0.5 * 0.5 ** (t // 7))


def test_exponential():
    # MIPT: α_t = α₀ e^(−kt).
    check(S.Exponential(0.1, 0.05), lambda t: 0.1 * math.exp(-0.05 * t))
    # EPFL's η_t = 0.9^t η₀ is the same family, k = −ln 0.9.
    s = S.Exponential(0.1, -math.log(0.9))
    for t in (1, 2, 10):
        assert s(t) == pytest.approx(0.1 * 0.9**t, rel=1e-13)


def test_inverse_time():
    # MIPT: 1/t decay α_t = α₀/(1 + kt).
    check(S.InverseTime(0.1, 0.5), lambda t: 0.1 / (1 + 0.5 * t))


def test_linear():
    # KIT: α_t = α₀(1 − t/T), held at the end value after T.
    check(S.Linear(0.1, 100), lambda t: 0.1 * (1 - min(t, 100) / 100))
    check(S.Linear(0.1, 50, end=0.02), lambda t: 0.1 + (0.02 - 0.1) * min(t, 50) / 50)


def test_cosine():
    # KIT: α_t = ½ α₀ (1 + cos(tπ/T)).
    check(S.Cosine(0.1, 100), lambda t: 0.5 * 0.1 * (1 + math.cos(min(t, 100) * math.pi / 100)))
    s = S.Cosine(0.1, 100, minimum=0.001)
    assert s(0) == 0.1 and s(100) == s(1000) == 0.001
    assert s(50) == pytest.approx(0.001 + 0.5 * (0.1 - 0.001))


def test_inverse_sqrt():
    # KIT: α_t = α₀/√t, with t counted from 1.
    check(S.InverseSqrt(0.1), lambda t: 0.1 / math.sqrt(t + 1))
    check(S.InverseSqrt(0.1, scale=10), lambda t: 0.1 / math.sqrt(1 + t / 10))


def test_cyclic_triangular():
    s = S.Cyclic(0.001, 0.006, 4)
    # Up over 4 steps, down over the next 4, repeat.
    expected = [0.001, 0.00225, 0.0035, 0.00475, 0.006, 0.00475, 0.0035, 0.00225, 0.001, 0.00225]
    assert [s(t) for t in range(10)] == pytest.approx(expected, rel=1e-12)
    halved = S.Cyclic(0.0, 1.0, 2, mode="triangular2")
    assert [halved(t) for t in (2, 6, 10)] == [1.0, 0.5, 0.25]


def test_warmup_in_front_of_any_schedule():
    inner = S.Cosine(0.1, 100)
    s = S.Warmup(inner, 5)
    assert [s(t) for t in range(5)] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    for t in (5, 6, 50, 105, 300):
        assert s(t) == inner(t - 5)
    assert S.Warmup(0.5, 2)(0) == 0.25


def test_epoch_units_need_steps_per_epoch():
    s = S.Cosine(0.1, 10, per="epoch")
    with pytest.raises(ValueError, match="steps_per_epoch"):
        s(3)
    s.steps_per_epoch = 4                     # what fit() does when it knows the batch count
    assert s(7) == S.Cosine(0.1, 10)(1)


@pytest.mark.parametrize("schedule", [
    S.Constant(0.2),
    S.StepDecay(0.1, [3, 8], factor=0.3, per="epoch", steps_per_epoch=5),
    S.StepDecay(0.1, 4),
    S.Exponential(0.1, 0.2),
    S.InverseTime(0.1, 0.2),
    S.Linear(0.1, 20, end=0.01),
    S.Cosine(0.1, 20, minimum=0.01),
    S.InverseSqrt(0.1, scale=3.0),
    S.Cyclic(0.01, 0.1, 5, mode="triangular2"),
    S.Warmup(S.Exponential(0.1, 0.2), 3),
])
def test_config_round_trip(schedule):
    again = S.get(schedule.get_config())
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert [again(t) for t in range(40)] == [schedule(t) for t in range(40)]


def test_get_and_errors():
    assert isinstance(S.get(0.1), S.Constant)
    assert S.get("cosine", initial=0.1, steps=10)(10) == 0.0
    with pytest.raises(ValueError, match="unknown schedule 'warm'"):
        S.get("warm")
    with pytest.raises(TypeError, match="got list"):
        S.get([0.1])
    with pytest.raises(ValueError, match=r"initial=-0.1"):
        S.Exponential(-0.1, 1.0)
    with pytest.raises(ValueError, match=r"steps=0"):
        S.Cosine(0.1, 0)
    with pytest.raises(ValueError, match=r"boundaries=\[5, 3\]"):
        S.StepDecay(0.1, [5, 3])
    with pytest.raises(ValueError, match=r"per='batch'"):
        S.Linear(0.1, 10, per="batch")
    with pytest.raises(ValueError, match="maximum must be at least"):
        S.Cyclic(0.1, 0.01, 5)
