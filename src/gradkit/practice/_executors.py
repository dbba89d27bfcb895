"""Where the trials of a search run: this process, local processes, or a Dask cluster.

All three are `concurrent.futures` executors, so the search loop is the same for each.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os

from gradkit.errors import ConfigError
from gradkit.practice._trial import watch_parent


@contextlib.contextmanager
def open_executor(executor, scheduler, workers):
    """Yield (a callable giving the executor, trials in flight, BLAS threads per trial).

    With an `executor` of the caller's, `workers` must say how many trials run at once.
    """
    if executor is not None:
        if workers is None:     # an Executor does not say how many workers it has
            raise ConfigError("give workers= with executor=: how many trials to run on it at "
                              "once (e.g. its number of worker processes)")
        yield (lambda: executor), workers, None
        return
    if scheduler is not None:
        with _dask_client(scheduler) as client:
            dask_executor = client.get_executor()
            size = workers or max(1, sum(client.nthreads().values()))
            yield (lambda: dask_executor), size, None
        return
    if not workers or workers == 1:
        yield (lambda: _Inline()), 1, None
        return

    # spawn, not fork: forking a process that runs threads (a Dask client, a GUI) can
    # deadlock, and spawn behaves the same on every platform.
    pool = _RenewingPool(lambda: cf.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=watch_parent, initargs=(os.getpid(),)))
    interrupted = True
    try:
        yield (lambda: pool), workers, max(1, (os.cpu_count() or 1) // workers)
        interrupted = False
    finally:
        # Interrupted (Ctrl-C reaches the workers too): do not wait for trials to end.
        pool.shutdown(wait=not interrupted, cancel_futures=True)


class _RenewingPool(cf.Executor):
    """A process pool that starts afresh when a worker died: a `ProcessPoolExecutor` whose
    worker was killed is broken for good, and its `submit` raises `BrokenProcessPool`."""

    def __init__(self, make):
        self.make, self.pools = make, [make()]

    def submit(self, fn, /, *args, **kwargs):
        try:
            return self.pools[-1].submit(fn, *args, **kwargs)
        except cf.BrokenExecutor:
            self.pools[-1].shutdown(wait=False, cancel_futures=True)
            self.pools.append(self.make())
            return self.pools[-1].submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        for p in self.pools:
            p.shutdown(wait=wait, cancel_futures=cancel_futures)


@contextlib.contextmanager
def _dask_client(address):
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'gradkit[search]'") from None
    from gradkit.practice._search_checks import ANSWER_SECONDS

    # `check_scheduler` has had the scheduler answer; this connect is bounded only in part
    # (see `_search_checks._ask_identity`), so whatever ends it is the scheduler not answering.
    try:
        client = Client(address, timeout=ANSWER_SECONDS, set_as_default=False)
    except Exception as err:
        raise ConfigError(f"scheduler {address}: no Dask scheduler answered within "
                          f"{ANSWER_SECONDS:g} s ({type(err).__name__}: {err})") from None
    with client:
        yield client


class _Inline(cf.Executor):
    """Runs each trial in this process when it is submitted (one worker, no start-up cost)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future
