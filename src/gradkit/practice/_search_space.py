"""The hyper-parameter search space and the samplers of `gradkit.practice.search`.

Imported only when a search runs: it imports Optuna at the top.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from gradkit.errors import ConfigError
from gradkit.practice._search_report import rank_key
from gradkit.practice.run import ACTIVATIONS, RunConfig

# The notes' list of what to tune: width and depth, learning rate, regularization strength,
# activation, mini-batch size. Log scales where a factor matters more than a difference
# (1e-4 -> 1e-3 is as big a step as 1e-2 -> 1e-1).
DEFAULT_SPACE = {
    "width": {"low": 16, "high": 512, "log": True},
    "depth": {"low": 1, "high": 4},
    "activation": {"choices": ["relu", "tanh", "gelu", "elu"]},
    "lr": {"low": 1e-4, "high": 1e-1, "log": True},
    "l2": {"low": 1e-6, "high": 1e-2, "log": True},      # weight decay
    "dropout": {"low": 0.0, "high": 0.5},
    "batch_size": {"low": 16, "high": 256, "log": True},
}

# The number of epochs is the notes' other tuned setting, chosen as they say: by early stopping
# on the validation split. Each trial trains at most this many epochs and is scored at its best
# one, which the final retrain then uses. A fixed count suits few of the sampled settings (a
# heavily regularized network needs several times the epochs of a plain one); pinning `epochs`
# or `early_stopping`, or searching `epochs`, replaces this.
TRIAL_BUDGET = {"epochs": 100, "early_stopping": 10}

# Names a search may set besides the RunConfig fields; they become `hidden = [width] * depth`.
ARCHITECTURE = ("width", "depth")
_FIELDS = set(RunConfig.__dataclass_fields__)


def resolve_space(space, base):
    """The searched distributions and the settings pinned on top of `base`.

    `space` (None: the default) updates `DEFAULT_SPACE`, leaving out what `base` pins: an entry
    is `{"low", "high", "log"}` (ints -> integer range), `{"choices": [...]}`, an Optuna
    distribution, None (not searched: the base value) or a plain value (pinned).

    Returns:
        (distributions, pinned): name -> Optuna distribution; name -> value.
    """
    if space is not None and not isinstance(space, dict):
        raise ConfigError(f"space must be a dict of name -> range, got {type(space).__name__}")
    merged = {k: v for k, v in DEFAULT_SPACE.items() if not _pinned_by(k, base)}
    merged.update(space or {})
    distributions, pinned = {}, {}
    for name, spec in merged.items():
        if name not in _FIELDS and name not in ARCHITECTURE or name in ("data", "seed"):
            raise ConfigError(f"space: cannot search {name!r}; searchable: width, depth and the "
                              f"RunConfig fields except data and seed")
        if spec is None:
            continue
        dist = _distribution(name, spec)
        if dist is None:
            pinned[name] = spec
        else:
            distributions[name] = dist
    if ("hidden" in distributions or "hidden" in pinned) and \
            any(a in distributions or a in pinned for a in ARCHITECTURE):
        raise ConfigError("space: give either hidden or width/depth, not both")
    return distributions, pinned


def trial_budget(space, base):
    """The settings of TRIAL_BUDGET that neither `base` pins nor `space` names."""
    named = set(base) | set(space or {})
    if named & set(TRIAL_BUDGET):
        return {}
    return dict(TRIAL_BUDGET)


def starting_point(config, distributions):
    """The base configuration's own values of the searched parameters (those its space holds),
    to be tried first: every other trial is then ranked against what `gradkit train` runs with
    the same settings (under the trial budget), and the search's best trial on the validation
    split is never worse than it."""
    own = {"width": config["hidden"][0], "depth": len(config["hidden"]),
           **{k: v for k, v in config.items() if k not in ARCHITECTURE}}
    if len(set(config["hidden"])) > 1:          # not [width] * depth: no point of the space
        own.pop("width"), own.pop("depth")
    point = {}
    for name, dist in distributions.items():
        if name not in own:
            continue
        value = own[name]
        if name == "l2" and value == 0 and isinstance(dist, FloatDistribution) and dist.log:
            value = dist.low            # "none" on a log scale: its smallest value
        if _holds(dist, value):
            point[name] = value
    return point


def _holds(dist, value):
    """Whether `value` is a point of `dist` (Optuna's own check is not public)."""
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dist, IntDistribution) and value != int(value):
        return False
    return dist.low <= value <= dist.high


