"""Checks at the public boundary of `fit`, `evaluate` and `predict`: arrays of the right rank,
shape and kind, labels the output layer can take. Each failure is one `DataError` naming the
array, what was expected and what was found; inside, the arrays are trusted."""

from __future__ import annotations

import sys
import time

import numpy as np

from gradkit.errors import ConfigError, ConfigTypeError, DataError
from gradkit.nn import losses


def sample_shape(input_shape):
    """The shape of one sample: `(784,)` from `(784,)`, or from Keras's `(None, 784)`."""
    shape = tuple(input_shape)
    if shape and shape[0] is None:
        shape = shape[1:]
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                            and d > 0 for d in shape):
        raise ValueError(f"input_shape must be positive integers (one sample's shape, or "
                         f"Keras's (None, ...) with the batch axis first), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def _expected(shape):
    return "(n_samples, " + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") \
        + ")"


def check_shape(shape, name, expected):
    """Refuse an input whose sample shape is not the one the model was built for."""
    if expected is None:
        return
    shape = tuple(shape)
    if len(shape) != len(expected) + 1 or tuple(shape[1:]) != tuple(expected):
        what = (f"{expected[0]} features per row, found {shape[1]}"
                if len(shape) == 2 and len(expected) == 1 else
                f"rank {len(expected) + 1}, found rank {len(shape)}"
                if len(shape) != len(expected) + 1 else f"samples of shape {tuple(expected)}")
        raise DataError(f"{name} has shape {shape}; this model takes {_expected(expected)}: "
                        f"expected {what}")


def _not_one_array(name, parts):
    """What to say of a tuple or list of arrays of unlike shapes given as the input."""
    shapes = ", ".join(str(np.shape(p)) if hasattr(p, "shape") else type(p).__name__
                       for p in parts[:4])
    return (f"{name} is a {type(parts).__name__} of {len(parts)} arrays of unlike shapes "
            f"({shapes}), not one array: pass the features and the labels separately, "
            "fit(x, y) and evaluate(x, y), not fit((x, y)); Keras does not take such a tuple "
            "as x either")


