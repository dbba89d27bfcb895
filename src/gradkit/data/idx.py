"""IDX files (the MNIST / Fashion-MNIST format), raw or gzipped, parsed with NumPy alone.

Layout: two zero bytes, a type code, the number of dimensions d, then d big-endian uint32 sizes,
then prod(sizes) big-endian values. Codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from gradkit import _budget
from gradkit.data._common import finite_float32, require_regular_file
from gradkit.data.arrays import default_feature_names
from gradkit.data.dataset import Dataset
from gradkit.errors import DataError

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# File stems of each split, as published with MNIST and Fashion-MNIST.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_at_most(stream, size: int) -> bytes:
    """Read up to `size` bytes in chunks. One big read(size) would allocate whatever a hostile
    header claims up front; chunks allocate only what the file really holds."""
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(min(1 << 24, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_idx(path) -> np.ndarray:
    """Parse one IDX file (".gz" is decompressed) into a native-endian array of its shape.

    Raises DataError when the magic number is wrong or the data is truncated or too long.
    """
    path = Path(path)
    require_regular_file(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            head = stream.read(4)
            if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES \
                    or head[3] == 0:
                raise DataError(
                    f"{path}: not an IDX file: first bytes are {head.hex() or 'missing'}; "
                    "expected 00 00, a type code (08 09 0b 0c 0d 0e) and the dimension count")
            ndim = head[3]
            dims_bytes = stream.read(4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DataError(f"{path}: truncated: the header announces {ndim} dimensions but "
                                "the file ends inside the list of sizes")
            dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
            if 0 in dims:
                # Nothing to learn from, and NumPy cannot even shape an empty array whose other
                # sizes multiply past its index range (0 x 80814 x 80816 x 1412231104).
                raise DataError(f"{path}: the header's sizes {'x'.join(map(str, dims))} hold "
                                "no values (a size is 0)")
            dtype = np.dtype(IDX_TYPES[head[2]])
            expected = math.prod(dims) * dtype.itemsize
            # The array and its float32 copy, refused before a byte of a (possibly
            # decompressing) stream is read: a header may claim 10**12 values.
            # (A plain file shorter than that is reported as truncated just below.)
            if opener is gzip.open or expected < path.stat().st_size:
                _budget.check(expected + 4 * math.prod(dims),
                              f"{path}: the header's {'x'.join(map(str, dims))} {dtype.name} "
                              "values")
            # One byte more than promised, to detect trailing data.
            data = _read_at_most(stream, expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the file ({exc}); is it truncated?") from None
    shape = "x".join(map(str, dims))
    if len(data) < expected:
        raise DataError(f"{path}: truncated: the header promises {shape} {dtype.name} values "
                        f"({expected} bytes) but the file holds {len(data)} bytes of data")
    if len(data) > expected:
        raise DataError(f"{path}: more data than the header's {shape} {dtype.name} values "
                        f"({expected} bytes); is it two files joined together?")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """The file for `stem` in `folder`: as published (".gz" or not), or with a dot instead of the
    last dash (some archives unpack "train-images.idx3-ubyte")."""
    head, kind, suffix = stem.rsplit("-", 2)
    dotted = f"{head}.{kind}-{suffix}"
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def held_out_split(folder) -> str:
    """The split that evaluating or predicting on an IDX folder reads: "test" (the t10k files)
    where the folder has them, as the split names mean; "train" where it has only those."""
    folder = Path(folder)
    return "test" if all(find_idx_file(folder, stem) for stem in SPLITS["test"]) else "train"


def load_idx(folder, *, split: str = "train", class_names=None, source=None) -> Dataset:
    """Load one split of an IDX folder: images (n, rows, cols) as float32 pixel values as stored
    (0-255 for MNIST), labels as int64 class indices.

    Args:
        folder: a folder holding train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz),
            t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz).
        split: "train" or "test" (the t10k files).
        class_names: names of classes 0, 1, ...; default "0", "1", ... up to the largest label.
    """
    folder = Path(folder)
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'test', got split={split!r}")
    paths = []
    for stem in SPLITS[split]:
        found = find_idx_file(folder, stem)
        if found is None:
            raise DataError(f"{folder}: no {stem} or {stem}.gz; an IDX folder holds "
                            f"{', '.join(SPLITS['train'] + SPLITS['test'])} (optionally .gz)")
        paths.append(found)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim < 2 or len(images) == 0:
        raise DataError(f"{paths[0]}: expected images (n, rows, cols), got shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{paths[1]}: expected a 1-D array of integer labels, got "
                        f"{labels.dtype} shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{paths[1]}: {len(labels)} labels for {len(images)} images in "
                        f"{paths[0].name}; they must match")
    if labels.min() < 0:
        raise DataError(f"{paths[1]}: negative label {labels.min()}; labels must be 0, 1, ...")
    if class_names is None:
        # Classes are 0 to the largest label: a label of 2**31 - 1 would mean two billion
        # class names and an output per class for every image.
        n_classes = int(labels.max()) + 1
        _budget.check(n_classes * (4 * len(labels) + 64),
                      f"{paths[1]}: the largest label {n_classes - 1:,} means {n_classes:,} "
                      f"classes; their outputs for {len(labels):,} images")
        class_names = [str(k) for k in range(n_classes)]
    elif labels.max() >= len(class_names):
        raise DataError(f"{paths[1]}: label {labels.max()} but only {len(class_names)} classes")
    pixels = finite_float32(images, where=lambda i: f"{paths[0]}: image {i[0] + 1} (1-based)")
    return Dataset(
        X=pixels, y=labels.astype(np.int64),
        feature_names=default_feature_names(images.shape[1:]), class_names=list(class_names),
        task="classification", source=str(source or folder))
