"""The commands of the practitioner's recipe: search and doctor."""

from __future__ import annotations

import copy
import os
import sys

import click

from gradkit.cli._app import EXIT_DIVERGED, cli, handle_errors, refuse_output_is_input
from gradkit.cli._run import _run_name, config_from_flags, train

# The files search and doctor write at the top of their --out folder.
_SEARCH_FILES = ("study.journal", "best.json", "report.md", "search.png")
_DOCTOR_FILES = ("doctor.md", "recommended.json", "search.png", "lr_finder.png",
                 "learning_curves.png", "layer_stats.png", "overfit.png")

@cli.command("search")
@click.argument("data")
@click.option("--trials", type=click.IntRange(min=1), required=True,
              help="Trials the search should hold; run again with the same --out and a larger "
              "number to add more (finished trials are kept, interrupted ones run again).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Trials at once, on local processes.  [default: 1, in this process]")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run the trials on a Dask cluster instead; its workers need gradkit "
              "installed and --out on a file system they share.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "coarse-to-fine"]), default="tpe",
              show_default=True, help="How trials pick values: TPE, uniform random, or random "
              "then random within ranges narrowed around the best trials.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False),
              help='JSON file updating the space, e.g. {"lr": {"low": 1e-4, "high": 1e-2, '
              '"log": true}, "activation": {"choices": ["relu", "tanh"]}, "dropout": null}.  '
              "[default: width, depth, activation, lr, l2, dropout, batch_size]")
@click.option("--metric", help="Validation metric to optimize.  "
              "[default: val_accuracy; val_loss for regression]")
@click.option("--target", help="Target column of a CSV/Parquet file; default: the last column.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Train every trial this many epochs.  [default: at most 100, ended by "
              "early stopping (patience 10) and scored at the best epoch]")
@click.option("--optimizer", help="Optimizer of every trial.  [default: adam]")
@click.option("--val", type=float, help="Validation fraction (scores the trials).  [default: 0.1]")
@click.option("--test", type=float, help="Test fraction (0: none).  [default: 0.2]")
@click.option("--test-data", type=click.Path(dir_okay=False), metavar="FILE",
              help="A separate labelled test file: trials train on all of DATA (less --val); "
              "only the final model is evaluated on it, once.")
@click.option("--finalists", type=click.IntRange(min=0), default=5, show_default=True,
              help="Best trials cross-validated at the end to choose the final model "
              "(0: none).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds of that cross-validation.")
@click.option("--widen/--no-widen", default=True, show_default=True,
              help="Widen a range when the best trials sit on its edge.")
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Stop a trial whose validation score, from its 10th epoch on, is below the "
              "median earlier trials had at that epoch.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, of every trial's training, and of the sampler.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Search folder; the same one resumes.  [default: runs/search-<data name>]")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Rows of the ranked table.")
@click.option("--quiet", is_flag=True, help="No line per trial, only the table.")
@handle_errors
def search_cmd(data, trials, workers, scheduler, sampler, space_file, metric, target, epochs,
               optimizer, val, test, test_data, finalists, folds, widen, prune, seed, out, top,
               quiet):
    """Search hyper-parameters for DATA: TRIALS training runs, ranked on the validation split.

    Writes to --out: study.journal (the study; rerun the same command to resume it),
    trials/NNNN (one run folder per trial), search.png (the score against each parameter),
    and at the end: the --finalists best trials cross-validated (cv/), the final model
    (final/: the winner retrained on training + validation data, or the ensemble of its fold
    models, whichever measures better on the validation split), evaluated once on the test
    set, report.md, and best.json (the winner's config: `gradkit train --config best.json`).
    """
    from gradkit.practice._search_checks import check_scheduler
    from gradkit.practice.run import read_json
    from gradkit.practice.search import search as run_search

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (local processes) or --scheduler (Dask), not both")
    check_scheduler(scheduler, name="--scheduler")
    space = None
    if space_file:
        space = read_json(space_file, "search space")
    base = {k: v for k, v in {"target": target, "epochs": epochs, "optimizer": optimizer,
                              "val": val, "test": test}.items() if v is not None}
    if test_data is not None and test is None:
        base["test"] = 0.0            # the test file replaces the test split
    out = out or os.path.join("runs", "search-" + _run_name(data))
    refuse_output_is_input([os.path.join(out, name) for name in _SEARCH_FILES], "--out",
                           [("DATA", data), ("--space", space_file), ("--test-data", test_data)])
    where = f"Dask scheduler {scheduler}" if scheduler else \
        f"{workers} local processes" if workers and workers > 1 else "this process"
    click.echo(f"gradkit search {data}: {trials} trials, {sampler} sampler, on {where} -> {out}")
    try:
        result = run_search(data, trials=trials, storage_dir=out, space=space, sampler=sampler,
                            workers=workers, scheduler=scheduler, base=base, metric=metric,
                            seed=seed, verbose=0 if quiet else 1, test_data=test_data,
                            finalists=finalists, folds=folds, widen=widen, prune=prune)
    except KeyboardInterrupt:
        click.echo(f"interrupted; run the same command again to resume the search in {out}",
                   err=True)
        sys.exit(130)
    result.print_table(top=top)
    if result.best is None:
        reasons = [r.get("reason") or "" for r in result.rows]
        click.echo(f"error: none of the {len(result.rows)} trials completed; see the reasons "
                   "above", err=True)
        sys.exit(EXIT_DIVERGED if all(r.startswith("TrainingDiverged") for r in reasons) else 1)
    best = result.best
    click.echo(f"best: trial {best['number']}, {result.metric} {best['value']:.4f} "
               f"({result.n_run} trials run now, {len(result.rows)} in the study)")
    for w in result.widened:
        click.echo(f"widened {w['name']} at its {w['side']} edge after {w['after_trials']} "
                   f"trials: {w['old'][0]:g}-{w['old'][1]:g} -> {w['new'][0]:g}-{w['new'][1]:g}")
    final = result.final
    if final is not None and final["chosen"] is not None:
        c = final["chosen"]
        how = "the ensemble of its fold models" if final["final"] == "ensemble" else \
            "retrained on training + validation data"
        click.echo(f"cross-validated: trial {c['number']}, {result.metric} {c['cv_mean']:.4f} "
                   f"± {c['cv_half_width']:.4f} (95%); final model: {how} (validation: "
                   f"ensemble {final['ensemble_val']:.4f}, single {final['single_val']:.4f})")
        tests = [f"{k} {v:.4f}" for k, v in final["test"].items()
                 if k.startswith("test_") and k != "test_samples"]
        click.echo(f"final model in {os.path.join(out, 'final')}: "
                   + (", ".join(tests) if tests else "no test set"))
        click.echo(f"wrote {os.path.join(out, 'report.md')}, "
                   f"{os.path.join(out, 'best.json')} and {os.path.join(out, 'search.png')}")
    else:
        click.echo(f"wrote {os.path.join(out, 'best.json')} and "
                   f"{os.path.join(out, 'search.png')}")
        click.echo(f"train it longer: gradkit train --config {os.path.join(out, 'best.json')} "
                   "--epochs 30")


