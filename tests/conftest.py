import numpy as np
import pytest

from gradkit._threads import blas_limit


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """The suite trains many tiny networks: a threaded BLAS only adds synchronization to their
    products (and spins against any other busy process on a small machine), and one thread
    keeps the bit-identity tests independent of the thread count. Speed is `make bench`'s job,
    run with the default threads."""
    with blas_limit(1):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def blas_pool(monkeypatch):
    """Two BLAS threads for the test (the session runs with one), so that the elementwise
    kernels split over OpenBLAS's pool; yields the list of tasks handed to the pool."""
    from gradkit import _blaspool

    with blas_limit(2):
        if _blaspool.threads() < 2:
            pytest.skip("NumPy's BLAS is not a pthreads OpenBLAS with 2 threads here: "
                        "the kernels run on the calling thread only")
        calls = []
        real = _blaspool.run

        def run(task, rows, n):
            calls.append((task, n))
            real(task, rows, n)

        monkeypatch.setattr(_blaspool, "run", run)
        yield calls
