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

    A callable, because a local process pool whose worker died is broken for good: the loop
    gets a fresh pool from it after a `BrokenProcessPool`.
    """
    if executor is not None:
        yield (lambda: executor), workers or _size(executor), None
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

    pools = []

    def pool():
        # A pool whose worker died stays broken (`_broken` holds why): start a fresh one.
        if not pools or getattr(pools[-1], "_broken", False):
            # spawn, not fork: forking a process that runs threads (a Dask client, a GUI) can
            # deadlock, and spawn behaves the same on every platform.
            pools.append(cf.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=watch_parent, initargs=(os.getpid(),)))
        return pools[-1]

    interrupted = True
    try:
        yield pool, workers, max(1, (os.cpu_count() or 1) // workers)
        interrupted = False
    finally:
        for p in pools:
            # Interrupted (Ctrl-C reaches the workers too): do not wait for trials to end.
            p.shutdown(wait=not interrupted, cancel_futures=True)


@contextlib.contextmanager
def _dask_client(address):
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'gradkit[search]'") from None
    try:
        client = Client(address, timeout=15, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    with client:
        yield client


def _size(executor):
    """Trials in flight for an executor someone else made: its number of workers."""
    max_workers = getattr(executor, "_max_workers", None)        # concurrent.futures pools
    if isinstance(max_workers, int):
        return max_workers
    client = getattr(executor, "_client", None)                  # a Dask ClientExecutor
    if client is not None and hasattr(client, "nthreads"):
        return max(1, sum(client.nthreads().values()))
    return 1


class _Inline(cf.Executor):
    """Runs each trial in this process when it is submitted (one worker, no start-up cost)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future
