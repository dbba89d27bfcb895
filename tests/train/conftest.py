"""Shared fixtures of the training tests.

Any RuntimeWarning is an error here (NumPy's overflow / invalid value / division by zero, and
gradkit's own), as in the other packages' suites; a test that expects one says so with
`pytest.warns`.
"""

import pathlib

import numpy as np
import pytest

import gradkit as gk

_HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Run BLAS single-threaded: on this 2-core machine NumPy's and SciPy's OpenBLAS pools
    (SciPy's serves the optimizers' axpy) spin against each other and a step takes ~30x longer.
    One thread also keeps the bit-identity tests independent of the thread count."""
    import scipy.linalg.blas  # noqa: F401  (load SciPy's BLAS now, so the limit reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def toy():
    """120 rows, 4 features, 3 classes that a small MLP separates well."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    return X, y


@pytest.fixture
def make_mlp():
    """Factory: a compiled Dense(hidden, relu) [-> Dropout] -> Dense(out) classifier."""

    def make(out=3, *, hidden=16, dropout=None, optimizer=None, loss="cross_entropy",
             metrics=("accuracy",)):
        layers = [gk.layers.Dense(hidden, activation="relu")]
        if dropout:
            layers.append(gk.layers.Dropout(dropout))
        layers.append(gk.layers.Dense(out))
        model = gk.Sequential(layers)
        model.compile(optimizer or gk.optim.Adam(1e-2), loss, list(metrics))
        return model

    return make


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y.astype(np.int64)
