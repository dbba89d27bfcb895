"""Hyper-parameter search: Optuna's ask/tell over the notes' search space, trials on processes
or a Dask cluster, the study kept on disk so that an interrupted search resumes.

    result = gk.practice.search("iris", trials=40, storage_dir="runs/search-iris", workers=4)
    result.print_table(); result.best_config      # also runs/search-iris/best.json

The storage folder holds `study.journal` (Optuna's journal storage: every ask and tell, so a
search started again with the same folder runs only what is missing), `trials/NNNN/` (one run
folder per trial), `best.json` (the best trial's config, for `gradkit train --config`) and
`search.png` (the score against each hyper-parameter).

Only this process asks and tells; workers run `_trial.run_trial`, a pure function of the
trial's config, so a trial run twice (a Dask worker died, a search resumed) gives the same
result, and a second result for a trial already told is ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
from dataclasses import dataclass, field

from gradkit import _atomic
from gradkit.data.stream import is_stream_source
from gradkit.errors import ConfigError
from gradkit.practice import _executors as executors
from gradkit.practice import _search_final as F
from gradkit.practice import _search_report as R
from gradkit.practice._search_report import print_table
from gradkit.practice._stream_run import (check_stream, open_stream, share_statistics,
                                          statistics_file, wants_stream)
from gradkit.practice.run import RunConfig, check_memory, load_and_split_data

SAMPLERS = ("random", "tpe", "coarse-to-fine")
STUDY_NAME = "gradkit-search"
JOURNAL_FILE = "study.journal"
_MINIMIZED = ("loss", "mae", "mse")


@dataclass
class SearchResult:
    """What a search found: every trial of the study, ranked best first."""

    out: str
    metric: str
    direction: str
    rows: list = field(repr=False)      # one dict per trial: number, state, value, params, ...
    best: dict | None                   # the best COMPLETE row, or None if none completed
    n_run: int                          # trials this call ran (a resumed search: the missing)
    study: object = field(repr=False)   # the optuna.Study
    final: dict | None = None           # finalists' cross-validation, the final model, its test
    widened: list = field(default_factory=list)     # ranges widened where the best trials sat

    @property
    def best_config(self):
        """The best trial's RunConfig (None if no trial completed)."""
        return None if self.best is None else RunConfig.from_dict(self.best["config"])

    def print_table(self, *, top=20, file=None):
        """Print the ranked trials (best first, failed ones last) as a table."""
        print_table(self, top=top, file=file)


