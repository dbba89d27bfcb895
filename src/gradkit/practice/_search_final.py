"""The end of a search: its finalists ranked by cross-validation, the final model, one test.

One validation split of a few hundred samples cannot rank hundreds of trials: the best of them
is partly the luckiest. So the `finalists` best trials are cross-validated on the training
split (`folds` folds, stratified for classes), ranked by their mean fold score, and reported
with a 95% confidence interval (Student's t over the folds).

The winner then becomes the final model, one of two ways, decided by measurement on the
validation split (which no fold model saw): the ensemble of its fold models, or one model
trained on the whole training split (with another seed than its trial, whose score on that
split helped select it). If the single model measures at least as well, it is retrained on
training and validation data together for the trial's number of epochs (the notes' "train on
all the data"); else the fold models are the final model. Either is evaluated on the test set
(the test file, or the test split) once, at the very end.

Each training is `fold_task`, a pure function of its arguments like `_trial.run_trial`, run on
the search's executor; it keeps its model and result in `cv/NNNN/<fold>/`, so a search run
again reads them back instead of training again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil

import numpy as np

from gradkit import _atomic
from gradkit import io as gio
from gradkit._threads import blas_limit
from gradkit.errors import GradkitError
from gradkit.practice.run import (RunConfig, build_model, load_data, loss_and_metrics,
                                  make_optimizer, split_data, train_run)

CV_DIR, FINAL_DIR = "cv", "final"


def fold_task(config, *, fold, folds, metric, folder, blas_threads=None):
    """Train `config` on the training split less fold `fold` (or, with fold "all", on all of it
    and a seed one higher); score it on that fold; its outputs on the validation split."""
    done = _read(folder)
    if done is not None and done.get("config") == config:
        return done
    cfg = RunConfig.from_dict(dict(config), source="finalist config")
    try:
        with blas_limit(blas_threads), np.errstate(over="ignore", invalid="ignore",
                                                   divide="ignore"):
            ds = load_data(cfg)
            train, val = splits(cfg, ds)          # the trials' split: before the seed changes
            if fold == "all":
                cfg.seed += 1
                fit_on, score_on = train, None
            else:
                held = fold_indices(train, folds, cfg.seed)[fold]
                rest = np.setdiff1d(np.arange(len(train)), held)
                fit_on, score_on = train.subset(rest), train.subset(held)
            model = _fit(cfg, fit_on, ds)
            result = {"state": "COMPLETE", "fold": fold, "val_outputs": outputs(model, val.X)}
            if score_on is not None:
                scored = score(metric, ds.task, outputs(model, score_on.X), score_on.y)
                result.update(value=scored, n=len(score_on))
    except GradkitError as err:
        result = {"state": "FAIL", "fold": fold, "reason": f"{type(err).__name__}: {err}"}
    result["config"] = json.loads(json.dumps(config))
    os.makedirs(folder, exist_ok=True)
    if result["state"] == "COMPLETE":
        gio.save(model, os.path.join(folder, "model.safetensors"),
                 extra={"run": result["config"], "data_schema": ds.schema(), "task": ds.task})
    _atomic.atomic_write_text(os.path.join(folder, "result.json"), json.dumps(result) + "\n")
    return result


def splits(cfg, ds):
    """(train, validation) as every trial of the search split them."""
    train, val, _ = split_data(cfg, ds)
    return train, val


def fold_indices(train, folds, seed):
    """`folds` disjoint index arrays covering the training split; each class spread evenly."""
    rng = np.random.default_rng([seed, folds, 21])
    order = rng.permutation(len(train))
    if train.task == "classification":
        # Sorting the shuffled indices by class, then dealing them out in turn, gives every
        # fold each class's share (to within one sample).
        order = order[np.argsort(train.y[order], kind="stable")]
    return [np.sort(order[i::folds]) for i in range(folds)]


def _fit(cfg, data, ds):
    model = build_model(cfg, data, np.random.default_rng(cfg.seed))
    loss, metrics = loss_and_metrics(ds.task)
    model.compile(optimizer=make_optimizer(cfg, -(-len(data) // cfg.batch_size)), loss=loss,
                  metrics=metrics)
    model.class_names, model.feature_names = ds.class_names, ds.feature_names
    model.fit(data.X, data.y, batch_size=cfg.batch_size, epochs=cfg.epochs, seed=cfg.seed,
              verbose=0)
    return model


def outputs(model, X):
    """Probabilities for classifiers, values for regression: what an ensemble averages."""
    kind = getattr(model.loss, "output", None)
    out = model.predict_proba(X) if kind in ("softmax", "sigmoid") else model.predict(X)
    return np.asarray(out, dtype=np.float64).tolist()


def score(metric, task, out, y):
    """`metric` ("val_accuracy", "val_loss", ...) of averaged outputs `out` against `y`."""
    out, name = np.asarray(out, dtype=np.float64), metric.removeprefix("val_")
    y = np.asarray(y)
    if task == "classification":
        if name == "accuracy":
            return float(np.mean(np.argmax(out, axis=-1) == y))
        return float(-np.mean(np.log(np.clip(out[np.arange(len(y)), y], 1e-12, 1.0))))
    if task == "multilabel":
        if name == "binary_accuracy":
            return float(np.mean((out > 0.5) == (y > 0.5)))
        p = np.clip(out, 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    err = out.reshape(len(y), -1) - y.reshape(len(y), -1).astype(np.float64)
    if name == "mae":
        return float(np.mean(np.abs(err)))
    if name == "r2":
        total = np.sum((y.reshape(len(y), -1) - y.reshape(len(y), -1).mean(axis=0)) ** 2)
        return float(1 - np.sum(err ** 2) / max(total, 1e-12))
    return float(np.mean(err ** 2))


def t_interval(values, level=0.95):
    """(mean, half-width) of Student's t confidence interval of the mean of `values`."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), math.inf
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / \
        math.sqrt(len(values))
    return float(values.mean()), float(half)


