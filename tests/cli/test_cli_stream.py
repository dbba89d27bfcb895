"""`gradkit train / predict / evaluate` on a folder or glob of files: streamed, same run folder,
same errors, predictions in the input's row order, and SIGKILL + --resume bit-identical."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gradkit as gk

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

COLORS = {"red": "cat", "green": "dog", "blue": "bird"}


def write_parts(folder, sizes=(120, 150, 130), *, seed=0, row_group=32):
    """Parquet files of x1, color, x2, label: the color decides the animal."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, n in enumerate(sizes):
        colors = rng.choice(list(COLORS), n)
        table = pa.table({"x1": rng.normal(size=n), "color": colors, "x2": rng.normal(size=n),
                          "label": [COLORS[c] for c in colors]})
        pq.write_table(table, folder / f"part{i}.parquet", row_group_size=row_group)
    return folder


@pytest.fixture
def statistics_passes(monkeypatch):
    """The `covariance` argument of every statistics pass a Stream makes, in order."""
    from gradkit.data.stream import Stream

    passes = []
    real = Stream._statistics_pass

    def counted(self, covariance):
        passes.append(covariance)
        return real(self, covariance)

    monkeypatch.setattr(Stream, "_statistics_pass", counted)
    return passes


FLAGS = ("--target", "label", "--hidden", "16", "--epochs", "2", "--batch-size", "16",
         "--quiet", "--shuffle-buffer", "50")


def test_train_on_a_folder_streams_into_the_usual_run_folder(kit, tmp_path):
    data = write_parts(tmp_path / "parts")
    result = kit.run("train", data, *FLAGS, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for name in ("model.safetensors", "config.json", "metrics.json", "history.csv",
                 "learning_curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_samples"] + metrics["val_samples"] + metrics["test_samples"] == 400
    assert metrics["test_accuracy"] > 0.9
    config = json.loads((run / "config.json").read_text())["run"]
    assert config["shuffle_buffer"] == 50 and config["stream"] is False
    # The config reproduces the run bit for bit.
    again = kit.run("train", "--config", run / "config.json", "--quiet", "--out", tmp_path / "b")
    assert again.exit_code == 0, again.output
    a, b = gk.load(run / "model.safetensors"), gk.load(tmp_path / "b" / "model.safetensors")
    for w1, w2 in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)


def test_a_bad_row_in_the_third_file_is_one_error_line(kit, tmp_path):
    data = write_parts(tmp_path / "parts")
    table = pq.read_table(data / "part2.parquet")
    x2 = table.column("x2").to_numpy().copy()
    x2[77] = np.inf
    pq.write_table(table.set_column(2, "x2", pa.array(x2)), data / "part2.parquet",
                   row_group_size=32)
    result = kit.run("train", str(data / "*.parquet"), *FLAGS)
    # The run folder of a glob is named after the glob's folder (checked before any is made).
    assert result.stdout.startswith(f"gradkit train {data / '*.parquet'} -> runs/parts\n")
    line = kit.error_line(result)
    assert "part2.parquet, column 'x2', data row 78 (1-based): value inf is NaN or infinite" \
        in line


def test_predict_writes_parquet_in_the_input_row_order(kit, tmp_path):
    data = write_parts(tmp_path / "parts")
    assert kit.run("train", data, *FLAGS, "--out", tmp_path / "run").exit_code == 0
    model = tmp_path / "run" / "model.safetensors"
    out = tmp_path / "predictions.parquet"
    result = kit.run("predict", model, data, "--out", out, "--proba")
    assert result.exit_code == 0, result.output
    predicted = pq.read_table(out)
    assert predicted.column_names == ["prediction", "p_bird", "p_cat", "p_dog"]
    inputs = pa.concat_tables([pq.read_table(data / f"part{i}.parquet") for i in range(3)])
    truth = inputs.column("label").to_pylist()
    assert predicted.num_rows == len(truth)
    hits = np.mean(np.array(predicted.column("prediction").to_pylist()) == np.array(truth))
    assert hits > 0.9
    # The same as the in-memory prediction of the same rows, row for row.
    pq.write_table(inputs.drop(["label"]), tmp_path / "all.parquet")
    net = gk.load(model)
    schema = net.saved_config["extra"]["data_schema"]
    ds = gk.data.encode_like(tmp_path / "all.parquet", schema)
    assert predicted.column("prediction").to_pylist() == net.predict_classes(ds.X).tolist()
    evaluated = kit.run("evaluate", model, data)
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(hits, abs=1e-6)


# -- SIGKILL at random moments, then --resume ----------------------------------------------------


