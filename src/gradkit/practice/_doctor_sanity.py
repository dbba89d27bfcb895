"""Steps 1 and 2 of the doctor: the sanity checks before any tuning.

Step 1 compares the untrained network's loss with what a network that knows nothing should
score (log C for a softmax over C classes) and looks at its layers; step 2 trains on a small
sample until it is learned by heart, and when that fails, turns the knobs the notes name
(learning rate down or up, random initialization) one at a time to say which one it is.
"""

from __future__ import annotations

import math
import os

import numpy as np

from gradkit.errors import TrainingDiverged
from gradkit.nn.layers import Dense
from gradkit.practice._doctor_report import StepResult, plot_overfit
from gradkit.practice.layer_stats import layer_stats
from gradkit.train.callbacks import Callback

GOOD_INIT = {"relu": "he_normal", "leaky_relu": "he_normal", "elu": "he_normal",
             "gelu": "he_normal", "silu": "he_normal"}


# -- step 1 ----------------------------------------------------------------------------------

def _expected_loss(setup, y):
    """(value, words) the loss of a network that knows nothing should have, or (None, why)."""
    kind = setup.loss_name
    if kind in ("cross_entropy", "categorical_cross_entropy",
                "sparse_categorical_cross_entropy"):
        c = setup.n_outputs
        return math.log(c), f"log {c} = {math.log(c):.2f} (a softmax over {c} classes)"
    if kind == "binary_cross_entropy":
        return math.log(2), "log 2 = 0.69 (a sigmoid output at 0.5)"
    if kind == "mse":
        m = float(np.mean(np.square(np.asarray(y, dtype=np.float64))))
        return m, (f"{m:.3g}, the mean of y² (the loss of predicting 0; for standardized "
                   "targets, their variance)")
    return None, f"no reference value for the loss {kind!r}"


def step1(setup, seed, tol, out):
    model = setup.make(lr=setup.lr, l2=0.0, seed=seed)
    Xs, ys = setup.train_X[:2000], setup.train_y[:2000]
    loss = float(model.evaluate_logs(Xs, ys)["loss"])
    expected, words = _expected_loss(setup, ys)
    step = StepResult(1, "Check the initial loss",
                      "The loss of the untrained network, regularization off, on the training "
                      "data; the notes: it should be about log(C) for a softmax over C classes.")
    step.numbers = {"initial loss": loss, "expected": expected}
    stats = layer_stats(model, Xs[:512])
    constant = setup.constant_layers = _constant_layers(model)
    problems = []
    if not math.isfinite(loss):
        problems.append("the initial loss is not finite: the inputs hold extreme values or the "
                        "initial weights are far too large")
    elif expected is not None:
        gap = (loss - expected) / expected
        step.numbers["relative gap"] = gap
        if gap > tol:
            problems.append(f"the initial loss {loss:.3g} is far above {words}: "
                            + _why_too_high(setup, model, Xs, stats))
        elif gap < -tol:
            problems.append(f"the initial loss {loss:.3g} is far below {words}: an untrained "
                            "network should not do better than chance. Was it trained already, "
                            "or are the classes very unbalanced?")
    if constant:
        layers = ", ".join(f"layer {i} (all {v:g})" for i, v in constant)
        fine = f"the initial loss {loss:.4g} matches {words}, but " if not problems and \
            expected is not None else ""
        problems.append(f"{fine}every weight of {layers} has the same value: all units of such a "
                        "layer compute the same thing and get the same gradient, so the "
                        "network can never learn distinct features (the notes: 'we need random "
                        "initialization'); use he_normal for ReLU, glorot for tanh")
    step.ok = not problems
    if step.ok:
        step.verdict = f"the initial loss {loss:.4g} matches {words}"
    else:
        step.verdict = problems[0]
        step.details += problems[1:]
    step.details += [f"Layer statistics at initialization: {w}" for w in stats.warnings
                     if w not in step.verdict]
    # Hidden layers that start saturated, shrinking or growing, or all equal, are the
    # initialization's fault: the later steps use a standard one instead.
    setup.init_problem = bool(constant) or any(
        key in w for w in stats.warnings for key in ("saturated", "shrunk", "grow"))
    if setup.task == "regression":
        y_arr = np.asarray(ys, dtype=np.float64)
        mean, std = float(np.mean(y_arr)), float(np.std(y_arr))
        if abs(mean) > 3 * max(std, 1e-12) or not 0.2 < std < 5:
            step.details.append(f"The targets are not standardized (mean {mean:.3g}, standard "
                                f"deviation {std:.3g}): the network starts near 0 and needs "
                                "many steps to reach them; standardizing them helps")
    step.table = stats.table()
    if out is not None:
        stats.plot(os.path.join(out, "layer_stats.png"),
                   title="Activations of the untrained network (first 512 training samples)")
        step.plots.append("layer_stats.png")
    return step


