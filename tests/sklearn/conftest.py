import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="package")
def _one_blas_thread():
    # These tests train many small networks (matrices of a few hundred rows). A multi-threaded
    # BLAS only adds synchronization to such products, and on a busy 2-core machine its threads
    # spin-wait: the same fits ran 10-20x slower. One thread keeps the suite fast and its
    # timings meaningful; results do not depend on it.
    with threadpool_limits(limits=1, user_api="blas"):
        yield
