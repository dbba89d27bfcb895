"""Every registered layer: gradient-checked in float64 (train and eval mode), rebuilt from its
config with the same output, and dtype-preserving. A layer registered without a case here fails."""

import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import layers as L
from gradkit.nn.module import LAYERS, layer_from_config

F64 = np.float64


def away_from_zero(rng, shape):
    """Values with |x| in [0.2, 1]: no kink of relu / PReLU / step within a finite-difference step."""
    return rng.uniform(0.2, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _adapt(layer, rng):
    mixing = np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.4, 0.0, 0.5]])
    layer.adapt(rng.normal(size=(50, 3)) @ mixing + [1.0, -2.0, 0.5])


def _warm_up(layer, rng):
    """Two training steps, so the running statistics are neither zeros nor ones."""
    layer.train()
    for _ in range(2):
        layer(gk.tensor(rng.normal(1.0, 2.0, size=(8,) + layer.input_shape), dtype=layer.dtype))


@dataclass
class Case:
    make: Callable            # dtype -> layer (non-default settings, so configs are interesting)
    shape: tuple              # per-sample input shape
    prepare: Callable = None  # (built layer, rng) -> None: adapt, warm up, ...
    batch: int = 4
    tags: set = field(default_factory=set)


CASES = {
    "Dense": [Case(lambda dt: L.Dense(2, "tanh", init="he_normal", dtype=dt), (3,)),
              Case(lambda dt: L.Dense(3, "leaky_relu", activation_kwargs={"alpha": 0.2},
                                      use_bias=False, dtype=dt), (2,))],
    "Activation": [Case(lambda dt: L.Activation("elu", alpha=0.5), (3,)),
                   Case(lambda dt: L.Activation("softmax"), (4,))],
    "Flatten": [Case(lambda dt: L.Flatten(), (2, 3))],
    "Dropout": [Case(lambda dt: L.Dropout(0.4, seed=3, dtype=dt), (5,), batch=3)],
    "DropConnect": [Case(lambda dt: L.DropConnect(2, 0.3, "sigmoid", seed=1, dtype=dt), (3,))],
    "GaussianNoise": [Case(lambda dt: L.GaussianNoise(0.3, seed=2, dtype=dt), (3,))],
    "BatchNorm": [Case(lambda dt: L.BatchNorm(momentum=0.8, eps=1e-3, dtype=dt), (3,),
                       prepare=_warm_up, batch=5),
                  Case(lambda dt: L.BatchNorm(dtype=dt), (2, 2, 2), prepare=_warm_up, batch=2)],
    "Normalization": [Case(lambda dt: L.Normalization(dtype=dt), (3,), prepare=_adapt),
                      Case(lambda dt: L.Normalization("pca", 2, dtype=dt), (3,), prepare=_adapt),
                      Case(lambda dt: L.Normalization("whiten", eps=1e-3, dtype=dt), (3,),
                           prepare=_adapt)],
    "PReLU": [Case(lambda dt: L.PReLU(alpha_init=0.1, dtype=dt), (4,))],
    "LeakyReLU": [Case(lambda dt: L.LeakyReLU(negative_slope=0.15, dtype=dt), (4,))],
    "BatchNormalization": [Case(lambda dt: L.BatchNormalization(momentum=0.7, epsilon=1e-2,
                                                                dtype=dt), (3,),
                                prepare=_warm_up, batch=5)],
    "InputLayer": [Case(lambda dt: L.InputLayer((3,), dtype=dt), (3,))],
    "RandomShift": [Case(lambda dt: L.RandomShift(1, seed=0, dtype=dt), (3, 4), batch=2),
                    Case(lambda dt: L.RandomShift((1, 2), seed=5, dtype=dt), (3, 3, 2), batch=2)],
    "RandomFlip": [Case(lambda dt: L.RandomFlip(True, True, seed=4, dtype=dt), (2, 3), batch=3),
                   Case(lambda dt: L.RandomFlip(vertical=True, seed=1, dtype=dt), (3, 2, 2),
                        batch=4)],
}

ALL = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


def gradkit_layers():
    """Registered layer classes defined in gradkit.nn (other packages may register their own)."""
    return {name for name, cls in LAYERS.items() if cls.__module__.startswith("gradkit.nn")}


def make(name, i, dtype=F64, seed=0):
    """The case's layer, built and prepared, and an input batch, both in `dtype`."""
    case = CASES[name][i]
    rng = np.random.default_rng(seed)
    layer = case.make(dtype)
    layer.build(case.shape, rng=np.random.default_rng(seed + 100))
    if case.prepare is not None:
        case.prepare(layer, rng)
    x = gk.tensor(away_from_zero(rng, (case.batch,) + case.shape), dtype=dtype)
    return layer, x


