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

import concurrent.futures as cf
import contextlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field

from gradkit import _files
from gradkit.errors import ConfigError

SAMPLERS = ("random", "tpe", "coarse-to-fine")
STUDY_NAME = "gradkit-search"
JOURNAL_FILE = "study.journal"
MAX_ATTEMPTS = 3          # runs of one trial whose worker died before it is recorded as FAIL
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

    @property
    def best_config(self):
        """The best trial's RunConfig (None if no trial completed)."""
        from gradkit.practice.run import RunConfig, load_data

        return None if self.best is None else RunConfig.from_dict(self.best["config"])

    def print_table(self, *, top=20, file=None):
        """Print the ranked trials (best first, failed ones last) as a table."""
        from gradkit.practice._search_report import print_table

        print_table(self, top=top, file=file)


def search(data, *, trials, storage_dir, space=None, sampler="tpe", executor=None, workers=None,
           scheduler=None, base=None, metric=None, seed=0, verbose=0):
    """Search hyper-parameters of a network trained on `data`; return a `SearchResult`.

    Each trial trains one `RunConfig` (base settings, sampled values on top) and is scored on
    the validation split, the same split for every trial; the test split is never used to rank.

    Args:
        data: a data file or built-in data set name, as for `gradkit train`.
        trials: how many trials the study should hold; a study in `storage_dir` that already has
            some runs only the rest (trials left RUNNING by a crash are run again).
        storage_dir: the search folder (created; reuse it to resume).
        space: updates to the default space (width, depth, activation, lr, l2, dropout,
            batch_size, epochs): name -> {"low", "high", "log"} | {"choices": [...]} | an Optuna
            distribution | a plain value (pinned) | None (not searched). Any RunConfig field but
            data and seed may be named; width and depth set `hidden = [width] * depth`.
        sampler: "tpe" (default), "random", or "coarse-to-fine" (random over the whole space for
            the first half of the trials, then random within ranges narrowed around the best).
        executor: a `concurrent.futures.Executor` to run trials on (e.g. a Dask client's
            `get_executor()`); the caller keeps ownership.
        workers: trials run at once. Without `executor`/`scheduler`, 1 (default) trains in this
            process and K > 1 on K local processes; with them, default: the executor's size.
        scheduler: address of a Dask scheduler ("tcp://HOST:PORT"); its workers must be able to
            import gradkit and to read and write `storage_dir` (a shared file system).
        base: RunConfig settings every trial shares, e.g. {"target": "label", "epochs": 3}; the
            ones named here are not searched.
        metric: validation metric to optimize; default "val_accuracy" for classifiers
            ("val_binary_accuracy" multi-label), "val_loss" for regression. Losses and errors
            are minimized, the rest maximized.
        seed: seeds the data split, the training of every trial and the sampler (default 0).
        verbose: 1 prints a line per finished trial, 0 (default) nothing.
    """
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if executor is not None and scheduler is not None:
        raise ConfigError("give an executor or a scheduler address, not both")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    from gradkit.practice._search_checks import check_scheduler

    check_scheduler(scheduler)

    import optuna

    from gradkit.practice import _executors as executors
    from gradkit.practice import _search_space as S

    config, distributions, metric, direction = _prepare(data, base, space, metric, seed)
    out = os.path.abspath(os.fspath(storage_dir))
    trials_dir = os.path.join(out, "trials")
    os.makedirs(trials_dir, exist_ok=True)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with _exclusive(out):
            study = _open_study(out, config, distributions, metric, direction)
            existing = study.get_trials(deepcopy=False)
            study.sampler = S.make_sampler(sampler, seed=seed, n_trials=trials,
                                           n_existing=len(existing), direction=direction)
            _remove_leftover_temporaries(trials_dir)
            leftovers = [t for t in existing if t.state == optuna.trial.TrialState.RUNNING]
            n_new = max(0, trials - len(existing))
            if leftovers or n_new:
                loop = _Loop(study, config, distributions, metric, trials_dir, verbose)
                with executors.open_executor(executor, scheduler, workers) as opened:
                    loop.run(*opened, leftovers, n_new, total=len(existing) + n_new)
                n_run = loop.n_run
                # Every trial has been told: what is left half-built belongs to a dead worker.
                _remove_leftover_temporaries(trials_dir)
            else:
                n_run = 0
            return _finish(study, out, metric, direction, distributions, n_run, data)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _prepare(data, base, space, metric, seed):
    """Base config (validated), searched distributions, metric and direction."""
    from gradkit.practice import _search_space as S
    from gradkit.practice._search_checks import check_metric, check_space
    from gradkit.practice.run import RunConfig, load_data

    if base is not None and not isinstance(base, dict):
        raise ConfigError(f"base must be a dict of RunConfig settings, got {type(base).__name__}")
    base = dict(base or {})
    for key in ("data", "seed"):
        if key in base:
            raise ConfigError(f"base: give {key} as search()'s own argument, not in base")
    distributions, pinned = S.resolve_space(space, base)
    S.check_choices(distributions)
    data = os.fspath(data)
    # Workers (a Dask cluster's included) may run elsewhere than this folder.
    source = os.path.abspath(data) if os.path.exists(data) else data
    config = RunConfig.from_dict({**base, "data": source, "seed": seed}, source="base")
    for name, value in pinned.items():
        if name in S.ARCHITECTURE:
            config.hidden = S.trial_config(config.to_dict(), {name: value})["hidden"]
        else:
            setattr(config, name, value)
    config.validate()
    if not config.val:
        raise ConfigError("a search scores trials on the validation split; val must be > 0")
    ds = load_data(config)
    if ds.y is None:
        raise ConfigError(f"{data}: has no target to train on")
    if metric is None:
        metric = {"classification": "val_accuracy",
                  "multilabel": "val_binary_accuracy"}.get(ds.task, "val_loss")
    check_metric(metric, ds.task)
    check_space(config.to_dict(), distributions)
    direction = "minimize" if metric.endswith(_MINIMIZED) else "maximize"
    return config.to_dict(), distributions, metric, direction


