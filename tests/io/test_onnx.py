"""ONNX export: onnxruntime computes what `model.predict` computes, to 1e-5."""

import os

import numpy as np
import pytest

import gradkit as gk
from gradkit.io.onnx_export import to_onnx
from gradkit.nn.module import Layer

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

L = gk.layers

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 8)) * np.arange(1, 9) + np.arange(8)).astype(np.float32)
    X[:, 7] = X[:, 0] * 0.5 + X[:, 1]               # correlated: whitening has work to do
    y = ((X[:, 0] + X[:, 1]) > 1).astype(np.int64) + (X[:, 2] > 2)
    return X, y


def run_onnx(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    return session.run(None, {"input": X})[0]


def every_layer_model(normalize, X, y):
    norm = L.Normalization(mode=normalize,
                           n_components=None if normalize == "standardize" else 6)
    norm.adapt(X)
    model = gk.Sequential([
        norm,
        L.Dense(16, activation="relu", init="he_normal"),
        L.BatchNorm(),
        L.Activation("tanh"),
        L.Dropout(0.2),
        L.Dense(12, activation="sigmoid"),
        L.Dense(12, activation="elu"),
        L.Dense(12, activation="leaky_relu", activation_kwargs={"alpha": 0.2}),
        L.Dense(12, activation="gelu"),
        L.Dense(12, activation="silu"),
        L.Dense(12, activation="softplus"),
        L.BatchNorm(),
        L.PReLU(),
        L.Activation("leaky_relu"),
        L.Dense(12),
        L.Activation("elu", alpha=0.5),
        L.Dense(12, activation="rbf", activation_kwargs={"gamma": 0.5}),
        L.Dense(3),
    ])
    model.compile(optimizer=gk.optim.Adam(1e-2), loss="cross_entropy")
    model.fit(X, y, epochs=3, batch_size=32, seed=0, verbose=0)
    return model


@pytest.mark.parametrize("normalize", ["standardize", "whiten", "pca", "random_projection"])
def test_onnxruntime_matches_predict(tmp_path, normalize):
    X, y = data()
    model = every_layer_model(normalize, X, y)
    for bn in (model.layers[2], model.layers[11]):     # trained: non-trivial statistics
        assert not np.allclose(bn.running_mean, 0, atol=1e-2)
        assert not np.allclose(bn.running_var, 1, atol=1e-2)
        assert not np.allclose(bn.gamma.data, 1) and not np.allclose(bn.beta.data, 0)
    path = tmp_path / "model.onnx"
    gk.io.export_onnx(model, path)
    X_new, _ = data(50, seed=1)
    expected = model.predict(X_new)
    got = run_onnx(path, X_new)
    assert got.shape == expected.shape == (50, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Inference mode: Dropout is the identity, BatchNorm uses its running statistics; a batch
    # of one gives the same numbers as the whole batch.
    np.testing.assert_allclose(run_onnx(path, X_new[:1]), expected[:1], rtol=1e-5, atol=1e-5)


def test_softmax_output_and_capitalised_names(tmp_path):
    X, y = data(60)
    model = gk.Sequential([L.Dense(8, activation="ReLU"), L.Dense(3),
                           L.Activation("softmax")])
    model.build((8,), np.random.default_rng(0))
    gk.io.export_onnx(model, tmp_path / "m.onnx")
    got = run_onnx(tmp_path / "m.onnx", X)
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_dense_without_bias_dropconnect_and_flatten(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4, 3)).astype(np.float32)
    model = gk.Sequential([L.Flatten(), L.Dense(8, activation="tanh", use_bias=False),
                           L.DropConnect(6, 0.3, activation="relu"), L.Dense(2)])
    model.build((4, 3), rng)
    gk.io.export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", X), model.predict(X),
                               rtol=1e-5, atol=1e-6)


def test_dense_and_batchnorm_on_the_last_axis_of_3d_inputs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5, 4)).astype(np.float32)
    model = gk.Sequential([L.Dense(6, activation="relu"), L.BatchNorm(), L.Dense(2)])
    model.build((5, 4), rng)
    bn = model.layers[1]
    bn.running_mean[...] = rng.normal(size=6)
    bn.running_var[...] = rng.uniform(0.5, 2.0, size=6)
    model.eval()
    gk.io.export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", X), model.predict(X),
                               rtol=1e-5, atol=1e-6)


def test_exported_graph_is_valid_onnx_with_a_dynamic_batch(tmp_path):
    X, y = data(60)
    model = every_layer_model("standardize", X, y)
    proto = to_onnx(model)
    onnx.checker.check_model(proto)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [8]
    assert proto.producer_name == "gradkit"
    gk.io.export_onnx(model, tmp_path / "m.onnx")
    assert onnx.load(str(tmp_path / "m.onnx")) == proto
    for n in (1, 7, 60):
        assert run_onnx(tmp_path / "m.onnx", X[:n]).shape == (n, 3)


def test_exported_file_equals_loaded_model(tmp_path):
    X, y = data()
    model = every_layer_model("whiten", X, y)
    gk.save(model, tmp_path / "m.safetensors")
    loaded = gk.load(tmp_path / "m.safetensors")
    gk.io.export_onnx(loaded, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", X), model.predict(X),
                               rtol=1e-5, atol=1e-5)


class Square(Layer):
    """A layer of the user's own, which the exporter does not know."""

    def forward(self, x):
        return x * x


def test_unsupported_layer_is_a_clear_error_and_writes_nothing(tmp_path):
    model = gk.Sequential([L.Dense(4), Square(), L.Dense(2)])
    model.build((3,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^layer Square has no ONNX export \(supported: Dense"):
        gk.io.export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_unsupported_activation_is_a_clear_error(tmp_path):
    model = gk.Sequential([L.Dense(4, activation=lambda x: x * 2.0)])
    model.build((3,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"activation '<lambda>' has no ONNX export"):
        gk.io.export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="export needs a built"):
        gk.io.export_onnx(gk.Sequential([L.Dense(2)]), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []
