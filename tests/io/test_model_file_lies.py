"""Model files that parse but lie (issue 17, class 5): every value is checked against what its
layer means before the model is used, so none loads to fail later with a traceback, to
predict NaN, or to write a CSV whose rows do not match its header."""

import json

import numpy as np
import pytest

import gradkit as gk
from gradkit import _safetensors

L = gk.layers


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32) * [1, 2, 3, 4]
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)
    norm = L.Normalization()
    norm.adapt(X)
    model = gk.Sequential([norm, L.Dense(8, activation="relu"), L.BatchNorm(), L.Dense(3)])
    model.compile("adam", "cross_entropy")
    model.fit(X, y, epochs=2, batch_size=32, seed=0, verbose=0)
    model.class_names = ["a", "b", "c"]
    path = tmp_path_factory.mktemp("m") / "model.safetensors"
    gk.save(model, path)
    return path, X


def rewrite(saved_path, out, *, tensor=None, value=None, edit=None):
    tensors, metadata = _safetensors.load_tensors(saved_path)
    config = json.loads(metadata["gradkit"])
    if tensor is not None:
        tensors[tensor] = value
    if edit is not None:
        edit(config)
    _safetensors.save_tensors(out, tensors, {"gradkit": json.dumps(config)})
    return out


def refused(path):
    with pytest.raises(gk.ModelFileError) as info:
        gk.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


@pytest.mark.parametrize("tensor, value, says", [
    ("layers.0.count", np.array(-5, np.int64), "count must be one integer >= 0"),
    ("layers.0.count", np.array(0, np.int64), "count is 0 (never adapted) but the statistics"),
    ("layers.0.std", np.array([1, 0, 1, 1], np.float32), "std must be > 0 everywhere"),
    ("layers.0.std", np.array([1, -2, 1, 1], np.float32), "std must be > 0 everywhere"),
    ("layers.2.running_var", -np.ones(8, np.float32), "running_var must be >= 0"),
    ("layers.1.W", np.ones((4, 8), np.int32), "weight 'layers.1.W' is stored as int32"),
    ("layers.1.W", np.ones((4, 8), np.complex64), "is stored as complex64"),
    ("layers.1.b", np.ones(8, np.bool_), "is stored as bool"),
])
def test_values_that_break_a_layers_meaning_are_refused(saved, tmp_path, tensor, value, says):
    path = rewrite(saved[0], tmp_path / "lie.safetensors", tensor=tensor, value=value)
    assert says in refused(path)


def test_an_unadapted_normalization_still_loads_as_saved(tmp_path):
    model = gk.Sequential([L.Normalization(), L.Dense(2)])
    model.build((3,), np.random.default_rng(0))
    gk.save(model, tmp_path / "raw.safetensors")
    assert int(gk.load(tmp_path / "raw.safetensors").layers[0].count) == 0


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"], ["a", "a", "b"], []])
def test_class_names_must_name_the_outputs(saved, tmp_path, names):
    def edit(config):
        config["model"]["class_names"] = names

    path = rewrite(saved[0], tmp_path / "names.safetensors", edit=edit)
    message = refused(path)
    assert "class_names" in message


def test_an_input_shape_of_a_trillion_values_is_refused_before_allocating(tmp_path):
    # No weights for the size check to count: only the sample's own size tells.
    model = gk.Sequential([L.Activation("relu")])
    model.build((3,), np.random.default_rng(0))
    gk.save(model, tmp_path / "small.safetensors")

    def edit(config):
        config["model"]["input_shape"] = [1_000_000, 1_000_000]

    path = rewrite(tmp_path / "small.safetensors", tmp_path / "wide.safetensors", edit=edit)
    assert "the input of shape [1000000, 1000000], for one sample, needs about 3.6 TiB, " \
           "more than the memory budget" in refused(path)


def test_the_real_file_still_loads(saved):
    path, X = saved
    model = gk.load(path)
    assert model.class_names == ["a", "b", "c"] and np.isfinite(model.predict(X)).all()


def test_a_fifo_named_like_a_model_is_refused_without_blocking(tmp_path):
    import os
    import threading

    os.mkfifo(tmp_path / "model.safetensors")
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        message=refused(tmp_path / "model.safetensors")), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "gk.load blocked on a FIFO"
    assert result["message"].endswith(": is not a regular file")


@pytest.mark.parametrize("dtype", ["f4,(1", "i4,", "(", "object", "U8"])
def test_a_layer_dtype_numpy_cannot_parse_is_refused(saved, tmp_path, dtype):
    """Found by the atheris fuzzer: NumPy parses "f4,(1" with Python's parser, SyntaxError."""
    def edit(config):
        config["model"]["layers"][1]["config"]["dtype"] = dtype

    path = rewrite(saved[0], tmp_path / "dtype.safetensors", edit=edit)
    assert "dtype" in refused(path)


def _set(config, keys, value):
    node = config
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


@pytest.mark.parametrize("tensor, value, says", [
    ("layers.0.std", np.array([1, 1e-45, 1, 1], np.float32),
     "std must be large enough that 1/std is finite in float32"),
])
def test_a_std_whose_inverse_overflows_is_refused(saved, tmp_path, tensor, value, says):
    path = rewrite(saved[0], tmp_path / "m.safetensors", tensor=tensor, value=value)
    assert says in refused(path)


@pytest.mark.parametrize("keys, value", [
    (("model", "layers", 2, "config", "eps"), float("nan")),
    (("model", "layers", 2, "config", "eps"), float("inf")),
    (("model", "layers", 1, "config", "activation_kwargs"), {"alpha": float("nan")}),
])
def test_a_setting_of_nan_or_infinity_is_refused(saved, tmp_path, keys, value):
    path = rewrite(saved[0], tmp_path / "m.safetensors",
                   edit=lambda c: _set(c, keys, value))
    assert "the model config holds NaN or an infinite number" in refused(path)


def test_feature_names_must_name_every_input(saved, tmp_path):
    path = rewrite(saved[0], tmp_path / "m.safetensors",
                   edit=lambda c: _set(c, ("model", "feature_names"), ["a", "b"]))
    assert "feature_names lists 2 names, but the model takes 4 inputs" in refused(path)


@pytest.mark.parametrize("metadata, says", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"model": {"units": ' + "9" * 5000 + "}}", "Exceeds the limit"),
])
def test_deep_or_huge_metadata_is_a_model_file_error(saved, tmp_path, metadata, says):
    tensors, _ = _safetensors.load_tensors(saved[0])
    path = tmp_path / "m.safetensors"
    _safetensors.save_tensors(path, tensors, {"gradkit": metadata})
    assert says in refused(path)
