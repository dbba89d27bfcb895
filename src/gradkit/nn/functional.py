"""Functions on tensors that layers and users compose: PyTorch's `torch.nn.functional`.

Where a name is PyTorch's, so is its meaning: `linear(x, weight, bias)` takes `weight` of
shape (out_features, in_features), as `nn.Linear.weight` and PyTorch's F.linear do (gradkit's
own `gk.linear(x, W, b)` takes W as (in, out)); `leaky_relu`'s default slope is 0.01; the
binary cross-entropy is elementwise with PyTorch's reductions.
"""

from gradkit.autograd import ops as _ops
from gradkit.autograd.ops import (log_softmax, relu, sigmoid,  # noqa: F401
                                  sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy,
                                  softplus, tanh)
from gradkit.nn import activations as _activations
from gradkit.nn.activations import elu, gelu, identity, silu, step  # noqa: F401
from gradkit.nn.torch_modules import BCEWithLogitsLoss, L1Loss, MSELoss


def linear(input, weight, bias=None):
    """input @ weightᵀ + bias, with `weight` of shape (out_features, in_features) (PyTorch's)."""
    in_features = weight.shape[-1]
    if input.shape[-1] != in_features:
        raise ValueError(f"linear: input has {input.shape[-1]} features (shape "
                         f"{tuple(input.shape)}) but weight {tuple(weight.shape)} expects "
                         f"{in_features}: PyTorch's weight is (out_features, in_features)")
    return _ops.linear(input, _ops.transpose(weight), bias)


def leaky_relu(input, negative_slope=0.01):
    """input for input > 0, negative_slope·input otherwise (PyTorch's default slope 0.01)."""
    return _activations.leaky_relu(input, alpha=negative_slope)


def cross_entropy(input, target, *, reduction="mean", weights=None):
    """Softmax cross-entropy from logits against integer labels or probability rows.

    `weights` (gradkit's) multiplies each sample's loss; PyTorch's per-class `weight` is not
    supported (passing it is an error, not a silently unweighted loss).
    """
    return softmax_cross_entropy(input, target, reduction=reduction, weights=weights)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """Elementwise binary cross-entropy of sigmoid(input) against 0/1 or probability targets,
    reduced as PyTorch's ("mean" over all elements, "sum", or "none")."""
    return BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)(
        input, target)


def mse_loss(input, target, *, reduction="mean"):
    return MSELoss(reduction=reduction)(input, target)


def l1_loss(input, target, *, reduction="mean"):
    return L1Loss(reduction=reduction)(input, target)
