"""The flat buffers, the step's guards (clipping, non-finite), state, config and the registry."""

import tracemalloc
import types

import numpy as np
import pytest

from gradkit import optim
from gradkit.optim import schedules

FIRST_ORDER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"]


class Param:
    __slots__ = ("data", "grad")

    def __init__(self, data, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = None


def model(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Param(rng.standard_normal((3, 4)), dtype), Param(rng.standard_normal(4), dtype),
            Param(rng.standard_normal(()), dtype)]


def backward(params, k):
    """A deterministic gradient that changes with the parameters and the step k."""
    for i, p in enumerate(params):
        p.grad += np.sin(p.data * (i + 1) + 0.1 * k)


def train(opt, params, steps, start=0):
    for k in range(start, start + steps):
        opt.zero_grad()
        backward(params, k)
        assert opt.step()


def snapshot(params):
    return [p.data.copy() for p in params]


# -- bind -----------------------------------------------------------------------------------

def test_bind_makes_data_and_grad_views_of_one_flat_buffer_each():
    params = model(np.float32)
    before = snapshot(params)
    opt = optim.Adam(params)
    assert opt.flat.dtype == np.float32 and opt.flat.shape == (12 + 4 + 1,)
    for p, old in zip(params, before):
        assert np.shares_memory(p.data, opt.flat) and np.shares_memory(p.grad, opt.flat_grad)
        assert p.data.shape == old.shape and np.array_equal(p.data, old)
        assert not p.grad.any()
    np.testing.assert_array_equal(opt.flat, np.concatenate([x.ravel() for x in before]))


def test_dtype_is_float64_only_when_every_parameter_is():
    assert optim.SGD(model(np.float64)).flat.dtype == np.float64
    mixed = [Param([1.0, 2.0], np.float64), Param([3.0], np.float32)]
    assert optim.SGD(mixed).flat.dtype == np.float32
    assert mixed[0].data.dtype == np.float32


def test_simple_namespace_parameters_and_tied_weights():
    w = types.SimpleNamespace(data=np.ones(3))
    opt = optim.SGD([w, w], lr=1.0)
    assert opt.flat.size == 3 and opt.params == [w]
    w.grad += 1.0
    opt.step()
    np.testing.assert_array_equal(w.data, np.zeros(3))


def test_zero_grad_keeps_the_views():
    params = model()
    opt = optim.SGD(params)
    views = [p.grad for p in params]
    backward(params, 0)
    opt.zero_grad()
    assert not opt.flat_grad.any()
    assert all(p.grad is v for p, v in zip(params, views))


def test_replaced_data_and_grad_are_re_attached_at_the_next_step():
    w, b = Param([1.0, 2.0]), Param(0.0)
    opt = optim.SGD([w, b], lr=0.5)
    w.data = np.array([10.0, 20.0])          # e.g. early stopping restoring the best weights
    w.grad = np.array([2.0, 2.0])            # an engine that assigns instead of accumulating
    b.grad = None                            # no gradient: left alone, as PyTorch leaves it
    assert opt.step()
    np.testing.assert_array_equal(w.data, [9.0, 19.0])
    assert np.shares_memory(w.data, opt.flat) and np.shares_memory(w.grad, opt.flat_grad)
    assert b.grad is None and b.data == 0.0
    w.data = np.zeros(5)
    with pytest.raises(ValueError, match=r"shape \(5,\).*\(2,\)"):
        opt.step()


def test_bind_errors_say_what_was_wrong():
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="dtype int64"):
        optim.Adam([Param([1, 2], np.int64)])
    with pytest.raises(ValueError, match="no .data"):
        optim.Adam([types.SimpleNamespace(data=None)])
    with pytest.raises(TypeError, match="iterable"):
        optim.Adam(42.0j)

    class Copying:
        def __init__(self):
            self._d = np.zeros(2)
            self.grad = None

        @property
        def data(self):
            return self._d

        @data.setter
        def data(self, value):
            self._d = np.array(value)

    with pytest.raises(TypeError, match="keep the array"):
        optim.Adam([Copying()])
    with pytest.raises(RuntimeError, match="bind"):
        optim.Adam().step()


# -- lr and construction --------------------------------------------------------------------

