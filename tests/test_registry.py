"""The one registry type behind every `get(name)`: lookup, aliases, case, configs, errors."""

import pytest

import gradkit as gk
from gradkit._registry import Registry


class _Thing:
    def __init__(self, size=1):
        self.size = size


def test_lookup_folds_case_and_space_unless_case_sensitive():
    reg = Registry("thing", {"big": _Thing})
    assert reg.lookup(" BIG ") is _Thing
    exact = Registry("layer type", {"Dense": _Thing}, case_sensitive=True)
    assert exact.lookup("Dense") is _Thing
    with pytest.raises(ValueError, match=r"unknown layer type 'dense'; known: \['Dense'\]"):
        exact.lookup("dense")


def test_create_from_name_or_config_and_refuse_a_config_without_name():
    reg = Registry("thing")
    reg.add(_Thing, "big", "large")
    assert reg.names() == ["big", "large"]
    assert reg.create("large", size=3).size == 3
    assert reg.create({"name": "big", "size": 4}).size == 4
    with pytest.raises(ValueError, match=r"a thing config needs a 'name', got keys \['size'\]"):
        reg.create({"size": 4})


@pytest.mark.parametrize("get, name, kind", [
    (gk.optim.get, "adamax", "optimizer"),
    (gk.optim.schedules.get, "warm", "schedule"),
    (gk.nn.losses.get, "l3", "loss"),
    (gk.nn.initializers.get, "glorot", "initializer"),
    (gk.nn.activations.get, "rellu", "activation"),
    (gk.nn.regularizers.get, "l3", "regularizer"),
    (gk.train.metrics.get, "nope", "metric"),
    (gk.nn.get_layer_class, "Dens", "layer type"),
])
def test_every_component_kind_refuses_an_unknown_name_the_same_way(get, name, kind):
    with pytest.raises(ValueError, match=rf"^unknown {kind} '{name}'; known: \[.+\]$"):
        get(name)
