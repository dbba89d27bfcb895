"""`doctor`: the notes' recipe for training a network, run and reported step by step.

"Learning with NNs in practice" (001) lists seven steps; `doctor` runs each on your data and model
and says what it found in plain words:

1. check the initial loss (log C for a softmax over C classes) with regularization off;
2. overfit a small sample (a few mini-batches) to 100% training accuracy;
3. find a learning rate that makes the loss go down (a learning-rate range test);
4. coarse random search over learning rate and weight decay (L2), 1-5 epochs each;
5. finer search around the best, longer (10-20 epochs);
6. look at the learning curves of the best setting;
7. bias or variance? Then, as the notes say, go back to step 5: the doctor trains the remedies
   the diagnosis names, keeps one only if it scores better, and looks again (bounded).

Before step 1 it trains your configuration as it is (step 0, the baseline), and after the last
pass it recommends its own setting only if that beats the baseline on the validation data
(step 8, with the margin and its noise); with a separate test file it evaluates the
recommended model on it once, at the end.

It writes `doctor.md` (each step: what was checked, the numbers, the verdict, the plots) with its
PNGs, and `recommended.json`, which `gradkit train --config recommended.json` runs as it is.

The searches sample with NumPy from a seeded generator: learning rates log-uniformly within a
factor `lr_span` of step 3's suggestion (then a factor √lr_span around the best), L2 factors from
`l2_grid` (KIT's {1e-4, 1e-5, 0}; then a factor √10 around the best). Every trial starts from
the same initial weights (seed `seed`), so trials differ only in their settings.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from gradkit._threads import blas_limit
from gradkit.errors import ConfigError, TrainingDiverged
from gradkit.practice import _doctor_recipe as recipe
from gradkit.practice import plots
from gradkit.practice._doctor_report import DoctorReport, StepResult, plot_search
from gradkit.practice._doctor_sanity import GOOD_INIT, step1, step2
from gradkit.practice._doctor_setup import Setup, refuse_small_splits
from gradkit.practice.lr_finder import lr_range_test
from gradkit.train.callbacks import EarlyStopping

def doctor(model_or_config=None, X=None, y=None, *, validation_data=None, out=None, data=None,
           small_sample=160, overfit_steps=500, lr_steps=100, coarse_trials=6, coarse_epochs=2,
           fine_trials=3, fine_epochs=10, curve_epochs=15, l2_grid=(1e-4, 1e-5, 0.0),
           lr_span=10.0, loss_tolerance=0.15, bias_tolerance=0.05, variance_tolerance=0.05,
           max_passes=2, check_folds=3, seed=0, echo=None, blas_threads=1,
           sample_rows=100_000):
    """Run the notes' 7-step recipe and return a `DoctorReport` (written to `out` if given).

    Args:
        model_or_config: a `RunConfig` (or its dict; default `RunConfig()`, digits), or a
            `Sequential` (compiled or not) to examine on X, y. A config whose data streams
            (a folder or glob of tables, or `stream=True`) is examined on a uniform sample of
            its splits (`sample_rows`); the config recommended streams all of it.
        X, y: the data. With a config and no X, `config.data` is loaded and split with its
            `val`, `test` and `seed`; the test split is never used here.
        validation_data: (X_val, y_val) to use instead of splitting X, y.
        out: folder for doctor.md, the PNGs and recommended.json; None writes nothing.
        data: the `data` written into recommended.json when X, y are arrays.
        small_sample: samples in step 2 (the notes: ~5-10 mini-batches); default 160.
        overfit_steps: step 2's budget of training steps; default 500.
        lr_steps: steps of the learning-rate sweep (step 3); default 100.
        coarse_trials, coarse_epochs: step 4's trials and epochs per trial (the notes: 1-5);
            default 6 and 2.
        fine_trials, fine_epochs: step 5's (the best coarse setting counts as one; the notes:
            10-20 epochs); default 3 and 10.
        curve_epochs: epochs of step 6's final run, and of the recommended config; default 15.
        l2_grid: the L2 factors step 4 tries in turn; default KIT's (1e-4, 1e-5, 0).
        lr_span: step 4 samples rates within this factor of step 3's suggestion; default 10.
        loss_tolerance: step 1's allowed relative gap to the expected loss; default 0.15.
        bias_tolerance: step 7 calls a training error above this high bias; default 0.05.
        variance_tolerance: and a validation error this much above the training error high
            variance; default 0.05.
        max_passes: how many times step 7 may send the doctor back to step 5; default 2.
        check_folds: folds of step 8's cross-validation of the advice against the baseline
            on the training data (0: decide on the validation split alone); default 3.
        seed: seeds the sample, the searches and every initialization.
        echo: called with one line per finished step (e.g. `print`); default silent.
        blas_threads: cap on BLAS threads while it runs (small networks run fastest on one);
            None leaves them as they are.
        sample_rows: training rows examined of a streamed data set (validation rows in
            proportion to the split); default 100,000.
    """
    start = time.perf_counter()
    _check_budgets(small_sample=small_sample, overfit_steps=overfit_steps, lr_steps=lr_steps,
                   coarse_trials=coarse_trials, coarse_epochs=coarse_epochs,
                   fine_trials=fine_trials, fine_epochs=fine_epochs, curve_epochs=curve_epochs)
    if isinstance(max_passes, bool) or not isinstance(max_passes, int) or max_passes < 0:
        raise ConfigError(f"max_passes must be an integer >= 0, got max_passes={max_passes!r}")
    try:
        l2_grid = tuple(float(v) for v in l2_grid)
    except (TypeError, ValueError):
        l2_grid = ()
    if not l2_grid or not all(0 <= v < math.inf for v in l2_grid):
        raise ConfigError(f"l2_grid must list L2 factors >= 0, got {l2_grid!r}")
    if isinstance(check_folds, bool) or not isinstance(check_folds, (int, np.integer)) \
            or check_folds < 0 or check_folds == 1:
        raise ConfigError(f"check_folds must be 0 or an integer >= 2, got "
                          f"check_folds={check_folds!r}")
    if not lr_span > 1:
        raise ConfigError(f"lr_span must be a factor > 1, got lr_span={lr_span!r}")
    setup = Setup.create(model_or_config, X, y, validation_data=validation_data, data=data,
                         sample_rows=sample_rows)
    refuse_small_splits(setup, check_folds)
    rng = np.random.default_rng(seed)
    steps = []

    def done(step):
        steps.append(step)
        if echo is not None:
            echo(f"step {step.number} ({step.title.lower()}): "
                 f"{'fine' if step.ok else 'PROBLEM'} - {step.verdict}")

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            blas_limit(blas_threads):
        if out is not None:
            os.makedirs(out, exist_ok=True)
        base_epochs = setup.config.epochs if setup.config is not None else curve_epochs
        base_patience = setup.config.early_stopping if setup.config is not None else 0
        base = _fit(setup, setup.make_as_given(seed), base_epochs, base_patience, seed)
        done(recipe.baseline_step(setup, base, base_epochs))
        s1 = step1(setup, seed, loss_tolerance, out)
        done(s1)
        s2 = step2(setup, seed, rng, small_sample, overfit_steps, out)
        done(s2)
        init = setup.init if not setup.init_problem else \
            GOOD_INIT.get(setup.activation, "glorot_uniform")
        if init != setup.init:
            s2.details.append(f"From step 3 on the doctor uses init {init!r} instead of "
                              f"{setup.init!r}, which step 1 found at fault.")
        s3, lr = _step3(setup, seed, init, lr_steps, out)
        done(s3)
        s4, coarse = _step4(setup, seed, init, rng, lr, lr_span, l2_grid, coarse_trials,
                            coarse_epochs)
        done(s4)
        s5, best, fine = _step5(setup, seed, init, rng, coarse, lr_span, l2_grid, fine_trials,
                                fine_epochs)
        done(s5)
        if out is not None:
            plot_search(coarse, fine, best, setup.score_name, os.path.join(out, "search.png"),
                        epochs=(coarse_epochs, fine_epochs))
            s5.plots.append("search.png")
        s6, final, patience = _step6(setup, seed, init, best, curve_epochs, out)
        done(s6)
        s7, kind = _step7(setup, final, bias_tolerance, variance_tolerance)
        done(s7)
        first = {"lr": best["lr"], "l2": best["l2"], "epochs": curve_epochs, "changes": {},
                 "patience": patience, "diagnosis": kind, "pass": 1, "result": final}
        if patience and not final["diverged"]:
            # The recommended config stops early: measure it as it will run.
            first["result"] = _trial(setup, seed, init, first)
        more, chosen = recipe.passes(setup, first, lambda s: _trial(setup, seed, init, s),
                                     bias_tolerance, variance_tolerance, max_passes)
        for step in more:
            done(step)
        check = recipe.check_against(setup, seed, init, chosen, base,
                                     (base_epochs, base_patience), check_folds)
        s8, wins = recipe.decide(setup, chosen["result"], base, check, check_folds)
        recipe.test_once(setup, (chosen if wins else {"result": base})["result"], s8)
        done(s8)
    if wins:
        recommended = setup.recommend(lr=chosen["lr"], l2=chosen["l2"], epochs=chosen["epochs"],
                                      init=init, early_stopping=chosen["patience"],
                                      changes=chosen["changes"])
    else:
        recommended = setup.recommend_as_given()
    report = DoctorReport(steps, recommended, out, time.perf_counter() - start,
                          setup.describe())
    if out is not None:
        report.write(out)
    return report


def _check_budgets(**budgets):
    for name, value in budgets.items():
        least = 3 if name == "lr_steps" else 2 if name == "small_sample" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {name}={value!r}")


# -- steps 3 to 5 ------------------------------------------------------------------------------

def _step3(setup, seed, init, lr_steps, out):
    step = StepResult(3, "Find a learning rate that makes the loss go down",
                      f"A learning-rate range test on all the training data: {lr_steps} "
                      "mini-batches with the rate growing from 1e-6 to 1, small weight decay "
                      "on (L2 1e-5); suggested: where the smoothed loss falls fastest.")
    model = setup.make(lr=setup.lr, l2=1e-5, seed=seed, init=init)
    try:
        res = lr_range_test(model, setup.train_X, setup.train_y, steps=lr_steps,
                            batch_size=setup.batch_size, seed=seed)
    except ValueError as err:
        step.ok, step.verdict = False, f"the sweep failed: {err}; keeping lr {setup.lr:g}"
        return step, setup.lr
    step.numbers = {"suggested": res.suggestion, "steepest descent at": res.steepest,
                    "lowest loss at": res.lr_at_min, f"yours ({setup.optimizer})": setup.lr}
    step.details += res.notes
    if out is not None:
        res.plot(os.path.join(out, "lr_finder.png"),
                 title=f"Learning-rate range test ({setup.optimizer})")
        step.plots.append("lr_finder.png")
    if not res.descended:
        step.ok = False
        step.verdict = (f"no learning rate made the loss go down; steps 4-5 search around "
                        f"your {setup.lr:g}")
        return step, setup.lr
    step.ok = True
    step.verdict = res.describe()
    ratio = setup.lr / res.suggestion
    if ratio > 30 or ratio < 1 / 30:
        word = "above" if ratio > 1 else "below"
        step.details.append(f"Your learning rate {setup.lr:g} is {max(ratio, 1 / ratio):.0f}x "
                            f"{word} the suggestion.")
    return step, res.suggestion


def _settings(lr, l2, epochs, changes=None, patience=0):
    return {"lr": lr, "l2": l2, "epochs": epochs, "changes": dict(changes or {}),
            "patience": patience}


def _trial(setup, seed, init, settings):
    """Train one setting (a dict from `_settings`) from scratch; its validation result."""
    model = setup.make(lr=settings["lr"], l2=settings["l2"], seed=seed, init=init,
                       changes=settings["changes"])
    return {"lr": settings["lr"], "l2": settings["l2"],
            **_fit(setup, model, settings["epochs"], settings["patience"], seed)}


def _fit(setup, model, epochs, patience, seed):
    callbacks = [EarlyStopping("val_loss", patience=patience, restore_best=True)] \
        if patience else []
    try:
        history = model.fit(setup.train_X, setup.train_y, batch_size=setup.batch_size,
                            epochs=epochs, validation_data=(setup.val_X, setup.val_y),
                            callbacks=callbacks, verbose=0, seed=seed)
    except TrainingDiverged:
        return {"score": -math.inf, "val_loss": math.inf, "diverged": True, "model": model,
                "history": model.history, "epochs_run": len(model.history.epoch)
                if model.history is not None else 0}
    val = model.evaluate_logs(setup.val_X, setup.val_y)
    score = setup.score(val)
    return {"score": score if math.isfinite(score) else -math.inf, "val_loss": val["loss"],
            "diverged": False, "model": model, "history": history,
            "epochs_run": len(history.epoch)}


def _log_uniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _search_table(trials, setup):
    rows = ["| # | learning rate | L2 | validation " + setup.score_name + " | validation loss |",
            "|---|---|---|---|---|"]
    for i, t in enumerate(trials):
        score = "diverged" if t["diverged"] else setup.format_score(t["score"])
        rows.append(f"| {i + 1} | {t['lr']:.3g} | {t['l2']:.2g} | {score} | "
                    f"{t['val_loss']:.4g} |")
    return "\n".join(rows)


def _best(trials):
    return max(trials, key=lambda t: (t["score"], -t["val_loss"]))


def _step4(setup, seed, init, rng, lr, span, l2_grid, n, epochs):
    grid = ", ".join(f"{v:g}" for v in l2_grid)
    step = StepResult(4, "Coarse search, a few epochs each",
                      f"{n} random settings, {epochs} epochs each: learning rate log-uniform in "
                      f"[{lr / span:.2g}, {lr * span:.2g}] (around step 3), L2 weight decay "
                      f"from {{{grid}}} in turn (the notes' grid).")
    # Every grid value gets its turn (in a random order), so that a few trials cover them all.
    l2s = [l2_grid[i % len(l2_grid)] for i in rng.permutation(max(n, 1))]
    trials = [_trial(setup, seed, init,
                     _settings(_log_uniform(rng, lr / span, lr * span), l2, epochs))
              for l2 in l2s]
    best = _best(trials)
    step.table = _search_table(trials, setup)
    step.numbers = {"best learning rate": best["lr"], "best L2": best["l2"],
                    f"best validation {setup.score_name}": setup.format_score(best["score"])}
    step.ok = not best["diverged"]
    step.verdict = (f"best: lr {best['lr']:.3g}, L2 {best['l2']:.2g} "
                    f"(validation {setup.score_name} {setup.format_score(best['score'])})"
                    if step.ok else "every trial diverged: lower the learning rates searched")
    diverged = sum(t["diverged"] for t in trials)
    if diverged and step.ok:
        step.details.append(f"{diverged} of {len(trials)} trials diverged (their learning rate "
                            "was too high).")
    return step, trials


def _near_l2(rng, l2, grid):
    """An L2 factor near `l2`: within 3.2x; near 0, either 0 or up to the grid's smallest."""
    if l2 > 0:
        return _log_uniform(rng, l2 / math.sqrt(10), l2 * math.sqrt(10))
    smallest = min((v for v in grid if v > 0), default=1e-5)
    return 0.0 if rng.random() < 0.5 else _log_uniform(rng, smallest / 10, smallest)