def test_keras_and_pytorch_style_construction():
    params = model()
    assert optim.Adam(1e-2).lr == 0.01 and optim.Adam().lr == 1e-3
    assert optim.Adam(params, 1e-2).lr == 0.01
    assert optim.Adam(params, lr=1e-2).flat is not None
    assert optim.SGD().lr == 1e-2
    # Adadelta: Keras's defaults made Keras's way, PyTorch's made PyTorch's way.
    keras_way, torch_way = optim.Adadelta(), optim.Adadelta(params)
    assert (keras_way.lr, keras_way.rho, keras_way.eps) == (1e-3, 0.95, 1e-7)
    assert (torch_way.lr, torch_way.rho, torch_way.eps) == (1.0, 0.9, 1e-6)
    assert optim.Adadelta(epsilon=1e-5).eps == 1e-5
    with pytest.raises(TypeError, match=r"Momentum\(weight_decay=...\) is not supported"):
        optim.Momentum(weight_decay=0.1)           # gradkit's own name, with no such term
    with pytest.raises(TypeError, match=r"Adagrad\(lr_decay=0.1\) is not supported"):
        optim.Adagrad(params, lr_decay=0.1)
    with pytest.raises(TypeError, match="twice"):
        optim.Adam(1e-2, lr=1e-3)


def test_the_step_uses_schedule_of_iterations_and_never_stores_a_derived_rate():
    sched = schedules.StepDecay(1.0, [2, 3], factor=0.5)
    p = Param([0.0])
    opt = optim.SGD([p], lr=sched)
    moves = []
    for _ in range(4):
        assert opt.lr == sched(opt.iterations)
        before = p.data.copy()
        opt.zero_grad()
        p.grad += 1.0
        opt.step()
        moves.append(float(before[0] - p.data[0]))
    assert moves == [1.0, 1.0, 0.5, 0.25]
    assert opt.schedule is sched
    opt.lr = 0.1  # a callback replacing the rate: a constant schedule from now on
    assert isinstance(opt.schedule, schedules.Constant) and opt.lr == 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1.0}, r"lr=-1.0"),
    ({"lr": float("inf")}, r"lr=inf"),
    ({"beta1": 1.0}, r"beta1=1.0"),
    ({"beta2": -0.1}, r"beta2=-0.1"),
    ({"eps": 0}, r"eps=0"),
    ({"clipnorm": 0}, r"clipnorm=0"),
    ({"clipvalue": float("nan")}, r"clipvalue=nan"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.Adam(**kwargs)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="momentum > 0"):
        optim.SGD(nesterov=True)


# -- clipping and non-finite gradients ------------------------------------------------------

def test_global_clipnorm_rescales_to_the_global_norm():
    p = Param([0.0, 0.0])
    opt = optim.SGD([p], lr=1.0, global_clipnorm=1.0)
    p.grad += [3.0, 4.0]
    opt.step()
    np.testing.assert_allclose(p.data, [-0.6, -0.8], rtol=1e-15)
    assert opt.grad_norm == 5.0
    opt.zero_grad()
    p.grad += [0.3, 0.4]                      # below the threshold: untouched
    opt.step()
    np.testing.assert_allclose(p.data, [-0.9, -1.2], rtol=1e-15)


def test_clipnorm_rescales_each_parameter_on_its_own():
    # Keras's clipnorm: (3, 4) has norm 5 -> (0.6, 0.8); (0.3,) is below 1 and stays.
    w, b = Param([0.0, 0.0]), Param([0.0])
    opt = optim.SGD([w, b], lr=1.0, clipnorm=1.0)
    w.grad += [3.0, 4.0]
    b.grad += [0.3]
    opt.step()
    np.testing.assert_allclose(w.data, [-0.6, -0.8], rtol=1e-15)
    np.testing.assert_allclose(b.data, [-0.3], rtol=1e-15)
    assert opt.grad_norm == pytest.approx(np.sqrt(25.09))      # before clipping


def test_clipvalue_clips_each_entry_after_clipnorm():
    p = Param([0.0, 0.0, 0.0])
    opt = optim.SGD([p], lr=1.0, clipvalue=0.5)
    p.grad += [3.0, -0.2, -7.0]
    opt.step()
    np.testing.assert_array_equal(p.data, [-0.5, 0.2, 0.5])
    q = Param([0.0, 0.0])
    opt = optim.SGD([q], lr=1.0, clipnorm=1.0, clipvalue=0.7)
    q.grad += [6.0, 8.0]                      # norm 10 -> (0.6, 0.8) -> (0.6, 0.7)
    opt.step()
    np.testing.assert_allclose(q.data, [-0.6, -0.7], rtol=1e-15)


@pytest.mark.parametrize("name", FIRST_ORDER)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_gradient_changes_nothing(name, bad):
    params = model(np.float32)
    opt = optim.get(name, params=params)
    train(opt, params, 2)
    weights = opt.flat.tobytes()
    state = {k: v.tobytes() for k, v in opt.state_dict().items()}
    opt.zero_grad()
    backward(params, 2)
    params[1].grad[2] = bad
    assert opt.step() is False
    assert opt.flat.tobytes() == weights
    assert {k: v.tobytes() for k, v in opt.state_dict().items()} == state
    assert opt.iterations == 2


