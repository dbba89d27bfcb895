"""Streamed training (gradkit.data.stream) against training on arrays in memory.

    python bench/stream.py epoch      # 784-512-512-10 epoch and 28-64-64-1 rows/s, both ways
    python bench/stream.py memory     # peak RSS of streamed epochs on two data-set sizes under
                                      # an RLIMIT_DATA smaller than the larger data set
    python bench/stream.py accuracy   # test accuracy, streamed vs in memory, HIGGS-shaped set
    python bench/stream.py mnist1d    # the same on MNIST-1D (10,000 sequences of 40 values)

Data sets are generated (seeded) as Parquet folders under --dir (4 files, row groups of 16,384
rows). Each timing is the median of --repeats runs, the two ways interleaved in one process, so
a ratio compares like with like on a drifting machine. The statistics pass (once per data set,
before training) is timed apart from the epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write_parquet(folder, n, d, *, classes, seed=0, files=4, row_group=16384, nonlinear=False):
    """n rows of d float32 features and an integer label, in `files` Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    W = np.random.default_rng(1234).normal(size=(d, classes))
    per = -(-n // files)
    for f in range(files):
        m = min(per, n - f * per)
        X = rng.normal(size=(m, d)).astype(np.float32)
        logits = X @ W
        if nonlinear:        # HIGGS-like: the class depends on products of features too
            logits = logits + 1.5 * (X[:, :1] * X[:, 1:2]) - np.abs(X[:, 2:3])
        logits = logits + rng.normal(size=logits.shape)
        y = logits.argmax(1) if classes > 1 else (logits[:, 0] > 0).astype(np.int64)
        columns = {f"f{j}": X[:, j] for j in range(d)}
        columns["label"] = y.astype(np.int64)
        pq.write_table(pa.table(columns), os.path.join(folder, f"part{f:03d}.parquet"),
                       row_group_size=row_group)
    return folder


def _arrays(stream):
    parts = list(stream.batches(65536, shuffle=False))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _model(sizes, X_or_stream):
    import gradkit as gk

    layers = [gk.layers.Normalization().adapt(X_or_stream)]
    layers += [gk.layers.Dense(u, activation="relu") for u in sizes[1:-1]]
    layers.append(gk.layers.Dense(max(sizes[-1], 2)))
    model = gk.Sequential(layers)
    model.compile("adam", "cross_entropy", ["accuracy"])
    return model


def epoch_rows(directory, *, repeats, quick, buffers):
    """Seconds per epoch (784-512-512-10) and rows per second (28-64-64-1), both ways, for
    each shuffle-buffer size (a buffer as large as the data set is filled before the first
    batch, so reading cannot overlap with computing)."""
    from gradkit.data import stream

    rows = []
    cases = [("784-512-512-10, batch 128", (784, 512, 512, 10), 6000 if quick else 20000, 128),
             ("28-64-64-1, batch 256", (28, 64, 64, 1), 40000 if quick else 400000, 256)]
    for (name, sizes, n, batch), buffer in [(c, b) for c in cases for b in buffers]:
        folder = os.path.join(directory, f"epoch-{sizes[0]}-{n}")
        if not os.path.isdir(folder):
            write_parquet(folder, n, sizes[0], classes=sizes[-1])
        data = stream(folder, target="label", seed=0, shuffle_buffer=buffer)
        t0 = time.perf_counter()
        data.statistics()
        stats_s = time.perf_counter() - t0
        X, y = _arrays(data)
        times = {"memory": [], "stream": []}
        # Round 0 warms up (numba compiles the fused kernels on the first large fit).
        for r in range(repeats + 1):
            for way in ("memory", "stream"):
                model = _model(sizes, X if way == "memory" else data)
                source = (X, y) if way == "memory" else (data, None)
                t0 = time.perf_counter()
                model.fit(*source, batch_size=batch, epochs=1, seed=r, verbose=0)
                if r:
                    times[way].append(time.perf_counter() - t0)
        mem, st = statistics.median(times["memory"]), statistics.median(times["stream"])
        rows.append({"case": name, "rows": n, "shuffle_buffer": buffer, "memory_s": mem, "stream_s": st,
                     "ratio": st / mem, "memory_rows_s": n / mem, "stream_rows_s": n / st,
                     "statistics_pass_s": stats_s})
    return rows


_LIMITED = """
import resource, sys, time
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
import gradkit as gk
from gradkit.data import stream
if sys.argv[2] == "memory":
    import pyarrow.parquet as pq
    try:
        pq.read_table(sys.argv[1])        # the whole data set in memory, as a table
        print("loaded")
    except MemoryError as err:
        print(type(err).__name__)
    sys.exit(0)
data = stream(sys.argv[1], target="label", seed=0)
train = data.split(val=0.05, test=0.05)[0]
model = gk.Sequential([gk.layers.Normalization().adapt(train),
                       gk.layers.Dense(64, activation="relu"),
                       gk.layers.Dense(64, activation="relu"), gk.layers.Dense(2)])
model.compile("adam", "cross_entropy", ["accuracy"])
t = time.perf_counter()
model.fit(train, None, batch_size=1024, epochs=1, verbose=0)
# VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss over fork and exec into the child.
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(len(train), time.perf_counter() - t, peak)
"""


def memory_rows(directory, *, limit_mib, sizes):
    """Peak RSS of one streamed epoch (28-64-64-1) per data-set size, under RLIMIT_DATA."""
    rows = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.join(HERE, "..", "src"), os.environ.get("PYTHONPATH", "")])}
    for n in sizes:
        folder = os.path.join(directory, f"memory-{n}")
        if not os.path.isdir(folder):
            write_parquet(folder, n, 28, classes=1, nonlinear=True, files=8)
        on_disk = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        out = subprocess.run([sys.executable, "-c", _LIMITED, folder, "stream",
                              str(limit_mib << 20)], capture_output=True, text=True, env=env)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        train_rows, seconds, peak_kib = out.stdout.split()
        rows.append({"rows": n, "float32_mib": n * 29 * 4 / 2**20, "parquet_mib": on_disk / 2**20,
                     "limit_mib": limit_mib, "peak_rss_mib": int(peak_kib) / 1024,
                     "epoch_s": float(seconds), "train_rows": int(train_rows)})
        print(json.dumps(rows[-1]), flush=True)
    # The largest set read whole, under the same limit (pyarrow has been seen to hang rather
    # than fail there: a timeout says so).
    folder = os.path.join(directory, f"memory-{sizes[-1]}")
    try:
        out = subprocess.run([sys.executable, "-c", _LIMITED, folder, "memory",
                              str(limit_mib << 20)], capture_output=True, text=True, env=env,
                             timeout=300)
        what = out.stdout.strip() or out.stderr.strip().splitlines()[-1]
    except subprocess.TimeoutExpired:
        what = "no result in 300 s (killed)"
    rows.append({"whole_largest_set_read_into_memory": what})
    return rows


