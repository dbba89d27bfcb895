"""`gradkit train / predict / evaluate / export`: round trips, run folders, reproducibility, resume."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import encode_like


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def weights(path):
    return gk.load(path).state_dict()


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert list(wa) == list(wb)
    for name in wa:
        assert np.array_equal(wa[name], wb[name]), name


# --------------------------------------------------------------------------- CSV round trip


def test_train_prints_where_and_how_well(animals_run):
    out, result = animals_run
    lines = result.stdout.splitlines()
    assert lines[0] == f"gradkit train {out.parent / 'animals.csv'} -> {out}"
    accuracy = float(re.fullmatch(r"test accuracy: (\d\.\d{4})", lines[1]).group(1))
    assert accuracy == pytest.approx(json.loads((out / "metrics.json").read_text())
                                     ["test_accuracy"], abs=5e-5)
    assert lines[-1] == f"run folder: {out}"
    assert result.stderr == ""


def test_predict_csv_with_text_columns_gives_class_names(kit, animals_model, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    kit.write_animals(tmp_path / "new.csv", 12, seed=1, with_label=False)
    result = kit.run("predict", animals_model, "new.csv", "--out", "preds.csv")
    assert result.exit_code == 0, result.output
    assert result.stderr == "wrote 12 predictions to preds.csv\n"
    rows = read_csv(tmp_path / "preds.csv")
    assert rows[0] == ["prediction"]
    predicted = [r[0] for r in rows[1:]]
    assert len(predicted) == 12
    # The color decides the animal, and 8 epochs learn that: the names come back, right.
    expected = [kit.ANIMALS[c] for c in ("red", "green", "blue") * 4]
    assert predicted == expected
    # ... and exactly what the loaded model predicts in Python.
    net = gk.load(animals_model)
    ds = encode_like("new.csv", net.saved_config["extra"]["data_schema"])
    assert predicted == list(net.predict_classes(ds.X))


def test_predict_to_stdout_with_probabilities(kit, animals_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kit.write_animals(tmp_path / "new.csv", 3, seed=2, with_label=False)
    result = kit.run("predict", animals_model, "new.csv", "--proba")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(result.stdout.splitlines()))
    net = gk.load(animals_model)
    assert rows[0] == ["prediction"] + [f"p_{c}" for c in net.class_names]
    assert sorted(net.class_names) == sorted(kit.ANIMALS.values())
    for row in rows[1:]:
        probs = np.array(row[1:], dtype=float)
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert row[0] == net.class_names[int(np.argmax(probs))]
    assert sorted(os.listdir(tmp_path)) == ["new.csv"]


def test_evaluate_prints_loss_and_accuracy(kit, animals_model, tmp_path):
    data = kit.write_animals(tmp_path / "labelled.csv", 30, seed=3)
    result = kit.run("evaluate", animals_model, data)
    assert result.exit_code == 0, result.output
    logs = json.loads(result.stdout)
    assert set(logs) == {"loss", "accuracy"}
    net = gk.load(animals_model)
    ds = encode_like(data, net.saved_config["extra"]["data_schema"], require_target=True)
    predicted = np.asarray(net.predict_classes(ds.X))
    truth = np.asarray(net.class_names, dtype=object)[ds.y]
    assert logs["accuracy"] == pytest.approx(np.mean(predicted == truth), abs=1e-6)
    assert logs["accuracy"] == 1.0
    assert 0 < logs["loss"] < 1.0


def test_evaluate_of_regression_reports_r2_and_mae(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(80, 2)), 4)        # as written to the file
    lines = ["a,b,y"] + [f"{a:.4f},{b:.4f},{2 * a - b:.4f}" for a, b in x]
    (tmp_path / "reg.csv").write_text("\n".join(lines) + "\n")
    train = kit.run("train", "reg.csv", "--target", "y", "--epochs", "2", "--hidden", "8",
                    "--quiet", "--out", "r")
    assert train.exit_code == 0, train.output
    assert re.search(r"^test r2: -?\d+\.\d{4}$", train.stdout, re.M)
    assert re.search(r"^test mae: \d+\.\d{4}$", train.stdout, re.M)
    result = kit.run("evaluate", "r/model.safetensors", "reg.csv")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"loss", "mae", "r2"}
    predicted = kit.run("predict", "r/model.safetensors", "reg.csv")
    rows = list(csv.reader(predicted.stdout.splitlines()))
    assert rows[0] == ["prediction"] and len(rows) == 81
    net = gk.load("r/model.safetensors")
    expected = net.predict(x.astype(np.float32)).reshape(-1)
    assert np.array_equal(np.array([float(r[0]) for r in rows[1:]], np.float32), expected)


# --------------------------------------------------------------------------- run folders


def test_run_folder_of_the_cli(animals_run):
    out, _ = animals_run
    names = set(os.listdir(out))
    assert {"model.safetensors", "config.json", "history.csv", "metrics.json",
            "learning_curves.png", "confusion_matrix.png", "checkpoints"} <= names
    rows = read_csv(out / "history.csv")
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [r[0] for r in rows[1:]] == [str(e) for e in range(1, 9)]
    for name in ("learning_curves.png", "confusion_matrix.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1024
    run = json.loads((out / "config.json").read_text())["run"]
    assert run["target"] == "label" and run["hidden"] == [16] and run["epochs"] == 8
    assert run["lr"] == 0.01


def test_default_out_is_runs_slash_data_name(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = kit.run("train", "iris", "--epochs", "1", "--hidden", "4", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"run folder: {os.path.join('runs', 'iris')}"
    assert (tmp_path / "runs" / "iris" / "model.safetensors").is_file()


def test_no_progress_bar_when_not_a_terminal(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = kit.run("train", "iris", "--epochs", "2", "--hidden", "4", "--out", "r")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == \
        ["gradkit train iris -> r", "test accuracy", "test loss", "run folder"]


def test_config_reproduces_the_run_bit_for_bit(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = kit.run("train", "iris", "--epochs", "3", "--hidden", "16,8", "--dropout", "0.1",
                    "--batch-norm", "--seed", "5", "--quiet", "--out", "runs/X")
    assert first.exit_code == 0, first.output
    again = kit.run("train", "--config", "runs/X/config.json", "--quiet", "--out", "runs/Y")
    assert again.exit_code == 0, again.output
    assert_same_weights("runs/X/model.safetensors", "runs/Y/model.safetensors")
    assert (tmp_path / "runs/X/history.csv").read_text() == \
        (tmp_path / "runs/Y/history.csv").read_text()
    assert (tmp_path / "runs/X/metrics.json").read_text() == \
        (tmp_path / "runs/Y/metrics.json").read_text()
    # A flag given with --config overrides it, and changes the weights.
    other = kit.run("train", "--config", "runs/X/config.json", "--seed", "6", "--quiet",
                    "--out", "runs/Z")
    assert other.exit_code == 0, other.output
    assert json.loads((tmp_path / "runs/Z/config.json").read_text())["run"]["seed"] == 6
    assert not np.array_equal(weights("runs/X/model.safetensors")["layers.1.W"],
                              weights("runs/Z/model.safetensors")["layers.1.W"])


def test_resume_continues_to_the_same_weights(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["iris", "--hidden", "16", "--dropout", "0.2", "--quiet"]
    assert kit.run("train", *flags, "--epochs", "2", "--out", "part").exit_code == 0
    part_history = read_csv(tmp_path / "part/history.csv")
    assert len(part_history) == 3
    resumed = kit.run("train", *flags, "--epochs", "4", "--resume", "--out", "part")
    assert resumed.exit_code == 0, resumed.output
    whole = kit.run("train", *flags, "--epochs", "4", "--out", "whole")
    assert whole.exit_code == 0, whole.output
    assert_same_weights("part/model.safetensors", "whole/model.safetensors")
    assert read_csv(tmp_path / "part/history.csv") == read_csv(tmp_path / "whole/history.csv")
    assert read_csv(tmp_path / "part/history.csv")[:3] == part_history


def test_resume_mid_epoch_from_step_checkpoints(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # iris: 105 training rows, batch 32 -> 4 steps per epoch; --checkpoint-every 3 adds one
    # inside the epoch. Removing the epoch-end checkpoint leaves what a crash after step 3 would.
    flags = ["iris", "--hidden", "8", "--dropout", "0.2", "--quiet", "--checkpoint-every", "3"]
    assert kit.run("train", *flags, "--epochs", "1", "--out", "a").exit_code == 0
    checkpoints = sorted(os.listdir(tmp_path / "a" / "checkpoints"))
    assert len(checkpoints) == 2 and "3" in checkpoints[0] and "4" in checkpoints[1]
    os.remove(tmp_path / "a" / "checkpoints" / checkpoints[1])
    assert kit.run("train", *flags, "--epochs", "3", "--resume", "--out", "a").exit_code == 0
    assert kit.run("train", *flags, "--epochs", "3", "--out", "b").exit_code == 0
    assert_same_weights("a/model.safetensors", "b/model.safetensors")


def test_a_diverging_run_exits_3_naming_epoch_and_batch(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Adam's step is at most about lr per weight, so lr=1e6 with Adam grows the loss without
    # bound but stays finite for many epochs; SGD at 1e6 overflows to a non-finite loss.
    result = kit.run("train", "iris", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "5",
                     "--hidden", "16", "--quiet", "--out", "boom")
    assert result.exit_code == 3, result.output
    line = kit.error_line(result)
    assert re.fullmatch(r"error: training diverged at epoch \d+, batch \d+: .*", line)
    assert "not finite" in line and "Lower the learning rate" in line
    # No model or metrics from the diverged run; the last good checkpoint stays for a look.
    assert not (tmp_path / "boom" / "model.safetensors").exists()
    assert not (tmp_path / "boom" / "metrics.json").exists()
    assert os.listdir(tmp_path / "boom" / "checkpoints")


def test_a_diverging_config_exits_3_in_a_real_process(kit, tmp_path):
    config = {"run": {"data": "iris", "optimizer": "sgd", "lr": 1e6, "epochs": 5,
                      "hidden": [16]}}
    (tmp_path / "diverge.json").write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "gradkit.cli", "train", "--config",
                           "diverge.json", "--quiet", "--out", "boom"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert re.match(r"error: training diverged at epoch \d+, batch \d+", lines[0])


def test_make_demo_trains_digits_to_97_percent(kit, tmp_path):
    """`make demo` runs `gradkit train`: digits, 30 epochs, the defaults (~15 s)."""
    # One BLAS thread, as in the in-process tests: NumPy's and SciPy's OpenBLAS pools contend
    # on a small machine and would make this run many times slower without changing a number.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "gradkit.cli", "train", "--quiet", "--out",
                           "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "gradkit train digits -> demo"
    accuracy = float(re.search(r"^test accuracy: (\d\.\d+)$", proc.stdout, re.M).group(1))
    assert accuracy >= 0.97
    run = json.loads((tmp_path / "demo" / "config.json").read_text())["run"]
    assert run["data"] == "digits" and run["epochs"] == 30 and run["hidden"] == [256, 256]
    history = read_csv(tmp_path / "demo" / "history.csv")
    assert len(history) == 31


# --------------------------------------------------------------------------- export


def test_export_writes_a_model_onnxruntime_runs(kit, animals_model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "animals.onnx"
    result = kit.run("export", animals_model, "--onnx", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}\n"
    net = gk.load(animals_model)
    ds = encode_like(kit.write_animals(tmp_path / "x.csv", 9, seed=4, with_label=False),
                     net.saved_config["extra"]["data_schema"])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": ds.X})[0]
    np.testing.assert_allclose(got, net.predict(ds.X), rtol=1e-5, atol=1e-5)


def test_train_ensemble_trains_n_members_and_reports_the_average(tmp_path):
    from click.testing import CliRunner

    from gradkit.cli import cli

    out = tmp_path / "ens"
    result = CliRunner().invoke(cli, ["train", "iris", "--ensemble", "3", "--epochs", "3",
                                      "--hidden", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ensemble of 3: test accuracy" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "ensemble.json", "member_0.safetensors", "member_1.safetensors", "member_2.safetensors"]


def test_task_flag_makes_integer_targets_a_regression(tmp_path):
    from click.testing import CliRunner

    from gradkit.cli import cli

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    age = (20 + 10 * X[:, 0] + rng.normal(size=80)).round().astype(int)
    lines = ["a,b,c,age"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, age)]
    (tmp_path / "ages.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "ages.csv"), "--target", "age",
                                      "--task", "regression", "--epochs", "2", "--hidden", "8",
                                      "--quiet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "test r2" in result.output
    assert "test accuracy" not in result.output
