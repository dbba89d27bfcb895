"""`RunConfig` and `train_run`: the settings of a run, and the run folder it writes."""

import csv
import dataclasses
import json
import os
import struct

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import load, train_val_test_split
from gradkit.errors import ConfigError
from gradkit.practice.run import RunConfig, build_model, history_csv, train_run

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG, after checking its signature and that it is > 1 KB."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 1024, (path, len(data))
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def weights_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    config = RunConfig(data="iris", hidden=[16], epochs=3, lr=0.01, seed=3)
    out = tmp_path_factory.mktemp("runs") / "iris"
    return config, out, train_run(config, str(out), verbose=0)


# --------------------------------------------------------------------------- the run folder


def test_run_folder_holds_every_file(iris_run):
    _, out, _ = iris_run
    assert sorted(os.listdir(out)) == sorted([
        "model.safetensors", "config.json", "history.csv", "metrics.json",
        "learning_curves.png", "confusion_matrix.png", "checkpoints"])
    assert os.listdir(out / "checkpoints")
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_history_csv_has_a_header_and_one_row_per_epoch(iris_run):
    _, out, result = iris_run
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    for i, row in enumerate(rows[1:]):
        for key, text in zip(rows[0][1:], row[1:]):
            assert float(text) == result.history.history[key][i]     # repr: exact
    assert (out / "history.csv").read_text() == history_csv(result.history)


def test_metrics_json_holds_the_test_metrics(iris_run):
    config, out, result = iris_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == result.metrics
    assert set(metrics) == {"test_loss", "test_accuracy", "train_samples", "val_samples",
                            "test_samples", "epochs_run"}
    assert (metrics["train_samples"], metrics["val_samples"], metrics["test_samples"]) == \
        (105, 15, 30)
    assert metrics["epochs_run"] == 3
    # They are the saved model's numbers on the test split the seed makes.
    _, _, test = train_val_test_split(load("iris"), val=config.val, test=config.test,
                                      seed=config.seed)
    model = gk.load(out / "model.safetensors")
    predicted = np.asarray(model.predict_classes(test.X))
    truth = np.asarray(test.class_names, dtype=object)[test.y]
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == truth))
    assert metrics["test_accuracy"] >= 0.7


def test_config_json_reproduces_the_config(iris_run):
    config, out, _ = iris_run
    saved = json.loads((out / "config.json").read_text())
    assert saved == {"run": dataclasses.asdict(config)}
    assert RunConfig.from_file(out / "config.json") == config


def test_plots_are_real_pngs(iris_run):
    _, out, _ = iris_run
    for name in ("learning_curves.png", "confusion_matrix.png"):
        width, height = png_size(out / name)
        assert width >= 200 and height >= 200


def test_model_file_carries_the_run_and_the_data_schema(iris_run):
    config, out, result = iris_run
    model = gk.load(out / "model.safetensors")
    assert weights_equal(model, result.model)
    extra = model.saved_config["extra"]
    assert extra["run"] == config.to_dict() and extra["task"] == "classification"
    assert extra["data_schema"]["class_names"] == model.class_names == \
        ["setosa", "versicolor", "virginica"]
    assert [type(layer).__name__ for layer in model.layers] == \
        ["Normalization", "Dense", "Dense"]
    X = load("iris").X
    assert np.array_equal(model.predict(X), result.model.predict(X))


def test_regression_run_has_no_confusion_matrix(tmp_path):
    config = RunConfig(data="diabetes", hidden=[8], epochs=2, normalize="whiten",
                       pca_components=5)
    result = train_run(config, str(tmp_path / "run"), verbose=0)
    assert "confusion_matrix.png" not in os.listdir(tmp_path / "run")
    png_size(tmp_path / "run" / "learning_curves.png")
    assert {"test_loss", "test_mae", "test_r2"} <= set(result.metrics)
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        assert next(csv.reader(f)) == ["epoch", "loss", "mae", "r2", "val_loss", "val_mae",
                                       "val_r2"]
    assert result.model.layers[0].mode == "whiten"
    assert result.model.output_shape == (1,)


