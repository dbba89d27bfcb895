"""Hyper-parameter search: local processes, a Dask cluster losing a worker, resuming, failures."""

import json
import math
import os
import re
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import gradkit as gk
from gradkit.cli import cli

optuna = pytest.importorskip("optuna")

# Tiny trials: a two-epoch network on xor (200 points) trains in well under a second.
TINY = {"epochs": 2, "batch_size": 16, "activation": "relu", "dropout": 0.0}
TINY_SPACE = {"width": {"low": 4, "high": 32, "log": True}, "depth": {"low": 1, "high": 2}}


def _states(result):
    return sorted(r["state"] for r in result.rows)


def _trial_folders(out):
    return sorted(n for n in os.listdir(os.path.join(out, "trials")) if not n.startswith("."))


def _load_study(out):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(os.path.join(out, "study.journal")))
    return optuna.load_study(study_name="gradkit-search", storage=storage)


def test_cli_search_on_two_processes_and_best_json_trains(tmp_path):
    out = str(tmp_path / "search")
    runner = CliRunner()
    res = runner.invoke(cli, ["search", "xor", "--trials", "4", "--workers", "2", "--epochs", "2",
                              "--sampler", "random", "--out", out, "--quiet",
                              "--finalists", "0"])
    assert res.exit_code == 0, res.output
    assert "best: trial" in res.output and "val_accuracy" in res.output
    assert _trial_folders(out) == ["0000", "0001", "0002", "0003"]
    assert os.path.getsize(os.path.join(out, "search.png")) > 0
    with open(os.path.join(out, "best.json")) as f:
        best = json.load(f)
    assert best["run"]["epochs"] == 2 and best["run"]["data"] == "xor"
    assert {t.state.name for t in _load_study(out).trials} == {"COMPLETE"}

    run = str(tmp_path / "best-run")
    res = runner.invoke(cli, ["train", "--config", os.path.join(out, "best.json"),
                              "--out", run, "--quiet"])
    assert res.exit_code == 0, res.output
    # Same config, same seed: the run reproduces the best trial bit for bit.
    with open(os.path.join(run, "metrics.json")) as f, \
            open(os.path.join(out, best["search"]["folder"], "metrics.json")) as g:
        assert json.load(f) == json.load(g)


@pytest.fixture
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_dask_cluster_losing_a_worker_loses_no_trial(tmp_path, dask_client):
    out = str(tmp_path / "search")
    client, killed, stop = dask_client, {}, threading.Event()

    def kill_a_busy_worker():
        # Wait until a trial is half-built (its temporary folder exists) on a busy worker,
        # then SIGKILL that worker's process; the nanny starts a new one.
        while not stop.is_set():
            busy = [w for w, keys in client.processing().items() if keys]
            trials_dir = os.path.join(out, "trials")
            building = [n for n in os.listdir(trials_dir) if n.endswith(".tmp")] \
                if os.path.isdir(trials_dir) else []
            if busy and building:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, building=building)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        result = gk.practice.search("xor", trials=4, storage_dir=out, sampler="random",
                                    finalists=0, executor=client.get_executor(), workers=2,
                                    base=TINY, space=TINY_SPACE)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed while a trial ran"
    assert result.n_run == 4
    assert _states(result) == ["COMPLETE"] * 4
    assert _trial_folders(out) == [f"{i:04d}" for i in range(4)]
    assert not [n for n in os.listdir(os.path.join(out, "trials")) if n.startswith(".")]
    assert os.path.exists(os.path.join(out, "best.json"))


def test_a_local_worker_killed_mid_trial_loses_no_trial(tmp_path):
    import multiprocessing

    out = str(tmp_path / "search")
    killed, stop = {}, threading.Event()

    def kill_a_worker_while_a_trial_is_built():
        trials_dir = os.path.join(out, "trials")
        while not stop.is_set():
            building = [n for n in os.listdir(trials_dir) if n.endswith(".tmp")] \
                if os.path.isdir(trials_dir) else []
            workers = [p for p in multiprocessing.active_children() if p.pid]
            if building and workers:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.update(pid=workers[0].pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker_while_a_trial_is_built)
    killer.start()
    try:
        # The pool whose worker died is broken for good; the search starts a fresh one.
        result = gk.practice.search("xor", trials=4, storage_dir=out, sampler="random",
                                    workers=2, finalists=0, base={**TINY, "epochs": 30},
                                    space=TINY_SPACE)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed while a trial ran"
    assert result.n_run == 4 and _states(result) == ["COMPLETE"] * 4
    assert _trial_folders(out) == [f"{i:04d}" for i in range(4)]


