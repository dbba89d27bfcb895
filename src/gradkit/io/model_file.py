"""Model files: one safetensors file, the JSON config in its metadata.

Loading builds layers only from gradkit's own registry, checks every weight's shape against
the config, and never runs code from the file: a file that is not exactly what gradkit wrote
is refused with `ModelFileError` saying why.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from gradkit import _budget, _safetensors
from gradkit._model_format import CONFIG_KEY as _KEY
from gradkit._model_format import OPTIMIZER_PREFIX as _OPTIMIZER
from gradkit._model_format import FORMAT_VERSION, model_path, write_model
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import ModelFileError
from gradkit.nn.layers import NotAdaptedError
from gradkit.nn.module import Layer, layer_from_config
from gradkit.train import Sequential

__all__ = ["save", "load", "read_config", "FORMAT_VERSION"]


def save(model, path, *, extra=None, include_optimizer=False):
    """Write `model` (weights, architecture, class and feature names, compile settings) to
    `path` atomically.

    Args:
        extra: more JSON-able information to keep in the config (e.g. training settings).
        include_optimizer: also keep the optimizer's state (Adam's moments, its step count),
            so that fitting the loaded model goes on where it stopped (`model.save` does, as
            Keras's does).
    """
    write_model(model, path, extra=extra, include_optimizer=include_optimizer)


def read_config(path):
    """The JSON config of a model file (and its tensors), validated at the top level."""
    path = model_path(path)
    tensors, metadata = _safetensors.load_tensors(path)
    if _KEY not in metadata:
        raise ModelFileError(f"{path}: not a gradkit model file (no '{_KEY}' entry in its "
                             "metadata)")
    try:
        config = json.loads(metadata[_KEY])
    except RecursionError:
        raise ModelFileError(f"{path}: the model config is nested too deeply to be one") \
            from None
    except ValueError as err:        # JSONDecodeError, and integers too long to convert
        raise ModelFileError(f"{path}: the model config is not valid JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ModelFileError(f"{path}: the model config is not a JSON object with a 'model' entry")
    _refuse_non_finite(path, config["model"])
    version = config.get("format_version")
    if version not in (1, 2, 3, FORMAT_VERSION) or isinstance(version, bool):
        raise ModelFileError(f"{path}: model format version {version!r}, this gradkit reads "
                             f"versions 1 to {FORMAT_VERSION}")
    if version == 1:
        _leaky_relu_slope_of_version_1(config["model"])
    if version in (1, 2):
        _adagrad_eps_of_versions_1_and_2(config["model"])
    if version in (1, 2, 3):
        _clipping_and_decay_of_versions_1_to_3(config["model"])
    return config, tensors


def _refuse_non_finite(path, model_config):
    """gradkit writes only finite settings (an eps, a slope, a rate); Python's json reads NaN,
    Infinity and 1e999, which would turn every prediction into NaN."""
    try:
        json.dumps(model_config, allow_nan=False)
    except ValueError:
        raise ModelFileError(f"{path}: the model config holds NaN or an infinite number; every "
                             "setting of a model must be finite") from None
    except RecursionError:
        raise ModelFileError(f"{path}: the model config is nested too deeply to be one") \
            from None


def _saved_optimizer(model_config):
    """The optimizer config a model config holds, or None."""
    settings = model_config.get("compile")
    optimizer = settings.get("optimizer") if isinstance(settings, dict) else None
    return optimizer if isinstance(optimizer, dict) else None


def _adagrad_eps_of_versions_1_and_2(model_config):
    """Versions 1 and 2 wrote Adagrad without eps_inside_sqrt, when ε went outside the root;
    made without parameters Adagrad is now Keras's (inside), so such a file gets False."""
    optimizer = _saved_optimizer(model_config)
    if optimizer is not None and optimizer.get("name") == "adagrad":
        optimizer.setdefault("eps_inside_sqrt", False)


def _clipping_and_decay_of_versions_1_to_3(model_config):
    """Versions 1 to 3 wrote "clipnorm" for the global norm, Keras's global_clipnorm now, and
    SGD's weight_decay without decoupled_weight_decay when it was always PyTorch's (added to
    the gradient); made without parameters SGD decays Keras's way now, so such a file gets
    False, and goes on as it trained."""
    optimizer = _saved_optimizer(model_config)
    if optimizer is None:
        return
    clip = optimizer.pop("clipnorm", None)
    if clip is not None:
        optimizer["global_clipnorm"] = clip
    if optimizer.get("name") == "sgd":
        optimizer.setdefault("decoupled_weight_decay", False)


def _leaky_relu_slope_of_version_1(model_config):
    """Version 1 files wrote "leaky_relu" without its slope when it was the default, then 0.1
    (the notes'); the default is now Keras's 0.2, so such a layer gets its 0.1 written in."""
    layers = model_config.get("layers")
    for layer in layers if isinstance(layers, list) else ():
        settings = layer.get("config") if isinstance(layer, dict) else None
        if not isinstance(settings, dict) or settings.get("activation") != "leaky_relu":
            continue
        if "activation_kwargs" in settings:                       # Dense
            kwargs = settings["activation_kwargs"]
            if isinstance(kwargs, dict):
                kwargs.setdefault("alpha", 0.1)
        else:                                                    # Activation
            settings.setdefault("alpha", 0.1)


def _check_size(path, model_config, tensors):
    """Refuse a config whose layers would allocate more numbers than the file holds, before
    any weight is allocated (a hostile `units` of 10**12 would otherwise exhaust memory)."""
    shape = model_config.get("input_shape")
    if shape is None:
        raise ModelFileError(f"{path}: the config has no input_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ModelFileError(f"{path}: cannot build the model from its config: input_shape must "
                             f"be a list of positive integers, got {shape!r}")
    held = sum(int(a.size) for a in tensors.values())
    needed = 0
    shape = tuple(shape)
    _check_sample_size(path, "the input", shape)
    for i, layer_config in enumerate(model_config["layers"]):
        try:
            layer = layer_from_config(layer_config)
            if isinstance(layer, Layer):
                needed += layer.weight_count(shape)
                shape = layer.compute_output_shape(shape)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ModelFileError(f"{path}: cannot build the model from its config: layer {i}: "
                                 f"{err}") from None
        if needed > held:
            raise ModelFileError(f"{path}: the config's layers up to layer {i} need {needed:,} "
                                 f"weights, but the file holds only {held:,}")
        _check_sample_size(path, f"layer {i}'s output", shape)


def _check_sample_size(path, what, shape):
    """One sample's values, and the batch of 1,024 that prediction runs, must fit the memory
    budget: an input_shape of [1e6, 1e6] asks for 4 TB per sample."""
    try:
        size = math.prod(int(n) for n in shape)
    except (TypeError, ValueError):
        return      # compute_output_shape's own error names it later
    if 4 * size > _budget.limit():
        _budget.check(4 * size, f"{path}: {what} of shape {list(shape)}, for one sample,",
                      error=ModelFileError)


def load(path):
    """Rebuild the model saved at `path`; refuse anything gradkit did not write."""
    path = model_path(path)
    config, tensors = read_config(path)
    opt_state = {k[len(_OPTIMIZER):]: tensors.pop(k) for k in list(tensors)
                 if k.startswith(_OPTIMIZER)}
    model_config = config["model"]
    layers = model_config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(f"{path}: the config lists no layers")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str) \
                or not isinstance(layer.get("config", {}), dict):
            raise ModelFileError(f"{path}: layer {i} is not a {{class_name, config}} object")
    _check_size(path, model_config, tensors)
    try:
        model = Sequential.from_config(model_config)
    except (ValueError, TypeError, KeyError, MemoryError) as err:
        raise ModelFileError(f"{path}: cannot build the model from its config: {err}") from None
    if not model.built:
        raise ModelFileError(f"{path}: the config has no input_shape")
    for i, layer in enumerate(model.layers):
        # np.dtype accepts "object" or "U8" too; weights of those would hold no numbers.
        if np.dtype(getattr(layer, "dtype", np.float32)) not in _FLOAT_DTYPES:
            raise ModelFileError(f"{path}: layer {i} ({type(layer).__name__}) has dtype "
                                 f"{layer.dtype}, expected float32 or float64")
    for key in ("class_names", "feature_names"):
        names = getattr(model, key, None)
        if names is not None and not (isinstance(names, list)
                                      and all(isinstance(n, str) for n in names)):
            raise ModelFileError(f"{path}: {key} must be a list of strings, got "
                                 f"{type(names).__name__}")
    _check_feature_names(path, model)
    _check_outputs(path, model)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not match the config: missing {missing}, "
                             f"unexpected {unexpected}")
    for name, array in tensors.items():
        if array.shape != expected[name].shape:
            raise ModelFileError(f"{path}: weight {name!r} has shape {array.shape}, the config "
                                 f"needs {expected[name].shape}")
        if array.dtype.kind != expected[name].dtype.kind and \
                not (array.dtype.kind == "u" and expected[name].dtype.kind == "i"):
            raise ModelFileError(f"{path}: weight {name!r} is stored as {array.dtype}, the config "
                                 f"needs {expected[name].dtype} (gradkit writes weights as "
                                 "floating-point numbers)")
        if array.dtype != expected[name].dtype:
            with np.errstate(over="ignore", invalid="ignore"):   # checked just below
                tensors[name] = array = array.astype(expected[name].dtype)
        # gradkit never saves a non-finite weight (training stops before one reaches them),
        # and one would silently turn every prediction into NaN.
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelFileError(f"{path}: weight {name!r} holds NaN or infinite values")
    _check_contracts(path, model, tensors)
    model.load_state_dict(tensors)
    if opt_state:
        _load_optimizer_state(model, opt_state, path)
    model.saved_config = config
    model.eval()
    _check_runs(model, path)
    return model


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_outputs(path, model):
    """class_names must name the outputs: one name per output (two for one binary output)."""
    names = getattr(model, "class_names", None)
    if names is None:
        return
    n_out = int(model.output_shape[-1]) if model.output_shape else 1
    if not names or (len(names) != n_out and not (n_out == 1 and len(names) == 2)):
        raise ModelFileError(f"{path}: class_names lists {len(names)} classes, but the model "
                             f"has {n_out} outputs; they must match")
    if len(set(names)) != len(names):
        raise ModelFileError(f"{path}: class_names names a class twice")


