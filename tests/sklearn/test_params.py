"""The estimators' parameter tables (gradkit.sklearn._params) and the input checks written on
scikit-learn's public API: complete tables, errors that name what was expected and what came."""

import re
from numbers import Integral, Real
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning

from gradkit.errors import InvalidParameterError
from gradkit.sklearn import MLPClassifier, MLPRegressor
from gradkit.sklearn._base import check_sample_weight
from gradkit.sklearn._params import Interval, Options, Sizes, check_value

ESTIMATORS = [MLPClassifier, MLPRegressor]


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)), np.arange(n) % 2


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_table_lists_every_parameter(cls):
    assert set(cls._constraints) == set(cls().get_params(deep=False))


class _BadType:
    pass


@pytest.mark.parametrize("cls, param", [(cls, p) for cls in ESTIMATORS
                                        for p in sorted(cls().get_params(deep=False))])
def test_a_value_of_no_accepted_type_is_refused_before_training(cls, param):
    # scikit-learn's check_param_validation, first half: an object of no accepted type.
    est = cls(**{param: _BadType()})
    pattern = rf"The '{param}' parameter of {cls.__name__} must be .* Got .*_BadType.* instead\."
    with pytest.raises(InvalidParameterError, match=pattern):
        est.fit(*_data())
    assert not hasattr(est, "model_")


def test_error_says_what_was_expected_and_what_was_received():
    with pytest.raises(InvalidParameterError) as info:
        MLPClassifier(alpha=-1.0).fit(*_data())
    assert str(info.value) == ("The 'alpha' parameter of MLPClassifier must be a float in the "
                               "range [0, inf). Got -1.0 instead.")
    with pytest.raises(InvalidParameterError) as info:
        MLPRegressor(batch_size=0).fit(*_data())
    assert str(info.value) == ("The 'batch_size' parameter of MLPRegressor must be a str among "
                               "{'auto'} or an int in the range [1, inf). Got 0 instead.")
    # Like scikit-learn's InvalidParameterError, it is both a ValueError and a TypeError.
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("closed, accepted", [
    ("left", [0, 0.5]), ("right", [0.5, 1]), ("both", [0, 0.5, 1]), ("neither", [0.5]),
])
def test_interval_ends(closed, accepted):
    interval = Interval(Real, 0, 1, closed=closed)
    assert [v for v in (-0.1, 0, 0.5, 1, 1.1) if interval.accepts(v)] == accepted


def test_intervals_refuse_bools_and_ints_want_integers():
    ints = Interval(Integral, 1, None, closed="left")
    assert ints.accepts(3) and ints.accepts(np.int64(3))
    assert not ints.accepts(True) and not ints.accepts(3.0) and not ints.accepts("3")
    assert str(ints) == "an int in the range [1, inf)"


def test_options_and_sizes():
    names = Options(str, {"adam", "sgd"})
    assert names.accepts("adam") and not names.accepts("Adam") and not names.accepts(["adam"])
    assert str(names) == "a str among {'adam', 'sgd'}"
    sizes = Sizes()
    assert sizes.accepts(5) and sizes.accepts((10, 5)) and sizes.accepts(np.array([3]))
    assert not any(sizes.accepts(v) for v in ((), (10, 0), "wide", (2.0,), (True,), -1))


def test_check_value_joins_the_alternatives():
    table = {"x": [None, Options(str, {"a"}), dict]}
    check_value(table, "x", {"k": 1}, owner="Thing")
    with pytest.raises(InvalidParameterError, match=re.escape(
            "The 'x' parameter of Thing must be None, a str among {'a'} or an instance of "
            "'builtins.dict'. Got 'b' instead.")):
        check_value(table, "x", "b", owner="Thing")


def test_boundary_values_scikit_learn_accepts_are_accepted(recwarn):
    X, y = _data()
    MLPClassifier(hidden_layer_sizes=3, validation_fraction=0.0, momentum=0.0,
                  n_iter_no_change=np.inf, max_iter=1, verbose=0, shuffle=np.bool_(True),
                  random_state=np.random.RandomState(0), dtype=np.float64).fit(X, y)


def test_parameters_are_checked_under_skip_parameter_validation():
    # scikit-learn's switch turns off its own checks; gradkit's cost under a millisecond and stand
    # between a bad value and a network trained on something else (dtype=float16, say).
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(InvalidParameterError, match="'dtype' parameter"):
            MLPClassifier(dtype="float16").fit(*_data())


def test_partial_fit_checks_parameters_on_every_call():
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(3,), random_state=0)
    est.partial_fit(X, y, classes=[0, 1])
    est.set_params(alpha=-1.0)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        est.partial_fit(X, y)


def test_a_subclass_may_add_its_own_parameters():
    class Wider(MLPRegressor):
        def __init__(self, width=4):
            super().__init__(hidden_layer_sizes=(width,), max_iter=2)
            self.width = width

    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert Wider(width=5).fit(X, y.astype(float)).model_.layers[0].units == 5


def test_partial_fit_classes_must_stay_the_same():
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(3,), random_state=0)
    est.partial_fit(X, y, classes=[0, 1])
    est.partial_fit(X, y, classes=[1, 0])             # the same labels in another order
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] is not the same .* had \[0, 1\]"):
        est.partial_fit(X, y, classes=[0, 1, 2])


def test_classifier_refuses_continuous_targets():
    X, _ = _data()
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier().fit(X, np.linspace(0, 1, len(X)))


def _warnings_of_fit(y):
    X, _ = _data(n=len(y))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(X, y)
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)
            and not issubclass(w.category, ConvergenceWarning)]


def test_classifier_warns_when_most_labels_occur_once():
    # 21 classes over 30 rows: more than half the rows are the only row of their class.
    assert [m for m in _warnings_of_fit(np.arange(30) % 21) if "greater than 50%" in m]
    # 15 classes over 30 rows: not more than half.
    assert not _warnings_of_fit(np.arange(30) // 2)


def test_sample_weight_number_or_one_per_row():
    np.testing.assert_array_equal(check_sample_weight(2, 3), [2.0, 2.0, 2.0])
    w = check_sample_weight([1, 0, 3], 3)
    assert w.dtype == np.float64 and w.flags.c_contiguous
    np.testing.assert_array_equal(w, [1.0, 0.0, 3.0])


@pytest.mark.parametrize("weights, message", [
    ([1.0, 2.0], r"one weight per row of X \(3 rows\); got an array of shape \(2,\)"),
    (np.ones((3, 2)), r"got an array of shape \(3, 2\)"),
    ([1.0, -2.0, 0.0], r"non-negative; got -2.0 in row 1"),
    ([1.0, np.nan, 0.0], "sample_weight contains NaN"),
    (-1.0, r"non-negative; got -1.0 in row 0"),
])
def test_bad_sample_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        check_sample_weight(weights, 3)


def test_fit_checks_sample_weight():
    X, y = _data()
    with pytest.raises(ValueError, match="non-negative"):
        MLPClassifier().fit(X, y, sample_weight=-np.ones(len(X)))
