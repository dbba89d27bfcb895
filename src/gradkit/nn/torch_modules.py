"""PyTorch-style modules: eager `Linear` and `PReLU`, the activation, loss and
`Flatten`/`Dropout` modules, and the `Sequential` container, with PyTorch's names, arguments
and meanings.

These are what `from gradkit import nn` gives a PyTorch program (`gk.nn.Linear`,
`gk.nn.Sequential`, ...); the Keras-style layers stay in `gradkit.layers` (`Dense` builds its
weights from the first input, `Dense.W` is (in, out)). Here, as in PyTorch:
- `Linear(in_features, out_features)` creates its weights in the constructor, so an optimizer
  made before the first forward pass finds them, with PyTorch's default initialization
  (kaiming_uniform(a=√5): weight and bias ~ U(±1/√in_features)) drawn from the global
  generator that `gk.manual_seed` seeds, and `weight` has PyTorch's shape (out, in): a
  PyTorch state dict loads into it as it is.
- a module is in training mode until `eval()`; `Dropout` is active in training mode only.
- losses take (prediction, target) and reduce with `reduction="mean" | "sum" | "none"`.
"""

from __future__ import annotations

import collections
import math

import numpy as np

import gradkit.autograd as ag
from gradkit.autograd import Tensor, creation
from gradkit.nn import activations
from gradkit.nn.module import Module, Parameter

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got reduction={reduction!r}")
    return reduction


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