def finalist_config(row):
    """A finalist's config for its folds: its trial's config, trained for the epochs its trial
    settled on (with early stopping: up to its best epoch), without early stopping."""
    config = dict(row["config"])
    if config.get("early_stopping") and row.get("best_epoch"):
        config["epochs"] = int(row["best_epoch"])
    config["early_stopping"] = 0
    return config


def finalize(rows, *, out, metric, direction, run_on, threads, finalists, folds, test_data,
             verbose=0):
    """Cross-validate the finalists, choose and build the final model; the summary dict."""
    done = [r for r in rows if r["state"] == "COMPLETE"][:finalists]
    if not done:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    tasks = {}
    for row in done:
        config = finalist_config(row)
        base = os.path.join(out, CV_DIR, f"{row['number']:04d}")
        for fold in [*range(folds), "all"]:
            tasks[(row["number"], fold)] = run_on().submit(
                fold_task, config, fold=fold, folds=folds, metric=metric,
                folder=os.path.join(base, str(fold)), blas_threads=threads)
    results = {key: future.result() for key, future in tasks.items()}
    table = []
    for row in done:
        res = [results[(row["number"], f)] for f in range(folds)]
        ok = all(r["state"] == "COMPLETE" for r in res)
        values = [r["value"] for r in res] if ok else []
        mean, half = t_interval(values) if ok else (None, None)
        table.append({"number": row["number"], "value": row["value"], "cv_mean": mean,
                      "cv_half_width": half, "folds": values, "params": row["params"],
                      "config": finalist_config(row)})
        if verbose and ok:
            print(f"finalist {row['number']:>4}: {folds}-fold {metric} {mean:.4f} "
                  f"± {half:.4f} (validation split {row['value']:.4f})", flush=True)
    ranked = sorted((t for t in table if t["cv_mean"] is not None),
                    key=lambda t: -sign * t["cv_mean"])
    if not ranked:
        return {"finalists": table, "chosen": None}
    chosen = ranked[0]
    return {"finalists": table, "chosen": chosen,
            **_build_final(chosen, results, out=out, metric=metric, sign=sign, folds=folds,
                           test_data=test_data)}


def _build_final(chosen, results, *, out, metric, sign, folds, test_data):
    """Single retrain or ensemble of the fold models, measured on the validation split; the
    chosen one trained (or gathered) in `out/final` and evaluated on the test set once."""
    cfg = RunConfig.from_dict(chosen["config"])
    ds = load_data(cfg)
    _, val = splits(cfg, ds)
    number = chosen["number"]
    fold_out = [results[(number, f)]["val_outputs"] for f in range(folds)]
    ensemble_val = score(metric, ds.task, np.mean(fold_out, axis=0), val.y)
    single = results[(number, "all")]
    single_val = score(metric, ds.task, single["val_outputs"], val.y) \
        if single["state"] == "COMPLETE" else -sign * math.inf
    use_ensemble = sign * ensemble_val > sign * single_val
    final_dir = os.path.join(out, FINAL_DIR)
    final_cfg = dataclasses.replace(cfg, val=0.0, test_data=test_data,
                                    test=0.0 if test_data else cfg.test)
    if not use_ensemble:
        # Training and validation data together, for the chosen number of epochs.
        metrics = train_run(final_cfg, final_dir, verbose=0).metrics
    else:
        metrics = _ensemble_final(final_cfg, ds, number, folds, out, final_dir)
    return {"ensemble_val": ensemble_val, "single_val": single_val,
            "final": "ensemble" if use_ensemble else "retrain", "test": metrics,
            "final_config": final_cfg.to_dict()}


