"""`Sequential`: a stack of layers with Keras's `compile` / `fit` / `evaluate` / `predict`."""

from __future__ import annotations

import math

import numpy as np

from gradkit import _budget, optim
from gradkit._model_format import write_model
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import ConfigError
from gradkit.nn import losses as losses_mod
from gradkit.nn.layers.core import InputLayer
from gradkit.nn.module import (Layer, Module, Parameter, call_mode, keras_training,
                               layer_from_config)
from gradkit.train import _boundary, loop
from gradkit.train import metrics as metrics_mod
from gradkit.train._inference import OutputAndInference


_SUMMARY_KEYS = ("units", "activation", "rate", "std", "mode", "n_components", "momentum")


def _short(layer):
    """`Dense(512, relu)`: the class and the settings that tell layers apart in a summary."""
    config = layer.get_config() if hasattr(layer, "get_config") else {}
    parts = [str(config[k]) if k in ("units", "activation") else f"{k}={config[k]}"
             for k in _SUMMARY_KEYS if config.get(k) is not None]
    return f"{type(layer).__name__}({', '.join(parts)})"


class Sequential(OutputAndInference, Module):
    """Layers applied in order; built lazily from the first input's shape.

    >>> model = Sequential([Dense(512, activation="relu"), Dense(10)])
    >>> model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    >>> history = model.fit(X, y, batch_size=32, epochs=5, validation_split=0.1)
    """

    def __init__(self, layers=None, *, name=None):
        layers = list(layers or [])
        for layer in layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes layers, got {type(layer).__name__}")
        # Keras's `Input(shape=...)` first, or `input_shape=` on the first layer, fixes the
        # input shape: the model is built at once, as Keras builds it (Input is not a layer of
        # `model.layers` there either).
        declared = None
        if layers and isinstance(layers[0], InputLayer):
            declared = layers.pop(0).shape
        elif layers and getattr(layers[0], "declared_input_shape", None) is not None:
            declared = layers[0].declared_input_shape
        self.layers = layers
        self.name = name
        self.built = False
        self.input_shape = None
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.stop_training = False
        self.class_names = None
        self.feature_names = None
        self.history = None
        self._running_cache = None
        self._plan = None
        self._fresh = False
        if declared is not None:
            self.build(declared)
            self._fresh = True

    def add(self, layer):
        """Append a layer. On a built model (after `Input`), the layer is built at once on the
        model's output shape, as Keras builds it."""
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(shape=...) must come before the first layer")
            self.build(layer.shape)
            self._fresh = True
            return
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential takes layers, got {type(layer).__name__}")
        self.layers.append(layer)
        self._plan = None
        if self.built:
            self._extend(layer)
        elif len(self.layers) == 1 and getattr(layer, "declared_input_shape", None) is not None:
            self.build(layer.declared_input_shape)
            self._fresh = True

    def _extend(self, layer):
        if isinstance(layer, Layer) and not layer.built:
            layer.build(self.output_shape, np.random.default_rng())
        if isinstance(layer, Layer):
            self.output_shape = layer.compute_output_shape(self.output_shape)
        self._running_cache = None

    def pop(self):
        """Remove the last layer (Keras's `Sequential.pop`); returns it."""
        if not self.layers:
            raise IndexError("pop from a model without layers")
        self._plan = None
        layer = self.layers.pop()
        if self.built:
            shape = self.input_shape
            for kept in self.layers:
                shape = kept.compute_output_shape(shape) if isinstance(kept, Layer) else shape
            self.output_shape = shape
            self._running_cache = None
        return layer

    @property
    def weights(self):
        """Keras's `model.weights`: layer by layer, each layer's parameters, then its buffers
        (Dense: kernel, bias; BatchNormalization: gamma, beta, moving mean and variance)."""
        return [w for layer in self.layers for w in _layer_weights(layer)]

    @property
    def trainable_weights(self):
        """The parameters that fit updates, layer by layer (Keras's)."""
        return [p for layer in self.layers if _trainable(layer) for p in layer.parameters()]

    @property
    def non_trainable_weights(self):
        """The frozen layers' parameters and every buffer, layer by layer (Keras's)."""
        return [w for layer in self.layers for w in _layer_weights(layer)
                if not (_trainable(layer) and isinstance(w, Parameter))]

    @property
    def trainable(self):
        """Keras's `model.trainable`: True when every layer is; setting it sets every layer's."""
        return all(_trainable(layer) for layer in self.layers)

    @trainable.setter
    def trainable(self, value):
        if value is not True and value is not False:
            raise ValueError(f"trainable must be True or False, got trainable={value!r}")
        for layer in self.layers:
            layer.trainable = value

    def trainable_parameters(self):
        """The parameters that `fit` gives the optimizer: those of the trainable layers."""
        return self.trainable_weights

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape, rng=None, *, seed=None):
        """Create every layer's weights for inputs of `input_shape`.

        `input_shape` has no batch axis, or Keras's leading None for it: `build((None, 784))`
        and `build((784,))` are the same.

        A model built at construction (from `Input` or `input_shape=`) whose weights nobody
        has set yet is "fresh": a seeded build (or `fit(seed=...)`) draws its weights again
        from that seed, so the seed decides the weights however the model was declared.
        """
        reinit = getattr(self, "_fresh", False) and (rng is not None or seed is not None)
        rng = rng if rng is not None else np.random.default_rng(seed)
        shape = _boundary.sample_shape(input_shape)
        self._check_weight_budget(shape)
        self.input_shape = shape
        for layer in self.layers:
            redraw = reinit and not hasattr(layer, "adapt") \
                and not getattr(layer, "_weights_set", False)
            if isinstance(layer, Layer) and (not layer.built or redraw):
                layer.build(shape, rng)
            shape = layer.compute_output_shape(shape) if isinstance(layer, Layer) else shape
        self.output_shape = shape
        self.built = True
        self._fresh = False
        self._running_cache = None
        self._plan = None
        return self

    def _check_weight_budget(self, shape):
        """Refuse, before anything is allocated, weights that would not fit the memory budget.

        Counted as training counts them (practice.run.check_memory): each weight four times in
        float32 (the weights, their gradients, up to two optimizer moments). Initializers draw
        in float64, so even the build alone needs twice the weights' float32 bytes.
        """
        count, widths = 0, []
        for layer in self.layers:
            if isinstance(layer, Layer):
                count += layer.weight_count(shape)
                shape = layer.compute_output_shape(shape)
                widths.append(int(shape[-1]) if shape else 1)
        _budget.check(16 * count, f"building {type(self).__name__} with layer widths "
                                  f"{widths} ({count:,} weights)", error=ConfigError)

    def load_state_dict(self, state, *, strict=True):
        super().load_state_dict(state, strict=strict)
        self._fresh = False         # weights given: a seeded fit must not draw them again

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def __call__(self, x, training=None):
        """Keras's `model(x)`: the outputs, in inference mode (Dropout off, BatchNorm on its
        moving statistics) unless `training=True`; a Tensor input keeps the graph."""
        if not isinstance(x, Tensor):
            x = Tensor(_boundary.features(x, "X", self.input_shape if self.built else None))
        elif self.built:
            _boundary.check_shape(x.shape, "X", self.input_shape)
        if not self.built:
            self.build(x.shape[1:])
        with call_mode(self, keras_training(training)):
            return self.forward(x)

    def penalty(self):
        """Sum of the layers' regularization penalties, or None when there are none."""
        total = None
        for layer in self.layers:
            p = layer.penalty() if hasattr(layer, "penalty") else None
            if p is not None:
                total = p if total is None else total + p
        return total

    # -- inspection ---------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """A table of layers, output shapes and parameter counts; returned and printed."""
        if not self.built:
            raise RuntimeError("summary() needs a built model: call build(input_shape) or fit")
        rows, shape = [], self.input_shape
        for i, layer in enumerate(self.layers):
            shape = layer.compute_output_shape(shape)
            n = sum(_array(w).size for w in _layer_weights(layer))
            rows.append((f"{i}: {_short(layer)}", str((None,) + tuple(shape)), f"{n:,}"))
        width = max(len(r[0]) for r in rows) + 2
        lines = [f"{'Layer':<{width}}{'Output shape':<20}{'Params':>12}", "-" * (width + 32)]
        lines += [f"{a:<{width}}{b:<20}{c:>12}" for a, b, c in rows]
        trainable = sum(_array(w).size for w in self.trainable_weights)
        frozen = sum(_array(w).size for w in self.non_trainable_weights)
        lines += ["-" * (width + 32), f"Total params: {trainable + frozen:,}",
                  f"Trainable params: {trainable:,}", f"Non-trainable params: {frozen:,}"]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_weights(self):
        """Copies of every weight in Keras's order (`weights`): layer by layer, parameters
        before buffers."""
        return [np.array(_array(w), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Replace every weight, in `get_weights`'s order; each array's shape is checked."""
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"set_weights needs {len(own)} arrays, got {len(weights)}")
        values = [np.asarray(w) for w in weights]
        for i, (w, value) in enumerate(zip(own, values)):
            if _array(w).shape != value.shape:
                raise ValueError(f"set_weights: array {i} has shape {value.shape}; this "
                                 f"model's weight {i} has shape {_array(w).shape}")
        for w, value in zip(own, values):
            # In place: a parameter may be a view into an optimizer's flat buffer.
            _array(w)[...] = value
        self._fresh = False         # weights given: a seeded fit must not draw them again

    def count_params(self):
        """The number of numbers in the model's weights, trainable or not (Keras's count:
        moving statistics included; `num_parameters()` counts the parameters alone)."""
        if not self.built:
            raise RuntimeError("count_params() needs a built model: call build(input_shape), "
                               "fit, or start the model with Input(shape=...)")
        return int(sum(_array(w).size for w in self.weights))

    def layer_names(self):
        """Each layer's name: its own, or Keras's default ("dense", "dense_1", ...)."""
        counts, names = {}, []
        for layer in self.layers:
            if getattr(layer, "name", None):
                names.append(layer.name)
                continue
            base = _snake(type(layer).__name__)
            n = counts.get(base, 0)
            counts[base] = n + 1
            names.append(base if n == 0 else f"{base}_{n}")
        return names

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` (Keras's `get_layer`)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"index {index} is out of range: the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        names = self.layer_names()
        if name not in names:
            raise ValueError(f"no layer named {name!r}; the layers are {names}")
        return self.layers[names.index(name)]

    def save(self, path, *, include_optimizer=True, extra=None):
        """Write the model to a .safetensors file, as Keras's `model.save`: the weights, the
        compile settings and (with `include_optimizer`, the default) the optimizer's state.
        `gk.load_model(path)` (or `gk.load`) gives it back ready to evaluate and to go on
        fitting where it stopped."""
        write_model(self, path, include_optimizer=include_optimizer, extra=extra)

    # -- configuration --------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "layers": [layer.describe() for layer in self.layers],
                "input_shape": list(self.input_shape) if self.input_shape else None,
                "class_names": self.class_names, "feature_names": self.feature_names,
                "loss": self.loss.describe() if hasattr(self.loss, "describe") else None,
                "compile": self.compile_config()}

    @classmethod
    def from_config(cls, config):
        model = cls([layer_from_config(c) for c in config["layers"]], name=config.get("name"))
        model.class_names = config.get("class_names")
        model.feature_names = config.get("feature_names")
        if config.get("loss"):
            model.loss = losses_mod.get(config["loss"])
        if config.get("input_shape"):
            model.build(config["input_shape"])
        settings = config.get("compile")
        if settings is not None:
            # A saved model keeps its compile settings (Keras's habit): it evaluates and fits
            # as soon as it is loaded.
            if not isinstance(settings, dict) or set(settings) != {"optimizer", "loss",
                                                                   "metrics"}:
                raise ValueError("'compile' must hold optimizer, loss and metrics, got "
                                 f"{settings!r}")
            metrics = settings["metrics"]
            if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
                raise ValueError(f"compile metrics must be a list of names, got {metrics!r}")
            model.compile(optimizer=settings["optimizer"], loss=settings["loss"],
                          metrics=metrics)
        return model

    # -- training -------------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="cross_entropy", metrics=None):
        """Choose the optimizer, the loss and the metrics reported by fit and evaluate.

        Keras's loss names mean what they mean in Keras: "sparse_categorical_crossentropy"
        after `Dense(10, activation="softmax")` reads probabilities, and is computed from the
        layer's pre-activation (see `_loss_plan`); gradkit's "cross_entropy" reads logits.
        """
        self.optimizer = optim.get(optimizer)
        self.loss = losses_mod.get(loss)
        self.metrics = [metrics_mod.get(m) for m in (metrics or [])]
        self._plan = None
        if self.layers:
            self._loss_plan()     # a loss that cannot go with the output layer: said now
        return self

    def compile_config(self):
        """The compile settings as JSON (what a model file keeps), or None before compile."""
        if self.optimizer is None or not hasattr(self.loss, "describe"):
            return None
        # Metrics by name only: a custom metric function is code, which a file never holds.
        names = [name for name, fn in self.metrics if metrics_mod.known(name, fn)]
        return {"optimizer": self.optimizer.get_config(), "loss": self.loss.describe(),
                "metrics": names}

    # `model.fit(X, y, ...)` is `gradkit.train.loop.fit(model, X, y, ...)`, its arguments and
    # docstring included; returns a `History`.
    fit = loop.fit

    def train_step(self, xb, yb, wb=None):
        """One step on a batch: forward, loss (+ penalties), backward, update.

        Returns (loss value, outputs, applied) where `applied` is False when the loss or a
        gradient was not finite; the weights are then untouched.
        """
        opt = self.optimizer
        if getattr(opt, "requires_closure", False):
            return self._closure_step(xb, yb, wb)
        opt.zero_grad()
        # Buffers (BatchNorm's running statistics) change during the forward pass, before the
        # loss can be checked: keep copies so that a refused step leaves them as they were too.
        saved = [(b, b.copy()) for b in self._running_buffers_live()]
        # An overflow on the way to a non-finite loss or gradient is what the finiteness checks
        # (the loss's below, the gradient's in `opt.step`) turn into a refused step; NumPy's
        # warning would only repeat it, and where warnings are errors it would be raised before
        # the check could say where. The update itself stays outside: that is the optimizer's.
        fused, loss_fn = self._loss_plan()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.forward_logits(Tensor(xb)) if fused else self.forward(Tensor(xb))
            loss = losses_mod.value(loss_fn, out, yb, wb)
            pen = self.penalty()
            if pen is not None:
                loss = loss + pen
            value = float(loss.data)
            finite = math.isfinite(value)
            if finite:
                loss.backward()
        applied = finite and opt.step()
        if not applied:
            for live, copy in saved:
                live[...] = copy
        return value, out.data, applied

    def _objective(self, xb, yb, wb):
        """The batch's loss (+ penalties) and outputs, under the same errstate as train_step
        (the loss computed as train_step computes it: see `_loss_plan`)."""
        fused, loss_fn = self._loss_plan()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.forward_logits(Tensor(xb)) if fused else self.forward(Tensor(xb))
            loss = losses_mod.value(loss_fn, out, yb, wb)
            pen = self.penalty()
            return (loss if pen is None else loss + pen), out

    def _closure_step(self, xb, yb, wb):
        """A step of L-BFGS or Newton: the optimizer calls back for the loss and gradient.

        One step is the optimizer's own `step(closure)` (L-BFGS: up to `maxiter` iterations
        with its line search; Newton: one damped Newton iteration) on this batch, which `fit`
        makes the whole training set unless told otherwise. The value returned is the loss at
        the weights the step ends on, so the epoch's loss shows its progress. A step that meets
        a non-finite loss or gradient puts the weights (and running statistics) back as they
        were before it and reports itself not applied.
        """
        opt = self.optimizer
        saved = [(b, b.copy()) for b in self._running_buffers_live()]
        before = self.get_weights()

        def closure():
            opt.zero_grad()
            loss, _ = self._objective(xb, yb, wb)
            value = float(loss.data)
            if math.isfinite(value):
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    loss.backward()
            return value

        applied = opt.step(closure)
        with no_grad():
            loss, out = self._objective(xb, yb, wb)
        value = float(loss.data)
        if not applied:
            self.set_weights(before)
            for live, copy in saved:
                live[...] = copy
        return value, out.data, bool(applied)

    def _running_buffers_live(self):
        """The arrays that a training forward pass updates in place (few, usually none).

        Found once per build: walking the modules every step cost more than a small step.
        """
        if self._running_cache is None:
            self._running_cache = [getattr(m, name) for m in self.modules()
                                   for name in m._running_buffers
                                   if getattr(m, name, None) is not None]
        return self._running_cache


def _layer_weights(layer):
    """A layer's parameters, then its buffers."""
    return [*layer.parameters(), *(b for _, b in layer.named_buffers())]


def _array(weight):
    """A parameter's array, or the buffer itself."""
    return weight.data if isinstance(weight, Tensor) else weight


def _trainable(layer):
    return getattr(layer, "trainable", True)


def _snake(name):
    """Keras's default layer name from a class name: BatchNormalization -> batch_normalization."""
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper()
                                   or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