def test_same_config_same_weights(tmp_path):
    config = RunConfig(data="iris", hidden=[8, 8], epochs=2, dropout=0.1, batch_norm=True,
                       seed=1)
    a = train_run(config, str(tmp_path / "a"), verbose=0)
    b = train_run(RunConfig.from_file(tmp_path / "a" / "config.json"), str(tmp_path / "b"),
                  verbose=0)
    assert weights_equal(a.model, b.model)
    assert weights_equal(gk.load(tmp_path / "a" / "model.safetensors"),
                         gk.load(tmp_path / "b" / "model.safetensors"))
    assert a.metrics == b.metrics


def test_resume_equals_an_uninterrupted_run(tmp_path):
    short = RunConfig(data="iris", hidden=[8], epochs=2, dropout=0.2)
    train_run(short, str(tmp_path / "a"), verbose=0)
    long = dataclasses.replace(short, epochs=4)
    resumed = train_run(long, str(tmp_path / "a"), resume=True, verbose=0)
    whole = train_run(long, str(tmp_path / "b"), verbose=0)
    assert weights_equal(resumed.model, whole.model)
    assert resumed.history.history == whole.history.history
    # With overwrite, an existing folder starts over (same seed: the same run again).
    again = train_run(long, str(tmp_path / "b"), overwrite=True, verbose=0)
    assert weights_equal(again.model, whole.model)


def test_diverging_run_raises_naming_epoch_and_batch(tmp_path):
    config = RunConfig(data="iris", hidden=[16], epochs=5, optimizer="sgd", lr=1e6)
    with pytest.raises(gk.TrainingDiverged, match=r"^training diverged at epoch \d+, batch \d+"):
        train_run(config, str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run" / "model.safetensors").exists()


# --------------------------------------------------------------------------- build_model


@pytest.mark.parametrize("batch_norm, dropout, kinds", [
    (False, 0.0, ["Normalization", "Dense", "Dense", "Dense"]),
    (True, 0.0, ["Normalization", "Dense", "BatchNorm", "Activation", "Dense", "BatchNorm",
                 "Activation", "Dense"]),
    (False, 0.3, ["Normalization", "Dense", "Dropout", "Dense", "Dropout", "Dense"]),
])
def test_build_model_follows_the_flags(batch_norm, dropout, kinds):
    config = RunConfig(data="iris", hidden=[5, 4], batch_norm=batch_norm, dropout=dropout,
                       activation="tanh")
    train, _, _ = train_val_test_split(load("iris"), seed=0)
    model = build_model(config, train, np.random.default_rng(0))
    assert [type(layer).__name__ for layer in model.layers] == kinds
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [d.units for d in dense] == [5, 4, 3]
    assert dense[-1].activation_name is None              # logits
    norm = model.layers[0]
    np.testing.assert_allclose(norm.mean, train.X.mean(axis=0), rtol=1e-5)


# --------------------------------------------------------------------------- RunConfig


def test_defaults_are_the_documented_ones():
    config = RunConfig()
    assert (config.data, config.hidden, config.activation, config.optimizer, config.lr,
            config.batch_size, config.epochs, config.seed) == \
        ("digits", [256, 256], "relu", "adam", 1e-3, 32, 30, 0)
    assert config.validate() is config


@pytest.mark.parametrize("settings, message", [
    ({"hidden": []}, "hidden must list at least one layer size, got []"),
    ({"hidden": [0]}, "hidden must be positive integers, got [0]"),
    ({"hidden": 5}, "hidden must be a list of positive integers, got hidden=5"),
    ({"hidden": [True]}, "hidden must be a list of positive integers, got hidden=[True]"),
    ({"lr": -1.0}, "lr must be a finite number > 0, got -1.0"),
    ({"lr": "0.1"}, "lr must be a number, got lr='0.1'"),
    ({"lr": float("nan")}, "lr must be a finite number, got lr=nan"),
    ({"epochs": 1.5}, "epochs must be an integer, got epochs=1.5"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"batch_size": "all"},
     "batch_size must be an integer, or null for every training row in one batch"),
    ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ({"activation": "swish"}, "activation must be one of ("),
    ({"normalize": "minmax"}, "normalize must be one of ("),
    ({"schedule": "warm"}, "schedule must be one of ("),
    ({"val": 0.5, "test": 0.5},
     "val and test must be fractions in [0, 1) with val + test < 1, got val=0.5, test=0.5"),
    ({"test": -0.1}, "val and test must be fractions in [0, 1)"),
    ({"test_data": "t.csv"}, "test_data names a test file, so the test fraction must be 0"),
    ({"test_data": 3, "test": 0.0}, "test_data must be a file path or null, got test_data=3"),
    ({"pca_components": 0, "normalize": "pca"}, "pca_components must be >= 1, got 0"),
    ({"seed": -2}, "seed must be >= 0, got -2"),
    ({"checkpoint_every": -1}, "checkpoint_every must be >= 0, got -1"),
    ({"early_stopping": -1}, "early_stopping must be >= 0, got -1"),
    ({"optimizer": "adamx"}, "optimizer: unknown optimizer 'adamx'"),
    ({"init": "zeroes"}, "init: unknown initializer 'zeroes'"),
    ({"batch_norm": 1}, "batch_norm must be true or false, got batch_norm=1"),
    ({"target": 1.5}, "target must be a column name or index"),
])
def test_validate_names_the_bad_setting(settings, message):
    with pytest.raises(ConfigError) as info:
        RunConfig(**settings).validate()
    assert message in str(info.value)


