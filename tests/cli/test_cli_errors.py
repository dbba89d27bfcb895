"""Bad input exits with status 2 and one line on stderr naming the file, column and row.

No traceback, and no partial output: a refused `train` creates no run folder, a refused
`predict --out` or `export --onnx` writes no file.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk


def refused(kit, *args, exit_code=2):
    """Run the command; check the clean refusal and return its one stderr line."""
    result = kit.run(*args)
    assert result.exit_code == exit_code, result.output
    return kit.error_line(result)


# --------------------------------------------------------------------------- training data

BAD_CSVS = {
    # name: (file content, pieces the message must hold)
    "nan": ("a,b,label\n1,2,x\n3,nan,y\n4,5,x\n",
            ["nan.csv", "column 'b'", "data row 2", "'nan'", "NaN or infinite"]),
    "inf": ("a,b,label\n1,2,x\n3,4,y\n4,inf,x\n",
            ["inf.csv", "column 'b'", "data row 3", "'inf'", "NaN or infinite"]),
    "minus_inf": ("a,b,label\n-inf,2,x\n3,4,y\n",
                  ["minus_inf.csv", "column 'a'", "data row 1", "'-inf'"]),
    "empty": ("", ["empty.csv", "empty file"]),
    "header_only": ("a,b,label\n", ["header_only.csv", "no data rows"]),
    "text_in_numbers": ("a,b,label\n1,2,x\n3,hello,y\n4,5,x\n",
                        ["text_in_numbers.csv", "column 'b'", "data row 2",
                         "expected a number, got 'hello'"]),
    "ragged": ("a,b,label\n1,2,x\n3,4\n4,5,x\n",
               ["ragged.csv", "data row 2", "line 3", "expected 3 fields", "got 2"]),
    "duplicate_header": ("a,a,label\n1,2,x\n", ["duplicate_header.csv", "'a'", "twice"]),
}


@pytest.mark.parametrize("name", sorted(BAD_CSVS))
def test_bad_csv_for_train(kit, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    content, pieces = BAD_CSVS[name]
    (tmp_path / f"{name}.csv").write_text(content)
    line = refused(kit, "train", f"{name}.csv", "--target", "label", "--epochs", "1",
                   "--out", "run")
    for piece in pieces:
        assert piece in line
    assert not (tmp_path / "run").exists()


def test_missing_target_column_lists_the_columns(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    line = refused(kit, "train", "d.csv", "--target", "nope", "--out", "run")
    assert line == "error: d.csv: no target column 'nope'; columns are: a, b, label"
    assert not (tmp_path / "run").exists()


def test_nonexistent_data(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(kit, "train", "nosuch.csv", "--out", "run")
    assert line.startswith("error: nosuch.csv: no such file, and not a built-in data set (")
    assert "digits" in line and "iris" in line
    assert not (tmp_path / "run").exists()


def test_target_given_for_a_builtin_set(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(kit, "train", "iris", "--target", "x", "--out", "run")
    assert line == "error: iris: target='x' does not apply to built-in data"


# --------------------------------------------------------------------------- flags and configs


@pytest.mark.parametrize("value, expected", [
    ("16,abc", "expected comma-separated integers like 512,512, got '16,abc'"),
    ("0", "expected positive sizes like 512,512, got '0'"),
    ("16,-4", "expected positive sizes like 512,512, got '16,-4'"),
    ("", "expected positive sizes like 512,512, got ''"),
    ("1.5", "expected comma-separated integers like 512,512, got '1.5'"),
])
def test_bad_hidden(kit, tmp_path, monkeypatch, value, expected):
    monkeypatch.chdir(tmp_path)
    line = refused(kit, "train", "iris", "--hidden", value, "--out", "run")
    assert line == (f"error: Invalid value for '--hidden': {expected} "
                    "(see 'gradkit train --help')")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--activation", "bogus"], "activation must be one of ("),
    (["--optimizer", "bogus"], "optimizer: unknown optimizer 'bogus'"),
    (["--init", "bogus"], "init: unknown initializer 'bogus'"),
    (["--schedule", "bogus"], "schedule must be one of ("),
    (["--normalize", "bogus"], "normalize must be one of ("),
    (["--lr", "0"], "lr must be a finite number > 0, got 0.0"),
    (["--lr", "nan"], "lr must be a finite number, got lr=nan"),
    (["--lr", "inf"], "lr must be a finite number, got lr=inf"),
    (["--epochs", "0"], "epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["--dropout", "1"], "dropout must be in [0, 1), got 1.0"),
    (["--l2", "-1"], "l1 and l2 must be >= 0"),
    (["--val", "0.9"], "val and test must be fractions in [0, 1) with val + test < 1, got "
                       "val=0.9, test=0.2"),
    (["--seed", "-1"], "seed must be >= 0, got -1"),
    (["--pca-components", "2"],
     "pca_components needs normalize 'pca', 'whiten' or 'random_projection'"),
    (["--normalize", "pca", "--pca-components", "10"],
     "normalize 'pca' on iris: n_components=10 is more than the 4 input features"),
])
def test_bad_settings(kit, tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    line = refused(kit, "train", "iris", *flags, "--out", "run")
    assert line.startswith("error: ") and message in line
    assert not (tmp_path / "run").exists()


def test_flag_of_the_wrong_type_is_one_line(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(kit, "train", "iris", "--epochs", "many")
    assert line == ("error: Invalid value for '--epochs': 'many' is not a valid integer. "
                    "(see 'gradkit train --help')")
    assert refused(kit, "train", "--bogus").startswith("error: No such option '--bogus'")
    assert refused(kit, "trian").startswith("error: No such command 'trian'.")
    assert refused(kit, "predict") == ("error: Missing argument 'MODEL'. "
                                       "(see 'gradkit predict --help')")


@pytest.mark.parametrize("text, message", [
    ("{bad", "not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
    ("", "not valid JSON (Expecting value at line 1)"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"run": {"hiden": [3]}}', "unknown settings ['hiden']; known: ['activation',"),
    ('{"hidden": "16"}', "hidden must be a list of positive integers, got hidden='16'"),
    ('{"hidden": 5}', "hidden must be a list of positive integers, got hidden=5"),
    ('{"hidden": [16, 0]}', "hidden must be positive integers, got [16, 0]"),
    ('{"hidden": [16.0]}', "hidden must be a list of positive integers, got hidden=[16.0]"),
    ('{"lr": "fast"}', "lr must be a number, got lr='fast'"),
    ('{"lr": 1e999}', "lr must be a finite number, got lr=inf"),
    ('{"lr": NaN}', "lr must be a finite number, got lr=nan"),
    ('{"lr": 1' + "0" * 400 + "}", "lr must be a finite number, got lr=1000000000000000000"),
    ('{"epochs": true}', "epochs must be an integer, got epochs=True"),
    ('{"epochs": 2.5}', "epochs must be an integer, got epochs=2.5"),
    ('{"batch_norm": "yes"}', "batch_norm must be true or false, got batch_norm='yes'"),
    ('{"data": 7}', "data must be a file path or a data set name, got data=7"),
    ('{"optimizer": "bogus"}', "optimizer: unknown optimizer 'bogus'"),
])
def test_bad_config_file(kit, tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(text)
    line = refused(kit, "train", "--config", "config.json", "--out", "run")
    assert line.startswith("error: config.json: ")
    assert message in line
    assert not (tmp_path / "run").exists()


def test_missing_config_file(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert refused(kit, "train", "--config", "nope.json") == \
        "error: nope.json: no such config file"


def test_out_that_is_a_file(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("mine")
    line = refused(kit, "train", "iris", "--epochs", "1", "--out", "taken")
    assert "taken" in line and "is a file" in line
    assert (tmp_path / "taken").read_text() == "mine"


# --------------------------------------------------------------------------- predict, evaluate


@pytest.fixture
def new_data(kit, tmp_path, monkeypatch):
    """A folder to predict in (the cwd), with a well-formed file to predict on."""
    monkeypatch.chdir(tmp_path)
    kit.write_animals(tmp_path / "new.csv", 6, seed=7, with_label=False)
    return tmp_path


@pytest.mark.parametrize("content, pieces", [
    ("x1,colour,x2\n1,red,2\n",
     ["columns differ from the training data", "missing 'color'", "unexpected 'colour'",
      "(expected: x1, color, x2)"]),
    ("x1,color\n1,red\n", ["columns differ from the training data", "missing 'x2'"]),
    ("x1,color,x2\n1,red,2\n1,purple,3\n",
     ["column 'color'", "data row 2", "category 'purple' was not seen in training",
      "(known: blue, green, red)"]),
    ("x1,color,x2\n1,red,2\n1,red,nan\n", ["column 'x2'", "data row 2", "NaN or infinite"]),
    ("x1,color,x2\n1,red,2\n1,red,two\n", ["column 'x2'", "data row 2", "got 'two'"]),
    ("x1,color,x2\n1,red,2\n1,red\n", ["data row 2", "expected 3 fields"]),
    ("", ["empty file"]),
])
def test_predict_refuses_data_unlike_training(kit, animals_model, new_data, content, pieces):
    (new_data / "bad.csv").write_text(content)
    line = refused(kit, "predict", animals_model, "bad.csv", "--out", "preds.csv")
    assert line.startswith("error: bad.csv")
    for piece in pieces:
        assert piece in line
    assert not (new_data / "preds.csv").exists()


def test_predict_nonexistent_data(kit, animals_model, new_data):
    line = refused(kit, "predict", animals_model, "nosuch.csv", "--out", "preds.csv")
    assert line.startswith("error: nosuch.csv: ")
    assert not (new_data / "preds.csv").exists()


def test_predict_into_a_missing_folder(kit, animals_model, new_data):
    line = refused(kit, "predict", animals_model, "new.csv", "--out", "no/such/dir/p.csv")
    assert "No such file or directory" in line
    assert sorted(os.listdir(new_data)) == ["new.csv"]


def test_evaluate_refuses_unseen_labels(kit, animals_model, new_data):
    kit.write_animals(new_data / "fish.csv", 6, seed=8,
                      label_of={"red": "cat", "green": "dog", "blue": "fish"})
    line = refused(kit, "evaluate", animals_model, "fish.csv")
    assert line == ("error: fish.csv, column 'label', data row 3 (1-based, header not "
                    "counted): class 'fish' was not seen in training (known: bird, cat, dog)")


def test_evaluate_needs_the_target(kit, animals_model, new_data):
    line = refused(kit, "evaluate", animals_model, "new.csv")
    assert line == ("error: new.csv: target column 'label' is missing; it is needed to compare "
                    "predictions with the truth")


# --------------------------------------------------------------------------- model files


def corrupt_copies(model, folder):
    """Broken versions of a real model file: name -> (path, a piece of the message)."""
    data = model.read_bytes()
    files = {
        "truncated": (data[:-16], "(file truncated?)"),          # inside the weights
        "cut_in_header": (data[:100], "is larger than the rest of the file"),  # in the JSON
        "tiny": (data[:5], "shorter than the 8-byte safetensors header length"),
        "empty": (b"", "file is empty"),
        "text": (b"hello, I am not a model\n" * 4, "header length"),
    }
    out = {}
    for name, (content, piece) in files.items():
        path = folder / f"{name}.safetensors"
        path.write_bytes(content)
        out[name] = (path, piece)
    return out


@pytest.mark.parametrize("name", ["truncated", "cut_in_header", "tiny", "empty", "text"])
def test_corrupt_model_is_refused_by_every_command(kit, animals_model, new_data, name):
    path, piece = corrupt_copies(animals_model, new_data)[name]
    labelled = kit.write_animals(new_data / "labelled.csv", 3, seed=9)
    before = sorted(os.listdir(new_data))
    for args in (["predict", path, "new.csv", "--out", "preds.csv"],
                 ["evaluate", path, labelled],
                 ["export", path, "--onnx", "model.onnx"]):
        line = refused(kit, *args)
        assert line.startswith(f"error: {path}: ") and piece in line
    assert sorted(os.listdir(new_data)) == before          # no preds.csv, no model.onnx


def test_nonexistent_model(kit, new_data):
    line = refused(kit, "predict", "nosuch.safetensors", "new.csv", "--out", "p.csv")
    assert line == "error: nosuch.safetensors: file not found"
    assert refused(kit, "export", "nosuch.safetensors", "--onnx", "m.onnx") == \
        "error: nosuch.safetensors: file not found"
    assert not (new_data / "p.csv").exists() and not (new_data / "m.onnx").exists()


def test_model_without_a_data_schema(kit, new_data):
    model = gk.Sequential([gk.layers.Dense(2)])
    model.build((3,), np.random.default_rng(0))
    gk.save(model, "plain.safetensors")
    line = refused(kit, "predict", "plain.safetensors", "new.csv")
    assert line == ("error: plain.safetensors: has no data schema (it was not saved by "
                    "`gradkit train`); use gk.load in Python instead")


def test_model_with_a_malformed_data_schema(kit, animals_model, new_data):
    from gradkit import _safetensors

    tensors, metadata = _safetensors.load_tensors(animals_model)
    config = json.loads(metadata["gradkit"])
    config["extra"]["data_schema"]["columns"] = 5
    config["extra"]["data_schema"]["task"] = "astrology"
    _safetensors.save_tensors("edited.safetensors", tensors, {"gradkit": json.dumps(config)})
    line = refused(kit, "predict", "edited.safetensors", "new.csv", "--out", "p.csv")
    assert line == ("error: edited.safetensors: the data schema in the file is malformed: "
                    "bad or missing task, columns")
    assert not (new_data / "p.csv").exists()


def test_pickle_given_as_a_model(kit, new_data):
    import pickle

    (new_data / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    line = refused(kit, "predict", "model.safetensors", "new.csv")
    assert "is a pickle/PyTorch file, which gradkit never loads" in line


# --------------------------------------------------------------------------- real processes


def gradkit_process(cwd, *args):
    return subprocess.run([sys.executable, "-m", "gradkit.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_exit_status_and_stderr_of_a_real_process(animals_model, tmp_path):
    # Each of these fails before any CSV is read (see the report on pyarrow's CSV reader).
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    cases = [
        (["predict", "bad.safetensors", "x.csv", "--out", "preds.csv"],
         "error: bad.safetensors: header is not a JSON object"),
        (["train", "nosuch.csv", "--out", "run"], "error: nosuch.csv: no such file"),
        (["train", "iris", "--hidden", "16,abc", "--out", "run"],
         "error: Invalid value for '--hidden'"),
        (["export", "bad.safetensors", "--onnx", "m.onnx"], "error: bad.safetensors: "),
    ]
    for args, start in cases:
        proc = gradkit_process(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(start), proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors"]


def test_success_in_a_real_process(animals_model, tmp_path):
    proc = gradkit_process(tmp_path, "datasets", "list")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = gradkit_process(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"gradkit, version {gk.__version__}"


def test_a_whole_number_quantity_is_not_trained_as_hundreds_of_classes(kit, tmp_path):
    # diabetes' target rounded: 214 distinct whole numbers in 442 rows. Read as classes it
    # trained 214 of them and reported accuracy 0.0 with exit 0.
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    lines = [",".join([f"x{i}" for i in range(10)] + ["y"])]
    lines += [",".join([f"{v:.6f}" for v in row] + [str(int(round(t)))]) for row, t in zip(X, y)]
    data = tmp_path / "diabetes.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    line = refused(kit, "train", data, "--target", "y", "--out", out, "--epochs", "1")
    assert "214 distinct whole numbers in 442 rows" in line and "--task regression" in line
    assert not out.exists()
    result = kit.run("train", data, "--target", "y", "--out", out, "--epochs", "1",
                     "--task", "regression", "--hidden", "8")
    assert result.exit_code == 0, result.output
    assert "test mae" in result.output
