"""`Sequential`: a stack of layers with Keras's `compile` / `fit` / `evaluate` / `predict`."""

from __future__ import annotations

import math

import numpy as np

import gradkit.autograd as ag
from gradkit import optim
from gradkit._memory import reuse_freed_memory
from gradkit.autograd import Tensor, no_grad
from gradkit.nn import losses as losses_mod
from gradkit.nn.module import Layer, Module, layer_from_config
from gradkit.train import loop
from gradkit.train import metrics as metrics_mod
from gradkit.train.inputs import encode_targets


_SUMMARY_KEYS = ("units", "activation", "rate", "std", "mode", "n_components", "momentum")


def _short(layer):
    """`Dense(512, relu)`: the class and the settings that tell layers apart in a summary."""
    config = layer.get_config() if hasattr(layer, "get_config") else {}
    parts = [str(config[k]) if k in ("units", "activation") else f"{k}={config[k]}"
             for k in _SUMMARY_KEYS if config.get(k) is not None]
    return f"{type(layer).__name__}({', '.join(parts)})"


class Sequential(Module):
    """Layers applied in order; built lazily from the first input's shape.

    >>> model = Sequential([Dense(512, activation="relu"), Dense(10)])
    >>> model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    >>> history = model.fit(X, y, batch_size=32, epochs=5, validation_split=0.1)
    """

    def __init__(self, layers=None, *, name=None):
        self.layers = list(layers or [])
        for layer in self.layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes layers, got {type(layer).__name__}")
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

    def add(self, layer):
        if self.built:
            raise RuntimeError("cannot add a layer to a built model")
        self.layers.append(layer)

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape, rng=None, *, seed=None):
        """Create every layer's weights for inputs of `input_shape` (no batch axis)."""
        rng = rng if rng is not None else np.random.default_rng(seed)
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        for layer in self.layers:
            if isinstance(layer, Layer) and not layer.built:
                layer.build(shape, rng)
            shape = layer.compute_output_shape(shape) if isinstance(layer, Layer) else shape
        self.output_shape = shape
        self.built = True
        self._running_cache = None
        return self

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def __call__(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(np.asarray(x, dtype=np.float32))
        if not self.built:
            self.build(x.shape[1:])
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
            n = layer.num_parameters()
            rows.append((f"{i}: {_short(layer)}", str((None,) + tuple(shape)), f"{n:,}"))
        width = max(len(r[0]) for r in rows) + 2
        lines = [f"{'Layer':<{width}}{'Output shape':<20}{'Params':>12}", "-" * (width + 32)]
        lines += [f"{a:<{width}}{b:<20}{c:>12}" for a, b, c in rows]
        trainable = self.num_parameters()
        lines += ["-" * (width + 32), f"Trainable parameters: {trainable:,}"]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_weights(self):
        """Copies of every parameter and buffer, in a fixed order."""
        return [v for v in self.state_dict().values()]

    def set_weights(self, weights):
        keys = list(self.state_dict())
        if len(weights) != len(keys):
            raise ValueError(f"set_weights needs {len(keys)} arrays, got {len(weights)}")
        self.load_state_dict(dict(zip(keys, weights)))

    # -- configuration --------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "layers": [layer.describe() for layer in self.layers],
                "input_shape": list(self.input_shape) if self.input_shape else None,
                "class_names": self.class_names, "feature_names": self.feature_names,
                "loss": self.loss.describe() if hasattr(self.loss, "describe") else None}

    @classmethod
    def from_config(cls, config):
        model = cls([layer_from_config(c) for c in config["layers"]], name=config.get("name"))
        model.class_names = config.get("class_names")
        model.feature_names = config.get("feature_names")
        if config.get("loss"):
            model.loss = losses_mod.get(config["loss"])
        if config.get("input_shape"):
            model.build(config["input_shape"])
        return model

    # -- training -------------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="cross_entropy", metrics=None):
        """Choose the optimizer, the loss and the metrics reported by fit and evaluate."""
        self.optimizer = optim.get(optimizer)
        self.loss = losses_mod.get(loss)
        self.metrics = [metrics_mod.get(m) for m in (metrics or [])]
        return self

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
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.forward(Tensor(xb))
            loss = self.loss(out, yb, wb)
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
        """The batch's loss (+ penalties) and outputs, under the same errstate as train_step."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.forward(Tensor(xb))
            loss = self.loss(out, yb, wb)
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

    # -- inference ------------------------------------------------------------------------------
    def predict(self, X, batch_size=1024):
        """The model's outputs (logits for classifiers), in batches, without a graph."""
        X = np.asarray(X, dtype=np.float32)
        if not self.built:
            raise RuntimeError("predict() needs a trained or built model")
        reuse_freed_memory()        # each batch's activations reuse the last batch's blocks
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                first = self.forward(Tensor(X[:batch_size])).data
                if len(X) <= batch_size:
                    return np.array(first)
                out = np.empty((len(X),) + first.shape[1:], dtype=first.dtype)
                out[:batch_size] = first
                for start in range(batch_size, len(X), batch_size):
                    out[start:start + batch_size] = self.forward(
                        Tensor(X[start:start + batch_size])).data
                return out
        finally:
            self.train(was_training)

    def predict_proba(self, X, batch_size=1024):
        """Class probabilities: softmax (or sigmoid) of the logits."""
        logits = self.predict(X, batch_size=batch_size)
        kind = getattr(self.loss, "output", None)
        if kind == "softmax":
            return ag.softmax(Tensor(logits), axis=-1).data
        if kind == "sigmoid":
            return ag.sigmoid(Tensor(logits)).data
        raise ValueError("predict_proba needs a classifier (a cross-entropy loss), "
                         f"this model's loss is {getattr(self.loss, 'name', self.loss)!r}")

    def predict_classes(self, X, batch_size=1024):
        """Predicted labels: class names when the model was trained on named classes."""
        logits = self.predict(X, batch_size=batch_size)
        kind = getattr(self.loss, "output", None)
        if kind == "sigmoid" and logits.shape[-1] > 1:
            return (logits > 0).astype(np.int64)          # multi-label: one 0/1 per label
        idx = metrics_mod._predicted_classes(logits)
        if self.class_names is not None:
            return np.asarray(self.class_names, dtype=object)[idx]
        return idx

    def evaluate(self, X, y, batch_size=1024, sample_weight=None):
        """{"loss": ..., metric: ...} on (X, y)."""
        yt = encode_targets(self, y)
        out = self.predict(X, batch_size=batch_size)
        with no_grad():
            loss = float(self.loss(Tensor(out), yt, sample_weight).data)
        logs = {"loss": loss}
        for name, fn in self.metrics:
            logs[name] = metrics_mod.log_value(fn(yt, out))
        return logs