def test_a_finite_gradient_whose_square_overflows():
    p = Param([0.0, 0.0], np.float32)
    opt = optim.Adam([p])
    p.grad += 1e30                            # ‖g‖² overflows float32: refused ...
    assert opt.step() is False and not p.data.any()
    for clip in ("clipnorm", "global_clipnorm"):
        clipped = optim.SGD([Param([0.0, 0.0], np.float32)], lr=1.0, **{clip: 1.0})
        clipped.params[0].grad += 1e30        # ... unless clipping brings it back
        assert clipped.step() is True
        np.testing.assert_allclose(clipped.params[0].data, [-2**-0.5, -2**-0.5], rtol=1e-6)


# -- state ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FIRST_ORDER)
def test_state_dict_round_trip_continues_bit_identically(name):
    params = model(np.float32)
    opt = optim.get(name, params=params)
    train(opt, params, 3)
    saved_weights, saved_state = snapshot(params), opt.state_dict()
    train(opt, params, 3, start=3)

    resumed = [Param(w, np.float32) for w in saved_weights]
    opt2 = optim.get(opt.get_config())
    opt2.load_state_dict(saved_state)         # before bind, as when resuming a run
    opt2.bind(resumed)
    assert opt2.iterations == 3
    train(opt2, resumed, 3, start=3)
    for a, b in zip(params, resumed):
        assert a.data.tobytes() == b.data.tobytes()


def test_state_is_created_on_first_use_and_copied_out():
    params = model()
    opt = optim.Adam(params)
    assert set(opt.state_dict()) == {"iterations"}
    train(opt, params, 1)
    state = opt.state_dict()
    assert set(state) == {"iterations", "m", "v"} and state["iterations"] == 1
    state["m"][:] = 7.0
    assert not (opt.state_dict()["m"] == 7.0).any()


def test_load_state_dict_refuses_what_does_not_fit():
    params = model()
    opt = optim.Adam(params)
    with pytest.raises(ValueError, match="iterations"):
        opt.load_state_dict({"m": np.zeros(17)})
    with pytest.raises(ValueError, match="unexpected state"):
        opt.load_state_dict({"iterations": np.int64(1), "velocity": np.zeros(17)})
    with pytest.raises(ValueError, match=r"expected \(17,\)"):
        opt.load_state_dict({"iterations": np.int64(1), "m": np.zeros(5)})
    early = optim.Adam()
    early.load_state_dict({"iterations": np.int64(1), "m": np.zeros(5)})
    with pytest.raises(ValueError, match="5 entries.*17"):
        early.bind(model())


# -- config and registry --------------------------------------------------------------------

@pytest.mark.parametrize("name", FIRST_ORDER + ["lbfgs", "newton"])
def test_get_config_round_trips_through_get(name):
    opt = optim.get(name)
    config = opt.get_config()
    assert config["name"] == name
    again = optim.get(config)
    assert type(again) is type(opt) and again.get_config() == config


def test_a_schedule_survives_the_config_round_trip():
    opt = optim.Adam(lr=schedules.Warmup(schedules.Cosine(0.1, 100), 10), clipnorm=1.0,
                     global_clipnorm=2.0)
    again = optim.get(opt.get_config())
    assert [again.schedule(k) for k in range(0, 120, 7)] == [
        opt.schedule(k) for k in range(0, 120, 7)]
    assert again.clipnorm == 1.0 and again.global_clipnorm == 2.0


def test_get_accepts_names_objects_classes_and_refuses_the_rest():
    opt = optim.Adam()
    assert optim.get(opt) is opt
    assert isinstance(optim.get("AdamW", weight_decay=0.1), optim.AdamW)
    assert isinstance(optim.get(optim.RMSProp, lr=0.1), optim.RMSProp)
    assert isinstance(optim.get("l-bfgs"), optim.LBFGS)
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*'adam'"):
        optim.get("adamax")
    with pytest.raises(TypeError, match="cannot be applied"):
        optim.get(opt, lr=0.1)
    with pytest.raises(TypeError, match="got int"):
        optim.get(3)


# -- no full-size temporaries on the hot path -----------------------------------------------

@pytest.mark.parametrize("name", FIRST_ORDER)
def test_a_step_allocates_no_full_size_arrays(name):
    n = 200_000
    p = Param(np.linspace(-1.0, 1.0, n), np.float32)
    opt = optim.get(name, params=[p], clipnorm=1e9, clipvalue=1e9)
    p.grad += 0.01
    opt.step()                                 # state and scratch are created here, once
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * 4 // 10, f"{name}: {peak} bytes allocated in a step of {n} float32"