def test_from_file_names_the_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"run": {"epochs": 0}}))
    with pytest.raises(ConfigError, match=rf"^{path}: epochs must be >= 1, got 0$"):
        RunConfig.from_file(path)
    path.write_text(json.dumps({"epochs": 3, "colour": "red"}))
    with pytest.raises(ConfigError, match=rf"^{path}: unknown settings \['colour'\]"):
        RunConfig.from_file(path)
    path.write_text("{\n  'epochs': 3\n}")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid JSON \(.* at line 2\)$"):
        RunConfig.from_file(path)
    with pytest.raises(ConfigError, match="no such config file"):
        RunConfig.from_file(tmp_path / "none.json")


def test_from_file_accepts_a_bare_object_or_a_run_folder_config(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"epochs": 3, "hidden": [4]}))
    (tmp_path / "b.json").write_text(json.dumps({"run": {"epochs": 3, "hidden": [4]}}))
    a, b = RunConfig.from_file(tmp_path / "a.json"), RunConfig.from_file(tmp_path / "b.json")
    assert a == b == RunConfig(epochs=3, hidden=[4])


def test_bad_setting_creates_no_run_folder(tmp_path):
    with pytest.raises(ConfigError):
        train_run(RunConfig(data="iris", epochs=0), str(tmp_path / "run"), verbose=0)
    with pytest.raises(ConfigError, match="n_components=9 is more than the 4 input features"):
        train_run(RunConfig(data="iris", normalize="pca", pca_components=9),
                  str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- the test set


def _write_table(path, X, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(X.shape[1])] + ["label"])
        w.writerows([[*map(float, row), str(label)] for row, label in zip(X, y)])


@pytest.fixture(scope="module")
def train_and_test_files(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    folder = tmp_path_factory.mktemp("tables")
    _write_table(folder / "train.csv", X[:120], y[:120])
    # The test file lists its columns in another order and its classes in another order.
    with open(folder / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "x2", "x1", "x0"])
        w.writerows([[label, *map(float, row[::-1])] for row, label in zip(X[120:], y[120:])])
    return folder / "train.csv", folder / "test.csv", X[120:], y[120:]


