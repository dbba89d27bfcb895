"""Weight initializers, all drawing from one `np.random.Generator`.

For a weight matrix W of shape (fan_in, fan_out) the notes derive the variance that keeps
activations (forward) and gradients (backward) at the same scale from layer to layer:
    LeCun:  Var W = 1 / fan_in
    Glorot: Var W = 2 / (fan_in + fan_out)      (tanh, sigmoid)
    He:     Var W = 2 / fan_in                  (ReLU halves the variance)
A uniform distribution on [-a, a] has variance a²/3, hence the limits sqrt(3 Var).
"""

from __future__ import annotations

import numpy as np

from gradkit._registry import Registry


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def one_setting(name, value, keras_name, keras_value, default):
    """gradkit's setting or Keras's name for it (not both, unless they agree)."""
    if value is not None and keras_value is not None and value != keras_value:
        raise ValueError(f"{name} and {keras_name} are one setting; got {name}={value!r} and "
                         f"{keras_name}={keras_value!r}")
    if value is not None:
        return value
    return keras_value if keras_value is not None else default


class Initializer:
    """Callable `init(shape, rng, dtype) -> ndarray`; `get_config()` names its settings."""

    name = "initializer"

    def __call__(self, shape, rng=None, dtype=np.float32):
        rng = np.random.default_rng() if rng is None else rng
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {}

    def describe(self):
        return {"name": self.name, **self.get_config()}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Constant(Initializer):
    name = "constant"

    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    name = "zeros"

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    name = "ones"

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class RandomNormal(Initializer):
    """W ~ N(mean, std²); the notes' experiment uses std 0.01 (vanishing) and 0.2 (saturating)."""

    name = "random_normal"

    def __init__(self, std=None, *, mean=0.0, stddev=None):
        # mean is keyword-only: Keras's positional order is (mean, stddev), so
        # RandomNormal(0.0, 0.01) written for Keras is refused rather than read as std 0.
        if std is not None and stddev is not None and std != stddev:
            raise ValueError(f"std and Keras's stddev are one setting; got std={std!r}, "
                             f"stddev={stddev!r}")
        std = 0.05 if std is None and stddev is None else (std if std is not None else stddev)
        if std < 0:
            raise ValueError(f"std must be >= 0, got std={std!r}")
        self.std, self.mean = float(std), float(mean)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)

    def get_config(self):
        return {"std": self.std, "mean": self.mean}


class RandomUniform(Initializer):
    name = "random_uniform"

    def __init__(self, low=None, high=None, *, minval=None, maxval=None):
        # Keras's minval/maxval are the same settings, in the same order.
        low = one_setting("low", low, "minval", minval, -0.05)
        high = one_setting("high", high, "maxval", maxval, 0.05)
        if not low <= high:
            raise ValueError(f"need low <= high, got low={low!r}, high={high!r}")
        self.low, self.high = float(low), float(high)

    def sample(self, shape, rng):
        return rng.uniform(self.low, self.high, size=shape)

    def get_config(self):
        return {"low": self.low, "high": self.high}


class VarianceScaling(Initializer):
    """Var W = scale / n with n = fan_in, fan_out or their mean; normal or uniform."""

    def __init__(self, scale, mode, distribution):
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(n, 1)
        if self.distribution == "normal":
            return rng.normal(0.0, np.sqrt(var), size=shape)
        limit = np.sqrt(3 * var)
        return rng.uniform(-limit, limit, size=shape)


def _scaling(name, scale, mode, distribution, doc):
    cls = type(name, (VarianceScaling,), {
        "name": name,
        "__init__": lambda self: VarianceScaling.__init__(self, scale, mode, distribution),
        "__doc__": doc,
    })
    return cls


glorot_normal = _scaling("glorot_normal", 1.0, "fan_avg", "normal",
                         "Glorot/Xavier: N(0, 2 / (fan_in + fan_out)).")
glorot_uniform = _scaling("glorot_uniform", 1.0, "fan_avg", "uniform",
                          "Glorot/Xavier: U(±sqrt(6 / (fan_in + fan_out))).")
he_normal = _scaling("he_normal", 2.0, "fan_in", "normal", "He: N(0, 2 / fan_in).")
he_uniform = _scaling("he_uniform", 2.0, "fan_in", "uniform", "He: U(±sqrt(6 / fan_in)).")
lecun_normal = _scaling("lecun_normal", 1.0, "fan_in", "normal", "LeCun: N(0, 1 / fan_in).")
lecun_uniform = _scaling("lecun_uniform", 1.0, "fan_in", "uniform",
                         "LeCun: U(±sqrt(3 / fan_in)).")
# The MIPT notes' first example (written U(-1/√m, -1/√m) on the slide, a typo for ±) and
# PyTorch's nn.Linear default for weights (kaiming_uniform with a = √5 gives bound 1/√fan_in):
# Var W = 1 / (3 fan_in), a third of LeCun's.
fan_in_uniform = _scaling("fan_in_uniform", 1.0 / 3.0, "fan_in", "uniform",
                          "U(±1/sqrt(fan_in)) (MIPT; PyTorch's nn.Linear default).")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, times `gain`."""

    name = "orthogonal"

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))             # makes the result uniformly distributed
        q = q if rows >= cols else q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain}


INITIALIZERS = Registry("initializer", {cls.name: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, glorot_normal, glorot_uniform,
    he_normal, he_uniform, lecun_normal, lecun_uniform, fan_in_uniform, Orthogonal)})
for _alias, _cls in {"xavier_normal": glorot_normal, "xavier_uniform": glorot_uniform,
                     "normal": RandomNormal, "uniform": RandomUniform}.items():
    INITIALIZERS.add(_cls, _alias)


def get(init, **kwargs):
    """An initializer from a name ("he_normal"), a config dict, an Initializer, or a callable."""
    if isinstance(init, Initializer) or (callable(init) and not isinstance(init, (str, dict))):
        return init
    return INITIALIZERS.create(init, **kwargs)


def names():
    return INITIALIZERS.names()


def describe(init):
    """A JSON-able description of an initializer (its name and settings)."""
    return init.describe() if isinstance(init, Initializer) else None