def forward_with(layer, x, params, seed=7):
    """Run the layer with `params` (name -> tensor) in place of its own, and a fixed rng."""
    for pname, value in params.items():
        setattr(layer, pname, value)
    if hasattr(layer, "rng"):
        layer.rng = np.random.default_rng(seed)   # the same dropout mask / noise every call
    return layer(x)


def test_every_registered_layer_has_a_case():
    missing = sorted(gradkit_layers() - set(CASES))
    assert not missing, f"registered layers without a case in tests/nn/test_nn_layers.py: {missing}"


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name,index", ALL)
def test_layer_gradient_matches_central_differences(name, index, mode):
    layer, x = make(name, index)
    layer.train(mode == "train")
    x.requires_grad = True
    names = [n for n, _ in layer.named_parameters()]
    assert all("." not in n for n in names)       # the layers here own their parameters directly
    params = [gk.tensor(p.data, requires_grad=True, dtype=F64) for _, p in layer.named_parameters()]
    out = forward_with(layer, x, dict(zip(names, params)))
    assert out.dtype == F64
    fn = lambda x, *ps: forward_with(layer, x, dict(zip(names, ps)))  # noqa: E731
    assert gk.gradcheck(fn, x, *params)


@pytest.mark.parametrize("name,index", ALL)
def test_config_round_trip_gives_the_same_layer(name, index):
    layer, x = make(name, index)
    description = json.loads(json.dumps(layer.describe()))     # configs are plain JSON
    clone = layer_from_config(description)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    clone.build(CASES[name][index].shape)
    clone.load_state_dict(layer.state_dict())
    for mode in (False, True):
        layer.train(mode), clone.train(mode)
        a, b = forward_with(layer, x, {}), forward_with(clone, x, {})
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"training={mode}")
        assert a.shape[1:] == layer.compute_output_shape(x.shape[1:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,index", ALL)
def test_layer_keeps_the_input_dtype(name, index, dtype):
    layer, x = make(name, index, dtype=dtype)
    for mode in (True, False):
        layer.train(mode)
        out = layer(x)
        assert out.dtype == dtype, f"{name} (training={mode}) gave {out.dtype} for {dtype}"
        assert all(p.dtype == dtype for p in layer.parameters())


def test_layers_validate_their_settings_in_init():
    bad = [
        (lambda: L.Dropout(1.0), r"rate must be a probability in \[0, 1\), got rate=1.0"),
        (lambda: L.Dropout(-0.1), "got rate=-0.1"),
        (lambda: L.Dropout(0.5, seed=-1), "seed must be None or a non-negative integer"),
        (lambda: L.DropConnect(0, 0.5), "units must be a positive integer, got units=0"),
        (lambda: L.DropConnect(3, 1.5), "got rate=1.5"),
        (lambda: L.GaussianNoise(-1), "std must be a number >= 0, got std=-1"),
        (lambda: L.BatchNorm(momentum=1.5), r"momentum must be a number in \[0, 1\]"),
        (lambda: L.BatchNorm(eps=0), "eps must be a number > 0, got eps=0"),
        (lambda: L.Normalization("zca"), "mode must be one of .*got mode='zca'"),
        (lambda: L.Normalization(n_components=2), "n_components is for mode='pca' or 'whiten'"),
        (lambda: L.Normalization("pca", 0), "n_components must be None or a positive integer"),
        (lambda: L.PReLU(alpha_init="a"), "alpha_init must be a finite number"),
        (lambda: L.PReLU("a"), "unknown initializer 'a'"),
        (lambda: L.PReLU(shared_axes=[0]), "shared_axes must be axes counted from 1"),
        (lambda: L.RandomShift(-1), "max_shift must be a non-negative integer"),
        (lambda: L.RandomShift((1, 2, 3)), "max_shift must be"),
        (lambda: L.RandomFlip(horizontal="yes"), "horizontal and vertical must be booleans"),
    ]
    for factory, message in bad:
        with pytest.raises(ValueError, match=message):
            factory()


def test_image_layers_and_pca_check_the_input_shape_in_build():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\), got per-sample shape \(5,\)"):
        L.RandomFlip().build((5,))
    with pytest.raises(ValueError, match="RandomShift needs image batches"):
        L.RandomShift(1).build((2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"n_components=4 is more than the 3 input features"):
        L.Normalization("pca", 4).build((3,))
    with pytest.raises(ValueError, match=r"needs inputs of shape \(samples, features\)"):
        L.Normalization("whiten").build((3, 2))