def _pinned_by(name, base):
    if name in ARCHITECTURE:
        return "hidden" in base
    return name in base


def _distribution(name, spec):
    if isinstance(spec, BaseDistribution):
        return spec
    if not isinstance(spec, dict):
        return None
    try:
        if set(spec) == {"choices"}:
            choices = list(spec["choices"])
            if not choices:
                raise ValueError("choices is empty")
            return CategoricalDistribution(choices)
        if {"low", "high"} <= set(spec) <= {"low", "high", "log"}:
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
                return IntDistribution(low, high, log=log)
            return FloatDistribution(float(low), float(high), log=log)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"space: {name}: {err} (got {spec!r})") from None
    raise ConfigError(f"space: {name}: expected {{'low', 'high'[, 'log']}} or {{'choices'}}, "
                      f"got keys {sorted(spec)}")


def trial_config(base, params):
    """The RunConfig dict of one trial: `base` with the sampled `params` applied."""
    config = dict(base)
    for name, value in params.items():
        if name not in ARCHITECTURE:
            config[name] = value
    if "width" in params or "depth" in params:
        width = params.get("width", base["hidden"][0] if base["hidden"] else 64)
        depth = params.get("depth", len(base["hidden"]))
        config["hidden"] = [int(width)] * int(depth)
    return config


def check_choices(distributions):
    """Refuse activation choices RunConfig does not know, before any trial runs."""
    dist = distributions.get("activation")
    if isinstance(dist, CategoricalDistribution):
        unknown = [c for c in dist.choices if c not in ACTIVATIONS]
        if unknown:
            raise ConfigError(f"space: activation choices {unknown} are not among {ACTIVATIONS}")


