"""The fused Adam and AdamW updates give the NumPy rules' results bit for bit, both ways."""

import numpy as np
import pytest

import gradkit as gk
from gradkit import _fast
from gradkit.optim import updates


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [gk.optim.Adam, gk.optim.AdamW])
def test_the_installed_rule_equals_the_numpy_rule_bit_for_bit(dtype, cls, kernel_calls):
    rng = np.random.default_rng(0)
    n = _fast.MIN_SIZE + 17
    p, g, m, v = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    v = np.abs(v)
    # Some moments about to decay into the subnormal range, and zero gradients, so that the
    # flush to zero is held to the rule's as well.
    tiny = np.finfo(dtype).tiny
    m[::7], v[::11], g[::13] = tiny * 1.05, tiny * 1.001, 0.0
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    decay = {"weight_decay": 0.01} if cls is gk.optim.AdamW else {}
    reference = updates.adamw_update if decay else updates.adam_update
    for t, flush in ((1, False), (2, True), (3, False), (50, True)):
        settings = dict(lr=3e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=t, flush=flush, **decay)
        cls.rule(p, g, m, v, **settings)
        reference(p2, g, m2, v2, **settings)
        for installed, rule in ((p, p2), (m, m2), (v, v2)):
            assert installed.dtype == dtype
            np.testing.assert_array_equal(installed, rule)
    assert kernel_calls == (["adam"] * 4 if gk.kernels_enabled() else [])


def test_the_rule_leaves_small_or_strided_buffers_to_the_numpy_rule(kernel_calls):
    rng = np.random.default_rng(1)
    settings = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=1)
    small = [rng.random(_fast.MIN_SIZE - 1).astype(np.float32) for _ in range(4)]
    gk.optim.Adam.rule(*small, **settings)
    strided = [rng.random(2 * _fast.MIN_SIZE).astype(np.float32)[::2] for _ in range(4)]
    gk.optim.Adam.rule(*strided, **settings)
    mixed = [rng.random(_fast.MIN_SIZE).astype(dtype) for dtype in ("f4", "f4", "f8", "f8")]
    gk.optim.Adam.rule(*mixed, **settings)
    assert kernel_calls == []


def test_the_fused_rule_refuses_step_zero_as_the_numpy_rule_does(kernels):
    p = np.zeros(_fast.MIN_SIZE, np.float32)
    with pytest.raises(ValueError, match="t counts steps from 1, got t=0"):
        gk.optim.Adam.rule(p, p.copy(), p.copy(), p.copy(), lr=1e-3, beta1=0.9,
                           beta2=0.999, eps=1e-8, t=0)


def _fit(optimizer):
    """A few steps of a 64-256-256-10 relu network (83,978 weights, batches of 256 rows)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((512, 64)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    model = gk.Sequential([gk.layers.Dense(256, activation="relu"),
                           gk.layers.Dense(256, activation="relu"), gk.layers.Dense(10)])
    model.compile(optimizer=optimizer, loss="cross_entropy")
    model.fit(X, y, batch_size=256, epochs=2, verbose=0, seed=0, shuffle=False)
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_a_fit_ends_with_the_reference_weights_bit_for_bit(optimizer, kernel_calls):
    weights = _fit(optimizer)
    if gk.kernels_enabled():
        # 4 steps, each: 2 relu layers forward, 2 of their masks backward, 1 update.
        assert sorted(set(kernel_calls)) == ["adam", "bias_relu", "relu_grad"]
        assert len(kernel_calls) == 4 * 5
    else:
        assert kernel_calls == []
    with gk.set_kernels(False):
        reference = _fit(optimizer)
    for a, b in zip(weights, reference):
        np.testing.assert_array_equal(a, b)
