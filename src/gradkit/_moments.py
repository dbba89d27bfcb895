"""Count, mean, variance (and covariance) in one streaming pass, merged pairwise in float64.

Chan, Golub & LeVeque's update for two parts A and B with counts n_A, n_B, means m_A, m_B and
sums of squared deviations M2_A, M2_B:

    n = n_A + n_B,   δ = m_B - m_A,   m = m_A + δ n_B / n,
    M2 = M2_A + M2_B + δ² n_A n_B / n          (co-moments: + δ δᵀ n_A n_B / n)

Each block's own mean and M2 are computed directly (NumPy's pairwise sums, float64), so the
result does not drift the way a running sum of x and x² does on data with a large mean.
"""

from __future__ import annotations

import numpy as np

# Rows x features converted to float64 at once: bounds the temporary of a block (8 MB).
_BLOCK_VALUES = 1 << 20


class Moments:
    """Streaming count, mean and M2 per feature, and optionally the co-moment matrix.

    >>> m = Moments(1)
    >>> m.add(np.array([[1.0], [2.0]])); m.add(np.array([[3.0], [4.0]]))
    >>> float(m.mean[0]), float(m.variance[0])
    (2.5, 1.25)
    """

    def __init__(self, n_features: int, *, covariance: bool = False):
        self.count = 0
        self.mean = np.zeros(n_features, np.float64)
        self.m2 = np.zeros(n_features, np.float64)
        self.comoment = np.zeros((n_features, n_features), np.float64) if covariance else None

    def add(self, X: np.ndarray) -> None:
        """Merge the rows of X (n, features), in blocks that bound the float64 temporary."""
        X = np.asarray(X).reshape(len(X), -1)
        step = max(1, _BLOCK_VALUES // max(X.shape[1], 1))
        for start in range(0, len(X), step):
            block = X[start:start + step].astype(np.float64)
            mean = block.mean(axis=0)
            dev = block - mean
            m2 = np.einsum("ij,ij->j", dev, dev)
            comoment = dev.T @ dev if self.comoment is not None else None
            self._merge(len(block), mean, m2, comoment)

    def merge(self, other: Moments) -> None:
        """Merge another Moments (e.g. one worker's share of the data) into this one."""
        self._merge(other.count, other.mean, other.m2, other.comoment)

    def _merge(self, n_b, mean_b, m2_b, comoment_b) -> None:
        if n_b == 0:
            return
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta * delta * (n_a * n_b / n)
        if self.comoment is not None:
            self.comoment = self.comoment + comoment_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.count = n

    @property
    def variance(self) -> np.ndarray:
        """Population variance M2 / n (what `Normalization.adapt` uses)."""
        return self.m2 / max(self.count, 1)

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance (co-moments / n); needs covariance=True."""
        if self.comoment is None:
            raise ValueError("these moments were gathered without covariance=True")
        return self.comoment / max(self.count, 1)
