"""In this suite any RuntimeWarning (overflow, division by zero, invalid value) is an error,
wherever it is raised from: the tests' own reference computations included.

Parameters in these tests are not autograd tensors: any object with assignable `.data` and
`.grad` will do, which is all `gradkit.optim` asks for.
"""

import pathlib

import pytest

_HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))