@cli.command("doctor")
@click.argument("data", required=False)
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True,
              help="Epochs of step 6's final run and of the recommended config.")
@click.option("--trials", type=click.IntRange(min=1), default=6, show_default=True,
              help="Settings tried in step 4's coarse search.")
@click.option("--trial-epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs of each coarse trial (the notes: 1-5).")
@click.option("--fine-trials", type=click.IntRange(min=1), default=3, show_default=True,
              help="Settings tried in step 5's finer search (the best coarse one included).")
@click.option("--fine-epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Epochs of each fine trial (the notes: 10-20).")
@click.option("--passes", type=click.IntRange(min=0), default=2, show_default=True,
              help="Times step 7 may send the doctor back to step 5 with a remedy.")
@click.option("--check-folds", type=click.IntRange(min=0), default=3, show_default=True,
              help="Folds of step 8's cross-validation of the advice against your "
              "configuration (0: the validation split alone decides).")
@click.option("--small-sample", type=click.IntRange(min=2), default=160, show_default=True,
              help="Samples step 2 tries to overfit.")
@click.option("--overfit-steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Step 2's budget of training steps.")
@click.option("--lr-steps", type=click.IntRange(min=3), default=100, show_default=True,
              help="Steps of step 3's learning-rate sweep.")
@click.option("--sample-rows", type=click.IntRange(min=2), default=100_000, show_default=True,
              help="Training rows examined of a streamed data set (a folder or glob): a "
              "uniform sample of its training split, validation rows in proportion.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Report folder.  [default: runs/doctor-<data name>]")
@click.option("--quiet", is_flag=True, help="No line per step, only where the report is.")
@handle_errors
def doctor_cmd(data, epochs, trials, trial_epochs, fine_trials, fine_epochs, passes,
               check_folds, small_sample, overfit_steps, lr_steps, sample_rows, out, quiet,
               config_file=None, **flags):
    """Run the lecture notes' 7-step recipe on DATA with the model the flags describe.

    0 your configuration as a baseline, 1 initial loss, 2 overfit a small sample,
    3 learning-rate range test, 4 coarse and 5 fine random search over learning rate and L2,
    6 learning curves, 7 bias or variance (and back to 5 with its remedy, --passes times at
    most), 8 the advice against the baseline: recommended only if it beats it. Takes the
    model flags of `gradkit train`. Writes to --out: doctor.md (each step: what was checked,
    the numbers, the verdict, the plots), its PNGs, and recommended.json (train it with
    `gradkit train --config recommended.json`).
    """
    from gradkit.practice.doctor import doctor

    config = config_from_flags(config_file, data, flags)
    config.validate()
    out = out or os.path.join("runs", "doctor-" + _run_name(config.data))
    refuse_output_is_input([os.path.join(out, name) for name in _DOCTOR_FILES], "--out",
                           [("DATA", config.data), ("--config", config_file)])
    click.echo(f"gradkit doctor {config.data} -> {out}")
    report = doctor(config, out=out, small_sample=small_sample, overfit_steps=overfit_steps,
                    lr_steps=lr_steps, coarse_trials=trials, coarse_epochs=trial_epochs,
                    fine_trials=fine_trials, fine_epochs=fine_epochs, curve_epochs=epochs,
                    max_passes=passes, check_folds=check_folds, seed=config.seed,
                    echo=None if quiet else click.echo, sample_rows=sample_rows)
    problems = len(report.problems)
    click.echo(f"{len(report.steps) - problems} of {len(report.steps)} steps fine, {problems} "
               "with a problem "
               f"({report.seconds:.1f} s); report: {os.path.join(out, 'doctor.md')}")
    if report.recommended is not None:
        path = os.path.join(out, "recommended.json")
        click.echo(f"recommended config: {path} (gradkit train --config {path})")


# The model flags of `train`, shared so the two commands cannot drift apart.
_DOCTOR_FLAGS = ("target", "hidden", "activation", "init", "optimizer", "lr", "batch_size",
                 "dropout", "batch_norm", "l1", "l2", "normalize", "pca_components", "val",
                 "test", "test_data", "seed", "config_file", "stream", "shuffle_buffer")
doctor_cmd.params[1:1] = [copy.copy(p) for p in train.params if p.name in _DOCTOR_FLAGS]