def features(X, name, expected=None):
    """X as a C-contiguous float32 array of one row per sample, checked against `expected`
    (the model's input shape, without the batch axis) when the model is built."""
    if X is None:
        raise DataError(f"{name} is missing: pass the input array")
    try:
        arr = np.asarray(X)
    except ValueError:
        if not isinstance(X, (tuple, list)):
            raise
        raise DataError(_not_one_array(name, X)) from None
    if arr.dtype.kind == "c":
        raise DataError(f"{name} holds complex numbers (dtype {arr.dtype}); expected real "
                        "numbers: casting would drop the imaginary part")
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "O" and any(v is None for v in arr.reshape(-1).tolist()):
            raise DataError(f"{name} holds None values; expected numbers")
        try:
            arr = arr.astype(np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{name} must hold numbers, got an array of dtype {arr.dtype}") \
                from None
    if arr.ndim < 2:
        hint = f" {_expected(expected)}" if expected is not None else " (2-D or more)"
        raise DataError(f"{name} must have one row per sample,{hint}, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{name} has no rows")
    check_shape(arr.shape, name, expected)
    return np.ascontiguousarray(arr, dtype=np.float32)


def labels_fit_outputs(model, y, name="y"):
    """Refuse class labels the output layer has no unit for (a softmax loss's integer labels
    index the outputs; a label of 12 with 10 units would train on nothing or fail deep inside)."""
    if getattr(model.loss, "output", None) != "softmax" or not model.built:
        return
    width = int(model.output_shape[-1])
    if len(model.output_shape) > 1 and y.ndim == 1:
        # Dense applies to the last axis (as Keras's does), so a rank-3 X gives one row of
        # class scores per position, not per sample.
        raise DataError(f"{name} holds one class label per sample, but the model outputs "
                        f"{_expected(tuple(model.output_shape))}: one row of class scores per "
                        "position of each sample (Dense applies to the last axis); put "
                        "gk.layers.Flatten() before the Dense layers for one prediction per "
                        "sample")
    if y.ndim == 1:
        if len(y) and int(y.max()) >= width:
            row = int(np.argmax(y >= width))
            raise DataError(f"{name} holds label {int(y[row])} at row {row}, but the output "
                            f"layer has {width} units: expected labels 0..{width - 1}")
    elif y.shape[-1] != width:
        raise DataError(f"{name} has {y.shape[-1]} columns (one-hot or probability rows), but "
                        f"the output layer has {width} units")


# Losses that compare each output with its own target, value by value.
_ELEMENTWISE = (losses.MeanSquaredError, losses.MeanAbsoluteError, losses.Huber, losses.Hinge)


def targets_fit_outputs(model, y, name="y"):
    """Refuse targets the output layer cannot take: labels outside a softmax layer (see
    `labels_fit_outputs`), and for a loss that compares values one by one (mse, mae, huber,
    hinge), targets of another shape than the outputs. Keras broadcasts some of those, a
    column (n, 1) against 3 outputs or 3 targets against one output, into a loss of every
    output against every target; NumPy would fail deep inside on the rest."""
    labels_fit_outputs(model, y, name)
    if not isinstance(model.loss, _ELEMENTWISE) or not model.built:
        return
    out = tuple(model.output_shape)
    got = tuple(y.shape[1:])
    # Keras's own leniency: one target per row for one output, or a trailing axis of one.
    if got == out or (got == () and out == (1,)) or got == out + (1,):
        return
    hint = " (class labels need a classification loss, such as " \
        "sparse_categorical_crossentropy)" if y.ndim == 1 else ""
    raise DataError(f"{name} has shape {tuple(y.shape)}, but the output layer gives "
                    f"{_expected(out)} and loss {model.loss.name!r} compares each output with "
                    f"its own target: expected {name} of shape {_expected(out)}{hint}")


def class_indices(y, name="y"):
    """Whole-number, non-negative class labels as int64 (checked, not cast blindly)."""
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise DataError(f"{name}: classification labels must be whole numbers, got fractional "
                        "values")
    labels = y.astype(np.int64)
    if len(labels) and labels.min() < 0:
        row = int(np.argmax(labels < 0))
        raise DataError(f"{name} holds the negative label {int(labels[row])} at row {row}: "
                        "expected class indices 0, 1, ...")
    return labels


def probabilities(y, name="y"):
    """0/1 (or soft) binary targets: a value outside [0, 1] is not a probability."""
    t = y.astype(np.float32)
    if t.size and (t.min() < 0 or t.max() > 1):
        raise DataError(f"{name} holds {float(t.min() if t.min() < 0 else t.max()):g}; a "
                        "sigmoid cross-entropy needs targets in [0, 1] (0/1 labels)")
    return t


def no_nones(y, name="y"):
    if y.dtype.kind == "O":
        flat = y.reshape(-1).tolist()
        if any(v is None for v in flat):
            raise DataError(f"{name} holds None at row {flat.index(None)}: every sample needs "
                            "a label")


def rows_match(n_x, n_y, x_name="X", y_name="y"):
    if n_x != n_y:
        raise DataError(f"{x_name} has {n_x} rows but {y_name} has {n_y}: expected one label "
                        "per row")


def sample_weights(sample_weight, n):
    """One finite, non-negative float64 weight per row: a negative weight would turn its
    row's loss into a reward, and a NaN would spread through the whole loss."""
    try:
        sw = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"sample_weight must hold numbers, got {type(sample_weight).__name__}"
                        ) from None
    if sw.shape != (n,):
        raise DataError(f"sample_weight must hold one weight per row, shape ({n},), got shape "
                        f"{sw.shape}")
    bad = ~(np.isfinite(sw) & (sw >= 0))
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"sample_weight holds {float(sw[row])!r} at row {row}: expected finite "
                        "weights >= 0")
    return sw


