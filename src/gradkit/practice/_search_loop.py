"""The loop of a search: ask, submit, wait, tell, until every trial is told.

Only the searching process asks and tells; workers run `_trial.run_trial`. A trial whose worker
died is submitted again (up to `MAX_ATTEMPTS` runs), and a second result for a trial already
told is ignored.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import warnings

from gradkit.practice import _search_space as S
from gradkit.practice._trial import median_curve, run_trial, trial_folder

MAX_ATTEMPTS = 3          # runs of one trial whose worker died before it is recorded as FAIL
# The median stop (`_trial.MedianStop`): from this epoch on, compared with the median of at
# least this many finished trials at the same epoch. The warm-up is early stopping's patience:
# a trial gets as long to show its worth as it gets to improve.
MEDIAN_WARMUP = S.TRIAL_BUDGET["early_stopping"]
MEDIAN_MIN_TRIALS = 5


class Loop:
    """Ask, submit, wait, tell: keeps `in_flight` trials running until none is left."""

    def __init__(self, study, config, distributions, metric, trials_dir, verbose, *,
                 widen=True, prune=True):
        self.study, self.config, self.distributions = study, config, dict(distributions)
        self.metric, self.trials_dir, self.verbose = metric, trials_dir, verbose
        self.handles = {}        # number -> optuna.trial.Trial, to tell and set attributes
        self.configs = {}        # number -> RunConfig dict
        self.told = set()
        self.n_run = 0
        self.warned_unshared = False
        self.widen, self.prune = widen, prune
        self.direction = study.direction.name.lower()
        # A resumed search goes on with the ranges an earlier run widened.
        self.widened = list(study.user_attrs.get("widened") or [])
        for w in self.widened:
            if w["name"] in self.distributions:
                self.distributions[w["name"]] = S.widened_distribution(
                    self.distributions[w["name"]], *w["new"])

    def run(self, run_on, in_flight, threads, n_new, *, total):
        """Ask and run `n_new` trials, `in_flight` at once, on `run_on()`'s executor."""
        pending = {}                  # future -> (number, attempt)
        finished = total - n_new
        while n_new or pending:
            while len(pending) < in_flight and n_new:
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
                    if self.widen and n_new and finished % max(10, total // 5) == 0:
                        self._widen_edges(finished)

    def _widen_edges(self, finished):
        """Widen the ranges whose edge the best trials sit on, for the trials still to ask."""
        import optuna

        done = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(done) < 10:
            return
        for name, side in S.edges(done, self.distributions, self.direction):
            times = sum(w["name"] == name and w["side"] == side for w in self.widened)
            new = S.widen(name, self.distributions[name], side) \
                if times < S.WIDEN_TIMES else None
            if new is None:
                continue
            old = self.distributions[name]
            self.widened.append({"after_trials": finished, "name": name, "side": side,
                                 "old": [old.low, old.high], "new": [new.low, new.high]})
            self.distributions[name] = new
            if self.verbose:
                print(f"the best trials sit on the {side} edge of {name} ({old.low:g} to "
                      f"{old.high:g}): widened to {new.low:g} to {new.high:g}", flush=True)
        self.study.set_user_attr("widened", self.widened)

    def _ask(self):
        trial = self.study.ask(fixed_distributions=self.distributions)
        config = S.trial_config(self.config, trial.params)
        trial.set_user_attr("config", config)
        phase = getattr(self.study.sampler, "phase", None)
        if phase is not None:
            trial.set_user_attr("phase", phase(self.study, trial.number))
        self.handles[trial.number], self.configs[trial.number] = trial, config
        return trial.number

    def _submit(self, run_on, number, threads, attempt):
        return run_on().submit(run_trial, self.configs[number], number=number,
                               trials_dir=self.trials_dir, metric=self.metric,
                               blas_threads=threads, attempt=attempt,
                               stop_below=self._stop_below())

    def _stop_below(self):
        """The median stop for the next trial: per epoch, the median score of the trials
        finished so far (None before MEDIAN_MIN_TRIALS of them reached that epoch)."""
        import optuna

        if not self.prune:
            return None
        done = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        curves = [(t.user_attrs.get("result") or {}).get("curve") or [] for t in done]
        median = median_curve(curves, min_trials=MEDIAN_MIN_TRIALS)
        if not any(v is not None for v in median):
            return None
        return {"median": median, "warmup": MEDIAN_WARMUP, "direction": self.direction}

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