def search(data, *, trials, storage_dir, space=None, sampler="tpe", executor=None, workers=None,
           scheduler=None, base=None, metric=None, seed=0, verbose=0, test_data=None,
           finalists=5, folds=5, widen=True, prune=True):
    """Search hyper-parameters of a network trained on `data`; return a `SearchResult`.

    Each trial trains one `RunConfig` (base settings, sampled values on top) and is scored on
    the validation split, the same split for every trial; the test split is never used to rank.
    Trial 0 is the base configuration itself (its values of the searched parameters), so the
    ranking always holds what `gradkit train` would run. Unless `base` or `space` name `epochs`
    or `early_stopping`, each trial trains at most 100 epochs with early stopping (patience 10)
    and is scored at its best epoch (`_search_space.TRIAL_BUDGET`).

    Args:
        data: a data file or built-in data set name, as for `gradkit train`.
        trials: how many trials the study should hold; a study in `storage_dir` that already has
            some runs only the rest (a trial a crash interrupted is recorded as failed and run
            again as a new trial, which counts instead).
        storage_dir: the search folder (created; reuse it to resume).
        space: updates to the default space (width, depth, activation, lr, l2, dropout,
            batch_size): name -> {"low", "high", "log"} | {"choices": [...]} | an Optuna
            distribution | a plain value (pinned) | None (not searched). Any RunConfig field but
            data and seed may be named; width and depth set `hidden = [width] * depth`.
        sampler: "tpe" (default), "random", or "coarse-to-fine" (random over the whole space for
            the first half of the trials, then random within ranges narrowed around the best).
        executor: a `concurrent.futures.Executor` to run trials on (e.g. a Dask client's
            `get_executor()`); the caller keeps ownership.
        workers: trials run at once. Without `executor`/`scheduler`, 1 (default) trains in this
            process and K > 1 on K local processes; with `executor`, required (an Executor
            does not tell its size); with `scheduler`, default: the cluster's threads.
        scheduler: address of a Dask scheduler ("tcp://HOST:PORT"); its workers must be able to
            import gradkit and to read and write `storage_dir` (a shared file system).
        base: RunConfig settings every trial shares, e.g. {"target": "label", "epochs": 3}; the
            ones named here are not searched.
        metric: validation metric to optimize; default "val_accuracy" for classifiers
            ("val_binary_accuracy" multi-label), "val_loss" for regression. Losses and errors
            are minimized, the rest maximized.
        seed: seeds the data split, the training of every trial and the sampler (default 0).
        verbose: 1 prints a line per finished trial, 0 (default) nothing.
        test_data: a separate labelled test file: every trial trains on all of `data` (less
            the validation split), and only the final model is evaluated on it, once.
        finalists: the best trials cross-validated at the end to choose the final model
            (`practice._search_final`); 0 ends with the single-split ranking, as trials ran.
        folds: folds of that cross-validation (default 5).
        widen: widen a numeric range whose edge the best trials sit on (default True; the
            ranges widened are in `SearchResult.widened` and the report).
        prune: stop a trial early whose validation score, from its 10th epoch on, is worse
            than the median earlier trials had at that epoch (the median stopping rule;
            default True). It keeps its best epoch's score; `stopped_by_median` in its row
            says when it stopped.
    """
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if executor is not None and scheduler is not None:
        raise ConfigError("give an executor or a scheduler address, not both")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    from gradkit.practice._search_checks import check_scheduler, check_study_files

    check_scheduler(scheduler)

    import optuna

    from gradkit.practice import _search_space as S
    from gradkit.practice._search_loop import Loop

    if isinstance(finalists, bool) or not isinstance(finalists, int) or finalists < 0 or \
            isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"finalists must be an integer >= 0 and folds one >= 2, got "
                          f"finalists={finalists!r}, folds={folds!r}")
    out = os.path.abspath(os.fspath(storage_dir))
    check_study_files(out, (JOURNAL_FILE, ".lock"))
    config, distributions, metric, direction, opened = _prepare(
        data, base, space, metric, seed, test_data, out=out)
    test_data = os.path.abspath(test_data) if test_data is not None else None
    if opened is not None:        # a stream: one statistics pass for every trial
        config = share_statistics(config, out, train=opened[1][0])
        # The finalists' folds split data in memory; a streamed search ends with its ranking.
        finalists = 0
    trials_dir = os.path.join(out, "trials")
    os.makedirs(trials_dir, exist_ok=True)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with _exclusive(out):
            study = _open_study(out, config, distributions, metric, direction)
            start = S.starting_point(config, distributions)
            if start and not study.get_trials(deepcopy=False):
                study.enqueue_trial(start)        # WAITING: the first ask takes it
            _rerun_interrupted(study)
            held = _held(study)
            study.sampler = S.make_sampler(sampler, seed=seed, n_trials=trials,
                                           n_existing=len(held), direction=direction)
            _remove_leftover_temporaries(trials_dir)
            n_new = max(0, trials - len(held))
            loop = Loop(study, config, distributions, metric, trials_dir, verbose,
                        widen=widen, prune=prune)
            if not (n_new or finalists):
                result = _finish(study, out, metric, direction, loop.distributions, 0, data)
                result.widened = loop.widened
                return result
            with executors.open_executor(executor, scheduler, workers) as opened:
                if n_new:
                    loop.run(*opened, n_new, total=len(held) + n_new)
                # Every trial has been told: what is left half-built belongs to a dead worker.
                _remove_leftover_temporaries(trials_dir)
                result = _finish(study, out, metric, direction, loop.distributions,
                                 loop.n_run, data)
                result.widened = loop.widened
                if finalists and result.best is not None:
                    result.final = F.finalize(
                        result.rows, out=out, metric=metric, direction=direction,
                        run_on=opened[0], threads=opened[2], finalists=finalists, folds=folds,
                        test_data=test_data, verbose=verbose)
                    F.write_report(result)
            return result
    finally:
        optuna.logging.set_verbosity(verbosity)


def _prepare(data, base, space, metric, seed, test_data, *, out=None):
    """Base config (validated), searched distributions, metric, direction, and the opened
    stream of streamed data (else None), whose statistics the search in `out` shares."""
    from gradkit.practice import _search_space as S
    from gradkit.practice._search_checks import (check_metric, check_smallest_network,
                                                 check_space)

    if base is not None and not isinstance(base, dict):
        raise ConfigError(f"base must be a dict of RunConfig settings, got {type(base).__name__}")
    base = dict(base or {})
    for key in ("data", "seed", "test_data"):
        if key in base:
            raise ConfigError(f"base: give {key} as search()'s own argument, not in base")
    base = {**S.trial_budget(space, base), **base}
    distributions, pinned = S.resolve_space(space, base)
    S.check_choices(distributions)
    data = os.fspath(data)
    # Workers (a Dask cluster's included) may run elsewhere than this folder.
    source = os.path.abspath(data) if os.path.exists(data) or is_stream_source(data) \
        else data
    if test_data is not None:
        # The test file replaces the test split: trials train on all of `data` less validation.
        base.setdefault("test", 0.0)
        if base["test"]:
            raise ConfigError(f"test_data names a test file, so base's test fraction must be "
                              f"0, got test={base['test']}")
    config = RunConfig.from_dict({**base, "data": source, "seed": seed}, source="base")
    for name, value in pinned.items():
        if name in S.ARCHITECTURE:
            config.hidden = S.trial_config(config.to_dict(), {name: value})["hidden"]
        else:
            setattr(config, name, value)
    config.validate()
    if not config.val:
        raise ConfigError("a search scores trials on the validation split; val must be > 0")
    # What a plain run of the same data refuses (no target, one class, and below a network
    # too large for memory) is refused here, before the study, not once per trial.
    opened = None
    if wants_stream(config):        # every trial streams the same files (shared storage)
        # The statistics a resumed search saved, or one pass now, which the checks (the row
        # counts) and `share_statistics` both use.
        saved = None if out is None else statistics_file(out)
        opened = open_stream(dataclasses.replace(
            config, statistics=saved if saved and os.path.exists(saved) else None))
        opened[1][0].statistics(covariance=config.normalize in ("pca", "whiten"))
        task = opened[0].task
        fits = functools.partial(check_stream, opened=opened)
    else:
        # A test file that does not fit the data fails now, not at the end.
        test_file = None if test_data is None else os.fspath(test_data)
        ds, (train, val, test) = load_and_split_data(
            dataclasses.replace(config, test_data=test_file))
        task = ds.task
        fits = functools.partial(check_memory, train=train, n_other=len(val) + len(test))
    if metric is None:
        metric = {"classification": "val_accuracy",
                  "multilabel": "val_binary_accuracy"}.get(task, "val_loss")
    check_metric(metric, task)
    check_space(config.to_dict(), distributions)
    if test_data is not None and wants_stream(config):
        raise ConfigError("test_data: a streamed search has no final model to test yet; "
                          "evaluate best.json's run on the test file")
    check_smallest_network(config.to_dict(), distributions, fits)
    direction = "minimize" if metric.endswith(_MINIMIZED) else "maximize"
    return config.to_dict(), distributions, metric, direction, opened


