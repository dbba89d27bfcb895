"""Dense, Activation, Flatten and Keras's Input: the layers every feed-forward network is
made of."""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.nn import activations, initializers, regularizers
from gradkit.errors import ConfigError, DataError
from gradkit.nn.module import Layer, Parameter, _sample_shape, register


def _describe(component):
    return component.describe() if hasattr(component, "describe") else component


@register
class Dense(Layer):
    """Fully connected layer: y = activation(x W + b), W of shape (in, out), rows are samples.

    Args:
        units: number of outputs.
        activation: name ("relu", "tanh", ...) or callable; None for logits.
        init: weight initializer (name, config or object), default "glorot_uniform";
            Keras's `kernel_initializer` is the same setting.
        bias_init: default "zeros"; Keras's `bias_initializer` is the same setting.
        use_bias: add b (default True).
        kernel_regularizer: penalty on W added to the loss (e.g. "l2" or gk.regularizers.l2(1e-4)).
        bias_regularizer: off by default: the notes observe that regularizing b underfits.
    """

    def __init__(self, units, activation=None, *, init=None, bias_init=None,
                 use_bias=True, kernel_regularizer=None, bias_regularizer=None,
                 activation_kwargs=None, name=None, dtype=np.float32,
                 kernel_initializer=None, bias_initializer=None):
        super().__init__(name=name, dtype=dtype)
        init = initializers.one_setting("init", init, "kernel_initializer", kernel_initializer, "glorot_uniform")
        bias_init = initializers.one_setting("bias_init", bias_init, "bias_initializer", bias_initializer, "zeros")
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"units must be a positive integer, got units={units!r}")
        self.units = int(units)
        self.activation_name = activation if isinstance(activation, str) or activation is None \
            else getattr(activation, "__name__", "custom")
        self.activation_kwargs = dict(activation_kwargs or {})
        self.activation = activations.get(activation, **self.activation_kwargs)
        self.init = initializers.get(init)
        self.bias_init = initializers.get(bias_init)
        self.use_bias = bool(use_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.W = None
        self.b = None

    def build(self, input_shape, rng=None):
        if len(input_shape) < 1:
            raise DataError(f"Dense needs inputs with a feature axis, got samples of shape "
                            f"{tuple(input_shape)}")
        rng = np.random.default_rng() if rng is None else rng
        fan_in = int(input_shape[-1])
        self.W = Parameter(self.init((fan_in, self.units), rng, self.dtype), name="W")
        if self.use_bias:
            self.b = Parameter(self.bias_init((self.units,), rng, self.dtype), name="b")
        super().build(input_shape)

    def forward(self, x):
        # The activations that `linear` fuses with the product into one node, matched by
        # identity (a user's activation may be a callable object that cannot be hashed).
        act = self.activation
        fused = ("relu" if act is activations.relu else "tanh" if act is activations.tanh
                 else "sigmoid" if act is activations.sigmoid else None)
        if fused is not None and self.b is not None:
            return ag.linear(x, self.W, self.b, activation=fused)   # one fused node
        return self.activation(ag.linear(x, self.W, self.b))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def weight_count(self, input_shape):
        return (int(input_shape[-1]) + self.use_bias) * self.units

    def penalty(self):
        """The regularization terms of this layer, or None."""
        terms = []
        if self.kernel_regularizer is not None:
            terms.append(self.kernel_regularizer(self.W))
        if self.bias_regularizer is not None and self.b is not None:
            terms.append(self.bias_regularizer(self.b))
        return sum(terms[1:], terms[0]) if terms else None

    def get_config(self):
        return {"units": self.units, "activation": self.activation_name,
                "init": _describe(self.init), "bias_init": _describe(self.bias_init),
                "use_bias": self.use_bias,
                "kernel_regularizer": _describe(self.kernel_regularizer),
                "bias_regularizer": _describe(self.bias_regularizer),
                "activation_kwargs": self.activation_kwargs, "name": self.name,
                "dtype": self.dtype.name}


@register
class Activation(Layer):
    """Applies a named activation: `Activation("leaky_relu", alpha=0.1)` (the notes' slope)."""

    def __init__(self, activation, *, name=None, dtype=np.float32, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self.activation_name = activation
        self.kwargs = kwargs
        self.fn = activations.get(activation, **kwargs)

    def forward(self, x):
        return self.fn(x)

    def get_config(self):
        return {"activation": self.activation_name, "name": self.name, "dtype": self.dtype.name,
                **self.kwargs}


@register
class Flatten(Layer):
    """Reshape (batch, d1, d2, ...) to (batch, d1 * d2 * ...)."""

    def forward(self, x):
        return ag.reshape(x, (x.shape[0], -1))

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


@register
class InputLayer(Layer):
    """Keras's input placeholder: fixes the shape of one sample; passes inputs through.

    `Sequential([Input(shape=(784,)), Dense(10)])` builds the model at once for that shape
    (and, as in Keras, the Input is not one of `model.layers`).
    """

    def __init__(self, shape=None, *, batch_size=None, name=None, dtype=np.float32,
                 batch_shape=None):
        super().__init__(name=name, dtype=dtype)
        if shape is None and batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        if shape is None:
            raise ConfigError("Input needs shape=: the shape of one sample, e.g. shape=(784,)")
        self.shape = _sample_shape(shape)

    def forward(self, x):
        return x

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name, "dtype": self.dtype.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):  # noqa: N802
    """Keras's `Input(shape=...)`: the first entry of a `Sequential`, fixing its input shape."""
    return InputLayer(shape, batch_size=batch_size, name=name, batch_shape=batch_shape,
                      dtype=np.float32 if dtype is None else dtype)
