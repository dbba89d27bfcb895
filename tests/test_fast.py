"""The switch of gradkit's compiled kernels (gradkit._fast): its environment variable, its
function, and the promise that numba stays out of processes that never need a kernel."""

import os
import subprocess
import sys

import pytest

import gradkit as gk
from gradkit import _fast

# A process whose Adam updates 2**20 weights a step: it says whether numba is loaded and where
# relu's gradient comes from before any step, after the step that brings its updates to just
# under COMPILE_AFTER, and after the one that reaches it.
_ADAM_STEPS = """
import sys, numpy as np, gradkit as gk
relu = gk.PRIMITIVES["relu"]
print(gk.kernels_enabled(), "numba" in sys.modules, relu.vjps[0].__module__)
w = gk.nn.Parameter(np.ones(1 << 20, np.float32))
opt = gk.optim.Adam([w], 1e-3)
w.grad[...] = 1.0
steps = -(-gk._fast.COMPILE_AFTER // (1 << 20))
for step in range(steps):
    opt.step()
    if step >= steps - 2:
        print("numba" in sys.modules, relu.vjps[0].__module__)
"""
REFERENCE, FAST = "gradkit.autograd.primitives", "gradkit._fast"


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != _fast.ENVIRONMENT_VARIABLE}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environ, **env})


def test_import_gradkit_does_not_import_numba():
    out = _python("import sys, gradkit; print('numba' in sys.modules)")
    assert out.stdout.strip() == "False", out.stderr


def test_the_kernels_compile_once_adam_has_done_the_work_they_cost_unless_the_variable_says_0():
    pytest.importorskip("numba", reason="numba is not installed: nothing to compile")
    # Until then the table is the reference, with no call in between; after, relu's kernel.
    on = ["True", "False", REFERENCE, "False", REFERENCE, "True", FAST]
    assert _python(_ADAM_STEPS).stdout.split() == on
    assert _python(_ADAM_STEPS, GRADKIT_KERNELS="1").stdout.split() == on
    off = ["False", "False", REFERENCE] + ["False", REFERENCE] * 2
    assert _python(_ADAM_STEPS, GRADKIT_KERNELS="0").stdout.split() == off


def test_a_bad_value_of_the_variable_is_one_clear_error():
    out = _python("import gradkit", GRADKIT_KERNELS="yes")
    assert out.returncode == 1
    assert ("gradkit.errors.ConfigError: GRADKIT_KERNELS must be 0 (kernels off) or 1 (on), "
            "got GRADKIT_KERNELS='yes'") in out.stderr


def test_the_default_cli_run_on_a_small_data_set_never_imports_numba(tmp_path):
    # gradkit train's default network (two hidden layers of 256 units, over MIN_SIZE weights)
    # on iris: a few hundred steps, far less work than loading numba costs.
    code = ("import sys\nfrom gradkit.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "train", "iris", "--epochs", "5",
                          "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False"
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_set_kernels_switches_now_and_restores_as_a_context_manager():
    before = gk.kernels_enabled()
    try:
        gk.set_kernels(False)
        assert not gk.kernels_enabled()
        with gk.set_kernels(True):
            assert gk.kernels_enabled()
            with gk.set_kernels(False):
                assert not gk.kernels_enabled()
            assert gk.kernels_enabled()
        assert not gk.kernels_enabled()
    finally:
        gk.set_kernels(before)


def test_set_kernels_takes_only_true_or_false():
    before = gk.kernels_enabled()
    with pytest.raises(TypeError, match="set_kernels takes True or False, got 'off'"):
        gk.set_kernels("off")
    assert gk.kernels_enabled() == before
