"""NPZ and NPY pairs, including hostile files that would run code if unpickled."""

import pickle
import zipfile

import numpy as np
import pytest

from gradkit.data import DataError, load, load_npy, load_npz


class Booby:
    """Unpickling this would create the marker file: proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def hostile(marker):
    return np.array([Booby(marker), 1], dtype=object)


def error_of(load_fn, path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_fn(path, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_npz_classification(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6, dtype=np.uint8).reshape(3, 2), y=np.array([1, 0, 1]))
    ds = load(path)
    assert ds.X.dtype == np.float32 and ds.X.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert ds.y.tolist() == [1, 0, 1] and ds.class_names == ["0", "1"]
    assert ds.feature_names == ["x0", "x1"] and ds.task == "classification"


def test_npz_names_strings_and_regression(tmp_path):
    path = tmp_path / "named.npz"
    np.savez(path, X=np.ones((2, 2)), y=np.array([0, 2]), feature_names=np.array(["a", "b"]),
             class_names=np.array(["cat", "dog", "eel"]))
    ds = load_npz(path)
    assert ds.feature_names == ["a", "b"] and ds.class_names == ["cat", "dog", "eel"]
    assert ds.y.tolist() == [0, 2]
    np.savez(tmp_path / "s.npz", X=np.ones((3, 1)), y=np.array(["no", "yes", "no"]))
    strings = load(tmp_path / "s.npz")
    assert strings.class_names == ["no", "yes"] and strings.y.tolist() == [0, 1, 0]
    np.savez(tmp_path / "r.npz", X=np.ones((2, 1)), y=np.array([0.5, 1.5]))
    assert load(tmp_path / "r.npz").task == "regression"
    np.savez(tmp_path / "m.npz", X=np.ones((2, 1)), y=np.array([[0, 1], [1, 1]]))
    multi = load(tmp_path / "m.npz")
    assert multi.task == "multilabel" and multi.class_names == ["label0", "label1"]


def test_images_keep_their_shape(tmp_path):
    np.savez(tmp_path / "img.npz", X=np.zeros((4, 3, 2)), y=np.arange(4))
    ds = load(tmp_path / "img.npz")
    assert ds.X.shape == (4, 3, 2) and ds.n_features == 6
    assert ds.feature_names[:3] == ["pixel_0_0", "pixel_0_1", "pixel_1_0"]
    assert ds.flatten().X.shape == (4, 6)


def test_npz_bad_contents(tmp_path):
    np.savez(tmp_path / "nox.npz", x_train=np.ones((2, 2)))
    path = tmp_path / "nox.npz"
    assert error_of(load, path) == (f"{path}: no array named 'X' (found: 'x_train'); "
                                    "expected X and optionally y, feature_names, class_names")
    # A member's name is the file's bytes: a newline in it stays inside the one line.
    with zipfile.ZipFile(tmp_path / "newline.npz", "w") as z:
        z.writestr("x\ny.npy", (tmp_path / "nox.npz").read_bytes()[:0])
    message = error_of(load, tmp_path / "newline.npz")
    assert "\n" not in message and "'x\\ny'" in message
    np.savez(tmp_path / "flat.npz", X=np.ones(3))
    assert error_of(load, tmp_path / "flat.npz") == (
        f"{tmp_path / 'flat.npz'}: array 'X' has shape (3,); expected (n_samples, n_features, "
        "...); use X.reshape(-1, 1) for one feature")
    np.savez(tmp_path / "len.npz", X=np.ones((3, 2)), y=np.ones(2, dtype=int))
    assert error_of(load, tmp_path / "len.npz") == (
        f"{tmp_path / 'len.npz'}: X has 3 rows but y has 2; they must match")
    X = np.ones((3, 2))
    X[1, 0] = np.nan
    np.savez(tmp_path / "nan.npz", X=X)
    assert error_of(load, tmp_path / "nan.npz") == (
        f"{tmp_path / 'nan.npz'}: array 'X', row 2 (1-based; X[1, 0]): value nan is NaN or "
        "infinite; clean the data or drop that row")
    np.savez(tmp_path / "text.npz", X=np.array([["a", "b"]]))
    assert error_of(load, tmp_path / "text.npz") == (
        f"{tmp_path / 'text.npz'}: array 'X' has dtype <U1; expected numbers")


def test_npz_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, X=hostile(marker), y=np.array([0, 1]))
    assert error_of(load, path) == (
        f"{path}: array 'X' holds pickled Python objects (dtype=object); gradkit never "
        "unpickles data files because that can run code; save plain numeric or string arrays")
    np.savez(tmp_path / "evil_y.npz", X=np.ones((2, 1)), y=hostile(marker))
    assert "array 'y' holds pickled Python objects" in error_of(load, tmp_path / "evil_y.npz")
    assert not marker.exists()


def test_npy_object_array_and_raw_pickle_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    np.save(tmp_path / "evil_X.npy", hostile(marker))
    assert "array 'X' holds pickled Python objects" in error_of(load, tmp_path / "evil_X.npy")
    (tmp_path / "X.npy").write_bytes(pickle.dumps(Booby(marker)))
    assert "array 'X' holds pickled Python objects" in error_of(load_npy, tmp_path / "X.npy")
    (tmp_path / "p.npz").write_bytes(pickle.dumps(Booby(marker)))
    assert "holds pickled Python objects" in error_of(load, tmp_path / "p.npz")
    assert not marker.exists()


def test_npy_pairs(tmp_path):
    np.save(tmp_path / "run_X.npy", np.ones((3, 2)))
    np.save(tmp_path / "run_y.npy", np.array([0.5, 1.0, 2.0]))
    ds = load(tmp_path / "run_X.npy")
    assert ds.task == "regression" and ds.y.tolist() == [0.5, 1.0, 2.0]
    folder = tmp_path / "pair"
    folder.mkdir()
    np.save(folder / "X.npy", np.zeros((2, 2)))
    unlabeled = load(folder)
    assert unlabeled.y is None and unlabeled.X.shape == (2, 2)
    np.save(folder / "y.npy", np.array([1, 1]))
    assert load(folder / "X.npy").class_names == ["1"]


def test_npy_naming_errors(tmp_path):
    np.save(tmp_path / "run_y.npy", np.ones(2))
    assert error_of(load, tmp_path / "run_y.npy") == (
        f"{tmp_path / 'run_y.npy'}: this is a labels file; pass the features file (run_X.npy) "
        "instead")
    np.save(tmp_path / "data.npy", np.ones((2, 2)))
    assert error_of(load, tmp_path / "data.npy") == (
        f"{tmp_path / 'data.npy'}: cannot tell features from labels; name the pair NAME_X.npy "
        "and NAME_y.npy (or X.npy and y.npy), or save both in one .npz with np.savez")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "t_X.npy", np.ones((100, 10)))
    data = (tmp_path / "t_X.npy").read_bytes()
    (tmp_path / "t_X.npy").write_bytes(data[:500])
    assert error_of(load, tmp_path / "t_X.npy").startswith(
        f"{tmp_path / 't_X.npy'}: cannot read array 'X' (")


def test_an_npy_that_starts_like_a_zip_is_refused_as_unreadable(tmp_path):
    # np.load opens bytes that begin with a zip signature as an archive: zipfile's own
    # BadZipFile, not a ValueError (Hypothesis found it at 1,500 examples).
    np.save(tmp_path / "X.npy", np.ones((3, 2)))
    path = tmp_path / "X.npy"
    path.write_bytes(b"PK\x03\x04" + path.read_bytes())
    assert "cannot read array 'X'" in error_of(load, path)
