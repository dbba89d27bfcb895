"""Functions on tensors that layers and users compose (PyTorch's `torch.nn.functional`)."""

from gradkit.autograd.ops import (linear, log_softmax, relu, sigmoid,  # noqa: F401
                                  sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy,
                                  softplus, tanh)
from gradkit.nn.activations import elu, gelu, identity, leaky_relu, silu, step  # noqa: F401


def cross_entropy(logits, labels, *, reduction="mean", weights=None):
    """Softmax cross-entropy from logits against integer labels or probability rows."""
    return softmax_cross_entropy(logits, labels, reduction=reduction, weights=weights)


def binary_cross_entropy_with_logits(z, t, *, reduction="mean", weights=None):
    """Sigmoid binary cross-entropy from logits z against 0/1 (or probability) targets t."""
    return sigmoid_binary_cross_entropy(z, t, reduction=reduction, weights=weights)
