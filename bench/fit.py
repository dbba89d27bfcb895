"""One epoch of `fit` for the notes' Fashion-MNIST network: gradkit, PyTorch, scikit-learn.

784-512-512-10 ReLU MLP, Adam 1e-3, 60,000 x 784 float32 synthetic inputs, 10 classes, shuffled
mini-batches of 32, 128 and 512. Prints seconds per epoch, the ratios gradkit/PyTorch and
gradkit/scikit-learn, and the machine's limit ("floor"): the epoch's training FLOPs divided by
the float32 matrix-product rate measured just before and after gradkit's epochs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

SIZES = (784, 512, 512, 10)


def training_flops(n, sizes=SIZES):
    """Matrix-product FLOPs of one epoch: forward x W, backward dW for every layer, and dX for
    every layer but the first (the input needs no gradient)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * n * a * b for a, b in pairs)
    grad_w = forward
    grad_x = sum(2 * n * a * b for a, b in pairs[1:])
    return forward + grad_w + grad_x


def sgemm_rate(n=1024, repeats=5):
    """Best observed float32 matrix-product rate (FLOP/s) for an n x n x n product."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_time(lambda: a @ a) for _ in range(repeats))
    return 2 * n ** 3 / best


_TORCH_SGEMM = """
import time, torch
a = torch.rand({n}, {n})
a @ a
times = []
for _ in range({repeats}):
    t0 = time.perf_counter()
    a @ a
    times.append(time.perf_counter() - t0)
print(2 * {n} ** 3 / min(times))
"""


def torch_sgemm_rate(n=1024, repeats=5):
    """The same product's rate in PyTorch (its own BLAS: MKL on x86), in a separate process so
    that its threads never overlap NumPy's; NaN without PyTorch."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _TORCH_SGEMM.format(n=n, repeats=repeats)],
                         capture_output=True, text=True)
    return float(out.stdout.strip()) if out.returncode == 0 else float("nan")


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=n)
    return X, y


def gradkit_epoch(X, y, batch_size):
    import gradkit as gk

    model = gk.Sequential([gk.layers.Dense(512, activation="relu", init="he_normal"),
                           gk.layers.Dense(512, activation="relu", init="he_normal"),
                           gk.layers.Dense(10)])
    model.compile(optimizer=gk.optim.Adam(1e-3), loss="cross_entropy")
    model.build(X.shape[1:], seed=0)
    return lambda: model.fit(X, y, batch_size=batch_size, epochs=1, seed=0, verbose=0)


def torch_epoch(X, y, batch_size):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        perm = torch.randperm(len(tx))
        for start in range(0, len(tx), batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()

    return epoch


def sklearn_epoch(X, y, batch_size):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def epoch():
        clf = MLPClassifier(hidden_layer_sizes=(512, 512), solver="adam", learning_rate_init=1e-3,
                            batch_size=batch_size, max_iter=1, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    return epoch


def alternating_medians(script, workers, args, rounds):
    """For each worker name, the median of every number `script --worker NAME *args` prints,
    over `rounds` rounds in which the workers take turns, each run in a fresh process; NaN for
    a worker that fails (PyTorch not installed).

    Fresh processes, because NumPy's OpenBLAS and PyTorch's OpenMP threads spin-wait after
    their work, so two libraries in one process slow each other down in a way no user of one
    of them sees (gradkit's small step: 73-81 us alone, up to 115 us after PyTorch's). Taking
    turns, because on a noisy machine a slow minute then falls on both sides alike."""
    import subprocess

    values = {name: [] for name in workers}
    for _ in range(rounds):
        for name, vs in values.items():
            out = subprocess.run([sys.executable, os.path.abspath(script), "--worker", name,
                                  *map(str, args)], capture_output=True, text=True)
            if out.returncode == 0:
                vs.extend(float(v) for v in out.stdout.split())
            else:
                print(f"  {name} failed: {out.stderr.strip().splitlines()[-1:]}",
                      file=sys.stderr)
                vs.append(float("nan"))
    return [statistics.median(values[name]) for name in workers]


def _worker(name, samples, batch_size, repeats):
    X, y = data(samples)
    make = globals()[name]
    if name != "sklearn_epoch":
        # A short fit first, for both frameworks: it warms either library's allocator, and
        # runs gradkit's kernels once, compiled first (a fit compiles them only after Adam
        # has done the work their load costs; this row times the epochs after that).
        if name == "gradkit_epoch":
            import gradkit._fast

            gradkit._fast.compiled()
        warm = min(samples, 20 * batch_size)
        make(X[:warm], y[:warm], batch_size)()
    fn = make(X, y, batch_size)
    print(statistics.median(_time(fn) for _ in range(repeats)))


def machine():
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {numpy.__version__}")


def rate_around(fn):
    """(fn(), the best sgemm rate measured just before and just after it): on a machine whose
    speed drifts from minute to minute, the floor of a row must come from that row's minutes."""
    before = sgemm_rate()
    out = fn()
    return out, max(before, sgemm_rate())


def run(samples, batch_sizes, repeats, sklearn_repeats):
    """Rows (name, gradkit, PyTorch, scikit-learn, floor) and the highest sgemm rate seen."""
    X, y = data(samples)
    flops = training_flops(samples)
    rows, rates = [], []

    def args(batch_size, worker_repeats):
        return ["--samples", samples, "--batch-sizes", batch_size, "--repeats", worker_repeats]

    for bs in batch_sizes:
        # gradkit and PyTorch take turns, one epoch per process.
        (g, t), rate = rate_around(lambda: alternating_medians(
            __file__, ["gradkit_epoch", "torch_epoch"], args(bs, 1), repeats))
        rates.append(rate)
        floor = flops / rate
        s, = alternating_medians(__file__, ["sklearn_epoch"], args(bs, sklearn_repeats), 1) \
            if sklearn_repeats else [float("nan")]
        rows.append((f"fit 784-512-512-10 Adam, batch {bs}", g, t, s, floor))
        print(f"batch {bs:4d}: gradkit {g:7.2f} s  PyTorch {t:7.2f} s  scikit-learn {s:7.2f} s  "
              f"floor {floor:6.2f} s  gradkit/PyTorch {g / t:5.2f}  gradkit/sklearn {g / s:5.2f}  "
              f"gradkit/floor {g / floor:5.2f}", flush=True)
    return rows, max(rates)


def table(rows, rate):
    lines = [f"Machine: {machine()}; highest sgemm rate measured around the gradkit rows "
             f"{rate / 1e9:.1f} GFLOP/s", "",
             "| workload | gradkit | PyTorch | scikit-learn | gradkit/PyTorch | "
             "gradkit/scikit-learn | floor | gradkit/floor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, g, t, s, floor in rows:
        lines.append(f"| {name} | {g:.2f} s | {t:.2f} s | {s:.2f} s | {g / t:.2f} | "
                     f"{g / s:.2f} | {floor:.2f} s | {g / floor:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sklearn-repeats", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.samples, int(args.batch_sizes), args.repeats)
        return
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows, rate = run(args.samples, sizes, args.repeats, args.sklearn_repeats)
    text = table(rows, rate)
    print()
    print(text)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("# gradkit benchmark results\n\n" + text + "\n")


if __name__ == "__main__":
    main()
