"""fit, evaluate, predict, compile, save and load refuse bad arguments with gradkit's own errors,
naming the argument, what it takes and what it got (and stay the built-in kind callers catch)."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import ConfigError, DataError, ModelFileError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4)).astype(np.float32), np.array([0, 1] * 10)


def _model(units=2, activation="softmax", loss="sparse_categorical_crossentropy"):
    model = gk.Sequential([gk.layers.Dense(units, activation=activation)])
    return model.compile("sgd", loss=loss)


def test_rank_3_x_into_dense_with_one_label_per_sample_names_both_shapes(data):
    X, y = data
    with pytest.raises(DataError, match=r"\(n_samples, 3, 2\).*Flatten"):
        _model().fit(np.zeros((20, 3, 4), np.float32), y, verbose=0)
    # Dense acts on the last axis, as Keras's: targets of the outputs' shape train.
    history = _model(1, None, "mse").fit(np.zeros((20, 3, 4), np.float32),
                                         np.zeros((20, 3, 1), np.float32), verbose=0)
    assert len(history.history["loss"]) == 1


def test_complex_x_is_refused_not_cast(data):
    X, y = data
    with pytest.raises(DataError, match="complex"):
        _model().fit(X * 1j, y, verbose=0)


def test_text_targets_under_a_regression_loss_are_refused(data):
    X, _ = data
    with pytest.raises(DataError, match=r"text \('a' at row 0\).*regression loss"):
        _model(1, None, "mse").fit(X, np.array(["a", "b"] * 10), verbose=0)


def test_epochs_zero_trains_nothing_and_negative_or_fractional_is_refused(data):
    X, y = data
    model = _model()
    model.build((4,), seed=0)
    before = [w.copy() for w in model.get_weights()]
    assert model.fit(X, y, epochs=0, verbose=0).history == {}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ConfigError, match="epochs=-1"):
        _model().fit(X, y, epochs=-1, verbose=0)
    with pytest.raises(TypeError, match="epochs=1.5") as err:
        _model().fit(X, y, epochs=1.5, verbose=0)
    assert isinstance(err.value, ConfigError)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sample_weight": -np.ones(20)}, DataError, "sample_weight holds -1.0 at row 0"),
    ({"sample_weight": np.full(20, np.nan)}, DataError, "sample_weight holds nan"),
    ({"class_weight": {7: 2.0}}, DataError, "class 7.*0..1"),
    ({"class_weight": {0: -1.0, 1: 1.0}}, ConfigError, "class 0 the weight -1.0"),
    ({"class_weight": "balanced"}, ConfigError, "'balanced'"),
    ({"batch_size": 0}, ConfigError, "batch_size=0"),
    ({"validation_split": 1.0}, ConfigError, "validation_split=1.0"),
    ({"seed": -1}, ConfigError, "seed=-1"),
    ({"callbacks": 5}, TypeError, "callbacks=5"),
])
def test_fit_settings_are_refused_by_name(data, kwargs, error, match):
    X, y = data
    with pytest.raises(error, match=match) as err:
        _model().fit(X, y, verbose=0, **kwargs)
    assert isinstance(err.value, gk.errors.GradkitError)


def test_validation_data_that_is_not_a_pair(data):
    X, y = data
    with pytest.raises(DataError, match="pair.*tuple of 1"):
        _model().fit(X, y, validation_data=(X,), verbose=0)


def test_uncompiled_fit_is_a_config_error_and_still_a_runtime_error(data):
    X, y = data
    with pytest.raises(RuntimeError, match="compile") as err:
        gk.Sequential([gk.layers.Dense(2)]).fit(X, y, verbose=0)
    assert isinstance(err.value, ConfigError)


def test_evaluate_refuses_negative_weights_and_predict_refuses_nan(data):
    X, y = data
    model = _model()
    model.fit(X, y, verbose=0)
    with pytest.raises(DataError, match="sample_weight holds -1.0"):
        model.evaluate(X, y, sample_weight=-np.ones(20), verbose=0)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(DataError, match="NaN or inf.*row 3"):
        model.predict(bad)


def test_layer_and_compile_settings_are_config_errors():
    with pytest.raises(ConfigError, match="units=0"):
        gk.layers.Dense(0)
    with pytest.raises(ConfigError, match="unknown loss 'bogus'"):
        gk.Sequential([gk.layers.Dense(2)]).compile("sgd", loss="bogus")


def test_weights_over_the_memory_budget_are_refused_before_allocating(monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    with pytest.raises(ConfigError, match="5,000,000,000 weights.*memory budget"):
        gk.Sequential([gk.layers.Dense(10**9)]).build((4,))
    from gradkit.sklearn import MLPClassifier
    with pytest.raises(ConfigError, match="memory budget"):
        MLPClassifier(hidden_layer_sizes=(10**9,), max_iter=1).fit(
            np.zeros((4, 2)), [0, 1, 0, 1])


def test_save_to_a_folder_and_load_of_none(tmp_path, data):
    X, y = data
    model = _model()
    model.fit(X, y, verbose=0)
    with pytest.raises(ModelFileError, match="is a folder"):
        gk.save(model, tmp_path)
    with pytest.raises(TypeError, match="NoneType") as err:
        gk.load(None)
    assert isinstance(err.value, ModelFileError)
