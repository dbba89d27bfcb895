"""The output layer and the loss (which form the loss reads), and inference: `predict`,
`predict_proba`, `predict_classes`, `evaluate`. A mixin of `Sequential`."""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit._streams import is_stream
from gradkit.autograd import Tensor, no_grad
from gradkit.errors import ConfigError, NotCompiledError
from gradkit.nn import losses as losses_mod
from gradkit.nn.layers.core import Activation, Dense
from gradkit.train import _boundary
from gradkit.train import metrics as metrics_mod
from gradkit.train.inputs import as_features, encode_targets
from gradkit.train.streaming import check_stream_arguments, evaluate_stream, predict_stream


class OutputAndInference:
    """What `Sequential` computes from its last layer and its loss."""

    # -- the output layer and the loss ------------------------------------------------------
    def output_activation(self):
        """The activation the last layer applies: a name, "linear" for none, or None when the
        last layer is not a Dense or Activation layer (or has settings on its activation)."""
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, (Dense, Activation)):
            return None
        if (last.activation_kwargs if isinstance(last, Dense) else last.kwargs):
            return None
        name = last.activation_name
        return "linear" if name in (None, "linear", "identity") else name

    def _loss_plan(self):
        """(fused, loss): how training and `evaluate` compute the loss.

        A cross-entropy that reads probabilities (Keras's `from_logits=False`) after a last
        layer applying the matching softmax or sigmoid is computed from that layer's
        pre-activation with the fused, stable form: the same value, finite where
        log(softmax) is not, and no second activation. A logits loss after a softmax or
        sigmoid layer, or a probabilities loss after a linear one, is refused: either would
        train on something else than what was meant.
        """
        if self._plan is not None and self._plan[0] is self.loss:
            return self._plan[1]
        loss, plan = self.loss, (False, self.loss)
        kind = getattr(loss, "output", None)
        from_logits = getattr(loss, "from_logits", None)
        act = self.output_activation()
        name = getattr(loss, "name", type(loss).__name__)
        if kind is not None and from_logits is not None:
            if from_logits and act in ("softmax", "sigmoid"):
                raise ConfigError(
                    f"loss {name!r} reads logits (from_logits=True), but the last layer applies "
                    f"{act}: it would be applied twice. Remove the layer's activation, or use "
                    f"a loss that reads probabilities ({_PROBA_LOSS[kind]}, the Keras names)")
            if not from_logits and act == kind:
                plan = (True, loss.with_logits())
            elif not from_logits and act == "linear":
                raise ConfigError(
                    f"loss {name!r} reads probabilities (from_logits=False), but the last "
                    f"layer outputs unbounded values: give it activation={kind!r}, or pass "
                    "from_logits=True")
        self._plan = (loss, plan)
        return plan

    def outputs_are_logits(self):
        """Whether the model's outputs are logits: a softmax or sigmoid loss that reads them."""
        return getattr(self.loss, "output", None) in ("softmax", "sigmoid") \
            and bool(getattr(self.loss, "from_logits", True))

    def cuts_at_zero(self):
        """Whether a metric that cuts one output column cuts it at 0 (the logits of one of
        gradkit's losses: probability 0.5) rather than at Keras's 0.5. Under a Keras loss
        class with `from_logits=True` Keras's metrics cut the logits themselves at 0.5, and
        so do these: the numbers are Keras's."""
        return self.outputs_are_logits() and not getattr(self.loss, "keras_class", False)

    def metric_outputs(self, out):
        """What the metrics read, as Keras's read it: the model's outputs as `predict` returns
        them. `out` is what the loss read, the pre-activation where the loss is computed from
        it (see `_loss_plan`): the output layer's softmax or sigmoid is applied to it then."""
        if not self._loss_plan()[0]:
            return out
        with no_grad():
            if self.loss.output == "softmax":
                return ag.softmax(Tensor(out), axis=-1).data
            return ag.sigmoid(Tensor(out)).data

    def metric_values(self, y, out, metrics=None):
        """{name: value} of the compiled metrics (or of `metrics`, (name, fn) pairs) on labels
        `y` and outputs `out` (as the loss read them); a metric that cuts one column cuts
        logits at 0, other outputs at 0.5."""
        scores = self.metric_outputs(out)
        logits = self.cuts_at_zero()
        return {name: metrics_mod.log_value(metrics_mod.bind(fn, logits=logits)(y, scores))
                for name, fn in (self.metrics if metrics is None else metrics)}

    def penalty_value(self):
        """The regularization penalty at the current weights, as a float (0.0 without one):
        Keras's evaluate and val_loss include it, as the training loss does."""
        with no_grad():
            pen = self.penalty()
        return 0.0 if pen is None else float(pen.data)

    def forward_logits(self, x):
        """The forward pass up to the last layer's pre-activation (its activation left out)."""
        for layer in self.layers[:-1]:
            x = layer.forward(x)
        last = self.layers[-1]
        return ag.linear(x, last.W, last.b) if isinstance(last, Dense) else x

    # -- inference ------------------------------------------------------------------------------
    def predict(self, x=None, batch_size=None, verbose=0, **kwargs):
        """The model's outputs, in batches, without a graph: probabilities after a softmax or
        sigmoid output layer, logits after a linear one.

        `verbose` as Keras's (0 quiet, the default here; 1, 2 or "auto" print one line).
        """
        x = _boundary.keras_x(x, kwargs, "predict")
        _boundary.no_more(kwargs, "predict")
        _boundary.verbosity(verbose)
        started = _boundary.clock()
        if is_stream(x):        # a `gradkit.data.Stream`: outputs in the files' row order
            return predict_stream(self, x, batch_size=_boundary.batch_size(batch_size, 1024))
        out = self._outputs(x, batch_size, logits=False)
        _boundary.report(verbose, len(out), batch_size, started)
        return out

    def _outputs(self, X, batch_size, *, logits, name="X"):
        """Outputs of the whole of X in batches (the pre-activation with `logits=True` when
        the loss is computed from it)."""
        if not self.built:
            raise RuntimeError("predict() needs a trained or built model")
        # NaN or inf in, NaN out: refused with its row, as fit refuses it.
        X = as_features(X, name, self.input_shape)
        batch_size = _boundary.batch_size(batch_size, 1024)
        forward = self.forward_logits if logits else self.forward
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                first = forward(Tensor(X[:batch_size])).data
                if len(X) <= batch_size:
                    return np.array(first)
                out = np.empty((len(X),) + first.shape[1:], dtype=first.dtype)
                out[:batch_size] = first
                for start in range(batch_size, len(X), batch_size):
                    out[start:start + batch_size] = forward(
                        Tensor(X[start:start + batch_size])).data
                return out
        finally:
            self.train(was_training)

    def _scores(self, X, batch_size):
        """(outputs, are_logits): the pre-activation where the loss is computed from it; the
        outputs themselves are probabilities only under a loss that reads probabilities."""
        fused = self.loss is not None and self._loss_plan()[0]
        proba = getattr(self.loss, "output", None) is not None \
            and getattr(self.loss, "from_logits", True) is False
        if is_stream(X):        # predict's outputs: probabilities under a Keras loss
            return predict_stream(self, X, batch_size=batch_size), not (fused or proba)
        if fused:
            return self._outputs(X, batch_size, logits=True), True
        return self._outputs(X, batch_size, logits=False), not proba

    def predict_proba(self, X, batch_size=1024):
        """Class probabilities: the softmax (or sigmoid) output layer's, or that of the logits."""
        kind = getattr(self.loss, "output", None)
        if kind not in ("softmax", "sigmoid"):
            raise ValueError("predict_proba needs a classifier (a cross-entropy loss), "
                             f"this model's loss is {getattr(self.loss, 'name', self.loss)!r}")
        scores, are_logits = self._scores(X, batch_size)
        if not are_logits:
            return scores
        if kind == "softmax":
            return ag.softmax(Tensor(scores), axis=-1).data
        return ag.sigmoid(Tensor(scores)).data

    def predict_classes(self, X, batch_size=1024):
        """Predicted labels: class names when the model was trained on named classes."""
        scores, are_logits = self._scores(X, batch_size)
        threshold = 0.0 if are_logits else 0.5
        kind = getattr(self.loss, "output", None)
        if kind == "sigmoid" and scores.shape[-1] > 1:
            return (scores > threshold).astype(np.int64)      # multi-label: one 0/1 per label
        if scores.ndim == 1 or scores.shape[-1] == 1:
            idx = (scores.reshape(-1) > threshold).astype(np.int64)
        else:
            idx = np.argmax(scores, axis=-1)
        if self.class_names is not None:
            return np.asarray(self.class_names, dtype=object)[idx]
        return idx

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, sample_weight=None,
                 return_dict=False, **kwargs):
        """The loss on (x, y), and the compiled metrics, as Keras returns them: the loss alone
        when there are no metrics, else [loss, *metrics] in compile order; with
        `return_dict=True`, {"loss": ..., metric: ...}.

        `verbose`: 0 quiet (the default here), 1, 2 or "auto" print one line.
        """
        x = _boundary.keras_x(x, kwargs, "evaluate")
        _boundary.no_more(kwargs, "evaluate")
        _boundary.verbosity(verbose)            # a bad value refused before the work
        started = _boundary.clock()
        logs, rows = self._evaluate(x, y, batch_size, sample_weight)
        _boundary.report(verbose, rows, batch_size, started, logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def evaluate_logs(self, X, y=None, *, batch_size=None, sample_weight=None):
        """{"loss": ..., metric: ...} on (X, y), or on a `gradkit.data.Stream` X (y None):
        what `fit` logs and gradkit's tools read."""
        return self._evaluate(X, y, batch_size, sample_weight)[0]

    def _evaluate(self, X, y, batch_size, sample_weight):
        """(logs, the number of rows evaluated)."""
        if self.loss is None:
            raise NotCompiledError("evaluate needs a compiled model: call "
                                   "compile(optimizer, loss) first")
        if is_stream(X):
            check_stream_arguments(y, 0.0, sample_weight)
            logs = evaluate_stream(self, X, batch_size=_boundary.batch_size(batch_size, 1024))
            return logs, len(X)
        X = _boundary.features(X, "X", self.input_shape if self.built else None)
        yt = encode_targets(self, y, rows=len(X))
        fused, loss_fn = self._loss_plan()
        out = self._outputs(X, batch_size, logits=fused)
        if sample_weight is not None:
            sample_weight = _boundary.sample_weights(sample_weight, len(X))
        with no_grad():
            loss = float(losses_mod.value(loss_fn, Tensor(out), yt, sample_weight).data)
        logs = {"loss": loss + self.penalty_value(), **self.metric_values(yt, out)}
        return logs, len(X)


_PROBA_LOSS = {"softmax": "'sparse_categorical_crossentropy' or "
                          "'categorical_crossentropy'",
               "sigmoid": "'binary_crossentropy'"}
