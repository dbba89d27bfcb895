"""gradkit.data: load, check and encode data sets; split them; batch them; download MNIST.

    from gradkit.data import load, train_val_test_split, batches
    ds = load("data.csv", target="label")        # or "iris", "xor", "fashion-mnist", "x.npz", ...
    train, val, test = train_val_test_split(ds, val=0.1, test=0.2, seed=0)
    new = train.encode_like("new.csv")           # same columns, categories and class indices
    big = stream("events/", target="label")      # larger than memory: see gradkit.data.stream

Every loader returns a `Dataset` (float32 X, y, feature/class names, the encoding schema) and
every bad input raises `gradkit.errors.DataError` with one line naming the file, column and row.
pyarrow and scikit-learn are imported only inside the functions that need them.
"""

from gradkit.data.arrays import arrays_to_dataset, load_npy, load_npz
from gradkit.data.builtin import DatasetInfo, list_datasets, load_builtin
from gradkit.data.dataset import Dataset
from gradkit.data.download import default_cache_dir, fetch
from gradkit.data.idx import load_idx, read_idx
from gradkit.data.loader import DataLoader, TensorDataset
from gradkit.data.loading import encode_like, load, load_csv, load_parquet
from gradkit.data.split import batches, train_val_test_split
from gradkit.data.stream import Stream, stream
from gradkit.data.synthetic import make_circles, make_moons, make_spirals, make_xor
from gradkit.errors import DataError

__all__ = [
    "DataError", "DataLoader", "Dataset", "TensorDataset",
    "DatasetInfo", "arrays_to_dataset", "batches", "default_cache_dir",
    "encode_like", "fetch", "list_datasets", "load", "load_builtin", "load_csv", "load_idx",
    "load_npy", "load_npz", "load_parquet", "make_circles", "make_moons", "make_spirals",
    "make_xor", "read_idx", "Stream", "stream", "train_val_test_split",
]
