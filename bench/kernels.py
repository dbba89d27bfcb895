"""What gradkit's compiled kernels (gradkit._fast) buy, and what a glibc malloc setting would.

    python bench/kernels.py [--samples 30000] [--rounds 7]            # kernels on / off
    python bench/kernels.py --allocator [--rounds 6]                  # mallopt on / off

Kernels: one epoch of the notes' 784-512-512-10 relu network, Adam 1e-3, at batch 32, 128 and
512, the kernels on and off taking turns in one process (`gk.set_kernels`), the same model
trained on (the two paths give the same results, so the state they continue from is the
same kind). Prints each side's median and the ratio on / off, in wall time and in the
process's CPU time (which a loaded machine disturbs less: time spent waiting for a core is not
counted).

Allocator: the same epochs at batch 128 and 512 and a predict of the training set, in fresh
processes taking turns (the malloc setting is process-wide and cannot be undone), with and
without glibc `mallopt` thresholds that keep freed blocks in the heap (bench/NOTES.md, the
allocator rows); their minor page faults and times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import fit as fitbench  # noqa: E402


def _epoch(X, y, batch_size):
    return fitbench.gradkit_epoch(X, y, batch_size)


def kernels(samples, rounds):
    import gradkit as gk

    X, y = fitbench.data(samples)
    for bs in (32, 128, 512):
        run = _epoch(X, y, bs)
        _epoch(X[:20 * bs], y[:20 * bs], bs)()          # compiles the kernels, warms up
        times = {(clock, k): [] for clock in ("wall", "cpu") for k in (True, False)}
        for _ in range(rounds):
            for enabled in (True, False):
                with gk.set_kernels(enabled):
                    t0, c0 = time.perf_counter(), time.process_time()
                    run()
                    times["wall", enabled].append(time.perf_counter() - t0)
                    times["cpu", enabled].append(time.process_time() - c0)
        for clock in ("wall", "cpu"):
            on, off = (statistics.median(times[clock, k]) for k in (True, False))
            ratios = sorted(a / b for a, b in zip(times[clock, True], times[clock, False]))
            q = len(ratios) // 4
            print(f"batch {bs:4d}, {clock} time: kernels on {on:6.3f} s  off {off:6.3f} s  "
                  f"on/off {on / off:5.3f}; median of the {rounds} pairs' ratios "
                  f"{statistics.median(ratios):5.3f}, quartiles {ratios[q]:.3f}-{ratios[-1 - q]:.3f}",
                  flush=True)


_ALLOCATOR_WORKER = """
import sys, time, resource
sys.path.insert(0, {here!r})
import fit as fitbench
if {apply}:
    # Freed blocks kept in the heap: M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 256 MiB.
    import ctypes
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    assert mallopt(-3, 32 << 20) == 1 and mallopt(-1, 256 << 20) == 1
X, y = fitbench.data({samples})
out = []
for bs in (128, 512):
    run = fitbench.gradkit_epoch(X, y, bs)
    fitbench.gradkit_epoch(X[:20 * bs], y[:20 * bs], bs)()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter(); run(); out.append(time.perf_counter() - t0)
    out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
import gradkit as gk
model = gk.Sequential([gk.layers.Dense(512, activation="relu"),
                       gk.layers.Dense(512, activation="relu"), gk.layers.Dense(10)])
model.build(X.shape[1:], seed=0)
model.predict(X[:2048], batch_size=1024)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0 = time.perf_counter(); model.predict(X, batch_size=1024); out.append(time.perf_counter() - t0)
out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
print(*out)
"""


def allocator(samples, rounds):
    names = ["epoch 128 (s)", "faults", "epoch 512 (s)", "faults", "predict (s)", "faults"]
    values = {True: [], False: []}
    for _ in range(rounds):
        for apply in (True, False):
            code = _ALLOCATOR_WORKER.format(here=os.path.dirname(os.path.abspath(__file__)),
                                            apply=apply, samples=samples)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, check=True)
            values[apply].append([float(v) for v in out.stdout.split()])
    for i, name in enumerate(names):
        on = statistics.median(v[i] for v in values[True])
        off = statistics.median(v[i] for v in values[False])
        line = f"{name:14s} mallopt {on:10.3f}  glibc's defaults {off:10.3f}"
        if "faults" not in name:
            ratios = sorted(a[i] / b[i] for a, b in zip(values[True], values[False]))
            line += f"  ratio {on / off:5.3f} (pairs {ratios[0]:.3f}-{ratios[-1]:.3f})"
        print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--allocator", action="store_true", help="glibc only")
    args = parser.parse_args()
    (allocator if args.allocator else kernels)(args.samples, args.rounds)


if __name__ == "__main__":
    main()
