"""What each estimator parameter accepts: a declarative table, checked when fit starts.

A table maps every parameter to the list of what it may be; a value is valid when it matches
one entry. An entry is None, a type (any instance of it), or one of the constraints below:

    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Options(str, {"auto"}), Interval(Integral, 1, None, closed="left")],

A refused value raises `InvalidParameterError` naming the parameter, the estimator, what it
accepts and what it got, in the words scikit-learn's own estimators use ("The 'alpha' parameter
of MLPClassifier must be a float in the range [0, inf). Got -1.0 instead."). gradkit keeps its
own table rather than scikit-learn's, whose constraint classes are internal to scikit-learn.
"""

from __future__ import annotations

import functools
from numbers import Integral, Real

import numpy as np
from sklearn import config_context

from gradkit.errors import InvalidParameterError


def _number(value):
    # A bool is an Integral to Python; as a size, a rate or a count it is a mistake.
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


class Interval:
    """A number of `kind` (Integral or Real) between `low` and `high` (None: unbounded).

    `closed` says which ends belong to the range: "left", "right", "both" or "neither".
    """

    def __init__(self, kind, low, high, *, closed):
        if kind not in (Integral, Real):
            raise TypeError(f"kind must be numbers.Integral or numbers.Real, got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', "
                             f"got closed={closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value):
        if not _number(value) or not isinstance(value, self.kind):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self):
        left = "[" if self.closed in ("left", "both") and self.low is not None else "("
        right = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        what = "an int" if self.kind is Integral else "a float"
        return f"{what} in the range {left}{low}, {high}{right}"


class Options:
    """One of a set of values of type `kind` (`Options(str, {"adam", "sgd"})`)."""

    def __init__(self, kind, values):
        self.kind, self.values = kind, frozenset(values)

    def accepts(self, value):
        if not isinstance(value, self.kind) or isinstance(value, (bool, np.bool_)):
            return False
        try:
            return value in self.values
        except TypeError:        # an unhashable value is none of the options
            return False

    def __str__(self):
        names = ", ".join(sorted(_name(v) for v in self.values))
        return f"a {self.kind.__name__} among {{{names}}}"


class Boolean:
    """True or False (Python's or NumPy's)."""

    def accepts(self, value):
        return isinstance(value, (bool, np.bool_))

    def __str__(self):
        return "a bool"


class Sizes:
    """A positive int, or a non-empty sequence of positive ints (`hidden_layer_sizes`)."""

    def accepts(self, value):
        if isinstance(value, (str, bytes, dict)):
            return False
        values = list(value) if hasattr(value, "__iter__") else [value]
        return bool(values) and all(_number(v) and isinstance(v, Integral) and v >= 1
                                    for v in values)

    def __str__(self):
        return "an int >= 1 or a non-empty sequence of ints >= 1"


# scikit-learn's random_state: None, a seed NumPy accepts, or a RandomState to draw from.
RANDOM_STATE = [None, Interval(Integral, 0, 2**32 - 1, closed="both"), np.random.RandomState]
# scikit-learn's verbose: a bool or a level.
VERBOSE = [Boolean(), Interval(Integral, 0, None, closed="left")]


def _name(value):
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def _describe(entry):
    if entry is None:
        return "None"
    if isinstance(entry, type):
        return f"an instance of '{_name(entry)}'"
    return str(entry)


def _accepts(entry, value):
    if entry is None:
        return value is None
    if isinstance(entry, type):
        return isinstance(value, entry)
    return entry.accepts(value)


def check_value(table, name, value, *, owner):
    """Raise InvalidParameterError unless `value` matches one entry of `table[name]`."""
    entries = table[name]
    if any(_accepts(entry, value) for entry in entries):
        return
    expected = [_describe(e) for e in entries]
    if len(expected) > 1:
        expected = [", ".join(expected[:-1]), expected[-1]]
    raise InvalidParameterError(f"The {name!r} parameter of {owner} must be "
                                f"{' or '.join(expected)}. Got {value!r} instead.")


def check_params(est):
    """Check each parameter of `est` that its class's table (`_constraints`) lists.

    A parameter the table does not list is left alone, as scikit-learn does (a user's subclass
    may add its own); tests hold gradkit's tables complete.
    """
    table = type(est)._constraints
    for name, value in est.get_params(deep=False).items():
        if name in table:
            check_value(table, name, value, owner=type(est).__name__)


def checked_fit(method):
    """Wrap fit/partial_fit: check the parameters first, then run the method.

    The check runs on every call (partial_fit included) and also under scikit-learn's
    `skip_parameter_validation`: it costs a fraction of a millisecond (about what scikit-learn's
    own check costs), and a value gradkit refuses would otherwise fail deep inside training or
    train something other than what was asked. The method itself runs with scikit-learn's own
    parameter validation off, as scikit-learn's estimators run theirs: the helpers it calls get
    arguments the table has already checked.
    """
    @functools.wraps(method)
    def fit(est, *args, **kwargs):
        check_params(est)
        with config_context(skip_parameter_validation=True):
            return method(est, *args, **kwargs)

    return fit
