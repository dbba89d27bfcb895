"""NPY and NPZ label and name arrays that are not what they must be: one DataError naming the
file, the array and the row, not a TypeError or a UnicodeDecodeError from NumPy."""

import numpy as np
import pytest

from gradkit.data import load_npy, load_npz
from gradkit.errors import DataError


def test_a_0d_y_is_refused_with_the_shape_it_needs(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((5, 2), np.float32))
    np.save(tmp_path / "y.npy", np.array(1))
    with pytest.raises(DataError, match=r"array 'y' is a single value \(1\).*shape \(5,\)"):
        load_npy(tmp_path)


def test_bytes_labels_that_are_not_utf8_name_their_row(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((3, 2), np.float32))
    np.save(tmp_path / "y.npy", np.array([b"a", b"caf\xc3\xa9", b"\xff"]))
    with pytest.raises(DataError, match=r"array 'y', row 3 \(1-based\): b'\\xff' is not UTF-8"):
        load_npy(tmp_path)
    np.save(tmp_path / "y.npy", np.array([b"a", b"caf\xc3\xa9", b"a"]))
    assert load_npy(tmp_path).class_names == ["a", "café"]


def test_npz_feature_names_that_are_not_utf8_name_the_array(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2), np.float32), y=np.array([0, 1, 0]),
             feature_names=np.array([b"ok", b"\xfe\xff"]))
    with pytest.raises(DataError, match=r"d.npz: array 'feature_names', row 2 \(1-based\)"):
        load_npz(path)