def _check_feature_names(path, model):
    """feature_names names the inputs: one name per input value."""
    names = getattr(model, "feature_names", None)
    if names is None:
        return
    width = math.prod(model.input_shape)
    if len(names) != width:
        raise ModelFileError(f"{path}: feature_names lists {len(names)} names, but the model "
                             f"takes {width} inputs; they must match")


def _normalization_contract(get):
    std, count = get("std"), get("count")
    if count is not None and (count.shape != () or int(count) < 0):
        return f"count must be one integer >= 0 (samples adapted on), got {count.tolist()!r}"
    if std is not None and not (std > 0).all():
        return f"std must be > 0 everywhere (it divides), got {float(std.min())!r}"
    if std is not None:
        with np.errstate(over="ignore", divide="ignore"):
            tiny = ~np.isfinite(1 / std.astype(np.float32))
        if tiny.any():
            return (f"std must be large enough that 1/std is finite in float32 (it divides), "
                    f"got {float(std[tiny].min())!r}")
    variance = get("explained_variance")
    if variance is not None and not (variance >= 0).all():
        return f"explained_variance must be >= 0, got {float(variance.min())!r}"
    if count is not None and int(count) == 0:
        # An unadapted layer saves its initial statistics; any other with a count of 0 lies.
        mean, components = get("mean"), get("components")
        untouched = (mean is None or not mean.any()) and (std is None or (std == 1).all()) \
            and (components is None or not components.any()) \
            and (variance is None or (variance == 1).all())
        if not untouched:
            return "count is 0 (never adapted) but the statistics are not the initial ones"
    return None


