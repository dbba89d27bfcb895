"""Linear regions of ReLU networks: the notes' hyperplane numbers (004), and measured counts."""

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.practice.regions import (activation_patterns, count_regions,
                                      plot_decision_boundary, upper_bound)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("s, d, pieces", [
    (10, 2, 56),            # "10 cuts in 2d => 56 pieces"
    (40, 2, 821),           # "40 cuts in 2d => 821"
    (10, 10, 1024),         # "10 cuts in 10d => 1024"
    (40, 10, 1221246132),   # "40 cuts in 10d => 1221246132": 40 ReLUs on 10 inputs
])
def test_the_notes_numbers(s, d, pieces):
    assert upper_bound(s, d) == pieces
    assert upper_bound([s], d) == pieces                  # one layer of s units


def test_bound_formula_and_deep_layers():
    # s lines in the plane: 1 + s + C(s, 2); in d >= s dimensions every cell exists: 2^s
    for s in range(8):
        assert upper_bound(s, 2) == 1 + s + math.comb(s, 2)
        assert upper_bound(s, s + 3) == 2 ** s
    # Serra et al.'s bound for two layers of 10 in the plane: 56 · 56 (j ≤ 2 always fits)
    assert upper_bound([10, 10], 2) == 56 * 56
    assert upper_bound([10, 10], 2) > upper_bound(20, 2) == 211
    # a 1-unit bottleneck: where h = 0 nothing varies (1 piece); where h > 0 the second layer
    # sees one number, which 5 thresholds cut into at most 6 pieces
    assert upper_bound([1, 5], 2) == 1 + 6
    with pytest.raises(ValueError, match="units"):
        upper_bound([], 2)
    with pytest.raises(ValueError, match="d must"):
        upper_bound(3, -1)


def test_count_three_lines():
    # x = 0, y = 0 and x + y = 0.5: the third line cuts 3 of the 4 quadrants: 7 = 1 + 3 + 3
    model = gk.Sequential([gk.layers.Dense(3, activation="relu"), gk.layers.Dense(1)])
    model.build((2,), seed=0)
    model.layers[0].W.data[...] = [[1, 0, 1], [0, 1, 1]]
    model.layers[0].b.data[...] = [0, 0, -0.5]
    assert count_regions(model, (-1, 1), 200) == 7 == upper_bound(3, 2)
    # a window that only the first two lines cross sees 4 quadrants
    assert count_regions(model, (-0.2, 0.2), 50) == 4
    assert activation_patterns(model, np.array([[1.0, 1.0], [-1.0, -1.0]])).tolist() == \
        [[True, True, True], [False, False, False]]


def kinks_in_window(hidden, seed, window=1.0):
    """He-normal weights (seeded); each unit's bias puts its kink at a random quantile
    (25%-75%) of its pre-activation over the window, so every unit cuts the window."""
    rng = np.random.default_rng(seed)
    model = gk.Sequential([gk.layers.Dense(h, activation="relu", init="he_normal")
                           for h in hidden] + [gk.layers.Dense(1)])
    model.build((2,), rng)
    g = np.linspace(-window, window, 101)
    h = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)
    for layer in model.layers[:-1]:
        z = h @ layer.W.data
        q = rng.uniform(0.25, 0.75, layer.units)
        layer.b.data[...] = [-np.quantile(z[:, k], q[k]) for k in range(layer.units)]
        h = np.maximum(z + layer.b.data, 0)
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_network_has_more_regions_than_shallow(seed):
    # The notes' "deep is better than large" (Montúfar et al.): 2 x 10 ReLUs against 20.
    deep = count_regions(kinks_in_window([10, 10], seed), (-1, 1), 400)
    shallow = count_regions(kinks_in_window([20], seed), (-1, 1), 400)
    assert shallow <= upper_bound(20, 2) == 211
    assert deep <= upper_bound([10, 10], 2)
    assert deep > shallow, (deep, shallow)


def test_decision_boundary_plot(tmp_path):
    ds = gk.data.load("xor")
    model = gk.Sequential([gk.layers.Dense(16, activation="relu"), gk.layers.Dense(2)])
    model.compile(gk.optim.Adam(0.02), "cross_entropy", ["accuracy"])
    with np.errstate(all="raise"):
        model.fit(ds.X, ds.y, epochs=30, batch_size=32, seed=0, verbose=0)
    plot_decision_boundary(model, ds.X, ds.y, tmp_path / "boundary.png", regions=True)
    data = (tmp_path / "boundary.png").read_bytes()
    assert data[:8] == PNG and len(data) > 1024
    with pytest.raises(ValueError, match="2-D inputs"):
        plot_decision_boundary(model, np.zeros((3, 3)), [0, 1, 0], tmp_path / "x.png")
