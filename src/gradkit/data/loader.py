"""PyTorch's `TensorDataset` and `DataLoader` for in-memory tensors (PyTorch programs' habit).

    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    for X_batch, y_batch in loader: ...

`len(loader)` is the number of batches and `len(loader.dataset)` the number of samples, as in
PyTorch. Shuffling draws from the global generator (`gk.manual_seed`). A dataset that is not a
`TensorDataset` is batched by indexing it sample by sample and stacking the fields.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from gradkit.autograd import Tensor, creation


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    # Arrays keep their dtype (integer labels stay integers), as torch.from_numpy would.
    return Tensor(np.asarray(x))


class TensorDataset:
    """Samples made of one row of each tensor; all tensors have the same first length."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(_as_tensor(t) for t in tensors)
        lengths = {len(t) for t in self.tensors}
        if len(lengths) != 1:
            shapes = [tuple(t.shape) for t in self.tensors]
            raise ValueError(f"TensorDataset: tensors of different lengths {shapes}; expected "
                             "the same first dimension")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


class DataLoader:
    """Mini-batches of a dataset, in order or shuffled each pass."""

    def __init__(self, dataset, batch_size=1, shuffle=False, *, drop_last=False):
        if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive integer, got "
                             f"batch_size={batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = (creation.default_generator().permutation(n) if self.shuffle
                 else np.arange(n))
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self._batch(idx)

    def _batch(self, idx):
        if isinstance(self.dataset, TensorDataset):
            return tuple(Tensor(t.data[idx]) for t in self.dataset.tensors)
        samples = [self.dataset[int(i)] for i in idx]
        fields = zip(*samples) if isinstance(samples[0], tuple) else [samples]
        out = tuple(Tensor(np.stack([np.asarray(getattr(v, "data", v)) for v in f]))
                    for f in fields)
        return out if isinstance(samples[0], tuple) else out[0]
