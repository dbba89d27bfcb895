"""`weight_count` predicts, without allocating, what `build` allocates (model-file guard)."""

import numpy as np
import pytest

import gradkit as gk

L = gk.layers


@pytest.mark.parametrize("layer", [
    L.Dense(7), L.Dense(7, use_bias=False), L.DropConnect(5, 0.5), L.BatchNorm(), L.PReLU(),
    L.Normalization(), L.Normalization("pca", n_components=3), L.Normalization("whiten"),
    L.Dropout(0.5), L.Activation("relu"), L.Flatten(),
], ids=lambda layer: repr(layer))
def test_weight_count_equals_what_build_allocates(layer):
    layer.build((6,), np.random.default_rng(0))
    allocated = sum(np.asarray(v).size for v in layer.state_dict().values())
    assert layer.weight_count((6,)) == allocated
