"""Learning-rate range test: the notes' step 3, "find a learning rate that makes the loss go down".

Train for a few hundred mini-batches while the learning rate grows exponentially, from 1e-6 to 1,
and watch the loss: at tiny rates it does not move, then it falls, then it blows up. A good rate
sits where it falls fastest.

    lr_t = start · (stop / start)^(t / (steps − 1))          t = 0 … steps − 1

The losses are noisy (one mini-batch each), so the rule works on a smoothed curve: a centred
moving average over `window` steps (centred, so the curve does not lag behind the rate).

The suggestion (`rule="steepest"`, the default) is the rate where the smoothed loss falls fastest
per factor of learning rate, i.e. the most negative d loss / d log(lr), measured across ±steps/10
points and looked for only before the smoothed loss reaches its minimum. The other common rule,
`rule="min/10"`, takes a tenth of the rate at that minimum (the minimum itself is already too
high: the loss is about to blow up there).
Both are computed and kept in the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gradkit.practice.plots import _figures, _save
from gradkit.train.inputs import as_features, encode_targets

RULES = ("steepest", "min/10")


@dataclass
class LRFinderResult:
    """What the sweep saw and what it suggests.

    Attributes:
        lrs, losses: the rate and the mini-batch loss of every step taken.
        smoothed: the centred moving average of `losses`.
        suggestion: the suggested learning rate (by `rule`).
        steepest: the rate where the smoothed loss falls fastest (before its minimum).
        lr_at_min: the rate where the smoothed loss is lowest.
        rule: "steepest" or "min/10".
        stopped_early: True when the sweep stopped because the loss blew up.
        descended: True when the smoothed loss fell by at least 10% somewhere in the sweep;
            False means no rate made the loss go down, and the suggestion means little.
        notes: remarks in plain words.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    steepest: float
    lr_at_min: float
    rule: str
    stopped_early: bool
    descended: bool = True
    notes: list[str] = field(default_factory=list)

    def describe(self):
        """One sentence in plain words."""
        rule = ("where the smoothed loss falls fastest" if self.rule == "steepest"
                else "a tenth of the rate at the lowest smoothed loss")
        return (f"suggested learning rate {self.suggestion:.3g} ({rule}); the loss was lowest "
                f"at {self.lr_at_min:.3g} and fell fastest at {self.steepest:.3g}")

    def plot(self, path, *, title="Learning-rate range test"):
        """Write the loss-vs-learning-rate figure (log x axis, suggestion marked) as a PNG."""
        plot_lr_finder(self, path, title=title)


