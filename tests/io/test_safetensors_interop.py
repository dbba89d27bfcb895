"""Files gradkit writes open in the reference `safetensors` library, and the other way round.

The format's promise is interchange: gradkit reads and writes safetensors itself (so that its
reader can check every byte first), and these tests hold it to the reference implementation.
"""

import json

import numpy as np
import pytest

import gradkit as gk
from gradkit import _safetensors

st_numpy = pytest.importorskip("safetensors.numpy", reason="the reference safetensors library "
                               "(a test dependency) is needed to compare with it")
safe_open = pytest.importorskip("safetensors").safe_open


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "w32": rng.standard_normal((3, 4)).astype(np.float32),
        "w64": rng.standard_normal(5),
        "f16": rng.standard_normal((2, 2)).astype(np.float16),
        "i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "u8": np.array([0, 7, 255], dtype=np.uint8),
        "flag": np.array([True, False]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def test_gradkit_files_open_in_the_reference_library(tmp_path):
    path = str(tmp_path / "g.safetensors")
    _safetensors.save_tensors(path, _arrays(), {"note": "written by gradkit"})
    _same(st_numpy.load_file(path), _arrays())
    with safe_open(path, framework="np") as f:
        assert f.metadata() == {"note": "written by gradkit"}


def test_reference_files_load_in_gradkit(tmp_path):
    path = str(tmp_path / "r.safetensors")
    st_numpy.save_file(_arrays(), path, metadata={"note": "written by safetensors"})
    tensors, metadata = _safetensors.load_tensors(path)
    _same(tensors, _arrays())
    assert metadata == {"note": "written by safetensors"}


def _model():
    model = gk.Sequential([gk.layers.Dense(4, activation="relu"), gk.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="cross_entropy")
    model.build((5,), seed=0)
    return model


def test_a_model_file_round_trips_through_the_reference_library(tmp_path):
    model, x = _model(), np.random.default_rng(1).standard_normal((2, 5)).astype(np.float32)
    saved = str(tmp_path / "model.safetensors")
    gk.save(model, saved)
    weights = st_numpy.load_file(saved)
    with safe_open(saved, framework="np") as f:
        metadata = f.metadata()
    assert json.loads(metadata["gradkit"])["model"]["layers"][0]["class_name"] == "Dense"

    rewritten = str(tmp_path / "rewritten.safetensors")
    st_numpy.save_file(weights, rewritten, metadata=metadata)
    again = gk.load(rewritten)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