class Linear(Module):
    """y = x Wᵀ + b with `weight` W of shape (out_features, in_features), as in PyTorch."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32):
        self.in_features = _positive_int("in_features", in_features)
        self.out_features = _positive_int("out_features", out_features)
        if bias not in (True, False):
            raise ValueError(f"bias must be True or False, got bias={bias!r}")
        bound = 1.0 / math.sqrt(self.in_features)
        rng = creation.default_generator()
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = (Parameter(rng.uniform(-bound, bound, self.out_features).astype(dtype))
                     if bias else None)

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}) got an input of shape "
                             f"{tuple(x.shape)}; expected its last axis to have "
                             f"{self.in_features} features")
        return ag.linear(x, self.weight.T, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _Elementwise(Module):
    """A module without parameters."""


class Identity(_Elementwise):
    def __init__(self, *args, **kwargs):
        pass                       # PyTorch's Identity ignores its arguments too

    def forward(self, x):
        return x


class ReLU(_Elementwise):
    def forward(self, x):
        return ag.relu(_as_tensor(x))


class Sigmoid(_Elementwise):
    def forward(self, x):
        return ag.sigmoid(_as_tensor(x))


class Tanh(_Elementwise):
    def forward(self, x):
        return ag.tanh(_as_tensor(x))


class GELU(_Elementwise):
    """x Φ(x); `approximate="tanh"` for the tanh form (PyTorch's default is exact)."""

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got "
                             f"approximate={approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return activations.gelu(_as_tensor(x), approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope·x otherwise (PyTorch's default slope 0.01)."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return activations.leaky_relu(_as_tensor(x), alpha=self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class PReLU(Module):
    """PyTorch's `nn.PReLU`: x for x > 0, α x otherwise, with `num_parameters` learned slopes.

    One α shared by every value by default (PyTorch's num_parameters=1), or one per channel,
    the input's axis 1 (PyTorch's channel axis), starting at `init` (0.25). `weight` has
    PyTorch's shape (num_parameters,), so a PyTorch state dict loads as it is. Keras's
    `PReLU` layer (one α per input value, starting at 0) is `gk.layers.PReLU`.
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        self.num_parameters = _positive_int("num_parameters", num_parameters)
        if isinstance(init, bool) or not isinstance(init, (int, float, np.number)) \
                or not np.isfinite(init):
            raise ValueError(f"init must be a finite number, got init={init!r}")
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"gradkit runs on the CPU only, got device={device!r}; use 'cpu'")
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        self.init = float(init)
        self.weight = Parameter(np.full(self.num_parameters, self.init, dtype=dtype))

    def forward(self, x):
        x = _as_tensor(x)
        alpha = self.weight
        if self.num_parameters > 1:
            if x.ndim < 2 or x.shape[1] != self.num_parameters:
                raise ValueError(f"PReLU(num_parameters={self.num_parameters}) got an input of "
                                 f"shape {tuple(x.shape)}; expected {self.num_parameters} "
                                 "channels on axis 1 (PyTorch's channel axis)")
            alpha = alpha.reshape((self.num_parameters,) + (1,) * (x.ndim - 2))
        # where, not max(x, αx): that would be wrong for α > 1, which nothing forbids a learner.
        return ag.where(x.data > 0, x, x * alpha)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


def _softmax_dim(name, dim, ndim):
    if dim is not None:
        return dim
    # PyTorch's implicit choice (deprecated there) is axis 1 for a batch of vectors; for other
    # ranks it picks axes a user rarely means, so gradkit asks.
    if ndim == 2:
        return 1
    raise ValueError(f"{name}(dim=None) on a {ndim}-D input: pass dim= (the class axis)")


class Softmax(_Elementwise):
    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, x):
        x = _as_tensor(x)
        return ag.softmax(x, axis=_softmax_dim("Softmax", self.dim, x.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        x = _as_tensor(x)
        return ag.log_softmax(x, axis=_softmax_dim("LogSoftmax", self.dim, x.ndim))


class Flatten(_Elementwise):
    """Axes start_dim..end_dim merged into one (default: all but the batch axis)."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return ag.flatten(_as_tensor(x), self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(_Elementwise):
    """Zero each value with probability p and scale the rest by 1/(1 - p), in training mode
    only; the mask comes from the global generator (`gk.manual_seed`)."""

    def __init__(self, p=0.5, inplace=False):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, got p={p!r}")
        if inplace:
            raise ValueError("Dropout(inplace=True) is not supported: gradkit's tensors are "
                             "not modified in place; use inplace=False (the same values)")
        self.p = float(p)

    def forward(self, x):
        x = _as_tensor(x)
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0.0
        keep = creation.default_generator().random(x.shape) >= self.p
        return x * (keep.astype(x.dtype) / x.dtype.type(1.0 - self.p))

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm1d(Module):
    """PyTorch's batch normalization over the channel axis of (N, C) or (N, C, L) inputs.

    Training mode normalizes with the batch's mean and biased variance; the running
    statistics follow PyTorch's rule, in which `momentum` weighs the new value:
        running = (1 - momentum) · running + momentum · batch statistic,
    with the batch's unbiased variance (divide by n - 1) for `running_var`, and
    `momentum=None` taking the cumulative average. Evaluation mode normalizes with the
    running statistics. (gradkit's `BatchNorm` and Keras's `BatchNormalization` weigh the old
    value by `momentum` and keep the biased variance, so this is its own module, not an alias.)
    """

    _buffers = ("running_mean", "running_var", "num_batches_tracked")
    _running_buffers = _buffers

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        self.num_features = _positive_int("num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be a number > 0, got eps={eps!r}")
        if momentum is not None and (isinstance(momentum, bool)
                                     or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1] or None, got "
                             f"momentum={momentum!r}")
        for key, value in (("affine", affine), ("track_running_stats", track_running_stats),
                           ("bias", bias)):
            if value not in (True, False):
                raise ValueError(f"{key} must be True or False, got {key}={value!r}")
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"gradkit runs on the CPU only, got device={device!r}; use 'cpu'")
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        self.eps, self.momentum = float(eps), None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = affine, track_running_stats
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(c, dtype=dtype)) if affine and bias else None
        if track_running_stats:
            self.running_mean = np.zeros(c, dtype=dtype)
            self.running_var = np.ones(c, dtype=dtype)
            self.num_batches_tracked = np.zeros((), dtype=np.int64)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d(num_features={self.num_features}) expects an input "
                             f"of shape (N, {self.num_features}) or (N, {self.num_features}, L), "
                             f"got {tuple(x.shape)}")
        axes = (0,) if x.ndim == 2 else (0, 2)
        channel = (1, self.num_features) + (1,) * (x.ndim - 2)
        n = x.size // self.num_features
        if self.training or not self.track_running_stats:
            if self.training and n == 1:
                raise ValueError(f"BatchNorm1d: expected more than 1 value per channel when "
                                 f"training, got input of shape {tuple(x.shape)}")
            mean = ag.mean(x, axis=axes, keepdims=True)
            d = x - mean
            var = ag.mean(d * d, axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running(mean.data.reshape(-1), var.data.reshape(-1) * (n / (n - 1)))
            inv_std = (var + self.eps) ** -0.5
        else:
            d = x - self.running_mean.reshape(channel).astype(x.dtype, copy=False)
            inv_std = 1.0 / np.sqrt(self.running_var.reshape(channel).astype(x.dtype, copy=False)
                                    + self.eps)
        y = d * inv_std
        if self.weight is not None:
            y = y * self.weight.reshape(channel)
        if self.bias is not None:
            y = y + self.bias.reshape(channel)
        return y

    def _update_running(self, mean, var):
        # In place, so the arrays named_buffers() and state_dict() hand out stay the live ones.
        self.num_batches_tracked += 1
        m = (1.0 / float(self.num_batches_tracked) if self.momentum is None
             else self.momentum)
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None or not self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class Sequential(Module):
    """Modules applied in order: `Sequential(m1, m2, ...)` or `Sequential(OrderedDict)`.

    Parameter names are PyTorch's ("0.weight", "2.bias", or the dict's keys), so state dicts
    of the same architecture move between the two libraries.
    """

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], collections.OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes modules, got {type(m).__name__} at {name!r}")
        self._items = items

    def _children(self):
        yield from self._items

    def forward(self, x):
        for _, m in self._items:
            x = m(x)
        return x

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes modules, got {type(module).__name__}")
        self._items.append((str(len(self._items)), module))
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*(m for _, m in self._items[index]))
        return self._items[index][1]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return (m for _, m in self._items)



