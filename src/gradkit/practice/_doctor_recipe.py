"""The doctor's loop back to step 5, its baseline, and the check of its advice against it.

KIT's notes end the recipe with "GOTO 5": when step 7 finds high variance or high bias, try its
remedies and look again. `passes` does that, bounded: each pass trains every remedy the
diagnosis names (each a change of the current best setting, at step 6's length), keeps the
best only if it scores better on the validation data than what it replaces, and diagnoses it
again; it stops when the diagnosis is clean, when no remedy helped, or after `max_passes`.

The advice must never be worse than doing nothing clever: `baseline` trains the configuration
as it was given (as `gradkit train` would), and `decide` recommends the doctor's setting only
if it beats the baseline on the validation data, with the margin and its noise (the standard
error of the paired per-sample difference: both models are scored on the same samples).
"""

from __future__ import annotations

import math

import numpy as np

from gradkit.errors import TrainingDiverged
from gradkit.practice._doctor_report import StepResult


# -- diagnosis -------------------------------------------------------------------------------

def diagnose(setup, model, bias_tol, variance_tol):
    """(training error, validation error, "bias" | "variance" | None)."""
    train_err = setup.error(model.evaluate_logs(setup.train_X, setup.train_y))
    val_err = setup.error(model.evaluate_logs(setup.val_X, setup.val_y))
    # The notes: reduce the bias first (a network that cannot fit the training data has
    # nothing to regularize), then the variance.
    kind = "bias" if train_err > bias_tol else \
        "variance" if val_err - train_err > variance_tol else None
    return train_err, val_err, kind


# -- remedies and passes ---------------------------------------------------------------------