def _step5(setup, seed, init, rng, coarse, span, l2_grid, n, epochs):
    top = _best(coarse)
    f = math.sqrt(span)
    step = StepResult(5, "Finer search around the best, longer",
                      f"The best coarse setting and {max(n - 1, 0)} new ones near it (learning "
                      f"rate within {f:.2g}x, L2 within 3.2x, or near 0), {epochs} epochs "
                      "each, no learning-rate decay.")
    trials = [_trial(setup, seed, init, _settings(top["lr"], top["l2"], epochs))]
    trials += [_trial(setup, seed, init,
                      _settings(_log_uniform(rng, top["lr"] / f, top["lr"] * f),
                                _near_l2(rng, top["l2"], l2_grid), epochs))
               for _ in range(max(n - 1, 0))]
    best = _best(trials)
    step.table = _search_table(trials, setup)
    step.numbers = {"best learning rate": best["lr"], "best L2": best["l2"],
                    f"best validation {setup.score_name}": setup.format_score(best["score"])}
    step.ok = not best["diverged"]
    step.verdict = (f"best: lr {best['lr']:.3g}, L2 {best['l2']:.2g} (validation "
                    f"{setup.score_name} {setup.format_score(best['score'])} after {epochs} "
                    "epochs)") if step.ok else "every trial diverged"
    return step, best, trials


