"""Built-in data sets by name: scikit-learn's offline sets, seeded toys, and fetched IDX sets."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from gradkit.data import synthetic
from gradkit.data.dataset import Dataset
from gradkit.data.download import REMOTES, dataset_dir, is_fetched
from gradkit.data.idx import load_idx
from gradkit.errors import DataError

# name -> (scikit-learn loader, description); all ship with scikit-learn, no network needed.
SKLEARN_SETS = {
    "digits": ("load_digits",
               "8x8 images of handwritten digits, 1797 samples, 64 features, 10 classes"),
    "iris": ("load_iris", "iris flowers, 150 samples, 4 features, 3 classes"),
    "wine": ("load_wine", "wine cultivars, 178 samples, 13 features, 3 classes"),
    "breast_cancer": ("load_breast_cancer",
                      "breast tumours, 569 samples, 30 features, 2 classes"),
    "diabetes": ("load_diabetes",
                 "diabetes progression after one year, 442 samples, 10 features, regression"),
}

SYNTHETIC_SETS = {
    "xor": (synthetic.make_xor, "XOR of the signs of two coordinates, 2 classes (seeded)"),
    "spirals": (synthetic.make_spirals, "interleaved spirals, 2 classes by default (seeded)"),
    "moons": (synthetic.make_moons, "two interleaved half circles, 2 classes (seeded)"),
    "circles": (synthetic.make_circles, "a circle inside a circle, 2 classes (seeded)"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """One line of `list_datasets()`."""

    name: str
    description: str
    available: bool


def builtin_names() -> list[str]:
    return [*SKLEARN_SETS, *SYNTHETIC_SETS, *REMOTES]


def canonical_name(name) -> str | None:
    """The registry name for `name` ("Breast-Cancer" -> "breast_cancer", "fashion_mnist" ->
    "fashion-mnist"), or None if it is not a built-in."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    for candidate in (key, key.replace("-", "_"), key.replace("_", "-")):
        if candidate in SKLEARN_SETS or candidate in SYNTHETIC_SETS or candidate in REMOTES:
            return candidate
    return None


def list_datasets(*, cache_dir=None) -> list[DatasetInfo]:
    """Every built-in name with a one-line description and whether it can be loaded now
    (scikit-learn installed; mnist / fashion-mnist fetched into the cache)."""
    has_sklearn = importlib.util.find_spec("sklearn") is not None
    infos = [DatasetInfo(name, f"{text} (scikit-learn, offline)", has_sklearn)
             for name, (_, text) in SKLEARN_SETS.items()]
    infos += [DatasetInfo(name, text, True) for name, (_, text) in SYNTHETIC_SETS.items()]
    infos += [DatasetInfo(name, remote.description, is_fetched(name, cache_dir))
              for name, remote in REMOTES.items()]
    return infos


def _load_sklearn(name: str) -> Dataset:
    try:
        from sklearn import datasets
    except ImportError:
        raise DataError(f"built-in data set {name!r} comes with scikit-learn, which is not "
                        "installed; install it with: pip install scikit-learn") from None
    loader_name, _ = SKLEARN_SETS[name]
    # Unscaled diabetes features: the model's Normalization layer standardizes them itself.
    options = {"scaled": False} if name == "diabetes" else {}
    bunch = getattr(datasets, loader_name)(**options)
    regression = name == "diabetes"
    target = np.asarray(bunch.target)
    return Dataset(
        X=np.asarray(bunch.data, dtype=np.float32),
        y=target.astype(np.float32) if regression else target.astype(np.int64),
        feature_names=[str(feature) for feature in bunch.feature_names],
        class_names=None if regression else [str(c) for c in bunch.target_names],
        task="regression" if regression else "classification", source=name)


def load_builtin(name: str, *, split: str | None = None, cache_dir=None, **options) -> Dataset:
    """Load a built-in data set by name.

    Args:
        name: one of `builtin_names()` (case and -/_ do not matter).
        split: "train" (default) or "test"; only for mnist / fashion-mnist.
        cache_dir: where `fetch` stored mnist / fashion-mnist (default `$GRADKIT_HOME` or
            `~/.cache/gradkit`).
        **options: for the synthetic sets: n_samples, noise, seed (and n_classes for spirals,
            factor for circles).
    """
    key = canonical_name(name)
    if key is None:
        raise DataError(f"no built-in data set {name!r}; choose from {', '.join(builtin_names())}")
    if key in SYNTHETIC_SETS:
        _reject_split(key, split)
        make, _ = SYNTHETIC_SETS[key]
        try:
            return make(**options)
        except TypeError:
            raise DataError(f"{key} takes the options n_samples, noise, seed (see "
                            f"gradkit.data.make_{key}), got {', '.join(options)}") from None
    if options:
        raise DataError(f"{key} takes no options, got {', '.join(options)}")
    if key in SKLEARN_SETS:
        _reject_split(key, split)
        return _load_sklearn(key)
    folder = dataset_dir(key, cache_dir)
    if not is_fetched(key, cache_dir):
        raise DataError(f"{key} is not downloaded yet; run `gradkit datasets fetch {key}` "
                        f"(looked in {folder})")
    return load_idx(folder, split=split or "train", class_names=REMOTES[key].class_names,
                    source=key)


def _reject_split(name: str, split) -> None:
    if split is not None:
        raise DataError(f"{name} has no predefined splits, got split={split!r}; "
                        "use train_val_test_split")