def remedies(setup, current, kind):
    """[(name, settings)]: the changes step 7's verdict names, applied to `current`."""
    # Regularized networks learn more slowly: the variance remedies train twice as long, with
    # early stopping keeping the best epoch (so the longer run costs no accuracy).
    longer = min(2 * current["epochs"], 200)
    patience = max(3, longer // 5)
    hidden = current["changes"].get("hidden", setup.config.hidden if setup.config else None)
    dropout = current["changes"].get("dropout", setup.config.dropout if setup.config else 0.0)
    l2 = current["l2"]
    out = []

    def change(**kw):
        changes = {**current["changes"], **kw.pop("changes", {})}
        return {**current, "changes": changes, **kw}

    if kind == "variance":
        if not current["patience"]:
            out.append(("early stopping", change(patience=max(3, current["epochs"] // 5))))
        out.append((f"a 10x stronger L2 ({l2 * 10 if l2 else 1e-4:.2g})",
                    change(l2=l2 * 10 if l2 else 1e-4, epochs=longer, patience=patience)))
        if setup.config is not None and dropout < 0.5:
            rate = round(min(dropout + 0.2, 0.5), 2)
            out.append((f"dropout {rate:g}", change(changes={"dropout": rate}, epochs=longer,
                                                    patience=patience)))
        if setup.config is not None and max(hidden) >= 16:
            smaller = [max(8, h // 2) for h in hidden]
            out.append((f"a smaller network (hidden {smaller})",
                        change(changes={"hidden": smaller}, epochs=longer,
                               patience=patience)))
    elif kind == "bias":
        out.append((f"training twice as long ({2 * current['epochs']} epochs)",
                    change(epochs=2 * current["epochs"])))
        if l2:
            out.append((f"a 10x weaker L2 ({l2 / 10:.2g})", change(l2=l2 / 10)))
        if setup.config is not None and dropout:
            out.append(("no dropout", change(changes={"dropout": 0.0})))
        if setup.config is not None and max(hidden) <= 2048:
            bigger = [2 * h for h in hidden]
            out.append((f"a bigger network (hidden {bigger})", change(changes={"hidden": bigger})))
    return out


def passes(setup, first, train, bias_tol, variance_tol, max_passes):
    """Loop back to step 5 while step 7 asks for it; (steps, the best setting)."""
    current, steps = first, []
    for number in range(2, max_passes + 2):
        kind = current["diagnosis"]
        if kind is None:
            break
        candidates = remedies(setup, current, kind)
        if not candidates:
            break
        step = StepResult(5, f"Back to step 5, pass {number}: remedies for high {kind}",
                          f"Step 7 found high {kind}, so (the notes: 'GOTO 5') each remedy it "
                          f"names is trained from the best setting so far ({describe(current)}), "
                          "and kept only if it scores better on the validation data.")
        tried = [(name, settings, train(settings)) for name, settings in candidates]
        rows = [f"| remedy | epochs run | validation {setup.score_name} | validation loss |",
                "|---|---|---|---|",
                f"| none (pass {number - 1}) | {current['result']['epochs_run']} | "
                f"{_score(setup, current['result'])} | {current['result']['val_loss']:.4g} |"]
        rows += [f"| {name} | {res['epochs_run']} | {_score(setup, res)} | "
                 f"{res['val_loss']:.4g} |" for name, _, res in tried]
        step.table = "\n".join(rows)
        name, settings, res = max(tried, key=lambda t: (t[2]["score"], -t[2]["val_loss"]))
        if not res["score"] > current["result"]["score"]:
            step.ok = True
            step.verdict = (f"no remedy beat pass {number - 1} on the validation data (best: "
                            f"{name}, {_score(setup, res)} against "
                            f"{_score(setup, current['result'])}); keeping pass {number - 1}")
            steps.append(step)
            break
        step.verdict = (f"{name} helped: validation {setup.score_name} "
                        f"{_score(setup, current['result'])} -> {_score(setup, res)}")
        steps.append(step)
        train_err, val_err, diagnosis = diagnose(setup, res["model"], bias_tol, variance_tol)
        current = {**settings, "result": res, "diagnosis": diagnosis, "remedy": name,
                   "pass": number}
        check = StepResult(7, f"Bias or variance? (pass {number})",
                           f"The diagnosis of step 7 again, after {name}.")
        check.numbers = {"training error": _fraction(setup, train_err),
                         "validation error": _fraction(setup, val_err)}
        check.ok = diagnosis is None
        words = f"training error {_fraction(setup, train_err)}, validation error " \
            f"{_fraction(setup, val_err)}"
        check.verdict = f"{words}: high {diagnosis}" if diagnosis else \
            f"{words}: low bias and low variance: done"
        steps.append(check)
    return steps, current


def describe(settings):
    changes = "".join(f", {k} {v}" for k, v in sorted(settings["changes"].items()))
    stop = f", early stopping (patience {settings['patience']})" if settings["patience"] else ""
    return (f"lr {settings['lr']:.3g}, L2 {settings['l2']:.2g}{changes}, "
            f"{settings['epochs']} epochs{stop}")


def _score(setup, res):
    return "diverged" if res["diverged"] else setup.format_score(res["score"])


def _fraction(setup, value):
    return f"{value:.2%}" if setup.error_is_fraction else f"{value:.4f}"


# -- the baseline and the decision -----------------------------------------------------------

def baseline_step(setup, res, epochs):
    step = StepResult(0, "The default recipe, as a baseline",
                      f"Your configuration exactly as given, trained for its {epochs} epochs "
                      "on the same training data (as `gradkit train` would): the doctor "
                      "recommends something else only if it beats this on the validation "
                      "data.")
    step.numbers = {f"validation {setup.score_name}": _score(setup, res),
                    "validation loss": res["val_loss"], "epochs run": res["epochs_run"]}
    step.ok = not res["diverged"]
    step.verdict = f"validation {setup.score_name} {_score(setup, res)}" if step.ok else \
        "your configuration diverged"
    return step


def per_sample(setup, model, X, y):
    """Each validation sample's share of the score, so two models' difference is paired."""
    out = np.asarray(model.predict(X), dtype=np.float64)
    if setup.task == "classification":
        return (np.argmax(out, axis=-1) == y).astype(np.float64)
    if setup.task == "multilabel":
        return ((out > 0) == (np.asarray(y) > 0.5)).mean(axis=1)
    err = (out.reshape(len(y), -1) - np.asarray(y, dtype=np.float64).reshape(len(y), -1)) ** 2
    total = np.sum((np.asarray(y, np.float64) - np.mean(y, axis=0)) ** 2)
    return -err.sum(axis=1) * len(y) / max(total, 1e-12)


def epochs_used(res, patience, epochs):
    """The epochs a run trained to its kept weights: with early stopping, its best epoch."""
    history = res.get("history")
    if patience and history is not None and "val_loss" in history.history:
        return int(np.argmin(history.history["val_loss"])) + 1
    return epochs


def check_against(setup, seed, init, chosen, base, base_run, folds):
    """`cross_check` of the chosen setting against the baseline (`base_run`: its epochs and
    patience), or None (no folds, or one of them diverged)."""
    if not folds or base["diverged"] or chosen["result"]["diverged"]:
        return None
    return cross_check(
        setup, seed,
        lambda: setup.make(lr=chosen["lr"], l2=chosen["l2"], seed=seed, init=init,
                           changes=chosen["changes"]),
        lambda: setup.make_as_given(seed),
        (epochs_used(chosen["result"], chosen["patience"], chosen["epochs"]),
         epochs_used(base, base_run[1], base_run[0])), folds)


def cross_check(setup, seed, make_tuned, make_base, epochs, folds):
    """The per-sample score differences (tuned - baseline) of a `folds`-fold cross-validation
    on the training split: both trained on the same folds, scored on the same held-out
    samples, which no step of the search scored anything on."""
    rng = np.random.default_rng([seed, folds, 8])
    order = rng.permutation(len(setup.train_X))
    if setup.task == "classification":
        order = order[np.argsort(setup.train_y[order], kind="stable")]
    diffs = []
    for k in range(folds):
        held = np.sort(order[k::folds])
        rest = np.setdiff1d(np.arange(len(order)), held)
        scores = []
        for make, n in ((make_tuned, epochs[0]), (make_base, epochs[1])):
            model = make()
            try:
                model.fit(setup.train_X[rest], setup.train_y[rest], batch_size=setup.batch_size,
                          epochs=n, verbose=0, seed=seed)
                scores.append(per_sample(setup, model, setup.train_X[held],
                                         setup.train_y[held]))
            except TrainingDiverged:
                scores.append(np.full(len(held), -np.inf if make is make_tuned else np.inf))
        diffs.append(np.nan_to_num(scores[0] - scores[1], posinf=1.0, neginf=-1.0))
    return np.concatenate(diffs)


def decide(setup, tuned, base, check=None, folds=0):
    """Step 8: the tuned setting against the baseline; (step, True if the tuned one wins).

    With `check` (the per-sample differences of `cross_check`) the decision is the
    cross-validated one: the validation split chose the doctor's setting among many, so its
    margin there flatters it."""
    step = StepResult(8, "The advice against the default recipe",
                      "The doctor's best setting and your configuration, scored on the same "
                      "validation samples, and (the validation samples chose the doctor's "
                      f"setting among many, so they flatter it) in a {folds}-fold "
                      "cross-validation on the training data, both on the same folds: each "
                      "margin with its noise (the standard error of the per-sample "
                      "difference). The cross-validated margin decides: it must exceed its "
                      "noise." if check is not None
                      else "The doctor's best setting and your configuration, scored on the "
                      "same validation samples: the margin, and its noise (the standard error "
                      "of the per-sample difference); the margin must exceed its noise.")
    if base["diverged"]:
        step.verdict = "your configuration diverged, so the doctor's setting is recommended"
        return step, not tuned["diverged"]
    if tuned["diverged"]:
        step.ok, step.verdict = False, "the doctor's setting diverged: keeping yours"
        return step, False
    diff = per_sample(setup, tuned["model"], setup.val_X, setup.val_y) - \
        per_sample(setup, base["model"], setup.val_X, setup.val_y)
    margin, noise = tuned["score"] - base["score"], _standard_error(diff)
    step.numbers = {f"baseline validation {setup.score_name}": _score(setup, base),
                    f"doctor's validation {setup.score_name}": _score(setup, tuned),
                    "validation margin": _signed(setup, margin),
                    "validation noise (1 s.e.)": _fraction(setup, noise)}
    where = "on the validation data"
    if check is not None:
        margin, noise = float(np.mean(check)), _standard_error(check)
        step.numbers.update({f"{folds}-fold margin ({len(check)} samples)":
                             _signed(setup, margin),
                             f"{folds}-fold noise (1 s.e.)": _fraction(setup, noise)})
        where = f"in the {folds}-fold cross-validation"
    # A change must earn its place: a margin within one standard error is a tie, and a tie
    # keeps the configuration as it was given.
    wins = margin > noise
    if wins:
        step.verdict = (f"the doctor's setting beats your configuration {where} by "
                        f"{_fraction(setup, margin)}, more than the noise "
                        f"({_fraction(setup, noise)}); it is recommended")
    else:
        tie = "by no more than the noise" if margin > 0 else "at all"
        step.verdict = (f"the doctor's setting does not beat your configuration {where} {tie} "
                        f"({_signed(setup, margin)}, noise {_fraction(setup, noise)}): your "
                        "configuration is recommended as it is")
    return step, wins


def _standard_error(diff):
    return float(np.std(diff, ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.inf


def _signed(setup, value):
    return ("+" if value >= 0 else "-") + _fraction(setup, abs(value))


def test_once(setup, res, step):
    """With a separate test file: the recommended model on it, once, at the very end."""
    if setup.test_X is None or not len(setup.test_X) or res["diverged"]:
        return
    logs = res["model"].evaluate_logs(setup.test_X, setup.test_y)
    step.numbers[f"test {setup.score_name} (the test file, once)"] = \
        setup.format_score(setup.score(logs))