def _ensemble_final(final_cfg, ds, number, folds, out, final_dir):
    """The fold models as the final model: copied to `final_dir`, evaluated on the test set."""
    os.makedirs(final_dir, exist_ok=True)
    _, _, test = split_data(final_cfg, ds)
    members, out_sum = [], None
    for fold in range(folds):
        src = os.path.join(out, CV_DIR, f"{number:04d}", str(fold), "model.safetensors")
        name = f"member_{fold}.safetensors"
        shutil.copyfile(src, os.path.join(final_dir, name + ".tmp"))
        os.replace(os.path.join(final_dir, name + ".tmp"), os.path.join(final_dir, name))
        members.append(name)
        if len(test):
            o = np.asarray(outputs(gio.load(src), test.X))
            out_sum = o if out_sum is None else out_sum + o
    metrics = {"test_samples": len(test), "members": members}
    if len(test):
        mean = out_sum / folds
        for name in ["loss", *loss_and_metrics(ds.task)[1]]:
            metrics["test_" + name] = score("val_" + name, ds.task, mean, test.y)
    _atomic.atomic_write_text(os.path.join(final_dir, "metrics.json"),
                             json.dumps(metrics, indent=2) + "\n")
    _atomic.atomic_write_text(os.path.join(final_dir, "ensemble.json"),
                             json.dumps({"members": members, "run": final_cfg.to_dict()},
                                        indent=2) + "\n")
    return metrics


def write_report(result):
    """`report.md` in the search folder: trials, widened ranges, finalists, the final model;
    and best.json updated to the cross-validated winner."""
    lines = [f"# gradkit search: {len(result.rows)} trials, {result.metric} "
             f"({result.direction}d)", ""]
    if result.widened:
        lines += ["## Ranges widened", "",
                  "The best trials sat on an edge of these ranges, so later trials drew from "
                  "wider ones:", ""]
        lines += [f"- after {w['after_trials']} trials: {w['name']} {w['old'][0]:g} to "
                  f"{w['old'][1]:g} -> {w['new'][0]:g} to {w['new'][1]:g} ({w['side']} edge)"
                  for w in result.widened]
        lines.append("")
    final = result.final
    if final is None:
        lines.append("No finalists were cross-validated (finalists=0).")
    else:
        k = max((len(t["folds"]) for t in final["finalists"]), default=0)
        lines += ["## Finalists, ranked by cross-validation", "",
                  f"The {len(final['finalists'])} best trials on the validation split, each "
                  f"trained again on {k} folds of the training split; the interval is 95% "
                  "(Student's t over the folds).", "",
                  f"| trial | validation split | {k}-fold mean | 95% interval | folds |",
                  "|---|---|---|---|---|"]
        for t in final["finalists"]:
            cv = "failed" if t["cv_mean"] is None else f"{t['cv_mean']:.4f}"
            lo, hi = (t["cv_mean"] - t["cv_half_width"], t["cv_mean"] + t["cv_half_width"]) \
                if t["cv_mean"] is not None else (None, None)
            ci = "-" if lo is None else f"{lo:.4f} to {hi:.4f}"
            folds = ", ".join(f"{v:.3f}" for v in t["folds"])
            lines.append(f"| {t['number']} | {t['value']:.4f} | {cv} | {ci} | {folds} |")
        chosen = final["chosen"]
        if chosen is not None:
            how = ("the ensemble of its fold models" if final["final"] == "ensemble" else
                   "one model retrained on training and validation data for "
                   f"{final['final_config']['epochs']} epochs")
            lines += ["", "## The final model", "",
                      f"Trial {chosen['number']} has the best cross-validated score. On the "
                      f"validation split, which no fold model saw, its {k} fold models as an "
                      f"ensemble score {final['ensemble_val']:.4f} and one model trained on the "
                      f"whole training split (another seed) {final['single_val']:.4f}: the "
                      f"final model is {how} (`{FINAL_DIR}/`).", ""]
            tests = {key: v for key, v in final["test"].items()
                     if key.startswith("test_") and key != "test_samples"}
            if tests:
                lines += [f"On the test set ({final['test']['test_samples']} samples, evaluated "
                          "once, here): " + ", ".join(f"{key[5:]} {v:.4f}"
                                                      for key, v in tests.items()) + "."]
            else:
                lines.append("There is no test set (test 0 and no test file).")
            best = {"run": final["final_config"],
                    "search": {"trial": chosen["number"], "metric": result.metric,
                               "cv_mean": chosen["cv_mean"],
                               "cv_95_half_width": chosen["cv_half_width"],
                               "final": final["final"],
                               "folder": os.path.join("trials", f"{chosen['number']:04d}")}}
            _atomic.atomic_write_text(os.path.join(result.out, "best.json"),
                                     json.dumps(best, indent=2) + "\n")
    _atomic.atomic_write_text(os.path.join(result.out, "report.md"),
                             "\n".join(lines).rstrip() + "\n")


def _read(folder):
    try:
        with open(os.path.join(folder, "result.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