def batch_size(value, default):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigTypeError(f"batch_size must be a positive integer, got "
                              f"batch_size={value!r}")
    if value < 1:
        raise ConfigError(f"batch_size must be a positive integer, got batch_size={value!r}")
    return int(value)


def epochs(value):
    """Keras's epochs: a whole number >= 0 (0 trains nothing and returns an empty history)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigTypeError(f"epochs must be a whole number >= 0, got epochs={value!r}")
    if value < 0:
        raise ConfigError(f"epochs must be a whole number >= 0, got epochs={value!r}")
    return int(value)


def seed(value):
    """None, a non-negative integer, or what NumPy seeds from (a SeedSequence, a Generator)."""
    if isinstance(value, bool) or isinstance(value, (float, str)):
        raise ConfigTypeError(f"seed must be None or an integer >= 0, got seed={value!r}")
    if isinstance(value, (int, np.integer)) and value < 0:
        raise ConfigError(f"seed must be None or an integer >= 0, got seed={value!r}")
    return value


def callback_list(callbacks):
    """The callbacks as a list: a list or tuple of them, or None."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise ConfigTypeError(f"callbacks must be a list of Callback objects, got "
                              f"callbacks={callbacks!r}")
    return list(callbacks)


def validation_split(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value < 1:
        raise ConfigError(f"validation_split must be in [0, 1), a fraction of the rows, got "
                          f"validation_split={value!r}")
    return float(value)


def validation_pair(validation_data):
    """(X_val, y_val) from Keras's validation_data; anything else refused."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        got = (f"a {type(validation_data).__name__} of {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else
               type(validation_data).__name__)
        raise DataError(f"validation_data must be a pair (X_val, y_val), got {got}")
    return validation_data


def keras_x(x, kwargs, who):
    """The input array, given positionally or by name (Keras's `x=`, gradkit's `X=`)."""
    if "X" in kwargs:
        if x is not None:
            raise TypeError(f"{who} got the input twice (x and X)")
        x = kwargs.pop("X")
    return x


def no_more(kwargs, who):
    if kwargs:
        raise TypeError(f"{who}() got unexpected keyword arguments {sorted(kwargs)}")


def verbosity(verbose):
    """Keras's verbose as 0, 1 or 2 ("auto" is 1, as in Keras)."""
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, float):
        return int(verbose)
    raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got verbose={verbose!r}")


def bind_trainable(model):
    """Give the optimizer the parameters of the model's trainable layers. As in Keras, a change
    of `trainable` takes effect at the next `compile`: an optimizer that holds state for
    another set of parameters is refused with that advice, not bound to what it cannot fit."""
    params = model.trainable_parameters()
    if not params:
        raise ConfigError("every layer is frozen (trainable=False): fit has no parameter to "
                          "train; set trainable=True on the layers to train")
    optimizer = model.optimizer
    bound = [id(p) for p in optimizer.params]
    if bound and optimizer.iterations > 0 and bound != list(dict.fromkeys(map(id, params))):
        raise ConfigError("the trainable layers changed since the optimizer last stepped: call "
                          "compile() again after setting trainable (as Keras requires), so "
                          "that the optimizer starts afresh on the parameters to train")
    optimizer.bind(params)


def epoch_steps(optimizer, steps):
    """Tell a schedule counted in epochs how many steps an epoch has: the loop knows, the
    schedule was made before (see optim.schedules)."""
    schedule = getattr(optimizer, "schedule", None)
    if getattr(schedule, "per", None) == "epoch" and schedule.steps_per_epoch is None:
        schedule.steps_per_epoch = steps


def clock():
    return time.monotonic()


def report(verbose, n, batch_size, started, logs=None):
    """The one line evaluate and predict print when verbose (Keras's last progress line)."""
    if not verbosity(verbose):
        return
    steps = -(-n // (batch_size or 1024))
    parts = [f"{steps}/{steps}", f"{time.monotonic() - started:.2f}s"]
    parts += [f"{k}: {v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float)]
    print(" - ".join(parts), file=sys.stdout, flush=True)