def _open_study(out, config, distributions, metric, direction):
    """Load the study in `out`, or create it; refuse one that searched something else."""
    import optuna
    from optuna.distributions import distribution_to_json
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from gradkit.practice._search_checks import repair_journal

    path = os.path.join(out, JOURNAL_FILE)
    repair_journal(path)
    storage = JournalStorage(JournalFileBackend(path))
    settings = json.loads(json.dumps({
        "base": config, "metric": metric, "direction": direction,
        "space": {k: distribution_to_json(d) for k, d in sorted(distributions.items())}}))
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=direction,
                                load_if_exists=True)
    stored = study.user_attrs.get("gradkit")
    if stored is None:
        study.set_user_attr("gradkit", settings)
    elif stored != settings:
        differ = sorted(k for k in settings if stored.get(k) != settings[k])
        raise ConfigError(f"{out}: holds a search with other settings ({', '.join(differ)} "
                          "differ); resume it with the same ones, or use another folder")
    return study


class _Loop:
    """Ask, submit, wait, tell: keeps `in_flight` trials running until none is left."""

    def __init__(self, study, config, distributions, metric, trials_dir, verbose):
        self.study, self.config, self.distributions = study, config, distributions
        self.metric, self.trials_dir, self.verbose = metric, trials_dir, verbose
        self.handles = {}        # number -> optuna.trial.Trial, to tell and set attributes
        self.configs = {}        # number -> RunConfig dict
        self.told = set()
        self.n_run = 0
        self.warned_unshared = False

    def run(self, run_on, in_flight, threads, leftovers, n_new, *, total):
        import optuna

        from gradkit.practice._search_space import trial_config

        queue = []
        for frozen in leftovers:      # RUNNING when a previous search stopped: run them again
            # Trial(study, id) is how Optuna itself reopens a trial it knows by id.
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            params = _draw_missing(trial, self.distributions)
            self.handles[frozen.number] = trial
            self.configs[frozen.number] = trial_config(self.config, params)
            trial.set_user_attr("config", self.configs[frozen.number])
            queue.append(frozen.number)
        pending = {}                  # future -> (number, attempt)
        finished = total - len(leftovers) - n_new
        while queue or n_new or pending:
            while len(pending) < in_flight and (queue or n_new):
                if queue:
                    number = queue.pop(0)
                else:
                    number = self._ask()
                    n_new -= 1
                pending[self._submit(run_on, number, threads, 0)] = (number, 0)
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                number, attempt = pending.pop(future)
                try:
                    result = future.result()
                except Exception as err:      # the worker died, not the trial (it catches its own)
                    if self.verbose:
                        then = "running it again" if attempt + 1 < MAX_ATTEMPTS else "giving up"
                        print(f"trial {number:>4}: its worker failed ({type(err).__name__}: "
                              f"{err}); {then}", flush=True)
                    if attempt + 1 < MAX_ATTEMPTS:
                        retry = self._submit(run_on, number, threads, attempt + 1)
                        pending[retry] = (number, attempt + 1)
                        continue
                    result = {"state": "FAIL", "value": None, "number": number,
                              "reason": f"its worker failed {MAX_ATTEMPTS} times "
                                        f"({type(err).__name__}: {err})"}
                if self._tell(number, result):
                    finished += 1
                    self._report(result, finished, total)

    def _ask(self):
        from gradkit.practice._search_space import trial_config

        trial = self.study.ask(fixed_distributions=self.distributions)
        config = trial_config(self.config, trial.params)
        trial.set_user_attr("config", config)
        phase = getattr(self.study.sampler, "phase", None)
        if phase is not None:
            trial.set_user_attr("phase", phase(self.study, trial.number))
        self.handles[trial.number], self.configs[trial.number] = trial, config
        return trial.number

    def _submit(self, run_on, number, threads, attempt):
        from gradkit.practice._trial import run_trial

        return run_on().submit(run_trial, self.configs[number], number=number,
                               trials_dir=self.trials_dir, metric=self.metric,
                               blas_threads=threads, attempt=attempt)

    def _tell(self, number, result):
        """Record `result`; False if this trial was already told (a duplicate run)."""
        import optuna

        if number in self.told:
            return False
        self.told.add(number)
        self.n_run += 1
        trial = self.handles[number]
        summary = {k: v for k, v in result.items() if k not in ("config", "traceback")}
        trial.set_user_attr("result", summary)
        if result["state"] == "COMPLETE":
            self.study.tell(trial, result["value"], skip_if_finished=True)
        else:
            trial.set_user_attr("reason", result.get("reason") or "unknown")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        from gradkit.practice._trial import trial_folder

        ran = "config" in result         # not a worker failure: the trial wrote its folder
        if ran and not self.warned_unshared and \
                not os.path.isdir(trial_folder(self.trials_dir, number)):
            self.warned_unshared = True
            warnings.warn(f"trial folders are not appearing in {self.trials_dir}: the workers "
                          "write them on their own machines; give the search a folder on a file "
                          "system they share with this one", UserWarning, stacklevel=4)
        return True

    def _report(self, result, finished, total):
        if not self.verbose:
            return
        if result["state"] == "COMPLETE":
            what = f"{self.metric} {result['value']:.4f}"
        else:
            what = f"FAIL: {result.get('reason')}"
        seconds = result.get("seconds")
        took = f"  ({seconds:.1f} s)" if seconds is not None else ""
        print(f"trial {result['number']:>4} [{finished}/{total}]  {what}{took}", flush=True)


