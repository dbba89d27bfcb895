"""Seeded two-dimensional toy problems: xor, spirals, moons, circles.

Each generator draws clean points per class, adds Gaussian noise of standard deviation `noise`
to the coordinates, and shuffles the rows; the same seed gives the same array on every machine.
xor and spirals use NumPy's PCG64 `default_rng`; moons and circles are scikit-learn's own
(`sklearn.datasets`, imported when they are called), with `seed` as their random_state.
"""

from __future__ import annotations

import math

import numpy as np

from gradkit.data.dataset import Dataset
from gradkit.errors import DataError


def _check(n_samples, noise, seed, *, min_samples: int = 2) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < min_samples:
        raise DataError(f"n_samples must be an integer >= {min_samples}, "
                        f"got n_samples={n_samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating, np.integer)) \
            or not math.isfinite(noise) or noise < 0:
        raise DataError(f"noise must be a finite number >= 0, got noise={noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed must be an integer, got seed={seed!r}")


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split n as evenly as possible; the first n % k classes get one more."""
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _finish(name: str, parts: list[np.ndarray], rng, noise: float, settings: dict) -> Dataset:
    X = np.concatenate(parts)
    y = np.concatenate([np.full(len(part), k, dtype=np.int64) for k, part in enumerate(parts)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(X))
    shown = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    return Dataset(X=X[order].astype(np.float32), y=y[order], feature_names=["x0", "x1"],
                   class_names=[str(k) for k in range(len(parts))], task="classification",
                   source=f"{name}({shown})")


def make_xor(*, n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """XOR: points uniform in [-1, 1]^2, class y = [x0 > 0] XOR [x1 > 0] (before the noise).

    The lecture's example of a problem no linear model separates; one hidden layer does.
    """
    _check(n_samples, noise, seed)
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    label = (points[:, 0] > 0) ^ (points[:, 1] > 0)
    return _finish("xor", [points[~label], points[label]], rng, noise,
                   {"n_samples": n_samples, "noise": noise, "seed": seed})


def make_spirals(*, n_samples: int = 200, noise: float = 0.1, seed: int = 0,
                 n_classes: int = 2) -> Dataset:
    """Interleaved spirals: class k has radius r in [0.05, 1] and angle
    theta = 3*pi*r + 2*pi*k / n_classes, point (r cos theta, r sin theta)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 2:
        raise DataError(f"n_classes must be an integer >= 2, got n_classes={n_classes!r}")
    _check(n_samples, noise, seed, min_samples=n_classes)
    rng = np.random.default_rng(seed)
    parts = []
    for k, size in enumerate(_class_sizes(n_samples, n_classes)):
        r = np.linspace(0.05, 1.0, size)
        theta = 3.0 * np.pi * r + 2.0 * np.pi * k / n_classes
        parts.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    return _finish("spirals", parts, rng, noise,
                   {"n_samples": n_samples, "noise": noise, "seed": seed, "n_classes": n_classes})


def _from_sklearn(name: str, X, y, settings: dict) -> Dataset:
    shown = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    return Dataset(X=np.asarray(X, dtype=np.float32), y=np.asarray(y, dtype=np.int64),
                   feature_names=["x0", "x1"], class_names=["0", "1"], task="classification",
                   source=f"{name}({shown})")


def make_moons(*, n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaved half circles: scikit-learn's `make_moons` (seed is its random_state).

    Class 0, (cos t, sin t), gets n_samples // 2 points; class 1, (1 - cos t, 0.5 - sin t),
    the rest; t in [0, pi].
    """
    _check(n_samples, noise, seed)
    from sklearn.datasets import make_moons as sk_make_moons

    X, y = sk_make_moons(n_samples=int(n_samples), noise=float(noise), random_state=int(seed))
    return _from_sklearn("moons", X, y, {"n_samples": n_samples, "noise": noise, "seed": seed})


def make_circles(*, n_samples: int = 200, noise: float = 0.1, seed: int = 0,
                 factor: float = 0.5) -> Dataset:
    """A circle of radius 1 (class 0, n_samples // 2 points) around one of radius `factor`
    (class 1): scikit-learn's `make_circles` (seed is its random_state)."""
    if not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise DataError(f"factor must be between 0 and 1 (exclusive), got factor={factor!r}")
    _check(n_samples, noise, seed)
    from sklearn.datasets import make_circles as sk_make_circles

    X, y = sk_make_circles(n_samples=int(n_samples), noise=float(noise), random_state=int(seed),
                           factor=float(factor))
    return _from_sklearn("circles", X, y, {"n_samples": n_samples, "noise": noise, "seed": seed,
                                           "factor": factor})
