"""Weight penalties: values, gradients, names, and the Dense layer's penalty()."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import layers as L
from gradkit.nn import regularizers

W = np.array([[0.5, -1.0], [2.0, -0.25]])


def test_penalty_values():
    w = gk.tensor(W, dtype=np.float64)
    assert regularizers.l1(0.1)(w).item() == pytest.approx(0.1 * 3.75)
    assert regularizers.l2(0.1)(w).item() == pytest.approx(0.1 * (0.25 + 1 + 4 + 0.0625))
    assert regularizers.l1_l2(0.1, 0.01)(w).item() == pytest.approx(0.375 + 0.053125)
    assert regularizers.L1L2()(w).item() == 0.0


@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.2),
                                 regularizers.l1_l2(0.1, 0.5)])
def test_penalty_gradients(reg):
    assert gk.gradcheck(reg, gk.tensor(W, requires_grad=True, dtype=np.float64))
    w = gk.tensor(W, requires_grad=True, dtype=np.float64)
    reg(w).backward()
    np.testing.assert_allclose(w.grad, 2 * reg.l2 * W + reg.l1 * np.sign(W))


def test_regularizers_by_name_and_config():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    reg = regularizers.get({"name": "l1_l2", "l1": 0.5, "l2": 0.25})
    assert reg.describe() == {"name": "l1_l2", "l1": 0.5, "l2": 0.25}
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="penalty factors must be >= 0"):
        regularizers.L1L2(l1=-1)


def test_dense_penalizes_its_kernel_not_its_bias_by_default():
    layer = L.Dense(2, kernel_regularizer=regularizers.l2(0.5), dtype=np.float64)
    layer.build((2,))
    layer.W.data[...] = W
    layer.b.data[...] = [10.0, 10.0]
    assert layer.penalty().item() == pytest.approx(0.5 * np.sum(W ** 2))
    assert L.Dense(2).penalty() is None
    both = L.Dense(2, kernel_regularizer="l1", bias_regularizer={"name": "l2", "l2": 1.0})
    both.build((2,))
    both.b.data[...] = [1.0, 2.0]
    assert both.penalty().item() == pytest.approx(0.01 * np.abs(both.W.numpy()).sum() + 5.0, rel=1e-6)
