"""Normalization: preprocessing statistics adapted once on the training split, saved with the model.

The notes (001): networks work best with zero-mean, unit-variance inputs, x̃ = (x - μ) ⊘ σ; "in
practice you might also see PCA and whitening"; the DESY notes (004) add that data living on a
low-dimensional subspace survives "a randomly chosen set of M axes" (Johnson-Lindenstrauss). The
statistics are buffers, so they go in the state dict and a saved model carries its own
preprocessing.
"""

from __future__ import annotations

import numpy as np

import gradkit.autograd as ag
from gradkit.errors import ConfigError
from gradkit._streams import is_stream
from gradkit.autograd import Tensor
from gradkit.nn.layers._random import check_seed
from gradkit.nn.module import Layer, register

MODES = ("standardize", "pca", "whiten", "random_projection")


class NotAdaptedError(RuntimeError):
    """A Normalization layer ran before `adapt()` (or a loaded state dict) gave it statistics."""


@register
class Normalization(Layer):
    """Standardize, project on principal components, or whiten, with statistics from `adapt(X)`.

        standardize:  z = (x - μ) / σ                       per feature (the last axis)
        pca:          z = ((x - μ) / σ) U_k                  U_k: the k leading eigenvectors of
                                                             the covariance of the standardized data
        whiten:       z = ((x - μ) / σ) U_k diag(1/sqrt(λ_k + eps))   → identity covariance
        random_projection:  z = ((x - μ) / σ) R      R: (D, k), entries N(0, 1/k), drawn once
                                                     (scikit-learn's GaussianRandomProjection)

    PCA and whitening work on the standardized features (their correlation matrix), so features
    in different units weigh the same and `eps` is relative to unit variance. Eigenvectors come
    from `np.linalg.eigh`, sorted by decreasing eigenvalue, each signed so that its largest entry
    is positive (the same data always gives the same projection). σ is the population standard
    deviation; a constant feature gets σ = 1 (it becomes 0, not NaN).

    By the Johnson-Lindenstrauss lemma a random R keeps every pairwise distance of n points
    within a factor 1 ± ε when k ≥ 4 ln n / (ε²/2 − ε³/3); it costs no eigendecomposition.

    Args:
        mode: "standardize" (default), "pca", "whiten" or "random_projection".
        n_components: how many principal components to keep (pca/whiten only; default all), or
            the projection's dimension k (random_projection: required, may exceed D).
        eps: added to the eigenvalues before whitening, > 0; default 1e-5.
        seed: seed of the random projection's R (random_projection only; None: a fresh one).

    Buffers: mean, std, count (samples adapted on; 0 = not adapted), and for pca/whiten
    components (D, k) and explained_variance (k,).

    >>> norm = Normalization()
    >>> norm.adapt(np.array([[1.0], [3.0]])).mean.tolist(), norm.std.tolist()
    ([2.0], [1.0])
    """

    def __init__(self, mode="standardize", n_components=None, *, eps=1e-5, seed=None,
                 name=None, dtype=np.float32):
        super().__init__(name=name, dtype=dtype)
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got mode={mode!r}")
        if n_components is not None:
            if mode == "standardize":
                raise ConfigError("n_components is for mode='pca' or 'whiten', got "
                                 f"n_components={n_components!r} with mode='standardize'")
            if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
                    or n_components < 1:
                raise ConfigError("n_components must be None or a positive integer, got "
                                 f"n_components={n_components!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)) or eps <= 0:
            raise ConfigError(f"eps must be a number > 0, got eps={eps!r}")
        if mode == "random_projection" and n_components is None:
            raise ConfigError("mode='random_projection' needs n_components (the projected "
                             "dimension k), got n_components=None")
        if seed is not None and mode != "random_projection":
            raise ConfigError(f"seed is for mode='random_projection', got seed={seed!r} with "
                             f"mode={mode!r}")
        self.seed = check_seed(seed)
        self.mode = mode
        self.n_components = None if n_components is None else int(n_components)
        self.eps = float(eps)
        self._buffers = ("mean", "std", "count")
        if mode in ("pca", "whiten"):
            self._buffers += ("components", "explained_variance")
        elif mode == "random_projection":
            self._buffers += ("components",)
        for buffer in self._buffers:
            setattr(self, buffer, None)

    @property
    def adapted(self):
        return self.count is not None and int(self.count) > 0

    def weight_count(self, input_shape):
        d = int(input_shape[-1])
        k = d if self.n_components is None else self.n_components
        return 2 * d + 1 + {"standardize": 0, "random_projection": d * k}.get(self.mode,
                                                                               d * k + k)

    def build(self, input_shape, rng=None):
        input_shape = tuple(int(n) for n in input_shape)
        if self.mode != "standardize" and len(input_shape) != 1:
            raise ValueError(f"Normalization(mode={self.mode!r}) needs inputs of shape "
                             f"(samples, features), got per-sample shape {input_shape}")
        if len(input_shape) < 1:
            raise ValueError(f"Normalization needs inputs with a feature axis, got {input_shape}")
        d = input_shape[-1]
        k = d if self.n_components is None else self.n_components
        if k > d and self.mode != "random_projection":
            raise ValueError(f"n_components={k} is more than the {d} input features")
        self.mean = np.zeros(d, dtype=self.dtype)
        self.std = np.ones(d, dtype=self.dtype)
        self.count = np.zeros((), dtype=np.int64)
        if self.mode != "standardize":
            self.components = np.zeros((d, k), dtype=self.dtype)
        if self.mode in ("pca", "whiten"):
            self.explained_variance = np.ones(k, dtype=self.dtype)
        super().build(input_shape)

    def adapt(self, X):
        """Compute the statistics from training data X, shape (samples, ..., features), or from
        a `gradkit.data.Stream` (its statistics pass: float64 moments merged pairwise, the same
        numbers to float32 precision without holding the data); returns self."""
        if is_stream(X):
            return self._adapt_stream(X)
        X = np.asarray(X.data if isinstance(X, Tensor) else X)
        if X.ndim < 2 or X.shape[0] < 1:
            raise ValueError(f"adapt needs an array of shape (samples, features), got {X.shape}")
        X = X.astype(np.float64, copy=False)
        bad = ~np.isfinite(X)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"adapt needs finite values, got {X[where]} at index {where} "
                             f"({int(bad.sum())} non-finite values in all)")
        if not self.built or self.input_shape != X.shape[1:]:
            self.build(X.shape[1:])
        flat = X.reshape(-1, X.shape[-1])
        mean = flat.mean(axis=0)
        std = self._set_moments(flat.shape[0], mean, flat.std(axis=0))

        def correlation():
            z = (flat - mean) / std
            return z.T @ z / z.shape[0]

        self._set_components(correlation)
        return self

    def _set_moments(self, count, mean, std):
        # A constant column's std is 0, or rounding noise far below its mean: keep it at 0.
        std = np.where(std > 1e-10 * np.abs(mean), std, 1.0)
        self.mean[...] = mean
        self.std[...] = std
        self.count[...] = count
        return std

    def _set_components(self, correlation):
        """Random components, or the principal components of `correlation()` (the covariance
        of the standardized features, computed only where it is needed)."""
        if self.mode == "random_projection":
            d, k = self.components.shape
            rng = np.random.default_rng(self.seed)
            self.components[...] = rng.normal(0.0, 1.0 / np.sqrt(k), size=(d, k))
        elif self.mode != "standardize":
            self._adapt_pca(correlation())

    def _adapt_stream(self, stream):
        stats = stream.statistics(covariance=self.mode in ("pca", "whiten"))
        if stats.count < 1:
            raise ValueError(f"adapt needs at least one row, the stream {stream!r} has none")
        shape = (stream.n_features,)
        if not self.built or self.input_shape != shape:
            self.build(shape)
        moments = stats.moments
        std = self._set_moments(stats.count, moments.mean, np.sqrt(moments.variance))
        self._set_components(lambda: moments.covariance / np.outer(std, std))
        return self

    def _adapt_pca(self, cov):
        """Components and variances from the covariance of the standardized features."""
        eigval, eigvec = np.linalg.eigh(cov)
        k = self.components.shape[1]
        order = np.argsort(eigval)[::-1][:k]
        eigval, eigvec = np.clip(eigval[order], 0.0, None), eigvec[:, order]
        peak = np.argmax(np.abs(eigvec), axis=0)
        eigvec *= np.sign(eigvec[peak, np.arange(k)])
        self.components[...] = eigvec
        self.explained_variance[...] = eigval

    def forward(self, x):
        if not self.adapted:
            raise NotAdaptedError(
                f"Normalization(mode={self.mode!r}) has no statistics yet: call "
                "layer.adapt(X_train) on the training inputs (or load a state dict) before use")
        dt = x.dtype
        if self.mode == "standardize":
            return (x - self.mean.astype(dt)) * (1.0 / self.std).astype(dt)
        # Fold the scaling into one (D, k) matrix: one subtraction and one matmul per batch.
        matrix = self.components / self.std[:, None].astype(np.float64)
        if self.mode == "whiten":
            matrix = matrix / np.sqrt(self.explained_variance.astype(np.float64) + self.eps)
        return ag.matmul(x - self.mean.astype(dt), matrix.astype(dt))

    def compute_output_shape(self, input_shape):
        if self.mode == "standardize":
            return tuple(input_shape)
        return (input_shape[-1] if self.n_components is None else self.n_components,)

    def get_config(self):
        config = {"mode": self.mode, "n_components": self.n_components, "eps": self.eps,
                  "name": self.name, "dtype": self.dtype.name}
        if self.mode == "random_projection":
            config["seed"] = self.seed
        return config
