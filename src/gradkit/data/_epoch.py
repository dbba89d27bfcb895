"""One epoch of a stream as mini-batches: unit order, shuffle buffer, and a resumable state.

The order of the reading units (Parquet row groups, CSV files) is a permutation drawn from
(seed, epoch). Encoded rows go into a pool; when the pool holds `buffer` rows it is permuted,
and all but half a buffer of its rows move to the queue of rows to emit, so every row is mixed
with at least buffer/2 others, some of them from earlier units. Batches are cut from that
queue: every batch has `batch_size` rows except the epoch's last.

The state after each batch is the position in the unit order, the rows consumed of the current
unit, the buffer generator's state and the rows in the pool and the queue: a checkpoint holds
these, and `EpochBatches(..., state=...)` continues exactly where the saved one stopped.
"""

from __future__ import annotations

import numpy as np

from gradkit.data._prefetch import Prefetch


def _take(arrays, index):
    if isinstance(index, slice):
        return tuple(a[index] for a in arrays)
    # np.take, not fancy indexing: the gather of whole float32 rows is several times faster.
    return tuple(np.take(a, index, axis=0) for a in arrays)


def _concat(parts, empty):
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))


class EpochBatches:
    """Iterator of (X, y) mini-batches of one epoch of a Stream, with `state()`.

    Args:
        stream: the Stream (a split of one) to read.
        batch_size: rows per batch.
        epoch: which epoch (the unit order and the buffer's draws depend on it).
        shuffle: False reads units and rows in file order (evaluation, prediction).
        state: a dict from `state()` to continue from.
    """

    def __init__(self, stream, *, batch_size: int, epoch: int = 0, shuffle: bool = True,
                 state: dict | None = None):
        self.stream, self.batch_size = stream, int(batch_size)
        self.buffer = stream.shuffle_buffer if shuffle else 0
        order_seq, buffer_seq = np.random.SeedSequence([stream.seed, int(epoch)]).spawn(2)
        n_units = stream.n_units
        self.order = np.random.default_rng(order_seq).permutation(n_units) if shuffle \
            else np.arange(n_units)
        self.rng = np.random.default_rng(buffer_seq)
        width = stream.n_features
        empty_y = np.zeros((0,) + stream.target_shape, stream.target_dtype)
        self._empty = (np.zeros((0, width), np.float32), empty_y)
        self.unit_pos, self.unit_rows, self.batches = 0, 0, 0
        # pool: rows read and not yet mixed; ready: mixed rows waiting to be cut into batches,
        # a list of pieces (the first consumed from ready_at), so that no row is copied to
        # join a queue.
        self.pool, self.ready, self.ready_at, self.ready_rows = [], [], 0, 0
        self._chunks, self._done = None, False
        if state is not None:
            self._restore(state)

    # -- reading ------------------------------------------------------------------------------
    def _start(self):
        tables = self.stream._tables(self.order, self.unit_pos, self.unit_rows)
        depth = self.stream.prefetch
        self._chunks = Prefetch(tables, depth=depth) if depth else iter(tables)

    def _refill(self) -> bool:
        """Move rows towards the queue; False when the epoch has no rows left to read."""
        item = next(self._chunks, None)
        while item is not None:
            rows, self.unit_pos, self.unit_rows = self.stream._chunk(self.order, *item)
            if rows is not None:
                break
            item = next(self._chunks, None)
        if item is None:
            pool = _concat(self.pool, self._empty)
            self.pool = []
            if len(pool[0]) and self.buffer:
                pool = _take(pool, self.rng.permutation(len(pool[0])))
            self._append(pool)
            return False
        X, y = rows
        if not self.buffer:
            self._append((X, y))
            return True
        self.pool.append((X, y))
        rows = sum(len(p[0]) for p in self.pool)
        if rows >= self.buffer:
            pool = _concat(self.pool, self._empty)
            order = self.rng.permutation(rows)
            keep = self.buffer // 2
            self._append(_take(pool, order[:rows - keep]))
            self.pool = [_take(pool, order[rows - keep:])] if keep else []
        return True

    def _append(self, rows):
        if len(rows[0]):
            self.ready.append(rows)
            self.ready_rows += len(rows[0])

    def _cut(self, n):
        """The next n rows of the queue (a view when they lie in one piece)."""
        parts = []
        while n:
            X, y = self.ready[0]
            take = min(len(X) - self.ready_at, n)
            parts.append((X[self.ready_at:self.ready_at + take],
                          y[self.ready_at:self.ready_at + take]))
            self.ready_at += take
            self.ready_rows -= take
            n -= take
            if self.ready_at == len(X):
                self.ready.pop(0)
                self.ready_at = 0
        return _concat(parts, self._empty)

    # -- iteration ----------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        if self._chunks is None:
            self._start()
        while not self._done and self.ready_rows < self.batch_size:
            self._done = not self._refill()
        if self.ready_rows == 0:
            self.close()
            raise StopIteration
        self.batches += 1
        return self._cut(min(self.batch_size, self.ready_rows))

    def close(self):
        """Stop the reader thread (an epoch left early, e.g. by early stopping)."""
        if isinstance(self._chunks, Prefetch):
            self._chunks.close()

    # -- state --------------------------------------------------------------------------------
    def state(self) -> dict:
        """The position after the last batch: JSON scalars under "meta", arrays beside them."""
        pool = _concat(self.pool, self._empty)
        pieces = [(X[self.ready_at:], y[self.ready_at:]) if i == 0 else (X, y)
                  for i, (X, y) in enumerate(self.ready)]
        ready = _concat(pieces, self._empty)
        return {"meta": {"unit_pos": int(self.unit_pos), "unit_rows": int(self.unit_rows),
                         "batches": self.batches, "rng": self.rng.bit_generator.state,
                         "done": self._done},
                "pool_X": pool[0], "pool_y": pool[1], "ready_X": ready[0], "ready_y": ready[1]}

    def _restore(self, state: dict) -> None:
        meta = state["meta"]
        self.unit_pos, self.unit_rows = int(meta["unit_pos"]), int(meta["unit_rows"])
        self.batches = int(meta["batches"])
        self.rng.bit_generator.state = meta["rng"]
        pool = (np.asarray(state["pool_X"], np.float32), np.asarray(state["pool_y"]))
        self.pool = [pool] if len(pool[0]) else []
        self._append((np.asarray(state["ready_X"], np.float32), np.asarray(state["ready_y"])))
        self._done = bool(meta["done"])
