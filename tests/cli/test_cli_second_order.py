"""`gradkit train --optimizer lbfgs / newton`: full batch by default, one line for a bad schedule."""

import csv
import json

import numpy as np


def test_lbfgs_and_newton_train_full_batch_and_write_the_run_folder(kit, tmp_path):
    for name, hidden in (("lbfgs", "8"), ("newton", "4")):
        out = tmp_path / name
        result = kit.run("train", "xor", "--optimizer", name, "--hidden", hidden, "--epochs",
                         "3", "--quiet", "--out", out)
        assert result.exit_code == 0, result.output
        assert "test accuracy:" in result.output
        with open(out / "history.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["epoch"] for r in rows] == ["1", "2", "3"]
        losses = [float(r["loss"]) for r in rows]
        assert losses[-1] <= losses[0]
        run = json.loads((out / "config.json").read_text())["run"]
        assert run["optimizer"] == name and run["batch_size"] is None   # every row at once


def test_a_full_batch_config_reproduces_the_run_and_an_old_one_still_loads(kit, tmp_path):
    import gradkit as gk

    flags = ("--hidden", "4", "--epochs", "2", "--quiet")
    assert kit.run("train", "xor", "--optimizer", "lbfgs", *flags,
                   "--out", tmp_path / "a").exit_code == 0
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["run"]["batch_size"] is None
    rerun = kit.run("train", "--config", tmp_path / "a" / "config.json", "--out", tmp_path / "b")
    assert rerun.exit_code == 0, rerun.output
    # Before full batch was written as null, config.json held batch_size 1000000000.
    config["run"]["batch_size"] = 1_000_000_000
    (tmp_path / "old.json").write_text(json.dumps(config))
    old = kit.run("train", "--config", tmp_path / "old.json", "--out", tmp_path / "c")
    assert old.exit_code == 0, old.output
    history = (tmp_path / "a" / "history.csv").read_text()
    weights = gk.load(tmp_path / "a" / "model.safetensors").get_weights()
    for other in ("b", "c"):
        assert (tmp_path / other / "history.csv").read_text() == history
        again = gk.load(tmp_path / other / "model.safetensors").get_weights()
        assert all(np.array_equal(u, v) for u, v in zip(weights, again))


def test_lbfgs_takes_the_batch_size_given(kit, tmp_path):
    out = tmp_path / "mini"
    result = kit.run("train", "xor", "--optimizer", "lbfgs", "--batch-size", "50", "--hidden",
                     "4", "--epochs", "1", "--quiet", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["run"]["batch_size"] == 50


def test_a_schedule_for_lbfgs_is_refused_in_one_line(kit, tmp_path):
    result = kit.run("train", "xor", "--optimizer", "lbfgs", "--schedule", "cosine", "--quiet",
                     "--out", tmp_path / "bad")
    assert result.exit_code == 2
    assert "schedule 'cosine' has no meaning for optimizer 'lbfgs'" in kit.error_line(result)


def test_random_projection_preprocessing_from_the_command_line(kit, tmp_path):
    import gradkit as gk

    out = tmp_path / "jl"
    result = kit.run("train", "digits", "--normalize", "random_projection", "--pca-components",
                     "16", "--hidden", "16", "--epochs", "2", "--quiet", "--out", out)
    assert result.exit_code == 0, result.output
    norm = gk.load(out / "model.safetensors").layers[0]
    assert norm.get_config()["mode"] == "random_projection"
    assert norm.components.shape == (64, 16)
    result = kit.run("train", "digits", "--normalize", "random_projection", "--quiet",
                     "--out", tmp_path / "bad")
    assert result.exit_code == 2
    assert "random_projection' needs pca_components" in kit.error_line(result)


def test_newton_on_a_network_too_large_for_its_hessian_is_one_line_and_leaves_no_folder(
        kit, tmp_path):
    out = tmp_path / "run"
    result = kit.run("train", "xor", "--optimizer", "newton", "--hidden", "64,64", "--epochs",
                     "1", "--quiet", "--out", out)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: Newton forms an N×N Hessian from 2N gradient evaluations; got N=4482 "
        "parameters, expected at most max_params=2000; use a smaller network, or L-BFGS or "
        "Adam")
    assert "Traceback" not in result.output
    assert not out.exists()
