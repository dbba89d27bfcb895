"""Built-in data sets: scikit-learn's, the seeded toys, list_datasets, lazy heavy imports."""

import subprocess
import sys

import numpy as np
import pytest

from gradkit.data import (Dataset, DataError, list_datasets, load, make_circles, make_moons,
                          make_spirals, make_xor)


@pytest.mark.parametrize("name, shape, classes", [
    ("digits", (1797, 64), 10), ("iris", (150, 4), 3), ("wine", (178, 13), 3),
    ("breast_cancer", (569, 30), 2)])
def test_sklearn_classification_sets(name, shape, classes):
    ds = load(name)
    assert ds.X.shape == shape and ds.X.dtype == np.float32
    assert ds.task == "classification" and len(ds.class_names) == classes
    assert ds.y.dtype == np.int64 and set(ds.y.tolist()) == set(range(classes))
    assert len(ds.feature_names) == shape[1] and ds.source == name


def test_iris_names_and_diabetes_regression():
    iris = load("Iris")
    assert iris.class_names == ["setosa", "versicolor", "virginica"]
    assert iris.feature_names[0] == "sepal length (cm)"
    diabetes = load("diabetes")
    assert diabetes.task == "regression" and diabetes.class_names is None
    assert diabetes.y.dtype == np.float32 and diabetes.X.shape == (442, 10)
    assert diabetes.X[:, 0].max() > 1  # raw ages, not scikit-learn's scaled version
    assert load("breast-cancer").class_names == ["malignant", "benign"]


@pytest.mark.parametrize("make", [make_xor, make_spirals, make_moons, make_circles])
def test_synthetic_sets_are_seeded(make):
    a, b = make(n_samples=101, seed=3), make(n_samples=101, seed=3)
    assert isinstance(a, Dataset) and a.X.shape == (101, 2) and a.X.dtype == np.float32
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, make(n_samples=101, seed=4).X)


def test_synthetic_geometry_without_noise():
    xor = make_xor(n_samples=400, noise=0.0)
    assert np.array_equal(xor.y, ((xor.X[:, 0] > 0) ^ (xor.X[:, 1] > 0)).astype(int))
    circles = make_circles(n_samples=200, noise=0.0, factor=0.5)
    radius = np.hypot(circles.X[:, 0], circles.X[:, 1])
    np.testing.assert_allclose(radius, np.where(circles.y == 0, 1.0, 0.5), rtol=1e-6)
    moons = make_moons(n_samples=101, noise=0.0)
    assert np.bincount(moons.y).tolist() == [50, 51]
    spirals = make_spirals(n_samples=300, noise=0.0, n_classes=3)
    assert np.bincount(spirals.y).tolist() == [100, 100, 100] and spirals.class_names == \
        ["0", "1", "2"]


@pytest.mark.parametrize("name, extra", [("make_moons", {}), ("make_circles", {"factor": 0.3})])
def test_moons_and_circles_are_scikit_learns(name, extra):
    datasets = pytest.importorskip("sklearn.datasets", reason="the reference generators")
    ours = {"make_moons": make_moons, "make_circles": make_circles}[name](
        n_samples=77, noise=0.2, seed=5, **extra)
    X, y = getattr(datasets, name)(n_samples=77, noise=0.2, random_state=5, **extra)
    np.testing.assert_array_equal(ours.X, X.astype(np.float32))
    np.testing.assert_array_equal(ours.y, y)


def test_load_passes_synthetic_options():
    ds = load("spirals", n_samples=60, noise=0.0, seed=1, n_classes=3)
    assert len(ds) == 60 and ds.n_classes == 3
    assert ds.source == "spirals(n_samples=60, noise=0.0, seed=1, n_classes=3)"


@pytest.mark.parametrize("kwargs, message", [
    ({"n_samples": 1}, "n_samples must be an integer >= 2, got n_samples=1"),
    ({"noise": -0.5}, "noise must be a finite number >= 0, got noise=-0.5"),
    ({"seed": 1.5}, "seed must be an integer, got seed=1.5"),
])
def test_synthetic_settings_are_checked(kwargs, message):
    with pytest.raises(DataError) as info:
        make_moons(**kwargs)
    assert str(info.value) == message


def test_unknown_names_and_options():
    with pytest.raises(DataError) as info:
        load("cifar")
    assert str(info.value).startswith("cifar: no such file, and not a built-in data set (digits")
    with pytest.raises(DataError) as info:
        load("iris", split="test")
    assert str(info.value) == ("iris has no predefined splits, got split='test'; use "
                               "train_val_test_split")
    with pytest.raises(DataError) as info:
        load("iris", target="species")
    assert str(info.value) == "iris: target='species' does not apply to built-in data"
    with pytest.raises(DataError) as info:
        load("xor", n_sample=10)
    assert str(info.value) == ("xor takes the options n_samples, noise, seed (see "
                               "gradkit.data.make_xor), got n_sample")


def test_mnist_not_fetched_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError) as info:
        load("fashion_mnist", cache_dir=tmp_path)
    assert str(info.value) == (
        "fashion-mnist is not downloaded yet; run `gradkit datasets fetch fashion-mnist` "
        f"(looked in {tmp_path / 'datasets' / 'fashion-mnist'})")


def test_list_datasets(tmp_path):
    infos = {info.name: info for info in list_datasets(cache_dir=tmp_path)}
    assert list(infos) == ["digits", "iris", "wine", "breast_cancer", "diabetes", "xor",
                           "spirals", "moons", "circles", "mnist", "fashion-mnist"]
    assert infos["iris"].available and infos["xor"].available
    assert not infos["mnist"].available and not infos["fashion-mnist"].available
    assert all(info.description and "\n" not in info.description for info in infos.values())


def test_import_stays_light():
    code = ("import sys, gradkit.data; "
            "print(sorted(m for m in ('pyarrow', 'sklearn', 'scipy', 'urllib.request') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
