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


@pytest.fixture(params=[False, True], ids=["reference", "kernels"])
def kernels(request):
    """The test once on the NumPy reference and once with the compiled kernels installed
    (gradkit._fast), compiled beforehand; yields the switch's setting."""
    from gradkit import _fast

    if request.param and not _fast.compiled():
        pytest.skip("numba is not installed: only the NumPy reference runs")
    with _fast.set_kernels(request.param):
        yield request.param


@pytest.fixture
def kernel_calls(monkeypatch, kernels):
    """Runs the test both ways (`kernels`) and yields the list of compiled kernels it called,
    by name, in order: empty on the reference."""
    from gradkit import _fast

    calls = []
    compiled = _fast.compiled()
    if compiled:
        for name in ("adam", "bias_relu", "relu_grad"):
            def spy(*args, _name=name, _kernel=getattr(compiled, name)):
                calls.append(_name)
                return _kernel(*args)

            monkeypatch.setattr(compiled, name, spy)
    yield calls
