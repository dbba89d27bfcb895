"""gk.save / gk.load: exact round trips, and a corpus of malicious files that load refuses.

Every refusal is a `gk.ModelFileError` naming the file and the problem; nothing in a file is
ever executed (a pickle's payload would create a marker file: it never appears).
"""

import copy
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import gradkit as gk
from gradkit import _safetensors

L = gk.layers

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def toy(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 6)) * [1, 2, 3, 4, 5, 6] + [0, 1, 2, 3, 4, 5]).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(np.int64) + (X[:, 2] > 2)
    return X, y


def trained_model(normalize="standardize", epochs=3):
    """Normalization, Dense, BatchNorm, PReLU, Dropout: every kind of saved state."""
    X, y = toy()
    norm = L.Normalization(mode=normalize, n_components=None if normalize == "standardize"
                           else 5)
    norm.adapt(X)
    model = gk.Sequential([norm, L.Dense(16, activation="tanh"), L.BatchNorm(), L.PReLU(),
                           L.Dropout(0.3), L.Dense(3)])
    model.compile(optimizer=gk.optim.Adam(1e-2), loss="cross_entropy", metrics=["accuracy"])
    model.fit(X, y, epochs=epochs, batch_size=32, seed=0, verbose=0)
    model.class_names = ["low", "mid", "high"]
    model.feature_names = [f"f{i}" for i in range(6)]
    return model, X


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(model, X, path of its file): one trained model saved for the corpus tests."""
    model, X = trained_model()
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    gk.save(model, path)
    return model, X, path


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("normalize", ["standardize", "pca", "whiten"])
def test_train_save_load_predicts_identically(tmp_path, normalize):
    model, X = trained_model(normalize)
    bn, prelu = model.layers[2], model.layers[3]
    # The saved state is non-trivial: moved running statistics, a learned slope.
    assert not np.allclose(bn.running_mean, 0) and not np.allclose(bn.running_var, 1)
    assert not np.allclose(prelu.alpha.data, 0.0)            # trained away from its start
    path = tmp_path / "model.safetensors"
    gk.save(model, path)
    loaded = gk.load(path)
    assert [type(layer).__name__ for layer in loaded.layers] == \
        ["Normalization", "Dense", "BatchNorm", "PReLU", "Dropout", "Dense"]
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert list(loaded.predict_classes(X)) == list(model.predict_classes(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert list(state) == list(loaded_state)
    for name in state:
        assert loaded_state[name].dtype == state[name].dtype
        assert np.array_equal(loaded_state[name], state[name]), name
    assert loaded.class_names == ["low", "mid", "high"]
    assert loaded.feature_names == [f"f{i}" for i in range(6)]
    assert loaded.layers[4].rate == 0.3 and loaded.layers[0].mode == normalize
    assert not loaded.training                           # ready to predict: Dropout is off


def test_saved_model_keeps_training_from_where_it_was(tmp_path, saved):
    model, X, path = saved
    loaded = gk.load(path)
    assert loaded.saved_config["model"] == json.loads(json.dumps(model.get_config()))
    assert loaded.saved_config["library"] == "gradkit"
    assert loaded.saved_config["library_version"] == gk.__version__
    loaded.compile(optimizer="adam", loss="cross_entropy")
    _, y = toy()
    loaded.fit(X, y, epochs=1, batch_size=32, seed=0, verbose=0)
    assert not np.array_equal(loaded.predict(X), model.predict(X))


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, saved):
    model, _, _ = saved
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    gk.save(model, path)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert gk.load(path).predict is not None


def test_extra_information_round_trips(tmp_path, saved):
    model, _, _ = saved
    gk.save(model, tmp_path / "m.safetensors", extra={"run": {"lr": 0.01}, "note": "ok"})
    assert gk.load(tmp_path / "m.safetensors").saved_config["extra"] == \
        {"run": {"lr": 0.01}, "note": "ok"}


def test_save_needs_a_built_model(tmp_path):
    with pytest.raises(ValueError, match="needs a built model"):
        gk.save(gk.Sequential([L.Dense(2)]), tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == []


def test_float64_model_round_trips(tmp_path):
    model = gk.Sequential([L.Dense(4, activation="relu", dtype=np.float64),
                           L.Dense(2, dtype=np.float64)])
    model.build((3,), np.random.default_rng(0))
    gk.save(model, tmp_path / "m.safetensors")
    loaded = gk.load(tmp_path / "m.safetensors")
    X = np.random.default_rng(1).normal(size=(5, 3))
    assert loaded.layers[0].W.data.dtype == np.float64
    assert np.array_equal(loaded.predict(X), model.predict(X))


# --------------------------------------------------------------------------- the corpus

MARKER = "pwned.txt"


class Payload:
    """Unpickling this would create the marker file: proof that a loader ran the pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The cwd for a corpus test; afterwards, the marker must not exist anywhere we look."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / MARKER).exists()