def _draw_missing(trial, distributions):
    """The trial's parameters, drawing those a crash in the middle of `ask` left undrawn
    (suggesting a parameter that is already drawn returns its value)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    for name, d in distributions.items():
        if isinstance(d, FloatDistribution):
            trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        else:
            trial.suggest_categorical(name, d.choices)
    return trial.params


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


def _remove_leftover_temporaries(trials_dir):
    """Half-built trial folders of runs that were killed (the lock says none is running)."""
    for name in os.listdir(trials_dir):
        if name.startswith(".") and name.endswith((".tmp", ".old")):
            shutil.rmtree(os.path.join(trials_dir, name), ignore_errors=True)


def _finish(study, out, metric, direction, distributions, n_run, data):
    """Rank the trials, write best.json and search.png, build the result."""
    from gradkit.practice import _search_report as R

    rows = R.ranked_rows(study, direction)
    best = rows[0] if rows and rows[0]["state"] == "COMPLETE" else None
    result = SearchResult(out=out, metric=metric, direction=direction, rows=rows, best=best,
                          n_run=n_run, study=study)
    if best is not None:
        doc = {"run": best["config"],
               "search": {"trial": best["number"], "metric": metric, "value": best["value"],
                          "folder": os.path.join("trials", f"{best['number']:04d}")}}
        _files.atomic_write_text(os.path.join(out, "best.json"), json.dumps(doc, indent=2) + "\n")
    if any(r["state"] == "COMPLETE" for r in rows) and distributions:
        R.plot_search(rows, distributions, metric, os.path.join(out, "search.png"),
                      title=f"gradkit search {os.path.basename(os.fspath(data))}")
    return result
