"""Per-layer statistics of a network on a batch: what the notes' initialization slides plot.

For every layer that produces activations (a Dense layer with an activation, an Activation or
PReLU layer, and the output layer) on a batch X:

- the mean, standard deviation and histogram of its outputs (the notes' figure: with std 0.01
  weights the activations shrink to zero layer after layer, with too large weights tanh units
  sit at ±1, with Xavier/He initialization they stay "nicely scaled");
- for ReLU, the fraction of dead units: units whose output is 0 for every sample of the batch
  (they pass no gradient, so they may never recover);
- for tanh and sigmoid, the fraction of saturated outputs: |h| > 0.99 for tanh, h < 0.01 or
  h > 0.99 for sigmoid (there the derivative is almost 0: "saturated neurons kill the gradients");
- given labels y and a compiled loss, the norm of the gradient of each layer's weights, and the
  update-to-weight ratio ‖ΔW‖ / ‖W‖ of one step of the model's optimizer (the step is undone
  afterwards), or lr · ‖∇W‖ / ‖W‖ without an optimizer. A ratio around 1e-3 is healthy; far above
  1e-1 the learning rate is too high, far below 1e-6 too low.

Plain-word warnings name the layer ("layer 3 (Dense 256, relu): 62% of the ReLUs never fire on
this batch"). Layers are numbered as `model.summary()` numbers them (from 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradkit.autograd import Tensor, no_grad
from gradkit.nn import losses
from gradkit.nn.layers import Activation, BatchNorm, Dense, PReLU
from gradkit.practice.plots import _figures, _save
from gradkit.train.inputs import encode_targets

# Thresholds of the warnings (fractions, ratios); see `layer_stats`.
DEAD_WARN = 0.25
SATURATED_WARN = 0.25
SHRINK_WARN = 0.05        # std of a deeper layer below this times the first hidden layer's std
GROW_WARN = 20.0
UPDATE_HIGH, UPDATE_LOW = 1e-1, 1e-6
VANISH_WARN = 1e-3        # gradient norm of the first layer below this times the last layer's


@dataclass
class LayerStat:
    """Statistics of one layer's outputs (and of its weights' gradient, when computed)."""

    index: int
    name: str
    activation: str | None
    units: int
    mean: float
    std: float
    counts: np.ndarray
    edges: np.ndarray
    dead: float | None = None
    saturated: float | None = None
    grad_norm: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None

    @property
    def label(self):
        return f"layer {self.index} ({self.name})"


@dataclass
class LayerStats:
    """The per-layer statistics and the warnings they raise. Iterate for the layers."""

    layers: list[LayerStat]
    warnings: list[str] = field(default_factory=list)
    samples: int = 0

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def table(self):
        """A Markdown table: one row per layer."""
        rows = ["| layer | activation | mean | std | dead ReLUs | saturated | grad norm | "
                "update / weight |", "|---|---|---|---|---|---|---|---|"]

        def pct(v):
            return "–" if v is None else f"{v:.0%}"

        def num(v):
            return "–" if v is None else f"{v:.2e}"

        for s in self.layers:
            rows.append(f"| {s.label} | {s.activation or 'linear'} | {s.mean:.3g} | "
                        f"{s.std:.3g} | {pct(s.dead)} | {pct(s.saturated)} | "
                        f"{num(s.grad_norm)} | {num(s.update_ratio)} |")
        return "\n".join(rows)

    def plot(self, path, *, title=None):
        plot_layer_stats(self, path, title=title)


def _describe(layer):
    if isinstance(layer, Dense):
        act = layer.activation_name if layer.activation_name not in ("identity", "linear") \
            else None
        name = f"{type(layer).__name__} {layer.units}" + (f", {act}" if act else "")
        return name, act
    if isinstance(layer, Activation):
        return f"Activation {layer.activation_name}", layer.activation_name
    if isinstance(layer, PReLU):
        return "PReLU", "prelu"
    return None, None


def _histogram(values, activation, bins):
    if activation == "tanh":
        lo, hi = -1.0, 1.0
    elif activation == "sigmoid":
        lo, hi = 0.0, 1.0
    else:
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
    return np.histogram(values, bins=bins, range=(lo, hi))


def _forward_recording(model, X):
    """Run X through the layers one by one; keep the outputs of the layers we report."""
    recorded = []
    x = Tensor(X)
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        x = layer.forward(x)
        name, act = _describe(layer)
        if name is not None and (act is not None or i == last):
            recorded.append((i, layer, name, act, x))
    return x, recorded


def _gradients(model, X, y, lr):
    """{id(W): (‖∇W‖, ‖W‖, update ratio)} for every Dense kernel, from one step undone after."""
    yt = encode_targets(model, y)
    dense = [layer for layer in model.layers if _describe(layer)[0] is not None
             and getattr(layer, "W", None) is not None]
    opt = model.optimizer
    saved_weights = model.get_weights()
    if opt is not None:
        opt.bind(model.parameters())
        saved_state = opt.state_dict()
        opt.zero_grad()
    else:
        model.zero_grad()
    # The loss as training computes it (from the output layer's pre-activation where the
    # loss reads probabilities after a softmax or sigmoid layer).
    fused, loss_fn = model._loss_plan()
    out = model.forward_logits(Tensor(X)) if fused else model.forward(Tensor(X))
    loss = losses.value(loss_fn, out, yt)
    penalty = model.penalty()
    if penalty is not None:
        loss = loss + penalty
    loss.backward()
    result = {}
    for layer in dense:
        g = np.asarray(layer.W.grad, dtype=np.float64) if layer.W.grad is not None else None
        w = np.asarray(layer.W.data, dtype=np.float64)
        result[id(layer)] = [float(np.linalg.norm(g)) if g is not None else 0.0,
                             float(np.linalg.norm(w)), None, w.copy()]
    try:
        if opt is not None and opt.takes_lr and not opt.requires_closure:
            if opt.step():
                for layer in dense:
                    entry = result[id(layer)]
                    delta = np.asarray(layer.W.data, dtype=np.float64) - entry[3]
                    entry[2] = float(np.linalg.norm(delta)) / max(entry[1], 1e-30)
        elif lr is not None:
            for entry in result.values():
                entry[2] = lr * entry[0] / max(entry[1], 1e-30)
    finally:
        model.set_weights(saved_weights)
        if opt is not None:
            opt.load_state_dict(saved_state)
            opt.zero_grad()
        else:
            model.zero_grad()
    return {k: tuple(v[:3]) for k, v in result.items()}


def layer_stats(model, X, y=None, *, bins=50, lr=None, max_samples=1024):
    """Activation statistics per layer of `model` on the batch X, and warnings in plain words.

    Args:
        model: a built (or buildable) `Sequential`.
        X: a batch of inputs (at most `max_samples` rows are used, the first ones).
        y: labels; with them and a compiled loss, gradient norms and update ratios are added.
        bins: histogram bins per layer; default 50.
        lr: the learning rate for lr · ‖∇W‖ / ‖W‖ when the model has no optimizer.
        max_samples: default 1024.

    Dropout is off (evaluation mode); BatchNorm uses the batch's statistics, as in training, and
    its running statistics are left as they were. Returns a `LayerStats`.
    """
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32)[:max_samples])
    if not model.built:
        model.build(X.shape[1:])
    was_training = model.training
    saved_buffers = [(b, b.copy()) for _, b in model.named_buffers()]
    model.eval()
    for m in model.modules():
        if isinstance(m, BatchNorm):
            m.training = True
    stats = []
    try:
        with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _, recorded = _forward_recording(model, X)
        for i, layer, name, act, out in recorded:
            h = np.asarray(out.data, dtype=np.float64).reshape(len(X), -1)
            counts, edges = _histogram(h, act, bins)
            s = LayerStat(i, name, act, h.shape[1], float(h.mean()), float(h.std()),
                          counts, edges)
            if act == "relu":
                s.dead = float(np.mean(np.all(h <= 0, axis=0)))
            elif act == "tanh":
                s.saturated = float(np.mean(np.abs(h) > 0.99))
            elif act == "sigmoid":
                s.saturated = float(np.mean((h < 0.01) | (h > 0.99)))
            stats.append(s)
        if y is not None and model.loss is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                grads = _gradients(model, X, np.asarray(y)[:len(X)], lr)
            for s in stats:
                entry = grads.get(id(model.layers[s.index]))
                if entry is not None:
                    s.grad_norm, s.weight_norm, s.update_ratio = entry
    finally:
        for live, copy in saved_buffers:
            live[...] = copy
        model.train(was_training)
    result = LayerStats(stats, samples=len(X))
    result.warnings = _warnings(stats)
    return result


def _layers_text(group):
    if len(group) == 1:
        return group[0].label
    names = sorted({s.name.split(", ")[-1] for s in group})
    return f"layers {', '.join(str(s.index) for s in group)} ({', '.join(names)})"


def _share_text(values):
    lo, hi = min(values), max(values)
    return f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%} to {hi:.0%}"


def _warnings(stats):
    out = []
    hidden = [s for s in stats[:-1] if s.activation is not None] or stats[:1]
    # A layer fed only zeros by a dead layer before it is silent too, but the cure is upstream:
    # report the first dead layer, and name the ones it silences.
    dead, silenced, prev_zero = [], [], False
    for s in stats:
        all_zero = s.std == 0 and s.mean == 0
        if s.dead is not None and s.dead >= DEAD_WARN:
            (silenced if prev_zero else dead).append(s)
        prev_zero = all_zero
    if dead:
        text = (f"{_layers_text(dead)}: {_share_text([s.dead for s in dead])} of the ReLUs never "
                "fire on this batch (dead units pass no gradient and may never recover): check "
                "the biases and the initialization, lower the learning rate, or try leaky_relu")
        if silenced:
            text += (f"; {_layers_text(silenced)} after it get only zeros and are silent "
                     "because of it")
        out.append(text)
    saturated = [s for s in stats if s.saturated is not None and s.saturated >= SATURATED_WARN]
    for act in ("tanh", "sigmoid"):
        group = [s for s in saturated if s.activation == act]
        if group:
            bound = "|h| > 0.99" if act == "tanh" else "h < 0.01 or h > 0.99"
            out.append(f"{_layers_text(group)}: {_share_text([s.saturated for s in group])} of "
                       f"the {act} outputs are saturated ({bound}), where the gradient is almost "
                       "zero: the weights are too large for this input scale; use glorot "
                       "(Xavier) initialization and standardized inputs")
    # Dead layers (all zeros) are explained above; the scale checks look at the others.
    live = [s for s in hidden if s.std > 0 and not (s.dead is not None and s.dead >= DEAD_WARN)]
    if len(live) >= 2:
        first = live[0]
        for s in live[1:]:
            if s.std < SHRINK_WARN * first.std:
                out.append(f"{s.label}: the activations have shrunk towards zero (std "
                           f"{s.std:.2g}, against {first.std:.2g} in {first.label}): the "
                           "weights are initialized too small, so deeper layers get no signal "
                           "and no gradient; use he_normal (ReLU) or glorot (tanh)")
                break
            if s.std > GROW_WARN * first.std:
                out.append(f"{s.label}: the activations grow layer after layer (std "
                           f"{s.std:.2g}, against {first.std:.2g} in {first.label}): the "
                           "weights are initialized too large; use he_normal or glorot")
                break
    with_grads = [s for s in stats if s.grad_norm is not None]
    for s in with_grads:
        if not np.isfinite(s.grad_norm):
            out.append(f"{s.label}: the gradient is not finite; lower the learning rate and "
                       "check the inputs for extreme values")
        elif s.update_ratio is not None and s.update_ratio > UPDATE_HIGH:
            out.append(f"{s.label}: one step changes the weights by {s.update_ratio:.0%} of "
                       "their size (healthy is about 0.1%): the learning rate is too high")
        elif s.update_ratio is not None and 0 < s.update_ratio < UPDATE_LOW:
            out.append(f"{s.label}: one step changes the weights by only {s.update_ratio:.1e} "
                       "of their size (healthy is about 1e-3): the layer has almost stopped "
                       "learning (the learning rate is too low, or an adaptive optimizer's "
                       "steps were shrunk by earlier huge gradients)")
    if len(with_grads) >= 2:
        first, last = with_grads[0].grad_norm, with_grads[-1].grad_norm
        if np.isfinite(first) and last > 0 and first < VANISH_WARN * last:
            out.append(f"{with_grads[0].label}: its gradient is {first / last:.1e} times that "
                       f"of {with_grads[-1].label}: the gradients vanish on the way back, so "
                       "the first layers barely learn")
    return out


def plot_layer_stats(stats, path, *, title=None, max_layers=8):
    """The notes' figure: mean and std per layer, and a histogram of each layer's outputs."""
    plt = _figures()
    layers = list(stats)
    if not layers:
        raise ValueError("no layers to plot: the model has no layer that produces activations")
    shown = layers if len(layers) <= max_layers else \
        [layers[int(round(k))] for k in np.linspace(0, len(layers) - 1, max_layers)]
    ncols = len(shown)
    fig = plt.figure(figsize=(max(8.0, 2.3 * ncols), 6.6))
    grid = fig.add_gridspec(2, max(ncols, 2), height_ratios=[1, 1.15], hspace=0.55, wspace=0.35)
    top = grid[0, :].subgridspec(1, 2, wspace=0.3)
    x = [s.index for s in layers]
    ax = fig.add_subplot(top[0, 0])
    ax.plot(x, [s.mean for s in layers], "o-", color="tab:blue", label="mean")
    ax.set_title("Mean of the outputs")
    ax.set_xlabel("layer (as in model.summary())")
    ax.set_ylabel("mean")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(top[0, 1])
    ax.plot(x, [s.std for s in layers], "o-", color="tab:orange", label="standard deviation")
    ax.set_title("Spread of the outputs")
    ax.set_xlabel("layer (as in model.summary())")
    ax.set_ylabel("standard deviation")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for k, s in enumerate(shown):
        ax = fig.add_subplot(grid[1, k])
        widths = np.diff(s.edges)
        ax.bar(s.edges[:-1], s.counts / max(s.counts.sum(), 1), width=widths, align="edge",
               color="tab:blue", alpha=0.8)
        flags = []
        if s.dead is not None:
            flags.append(f"dead {s.dead:.0%}")
        if s.saturated is not None:
            flags.append(f"saturated {s.saturated:.0%}")
        head = f"layer {s.index}: {s.activation or 'linear'}"
        ax.set_title(head + ("\n" + ", ".join(flags) if flags else "\n "), fontsize=9)
        ax.set_xlabel("output value", fontsize=8)
        if k == 0:
            ax.set_ylabel("fraction of outputs", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or f"Layer statistics on a batch of {stats.samples} samples")
    _save(fig, path)


__all__ = ["LayerStat", "LayerStats", "layer_stats", "plot_layer_stats"]