def write_mnist1d(folder, n):
    """MNIST-1D (Greydanus 2020; generated locally by the `mnist1d` package): n sequences of
    40 values, 10 classes, as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = n
    d = make_dataset(args)
    X = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    os.makedirs(folder, exist_ok=True)
    columns = {f"f{j}": X[:, j] for j in range(X.shape[1])}
    columns["label"] = y
    pq.write_table(pa.table(columns), os.path.join(folder, "part000.parquet"), row_group_size=1000)


def accuracy_rows(directory, *, n, seeds, epochs, dataset="higgs"):
    """Test accuracy of `gradkit train` on one Parquet file, in memory and with --stream."""
    from gradkit.practice.run import RunConfig, train_run

    folder = os.path.join(directory, f"{dataset}-{n}")
    if not os.path.isdir(folder):
        if dataset == "mnist1d":
            write_mnist1d(folder, n)
        else:
            write_parquet(folder, n, 28, classes=1, nonlinear=True, files=1)
    path = os.path.join(folder, "part000.parquet")
    hidden, batch = ([128, 128], 64) if dataset == "mnist1d" else ([64, 64], 256)
    rows = []
    for seed in seeds:
        for streamed in (False, True):
            config = RunConfig(data=path, target="label", hidden=hidden, epochs=epochs,
                               batch_size=batch, seed=seed, stream=streamed,
                               shuffle_buffer=8192)
            with tempfile.TemporaryDirectory() as out:
                result = train_run(config, out, verbose=0)
            rows.append({"data": dataset, "seed": seed, "stream": streamed,
                         "test_accuracy": result.metrics["test_accuracy"],
                         "test_samples": result.metrics["test_samples"]})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["epoch", "memory", "accuracy", "mnist1d", "all"])
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "gradkit-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--limit-mib", type=int, default=500)
    parser.add_argument("--buffers", default="65536,8192")
    parser.add_argument("--memory-rows", default="2000000,9000000")
    parser.add_argument("--accuracy-rows", type=int, default=200000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    results = {}
    if args.what in ("epoch", "all"):
        results["epoch"] = epoch_rows(args.dir, repeats=args.repeats, quick=args.quick,
                                      buffers=[int(b) for b in args.buffers.split(",")])
    if args.what in ("memory", "all"):
        sizes = [int(s) for s in args.memory_rows.split(",")]
        results["memory"] = memory_rows(args.dir, limit_mib=args.limit_mib, sizes=sizes)
    if args.what in ("accuracy", "all"):
        results["accuracy"] = accuracy_rows(args.dir, n=args.accuracy_rows, seeds=(0, 1, 2),
                                            epochs=args.epochs)
    if args.what in ("mnist1d", "all"):
        results["mnist1d"] = accuracy_rows(args.dir, n=10000, seeds=(0, 1, 2),
                                           epochs=args.epochs * 4, dataset="mnist1d")
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
