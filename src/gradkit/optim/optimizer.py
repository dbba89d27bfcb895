"""The optimizer base: parameters and gradients as views into one flat buffer each.

`bind(params)` copies every parameter into one flat buffer and points each `p.data` (and
`p.grad`) at a reshaped view of it, so an update rule runs once over the whole model: a step
is a handful of vectorized passes, whatever the number of tensors. A parameter is any object
with assignable `.data` and `.grad` attributes; `.data` must keep the array it is given (the
autograd engine then updates `.grad` in place, with `+=`).

`step()` checks the gradient first: one BLAS dot gives ‖g‖² (also the norm for
`global_clipnorm`); if that is not finite, nothing changes (weights, state, counter) and
`step()` returns False, so the fit loop can stop and say where. The learning rate is
`schedule(iterations)`, read fresh every step and never overwritten.

A parameter whose `.grad` is None at `step()` (it took no part in the loss, or was frozen with
`requires_grad_(False)`) is left alone, weights and state, as PyTorch and Keras leave it.

Keras's and PyTorch's habits give some settings other meanings, and the optimizer takes the
meaning of the habit that made it: made without parameters, as Keras users do (`SGD()`,
`SGD(learning_rate=0.1)`, or by name), it is Keras's; made with parameters first, as PyTorch
users do (`SGD(model.parameters())`), PyTorch's. `weight_decay` is the one every class with
it shares: Keras decays the weights decoupled from the gradient, θ ← θ(1 − ηλ) before the
step; PyTorch adds λθ to the gradient (coupled, an L2 penalty's gradient).
"""

import collections.abc
import dataclasses
import functools
import math
import numbers

import numpy as np

from gradkit._registry import Registry
from gradkit.autograd import Tensor
from gradkit.optim import schedules, updates

OPTIMIZERS = Registry("optimizer")


@dataclasses.dataclass(frozen=True)
class MinimizeResult:
    """What a full-batch `minimize(closure)` (L-BFGS, Newton) ended with."""

    loss: float
    grad_norm: float
    iterations: int
    evaluations: int
    success: bool
    message: str


_KERAS_REFUSED = {
    "epsilon": "Keras adds its epsilon where gradkit (and PyTorch) do not (to √v rather than "
               "to the bias-corrected √v̂ in Adam), so the "
               "same number would take other steps: pass gradkit's eps=",
    "weight_decay": "Keras decays the weights decoupled from the gradient and PyTorch adds "
                    "weight_decay·θ to it, and this optimizer does neither: use SGD, Adam or "
                    "AdamW (which take weight_decay=), or an L2 regularizer (added to the loss)",
}