def test_sigkill_then_resume_of_a_streamed_run_is_bit_identical(tmp_path):
    data = write_parts(tmp_path / "parts", sizes=(200, 220, 180), row_group=40)
    # The gradkit under test, wherever it was imported from (a relative PYTHONPATH would not
    # survive the change of directory).
    source = os.path.dirname(os.path.dirname(gk.__file__))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "gradkit.cli", "train", str(data), "--target", "label",
            "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--checkpoint-every", "2",
            "--shuffle-buffer", "100", "--quiet"]

    def run(out, *extra):
        return subprocess.Popen([*args, "--out", str(out), *extra], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)

    reference = run(tmp_path / "ref")
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err.decode()
    expected = gk.load(tmp_path / "ref" / "model.safetensors").get_weights()

    def newest_step(directory):
        names = sorted(os.listdir(directory)) if directory.is_dir() else []
        names = [n for n in names if n.startswith("ckpt-") and n.endswith(".safetensors")]
        return int(names[-1][5:-12]) if names else 0

    # Kills land a random number of checkpoints (2 steps each) into a run, plus 0-10 ms, so
    # many come while a checkpoint is written, whatever the speed of the machine.
    rnd = random.Random(20)
    ckpt_dir, kills, procs = tmp_path / "killed" / "checkpoints", 0, []
    try:
        while True:
            proc = run(tmp_path / "killed", "--resume")
            procs.append(proc)
            if kills < 3:
                target = newest_step(ckpt_dir) + rnd.randint(2, 20)
                while proc.poll() is None and newest_step(ckpt_dir) < target:
                    time.sleep(0.001)
                time.sleep(rnd.uniform(0, 0.01))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.communicate()
                    kills += 1
                    continue
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            break
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    got = gk.load(tmp_path / "killed" / "model.safetensors").get_weights()
    assert kills >= 1
    for w1, w2 in zip(expected, got, strict=True):
        np.testing.assert_array_equal(w1, w2)


def test_an_ensemble_streams_with_one_statistics_pass_and_sums_its_test_split(
        kit, tmp_path, statistics_passes):
    from gradkit.practice.ensemble import Ensemble

    data = write_parts(tmp_path / "parts")
    out = tmp_path / "ens"
    result = kit.run("train", data, *FLAGS, "--ensemble", "3", "--out", out)
    assert result.exit_code == 0, result.output
    assert "ensemble of 3: test accuracy" in result.output
    assert statistics_passes == [False]             # shared by the three members
    report = json.loads((out / "ensemble.json").read_text())
    assert report["seeds"] == [1, 2, 3] and report["run"]["data"] == str(data)

    # The test split summed batch by batch is the test split evaluated at once.
    stream = gk.data.stream(data, target="label", shuffle_buffer=50, batch_rows=65536)
    test = stream.split(val=0.1, test=0.2)[2]
    X, y = (np.concatenate(part) for part in zip(*test.batches(7, shuffle=False)))
    members = [gk.load(out / name) for name in report["members"]]
    whole = Ensemble(members).evaluate(X, y)
    assert set(whole) == set(report["test"])
    for key, value in whole.items():
        assert report["test"][key] == pytest.approx(value, rel=1e-5), key
    for model, logged in zip(members, report["members_test"], strict=True):
        assert logged["accuracy"] == pytest.approx(model.evaluate_logs(X, y)["accuracy"])


def test_a_streamed_ensemble_on_processes_reads_the_shared_statistics(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    from gradkit.practice import train_ensemble
    from gradkit.practice.run import RunConfig

    data = write_parts(tmp_path / "parts")
    config = RunConfig(data=str(data), target="label", hidden=[16], epochs=2, batch_size=16,
                       shuffle_buffer=50)
    in_turn = train_ensemble(config, 2)
    with ProcessPoolExecutor(2) as pool:
        spread = train_ensemble(config, 2, executor=pool, out=str(tmp_path / "ens"))
    # The same members bit for bit, trained in two other processes from the statistics file.
    assert (tmp_path / "ens" / "statistics.safetensors").is_file()
    for a, b in zip(in_turn.ensemble.models, spread.ensemble.models, strict=True):
        for w1, w2 in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(w1, w2)
    assert spread.test_metrics == in_turn.test_metrics


def test_a_streamed_regression_ensemble_sums_r2_over_batches(tmp_path):
    from gradkit.practice import train_ensemble
    from gradkit.practice.run import RunConfig

    folder = tmp_path / "reg"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        x = rng.normal(size=(150, 3))
        pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                                 "y": x[:, 0] - 2 * x[:, 1] + 0.1 * rng.normal(size=150)}),
                       folder / f"p{i}.parquet", row_group_size=40)
    config = RunConfig(data=str(folder), target="y", hidden=[8], epochs=3, batch_size=16,
                       shuffle_buffer=64)
    run = train_ensemble(config, 2)
    test = gk.data.stream(folder, target="y", batch_rows=65536).split(val=0.1, test=0.2)[2]
    X, y = (np.concatenate(part) for part in zip(*test.batches(5, shuffle=False)))
    whole = run.ensemble.evaluate(X, y)
    for key in ("loss", "mae", "r2"):
        assert run.test_metrics[key] == pytest.approx(whole[key], rel=1e-5, abs=1e-7), key


