"""Train / validation / test splits (stratified, seeded) and mini-batch index generation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from gradkit.data.dataset import Dataset
from gradkit.errors import DataError


def _count(fraction: float, n: int) -> int:
    """round(fraction * n), half up, and at least 1 when a non-zero fraction was asked for."""
    if fraction == 0:
        return 0
    return max(1, math.floor(fraction * n + 0.5))


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to `counts` (largest remainder method).

    quota_c = counts_c * total / sum(counts); each class gets floor(quota_c), and the leftover
    units go to the largest fractional parts (ties: lower class index). Sums exactly to `total`
    and never exceeds a class's count.
    """
    counts = np.asarray(counts, dtype=np.int64)
    quota = counts * total / max(int(counts.sum()), 1)
    base = np.floor(quota).astype(np.int64)
    leftover = total - int(base.sum())
    order = np.argsort(-(quota - base), kind="stable")
    base[order[:leftover]] += 1
    return base


def _check_fraction(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise DataError(f"{name} must be a fraction in [0, 1), got {name}={value!r}")


def train_val_test_split(ds: Dataset, *, val: float = 0.1, test: float = 0.2, seed: int = 0,
                         stratify: bool = True) -> tuple[Dataset, Dataset, Dataset]:
    """Split a Dataset into (train, validation, test), deterministically for a seed.

    n_test = round(test * n) and n_val = round(val * n) (at least 1 each when asked for). With
    `stratify` and a classification task, every class c is split in the same proportions: its
    share of the test set is allocated by the largest remainder method
    (n_test * n_c / n, rounded so the shares sum to n_test), then the validation set likewise
    from what is left. Each split is shuffled. Regression and multilabel data are shuffled and
    cut without stratification.

    Args:
        ds: the data set.
        val: fraction for validation, in [0, 1).
        test: fraction for testing, in [0, 1); val + test must leave a training set.
        seed: seed of the shuffle (NumPy PCG64), so the same seed gives the same split.
        stratify: keep class proportions (classification only).
    """
    _check_fraction("val", val)
    _check_fraction("test", test)
    n = len(ds)
    n_test, n_val = _count(test, n), _count(val, n)
    if n - n_test - n_val < 1:
        raise DataError(f"{ds.source}: {n} samples cannot be split into val={val} and "
                        f"test={test} and still leave a training set")
    rng = np.random.default_rng(seed)
    if stratify and ds.task == "classification" and ds.y is not None:
        classes = np.unique(ds.y)
        members = [np.flatnonzero(ds.y == c) for c in classes]
        counts = np.array([len(m) for m in members])
        test_counts = allocate(counts, n_test)
        val_counts = allocate(counts - test_counts, n_val)
        parts: tuple[list, list, list] = ([], [], [])
        for indices, t, v in zip(members, test_counts, val_counts):
            shuffled = rng.permutation(indices)
            parts[0].append(shuffled[t + v:])
            parts[1].append(shuffled[t:t + v])
            parts[2].append(shuffled[:t])
        train, valid, testing = (rng.permutation(np.concatenate(p)) for p in parts)
    else:
        order = rng.permutation(n)
        testing, valid, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return ds.subset(train), ds.subset(valid), ds.subset(testing)


def batches(n: int, batch_size: int, *, shuffle: bool = False, rng=None,
            drop_last: bool = False) -> Iterator[np.ndarray]:
    """Yield index arrays covering range(n) in mini-batches of `batch_size` (the last may be
    smaller unless `drop_last`).

    Args:
        n: number of samples.
        batch_size: samples per batch, >= 1.
        shuffle: draw a fresh permutation from `rng` (each call = one epoch).
        rng: a numpy Generator or an int seed; required when shuffling, so that every run with
            the same seed sees the same batches.
        drop_last: skip a final batch smaller than `batch_size`.

    >>> [b.tolist() for b in batches(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got n={n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got batch_size={batch_size!r}")
    if shuffle:
        if rng is None:
            raise ValueError("shuffle=True needs rng= (a numpy Generator or an int seed) so the "
                             "batches are reproducible")
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        order = generator.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