def _keras_arguments(cls, init):
    """Wrap `init` so that Keras's names work: `learning_rate=` is `lr=`, and the class's
    `keras_names` map to gradkit's settings; a Keras argument whose meaning differs here
    is refused with the reason."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        names = {"learning_rate": "lr", **type(self).keras_names}
        for keras_name, ours in names.items():
            if keras_name in kwargs:
                value = kwargs.pop(keras_name)
                if kwargs.get(ours) is not None:
                    raise TypeError(f"{type(self).__name__} got {ours}= and Keras's "
                                    f"{keras_name}=, which are one setting: pass one")
                kwargs[ours] = value
        for keras_name, why in _KERAS_REFUSED.items():
            if keras_name in kwargs and keras_name not in init.__code__.co_varnames:
                raise TypeError(f"{type(self).__name__}({keras_name}=...) is not supported: "
                                f"{why}")
        init(self, *args, **kwargs)

    return __init__


def _lr_like(x):
    """Whether x is meant as a learning rate (else, in that position, it is the parameters)."""
    if isinstance(x, dict):  # a schedule config names its schedule; a dict of parameters doesn't
        return "name" in x
    return isinstance(x, (numbers.Real, schedules.Schedule, str))


def _made_with_params(params):
    """Whether params holds parameters (PyTorch's habit), not a learning rate or nothing."""
    return params is not None and not _lr_like(params)


def _positive_or_none(name, value):
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive number or None, got {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class; a subclass implements `_apply(lr)`, one update of `flat` from `flat_grad`.

    Args:
        params: parameters (objects with `.data` and `.grad`), or None to `bind` them later
            (Sequential.compile does). A learning rate in this place is taken as `lr`, so the
            Keras-style `Adam(1e-3)` works beside the PyTorch-style `Adam(params, lr=1e-3)`.
        lr: a number (a constant schedule), a `schedules.Schedule`, or a schedule config dict;
            None means the class default (`default_lr`).
        clipnorm: rescale each parameter's gradient so its L2 norm is at most this (Keras's
            per-variable clipping).
        global_clipnorm: rescale the whole gradient so its L2 norm over every parameter is
            at most this (Keras's `global_clipnorm`; what `torch.nn.utils.clip_grad_norm_`
            does).
        clipvalue: then clip each gradient entry to [−clipvalue, clipvalue].
        weight_decay: λ ≥ 0, for the classes that take it (default 0).
        decoupled_weight_decay: True: θ ← θ(1 − ηλ) before the step (Keras's, AdamW's);
            False: λθ added to the gradient (PyTorch's). None: the habit's (see above).
    """

    name = None
    aliases = ()
    state_names = ()          # the arrays `state_dict` carries besides `iterations`
    requires_closure = False  # True for full-batch methods whose step needs a closure
    takes_lr = True           # False where a line search or the Newton step sets step lengths
    rule_decays = False       # True where the update rule applies the decoupled decay itself
    default_lr = 1e-3

    # Keras's argument names that mean exactly gradkit's setting, per class (besides
    # `learning_rate`, which every optimizer takes).
    keras_names = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            OPTIMIZERS.add(cls, cls.name, *cls.__dict__.get("aliases", ()))
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _keras_arguments(cls, init)

    def __init__(self, params=None, *, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, weight_decay=0.0, decoupled_weight_decay=None):
        if decoupled_weight_decay is None:
            decoupled_weight_decay = not _made_with_params(params)
        if decoupled_weight_decay not in (True, False):
            raise ValueError("decoupled_weight_decay must be True, False or None, got "
                             f"decoupled_weight_decay={decoupled_weight_decay!r}")
        if (isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real)
                or not math.isfinite(weight_decay) or weight_decay < 0):
            raise ValueError("weight_decay must be a finite number >= 0, got "
                             f"weight_decay={weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        if _lr_like(params):  # Adam(1e-3): the learning rate came first
            if not self.takes_lr:
                raise TypeError(f"{type(self).__name__} has no learning rate; got {params!r} "
                                "where the parameters go")
            if lr is not None:
                raise TypeError(f"{type(self).__name__} got a learning rate twice: "
                                f"{params!r} in the parameters' place and lr={lr!r}")
            params, lr = None, params
        self.lr = type(self).default_lr if lr is None else lr
        self.clipnorm = _positive_or_none("clipnorm", clipnorm)
        self.global_clipnorm = _positive_or_none("global_clipnorm", global_clipnorm)
        self.clipvalue = _positive_or_none("clipvalue", clipvalue)
        self.iterations = 0
        self.grad_norm = None  # ‖g‖ before clipping, at the last step attempted
        self._state = {}
        self._scratch = []
        self._decay_scratch = None
        self._slots = []       # (param, data view, grad view) per parameter
        self._spans = []       # (start, end) of each parameter in the flat buffers
        self._flat = self._flat_grad = None
        self._lazy_zero = False
        if params is not None:
            self.bind(params)

    # -- learning rate -------------------------------------------------------------------------

    @property
    def lr(self):
        """The learning rate for the next step: `schedule(iterations)`."""
        return self.schedule(self.iterations)

    @lr.setter
    def lr(self, value):
        """Replace the schedule (a number becomes a constant one); callbacks use this."""
        if isinstance(value, numbers.Real) and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"lr must be a finite non-negative number, got lr={value!r}")
        self.schedule = schedules.get(value)

    @property
    def learning_rate(self):
        """Keras's name for `lr` (read and set)."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value):
        self.lr = value

    # -- parameters ----------------------------------------------------------------------------

    def bind(self, params):
        """Move `params` into one flat buffer; rebind each `p.data`/`p.grad` to views of it.

        The buffer is float64 when every parameter is float64, float32 otherwise. Gradients start
        at zero. A parameter listed twice (tied weights) gets one slot. State already present
        (from `load_state_dict` before `bind`) is kept if its size matches, else refused.
        """
        if isinstance(params, dict):
            params = params.values()
        try:
            unique = list({id(p): p for p in params}.values())
            if any(isinstance(p, dict) for p in unique):
                raise ValueError("parameter groups (dicts of 'params' and their own settings) "
                                 "are not supported: gradkit's optimizer has one group; pass "
                                 "the parameters, and change the rate through param_groups")
        except TypeError:
            raise TypeError("params must be an iterable of parameters (objects with .data and "
                            f".grad), got {type(params).__name__}") from None
        if not unique:
            raise ValueError("params is empty: expected at least one parameter")
        arrays = []
        for i, p in enumerate(unique):
            data = getattr(p, "data", None)
            if data is None:
                raise ValueError(f"parameter {i} ({type(p).__name__}) has no .data; expected an "
                                 "object with an array in .data (is the model built?)")
            data = np.asarray(data)
            if data.dtype.kind != "f":
                raise TypeError(f"parameter {i} has dtype {data.dtype}; expected floating point")
            arrays.append(data)
        dtype = np.float64 if all(a.dtype == np.float64 for a in arrays) else np.float32
        total = sum(a.size for a in arrays)
        for key, value in self._state.items():
            if value.size != total:
                raise ValueError(f"loaded state {key!r} has {value.size} entries, the parameters "
                                 f"have {total}; expected the same model")
        flat = np.empty(total, dtype=dtype)
        flat_grad = np.zeros(total, dtype=dtype)
        slots, spans, offset = [], [], 0
        for i, (p, a) in enumerate(zip(unique, arrays)):
            end = offset + a.size
            dview = flat[offset:end].reshape(a.shape)
            gview = flat_grad[offset:end].reshape(a.shape)
            dview[...] = a
            try:
                p.data, p.grad = dview, gview
            except AttributeError as e:
                raise TypeError(f"parameter {i} ({type(p).__name__}) does not allow assigning "
                                f".data and .grad: {e}") from None
            if p.data is not dview or p.grad is not gview:
                raise TypeError(f"parameter {i} ({type(p).__name__}) copies what is assigned to "
                                ".data/.grad; expected it to keep the array (a view) it is given")
            slots.append((p, dview, gview))
            spans.append((offset, end))
            offset = end
        self._slots, self._spans = slots, spans
        self._flat, self._flat_grad = flat, flat_grad
        self._lazy_zero = all(isinstance(p, Tensor) for p in unique)
        self._state = {k: np.asarray(v, dtype=dtype).copy() for k, v in self._state.items()}
        self._scratch = []
        self._decay_scratch = None
        return self

    @property
    def params(self):
        return [slot[0] for slot in self._slots]

    @property
    def param_groups(self):
        """PyTorch's `param_groups`: gradkit's optimizer has one group, whose "lr" reads and
        sets the learning rate (`for g in opt.param_groups: g["lr"] = 0.01`) and whose
        "params" are the parameters; other keys are refused rather than ignored."""
        return [_ParamGroup(self)]

    @property
    def flat(self):
        """The flat parameter buffer (every `p.data` is a view into it)."""
        return self._bound()[0]

    @property
    def flat_grad(self):
        """The flat gradient buffer (every `p.grad` is a view into it)."""
        return self._bound()[1]

    def _bound(self):
        if self._flat is None:
            raise RuntimeError(f"{type(self).__name__} has no parameters: pass params to the "
                               "constructor or call bind(params) first")
        return self._flat, self._flat_grad

    def _sync(self):
        """Re-attach any parameter whose .data or .grad was replaced by another array since bind.

        A loop over tensors, not entries (an identity test each): it keeps an assignment such
        as `p.data = best_weights` (early stopping) from silently leaving the optimizer.
        """
        for i, (p, dview, gview) in enumerate(self._slots):
            if p.data is not dview:
                dview[...] = self._checked(i, "data", p.data, dview)
                p.data = dview
            if p.grad is None:
                gview.fill(0)          # no gradient: the view holds zeros, the .grad stays None
            elif p.grad is not gview:
                gview[...] = self._checked(i, "grad", p.grad, gview)
                p.grad = gview

    @staticmethod
    def _checked(i, what, value, view):
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"parameter {i} .{what} now has shape {value.shape}, bound with "
                             f"shape {view.shape}; call bind() again after changing shapes")
        return value

    def zero_grad(self, set_to_none=True):
        """Start the next gradient from zero (every `p.grad` ends up a view of the flat buffer).

        With set_to_none=True (PyTorch's default), gradkit Tensors get `grad = None` and the
        view as their `grad_buffer`, the place `backward` writes their next gradient
        (autograd's protocol, see `Tensor`): nothing is filled, and a parameter that receives
        no gradient keeps `grad = None` and is left alone by `step`, as PyTorch leaves it.
        With set_to_none=False, as in PyTorch, each gradient that exists is filled with
        zeros (one that is None stays None). Other parameter objects always get the
        zero-filled view.
        """
        if set_to_none not in (True, False):
            raise TypeError(f"set_to_none must be True or False, got set_to_none={set_to_none!r}")
        _, flat_grad = self._bound()
        if self._lazy_zero:
            if not set_to_none:
                flat_grad.fill(0)
            for p, _, gview in self._slots:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = gview
                p.grad_buffer = gview
            return
        flat_grad.fill(0)
        for p, _, gview in self._slots:
            if p.grad is not gview:
                p.grad = gview

    # -- the step ------------------------------------------------------------------------------

    def step(self):
        """Apply one update from the current gradients; False (and no change) if non-finite."""
        self._bound()
        idle = [i for i, (p, _, _) in enumerate(self._slots) if p.grad is None]
        self._sync()
        g = self._flat_grad
        # An overflow here means "refuse". np.vdot, unlike dot and matmul, leaves NumPy's
        # floating-point error checks alone, so it needs no errstate (which costs more than the
        # product on a small network).
        gsq = float(np.vdot(g, g))
        if not math.isfinite(gsq):
            gsq = self._rescue_norm(g)
            if gsq is None:
                self.grad_norm = math.inf
                return False
        self.grad_norm = norm = math.sqrt(gsq)
        if self.global_clipnorm is not None and norm > self.global_clipnorm:
            np.multiply(g, self.global_clipnorm / norm, out=g)
        if self.clipnorm is not None:
            self._clip_each(self.clipnorm)
        if self.clipvalue is not None:
            np.clip(g, -self.clipvalue, self.clipvalue, out=g)
        lr = float(self.schedule(self.iterations))
        kept = self._keep(idle)
        if self.weight_decay and not self.decoupled_weight_decay:
            g = self._with_decay_term(g)
        elif self.weight_decay and not self.rule_decays:
            np.multiply(self._flat, 1.0 - lr * self.weight_decay, out=self._flat)
        self._apply(lr, g)
        self._put_back(kept)
        self.iterations += 1
        return True

    def _clip_each(self, limit):
        """Keras's clipnorm: each parameter's gradient rescaled to norm ≤ limit on its own."""
        for _, _, gview in self._slots:
            sq = float(np.vdot(gview, gview))
            if not math.isfinite(sq):
                sq = _overflow_safe_square(gview)
            if sq > limit * limit:
                np.multiply(gview, limit / math.sqrt(sq), out=gview)

    def _with_decay_term(self, g):
        """g + λθ (PyTorch's weight decay) in a work array: the parameters' .grad stay g."""
        if self._decay_scratch is None:
            self._decay_scratch = np.empty_like(self._flat)
        s = self._decay_scratch
        np.multiply(self._flat, self.weight_decay, out=s)
        np.add(s, g, out=s)
        return s

    def _keep(self, idle):
        """Copies of the weights and state of the parameters without a gradient (`idle`)."""
        if not idle:
            return None
        spans = [self._spans[i] for i in idle]
        return spans, {key: [buf[a:b].copy() for a, b in spans]
                       for key, buf in [("", self._flat), *self._state.items()]}

    def _put_back(self, kept):
        """Undo this step for the parameters `_keep` saw without a gradient; state created by
        this step starts there at its initial value."""
        if kept is None:
            return
        spans, saved = kept
        for key, buf in [("", self._flat), *self._state.items()]:
            for k, (a, b) in enumerate(spans):
                if key in saved:
                    buf[a:b] = saved[key][k]
                else:
                    buf[a:b] = self._initial_state(key)

    def _rescue_norm(self, g):
        """‖g‖² when g is finite but its square overflowed the dtype and clipping will shrink it.

        Without clipnorm or global_clipnorm such a gradient (‖g‖ > 1.8e19 in float32) would
        overflow g² inside the update rules, so it is refused like a non-finite one.
        """
        if self.clipnorm is None and self.global_clipnorm is None:
            return None
        if not np.isfinite(g).all():
            return None
        return _overflow_safe_square(g)

    def _apply(self, lr, g):
        """One update of `flat` from the gradient `g` (the flat gradient, or g + λθ)."""
        raise NotImplementedError(f"{type(self).__name__} does not define an update")

    def _buffer(self, key):
        """The state array `key`, created (flat size, `_initial_state(key)`) on first use."""
        buf = self._state.get(key)
        if buf is None:
            buf = self._state[key] = np.full_like(self._flat, self._initial_state(key))
        return buf

    def _initial_state(self, key):
        return 0.0

    def _flush_due(self):
        """Whether this step's update flushes subnormal state to zero (every FLUSH_EVERY-th)."""
        return (self.iterations + 1) % updates.FLUSH_EVERY == 0

    def _work(self, k=0):
        """Scratch array number k (flat size, contents undefined), allocated once."""
        while len(self._scratch) <= k:
            self._scratch.append(np.empty_like(self._flat))
        return self._scratch[k]

    def _evaluate(self, closure):
        """Run `closure()` (zero_grad, forward, backward) and return its loss as a float."""
        loss = closure()
        self._sync()
        if not isinstance(loss, (numbers.Real, np.ndarray, np.generic)):
            loss = getattr(loss, "data", loss)  # a Tensor: its array
        return float(np.asarray(loss))

    # -- state and config ----------------------------------------------------------------------

    def state_dict(self):
        """Copies of the state: {"iterations": int64 array, name: flat array, ...}."""
        state = {"iterations": np.asarray(self.iterations, dtype=np.int64)}
        state.update((k, v.copy()) for k, v in self._state.items())
        return state

    def load_state_dict(self, state):
        """Restore `state_dict()` output; continuing then is bit-identical to never stopping."""
        if "iterations" not in state:
            raise ValueError(f"state has no 'iterations'; got keys {sorted(state)}")
        unknown = set(state) - {"iterations", *self.state_names}
        if unknown:
            raise ValueError(f"unexpected state {sorted(unknown)} for {type(self).__name__}; "
                             f"expected 'iterations' and some of {list(self.state_names)}")
        iterations = np.asarray(state["iterations"])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
            raise ValueError("iterations must be a non-negative integer scalar, got "
                             f"{iterations!r}")
        loaded = {}
        for key in self.state_names:
            if key in state:
                value = np.asarray(state[key])
                if value.ndim != 1 or (self._flat is not None and value.size != self._flat.size):
                    expected = "a flat array" if self._flat is None else f"({self._flat.size},)"
                    raise ValueError(f"state {key!r} has shape {value.shape}; expected {expected}")
                dtype = value.dtype if self._flat is None else self._flat.dtype
                loaded[key] = value.astype(dtype, copy=True)
        self._state = loaded
        self.iterations = int(iterations)

    def get_config(self):
        """Settings that rebuild this optimizer with `get(config)` (state excluded)."""
        sched = self.schedule
        lr = sched.initial if isinstance(sched, schedules.Constant) else sched.get_config()
        return {"name": self.name, "lr": lr, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    def _decay_config(self):
        """The weight decay settings, for the classes that take them."""
        return {"weight_decay": self.weight_decay,
                "decoupled_weight_decay": self.decoupled_weight_decay}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k != "name" and v is not None)
        return f"{type(self).__name__}({args})"


def _overflow_safe_square(a):
    """‖a‖² of a finite array whose squares overflow its dtype, in float64."""
    top = float(np.abs(a).max())
    return top * top * float(np.square(a / top, dtype=np.float64).sum())


class _ParamGroup(collections.abc.MutableMapping):
    """PyTorch's parameter group, over gradkit's one: "lr" is the optimizer's learning rate
    (read and set), "params" its parameters; any other key would be ignored, so it raises."""

    _KEYS = ("params", "lr")

    def __init__(self, optimizer):
        self._optimizer = optimizer

    def __getitem__(self, key):
        if key == "lr":
            return self._optimizer.lr
        if key == "params":
            return self._optimizer.params
        raise KeyError(self._refusal(key))

    def __setitem__(self, key, value):
        if key != "lr":
            raise KeyError(self._refusal(key))
        self._optimizer.lr = value

    def __delitem__(self, key):
        raise KeyError(self._refusal(key))

    def __iter__(self):
        return iter(self._KEYS)

    def __len__(self):
        return len(self._KEYS)

    def __repr__(self):
        return repr(dict(self.items()))

    def _refusal(self, key):
        name = type(self._optimizer).__name__
        return (f"param_groups[0][{key!r}]: gradkit's {name} changes only 'lr' through "
                "param_groups (and lists 'params'); read or set its other settings on the "
                "optimizer itself")


def get(identifier, **kwargs):
    """An optimizer from a name (plus settings), a config dict, a class, or an Optimizer.

    Names: sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw, lbfgs, newton.

    >>> get("adam", lr=0.01).lr
    0.01
    """
    if isinstance(identifier, Optimizer):
        if kwargs:
            raise TypeError(f"settings {sorted(kwargs)} cannot be applied to an optimizer object")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(**kwargs)
    if isinstance(identifier, (str, dict)):
        return OPTIMIZERS.create(identifier, **kwargs)
    raise TypeError("optimizer must be a name, a config dict or an Optimizer, got "
                    f"{type(identifier).__name__}: {identifier!r}")

