"""Writers never replace what is not theirs: a device, a FIFO, or one of their own inputs.

The atomic rename puts a regular file where its target was; pointed at a device node it
replaced it (as root, /dev/null), and pointed at its input it replaced the data or the model.
Device nodes here are private ones made with mknod in tmp_path, never the machine's.
"""

import os
import stat

import pytest


def _char_device(path):
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


@pytest.mark.parametrize("make, kind", [
    (lambda p: _char_device(p), "a character device"),
    (lambda p: os.mkfifo(p) or p, "a FIFO"),
])
def test_predict_and_export_refuse_a_special_file_and_leave_it(kit, animals_model, tmp_path,
                                                                make, kind):
    data = kit.write_animals(tmp_path / "new.csv", 6, seed=1, with_label=False)
    for i, args in enumerate([("predict", animals_model, data, "--out"),
                              ("export", animals_model, "--onnx")]):
        target = tmp_path / f"n{i}"
        make(str(target))
        mode = os.stat(target).st_mode
        result = kit.run(*args, target)
        assert result.exit_code == 2, result.output
        assert f"is {kind}, not a regular file; refusing to replace it" in \
            kit.error_line(result)
        assert os.stat(target).st_mode == mode
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_onto_its_model_is_refused_and_the_model_kept(kit, animals_model, tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(animals_model.read_bytes())
    os.link(model, tmp_path / "alias.onnx")
    for target in (model, tmp_path / "alias.onnx"):
        result = kit.run("export", model, "--onnx", target)
        assert result.exit_code == 2
        assert f"--onnx {target}: is the same file as MODEL {model}" in kit.error_line(result)
    assert model.read_bytes() == animals_model.read_bytes()


def test_predict_onto_its_data_or_model_is_refused(kit, animals_model, tmp_path):
    data = kit.write_animals(tmp_path / "d.csv", 6, seed=1, with_label=False)
    before = data.read_bytes()
    for out, label in ((data, "DATA"), (animals_model, "MODEL")):
        result = kit.run("predict", animals_model, data, "--out", out)
        assert result.exit_code == 2
        assert f"is the same file as {label}" in kit.error_line(result)
    assert data.read_bytes() == before


def test_train_refuses_a_run_folder_whose_files_are_its_inputs(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("r")
    data = kit.write_animals(tmp_path / "r" / "history.csv", 30, seed=0)
    before = data.read_bytes()
    result = kit.run("train", data, "--out", "r", "--overwrite", "--quiet", "--epochs", "1")
    assert result.exit_code == 2
    assert "--out r/history.csv: is the same file as DATA" in kit.error_line(result)
    assert data.read_bytes() == before and sorted(os.listdir("r")) == ["history.csv"]


def test_search_and_doctor_refuse_an_input_among_the_files_they_write(kit, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("r")
    with open("r/best.json", "w") as f:
        f.write("{}")
    result = kit.run("search", "iris", "--space", "r/best.json", "--out", "r", "--trials", "1")
    assert result.exit_code == 2
    assert "--out r/best.json: is the same file as --space r/best.json" in kit.error_line(result)
    os.rename("r/best.json", "r/recommended.json")
    result = kit.run("doctor", "iris", "--config", "r/recommended.json", "--out", "r")
    assert result.exit_code == 2
    assert "is the same file as --config r/recommended.json" in kit.error_line(result)
    assert os.listdir("r") == ["recommended.json"]