def test_test_data_trains_on_the_whole_training_file_and_tests_on_the_file_once(
        train_and_test_files, tmp_path):
    train_file, test_file, X_test, y_test = train_and_test_files
    config = RunConfig(data=str(train_file), target="label", test_data=str(test_file),
                       test=0.0, val=0.1, hidden=[8], epochs=3, lr=0.01)
    run = train_run(config, str(tmp_path / "run"), verbose=0)
    m = run.metrics
    assert (m["train_samples"], m["val_samples"], m["test_samples"]) == (108, 12, 30)
    predicted = np.asarray(run.model.predict_classes(X_test.astype(np.float32)))
    assert m["test_accuracy"] == pytest.approx(np.mean(predicted == y_test))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["run"]
    assert saved["test_data"] == str(test_file) and saved["test"] == 0.0


def test_test_zero_trains_without_a_test_set(tmp_path):
    config = RunConfig(data="iris", hidden=[8], epochs=2, test=0.0, val=0.1)
    run = train_run(config, str(tmp_path / "run"), verbose=0)
    assert (run.metrics["train_samples"], run.metrics["val_samples"],
            run.metrics["test_samples"]) == (135, 15, 0)
    assert not any(k.startswith("test_") and k != "test_samples" for k in run.metrics)
    assert not (tmp_path / "run" / "confusion_matrix.png").exists()


def test_cli_test_data_and_test_zero(train_and_test_files, tmp_path):
    from click.testing import CliRunner

    from gradkit.cli import cli

    train_file, test_file, _, _ = train_and_test_files
    runner = CliRunner()
    res = runner.invoke(cli, ["train", str(train_file), "--target", "label", "--test-data",
                              str(test_file), "--hidden", "8", "--epochs", "2", "--quiet",
                              "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert (metrics["train_samples"], metrics["test_samples"]) == (108, 30)
    assert f"test accuracy: {metrics['test_accuracy']:.4f}" in res.output
    res = runner.invoke(cli, ["train", "iris", "--test", "0", "--hidden", "8", "--epochs", "1",
                              "--quiet", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "no test set (--test 0 and no --test-data): nothing evaluated" in res.output
    res = runner.invoke(cli, ["train", str(train_file), "--target", "label", "--test", "0.2",
                              "--test-data", str(test_file), "--out", str(tmp_path / "c")])
    assert res.exit_code == 2
    assert res.output.strip() == ("error: test_data names a test file, so the test fraction "
                                  "must be 0 (the whole training file trains), got test=0.2")
    assert not (tmp_path / "c").exists()
def test_batch_size_null_means_every_training_row_and_a_stream_refuses_it(tmp_path):
    config = RunConfig(data="xor", batch_size=None, hidden=[4], epochs=1, optimizer="adam")
    assert config.validate().rows_per_batch(150) == 150
    assert RunConfig().rows_per_batch(150) == 32
    result = train_run(config, str(tmp_path / "full"), verbose=0)
    assert len(result.history.batch_loss) == 1          # one step: the whole split at once
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    streamed = dataclasses.replace(config, data=str(path), stream=True)
    with pytest.raises(ConfigError, match="a streamed run reads record batches, so it needs an "
                                          "integer batch_size, got null"):
        train_run(streamed, str(tmp_path / "s"), verbose=0)


@pytest.mark.parametrize("total, boundaries", [(1, None), (2, [1]), (3, [1, 2]), (4, [2, 3]),
                                               (10, [5, 7])])
def test_step_schedule_of_under_four_steps_keeps_its_boundaries_inside_the_run(total,
                                                                                boundaries):
    from gradkit.practice.run import _step_decay, make_optimizer

    lr = _step_decay(0.1, total)
    assert (lr == 0.1) if boundaries is None else (lr["boundaries"] == boundaries)
    make_optimizer(RunConfig(schedule="step", epochs=1), total)


def test_step_schedule_of_one_full_batch_epoch_trains(tmp_path):
    config = RunConfig(data="iris", hidden=[4], epochs=1, schedule="step", batch_size=None)
    assert train_run(config, str(tmp_path / "r"), verbose=0).metrics["epochs_run"] == 1