def refuse(path, *pieces):
    """gk.load(path) raises ModelFileError naming the file and holding every piece."""
    with pytest.raises(gk.ModelFileError) as info:
        gk.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for piece in pieces:
        assert piece in message, message
    return message


def edited(saved_path, out, edit=None, tensors=None):
    """A copy of a real model file with its JSON config edited by `edit(config)`, re-written
    with gradkit's own safetensors writer (so only the edit is wrong)."""
    real_tensors, metadata = _safetensors.load_tensors(saved_path)
    config = json.loads(metadata["gradkit"])
    if edit is not None:
        edit(config)
    _safetensors.save_tensors(out, real_tensors if tensors is None else tensors,
                              {"gradkit": json.dumps(config)})
    return out


def layer(config, i):
    return config["model"]["layers"][i]["config"]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_with_a_payload_is_refused_unexecuted(folder, protocol):
    data = pickle.dumps(Payload(folder / MARKER), protocol=protocol)   # never unpickled here
    (folder / "model.safetensors").write_bytes(data)
    message = refuse("model.safetensors")
    if protocol >= 2:
        assert "is a pickle/PyTorch file, which gradkit never loads" in message
    else:                                     # no signature: its first bytes read as a length
        assert "header length" in message and "exceeds the limit" in message
    # and through the command line too
    from click.testing import CliRunner

    from gradkit.cli import cli
    result = CliRunner().invoke(cli, ["export", "model.safetensors", "--onnx", "m.onnx"])
    assert result.exit_code == 2 and result.stderr.startswith("error: model.safetensors: ")
    assert not (folder / "m.onnx").exists()


def test_pytorch_zip_with_a_pickle_inside_is_refused(folder):
    with zipfile.ZipFile(folder / "model.safetensors", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Payload(folder / MARKER), protocol=2))
    refuse("model.safetensors", "pickle/PyTorch file", "zip archive")


@pytest.mark.parametrize("keep, pieces", [
    (lambda n: n - 16, ["data_offsets", "out of range", "(file truncated?)"]),
    (lambda n: n - 1, ["(file truncated?)"]),
    (lambda n: 300, ["header length", "is larger than the rest of the file"]),
    (lambda n: 8, ["header length", "is larger than the rest of the file (0 bytes)"]),
    (lambda n: 5, ["file is 5 bytes, shorter than the 8-byte safetensors header length"]),
    (lambda n: 0, ["file is empty"]),
])
def test_truncated_model_file(folder, saved, keep, pieces):
    data = saved[2].read_bytes()
    (folder / "cut.safetensors").write_bytes(data[:keep(len(data))])
    refuse("cut.safetensors", *pieces)


def test_header_claiming_10_gb(folder):
    ten_gb = 10 * 1024 ** 3
    (folder / "big.safetensors").write_bytes(struct.pack("<Q", ten_gb) + b'{"a": 1}')
    refuse("big.safetensors", f"header length {ten_gb} bytes exceeds the limit of "
                              f"{_safetensors.MAX_HEADER_BYTES} bytes")


def test_tensor_claiming_10_gb(folder):
    header = {"W": {"dtype": "F32", "shape": [50_000, 50_000], "data_offsets": [0, 16]}}
    head = json.dumps(header).encode()
    (folder / "big.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 16)
    refuse("big.safetensors", "tensor 'W'", "span 16 bytes", "needs 10000000000")


def test_overlapping_offsets(folder):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
              "__metadata__": {"gradkit": "{}"}}
    head = json.dumps(header).encode()
    (folder / "overlap.safetensors").write_bytes(struct.pack("<Q", len(head)) + head
                                                 + b"\0" * 12)
    refuse("overlap.safetensors", "tensors 'a' and 'b' overlap (bytes [0, 8) and [4, 12))")


