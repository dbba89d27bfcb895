"""Layer statistics: the notes' initialization experiments (001), measured and put in words."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.practice.layer_stats import layer_stats

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def batch():
    """Zero-mean, unit-variance inputs, as in the notes' experiment, and random labels."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(256, 512)).astype(np.float32), rng.integers(0, 10, 256)


def mlp(activation, init, *, depth=6, width=512, seed=0, optimizer=None):
    model = gk.Sequential([gk.layers.Dense(width, activation=activation, init=init)
                           for _ in range(depth)] + [gk.layers.Dense(10)])
    model.build((512,), seed=seed)
    model.compile(optimizer or gk.optim.Adam(1e-3), "cross_entropy")
    return model


def test_he_initialized_relu_is_quiet(batch):
    X, y = batch
    stats = layer_stats(mlp("relu", "he_normal"), X, y)
    assert stats.warnings == []
    assert [s.index for s in stats] == list(range(7))
    hidden = stats.layers[:-1]
    # He keeps the scale: E[h²] = 1 for unit-variance inputs, so std² + mean² ≈ 1 per layer
    for s in hidden:
        assert s.std ** 2 + s.mean ** 2 == pytest.approx(1.0, rel=0.2)
        assert s.dead < 0.1 and s.saturated is None
    assert stats[-1].activation is None and stats[-1].dead is None


def test_dead_layer_is_flagged(batch):
    X, y = batch
    model = mlp("relu", "he_normal", depth=4, width=128)
    model.layers[2].b.data[...] = -10.0          # no pre-activation gets above 0 now
    stats = layer_stats(model, X, y)
    assert [s.dead for s in stats.layers[:4]] == [0.0, 0.0, 1.0, 1.0]
    assert len(stats.warnings) == 1
    warning = stats.warnings[0]
    assert warning.startswith("layer 2 (Dense 128, relu): 100% of the ReLUs never fire on this "
                              "batch")
    assert "layer 3 (Dense 128, relu) after it get only zeros" in warning
    # nothing flows back through a dead layer
    assert stats[0].grad_norm == 0.0 and stats[1].grad_norm == 0.0


def test_saturated_tanh_is_flagged(batch):
    X, y = batch
    stats = layer_stats(mlp("tanh", {"name": "random_normal", "std": 0.2}), X, y)
    # the pre-activations have std ≈ 0.2·√512 ≈ 4.5: about half the outputs beyond ±0.99
    for s in stats.layers[:-1]:
        assert 0.4 < s.saturated < 0.7
    assert len(stats.warnings) == 1
    assert stats.warnings[0].startswith("layers 0, 1, 2, 3, 4, 5 (tanh): ")
    assert "of the tanh outputs are saturated (|h| > 0.99)" in stats.warnings[0]
    # the histogram of a tanh layer spans [-1, 1], most of its mass at the ends
    first = stats[0]
    assert (first.edges[0], first.edges[-1]) == (-1.0, 1.0)
    assert first.counts[[0, -1]].sum() > 0.4 * first.counts.sum()


def test_small_weights_shrink_the_activations(batch):
    X, _ = batch
    stats = layer_stats(mlp("tanh", {"name": "random_normal", "std": 0.01}), X)
    stds = [s.std for s in stats.layers[:-1]]
    assert all(b < a for a, b in zip(stds, stds[1:]))        # each layer smaller: ≈ ×0.23
    assert len(stats.warnings) == 1 and "shrunk towards zero" in stats.warnings[0]


def test_update_ratio_of_one_adam_step_is_undone(batch):
    X, y = batch
    model = mlp("relu", "he_normal", depth=2, width=64)
    model.optimizer.bind(model.parameters())
    before = model.get_weights()
    stats = layer_stats(model, X, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.optimizer.iterations == 0
    # Adam's first step moves every weight with a gradient by lr (m̂/√v̂ = ±1), so
    # ‖ΔW‖ / ‖W‖ = lr · √(entries) / ‖W‖
    for s, layer in zip(stats, [model.layers[0], model.layers[1], model.layers[2]]):
        expected = 1e-3 * np.sqrt(layer.W.data.size) / np.linalg.norm(layer.W.data)
        assert s.update_ratio == pytest.approx(expected, rel=0.01)
        assert s.weight_norm == pytest.approx(np.linalg.norm(layer.W.data), rel=1e-6)


def test_update_ratio_without_an_optimizer_is_lr_grad_over_weight(batch):
    X, y = batch
    model = mlp("relu", "he_normal", depth=1, width=32)
    model.optimizer = None
    stats = layer_stats(model, X, y, lr=0.1)
    for s in stats:
        assert s.update_ratio == pytest.approx(0.1 * s.grad_norm / s.weight_norm)
    too_fast = layer_stats(model, X, y, lr=1e3)
    assert any("the learning rate is too high" in w for w in too_fast.warnings)


def test_batchnorm_statistics_are_left_alone(batch, tmp_path):
    X, _ = batch
    model = gk.Sequential([gk.layers.Dense(64), gk.layers.BatchNorm(),
                           gk.layers.Activation("relu"), gk.layers.Dropout(0.5),
                           gk.layers.Dense(10)])
    model.build((512,), seed=0)
    running = [b.copy() for _, b in model.named_buffers()]
    stats = layer_stats(model, X)
    assert [s.name for s in stats] == ["Activation relu", "Dense 10"]
    # BatchNorm normalized with the batch: half the units' inputs are below zero
    assert stats[0].mean == pytest.approx(1 / np.sqrt(2 * np.pi), abs=0.02)
    assert all(np.array_equal(a, b) for a, (_, b) in zip(running, model.named_buffers()))
    assert model.training
    stats.plot(tmp_path / "stats.png")
    data = (tmp_path / "stats.png").read_bytes()
    assert data[:8] == PNG and len(data) > 1024
    assert "| layer 2 (Activation relu) | relu |" in stats.table()


def test_gradkits_figures_leave_the_users_matplotlib_backend_and_pyplot_alone(tmp_path):
    # A library that switched the backend (matplotlib.use("Agg", force=True)) would break a
    # notebook's inline figures; gradkit draws on Figure objects and never touches pyplot.
    import os
    import subprocess
    import sys

    code = """
import sys, numpy as np, matplotlib
import gradkit as gk
from gradkit.practice import plots
from gradkit.practice.layer_stats import layer_stats, plot_layer_stats
X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
model = gk.Sequential([gk.layers.Dense(8, activation="relu"), gk.layers.Dense(2)])
model.compile("adam", "cross_entropy", ["accuracy"])
history = model.fit(X, y, epochs=2, verbose=0, validation_split=0.2)
out = sys.argv[1]
plots.learning_curves(history, out + "/curves.png", metric="accuracy")
plots.confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], out + "/confusion.png")
plot_layer_stats(layer_stats(model, X), out + "/stats.png")
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, env={**os.environ, "MPLBACKEND": "svg"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "False"]
    for name in ("curves", "confusion", "stats"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
