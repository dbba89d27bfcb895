"""Activation functions by name, each written from the primitives (no backward code here).

    identity(x) = x
    step(x)     = 1 if x >= 0 else 0   McCulloch-Pitts threshold unit, θ(0) = 1 as in the DESY
                                       notes and `Perceptron`: its gradient is zero everywhere,
                                       which is why gradient descent cannot train it
    rbf(x)      = exp(-γ x²)           Gaussian radial basis of the pre-activation (DESY's "RBF")
    sigmoid(x)  = 1 / (1 + e^-x)       tanh(x) = (e^x - e^-x) / (e^x + e^-x)
    relu(x)     = max(0, x)            leaky_relu(x) = x if x > 0 else αx (α = 0.2, Keras's; 0.1 in the notes)
    elu(x)      = x if x > 0 else α(e^x - 1)
    selu(x)     = λ elu(x, α), λ ≈ 1.0507, α ≈ 1.6733 (self-normalizing; Keras's and PyTorch's)
    softplus(x) = log(1 + e^x)         softmax(x)_i = e^x_i / Σ_j e^x_j
    gelu(x)     = x Φ(x) = ½x(1 + erf(x/√2))      (approximate="tanh":
                  ½x(1 + tanh(√(2/π)(x + 0.044715x³))))      silu(x) = x σ(x)
PReLU (learnable α) is a layer: see `gradkit.nn.layers.PReLU`.
"""

from __future__ import annotations

import functools

import numpy as np

from gradkit._registry import Registry

import gradkit.autograd as ag
from gradkit.autograd import Tensor


def _takes_arrays(fn):
    """Let `fn` take what Keras's and PyTorch's functions take besides a tensor: a NumPy array
    keeps its float dtype; a list, or integers, become float32 (Keras's floatx, PyTorch's
    default dtype). The body then reads `x.data` as an array, never as a memoryview."""

    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        if not isinstance(x, Tensor):
            array = np.asarray(x)
            if array.dtype.kind != "f" or not isinstance(x, (np.ndarray, np.generic)):
                array = array.astype(np.float32)
            x = Tensor(array)
        return fn(x, *args, **kwargs)

    return wrapper


def identity(x):
    return x


@_takes_arrays
def step(x):
    """Heaviside step θ: 1 where x >= 0, else 0, with zero gradient (the McCulloch-Pitts unit).

    θ(0) = 1 is the DESY notes' definition (004) and `Perceptron`'s rule, so a hand-set unit
    whose pre-activation lands exactly on 0 fires in both.
    """
    mask = (x.data >= 0).astype(x.dtype)
    return x * 0.0 + mask


@_takes_arrays
def rbf(x, gamma=1.0):
    """Gaussian radial basis exp(-γ x²) of the pre-activation x = wᵀa + b (DESY: "RBF (see SVM)").

    1 at x = 0, falling to 0 on both sides: the unit responds to a band around its hyperplane
    instead of to one side of it. γ > 0 sets the band's width (1/√γ).
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got gamma={gamma!r}")
    return ag.exp(x * x * -float(gamma))


@_takes_arrays
def sigmoid(x):
    return ag.sigmoid(x)


@_takes_arrays
def tanh(x):
    return ag.tanh(x)


@_takes_arrays
def relu(x):
    return ag.relu(x)


@_takes_arrays
def leaky_relu(x, alpha=0.2):
    """x for x > 0, αx otherwise; α = 0.2 by default, as Keras's `activation="leaky_relu"`
    (the KIT notes draw max(0.1x, x): alpha=0.1)."""
    return ag.where(x.data > 0, x, x * alpha)


@_takes_arrays
def elu(x, alpha=1.0):
    """x for x > 0, α(e^x - 1) otherwise; exp only sees min(x, 0), so it never overflows."""
    # `+ -1.0`, not `- 1.0`: autograd's subtract negates a Python constant into a float64
    # array, which would turn a float32 input into a float64 output.
    return ag.where(x.data > 0, x, (ag.exp(ag.minimum(x, 0.0)) + -1.0) * alpha)


# SELU's constants (Klambauer et al. 2017), as Keras and PyTorch define them.
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


@_takes_arrays
def selu(x):
    """Scaled ELU: λ x for x > 0, λ α (e^x - 1) otherwise (λ ≈ 1.0507, α ≈ 1.6733); with
    lecun_normal weights it keeps activations near zero mean and unit variance."""
    return elu(x, alpha=_SELU_ALPHA) * _SELU_SCALE


@_takes_arrays
def softplus(x):
    return ag.softplus(x)


@_takes_arrays
def softmax(x, axis=-1):
    return ag.softmax(x, axis=axis)


@_takes_arrays
def log_softmax(x, axis=-1):
    return ag.log_softmax(x, axis=axis)


_GELU_C = float(np.sqrt(2.0 / np.pi))


_SQRT_HALF = float(np.sqrt(0.5))


@_takes_arrays
def gelu(x, approximate="none"):
    """Gaussian error linear unit x Φ(x), exact (erf) by default as in PyTorch and Keras.

    `approximate="tanh"` (PyTorch's spelling; Keras's `approximate=True` too) gives the
    tanh form of BERT and GPT-2, ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    """
    if approximate in ("tanh", True):
        inner = (x + x * x * x * 0.044715) * _GELU_C
        return x * (ag.tanh(inner) + 1.0) * 0.5
    if approximate not in ("none", False):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got "
                         f"approximate={approximate!r}")
    return x * (ag.erf(x * _SQRT_HALF) + 1.0) * 0.5


@_takes_arrays
def silu(x):
    """x σ(x), also called swish."""
    return x * ag.sigmoid(x)


ACTIVATIONS = Registry("activation", {
    "identity": identity, "linear": identity, "step": step, "rbf": rbf,
    "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "elu": elu,
    "selu": selu,
    "softplus": softplus, "softmax": softmax, "log_softmax": log_softmax, "gelu": gelu,
    "silu": silu, "swish": silu,
})
# Activations whose output is bounded and can saturate (layer statistics watch these).
SATURATING = {"sigmoid", "tanh"}


def get(activation, **kwargs):
    """The activation function for a name (with settings such as alpha) or a callable."""
    if callable(activation) and not isinstance(activation, str):
        return activation
    fn = identity if activation is None else ACTIVATIONS.lookup(activation)
    return functools.partial(fn, **kwargs) if kwargs else fn


def names():
    return ACTIVATIONS.names()


def apply(name, x, **kwargs):
    """Apply the named activation to a tensor or array (arrays are wrapped without a graph)."""
    return get(name, **kwargs)(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