def test_search_streams_a_folder_with_one_statistics_pass(kit, tmp_path, statistics_passes):
    data = write_parts(tmp_path / "parts")
    out = tmp_path / "search"
    result = kit.run("search", data, "--target", "label", "--trials", "2", "--epochs", "1",
                     "--workers", "1",
                     "--sampler", "random", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert statistics_passes == [False]   # made once by the search, loaded by both trials
    best = json.loads((out / "best.json").read_text())
    assert best["run"]["data"] == str(data.resolve())
    assert best["run"]["statistics"] == str(out / "statistics.safetensors")
    metrics = json.loads((out / best["search"]["folder"] / "metrics.json").read_text())
    assert metrics["train_samples"] + metrics["val_samples"] + metrics["test_samples"] == 400


def test_doctor_examines_a_uniform_sample_and_recommends_a_streamed_run(kit, tmp_path):
    from gradkit.practice.run import RunConfig

    data = write_parts(tmp_path / "parts")
    out = tmp_path / "doc"
    result = kit.run("doctor", data, "--target", "label", "--hidden", "16", "--out", out,
                     "--sample-rows", "120", "--trials", "2", "--trial-epochs", "1",
                     "--fine-trials", "1", "--fine-epochs", "1", "--epochs", "2",
                     "--lr-steps", "30", "--small-sample", "40", "--overfit-steps", "100",
                     "--check-folds", "0", "--shuffle-buffer", "50")
    assert result.exit_code == 0, result.output
    report = (out / "doctor.md").read_text()
    # 120 training rows of ~280, and validation rows in proportion (0.1 / 0.7 of 120).
    assert "120 training and 18 validation samples (a uniform sample of the streamed " \
        "splits)" in report
    config = RunConfig.from_file(out / "recommended.json")
    assert (config.data, config.target, config.shuffle_buffer) == (str(data), "label", 50)
    trained = kit.run("train", "--config", out / "recommended.json", "--quiet",
                      "--out", tmp_path / "run")
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_samples"] + metrics["val_samples"] + metrics["test_samples"] == 400
    refused = kit.error_line(kit.run("doctor", data, "--target", "label", "--test-data",
                                     tmp_path / "parts" / "part0.parquet"))
    assert "examines a sample of a streamed data set" in refused


def test_resume_of_a_streamed_run_refuses_other_settings_or_changed_files(kit, tmp_path):
    data = write_parts(tmp_path / "parts")
    out = tmp_path / "run"
    assert kit.run("train", data, *FLAGS, "--out", out).exit_code == 0
    line = kit.error_line(kit.run("train", data, *FLAGS, "--out", out, "--resume",
                                  "--hidden", "8"))
    assert "cannot resume, this is not the run in the folder: hidden [16] -> [8]" in line
    # One file written again with other rows: same names, other content.
    write_parts(tmp_path / "parts", sizes=(120, 150, 131), seed=1)
    line = kit.error_line(kit.run("train", data, *FLAGS, "--out", out, "--resume"))
    assert "cannot resume" in line and "the training data differs" in line
    again = kit.run("train", data, *FLAGS, "--out", out, "--overwrite")
    assert again.exit_code == 0, again.output


def test_a_streamed_run_refuses_one_class_and_a_network_too_large(kit, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({"x": np.arange(40.0), "y": ["yes"] * 40}), "one.parquet")
    pq.write_table(pa.table({"x": np.arange(40.0), "y": np.arange(40) % 2}), "two.parquet")
    result = kit.run("train", "one.parquet", "--stream", "--quiet", "--out", "a")
    assert result.exit_code == 2
    assert kit.error_line(result) == "error: one.parquet: every sample has the same class " \
        "('yes'); a classifier needs at least two classes (or use task='regression')"
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    result = kit.run("train", "two.parquet", "--stream", "--quiet", "--out", "b",
                     "--hidden", "100000000")
    assert result.exit_code == 2
    assert "training 1-100000000-2 (400,000,002 parameters, " in kit.error_line(result)
    assert sorted(os.listdir()) == ["one.parquet", "two.parquet"]


def test_a_boolean_target_is_the_classes_0_and_1_in_and_out_of_memory(kit, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    pq.write_table(pa.table({"x": x, "y": x > 0}), "b.parquet")
    for flag in ("--stream", "--no-stream"):
        out = "r" + flag
        result = kit.run("train", "b.parquet", flag, "--quiet", "--out", out, "--epochs", "1",
                         "--hidden", "4")
        assert result.exit_code == 0, result.output
        result = kit.run("evaluate", f"{out}/model.safetensors", "b.parquet")
        assert result.exit_code == 0, result.output
        assert gk.load(f"{out}/model.safetensors").class_names == ["0", "1"]
