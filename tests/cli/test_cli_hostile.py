"""The command line under hostile and careless use (issue 17): one line and exit 2 for every
refusal, exit 130 within a second on Ctrl-C, run folders that belong to one run, and
`gradkit search` in the default install."""

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_run_into_a_used_folder_is_one_line(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["iris", "--hidden", "8", "--epochs", "1", "--quiet", "--out", "r"]
    assert kit.run("train", *flags).exit_code == 0
    again = kit.run("train", *flags[:-2], "--hidden", "16", "--out", "r")
    assert again.exit_code == 2
    assert kit.error_line(again) == "error: r: already holds a run (model.safetensors, " \
        "config.json, metrics.json, history.csv, learning_curves.png, confusion_matrix.png, " \
        "checkpoints/); pass --resume to continue it, --overwrite to replace it, or choose " \
        "another --out"
    replaced = kit.run("train", *flags[:-2], "--hidden", "16", "--out", "r", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["run"]["hidden"] == [16]


def test_resume_with_other_settings_says_what_differs(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["iris", "--hidden", "8", "--epochs", "1", "--quiet", "--out", "r"]
    assert kit.run("train", *flags).exit_code == 0
    other = kit.run("train", *flags, "--resume", "--optimizer", "sgd", "--hidden", "9")
    assert other.exit_code == 2
    assert kit.error_line(other) == "error: r: cannot resume, this is not the run in the " \
        "folder: hidden [8] -> [9]; optimizer 'adam' -> 'sgd'; train into another --out, or " \
        "pass --overwrite to replace it"


def test_target_digits_name_a_column_first(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("0,1,2\n" + "".join(
        f"{i % 7},{'ab'[i % 2]},{i / 10}\n" for i in range(40)))
    result = kit.run("train", "t.csv", "--target", "1", "--epochs", "1", "--quiet",
                     "--out", "r")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["run"]["target"] == "1"
    assert "test accuracy" in result.stdout           # column "1" (a, b): a classifier


def test_a_fifo_as_data_is_one_line(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("d.csv")
    result = kit.run("train", "d.csv", "--quiet")
    assert result.exit_code == 2
    assert "is a named pipe (FIFO), not a regular file" in kit.error_line(result)
    assert not (tmp_path / "runs").exists()


def test_hidden_of_a_hundred_million_is_refused_leaving_nothing(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    result = kit.run("train", "iris", "--hidden", "100000000", "--quiet", "--out", "r")
    assert result.exit_code == 2
    assert "(800,000,003 parameters, 105 samples x 3 outputs) needs about" in \
        kit.error_line(result)
    assert time.monotonic() - start < 5 and not (tmp_path / "r").exists()


def test_single_class_data_is_refused_by_train_and_doctor(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.csv").write_text("x,y\n" + "".join(f"{i},yes\n" for i in range(40)))
    for command in ("train", "doctor"):
        result = kit.run(command, "one.csv", "--quiet", "--out", command)
        assert result.exit_code == 2, result.output
        assert kit.error_line(result) == "error: one.csv: every sample has the same class " \
            "('yes'); a classifier needs at least two classes (or use task='regression')"
        assert not (tmp_path / command).exists()


def test_predict_refuses_a_schema_edited_against_the_model(kit, animals_model, tmp_path):
    from gradkit import _safetensors

    tensors, meta = _safetensors.load_tensors(animals_model)
    config = json.loads(meta["gradkit"])
    config["extra"]["data_schema"]["task"] = "multilabel"
    _safetensors.save_tensors(tmp_path / "edited.safetensors", tensors,
                        {"gradkit": json.dumps(config)})
    data = kit.write_animals(tmp_path / "new.csv", 6, seed=1, with_label=False)
    result = kit.run("predict", tmp_path / "edited.safetensors", data)
    assert result.exit_code == 2
    assert "task 'multilabel' differs from the file's task 'classification'" in \
        kit.error_line(result)


def test_ctrl_c_exits_130_within_a_second(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradkit.cli", "train", "digits", "--epochs", "500",
         "--quiet", "--out", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "r" / "checkpoints").exists() and time.monotonic() < deadline:
            time.sleep(0.05)                           # training has begun
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 1.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["interrupted"]


def test_optuna_is_a_default_dependency_and_dask_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("optuna") for dep in project["dependencies"])
    assert not any(dep.startswith(("distributed", "dask")) for dep in project["dependencies"])
    assert any(dep.startswith("distributed") for dep in project["optional-dependencies"]["search"])
    assert any(dep.startswith("hypothesis") for dep in project["optional-dependencies"]["test"])


def test_a_missing_dask_is_named_with_its_extra(monkeypatch):
    from gradkit.errors import ConfigError
    from gradkit.practice import _executors

    monkeypatch.setitem(sys.modules, "distributed", None)      # import fails
    with pytest.raises(ConfigError, match=r"^--scheduler needs Dask: pip install "
                                          r"'gradkit\[search\]'$"):
        with _executors._dask_client("tcp://127.0.0.1:1"):
            pass


def test_a_full_disk_is_one_line_and_leaves_no_half_written_file(kit, tmp_path, monkeypatch):
    import errno

    monkeypatch.chdir(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = kit.run("train", "iris", "--hidden", "8", "--epochs", "1", "--quiet", "--out", "r")
    monkeypatch.undo()
    assert result.exit_code == 2
    assert kit.error_line(result).endswith("No space left on device")
    left = [p.name for p in (tmp_path / "r").rglob("*")] if (tmp_path / "r").exists() else []
    assert not [name for name in left if name.endswith(".safetensors") or "tmp" in name], left


def test_without_out_a_second_run_gets_a_fresh_default_folder(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["iris", "--epochs", "1", "--hidden", "4", "--quiet"]
    assert kit.run("train", *flags).stdout.splitlines()[-1] == "run folder: runs/iris"
    again = kit.run("train", *flags)
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "run folder: runs/iris-2"
    resumed = kit.run("train", *flags, "--resume")
    assert resumed.exit_code == 0 and resumed.stdout.splitlines()[-1] == "run folder: runs/iris"
