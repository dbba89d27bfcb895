"""train_val_test_split (stratified, seeded) and batches."""

import numpy as np
import pytest

from gradkit.data import Dataset, DataError, batches, train_val_test_split
from gradkit.data.split import allocate


def make(labels, task="classification"):
    labels = np.asarray(labels)
    X = np.arange(len(labels), dtype=np.float32)[:, None]  # X encodes the original index
    names = [str(c) for c in range(labels.max() + 1)] if task == "classification" else None
    return Dataset(X=X, y=labels, feature_names=["i"], class_names=names, task=task,
                   source="test")


def indices(ds):
    return ds.X[:, 0].astype(int)


def test_allocate_is_proportional_and_exact():
    assert allocate(np.array([50, 30, 20]), 20).tolist() == [10, 6, 4]
    assert allocate(np.array([5, 3, 2]), 3).tolist() == [1, 1, 1]   # 1.5, 0.9, 0.6
    assert allocate(np.array([1, 1, 1]), 2).tolist() == [1, 1, 0]   # ties: lower class first


def test_stratified_split_keeps_class_proportions():
    ds = make(np.repeat([0, 1, 2], [50, 30, 20]))
    train, val, test = train_val_test_split(ds, val=0.1, test=0.2, seed=0)
    assert np.bincount(test.y).tolist() == [10, 6, 4]
    assert np.bincount(val.y).tolist() == [5, 3, 2]
    assert np.bincount(train.y).tolist() == [35, 21, 14]
    together = np.concatenate([indices(train), indices(val), indices(test)])
    assert sorted(together.tolist()) == list(range(100))
    for part in (train, val, test):
        np.testing.assert_array_equal(part.y, ds.y[indices(part)])
        assert part.class_names == ds.class_names


def test_split_is_deterministic_for_a_seed():
    ds = make(np.arange(90) % 3)
    first = [indices(p) for p in train_val_test_split(ds, seed=7)]
    again = [indices(p) for p in train_val_test_split(ds, seed=7)]
    other = [indices(p) for p in train_val_test_split(ds, seed=8)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(first[0], np.sort(first[0]))  # shuffled, not in file order


def test_unstratified_and_regression_splits():
    ds = make(np.arange(50) % 2)
    train, val, test = train_val_test_split(ds, val=0.2, test=0.2, seed=0, stratify=False)
    assert (len(train), len(val), len(test)) == (30, 10, 10)
    reg = Dataset(X=np.zeros((10, 1)), y=np.linspace(0, 1, 10), feature_names=["a"],
                  class_names=None, task="regression")
    parts = train_val_test_split(reg, val=0.0, test=0.25)
    assert [len(p) for p in parts] == [7, 0, 3]


def test_split_argument_errors():
    ds = make(np.arange(3) % 2)
    with pytest.raises(DataError) as info:
        train_val_test_split(ds, val=0.5, test=0.4)
    assert str(info.value) == ("test: 3 samples cannot be split into val=0.5 and test=0.4 and "
                               "still leave a training set")
    with pytest.raises(DataError) as info:
        train_val_test_split(ds, test=1.0)
    assert str(info.value) == "test must be a fraction in [0, 1), got test=1.0"


def test_batches_cover_everything_in_order():
    assert [b.tolist() for b in batches(7, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in batches(7, 3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert list(batches(0, 4)) == []


def test_shuffled_batches_are_reproducible():
    first = np.concatenate(list(batches(10, 4, shuffle=True, rng=5)))
    second = np.concatenate(list(batches(10, 4, shuffle=True, rng=np.random.default_rng(5))))
    np.testing.assert_array_equal(first, second)
    assert sorted(first.tolist()) == list(range(10)) and first.tolist() != list(range(10))


def test_batches_argument_errors():
    with pytest.raises(ValueError, match=r"shuffle=True needs rng="):
        list(batches(5, 2, shuffle=True))
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got "
                                         r"batch_size=0"):
        list(batches(5, 0))