def _batch_norm_contract(get):
    var = get("running_var")
    if var is not None and not (var >= 0).all():
        return f"running_var must be >= 0 (a variance), got {float(var.min())!r}"
    return None


# Layer class -> check of its saved arrays against what the layer means (None when they hold).
_CONTRACTS = {"Normalization": _normalization_contract, "BatchNorm": _batch_norm_contract}


def _check_contracts(path, model, tensors):
    """Values that parse but break a layer's meaning (a std of 0 divides by zero, a negative
    variance takes a square root) are refused here, before the model is used."""
    for i, layer in enumerate(model.layers):
        contract = _CONTRACTS.get(type(layer).__name__)
        if contract is None:
            continue
        prefix = f"layers.{i}."
        problem = contract(lambda name: tensors.get(prefix + name))
        if problem:
            raise ModelFileError(f"{path}: layer {i} ({type(layer).__name__}): {problem}")


def _load_optimizer_state(model, state, path):
    """Give the compiled optimizer its saved state, checked: one value per parameter, finite."""
    if model.optimizer is None:
        raise ModelFileError(f"{path}: the file holds optimizer state but no compile settings")
    n = sum(p.data.size for p in model.trainable_parameters())    # what fit binds
    for key, value in state.items():
        if key != "iterations" and (value.ndim != 1 or value.size != n
                                    or value.dtype.kind != "f"
                                    or not np.isfinite(value).all()):
            raise ModelFileError(f"{path}: optimizer state {key!r} must be {n} finite floats "
                                 f"(one per trainable parameter), got shape {value.shape}, {value.dtype}")
    try:
        model.optimizer.load_state_dict(state)
    except ValueError as err:
        raise ModelFileError(f"{path}: optimizer state does not fit "
                             f"{type(model.optimizer).__name__}: {err}") from None


def _check_runs(model, path):
    """Refuse a model whose layers were built but cannot compute (e.g. activation settings the
    function does not take): better at load time, with the file's name, than mid-prediction."""
    x = np.zeros((1, *model.input_shape), dtype=np.float32)
    try:
        with no_grad(), np.errstate(all="ignore"):    # the weights were checked above
            model.forward(Tensor(x))
    except NotAdaptedError:
        pass      # saved before `adapt`: loads as saved; using it says what to do
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as err:
        raise ModelFileError(f"{path}: the model in the file cannot run: "
                             f"{type(err).__name__}: {err}") from None
