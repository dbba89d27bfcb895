"""Issue 21's measurement: does the automated recipe beat the hand recipe?

For each data set and seed, with the CLI only, as a new user would:

  (a) `gradkit train TRAIN --test-data TEST --seed S`                       (the default recipe)
  (b) `gradkit doctor TRAIN --test-data TEST --seed S`, then
      `gradkit train --config recommended.json`                            (doctor's advice)
  (c) `gradkit search TRAIN --test-data TEST --trials N --workers W --seed S` for each N
      (it ranks its finalists by cross-validation and retrains the winner at the end; the
      test file is evaluated once, by that retrain)

and records the test accuracy of each and its wall time, then mean and spread over seeds.

Data sets, generated offline: MNIST-1D (`mnist1d`, the package's default arguments: 4,000
training and 1,000 test sequences) and a synthetic 5-class problem from scikit-learn's
`make_classification` (40 features, 10 informative; no test or default was tuned on it).

    python bench/recipe.py                          # the issue's protocol: 3 seeds, 100 and 300
    python bench/recipe.py --seeds 0 --trials 30 --only a,b --data mnist1d    # a part of it
    python bench/recipe.py --only c --trials 100,300 --extend  # 300 = the 100-trial study + 200

Results go to bench/recipe-results.json (one record per run, appended, so an interrupted
protocol keeps what it measured) and a summary table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "recipe-results.json")


def make_mnist1d(folder):
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())          # offline: generated, not downloaded
    return _write(folder, "mnist1d", d["x"], d["y"], d["x_test"], d["y_test"])


def make_synthetic(folder):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=5000, n_features=40, n_informative=10,
                               n_redundant=10, n_classes=5, n_clusters_per_class=2,
                               flip_y=0.05, class_sep=1.0, random_state=2021)
    return _write(folder, "synthetic5", X[:4000], y[:4000], X[4000:], y[4000:])


def _write(folder, name, X, y, X_test, y_test):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for part, (A, b) in (("train", (X, y)), ("test", (X_test, y_test))):
        path = os.path.join(folder, f"{name}_{part}.csv")
        if not os.path.exists(path):
            with open(path + ".tmp", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow([f"x{i}" for i in range(A.shape[1])] + ["label"])
                w.writerows([[repr(float(v)) for v in row] + [int(c)] for row, c in zip(A, b)])
            os.replace(path + ".tmp", path)
        paths.append(path)
    return paths


DATA = {"mnist1d": make_mnist1d, "synthetic5": make_synthetic}


def gradkit(*args, log):
    cmd = [sys.executable, "-m", "gradkit.cli", *map(str, args)]
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}; see {log}")
    return time.perf_counter() - start


def test_accuracy(run_folder):
    with open(os.path.join(run_folder, "metrics.json")) as f:
        return json.load(f)["test_accuracy"]


def run_one(method, name, train, test, seed, work, *, workers, trials=None, extend=None):
    out = os.path.join(work, f"{name}-{method}{trials or ''}-s{seed}")
    log = out + ".log"
    for folder in (out, out + "-doctor"):     # a rerun starts afresh (the bench owns these)
        shutil.rmtree(folder, ignore_errors=True)
    if extend is not None:
        # The smaller study, extended as a user would: the same command with more --trials
        # in a copy of its folder (its final model, report and cross-validation are redone).
        shutil.copytree(os.path.join(work, f"{name}-c{extend}-s{seed}"), out)
        for name_ in ("final", "cv"):
            shutil.rmtree(os.path.join(out, name_), ignore_errors=True)
        for name_ in ("report.md", "best.json", "search.png"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name_))
    common = ["--target", "label", "--test-data", test, "--seed", seed]
    if method == "a":
        secs = gradkit("train", train, *common, "--out", out, "--quiet", log=log)
        acc = test_accuracy(out)
    elif method == "b":
        secs = gradkit("doctor", train, *common, "--out", out + "-doctor", "--quiet", log=log)
        secs += gradkit("train", "--config", os.path.join(out + "-doctor", "recommended.json"),
                        "--out", out, "--quiet", log=log)
        acc = test_accuracy(out)
    else:
        secs = gradkit("search", train, *common, "--trials", trials, "--workers", workers,
                       "--out", out, "--quiet", log=log)
        acc = test_accuracy(os.path.join(out, "final"))
    record = {"data": name, "method": method, "trials": trials, "seed": seed,
              "test_accuracy": acc, "seconds": round(secs, 1), "workers": workers,
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    if extend is not None:
        record["extended_from"] = extend        # seconds: the extension's own time
    return record


def summary(records):
    groups = {}
    for r in records:
        groups.setdefault((r["data"], r["method"], r["trials"], r.get("extended_from"),
                           r.get("note")), []).append(r)
    lines = ["| data | recipe | seeds | test accuracy (mean ± sd) | min | wall s (mean) |",
             "|---|---|---|---|---|---|"]
    for (data, method, trials, extended, note), rs in sorted(groups.items(),
                                                             key=lambda kv: str(kv[0])):
        acc = np.array([r["test_accuracy"] for r in rs])
        more = f" (the {extended}-trial study extended; s: the extension)" if extended else ""
        more += f" [{note.split(':')[0]}]" if note else ""
        label = {"a": "(a) default train", "b": "(b) doctor + train"}.get(
            method, f"(c) search {trials} + retrain{more}")
        sd = f"{acc.std(ddof=1):.3f}" if len(acc) > 1 else "-"
        lines.append(f"| {data} | {label} | {len(rs)} | {acc.mean():.3f} ± {sd} | "
                     f"{acc.min():.3f} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="mnist1d,synthetic5")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--trials", default="100,300")
    p.add_argument("--only", default="a,b,c", help="which of the recipes a, b, c to run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", default=os.path.join("runs", "bench-recipe"))
    p.add_argument("--summary", action="store_true", help="only print the table of results")
    p.add_argument("--results", default=RESULTS, help="the JSON file of records (appended)")
    p.add_argument("--extend", action="store_true",
                   help="(c) with several --trials: each larger count extends the study of the "
                        "next smaller one (run before, in --work) instead of starting afresh")
    args = p.parse_args(argv)
    results = args.results
    records = []
    if os.path.exists(results):
        with open(results) as f:
            records = json.load(f)
    if args.summary:
        print(summary(records))
        return
    os.makedirs(args.work, exist_ok=True)
    for name in args.data.split(","):
        train, test = DATA[name](os.path.join(args.work, "data"))
        for seed in map(int, args.seeds.split(",")):
            jobs = [(m, None) for m in ("a", "b") if m in args.only]
            if "c" in args.only:
                jobs += [("c", int(n)) for n in args.trials.split(",")]
            counts = sorted(int(n) for n in args.trials.split(","))
            for method, trials in jobs:
                extend = None
                if method == "c" and args.extend:
                    below = [n for n in counts if n < trials]
                    if below:
                        extend = below[-1]
                    elif os.path.isdir(os.path.join(args.work, f"{name}-c{trials}-s{seed}",
                                                    "final")):
                        continue            # measured before: the study to extend
                record = run_one(method, name, train, test, seed, args.work,
                                 workers=args.workers, trials=trials, extend=extend)
                print(json.dumps(record), flush=True)
                records.append(record)
                with open(results + ".tmp", "w") as f:
                    json.dump(records, f, indent=1)
                os.replace(results + ".tmp", results)
    print(summary(records))


if __name__ == "__main__":
    main()