def _constant_layers(model):
    dense = [(i, layer) for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]
    # The output layer alone may start constant (zeros): the hidden layers break the symmetry.
    return [(i, float(layer.W.data.flat[0])) for i, layer in dense[:-1]
            if layer.W.data.size > 1 and np.ptp(layer.W.data) == 0]


def _why_too_high(setup, model, X, stats):
    scale = setup.input_scale(model, X)
    if scale is not None and (scale[0] > 3.0 or scale[1] > 5.0):
        return (f"the inputs are not standardized (their features reach a mean of "
                f"{scale[0]:.3g} and a spread of {scale[1]:.3g}, where the notes want 0 and 1): "
                "standardize them (--normalize standardize)")
    logits = model.predict(X)
    spread = float(np.std(logits))
    if stats.warnings:
        return ("the initialization is too large for this network: " + stats.warnings[0])
    return (f"the initial outputs (logits) spread with a standard deviation of {spread:.2g}; a "
            "network that knows nothing should give every class the same score, so the output "
            "layer's initial weights are too large (initialize it with small weights, e.g. "
            "random_normal with std 0.01)")


# -- step 2 ----------------------------------------------------------------------------------

def _overfit(setup, model, X, y, steps):
    """Train on (X, y) until 100% training accuracy or `steps` steps; what happened."""
    reached = {}

    class Stop(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if setup.fits(self.model, X, y):
                reached["step"] = len(self.model.history.batch_loss)
                self.model.stop_training = True

    per_epoch = math.ceil(len(X) / setup.batch_size)
    diverged = False
    try:
        history = model.fit(X, y, batch_size=setup.batch_size,
                            epochs=max(1, math.ceil(steps / per_epoch)), callbacks=[Stop()],
                            verbose=0, seed=0)
        losses = history.batch_loss
    except TrainingDiverged:
        diverged = True
        losses = model.history.batch_loss if model.history is not None else []
    return {"reached": "step" in reached, "steps": reached.get("step", len(losses)),
            "losses": list(losses), "diverged": diverged,
            "score": setup.train_score(model, X, y) if not diverged else float("nan")}


def step2(setup, seed, rng, n, steps, out):
    n = min(n, len(setup.train_X))
    idx = rng.choice(len(setup.train_X), size=n, replace=False)
    X, y = setup.train_X[idx], setup.train_y[idx]
    goal = setup.fit_goal
    step = StepResult(2, "Overfit a small sample",
                      f"Train on {n} training samples (about {math.ceil(n / setup.batch_size)} "
                      f"mini-batches), regularization off, for at most {steps} steps: a network "
                      f"that works must reach {goal} there.")
    model = setup.make(lr=setup.lr, l2=0.0, seed=seed, overfit=True)
    main = _overfit(setup, model, X, y, steps)
    runs = {f"lr {setup.lr:.3g} (yours)": main}
    step.numbers = {"samples": n, "learning rate": setup.lr, "steps used": main["steps"],
                    f"training {setup.score_name}": setup.format_score(main["score"])}
    if main["reached"]:
        step.ok = True
        step.verdict = f"reached {goal} on {n} samples in {main['steps']} steps"
    else:
        step.ok = False
        if not main["diverged"]:
            step.details += [f"After this training: {w}" for w in layer_stats(model, X).warnings
                             if "never fire" in w or "saturated" in w]
        fix = _probe(setup, seed, X, y, steps, main, runs, step)
        score = f"training {setup.score_name} {setup.format_score(main['score'])}, " \
            if not main["diverged"] else ""
        step.verdict = f"could not reach {goal} in {steps} steps ({score}" \
            f"{_outcome(main, goal)}); " + _advice(setup, main, fix, goal)
    if out is not None:
        plot_overfit(runs, os.path.join(out, "overfit.png"), n)
        step.plots.append("overfit.png")
    return step


def _exploded(res):
    losses = np.asarray(res["losses"], dtype=np.float64)
    return res["diverged"] or (len(losses) > 1 and np.nanmax(losses) > 10 * losses[0])


def _probe(setup, seed, X, y, steps, main, runs, step):
    """Try the knobs the notes name, one at a time; the first that works, as (name, result)."""
    probes = []
    if setup.constant_layers:
        fixed = GOOD_INIT.get(setup.activation, "glorot_uniform")
        probes.append((f"random initialization ({fixed})", dict(lr=setup.lr, init=fixed)))
    # Exploding losses call for lower rates, a loss that hardly moves for higher ones.
    factors = (0.1, 0.01, 0.001) if _exploded(main) else (10.0, 100.0, 0.1)
    for f in factors:
        word = f"{1 / f:.0f}x lower" if f < 1 else f"{f:.0f}x higher"
        probes.append((f"a {word} learning rate ({setup.lr * f:.3g})", dict(lr=setup.lr * f)))
    for name, kw in probes:
        res = _overfit(setup, setup.make(l2=0.0, seed=seed, overfit=True, **kw), X, y, steps)
        runs[name] = res
        step.details.append(f"With {name}: {_outcome(res, setup.fit_goal)}")
        if res["reached"]:
            return name, res
    return None


def _outcome(res, goal):
    losses = res["losses"]
    if res["diverged"]:
        return "the loss exploded to inf/NaN"
    if res["reached"]:
        return f"reached {goal} in {res['steps']} steps"
    if _exploded(res):
        top = int(np.nanargmax(losses))
        return (f"the loss exploded from {losses[0]:.3g} to {losses[top]:.3g} at step "
                f"{top + 1} and ended at {losses[-1]:.3g}")
    if len(losses) >= 2:
        return f"the loss went from {losses[0]:.3g} to {losses[-1]:.3g}"
    return "no step was taken"


def _advice(setup, main, fix, goal):
    if fix is not None:
        knob, res = fix
        worked = f"with {knob} it reached {goal} in {res['steps']} steps"
        if knob.startswith("random"):
            return (f"the initialization is the problem: {worked}; all-equal weights cannot "
                    "learn distinct features")
        if "lower" in knob:
            return (f"the learning rate {setup.lr:g} is too high: {worked} (the notes: loss "
                    "explodes? learning rate too high)")
        return (f"the learning rate {setup.lr:g} is too low: {worked} (the notes: loss not "
                "going down? learning rate too low)")
    losses = main["losses"]
    if setup.constant_layers:
        return "the initialization is the problem: use random initial weights (step 1)"
    if _exploded(main):
        return (f"the loss explodes: the learning rate {setup.lr:g} is too high, or the "
                "initialization is bad (the notes: loss explodes to inf or NaN? learning rate "
                "too high, bad initialization)")
    if len(losses) >= 2 and losses[-1] > 0.5 * losses[0]:
        return ("the loss barely goes down: the learning rate is too low or the initialization "
                "is bad (the notes: loss not going down? learning rate too low, bad "
                "initialization)")
    return ("the loss goes down but not far enough: the network may be too small for the "
            "data (more units or layers: more capacity), or it needs more steps")