def make_sampler(name, *, seed, n_trials, n_existing, direction):
    """The Optuna sampler called `name`: random, tpe or coarse-to-fine."""
    # A resumed search must not replay the first run's random draws, so the seed also
    # depends on how many trials the study already holds.
    sub_seed = int(np.random.SeedSequence([seed, n_existing]).generate_state(1)[0] >> 1)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=sub_seed)
    if name == "tpe":
        # TPE models the good and the bad trials; below ~10 finished trials it samples at random.
        startup = max(1, min(10, n_trials // 2))
        return optuna.samplers.TPESampler(seed=sub_seed, n_startup_trials=startup)
    if name == "coarse-to-fine":
        return CoarseToFineSampler(n_coarse=math.ceil(n_trials / 2), seed=seed,
                                   direction=direction)
    raise ConfigError(f"sampler must be one of random, tpe, coarse-to-fine, got {name!r}")


class CoarseToFineSampler(optuna.samplers.BaseSampler):
    """The notes' recipe: random over the whole space, then random inside ranges narrowed to
    where the best trials so far lie.

    Trials numbered below `n_coarse` sample the full distributions. Later ones take the best
    `top` fraction of the finished trials (at least 2), and sample each parameter uniformly
    (on its own scale, log or linear) within the range those trials span, widened by a quarter
    of that span on each side; a categorical parameter keeps the choices those trials used.
    Each draw is seeded by (seed, trial number, parameter), so a re-run trial draws the same.

    Args:
        n_coarse: trials of the coarse phase.
        seed: base seed (default 0).
        direction: "maximize" or "minimize" the objective.
        top: fraction of finished trials that defines the fine ranges (default 0.25).
    """

    def __init__(self, *, n_coarse, seed=0, direction="maximize", top=0.25):
        self.n_coarse, self.seed, self.direction, self.top = n_coarse, seed, direction, top

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def phase(self, study, number):
        """ "coarse" or "fine": which range trial `number` samples from."""
        if number < self.n_coarse or len(self._best(study)) < 2:
            return "coarse"
        return "fine"

    def sample_independent(self, study, trial, param_name, param_distribution):
        rng = np.random.default_rng([self.seed, trial.number, zlib.crc32(param_name.encode())])
        dist = param_distribution
        if self.phase(study, trial.number) == "fine":
            values = [t.params[param_name] for t in self._best(study) if param_name in t.params]
            if values:
                dist = narrow(dist, values)
        return draw(rng, dist)

    def _best(self, study):
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        done = sorted(done, key=lambda t: rank_key(
            t.value, (t.user_attrs.get("result") or {}).get("val_loss"), self.direction))
        return done[:max(2, math.ceil(self.top * len(done)))]


def narrow(dist, values):
    """`dist` cut down to the span of `values`, widened by a quarter of it on each side."""
    if isinstance(dist, CategoricalDistribution):
        return CategoricalDistribution([c for c in dist.choices if c in values])
    to, back = (math.log, math.exp) if dist.log else (float, float)
    full_lo, full_hi = to(dist.low), to(dist.high)
    lo, hi = min(map(to, values)), max(map(to, values))
    # A single value (or identical ones) still gets a little room: 5% of the full range.
    pad = max(0.25 * (hi - lo), 0.05 * (full_hi - full_lo))
    lo, hi = back(max(full_lo, lo - pad)), back(min(full_hi, hi + pad))
    if isinstance(dist, IntDistribution):
        lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        return IntDistribution(max(dist.low, lo), min(dist.high, max(lo, hi)), log=dist.log)
    return FloatDistribution(lo, hi, log=dist.log)


def draw(rng, dist):
    """One uniform draw from `dist` on its own scale (log or linear)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if dist.log:
        value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    else:
        value = rng.uniform(dist.low, dist.high)
    if isinstance(dist, IntDistribution):
        step = dist.step
        value = dist.low + round((value - dist.low) / step) * step
        return int(min(max(value, dist.low), dist.high))
    if dist.step is not None:
        value = dist.low + round((value - dist.low) / dist.step) * dist.step
    return float(min(max(value, dist.low), dist.high))


# -- widening a range whose edge the best trials sit on ------------------------------------------

# How far a range may grow: beyond these, a setting is no longer a neural-network setting one
# would train (a dropout of 0.95, a million epochs) or costs more than a search should.
_LIMITS = {"width": (1, 4096), "depth": (1, 16), "batch_size": (8, 4096), "epochs": (1, 100),
           "lr": (1e-6, 1.0), "l2": (1e-9, 1.0), "l1": (1e-9, 1.0), "dropout": (0.0, 0.9)}
WIDEN_TIMES = 2            # per parameter and side
# Settings a trial's time grows with: each widening at most doubles (halves) their range's end.
_COSTLY = ("width", "depth", "batch_size", "epochs")


def edges(trials, distributions, direction, *, band=0.1):
    """[(name, "low" | "high")]: numeric ranges whose edge the best trials sit on.

    The best tenth of `trials` (FrozenTrials, COMPLETE; at least 3) is looked at per parameter:
    where the median of their values lies within `band` of an end of the range (on the range's
    own scale, log or linear), the optimum may lie beyond it.
    """
    done = sorted(trials, key=lambda t: rank_key(
        t.value, (t.user_attrs.get("result") or {}).get("val_loss"), direction))
    top = done[:max(3, len(done) // 10)]
    found = []
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution) or dist.high <= dist.low:
            continue
        to = math.log if dist.log else float
        lo, hi = to(dist.low), to(dist.high)
        values = [t.params[name] for t in top if name in t.params]
        if len(values) < 3:
            continue
        where = (to(float(np.median(values))) - lo) / (hi - lo)
        if where <= band:
            found.append((name, "low"))
        elif where >= 1 - band:
            found.append((name, "high"))
    return found


def widen(name, dist, side):
    """`dist` grown past its `side` end by half its span (on a log scale a factor of at most 4,
    2 for the settings a trial's time grows with), within the limits of the setting; None if
    it cannot grow."""
    lo_limit, hi_limit = _LIMITS.get(name, (-math.inf, math.inf))
    if dist.log:
        factor = min(2.0 if name in _COSTLY else 4.0, math.sqrt(dist.high / dist.low))
        low, high = (dist.low / factor, dist.high) if side == "low" else \
            (dist.low, dist.high * factor)
    else:
        half = (dist.high - dist.low) / 2
        low, high = (dist.low - half, dist.high) if side == "low" else \
            (dist.low, dist.high + half)
    # Never narrower than it was (a range the user gave may already reach past a limit).
    low, high = min(dist.low, max(low, lo_limit)), max(dist.high, min(high, hi_limit))
    if isinstance(dist, IntDistribution):
        low, high = int(math.floor(low)), int(math.ceil(high))
        new = IntDistribution(max(low, 1) if dist.log else low, high, log=dist.log)
    else:
        new = FloatDistribution(low, high, log=dist.log)
    return None if (new.low, new.high) == (dist.low, dist.high) else new


def widened_distribution(dist, low, high):
    """`dist` with the range (low, high) that a stored widening recorded."""
    if isinstance(dist, IntDistribution):
        return IntDistribution(int(low), int(high), log=dist.log)
    return FloatDistribution(float(low), float(high), log=dist.log)
