"""Property tests of the model file and checkpoint readers (issue 17): mutated bytes and
mutated configs give a model that predicts finite numbers, or gradkit's own error, never
another exception, within a time bound."""

import copy
import json
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradkit as gk
from gradkit import _safetensors
from gradkit.errors import GradkitError, ModelFileError
from gradkit.train import checkpoint

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
SECONDS = 5.0
L = gk.layers


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """(file bytes, tensors, config) of a small trained model with every kind of state."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(X)
    model = gk.Sequential([norm, L.Dense(4, activation="tanh"), L.BatchNorm(), L.PReLU(),
                           L.Dropout(0.2), L.Dense(2)])
    model.compile("adam", "cross_entropy")
    model.fit(X, (X[:, 0] > 0).astype(np.int64), epochs=1, seed=0, verbose=0)
    model.class_names = ["no", "yes"]
    path = tmp_path_factory.mktemp("seed") / "m.safetensors"
    gk.save(model, path)
    tensors, metadata = _safetensors.load_tensors(path)
    return path.read_bytes(), tensors, json.loads(metadata["gradkit"])


def loads_or_refuses(path):
    start = time.monotonic()
    try:
        model = gk.load(path)
    except ModelFileError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path)), str(err)
    else:
        out = model.predict(np.zeros((3, *model.input_shape), np.float32))
        assert np.isfinite(out).all()
        names = model.class_names
        assert names is None or len(names) in (out.shape[-1], 2)
    assert time.monotonic() - start < SECONDS


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
                 min_size=1, max_size=6)


def overwrite(data, edits):
    out = bytearray(data)
    for at, piece in edits:
        at %= len(out)
        out[at:at + len(piece)] = piece
    return bytes(out)


@SETTINGS
@given(edits=EDITS)
def test_model_file_with_bytes_overwritten(tmp_path, seed, edits):
    path = tmp_path / "m.safetensors"
    path.write_bytes(overwrite(seed[0], edits))
    loads_or_refuses(path)


@SETTINGS
@given(data=st.binary(max_size=600))
def test_model_file_of_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    loads_or_refuses(path)


# Values a hand edit (or an attacker) might put anywhere in a config.
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 10**12),
                   st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from(["", "relu", "multilabel", "Dense", "os.system", "float16",
                                    "object", "standardize", "pca", "x" * 1000]),
                   st.lists(st.integers(-1, 10**6), max_size=3), st.just({}))


def _places(config):
    """Every (container, key) in the config's JSON tree."""
    found = []
    stack = [config]
    while stack:
        node = stack.pop()
        keys = node.keys() if isinstance(node, dict) else range(len(node))
        for key in keys:
            found.append((node, key))
            if isinstance(node[key], (dict, list)):
                stack.append(node[key])
    return found


@SETTINGS
@given(data=st.data())
def test_model_config_with_values_replaced(tmp_path, seed, data):
    config = copy.deepcopy(seed[2])
    for _ in range(data.draw(st.integers(1, 3))):
        places = _places(config)
        node, key = places[data.draw(st.integers(0, len(places) - 1))]
        node[key] = data.draw(VALUES)
    path = tmp_path / "m.safetensors"
    _safetensors.save_tensors(path, seed[1], {"gradkit": json.dumps(config)})
    loads_or_refuses(path)


@SETTINGS
@given(data=st.data())
def test_model_tensors_with_values_replaced(tmp_path, seed, data):
    tensors = dict(seed[1])
    name = data.draw(st.sampled_from(sorted(tensors)))
    value = data.draw(st.sampled_from([np.nan, np.inf, -1.0, 0.0, 1e38, -1e-45, 3]))
    dtype = data.draw(st.sampled_from(["float32", "float64", "float16", "int64", "int8",
                                       "uint8", "bool", "complex64"]))
    shape = data.draw(st.sampled_from([tensors[name].shape, (), (1,), (7, 7)]))
    with np.errstate(all="ignore"):
        tensors[name] = np.full(shape, value).astype(dtype)
    path = tmp_path / "m.safetensors"
    _safetensors.save_tensors(path, tensors, {"gradkit": json.dumps(seed[2])})
    loads_or_refuses(path)


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def ckpt_seed(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ckpt")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    model = gk.Sequential([L.Dense(4, activation="relu"), L.Dropout(0.1), L.Dense(2)])
    model.compile("adam", "cross_entropy", ["accuracy"])
    model.fit(X, (X[:, 0] > 0).astype(np.int64), epochs=1, batch_size=8, seed=0, verbose=0,
              checkpoint_dir=directory, checkpoint_every=2,
              callbacks=[gk.callbacks.EarlyStopping("loss", patience=3)])
    path = checkpoint.list_checkpoints(directory)[0]
    tensors, metadata = _safetensors.load_tensors(path)
    return X, tensors, json.loads(metadata["gradkit_checkpoint"])


def resumes_or_refuses(tmp_path, X, tensors, meta):
    path = tmp_path / "ckpt-000000001.safetensors"
    _safetensors.save_tensors(path, tensors, {"gradkit_checkpoint": json.dumps(meta)})
    model = gk.Sequential([L.Dense(4, activation="relu"), L.Dropout(0.1), L.Dense(2)])
    model.compile("adam", "cross_entropy", ["accuracy"])
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the fallback's warning
        try:
            model.fit(X, (X[:, 0] > 0).astype(np.int64), epochs=2, batch_size=8, seed=0,
                      verbose=0, resume_from=path,
                      callbacks=[gk.callbacks.EarlyStopping("loss", patience=3)])
        except GradkitError as err:
            assert "\n" not in str(err), str(err)
    assert time.monotonic() - start < SECONDS


@SETTINGS
@given(data=st.data())
def test_checkpoint_with_meta_values_replaced(tmp_path, ckpt_seed, data):
    X, tensors, meta = ckpt_seed
    meta = copy.deepcopy(meta)
    for _ in range(data.draw(st.integers(1, 2))):
        places = _places(meta)
        node, key = places[data.draw(st.integers(0, len(places) - 1))]
        node[key] = data.draw(VALUES)
    resumes_or_refuses(tmp_path, X, tensors, meta)


@SETTINGS
@given(data=st.data())
def test_checkpoint_with_tensors_replaced_or_dropped(tmp_path, ckpt_seed, data):
    X, tensors, meta = ckpt_seed
    tensors = dict(tensors)
    name = data.draw(st.sampled_from(sorted(tensors)))
    if data.draw(st.booleans()):
        del tensors[name]
    else:
        tensors[name] = np.full(data.draw(st.sampled_from([(), (3,), (100,)])),
                                data.draw(st.sampled_from([np.nan, -1, 0, 10**6])))
    resumes_or_refuses(tmp_path, X, tensors, meta)