def test_offsets_of_a_real_file_made_to_overlap(folder, saved):
    data = saved[2].read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    names = sorted(k for k in header if k != "__metadata__")
    first, second = header[names[0]], header[names[1]]
    shift = second["data_offsets"][0] - 4       # slide the second tensor back onto the first
    second["data_offsets"] = [o - shift for o in second["data_offsets"]]
    head = json.dumps(header).encode()
    buffer = data[8 + n:]
    (folder / "overlap.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + buffer)
    assert first["data_offsets"][1] > second["data_offsets"][0]
    with pytest.raises(gk.ModelFileError, match=r"overlap|gap|trailing"):
        gk.load("overlap.safetensors")


@pytest.mark.parametrize("class_name", ["Lambda", "os.system", "__builtins__", "Sequential",
                                        "Module", ""])
def test_unknown_layer_type(folder, saved, class_name):
    def edit(config):
        config["model"]["layers"][1]["class_name"] = class_name
    edited(saved[2], "evil.safetensors", edit)
    refuse("evil.safetensors", "cannot build the model from its config",
           f"unknown layer type {class_name!r}; known: [")


@pytest.mark.parametrize("edit, pieces", [
    (lambda c: layer(c, 1).update(units=-3), ["units must be a positive integer, got units=-3"]),
    (lambda c: layer(c, 1).update(units="16"), ["units must be a positive integer"]),
    (lambda c: layer(c, 1).update(evil=1), ["unexpected keyword argument 'evil'"]),
    (lambda c: layer(c, 1).update(activation="__import__"), ["unknown activation '__import__'"]),
    (lambda c: layer(c, 1).update(init={"name": "os.system"}),
     ["unknown initializer 'os.system'"]),
    (lambda c: layer(c, 1).update(dtype="object"),
     ["layer 1 (Dense) has dtype object, expected float32 or float64"]),
    (lambda c: layer(c, 1).update(activation_kwargs={"x": 1}),
     ["the model in the file cannot run: TypeError"]),
    (lambda c: layer(c, 2).update(momentum="x"), ["momentum"]),
    (lambda c: layer(c, 4).update(rate=2), ["rate must be a probability in [0, 1), got rate=2"]),
    (lambda c: layer(c, 0).update(mode="eval"), ["mode must be one of"]),
    (lambda c: c["model"].update(loss={"name": "evil"}), ["unknown loss 'evil'"]),
    (lambda c: c["model"].update(input_shape=["a"]), ["cannot build the model"]),
    (lambda c: c["model"].update(input_shape=None), ["the config has no input_shape"]),
    (lambda c: c["model"].update(layers=[]), ["the config lists no layers"]),
    (lambda c: c["model"]["layers"].__setitem__(1, [1]),
     ["layer 1 is not a {class_name, config} object"]),
    (lambda c: c["model"].update(class_names=5), ["class_names must be a list of strings"]),
    (lambda c: c.update(format_version=99),
     ["model format version 99, this gradkit reads versions 1 to 4"]),
    (lambda c: c.pop("model"), ["not a JSON object with a 'model' entry"]),
])
def test_layer_config_with_a_bad_argument(folder, saved, edit, pieces):
    edited(saved[2], "evil.safetensors", edit)
    refuse("evil.safetensors", *pieces)


def test_config_that_is_not_json(folder, saved):
    tensors, _ = _safetensors.load_tensors(saved[2])
    _safetensors.save_tensors("evil.safetensors", tensors, {"gradkit": "{'model': None}"})
    refuse("evil.safetensors", "the model config is not valid JSON")


def test_weights_whose_shapes_disagree_with_the_config(folder, saved):
    tensors, _ = _safetensors.load_tensors(saved[2])
    tensors["layers.1.W"] = np.zeros((6, 17), np.float32)
    edited(saved[2], "evil.safetensors", tensors=tensors)
    refuse("evil.safetensors", "weight 'layers.1.W' has shape (6, 17), the config needs (6, 16)")


def test_config_whose_sizes_disagree_with_the_weights(folder, saved):
    edited(saved[2], "evil.safetensors", lambda c: layer(c, 1).update(units=10))
    refuse("evil.safetensors", "weight 'layers.1.W' has shape (6, 16), the config needs (6, 10)")


def test_weights_missing_or_extra(folder, saved):
    tensors, _ = _safetensors.load_tensors(saved[2])
    del tensors["layers.5.b"]
    tensors["layers.9.evil"] = np.zeros(3, np.float32)
    edited(saved[2], "evil.safetensors", tensors=tensors)
    refuse("evil.safetensors", "weights do not match the config: missing ['layers.5.b'], "
                               "unexpected ['layers.9.evil']")


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_non_finite_weights(folder, saved, bad):
    tensors, _ = _safetensors.load_tensors(saved[2])
    dtype = np.float64 if bad == 1e300 else np.float32     # 1e300 overflows float32
    tensors["layers.1.W"] = np.full((6, 16), bad, dtype)
    edited(saved[2], "evil.safetensors", tensors=tensors)
    refuse("evil.safetensors", "weight 'layers.1.W' holds NaN or infinite values")


def test_valid_safetensors_without_gradkit_metadata(folder):
    from safetensors.numpy import save_file

    save_file({"W": np.ones((2, 2), np.float32)}, "plain.safetensors")
    refuse("plain.safetensors", "not a gradkit model file (no 'gradkit' entry in its metadata)")
    save_file({"W": np.ones((2, 2), np.float32)}, "other.safetensors",
              metadata={"format": "pt"})
    refuse("other.safetensors", "not a gradkit model file")


def test_other_files_named_like_models(folder):
    np.save("weights.npy", np.ones(3))
    os.rename("weights.npy", "weights.safetensors")
    refuse("weights.safetensors", "is a NumPy .npy file, not a safetensors file")
    os.mkdir("dir.safetensors")
    refuse("dir.safetensors", "is a directory")
    refuse("missing.safetensors", "file not found")


def test_refused_file_leaves_everything_as_it_was(folder, saved):
    edited(saved[2], "evil.safetensors", lambda c: layer(c, 1).update(units=-1))
    before = {p: (folder / p).read_bytes() for p in os.listdir(folder)}
    with pytest.raises(gk.ModelFileError):
        gk.load("evil.safetensors")
    assert {p: (folder / p).read_bytes() for p in os.listdir(folder)} == before


def test_corpus_edits_do_not_touch_the_real_file(saved):
    # The corpus edits copies; the original still loads and predicts as saved.
    model, X, path = saved
    assert np.array_equal(gk.load(path).predict(X), model.predict(X))
    config = copy.deepcopy(gk.load(path).saved_config)
    assert config["format_version"] == 4


def test_a_config_asking_for_huge_layers_is_refused_before_allocating(tmp_path):
    import json

    from gradkit import _safetensors

    model = gk.Sequential([gk.layers.Dense(4, activation="relu"), gk.layers.Dense(2)])
    model.build((3,), seed=0)
    path = tmp_path / "model.safetensors"
    gk.save(model, path)
    tensors, meta = _safetensors.load_tensors(path)
    config = json.loads(meta["gradkit"])
    config["model"]["layers"][0]["config"]["units"] = 10 ** 12     # ~4 TB of float32
    _safetensors.save_tensors(path, tensors, {"gradkit": json.dumps(config)})
    with pytest.raises(gk.ModelFileError, match=r"need 4,000,000,000,000 weights, but the "
                                                r"file holds only 26"):
        gk.load(path)


def test_a_version_1_file_keeps_its_leaky_relu_slope_of_0_1(tmp_path):
    # Version 1 wrote "leaky_relu" without a slope when it was the default, 0.1; the default
    # is Keras's 0.2 now, and an old file must still predict what it predicted.
    from gradkit._model_format import CONFIG_KEY

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)).astype(np.float32)
    model = gk.Sequential([gk.layers.Dense(5, activation="leaky_relu"),
                           gk.layers.Dense(4), gk.layers.Activation("leaky_relu")])
    model.build((3,), seed=0)
    path = tmp_path / "old.safetensors"
    gk.save(model, path)
    tensors, metadata = _safetensors.load_tensors(path)
    config = json.loads(metadata[CONFIG_KEY])
    config["format_version"] = 1
    _safetensors.save_tensors(path, tensors, {**metadata, CONFIG_KEY: json.dumps(config)})
    notes = gk.Sequential([gk.layers.Dense(5, activation="leaky_relu",
                                           activation_kwargs={"alpha": 0.1}),
                           gk.layers.Dense(4), gk.layers.Activation("leaky_relu", alpha=0.1)])
    notes.build((3,), seed=0)
    notes.set_weights(model.get_weights())
    assert np.array_equal(gk.load(path).predict(X), notes.predict(X))
    assert not np.array_equal(model.predict(X), notes.predict(X))


