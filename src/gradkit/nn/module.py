"""`Module`, `Parameter`, `Layer` and the registry layers are rebuilt from.

Parameters are found by walking attributes (a Parameter, a Module, or a list/tuple of Modules),
so no layer lists its weights by hand. Buffers (running statistics, adapted preprocessing) are
arrays named in `_buffers`: saved in the state dict, never trained.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import numpy as np

from gradkit._registry import Registry
from gradkit.autograd import Tensor

LAYERS = Registry("layer type", case_sensitive=True)

# The mode of the module call in progress (None outside any): a Keras-style layer called
# without `training=` inside another module's call takes that call's mode, as in Keras.
_CALL_MODE = contextvars.ContextVar("gradkit_call_mode", default=None)


@contextlib.contextmanager
def call_mode(module, training):
    """Run a Keras-style call of `module` in `training` mode: every submodule's flag is set
    for the call and put back after it, and calls nested in it inherit the mode."""
    saved = [(m, m.training) for m in module.modules()]
    for m, _ in saved:
        m.training = training
    token = _CALL_MODE.set(training)
    try:
        yield
    finally:
        _CALL_MODE.reset(token)
        for m, mode in saved:
            m.training = mode


def keras_training(training):
    """Keras's `training=` argument resolved: given, the outer call's mode, else inference."""
    if training is None:
        training = _CALL_MODE.get()
    return bool(training)


def register(cls):
    """Class decorator: make a layer loadable by name from a model file's config."""
    return LAYERS.add(cls, cls.__name__)


def get_layer_class(name):
    """The registered layer class called `name`; gradkit builds nothing else from a file."""
    return LAYERS.lookup(name)


def layer_from_config(config):
    """Rebuild a layer from `{"class_name": ..., "config": {...}}`."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config needs 'class_name' and 'config', got {config!r}")
    return get_layer_class(config["class_name"]).from_config(config.get("config", {}))


def _flag(name, value):
    if value is not True and value is not False:
        raise ValueError(f"{name} must be True or False, got {name}={value!r}")
    return value


def _sample_shape(shape):
    """One sample's shape from Keras's `input_shape` (an int is a 1-D shape)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                            and d > 0 for d in shape):
        raise ValueError(f"input_shape must be positive integers (one sample's shape, without "
                         f"the batch axis), got input_shape={shape!r}")
    return tuple(int(d) for d in shape)