# -- steps 6 and 7 -----------------------------------------------------------------------------

def _step6(setup, seed, init, best, epochs, out):
    step = StepResult(6, "Look at the learning curves",
                      f"The best setting trained for {epochs} epochs: the loss of every "
                      "mini-batch (points and moving average) and, per epoch, training and "
                      "validation loss and " + setup.score_name + ".")
    final = _trial(setup, seed, init, _settings(best["lr"], best["l2"], epochs))
    history = final["history"]
    patience = 0
    if final["diverged"] or history is None or "val_loss" not in history:
        step.ok, step.verdict = False, "the final run diverged; no curves to read"
        return step, final, patience
    val = np.asarray(history["val_loss"], dtype=np.float64)
    train = np.asarray(history["loss"], dtype=np.float64)
    best_epoch = int(np.argmin(val))
    step.numbers = {"epochs": len(val), "final training loss": float(train[-1]),
                    "final validation loss": float(val[-1]),
                    "lowest validation loss": float(val[best_epoch]),
                    "at epoch": best_epoch + 1}
    rising = val[-1] > 1.1 * val[best_epoch] and best_epoch < len(val) - 2
    if rising:
        patience = max(3, epochs // 5)
        step.verdict = (f"the validation loss was lowest at epoch {best_epoch + 1} "
                        f"({val[best_epoch]:.3g}) and rose to {val[-1]:.3g} while the training "
                        "loss kept falling: overfitting sets in; the recommended config stops "
                        f"early (patience {patience} epochs) and keeps the best epoch")
    elif train[-1] < train[0]:
        step.verdict = (f"both losses fall: training {train[0]:.3g} to {train[-1]:.3g}, "
                        f"validation {val[0]:.3g} to {val[-1]:.3g}")
    else:
        step.verdict = "the training loss did not fall over the run"
    step.ok = train[-1] < train[0]
    if out is not None:
        plots.learning_curves(history, os.path.join(out, "learning_curves.png"),
                              metric=setup.metric_name,
                              title=f"Learning curves: lr {best['lr']:.3g}, L2 {best['l2']:.2g}")
        step.plots.append("learning_curves.png")
    return step, final, patience


def _step7(setup, final, bias_tol, variance_tol):
    step = StepResult(7, "Bias or variance?",
                      "Training against validation error of the final model (dropout off): a "
                      "high training error is bias (underfitting), a validation error well "
                      "above it is variance (overfitting).")
    if final["diverged"]:
        step.ok, step.verdict = False, "no trained model to judge (the final run diverged)"
        return step, None
    train_err, val_err, kind = recipe.diagnose(setup, final["model"], bias_tol, variance_tol)
    gap = val_err - train_err
    fmt = (lambda v: f"{v:.2%}") if setup.error_is_fraction else (lambda v: f"{v:.4f}")
    name = "error" if setup.error_is_fraction else "error (1 - R²)"
    step.numbers = {f"training {name}": fmt(train_err), f"validation {name}": fmt(val_err),
                    "gap": fmt(gap)}
    bias, variance = train_err > bias_tol, gap > variance_tol
    words = f"training error {train_err:.1%}, validation error {val_err:.1%}" \
        if setup.error_is_fraction else f"training error {train_err:.3g}, validation {val_err:.3g}"
    bias_advice = ("high bias (the network does not fit even the training data): use a "
                   "bigger network (more units or layers), train longer, or regularize less")
    variance_advice = ("high variance (it fits the training data much better than new data): "
                       "get more data, regularize more (a larger L2, dropout), or stop early "
                       "(--early-stopping)")
    if bias and variance:
        step.verdict = f"{words}: {bias_advice}; and {variance_advice}"
    elif bias:
        step.verdict = f"{words}: {bias_advice}"
    elif variance:
        step.verdict = f"{words}: {variance_advice}"
    else:
        step.verdict = f"{words}: low bias and low variance, both errors small and close: done"
    if kind is not None:
        step.verdict += "; the notes: go back to step 5 with the remedy"
    step.ok = not (bias or variance)
    return step, kind


__all__ = ["DoctorReport", "StepResult", "doctor"]