def _open_study(out, config, distributions, metric, direction):
    """Load the study in `out`, or create it; refuse one that searched something else."""
    import optuna
    from optuna.distributions import distribution_to_json
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from gradkit.practice._search_checks import repair_journal

    path = os.path.join(out, JOURNAL_FILE)
    repair_journal(path)
    settings = json.loads(json.dumps({
        "base": config, "metric": metric, "direction": direction,
        "space": {k: distribution_to_json(d) for k, d in sorted(distributions.items())}}))
    try:     # Optuna replays the journal here: records that parse but do not fit end here
        storage = JournalStorage(JournalFileBackend(path))
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=direction,
                                    load_if_exists=True)
        study.get_trials(deepcopy=False)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, AssertionError) as err:
        raise ConfigError(f"{path}: the study's journal does not replay ({type(err).__name__}: "
                          f"{err}); move it away to start the search afresh") from None
    stored = study.user_attrs.get("gradkit")
    if stored is None:
        study.set_user_attr("gradkit", settings)
    elif stored != settings:
        differ = sorted(k for k in settings if stored.get(k) != settings[k])
        raise ConfigError(f"{out}: holds a search with other settings ({', '.join(differ)} "
                          "differ); resume it with the same ones, or use another folder")
    return study


@contextlib.contextmanager
def _exclusive(out):
    """Hold a lock on the search folder: two searches telling one study would clash."""
    try:
        import fcntl
    except ImportError:               # Windows: no advisory locks; one search per folder, please
        yield
        return
    with open(os.path.join(out, ".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{out}: another search is running in this folder") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _rerun_interrupted(study):
    """Record the trials a previous search left RUNNING (it was killed) as failed, and queue
    each again with the parameters it had drawn: Optuna's documented interface reopens no
    trial, so the rerun is a new trial, whose `rerun_of` names the old one."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(t.params), user_attrs={"rerun_of": t.number})


def _held(study):
    """The trials that count towards `trials`: all but those waiting to run and those a crash
    interrupted (their reruns count instead)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    interrupted = {t.user_attrs.get("rerun_of") for t in trials}
    return [t for t in trials if t.state != optuna.trial.TrialState.WAITING
            and t.number not in interrupted]


def _remove_leftover_temporaries(trials_dir):
    """Half-built trial folders of runs that were killed (the lock says none is running)."""
    for name in os.listdir(trials_dir):
        if name.startswith(".") and name.endswith((".tmp", ".old")):
            shutil.rmtree(os.path.join(trials_dir, name), ignore_errors=True)


def _finish(study, out, metric, direction, distributions, n_run, data):
    """Rank the trials, write best.json and search.png, build the result."""
    rows = R.ranked_rows(study, direction)
    best = rows[0] if rows and rows[0]["state"] == "COMPLETE" else None
    result = SearchResult(out=out, metric=metric, direction=direction, rows=rows, best=best,
                          n_run=n_run, study=study)
    if best is not None:
        doc = {"run": best["config"],
               "search": {"trial": best["number"], "metric": metric, "value": best["value"],
                          "folder": os.path.join("trials", f"{best['number']:04d}")}}
        _atomic.atomic_write_text(os.path.join(out, "best.json"), json.dumps(doc, indent=2) + "\n")
    if any(r["state"] == "COMPLETE" for r in rows) and distributions:
        R.plot_search(rows, distributions, metric, os.path.join(out, "search.png"),
                      title=f"gradkit search {os.path.basename(os.fspath(data))}")
    return result
