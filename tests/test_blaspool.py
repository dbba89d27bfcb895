"""gradkit._blaspool runs kernels on NumPy's OpenBLAS threads, and only where it can."""

import ctypes
import os
import threading

import numpy as np
import pytest

from gradkit import _blaspool
from gradkit._threads import blas_limit

numba = pytest.importorskip("numba", reason="numba is not installed: no kernels to split")


def test_parts_cover_the_range_in_aligned_contiguous_pieces():
    from gradkit._address import part

    def parts(n, k):
        return [part(n, k, t) for t in range(k)]

    assert parts(100, 2) == [(0, 64), (64, 100)]
    assert parts(10, 4) == [(0, 10), (10, 10), (10, 10), (10, 10)]
    assert parts(0, 2) == [(0, 0), (0, 0)]
    for n in (1, 17, 65_536, 669_706):
        for k in (1, 2, 3, 8):
            b = parts(n, k)
            assert b[0][0] == 0 and b[-1][1] == n
            assert all(hi == lo for (_, hi), (lo, _) in zip(b, b[1:]))      # contiguous
            assert all(lo <= hi for lo, hi in b)
            assert all(lo % 16 == 0 or lo == n for lo, _ in b)             # 64-byte starts


def _probe():
    """A task writing the id of the thread that ran it and its own row number into its row."""
    libc = ctypes.CDLL(None)
    gettid = libc.gettid
    gettid.restype, gettid.argtypes = ctypes.c_int, []

    @numba.cfunc(numba.types.void(numba.types.voidptr))
    def probe(block):
        row = numba.carray(block, (_blaspool.ROW,), np.int64)
        row[0] = gettid()
        row[1] += 1

    return probe.address


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "gettid"), reason="needs glibc's gettid")
def test_run_gives_each_row_to_one_thread_the_first_to_the_caller(blas_pool):
    k = _blaspool.threads()
    blocks = np.zeros((k, _blaspool.ROW), np.int64)
    _blaspool.run(_probe(), blocks.ctypes.data, k)
    assert blocks[:, 1].tolist() == [1] * k                   # every row ran, once
    assert blocks[0, 0] == threading.get_native_id()          # row 0 on this thread
    assert len(set(blocks[:, 0].tolist())) == k               # the others on k - 1 more


def test_threads_follow_the_blas_limit_at_each_call(blas_pool):
    assert _blaspool.threads() >= 2
    with blas_limit(1):
        assert _blaspool.threads() == 1
    assert _blaspool.threads() >= 2


def test_without_a_pthreads_openblas_there_is_one_thread(monkeypatch):
    monkeypatch.setattr(_blaspool, "_openblas", lambda: None)
    assert _blaspool.threads() == 1
    assert _blaspool.split(None, None, 10) is False           # nothing is run


def test_only_loaded_libraries_are_looked_up(monkeypatch, tmp_path):
    fake = tmp_path / "libopenblas_fake.so"
    fake.write_bytes(b"not a library")
    monkeypatch.setattr(_blaspool, "_loaded_openblas_paths", lambda: [str(fake)])
    _blaspool._openblas.cache_clear()
    try:
        assert _blaspool._openblas() is None                  # RTLD_NOLOAD: never dlopen'ed
    finally:
        _blaspool._openblas.cache_clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_splits_with_the_same_results(blas_pool):
    from gradkit.optim import kernels

    rng = np.random.default_rng(0)
    n = kernels.MIN_SIZE + 5
    p, g, m, v = (rng.standard_normal(n).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    settings = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=1)
    kernels.adam(p.copy(), g, m.copy(), v.copy(), **settings)     # the pool has run here
    expected = p.copy()
    kernels.adam(expected, g, m.copy(), v.copy(), **settings)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                                # the child: report and leave
        try:
            mine = p.copy()
            kernels.adam(mine, g, m.copy(), v.copy(), **settings)
            os.write(write, b"1" if np.array_equal(mine, expected) else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert len(blas_pool) >= 2


def test_numpys_own_openblas_comes_before_scipys():
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS, as numba's import does)

    paths = _blaspool._loaded_openblas_paths()
    if not any("numpy" in p for p in paths):
        pytest.skip("NumPy's OpenBLAS is not a wheel's own copy here")
    assert "numpy" in paths[0] and len(paths) >= 2                # SciPy's is loaded too


def test_a_fit_on_the_pool_ends_with_the_weights_of_a_fit_on_one_thread(blas_pool, monkeypatch):
    import gradkit as gk

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1024, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=1024)

    def fit():
        # 256 x 256 activations and 85,000 parameters: every kernel is above its threshold.
        model = gk.Sequential([gk.layers.Dense(256, activation="relu"),
                               gk.layers.Dense(256, activation="relu"), gk.layers.Dense(10)])
        model.compile(optimizer=gk.optim.Adam(1e-3), loss="cross_entropy")
        model.fit(X, y, epochs=2, batch_size=256, seed=0, verbose=0)
        return [p.data.copy() for p in model.parameters()]

    pooled = fit()
    assert len(blas_pool) == 8 * 5     # 8 steps: Adam, two bias + relu, two masks each
    monkeypatch.setattr(_blaspool, "threads", lambda: 1)
    for a, b in zip(pooled, fit()):
        np.testing.assert_array_equal(a, b)


def test_pool_tasks_and_numpys_own_products_share_the_workers(blas_pool):
    """Adam on the pool in one thread while another thread's products use OpenBLAS's threads:
    both right, neither waits for ever."""
    import threading

    from gradkit.optim import kernels, updates

    rng = np.random.default_rng(4)
    n = kernels.MIN_SIZE * 2 + 3
    p, g, m, v = (rng.standard_normal(n).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    want_p, want_m, want_v = p.copy(), m.copy(), v.copy()
    settings = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    for t in range(1, 31):
        updates.adam_update(want_p, g, want_m, want_v, t=t, **settings)
    a = rng.standard_normal((384, 384)).astype(np.float32)
    expected = a @ a
    products_ok = []

    def products():
        products_ok.append(all(np.array_equal(a @ a, expected) for _ in range(30)))

    other = threading.Thread(target=products)
    other.start()
    for t in range(1, 31):
        kernels.adam(p, g, m, v, t=t, **settings)
    other.join(timeout=60)
    assert not other.is_alive() and products_ok == [True]
    np.testing.assert_array_equal(p, want_p)
    assert len(blas_pool) == 30


def test_openblas_num_threads_1_keeps_everything_on_one_thread():
    import subprocess
    import sys

    code = ("from gradkit import _blaspool; import numpy as np; from gradkit.optim import kernels; "
            "n = kernels.MIN_SIZE; p, g = np.ones(n, np.float32), np.ones(n, np.float32); "
            "m, v = np.zeros(n, np.float32), np.zeros(n, np.float32); "
            "calls = []; _blaspool.run = lambda *a: calls.append(a); "
            "kernels.adam(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=1); "
            "print(_blaspool.threads(), len(calls), float(p[0]))")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:2] == ["1", "0"]                  # one thread, nothing handed to a pool
    assert float(out[2]) == pytest.approx(1 - 1e-3, rel=1e-6)   # Adam's first step: p - lr
