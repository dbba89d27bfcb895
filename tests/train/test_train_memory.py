"""fit and predict keep freed array memory in the process (glibc), so steps fault no pages."""

import os
import subprocess
import sys

import pytest

def _is_glibc():
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


pytestmark = pytest.mark.skipif(not _is_glibc(), reason="the malloc setting is glibc's (Linux)")

# Eight 1 MiB arrays made and freed in a loop: with glibc's defaults the freed top of the heap
# is trimmed (returned to the kernel) every time and faulted in again on the next round.
_CHURN = """
import resource, sys
import numpy as np
{setup}
def churn():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(8)]
    del arrays
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setup, env=None):
    out = subprocess.run([sys.executable, "-c", _CHURN.format(setup=setup)], check=True,
                         capture_output=True, text=True, env=env)
    return int(out.stdout.split()[-1])


def _clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default = _faults("", env=_clean_env())
    setup = "from gradkit._memory import reuse_freed_memory; assert reuse_freed_memory()"
    reused = _faults(setup, env=_clean_env())
    # 50 rounds of 8 MiB: ~100,000 page faults with the defaults, none once blocks are kept.
    assert default > 10_000, default
    assert reused < 200, reused


def test_the_users_own_malloc_settings_are_left_alone():
    env = {**_clean_env(), "MALLOC_TRIM_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, "-c", "from gradkit._memory import reuse_freed_memory;"
                          " print(reuse_freed_memory())"], check=True, capture_output=True,
                         text=True, env=env)
    assert out.stdout.strip() == "False"


def test_fit_applies_the_setting():
    code = ("import numpy as np, gradkit as gk, gradkit._memory as m\n"
            "model = gk.Sequential([gk.layers.Dense(2)])\n"
            "model.compile(optimizer='sgd', loss='mse')\n"
            "assert m._applied is None\n"
            "model.fit(np.zeros((4, 3), np.float32), np.zeros((4, 2)), epochs=1, verbose=0)\n"
            "print(m._applied)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=_clean_env())
    assert out.stdout.strip() == "True"
