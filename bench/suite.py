"""`make bench`: every workload of the performance issue, gradkit against PyTorch (CPU) and
scikit-learn in the same run, one table at the end, written to bench/results.md.

Workloads:
  fit        784-512-512-10 ReLU, Adam 1e-3, one epoch of 60,000 samples, batch 32/128/512
  step       a training step of 64-32-10 at batch 16 (per-step overhead), SGD and Adam
  predict    60,000 x 784 in batches of 1,024 (PyTorch under torch.no_grad)
  memory     peak resident memory of a process running the batch-128 fit
  import     `python -c "import gradkit"` wall time and peak memory (vs `import torch`)
  sklearn    gradkit.sklearn.MLPClassifier vs scikit-learn's on digits (time and accuracy)
  scaling    step time from width 128 to 2,048 at batch 512, as a fraction of the sgemm rate
  stream     streamed (Parquet, bench/stream.py) against in-memory epochs, and the peak memory
             of streamed epochs on two data-set sizes under a 500 MiB RLIMIT_DATA
Each figure is the median of repeated runs. Ratios are gradkit / other: below 1 is faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fit as fitbench  # noqa: E402
import overhead  # noqa: E402


def _median(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gradkit_predict():
    import gradkit as gk

    X, _ = fitbench.data(60_000)
    model = gk.Sequential([gk.layers.Dense(512, activation="relu"),
                           gk.layers.Dense(512, activation="relu"), gk.layers.Dense(10)])
    model.build((784,), seed=0)
    return lambda: model.predict(X, batch_size=1024)


def torch_predict():
    import torch

    X, _ = fitbench.data(60_000)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 10))
    tx = torch.from_numpy(X)

    def predict():
        with torch.no_grad():
            out = torch.empty((len(tx), 10))
            for s in range(0, len(tx), 1024):
                out[s:s + 1024] = net(tx[s:s + 1024])
        return out

    return predict


def _predict_worker(name, repeats):
    fn = globals()[name]()
    fn()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        print(time.perf_counter() - t0)


def predict_rows(repeats, rounds=3):
    """Each library in processes of its own, taking turns, as the step rows do."""
    g, t = fitbench.alternating_medians(__file__, ["gradkit_predict", "torch_predict"],
                                        ["--repeats", repeats], rounds)
    return [("predict 60,000 x 784, batches of 1,024", g, t, float("nan"), float("nan"))]


def _interleaved_medians(fns, repeats):
    """Median time of each function, their repeats taking turns after one warm-up call each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


# Peak resident memory from VmHWM: unlike ru_maxrss it starts afresh at exec, so a child
# started from this (large) process does not report the parent's peak.
_PEAK = ("int(next(l.split()[1] for l in open('/proc/self/status') "
         "if l.startswith('VmHWM')))")

_MEMORY_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import fit
X, y = fit.data({n})
fn = getattr(fit, {which!r})(X, y, 128)
fn()
print({peak})
"""


def _peak_kib(which, n):
    code = _MEMORY_SCRIPT.format(here=HERE, n=n, which=which, peak=_PEAK)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def memory_rows(n):
    g = _peak_kib("gradkit_epoch", n) / 1024
    try:
        t = _peak_kib("torch_epoch", n) / 1024
    except subprocess.CalledProcessError:
        t = float("nan")
    return [(f"peak memory of the batch-128 fit process (MiB), {n:,} samples", g, t,
             float("nan"), float("nan"))]


def _import_cost(module, repeats):
    code = ("import time; t = time.perf_counter(); import {m}; "
            "print(time.perf_counter() - t, " + _PEAK + ")")
    walls, peaks = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code.replace("{m}", module)],
                             capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            return float("nan"), float("nan")
        peaks.append(int(out.stdout.split()[1]) / 1024)
    return statistics.median(walls), statistics.median(peaks)


def import_rows(repeats):
    gw, gm = _import_cost("gradkit", repeats)
    tw, tm = _import_cost("torch", repeats)
    return [("`python -c 'import X'` wall time (s)", gw, tw, float("nan"), float("nan")),
            ("`python -c 'import X'` peak memory (MiB)", gm, tm, float("nan"), float("nan"))]


def step_rows(repeats):
    rows = []
    gk_us, pt_us = overhead.run(steps=2000, repeats=repeats)
    rows.append(("step 64-32-10, batch 16, SGD (us)", gk_us, pt_us, float("nan"), float("nan")))
    gk_us, pt_us = overhead.run(steps=2000, repeats=repeats, optimizer="adam")
    rows.append(("step 64-32-10, batch 16, Adam (us)", gk_us, pt_us, float("nan"),
                 float("nan")))
    return rows


def scaling_rows(repeats):
    import gradkit as gk

    rows = []
    rng = np.random.default_rng(0)
    for width in (128, 256, 512, 1024, 2048):
        X = rng.standard_normal((512, width), dtype=np.float32)
        y = rng.integers(0, 10, size=512)
        model = gk.Sequential([gk.layers.Dense(width, activation="relu"),
                               gk.layers.Dense(width, activation="relu"), gk.layers.Dense(10)])
        model.compile(optimizer=gk.optim.Adam(1e-3), loss="cross_entropy")
        model.build((width,), seed=0)
        model.optimizer.bind(model.parameters())
        steps = max(3, int(2e9 / fitbench.training_flops(512, (width, width, width, 10))))

        def run():
            for _ in range(steps):
                model.train_step(X, y)

        sec, rate = fitbench.rate_around(lambda: _median(run, repeats))
        sec /= steps
        flops = fitbench.training_flops(512, (width, width, width, 10))
        rows.append((f"step at width {width}, batch 512: achieved / sgemm rate", flops / sec / rate,
                     float("nan"), float("nan"), float("nan")))
    return rows


def sklearn_digits_rows(repeats):
    """gradkit.sklearn.MLPClassifier against scikit-learn's on digits, same settings."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.preprocessing import StandardScaler

    from gradkit.sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    settings = dict(hidden_layer_sizes=(100,), max_iter=50, random_state=0)
    scores = {}

    def fit(cls, key):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = cls(**settings).fit(Xtr, ytr)
        scores[key] = clf.score(Xte, yte)

    # Both fits take a fraction of a second and run in this process, so they take turns
    # (and repeat more): a slow minute of a noisy machine then falls on both sides alike.
    g, s = _interleaved_medians([lambda: fit(MLPClassifier, "gradkit"),
                                 lambda: fit(SkMLP, "sklearn")], max(repeats, 7))
    return [("MLPClassifier fit on digits, (100,), adam, 50 epochs (s)", g, float("nan"), s,
             float("nan")),
            ("  its test accuracy", scores["gradkit"], float("nan"), scores["sklearn"],
             float("nan"))]


