"""IDX files: header parsing for every type code, gzip, truncation, folders of splits."""

import gzip
import struct

import numpy as np
import pytest

from gradkit.data import DataError, encode_like, load, load_idx, read_idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialize like the MNIST files: magic 00 00 code ndim, big-endian sizes and values."""
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_split(folder, split, images, labels, gz=True):
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if gz else ""
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        data = idx_bytes(array)
        path = folder / f"{prefix}-{kind}-ubyte{suffix}"
        path.write_bytes(gzip.compress(data) if gz else data)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_every_type_code_round_trips(tmp_path, dtype, gz):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != np.uint8 else \
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    data = idx_bytes(array)
    path = tmp_path / ("a.gz" if gz else "a")
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_truncated_and_overlong_files(tmp_path):
    data = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
    (tmp_path / "short").write_bytes(data[:-5])
    assert error_of(read_idx, tmp_path / "short") == (
        f"{tmp_path / 'short'}: truncated: the header promises 3x2x2 uint8 values (12 bytes) but "
        "the file holds 7 bytes of data")
    (tmp_path / "long").write_bytes(data + b"\x00")
    assert error_of(read_idx, tmp_path / "long") == (
        f"{tmp_path / 'long'}: more data than the header's 3x2x2 uint8 values (12 bytes); is it "
        "two files joined together?")
    (tmp_path / "header").write_bytes(data[:9])
    assert error_of(read_idx, tmp_path / "header") == (
        f"{tmp_path / 'header'}: truncated: the header announces 3 dimensions but the file ends "
        "inside the list of sizes")


def test_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(4000, dtype=np.int32).reshape(1000, 4)))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    assert error_of(read_idx, tmp_path / "cut.gz").startswith(
        f"{tmp_path / 'cut.gz'}: cannot read the file (")


def test_huge_header_claim_does_not_allocate(tmp_path):
    header = bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 4_000_000_000, 4_000_000_000, 1000)
    (tmp_path / "liar").write_bytes(header + b"\x00" * 16)
    assert "truncated: the header promises" in error_of(read_idx, tmp_path / "liar")


def test_bad_magic(tmp_path):
    (tmp_path / "x").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    assert error_of(read_idx, tmp_path / "x") == (
        f"{tmp_path / 'x'}: not an IDX file: first bytes are 01020801; expected 00 00, a type "
        "code (08 09 0b 0c 0d 0e) and the dimension count")


def test_folder_splits(tmp_path):
    images = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    write_split(tmp_path, "train", images, np.array([0, 1, 2, 1, 0], dtype=np.uint8))
    write_split(tmp_path, "test", images[:2], np.array([2, 2], dtype=np.uint8), gz=False)
    train = load(tmp_path)
    assert train.X.shape == (5, 2, 3) and train.X.dtype == np.float32
    np.testing.assert_array_equal(train.X, images)
    assert train.y.tolist() == [0, 1, 2, 1, 0] and train.class_names == ["0", "1", "2"]
    assert train.feature_names[:4] == ["pixel_0_0", "pixel_0_1", "pixel_0_2", "pixel_1_0"]
    test = load_idx(tmp_path, split="test", class_names=["a", "b", "c"])
    assert test.y.tolist() == [2, 2] and test.class_names == ["a", "b", "c"]


def test_dotted_file_names(tmp_path):
    (tmp_path / "train-images.idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 2, 2), np.uint8)))
    (tmp_path / "train-labels.idx1-ubyte").write_bytes(idx_bytes(np.array([1, 0], np.uint8)))
    assert len(load(tmp_path)) == 2


def test_folder_errors(tmp_path):
    write_split(tmp_path, "train", np.zeros((3, 2, 2), np.uint8), np.zeros(2, np.uint8))
    assert error_of(load, tmp_path) == (
        f"{tmp_path / 'train-labels-idx1-ubyte.gz'}: 2 labels for 3 images in "
        "train-images-idx3-ubyte.gz; they must match")
    assert error_of(load, tmp_path, split="test") == (
        f"{tmp_path}: no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz; an IDX folder "
        "holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte (optionally .gz)")
    assert error_of(load, tmp_path / "train-images-idx3-ubyte.gz") == (
        f"{tmp_path / 'train-images-idx3-ubyte.gz'}: an IDX file; pass the folder that holds the "
        "images and labels files instead")


def test_encode_like_reads_the_test_split_where_the_folder_has_one(tmp_path):
    train_images = np.zeros((6, 2, 2), np.uint8)
    write_split(tmp_path, "train", train_images, np.array([0, 1, 2] * 2, np.uint8))
    schema = load(tmp_path).schema()
    # Only train files: evaluating reads them, as it did.
    assert len(encode_like(tmp_path, schema, require_target=True).X) == 6
    write_split(tmp_path, "test", np.ones((3, 2, 2), np.uint8), np.array([2, 1, 0], np.uint8))
    held_out = encode_like(tmp_path, schema, require_target=True)
    assert held_out.X.shape == (3, 2, 2) and held_out.y.tolist() == [2, 1, 0]