class ModuleList(Module):
    """A list of modules whose parameters the owner finds (PyTorch's names "0", "1", ...)."""

    def __init__(self, modules=()):
        self._items = []
        self.extend(modules)

    def _children(self):
        for i, m in enumerate(self._items):
            yield str(i), m

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList takes modules, got {type(module).__name__}")
        self._items.append(module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._items[index])
        return self._items[index]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)


# -- losses ------------------------------------------------------------------------------------
class _Loss(Module):
    def __init__(self, reduction="mean"):
        self.reduction = _check_reduction(reduction)

    def _reduce(self, losses):
        if self.reduction == "mean":
            return losses.mean()
        if self.reduction == "sum":
            return losses.sum()
        return losses


def _same_shape(name, input, target):
    if tuple(input.shape) != tuple(np.shape(target.data if isinstance(target, Tensor)
                                            else target)):
        raise ValueError(f"{name}: target shape {tuple(np.shape(_data(target)))} differs from "
                         f"input shape {tuple(input.shape)}; expected the same shape (PyTorch "
                         "would broadcast them into a silently wrong loss)")


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits (N, C) against class indices (N,) or probabilities
    (N, C), computed from the logits (stable for any value)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        unsupported = [("weight", weight is not None, None),
                       ("size_average", size_average is not None, None),
                       ("reduce", reduce is not None, None),
                       ("ignore_index", ignore_index != -100, -100),
                       ("label_smoothing", label_smoothing != 0, 0.0)]
        for key, given, default in unsupported:
            if given:
                raise ValueError(f"CrossEntropyLoss({key}=...) is not supported by gradkit; "
                                 f"leave it at {default!r}")

    def forward(self, input, target):
        input = _as_tensor(input)
        t = _data(target)
        if t.ndim == input.ndim - 1:
            if t.dtype.kind not in "iu":
                raise TypeError(f"CrossEntropyLoss: class-index targets must be integers, got "
                                f"dtype {t.dtype} (PyTorch expects a long tensor)")
            if t.size and (t.min() < 0 or t.max() >= input.shape[-1]):
                raise ValueError(f"CrossEntropyLoss: target labels range {int(t.min())}.."
                                 f"{int(t.max())}; expected 0..{input.shape[-1] - 1} for "
                                 f"{input.shape[-1]} classes (ignore_index is not supported)")
        elif t.shape != tuple(input.shape):
            raise ValueError(f"CrossEntropyLoss: target shape {t.shape} fits neither class "
                             f"indices {tuple(input.shape[:-1])} nor probabilities "
                             f"{tuple(input.shape)}")
        target = target if isinstance(target, Tensor) and target.requires_grad else t
        return ag.softmax_cross_entropy(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum) of the squared differences, elementwise over same-shaped tensors."""

    def forward(self, input, target):
        input = _as_tensor(input)
        _same_shape("MSELoss", input, target)
        d = input - target
        return self._reduce(d * d)


class L1Loss(_Loss):
    """Mean (or sum) of the absolute differences, elementwise over same-shaped tensors."""

    def forward(self, input, target):
        input = _as_tensor(input)
        _same_shape("L1Loss", input, target)
        return self._reduce(ag.abs(input - target))


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(input) against 0/1 (or probability) targets, from the
    logits, elementwise; `weight` rescales each element (broadcast)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(reduction)
        for key, value in (("size_average", size_average), ("reduce", reduce),
                           ("pos_weight", pos_weight)):
            if value is not None:
                raise ValueError(f"BCEWithLogitsLoss({key}=...) is not supported by gradkit, "
                                 f"got {key}={value!r}; leave it at None")
        self.weight = None if weight is None else _data(weight)

    def forward(self, input, target):
        input = _as_tensor(input)
        _same_shape("BCEWithLogitsLoss", input, target)
        t = target if isinstance(target, Tensor) and target.requires_grad else _data(target)
        flat_t = t.reshape(-1) if isinstance(t, Tensor) else np.reshape(t, -1)
        # One loss per element (PyTorch's), where gradkit's loss averages a row's labels.
        losses = ag.sigmoid_binary_cross_entropy(input.reshape(-1), flat_t, reduction="none")
        losses = losses.reshape(input.shape)
        if self.weight is not None:
            losses = losses * self.weight
        return self._reduce(losses)
