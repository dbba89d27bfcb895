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