def stream_rows(repeats, quick):
    """Streamed against in-memory epochs (streamed in the gradkit column, in memory in the
    PyTorch one), then peak RSS of a streamed epoch per data-set size (gradkit column)."""
    import tempfile

    import stream as streambench

    directory = os.path.join(tempfile.gettempdir(), "gradkit-bench")
    rows = []
    for r in streambench.epoch_rows(directory, repeats=repeats, quick=quick, buffers=[8192]):
        rows.append((f"streamed (gradkit column) vs in-memory (PyTorch column) epoch "
                     f"{r['case']}, {r['rows']:,} rows (s)",
                     r["stream_s"], r["memory_s"], float("nan"), float("nan")))
    sizes = (200_000, 900_000) if quick else (2_000_000, 9_000_000)
    for r in streambench.memory_rows(directory, limit_mib=500, sizes=sizes)[:-1]:
        rows.append((f"peak RSS of a streamed epoch (MiB), {r['rows']:,} rows = "
                     f"{r['float32_mib']:,.0f} MiB as float32, RLIMIT_DATA 500 MiB",
                     r["peak_rss_mib"], float("nan"), float("nan"), float("nan")))
    return rows


def table(rows, rate, torch_rate=float("nan")):
    lines = [f"Machine: {fitbench.machine()}; sgemm rate (1024 x 1024 x 1024) up to "
             f"{rate / 1e9:.1f} GFLOP/s in NumPy, {torch_rate / 1e9:.1f} GFLOP/s in PyTorch. "
             "Each floor and scaling row divides by the NumPy rate measured just before and "
             "after that row (the best of the two): this machine's speed drifts.", "",
             "| workload | gradkit | PyTorch | scikit-learn | gradkit/PyTorch | "
             "gradkit/scikit-learn | gradkit/floor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]

    def fmt(v):
        return "–" if v != v else (f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}")

    for name, g, t, s, floor in rows:
        lines.append(f"| {name} | {fmt(g)} | {fmt(t)} | {fmt(s)} | {fmt(g / t)} | "
                     f"{fmt(g / s)} | {fmt(g / floor)} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60_000)
    # 5: with 3, the batch-512 ratio swung from 0.84 to 1.12 across three runs of one commit.
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 1 repeat")
    parser.add_argument("--worker", help=argparse.SUPPRESS)    # predict's, one library
    args = parser.parse_args()
    if args.worker:
        _predict_worker(args.worker, args.repeats)
        return
    if args.quick:
        args.samples, args.repeats = 6_000, 1
    rows = []
    # Fit first (each framework in its own process), then what runs in this process: PyTorch
    # is imported here only after the NumPy-based measurements, so its threads never overlap them.
    print("fit ...", flush=True)
    fit_rows, rate = fitbench.run(args.samples, [32, 128, 512], args.repeats, 1)
    rows += [(f"{name} (s/epoch)", g, t, s, floor) for name, g, t, s, floor in fit_rows]
    print("scikit-learn estimators ...", flush=True)
    sk_rows = sklearn_digits_rows(args.repeats)
    print("scaling ...", flush=True)
    scale_rows = scaling_rows(args.repeats)
    print("step overhead ...", flush=True)
    rows += step_rows(max(args.repeats, 5))
    print("predict ...", flush=True)
    rows += predict_rows(args.repeats)
    print("memory ...", flush=True)
    rows += memory_rows(args.samples)
    print("import ...", flush=True)
    rows += import_rows(5)
    print("stream ...", flush=True)
    rows += stream_rows(args.repeats, args.quick)
    rows += sk_rows + scale_rows
    text = table(rows, rate, fitbench.torch_sgemm_rate())
    print()
    print(text)
    with open(os.path.join(HERE, "results.md"), "w", encoding="utf-8") as f:
        f.write("# gradkit benchmark results (`make bench`)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