def test_saving_a_state_dict_by_torch_habit_says_to_pass_the_model(tmp_path):
    model = gk.Sequential([gk.layers.Dense(3, input_shape=(4,))])
    with pytest.raises(TypeError, match=r"got a dict \(a state_dict\?\): pass the model itself"):
        gk.save(model.state_dict(), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_version_2_file_keeps_its_adagrad_with_eps_outside_the_root(tmp_path):
    # Version 2 wrote Adagrad without eps_inside_sqrt when ε went outside; made without
    # parameters it is Keras's now (inside), and an old file must go on as it trained.
    from gradkit._model_format import CONFIG_KEY

    model = gk.Sequential([gk.layers.Dense(2)])
    model.build((3,), seed=0)
    model.compile(optimizer=gk.optim.Adagrad(0.1, eps=1e-8, initial_accumulator=0.0,
                                             eps_inside_sqrt=False), loss="mse")
    path = tmp_path / "old.safetensors"
    model.save(path)
    tensors, metadata = _safetensors.load_tensors(path)
    config = json.loads(metadata[CONFIG_KEY])
    assert config["model"]["compile"]["optimizer"].pop("eps_inside_sqrt") is False
    config["format_version"] = 2
    _safetensors.save_tensors(path, tensors, {**metadata, CONFIG_KEY: json.dumps(config)})
    assert gk.load(path).optimizer.eps_inside_sqrt is False
    config["format_version"] = 3            # the same config, read as a later version's
    _safetensors.save_tensors(path, tensors, {**metadata, CONFIG_KEY: json.dumps(config)})
    assert gk.load(path).optimizer.eps_inside_sqrt is True


def test_a_version_3_file_keeps_its_global_clipnorm_and_pytorchs_sgd_weight_decay(tmp_path):
    # Version 3 wrote "clipnorm" for the global norm (global_clipnorm now) and SGD's
    # weight_decay when it was always added to the gradient (made without parameters it is
    # Keras's decoupled decay now): an old file must go on as it trained.
    from gradkit._model_format import CONFIG_KEY

    model = gk.Sequential([gk.layers.Dense(2)])
    model.build((3,), seed=0)
    model.compile(optimizer=gk.optim.SGD(0.1, momentum=0.9, weight_decay=0.01,
                                         decoupled_weight_decay=False, global_clipnorm=1.0),
                  loss="mse")
    path = tmp_path / "old.safetensors"
    model.save(path)
    tensors, metadata = _safetensors.load_tensors(path)
    config = json.loads(metadata[CONFIG_KEY])
    saved = config["model"]["compile"]["optimizer"]
    assert saved.pop("decoupled_weight_decay") is False
    saved["clipnorm"] = saved.pop("global_clipnorm")
    config["format_version"] = 3
    _safetensors.save_tensors(path, tensors, {**metadata, CONFIG_KEY: json.dumps(config)})
    loaded = gk.load(path).optimizer
    assert loaded.decoupled_weight_decay is False and loaded.weight_decay == 0.01
    assert loaded.global_clipnorm == 1.0 and loaded.clipnorm is None
    config["format_version"] = 4            # the same config, read as this version's
    _safetensors.save_tensors(path, tensors, {**metadata, CONFIG_KEY: json.dumps(config)})
    loaded = gk.load(path).optimizer
    assert loaded.decoupled_weight_decay is True and loaded.clipnorm == 1.0
