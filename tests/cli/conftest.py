"""Fixtures of the command-line tests: the `kit` of helpers and a trained run.

The CLI is invoked in-process with click's CliRunner, much faster than a subprocess; the tests
that need a real process (exit status, stderr, `make demo`) start one. Any RuntimeWarning is
an error here.
"""

import pathlib
import types

import numpy as np
import pytest
from click.testing import CliRunner

from gradkit.cli import cli

_HERE = pathlib.Path(__file__).parent

ANIMALS = {"red": "cat", "green": "dog", "blue": "bird"}


def gradkit(*args):
    """Run `gradkit ARGS` in-process; the Result has exit_code, stdout and stderr apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="gradkit")


def error_line(result):
    """The single stderr line of a refused command (and proof that it is a clean exit)."""
    assert isinstance(result.exception, SystemExit), result.exc_info
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def write_animals(path, n, *, seed, with_label=True, label_of=None):
    """A CSV of x1 (number), color (text), x2 (number) and, optionally, label (text).

    The color decides the animal, so a small network learns it in a few epochs.
    """
    rng = np.random.default_rng(seed)
    colors = list(ANIMALS)
    lines = ["x1,color,x2" + (",label" if with_label else "")]
    for i in range(n):
        color = colors[i % 3]
        row = f"{rng.normal() + 2 * (i % 3):.4f},{color},{rng.normal():.4f}"
        if with_label:
            row += "," + (label_of or ANIMALS)[color]
        lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def kit():
    """The helpers above (tests run with --import-mode=importlib: no importing conftest)."""
    return types.SimpleNamespace(ANIMALS=ANIMALS, run=gradkit, error_line=error_line,
                                 write_animals=write_animals)

def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::RuntimeWarning"))


@pytest.fixture(scope="session")
def animals_run(tmp_path_factory):
    """`gradkit train animals.csv --target label` once for the session: (run folder, result)."""
    root = tmp_path_factory.mktemp("animals")
    data = write_animals(root / "animals.csv", 150, seed=0)
    out = root / "run"
    result = gradkit("train", data, "--target", "label", "--epochs", "8", "--hidden", "16",
                     "--lr", "0.01", "--quiet", "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="session")
def animals_model(animals_run):
    return animals_run[0] / "model.safetensors"