def test_a_scheduler_address_where_nothing_listens_is_refused_at_once(tmp_path):
    import socket

    with socket.socket() as s:          # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(gk.ConfigError, match=rf"cannot reach the Dask scheduler at "
                                             rf"tcp://127.0.0.1:{port}: Connection refused"):
        gk.practice.search("xor", trials=1, storage_dir=str(tmp_path),
                           scheduler=f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - start < 5          # not Dask's 15 s connect timeout
    assert not os.path.exists(tmp_path / "trials")


def test_an_executor_without_workers_is_refused(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool, pytest.raises(gk.ConfigError, match="give workers="):
        gk.practice.search("xor", trials=1, storage_dir=str(tmp_path), executor=pool)


def test_cli_search_on_a_dask_scheduler(tmp_path, dask_client):
    out = str(tmp_path / "search")
    address = dask_client.scheduler_info()["address"]
    res = CliRunner().invoke(cli, ["search", "xor", "--trials", "2", "--finalists", "1",
                                   "--folds", "2", "--scheduler", address,
                                   "--epochs", "1", "--out", out])
    assert res.exit_code == 0, res.output
    assert f"Dask scheduler {address}" in res.output
    assert _trial_folders(out) == ["0000", "0001"]


def test_interrupted_search_runs_only_the_missing_trials(tmp_path):
    out = str(tmp_path / "search")
    kw = dict(storage_dir=out, sampler="random", base=TINY, space=TINY_SPACE, finalists=0)
    first = gk.practice.search("xor", trials=3, **kw)
    assert first.n_run == 3 and _trial_folders(out) == ["0000", "0001", "0002"]

    # A search killed in the middle of `ask` leaves a trial RUNNING with its parameters only
    # partly drawn (here: none), Optuna's journal lock file, and half a line in the journal.
    assert _load_study(out).ask().number == 3
    journal = os.path.join(out, "study.journal")
    os.symlink(journal, journal + ".lock")
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "dead')

    second = gk.practice.search("xor", trials=6, **kw)
    # Trial 3 is recorded as interrupted and run again as trial 4; then 5 and 6.
    assert second.n_run == 3
    assert _trial_folders(out) == ["0000", "0001", "0002", "0004", "0005", "0006"]
    assert _states(second) == ["COMPLETE"] * 6 + ["FAIL"]
    failed = next(r for r in second.rows if r["state"] == "FAIL")
    assert failed["number"] == 3 and "run again as trial 4" in failed["reason"]
    # The resumed sampler does not replay the first run's draws.
    params = [json.dumps(r["params"], sort_keys=True) for r in second.rows
              if r["state"] == "COMPLETE"]
    assert len(set(params)) == len(params)

    assert gk.practice.search("xor", trials=6, **kw).n_run == 0

    with pytest.raises(gk.ConfigError, match="other settings"):
        gk.practice.search("xor", trials=7, **{**kw, "base": {"epochs": 3}})


def test_trial_0_is_the_base_configuration_under_the_early_stopping_budget(tmp_path):
    out = str(tmp_path / "search")
    kw = dict(storage_dir=out, sampler="random", base={"lr": 0.01}, finalists=0)
    first = gk.practice.search("xor", trials=2, **kw)
    rows = {r["number"]: r for r in first.rows}
    # gradkit train's defaults, l2 = 0 as the smallest value of its log range.
    assert rows[0]["params"] == {"width": 256, "depth": 2, "activation": "relu", "l2": 1e-6,
                                 "dropout": 0.0, "batch_size": 32}
    assert rows[0]["config"]["hidden"] == [256, 256] and rows[0]["config"]["lr"] == 0.01
    for row in first.rows:              # no epoch count searched: early stopping picks it
        assert (row["config"]["epochs"], row["config"]["early_stopping"]) == (100, 10)
        assert "epochs" not in row["params"]
        assert row["best_epoch"] <= row["epochs_run"] <= 100

    again = gk.practice.search("xor", trials=3, **kw)       # resumed: no second trial 0
    assert again.n_run == 1
    params = [json.dumps(r["params"], sort_keys=True) for r in again.rows]
    assert len(set(params)) == 3

    pinned = gk.practice.search("xor", trials=1, storage_dir=str(tmp_path / "pinned"),
                                sampler="random", base={"epochs": 2}, finalists=0)
    assert (pinned.rows[0]["config"]["epochs"], pinned.rows[0]["config"]["early_stopping"]) \
        == (2, 0)


def test_the_median_stop_ends_trials_below_the_median_after_the_warm_up():
    from gradkit.practice._trial import MedianStop, median_curve

    curves = [[0.5, 0.6, 0.7], [0.4, 0.6], [0.6, 0.8, 0.9], [0.5], [0.7, 0.7, 0.8]]
    assert median_curve(curves, min_trials=3) == pytest.approx([0.5, 0.65, 0.8])
    assert median_curve(curves, min_trials=5) == [0.5, None, None]

    class Model:
        stop_training = False

    stop = MedianStop("val_accuracy", [0.5, 0.65, 0.8], warmup=2, direction="maximize")
    stop.model = Model()
    stop.on_epoch_end(0, {"val_accuracy": 0.1})          # warming up: never stopped
    stop.on_epoch_end(1, {"val_accuracy": 0.7})          # above the median
    assert not stop.model.stop_training
    stop.on_epoch_end(2, {"val_accuracy": 0.79})
    assert stop.model.stop_training and stop.stopped_at == 3
    loss = MedianStop("val_loss", [1.0, 0.9], warmup=1, direction="minimize")
    loss.model = Model()
    loss.on_epoch_end(0, {"val_loss": 0.95})             # a loss: lower is better
    assert not loss.model.stop_training
    loss.on_epoch_end(1, {"val_loss": 0.95})
    assert loss.model.stop_training and loss.stopped_at == 2


def test_a_search_stops_the_trials_below_the_median_and_keeps_their_best_epoch(tmp_path):
    base = {"epochs": 15, "batch_size": 32, "activation": "relu", "dropout": 0.0,
            "early_stopping": 0}
    space = {"width": {"low": 2, "high": 32, "log": True}, "lr": {"low": 1e-4, "high": 0.3,
                                                                  "log": True}}
    kw = dict(sampler="random", base=base, space=space, finalists=0)
    pruned = gk.practice.search("moons", trials=12, storage_dir=str(tmp_path / "p"), **kw)
    stopped = [r for r in pruned.rows if r["stopped_by_median"] is not None]
    assert stopped, "no trial fell below the median"
    for row in stopped:
        assert 10 <= row["stopped_by_median"] == row["epochs_run"] < 15
    assert all(r["epochs_run"] == 15 for r in pruned.rows[:3])   # the best ran to the end
    full = gk.practice.search("moons", trials=12, storage_dir=str(tmp_path / "f"),
                              prune=False, **kw)
    assert all(r["stopped_by_median"] is None and r["epochs_run"] == 15 for r in full.rows)


def test_a_rerun_trial_gives_the_same_result_and_one_folder(tmp_path):
    from gradkit.practice._trial import run_trial
    from gradkit.practice.run import RunConfig

    config = RunConfig(data="xor", hidden=[8], epochs=1, seed=3).to_dict()
    kw = dict(number=7, trials_dir=str(tmp_path), metric="val_accuracy")
    first = run_trial(config, **kw)
    again = run_trial(config, attempt=1, **kw)       # Dask ran it again after a worker died
    assert first["state"] == "COMPLETE" and again == first
    assert os.listdir(tmp_path) == ["0007"]


def test_a_diverging_trial_fails_and_the_search_goes_on(tmp_path):
    out = str(tmp_path / "search")
    base = {"epochs": 2, "batch_size": 16, "optimizer": "sgd", "activation": "relu",
            "dropout": 0.0, "l2": 0.0}
    result = gk.practice.search("xor", trials=4, storage_dir=out, sampler="random", seed=0,
                                finalists=0,
                                base=base,
                                space={"lr": {"choices": [0.05, 1e9]}, "width": 16, "depth": 1})
    failed = [r for r in result.rows if r["state"] == "FAIL"]
    assert failed and len(failed) < 4 and len(result.rows) == 4
    assert all(r["params"]["lr"] == 1e9 for r in failed)
    assert all(r["reason"].startswith("TrainingDiverged") for r in failed)
    assert result.rows[-1]["state"] == "FAIL"           # ranked after every completed trial
    assert result.best["params"]["lr"] == 0.05
    frozen = _load_study(out).trials[failed[0]["number"]]
    assert frozen.state.name == "FAIL" and "diverged" in frozen.user_attrs["reason"]


def test_cli_exits_3_when_every_trial_diverges(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"lr": 1e9, "width": 16, "depth": 1, "activation": "relu",
                                 "dropout": 0.0, "l2": 0.0, "batch_size": 16}))
    res = CliRunner().invoke(cli, ["search", "xor", "--trials", "1", "--epochs", "2",
                                   "--optimizer", "sgd", "--space", str(space),
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 3, res.output
    assert "none of the 1 trials completed" in res.output


def test_cli_refuses_workers_with_scheduler(tmp_path):
    res = CliRunner().invoke(cli, ["search", "xor", "--trials", "2", "--workers", "2",
                                   "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "not both" in res.output


def test_space_is_checked_before_any_trial(tmp_path):
    with pytest.raises(gk.ConfigError, match="cannot search 'colour'"):
        gk.practice.search("xor", trials=1, storage_dir=tmp_path, space={"colour": 1})
    with pytest.raises(gk.ConfigError, match="activation choices"):
        gk.practice.search("xor", trials=1, storage_dir=tmp_path,
                           space={"activation": {"choices": ["relu", "swish2"]}})
    with pytest.raises(gk.ConfigError, match="sampler"):
        gk.practice.search("xor", trials=1, storage_dir=tmp_path, sampler="grid")


def test_coarse_to_fine_narrows_around_the_best_trials():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from gradkit.practice._search_space import CoarseToFineSampler

    space = {"lr": FloatDistribution(1e-5, 1.0, log=True),
             "act": CategoricalDistribution(["relu", "tanh", "elu"])}
    sampler = CoarseToFineSampler(n_coarse=20, seed=0, direction="maximize")
    study = optuna.create_study(sampler=sampler, direction="maximize")
    for _ in range(40):
        trial = study.ask(fixed_distributions=space)
        # The best learning rate is 1e-2; tanh is the best activation.
        score = -abs(math.log10(trial.params["lr"]) + 2) + \
            (0.5 if trial.params["act"] == "tanh" else 0.0)
        study.tell(trial, score)
    coarse = [t.params for t in study.trials[:20]]
    fine = [t.params for t in study.trials[20:]]
    spread = lambda ps: max(p["lr"] for p in ps) / min(p["lr"] for p in ps)  # noqa: E731
    assert spread(fine) < spread(coarse) / 100
    # As the best trials gather around the optimum, so do the ranges the next ones draw from.
    assert all(1e-3 < p["lr"] < 1e-1 and p["act"] == "tanh" for p in fine[-8:])
    assert sampler.phase(study, 5) == "coarse" and sampler.phase(study, 25) == "fine"


@pytest.mark.parametrize("args, message", [
    (["--metric", "val_acc"], "error: metric must be one of val_loss, val_accuracy for "
                              "classification data, got 'val_acc'"),
    (["--scheduler", "notaurl"], "error: --scheduler: expected a Dask scheduler address like "
                                 "tcp://HOST:PORT, got 'notaurl'"),
    (["--space", "{space}"], "error: space: dropout=1.5 cannot be trained (dropout must be in "
                             "[0, 1), got 1.5)"),
])
def test_cli_refuses_a_search_that_cannot_run_before_any_trial(tmp_path, args, message):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"dropout": {"low": 0.0, "high": 1.5}}))
    out = tmp_path / "s"
    start = time.perf_counter()
    res = CliRunner().invoke(cli, ["search", "xor", "--trials", "3", "--epochs", "1",
                                   "--out", str(out),
                                   *[a.replace("{space}", str(space)) for a in args]])
    assert res.exit_code == 2, res.output
    assert res.output.strip().splitlines()[-1] == message
    assert time.perf_counter() - start < 5
    assert not (out / "trials").exists() or _trial_folders(str(out)) == []


def test_impossible_spaces_are_refused_naming_the_value(tmp_path):
    for space, message in [({"width": {"low": 0, "high": 8}}, "space: width=0 cannot be trained"),
                           ({"batch_size": {"low": 8.0, "high": 16.0}},
                            "space: batch_size=8.0 cannot be trained"),
                           ({"lr": {"low": 1e-2, "high": 1e-3}}, "space: lr:")]:
        with pytest.raises(gk.ConfigError, match=re.escape(message)):
            gk.practice.search("xor", trials=1, storage_dir=tmp_path, space=space)
    assert not os.path.exists(tmp_path / "trials") or _trial_folders(str(tmp_path)) == []


@pytest.mark.parametrize("damage, runs_again", [("set_state", 1), ("create", 2)])
def test_a_corrupt_journal_line_is_skipped_with_a_warning(tmp_path, damage, runs_again):
    out = str(tmp_path / "search")
    kw = dict(storage_dir=out, sampler="random", base=TINY, space=TINY_SPACE, finalists=0)
    gk.practice.search("xor", trials=3, **kw)
    journal = os.path.join(out, "study.journal")
    with open(journal, "rb") as f:
        lines = f.read().split(b"\n")
    # Damage the record that finished trial 1 (it runs again), or the one that created it
    # (then the records after it point at the wrong trials, and the journal ends before it).
    op = {"set_state": 6, "create": 4}[damage]
    hits = [i for i, line in enumerate(lines)
            if line and json.loads(line)["op_code"] == op
            and json.loads(line).get("trial_id", 1) == 1]
    index = hits[0] if damage == "set_state" else \
        [i for i, line in enumerate(lines) if line and json.loads(line)["op_code"] == 4][1]
    lines[index] = b'{"op_code": 6, "worker_id": \xff garbage'
    with open(journal, "wb") as f:
        f.write(b"\n".join(lines))
    with pytest.warns(UserWarning, match=rf"study.journal: skipped 1 damaged line\(s\) "
                                         rf"\(line {index + 1}\)"):
        again = gk.practice.search("xor", trials=3, **kw)
    assert again.n_run == runs_again
    assert _states(again).count("COMPLETE") == 3
    # A trial whose finishing record was lost is one the search was interrupted in.
    assert all("interrupted" in r["reason"] for r in again.rows if r["state"] == "FAIL")


def _table(path, X, y):
    rows = ["a,b,label"] + [f"{u:.6f},{v:.6f},{c}" for (u, v), c in zip(X, y)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_finalists_are_cross_validated_and_the_final_model_is_tested_once(tmp_path):
    from scipy import stats

    rng = np.random.default_rng(0)
    X = rng.normal(size=(260, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "other")
    train = _table(tmp_path / "train.csv", X[:200], y[:200])
    test = _table(tmp_path / "test.csv", X[200:], y[200:])
    out = str(tmp_path / "search")
    res = CliRunner().invoke(cli, ["search", train, "--target", "label", "--test-data", test,
                                   "--trials", "3", "--finalists", "2", "--folds", "3",
                                   "--epochs", "3", "--sampler", "random", "--out", out,
                                   "--quiet", "--space", _space(tmp_path)])
    assert res.exit_code == 0, res.output
    # The trials train on the whole training file less validation, and never see the test file.
    for name in _trial_folders(out):
        with open(os.path.join(out, "trials", name, "metrics.json")) as f:
            m = json.load(f)
        assert (m["train_samples"], m["val_samples"], m["test_samples"]) == (180, 20, 0)
        assert not any(k.startswith("test_") and k != "test_samples" for k in m)
    report = open(os.path.join(out, "report.md")).read()
    best = json.load(open(os.path.join(out, "best.json")))
    chosen = best["search"]["trial"]
    folds = [json.load(open(os.path.join(out, "cv", f"{chosen:04d}", str(i), "result.json")))
             for i in range(3)]
    values = np.array([f["value"] for f in folds])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert best["search"]["cv_mean"] == pytest.approx(values.mean())
    assert best["search"]["cv_95_half_width"] == pytest.approx(half)
    assert f"| {chosen} |" in report and "95% interval" in report
    # The folds cover the training split (180 samples) once each.
    assert sum(f["n"] for f in folds) == 180
    final = json.load(open(os.path.join(out, "final", "metrics.json")))
    assert final["test_samples"] == 60
    if best["search"]["final"] == "retrain":
        # Training and validation data together: the whole training file.
        assert (final["train_samples"], final["val_samples"]) == (200, 0)
        assert best["run"]["val"] == 0.0 and best["run"]["test_data"] == test
    else:
        assert len(final["members"]) == 3
    assert f"accuracy {final['test_accuracy']:.4f}" in res.output


def _space(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"width": {"low": 4, "high": 32, "log": True}, "depth": 1,
                                "activation": "relu", "dropout": 0.0, "batch_size": 16}))
    return str(path)


def test_fold_indices_are_disjoint_cover_and_keep_class_shares():
    from gradkit.practice._search_final import fold_indices

    ds = gk.data.load("iris")
    folds = fold_indices(ds, 5, seed=3)
    joined = np.concatenate(folds)
    assert sorted(joined.tolist()) == list(range(150))
    for f in folds:
        assert np.bincount(ds.y[f], minlength=3).tolist() == [10, 10, 10]


def test_a_range_whose_edge_the_best_trials_sit_on_is_widened():
    from optuna.distributions import FloatDistribution, IntDistribution

    from gradkit.practice._search_space import edges, widen

    space = {"width": IntDistribution(16, 512, log=True),
             "lr": FloatDistribution(1e-4, 1e-1, log=True)}
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        t = study.ask(fixed_distributions=space)
        # Wider is better; the learning rate matters a little, around 1e-2 (inside the range).
        study.tell(t, math.log(t.params["width"]) - 0.2 * abs(math.log10(t.params["lr"]) + 2))
    found = edges(study.trials, space, "maximize")
    assert ("width", "high") in found
    assert all(name != "lr" for name, _ in found)
    wider = widen("width", space["width"], "high")
    assert (wider.low, wider.high, wider.log) == (16, 1024, True)       # a trial's time: x2
    assert widen("lr", space["lr"], "high").high == pytest.approx(0.4)      # x4 at most
    assert widen("dropout", FloatDistribution(0.0, 0.9), "high") is None       # at its limit
    assert widen("batch_size", IntDistribution(16, 256, log=True), "low").low == 8
    # Batches below 8 and more than 100 epochs cost more than a search should spend: the
    # search's MNIST-1D run widened to batch 1 and 256 epochs before these limits.
    assert widen("batch_size", IntDistribution(8, 256, log=True), "low") is None
    assert widen("epochs", IntDistribution(2, 80, log=True), "high").high == 100
    assert widen("batch_size", IntDistribution(2, 4, log=True), "low") is None   # a user's


def test_any_damage_to_the_journal_gives_a_study_or_one_gradkit_error(tmp_path_factory):
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    import importlib

    S = importlib.import_module("gradkit.practice.search")     # the module, not the function
    out = str(tmp_path_factory.mktemp("journal"))
    kw = dict(storage_dir=out, sampler="random", base=TINY, space=TINY_SPACE, finalists=0)
    gk.practice.search("xor", trials=2, **kw)
    with open(os.path.join(out, "study.journal"), "rb") as f:
        pristine = f.read().split(b"\n")[:-1]
    config, distributions, metric, direction, _ = S._prepare("xor", TINY, TINY_SPACE, None, 0,
                                                             None)
    records = st.dictionaries(st.sampled_from(["op_code", "worker_id", "study_id", "trial_id",
                                               "params", "user_attr", "state", "values"]),
                              st.one_of(st.integers(-2, 12), st.text(max_size=5), st.none()),
                              max_size=6).map(lambda d: json.dumps(d).encode())

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(pristine) - 1), st.one_of(st.binary(max_size=40), records))
    @example(1, b'{"op_code": 4, "worker_id": "w"}')      # a record Optuna cannot replay
    def damaged(at, line):
        lines = list(pristine)
        lines[at] = line.replace(b"\n", b" ")
        with open(os.path.join(out, "study.journal"), "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                study = S._open_study(out, config, distributions, metric, direction)
            study.get_trials(deepcopy=False)
        except gk.ConfigError as err:
            assert "\n" not in str(err)

    damaged()


def test_the_loop_widens_records_and_reapplies_a_range(tmp_path):
    from optuna.distributions import FloatDistribution, IntDistribution

    from gradkit.practice._search_loop import Loop

    space = {"width": IntDistribution(16, 512, log=True),
             "lr": FloatDistribution(1e-4, 1e-1, log=True)}
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        t = study.ask(fixed_distributions=space)
        study.tell(t, math.log(t.params["width"]))          # the wider, the better
    loop = Loop(study, {"hidden": [8]}, space, "val_accuracy", str(tmp_path), 0)
    loop._widen_edges(30)
    assert loop.distributions["width"].high == 1024
    assert loop.widened == [{"after_trials": 30, "name": "width", "side": "high",
                             "old": [16, 512], "new": [16, 1024]}]
    assert study.user_attrs["widened"] == loop.widened
    # A resumed search goes on with the widened range, and a new trial may draw from it.
    again = Loop(study, {"hidden": [8]}, space, "val_accuracy", str(tmp_path), 0)
    assert again.distributions["width"].high == 1024 and space["width"].high == 512
