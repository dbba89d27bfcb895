"""Learning-rate schedules: `schedule(step) -> float`, called by the optimizer before every step.

A schedule is a pure function of the step count (no state, so resuming at step k gives the same
learning rate as never stopping). Decay schedules count in steps, or in whole epochs with
`per="epoch"` and `steps_per_epoch` (the fit loop fills that in when it is left as None), so the
notes' "α_t at epoch t" forms are available as written.

>>> Cosine(0.1, 100)(50)
0.05
>>> get("step", initial=0.1, boundaries=[30, 60, 90])(65)
0.0010000000000000002
"""

import bisect
import math
import numbers

from gradkit._registry import Registry

SCHEDULES = Registry("schedule")


def _number(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {name}={value!r}")
    if value < 0 or (positive and value == 0):
        expected = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be {expected}, got {name}={value!r}")
    return float(value)


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


class Schedule:
    """Base class: subclasses give `value(t)`, the formula in their unit t (steps or epochs)."""

    name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            SCHEDULES.add(cls, cls.name, *cls.__dict__.get("aliases", ()))

    def __init__(self, *, per="step", steps_per_epoch=None):
        if per not in ("step", "epoch"):
            raise ValueError(f"per must be 'step' or 'epoch', got per={per!r}")
        self.per = per
        self.steps_per_epoch = None if steps_per_epoch is None else _count(
            "steps_per_epoch", steps_per_epoch)

    def __call__(self, step):
        if self.per == "epoch":
            if self.steps_per_epoch is None:
                raise ValueError(f"{type(self).__name__}(per='epoch') needs steps_per_epoch; "
                                 "set it, or let fit() set it")
            step //= self.steps_per_epoch
        return self.value(step)

    def value(self, t):
        raise NotImplementedError

    def get_config(self):
        config = {"name": self.name, **self._config()}
        if self.per != "step":
            config.update(per=self.per, steps_per_epoch=self.steps_per_epoch)
        return config

    def _config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """α_t = α₀."""

    name = "constant"

    def __init__(self, value):
        super().__init__()
        self.initial = _number("value", value)

    def __call__(self, step):  # the common case: skip the unit conversion
        return self.initial

    def value(self, t):
        return self.initial

    def _config(self):
        return {"value": self.initial}


class StepDecay(Schedule):
    """Multiply by `factor` at each boundary: α_t = α₀ · factor^(number of boundaries ≤ t).

    The ResNet recipe (×0.1 after epochs 30, 60 and 90) is
    `StepDecay(0.1, [30, 60, 90], per="epoch", steps_per_epoch=n)`. An integer `boundaries=k`
    means every k units: α_t = α₀ · factor^⌊t/k⌋.
    """

    name = "step"
    aliases = ("step_decay",)

    def __init__(self, initial, boundaries, factor=0.1, *, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.factor = _number("factor", factor, positive=True)
        if isinstance(boundaries, numbers.Integral) and not isinstance(boundaries, bool):
            self.boundaries = _count("boundaries", boundaries)
        else:
            try:
                b = [int(x) for x in boundaries]
            except (TypeError, ValueError):
                b = None
            if not b or any(x < 0 for x in b) or b != sorted(set(b)):
                raise ValueError("boundaries must be a positive integer or an increasing sequence "
                                 f"of non-negative integers, got boundaries={boundaries!r}")
            self.boundaries = b

    def value(self, t):
        if isinstance(self.boundaries, int):
            n = t // self.boundaries
        else:
            n = bisect.bisect_right(self.boundaries, t)
        return self.initial * self.factor**n

    def _config(self):
        b = self.boundaries
        return {"initial": self.initial, "boundaries": b if isinstance(b, int) else list(b),
                "factor": self.factor}


class Exponential(Schedule):
    """α_t = α₀ e^(−k t). The EPFL form 0.9^t α₀ is k = −ln 0.9."""

    name = "exponential"

    def __init__(self, initial, k, *, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.k = _number("k", k)

    def value(self, t):
        return self.initial * math.exp(-self.k * t)

    def _config(self):
        return {"initial": self.initial, "k": self.k}


class InverseTime(Schedule):
    """1/t decay: α_t = α₀ / (1 + k t)."""

    name = "inverse_time"

    def __init__(self, initial, k, *, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.k = _number("k", k)

    def value(self, t):
        return self.initial / (1.0 + self.k * t)

    def _config(self):
        return {"initial": self.initial, "k": self.k}


class Linear(Schedule):
    """α_t = α₀ + (end − α₀) · min(t, T)/T; with end = 0 the notes' α₀(1 − t/T)."""

    name = "linear"

    def __init__(self, initial, steps, *, end=0.0, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.steps = _count("steps", steps)
        self.end = _number("end", end)

    def value(self, t):
        return self.initial + (self.end - self.initial) * (min(t, self.steps) / self.steps)

    def _config(self):
        return {"initial": self.initial, "steps": self.steps, "end": self.end}


class Cosine(Schedule):
    """α_t = α_min + ½(α₀ − α_min)(1 + cos(π min(t, T)/T)); with α_min = 0 the notes' form."""

    name = "cosine"

    def __init__(self, initial, steps, *, minimum=0.0, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.steps = _count("steps", steps)
        self.minimum = _number("minimum", minimum)

    def value(self, t):
        cos = math.cos(math.pi * min(t, self.steps) / self.steps)
        return self.minimum + 0.5 * (self.initial - self.minimum) * (1.0 + cos)

    def _config(self):
        return {"initial": self.initial, "steps": self.steps, "minimum": self.minimum}


class InverseSqrt(Schedule):
    """α_t = α₀ / √(1 + t/scale): the notes' α₀/√t with t counted from 1 (scale = 1)."""

    name = "inverse_sqrt"

    def __init__(self, initial, *, scale=1.0, per="step", steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.initial = _number("initial", initial)
        self.scale = _number("scale", scale, positive=True)

    def value(self, t):
        return self.initial / math.sqrt(1.0 + t / self.scale)

    def _config(self):
        return {"initial": self.initial, "scale": self.scale}


class Cyclic(Schedule):
    """Triangular cyclic learning rate (Smith 2017), used for snapshot ensembles.

    Rises linearly from `base` to `maximum` over `step_size` units, falls back over the next
    `step_size`, and repeats:
        c = ⌊1 + t/(2s)⌋,  x = |t/s − 2c + 1|,  α_t = base + (max − base) · max(0, 1 − x) · h(c)
    with h = 1 (mode "triangular") or 1/2^(c−1) (mode "triangular2", halved every cycle).
    """

    name = "cyclic"

    def __init__(self, base, maximum, step_size, *, mode="triangular", per="step",
                 steps_per_epoch=None):
        super().__init__(per=per, steps_per_epoch=steps_per_epoch)
        self.base = _number("base", base)
        self.maximum = _number("maximum", maximum)
        if self.maximum < self.base:
            raise ValueError(f"maximum must be at least base={base!r}, got maximum={maximum!r}")
        self.step_size = _count("step_size", step_size)
        if mode not in ("triangular", "triangular2"):
            raise ValueError(f"mode must be 'triangular' or 'triangular2', got mode={mode!r}")
        self.mode = mode

    def value(self, t):
        s = self.step_size
        cycle = 1 + t // (2 * s)
        x = abs(t / s - 2 * cycle + 1)
        height = (self.maximum - self.base) * max(0.0, 1.0 - x)
        if self.mode == "triangular2":
            height /= 2.0 ** (cycle - 1)
        return self.base + height

    def _config(self):
        return {"base": self.base, "maximum": self.maximum, "step_size": self.step_size,
                "mode": self.mode}


class Warmup(Schedule):
    """Linear warm-up in front of any schedule, counted in steps.

        α_t = α'(0) (t + 1)/W   for t < W,      α_t = α'(t − W)   after,
    where α' is the wrapped schedule (a number means a constant one): the first step already
    moves, the W-th uses α'(0), and the wrapped schedule then starts from its own step 0.
    """

    name = "warmup"

    def __init__(self, schedule, warmup_steps):
        super().__init__()
        self.schedule = get(schedule)
        self.warmup_steps = _count("warmup_steps", warmup_steps)

    def __call__(self, step):
        w = self.warmup_steps
        if step < w:
            return self.schedule(0) * (step + 1) / w
        return self.schedule(step - w)

    def value(self, t):
        return self(t)

    def _config(self):
        return {"schedule": self.schedule.get_config(), "warmup_steps": self.warmup_steps}


def get(identifier, **kwargs):
    """A schedule from a name (plus its settings), a config dict, a number, or a Schedule.

    >>> get(0.01)
    Constant(value=0.01)
    >>> get({"name": "exponential", "initial": 0.1, "k": 0.5})
    Exponential(initial=0.1, k=0.5)
    """
    if isinstance(identifier, Schedule):
        if kwargs:
            raise TypeError(f"settings {sorted(kwargs)} cannot be applied to a Schedule object")
        return identifier
    if isinstance(identifier, numbers.Real) and not isinstance(identifier, bool):
        if kwargs:
            raise TypeError(f"settings {sorted(kwargs)} cannot be applied to a constant")
        return Constant(identifier)
    if isinstance(identifier, (str, dict)):
        return SCHEDULES.create(identifier, **kwargs)
    raise TypeError("a learning rate must be a number, a Schedule, a schedule name or a config "
                    f"dict, got {type(identifier).__name__}: {identifier!r}")

