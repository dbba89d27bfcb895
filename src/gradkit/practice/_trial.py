"""One trial of a hyper-parameter search: the function that runs on a worker.

`run_trial` is a pure function of its arguments: the trial's run config (data and seed
included), its number and where trial folders go. It trains with `practice.run.train_run`,
publishes the run folder `trials/NNNN` atomically (built under a temporary name, then renamed)
and returns a small JSON-able dict. Run twice — a worker died, Dask ran it again, a search
resumed after a crash — it returns the same result and leaves one folder: a folder already
published for the same config is read back instead of trained again.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
import traceback

import numpy as np

from gradkit import _atomic
from gradkit._threads import blas_limit
from gradkit.errors import GradkitError
from gradkit.practice.run import RunConfig, train_run
from gradkit.train.callbacks import Callback

RESULT_FILE = "trial.json"


def trial_folder(trials_dir, number):
    return os.path.join(trials_dir, f"{number:04d}")


def run_trial(config, *, number, trials_dir, metric, blas_threads=None, attempt=0,
              stop_below=None):
    """Train `config` (a RunConfig dict) as trial `number`; return its result.

    Args:
        config: every setting of the run, as `RunConfig.to_dict()` gives it.
        number: the trial number; the folder is `trials_dir/NNNN`.
        trials_dir: absolute path of the folder of trial folders.
        metric: the validation metric that scores the trial ("val_accuracy", "val_loss", ...).
        blas_threads: cap on BLAS threads while training (None: leave as is).
        attempt: unused by the trial; it only makes a retried Dask task a new task.
        stop_below: the median stop (see `MedianStop`): {"median": [per-epoch median of
            `metric` over earlier trials, None where too few], "warmup": epochs, "direction"}.

    Returns:
        {"number", "state" ("COMPLETE" or "FAIL"), "value", "metric", "reason", "seconds",
        "val_loss", "val_<metric>"..., "test_<metric>"..., "epochs_run", "curve" (`metric`
        per epoch), "stopped_by_median" (the epoch, or None), "config"}.
    """
    del attempt
    folder = trial_folder(trials_dir, number)
    done = read_result(folder)
    if done is not None and done.get("config") == _json_roundtrip(config):
        return done
    os.makedirs(trials_dir, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 mode would stay on the published folder.
    work = os.path.join(trials_dir, f".{number:04d}.{secrets.token_hex(6)}.tmp")
    os.mkdir(work)
    start = time.perf_counter()
    try:
        with blas_limit(blas_threads):
            result = _train(config, work, metric, stop_below)
    except GradkitError as err:          # diverged, bad setting, bad data: the trial failed
        result = _failed(metric, f"{type(err).__name__}: {err}")
    except Exception as err:             # a bug: keep the search going, keep the traceback
        result = _failed(metric, f"{type(err).__name__}: {err}")
        result["traceback"] = traceback.format_exc(limit=-8)
    result = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in result.items()}
    result.update(number=number, seconds=round(time.perf_counter() - start, 3),
                  config=_json_roundtrip(config))
    _atomic.atomic_write_text(os.path.join(work, RESULT_FILE),
                              json.dumps(result, indent=2, allow_nan=False) + "\n")
    return _publish(work, folder, result)


def watch_parent(parent_pid, interval=1.0):
    """Exit this worker process when the search that started it is gone.

    A process-pool worker whose parent was killed (SIGKILL, OOM) would otherwise wait on its
    task queue forever: it holds that queue's write end itself, so it never sees end of file.
    """
    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="gradkit-watch-parent", daemon=True).start()


def read_result(folder):
    """The result a finished trial left in `folder`, or None."""
    try:
        with open(os.path.join(folder, RESULT_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class MedianStop(Callback):
    """Stop a trial whose validation score, from epoch `warmup` on, is worse than the median
    that earlier trials had at the same epoch (the median stopping rule of Google Vizier, and
    Optuna's MedianPruner): a search spends its time on the trials that can still win. The
    trial keeps its best epoch's weights and score (early stopping restores them)."""

    def __init__(self, metric, median, warmup, direction):
        self.metric, self.median, self.warmup = metric, list(median), int(warmup)
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.stopped_at = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.metric)
        if epoch + 1 < self.warmup or epoch >= len(self.median) or value is None:
            return
        median = self.median[epoch]
        if median is not None and self.sign * (value - median) < 0:
            self.stopped_at = epoch + 1
            self.model.stop_training = True


def median_curve(curves, *, min_trials=5):
    """Per epoch, the median of the curves that reached it (None with fewer than
    `min_trials` of them)."""
    longest = max((len(c) for c in curves), default=0)
    out = []
    for e in range(longest):
        values = [c[e] for c in curves if len(c) > e and c[e] is not None]
        out.append(float(np.median(values)) if len(values) >= min_trials else None)
    return out


def _train(config, out, metric, stop_below=None):
    stop = None
    if stop_below is not None and stop_below.get("median"):
        stop = MedianStop(metric, stop_below["median"], stop_below["warmup"],
                          stop_below["direction"])
    run = train_run(RunConfig.from_dict(dict(config), source="trial config"), out, verbose=0,
                    callbacks=[stop] if stop is not None else ())
    h = run.history.history
    if metric not in h:
        return _failed(metric, f"no {metric} in the history (logged: {sorted(h)})")
    # With early stopping the weights are the best epoch's (restore_best), so score that epoch.
    i = int(np.argmin(h["val_loss"])) if config.get("early_stopping") else -1
    result = {key: float(h[key][i]) for key in h if key.startswith("val_")}
    result.update({k: float(v) for k, v in run.metrics.items() if k.startswith("test_")})
    result["epochs_run"] = int(run.metrics["epochs_run"])
    result["curve"] = [float(v) if math.isfinite(v) else None for v in h[metric]]
    result["stopped_by_median"] = None if stop is None else stop.stopped_at
    result["best_epoch"] = (i if i >= 0 else len(h["val_loss"]) + i) + 1   # the scored epoch
    value = result[metric]
    if not math.isfinite(value):
        return {**result, **_failed(metric, f"{metric} is {value}")}
    return {"state": "COMPLETE", "value": value, "metric": metric, "reason": None, **result}


def _failed(metric, reason):
    return {"state": "FAIL", "value": None, "metric": metric, "reason": reason}


def _publish(work, folder, result):
    """Rename `work` onto `folder`; if a run of the same trial got there first, keep that one."""
    try:
        os.rename(work, folder)          # atomic; fails if `folder` exists and is not empty
        _files_sync(os.path.dirname(folder))
        return result
    except OSError:
        pass
    existing = read_result(folder)
    if existing is not None and existing.get("config") == result["config"]:
        shutil.rmtree(work, ignore_errors=True)
        return existing
    # A stale folder from another config (the study was deleted, the folder was not): replace.
    stale = tempfile.mkdtemp(prefix=os.path.basename(folder) + ".", suffix=".old",
                             dir=os.path.dirname(folder))
    os.rename(folder, os.path.join(stale, "old"))
    os.rename(work, folder)
    shutil.rmtree(stale, ignore_errors=True)
    return result


def _files_sync(directory):
    with contextlib.suppress(OSError):
        _atomic.fsync_directory(directory)


def _json_roundtrip(obj):
    return json.loads(json.dumps(obj))
