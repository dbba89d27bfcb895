"""PyTorch's TensorDataset and DataLoader: batches, lengths, shuffling from the global seed."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import DataLoader, TensorDataset


def test_batches_and_lengths_are_pytorchs():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    assert len(loader) == 3 and len(loader.dataset) == 10
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert batches[0][1].dtype == np.int64 and batches[0][0].dtype == np.float64
    np.testing.assert_array_equal(batches[2][0].data, X[8:])
    assert len(DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)) == 2
    dropped = DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)
    assert [len(b[0]) for b in dropped] == [4, 4]


def test_shuffle_covers_every_sample_once_and_follows_manual_seed():
    X = np.arange(10)
    gk.manual_seed(5)
    first = np.concatenate([b[0].data for b in DataLoader(TensorDataset(X), batch_size=3,
                                                          shuffle=True)])
    assert sorted(first.tolist()) == list(range(10)) and first.tolist() != list(range(10))
    gk.manual_seed(5)
    again = np.concatenate([b[0].data for b in DataLoader(TensorDataset(X), batch_size=3,
                                                          shuffle=True)])
    np.testing.assert_array_equal(first, again)


def test_any_indexable_dataset_is_stacked_field_by_field():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2

    (x, y), = list(DataLoader(Squares(), batch_size=5))
    assert x.shape == (5, 2) and y.tolist() == [0, 1, 0, 1, 0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="tensors of different lengths"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got batch_size=0"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=0)
