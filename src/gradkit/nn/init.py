"""PyTorch's `torch.nn.init`: fill a parameter in place, with PyTorch's fan and gain rules.

    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu"); nn.init.zeros_(layer.bias)

Fans are read from PyTorch's layout, (out_features, in_features, *kernel), which is what
`gradkit.nn.Linear.weight` has; the draws come from the global generator (`gk.manual_seed`).
Keras-style initializers for `gradkit.layers` are in `gradkit.nn.initializers`.
"""

from __future__ import annotations

import math

import numpy as np

from gradkit.autograd import creation

_LINEAR_GAINS = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for an activation (relu √2, tanh 5/3, selu 3/4, ...)."""
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{[*_LINEAR_GAINS, 'tanh', 'relu', 'leaky_relu', 'selu']}")


def _fans(tensor):
    shape = tensor.data.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor of shape {shape}: "
                         "it needs at least 2 dimensions (out_features, in_features)")
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor, values):
    # In place: the parameter may be a view into an optimizer's flat buffer.
    tensor.data[...] = values
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, creation.default_generator().uniform(a, b, tensor.data.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, creation.default_generator().normal(mean, std, tensor.data.shape))


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got mode={mode!r}")
    fan_in, fan_out = _fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
