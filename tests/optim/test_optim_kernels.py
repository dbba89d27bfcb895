"""The fused Adam kernel is bit-identical to the NumPy update rule it replaces."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.optim import kernels, updates

pytestmark = pytest.mark.skipif(not kernels.available(kernels.MIN_SIZE),
                                reason="numba is not installed: the NumPy rules run instead")


@pytest.fixture(params=["one thread", "OpenBLAS's threads"])
def pool(request):
    """The kernel on the calling thread (the session's one BLAS thread), then split over two
    (the list of tasks handed to the pool)."""
    return request.getfixturevalue("blas_pool") if request.param != "one thread" else None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_adam_equals_the_numpy_rule_bit_for_bit(dtype, weight_decay, pool):
    rng = np.random.default_rng(0)
    n = kernels.MIN_SIZE + 17
    p, g, m, v = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    v = np.abs(v)
    # Some moments about to decay into the subnormal range, and zero gradients, so that the
    # flush to zero is held to the rule's as well.
    tiny = np.finfo(dtype).tiny
    m[::7], v[::11], g[::13] = tiny * 1.05, tiny * 1.001, 0.0
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    for t, flush in ((1, False), (2, True), (3, False), (50, True)):
        settings = dict(lr=3e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=t, flush=flush)
        kernels.adam(p, g, m, v, weight_decay=weight_decay, **settings)
        if weight_decay:
            updates.adamw_update(p2, g, m2, v2, weight_decay=weight_decay, **settings)
        else:
            updates.adam_update(p2, g, m2, v2, **settings)
        for fused, rule in ((p, p2), (m, m2), (v, v2)):
            assert fused.dtype == dtype
            np.testing.assert_array_equal(fused, rule)
    assert pool is None or len(pool) == 4                      # each step split


def test_adam_optimizer_uses_the_kernel_only_for_large_buffers_with_equal_results():
    rng = np.random.default_rng(1)
    big = [gk.nn.Parameter(rng.standard_normal(kernels.MIN_SIZE).astype(np.float32))]
    twin = [gk.nn.Parameter(big[0].data.copy())]
    fused, plain = gk.optim.Adam(big, 1e-3), gk.optim.Adam(twin, 1e-3)
    grad = rng.standard_normal(kernels.MIN_SIZE).astype(np.float32)
    for _ in range(3):
        fused.zero_grad()
        big[0].grad = grad.copy()
        fused.step()
        plain._flat_grad[...] = grad
        updates.adam_update(plain._flat, plain._flat_grad, plain._buffer("m"),
                            plain._buffer("v"), lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                            t=plain.iterations + 1)
        plain.iterations += 1
    np.testing.assert_array_equal(big[0].data, twin[0].data)


def test_adam_from_two_python_threads_at_once_gives_each_its_own_result(blas_pool):
    import threading

    rng = np.random.default_rng(3)
    n = kernels.MIN_SIZE * 3 + 1
    settings = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    jobs = [[rng.standard_normal(n).astype(np.float32) for _ in range(4)] for _ in range(2)]
    expected = []
    for p, g, m, v in jobs:
        p, m, v = p.copy(), m.copy(), np.abs(v)
        for t in range(1, 21):
            updates.adam_update(p, g, m, v, t=t, **settings)
        expected.append(p)

    def train(p, g, m, v):
        v[...] = np.abs(v)
        for t in range(1, 21):
            kernels.adam(p, g, m, v, t=t, **settings)

    workers = [threading.Thread(target=train, args=job) for job in jobs]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for (p, *_), want in zip(jobs, expected):
        np.testing.assert_array_equal(p, want)
    assert len(blas_pool) == 40