class Parameter(Tensor):
    """A tensor that a module trains: it always requires a gradient.

    An optimizer bound to it sets its `grad_buffer` (see `Tensor`) to a view of its flat
    gradient buffer.
    """

    __slots__ = ()

    def __init__(self, data, *, name=None):
        super().__init__(np.asarray(data), requires_grad=True, name=name)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base of everything with parameters: parameter discovery, state dicts, train/eval modes."""

    training = True
    _buffers: tuple[str, ...] = ()
    # Buffers that forward() itself changes in training mode (BatchNorm's running statistics):
    # a refused training step puts them back.
    _running_buffers: tuple[str, ...] = ()

    def __call__(self, *args, **kwargs):
        # PyTorch's convention: the module's own mode (train() / eval()) decides; Keras-style
        # layers called inside take it over (see `Layer.__call__`).
        token = _CALL_MODE.set(self.training)
        try:
            return self.forward(*args, **kwargs)
        finally:
            _CALL_MODE.reset(token)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- walking the attributes --------------------------------------------------------------
    def _children(self):
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs, each parameter once, in definition order."""
        seen = set()
        for name, value in self._children():
            full = f"{prefix}{name}"
            if isinstance(value, Parameter):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield full, value
            else:
                for sub, p in value.named_parameters(prefix=f"{full}."):
                    if id(p) not in seen:
                        seen.add(id(p))
                        yield sub, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for name in self._buffers:
            value = getattr(self, name, None)
            if value is not None:
                yield f"{prefix}{name}", value
        for name, value in self._children():
            if isinstance(value, Module):
                yield from value.named_buffers(prefix=f"{prefix}{name}.")

    def named_children(self):
        """(name, module) for each direct child module (PyTorch's)."""
        for name, value in self._children():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return (m for _, m in self.named_children())

    def modules(self):
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    # -- modes ----------------------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns self."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        """Inference mode (dropout off, running statistics); returns self."""
        return self.train(False)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self):
        """Name -> array copy, for parameters and buffers."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state, *, strict=True):
        """Copy arrays into the parameters and buffers, checking names and shapes."""
        own = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = set(own) | set(buffers)
        if strict:
            missing, unexpected = expected - set(state), set(state) - expected
            if missing or unexpected:
                raise ValueError(f"state dict does not match the model: missing {sorted(missing)}, "
                                 f"unexpected {sorted(unexpected)}")
        for name, value in state.items():
            value = np.asarray(value)
            target = own[name].data if name in own else buffers.get(name)
            if target is None:
                continue
            if target.shape != value.shape:
                raise ValueError(f"shape mismatch for {name!r}: the model has {target.shape}, "
                                 f"the state dict has {value.shape}")
            # In place: the parameter may be a view into an optimizer's flat buffer.
            target[...] = value

    def zero_grad(self, set_to_none=True):
        """PyTorch's: every gradient None (the default), or, with set_to_none=False, each
        gradient that exists filled with zeros in place."""
        if set_to_none not in (True, False):
            raise TypeError(f"set_to_none must be True or False, got set_to_none={set_to_none!r}")
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter, as PyTorch's: a frozen parameter gets
        no gradient, and an optimizer leaves a parameter without one unchanged. Returns self."""
        if requires_grad not in (True, False):
            raise TypeError("requires_grad must be True or False, got "
                            f"requires_grad={requires_grad!r}")
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn):
        """Call `fn` on every submodule, children first, then on this module (PyTorch's
        order, as in `model.apply(init_weights)`); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, *args, device=None, dtype=None):
        """`to("cpu")` returns the module (PyTorch's habit); gradkit runs on the CPU only, so
        another device, or a dtype, is refused rather than ignored."""
        for arg in args:
            if isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"gradkit runs on the CPU only, got device={device!r}; use 'cpu'")
        if dtype is not None:
            raise ValueError(f"{type(self).__name__}.to(dtype) is not supported, got "
                             f"{dtype!r}; create the module with the dtype it needs")
        return self

    def extra_repr(self):
        """The settings shown inside the parentheses of the module's repr."""
        return ""

    def __repr__(self):
        # PyTorch's layout: settings, then one indented line per child module.
        children = [(name, m) for name, m in self._children() if isinstance(m, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "".join(f"\n  ({name}): " + repr(m).replace("\n", "\n  ")
                       for name, m in children)
        return f"{type(self).__name__}({body}\n)"

    def num_parameters(self):
        return int(sum(p.data.size for p in self.parameters()))


class Layer(Module):
    """A module built lazily from the first input's shape, and rebuilt from its config.

    Subclasses validate their settings in `__init__`, create weights in `build(input_shape)`,
    keep `forward` short, and list their constructor arguments in `get_config()`.
    """

    # Keras's `input_shape=` on a model's first layer (`Flatten(input_shape=(28, 28))`): the
    # shape of one sample, which `Sequential` builds the model for at once.
    declared_input_shape = None

    @property
    def trainable(self):
        """Keras's `layer.trainable`: False freezes the layer's parameters (fit leaves them
        alone, and a BatchNorm then normalizes with its moving statistics, as Keras's does)."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value):
        self._trainable = _flag("trainable", value)
        self._freeze()

    def _freeze(self):
        # A frozen parameter records no gradient: backward skips the work for it.
        for p in self.parameters():
            p.requires_grad = self.trainable

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self, *args, input_shape=None, trainable=True, **kw):
            init(self, *args, **kw)
            if input_shape is not None:
                self.declared_input_shape = _sample_shape(input_shape)
            if trainable is not True:
                self.trainable = trainable

        cls.__init__ = __init__

    def __init__(self, *, name=None, dtype=np.float32, input_shape=None):
        self.name = name
        try:
            self.dtype = np.dtype(dtype)
        except (TypeError, ValueError, SyntaxError):
            # NumPy parses a string such as "f4,(1" with Python's own parser (SyntaxError).
            raise ValueError(f"dtype must be a NumPy float dtype such as 'float32', got "
                             f"dtype={str(dtype)[:40]!r}") from None
        self.built = False
        self.input_shape = None
        if input_shape is not None:      # a layer without its own __init__ (Flatten)
            self.declared_input_shape = _sample_shape(input_shape)

    def __call__(self, x, *args, training=None, **kwargs):
        """Keras's call: inference (Dropout and noise off, BatchNorm on its moving statistics
        and not updating them) unless `training=True`, or inside a call that is training."""
        if not self.built:
            self.build(tuple(x.shape[1:]))
        with call_mode(self, keras_training(training)):
            return self.forward(x, *args, **kwargs)

    def build(self, input_shape, rng=None):
        """Create the weights for inputs of `input_shape` (without the batch axis)."""
        self.input_shape = tuple(input_shape)
        self.built = True
        if not self.trainable:
            self._freeze()

    def compute_output_shape(self, input_shape):
        """The output shape (without the batch axis) for inputs of `input_shape`."""
        return tuple(input_shape)

    def weight_count(self, input_shape):
        """How many numbers `build(input_shape)` allocates (parameters and buffers), computed
        without allocating: a model file's config is checked against it before anything is
        built, so a hostile config cannot ask for terabytes."""
        return 0

    def get_weights(self):
        """Copies of this layer's parameters, then its buffers (Keras's order: kernel, bias;
        gamma, beta, moving mean, moving variance)."""
        return list(self.state_dict().values())

    def set_weights(self, weights):
        """Replace this layer's parameters and buffers, in `get_weights`'s order."""
        keys = list(self.state_dict())
        if len(weights) != len(keys):
            raise ValueError(f"set_weights needs {len(keys)} arrays ({keys}), got {len(weights)}")
        self.load_state_dict(dict(zip(keys, weights)))
        self._weights_set = True     # a seeded build of a fresh model keeps these

    def count_params(self):
        """The number of numbers in this layer's weights, trainable or not (Keras's count:
        BatchNorm's moving statistics included)."""
        return int(sum((w.data if isinstance(w, Tensor) else w).size for w in self.weights))

    @property
    def weights(self):
        """Keras's `layer.weights`: the parameters, then the buffers (empty before build)."""
        return [*self.parameters(), *(b for _, b in self.named_buffers())]

    @property
    def trainable_weights(self):
        """The parameters that fit updates: all of them, or none where `trainable` is False."""
        return self.parameters() if self.trainable else []

    @property
    def non_trainable_weights(self):
        """The frozen parameters, then the buffers (moving statistics, adapted statistics)."""
        frozen = [] if self.trainable else self.parameters()
        return [*frozen, *(b for _, b in self.named_buffers())]

    def get_config(self):
        # dtype too: without it a float64 layer would come back from its config as float32.
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def describe(self):
        """{"class_name", "config"}: what a model file stores for this layer."""
        config = self.get_config()
        if not self.trainable:
            config = {**config, "trainable": False}
        return {"class_name": type(self).__name__, "config": config}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k not in ("name", "dtype") and v is not None)
        return f"{type(self).__name__}({args})"