def _centred_average(values, window):
    """Mean over a window centred on each point (shrinking at the ends)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return values
    half = max(int(window) // 2, 0)
    c = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(n)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, n)
    return (c[hi] - c[lo]) / (hi - lo)


def suggest(lrs, losses, *, window=None, rule="steepest"):
    """(suggestion, steepest, lr_at_min, smoothed) from a sweep's rates and losses.

    See the module docstring for the rules. Needs at least 3 finite points.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got rule={rule!r}")
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    keep = np.isfinite(losses)
    lrs, losses = lrs[keep], losses[keep]
    if len(lrs) < 3:
        raise ValueError(f"the sweep needs at least 3 finite losses to suggest a rate, "
                         f"got {len(lrs)}")
    window = window or max(5, len(lrs) // 15)
    smoothed = _centred_average(losses, window)
    i_min = int(np.argmin(smoothed))
    lr_at_min = float(lrs[i_min])
    log_lr = np.log(lrs)
    # The slope across ±span steps, not between neighbours: one noisy batch must not decide.
    span = max(3, len(lrs) // 10)
    i_steep, best = 0, 0.0
    for i in range(min(span, max(i_min - 1, 0)), i_min):
        lo, hi = max(i - span, 0), min(i + span, len(lrs) - 1)
        slope = (smoothed[hi] - smoothed[lo]) / (log_lr[hi] - log_lr[lo])
        if slope < best:
            i_steep, best = i, slope
    steepest = float(lrs[i_steep])
    suggestion = steepest if rule == "steepest" else lr_at_min / 10.0
    return suggestion, steepest, lr_at_min, smoothed


def lr_range_test(model, X, y, *, start=1e-6, stop=1.0, steps=100, batch_size=32,
                  diverge=4.0, rule="steepest", window=None, seed=0):
    """Sweep the learning rate of `model`'s optimizer exponentially from `start` to `stop`.

    One mini-batch per step, batches drawn from a fresh shuffle of (X, y) each pass. The sweep
    stops early once the smoothed loss exceeds `diverge` times its lowest value, or the loss
    stops being finite. The model's weights and optimizer state are put back afterwards.

    Args:
        model: a compiled `Sequential` (built on first use if needed).
        X, y: training data.
        start, stop: the first and last learning rate; default 1e-6 and 1.
        steps: number of steps (rates), default 100; 100-200 is the usual range.
        batch_size: mini-batch size, default 32.
        diverge: stop when the loss grows beyond this many times its minimum; default 4.
        rule: "steepest" (default) or "min/10"; see the module docstring.
        window: the smoothing window in steps; default max(5, steps // 15).
        seed: seed of the batch order.

    Returns:
        an `LRFinderResult`.
    """
    if not 0 < start < stop:
        raise ValueError(f"need 0 < start < stop, got start={start!r}, stop={stop!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 3:
        raise ValueError(f"steps must be an integer >= 3, got steps={steps!r}")
    if model.optimizer is None or model.loss is None:
        raise RuntimeError("lr_range_test needs a compiled model: call model.compile(...) first")
    if not model.optimizer.takes_lr or model.optimizer.requires_closure:
        raise ValueError(f"lr_range_test needs an optimizer with a learning rate (sgd, adam, "
                         f"...), got {type(model.optimizer).__name__}")

    X = as_features(X)
    yt = encode_targets(model, y)
    if not model.built:
        model.build(X.shape[1:], np.random.default_rng(seed))
    opt = model.optimizer
    opt.bind(model.parameters())
    saved_weights = model.get_weights()
    saved_state = opt.state_dict()
    saved_schedule = opt.schedule
    rng = np.random.default_rng(seed)
    rates = start * (stop / start) ** (np.arange(steps) / (steps - 1))
    lrs, losses = [], []
    best, avg, stopped = math.inf, 0.0, False
    order, pos = rng.permutation(len(X)), 0
    model.train()
    try:
        for t, lr in enumerate(rates):
            if pos + batch_size > len(X) and pos > 0:
                order, pos = rng.permutation(len(X)), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            opt.lr = float(lr)
            value, _, applied = model.train_step(X[idx], yt[idx])
            if not math.isfinite(value):
                stopped = True
                break
            lrs.append(float(lr))
            losses.append(value)
            # A trailing average (bias-corrected) watches for the blow-up as it happens.
            avg = 0.9 * avg + 0.1 * value
            smooth = avg / (1 - 0.9 ** (t + 1))
            best = min(best, smooth)
            if not applied or (t > 5 and smooth > diverge * best):
                stopped = True
                break
    finally:
        model.set_weights(saved_weights)
        opt.load_state_dict(saved_state)
        opt.schedule = saved_schedule
    notes = []
    if len(lrs) < 3:
        raise ValueError(f"the loss was not finite from the first steps (learning rate "
                         f"{start:.3g}); check the data and the initialization")
    suggestion, steepest, lr_at_min, smoothed = suggest(lrs, losses, window=window, rule=rule)
    descended = bool(np.min(smoothed) < 0.9 * smoothed[0])
    if not descended:
        notes.append("the loss did not go down at any rate tried: check the initialization "
                     "and the data before the learning rate")
    elif lr_at_min >= lrs[-1] and not stopped:
        notes.append(f"the loss was still falling at the largest rate tried ({lrs[-1]:.3g}); "
                     "try a larger stop")
    return LRFinderResult(np.asarray(lrs), np.asarray(losses), smoothed, float(suggestion),
                          steepest, lr_at_min, rule, stopped, descended, notes)


def plot_lr_finder(result, path, *, title="Learning-rate range test"):
    """Loss against learning rate (log x axis): raw points, smoothed curve, the suggestion."""
    plt = _figures()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.plot(result.lrs, result.losses, ".", ms=3, alpha=0.35, color="tab:blue",
            label="loss of each mini-batch")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", lw=2,
            label="smoothed loss (centred moving average)")
    ax.axvline(result.suggestion, color="tab:red", ls="--", lw=1.5,
               label=f"suggested rate {result.suggestion:.2g}")
    if result.rule == "steepest":
        ax.axvline(result.lr_at_min, color="tab:gray", ls=":", lw=1.2,
                   label=f"lowest smoothed loss at {result.lr_at_min:.2g}")
    else:
        ax.axvline(result.steepest, color="tab:gray", ls=":", lw=1.2,
                   label=f"steepest descent at {result.steepest:.2g}")
    ax.set_xscale("log")
    finite = result.smoothed[np.isfinite(result.smoothed)]
    if len(finite):
        # Keep the interesting part in view: the blow-up at the end would squash the rest.
        top = min(float(np.max(result.losses)), 2.0 * float(finite[0]) + 1e-12)
        low = float(np.min(finite))
        pad = 0.05 * (top - low) if top > low else 0.1 * abs(top) + 1e-3
        ax.set_ylim(low - pad, top + pad)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


__all__ = ["LRFinderResult", "lr_range_test", "plot_lr_finder", "suggest"]
