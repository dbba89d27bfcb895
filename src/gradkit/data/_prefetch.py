"""A bounded background queue: the next chunks are read and encoded while the model computes.

pyarrow decodes Parquet and CSV in C++ without the GIL, and NumPy's copies release it too, so a
reader thread overlaps with the training step. The queue holds at most `depth` chunks, which
bounds the memory the reader can get ahead by. Items arrive in the order they were produced, so
the batches (and the training) do not depend on the thread's timing.
"""

from __future__ import annotations

import queue
import threading

_DONE = object()


class Prefetch:
    """Iterate `iterable` on a daemon thread, `depth` items ahead; `close()` stops it early.

    An exception raised by the producer is raised again, unchanged, by `__next__`.
    """

    def __init__(self, iterable, *, depth: int = 2):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got depth={depth!r}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iterable,), daemon=True,
                                        name="gradkit-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterable):
        try:
            for item in iterable:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, raised there)
            self._put((_DONE, exc))
            return
        self._put((_DONE, None))

    def __iter__(self):
        return self

    def __next__(self):
        item, error = self._queue.get()
        if item is _DONE:
            self._queue.put((_DONE, error))      # later calls end the same way
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self):
        """Stop the producer and wait for its thread (it finishes the chunk it is reading)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
