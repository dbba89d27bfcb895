"""Preprocessing: raw, standardized, PCA-rotated and whitened point clouds

The KIT notes (001_55bdccef08b64fc2.txt) say networks "work best with zero-mean unit variance
data", x̃ = (x − μ) ⊘ σ, that "in practice you might also see PCA and whitening", and that before
normalization the loss is "very sensitive to changes in weight matrix; hard to optimize". The
first four panels put one correlated 2-D cloud (means 6 and −3, standard deviations 3 and 0.5,
correlation 0.8; two classes split by a tilted line) through `gk.layers.Normalization` in its
three modes, each adapted on the data (`layer.adapt(X)`): "standardize" centres and scales each
feature; "pca" rotates the standardized cloud onto its principal axes, so the features are
uncorrelated with variances equal to the eigenvalues, largest first; "whiten" also divides by their
square roots, giving the identity covariance. The last panel trains the same logistic-regression
unit (`gk.Sequential([gk.layers.Dense(1)])`, plain `gk.optim.SGD`, the same η) on each version:
on the raw features the loss is still high when every normalized version has converged.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import pyplot, save, show

PNG = "preprocessing.png"


def cloud(n, seed=0):
    rng = np.random.default_rng(seed)
    std = np.array([3.0, 0.5])
    cov = np.array([[1.0, 0.8], [0.8, 1.0]]) * np.outer(std, std)
    X = rng.multivariate_normal([6.0, -3.0], cov, size=n)
    z = (X - [6.0, -3.0]) / std
    y = (z[:, 0] - 2.0 * z[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return X.astype(np.float32), y


def transformed(X, mode):
    if mode == "raw":
        return X, None
    layer = gk.layers.Normalization(mode, dtype=np.float64).adapt(X)
    return layer(gk.tensor(X, dtype=np.float64)).numpy(), layer


def train_curve(X, y, epochs, lr=0.1):
    model = gk.Sequential([gk.layers.Dense(1)])
    model.compile(optimizer=gk.optim.SGD(lr=lr), loss="binary_cross_entropy")
    history = model.fit(X.astype(np.float32), y.astype(np.float32), batch_size=32,
                        epochs=epochs, seed=0, verbose=0)
    return history.history["loss"]


def main(fast=False, out_dir=None):
    X, y = cloud(400 if fast else 1000)
    modes = ["raw", "standardize", "pca", "whiten"]
    titles = {"raw": "raw", "standardize": "standardized: (x − μ) ⊘ σ",
              "pca": "PCA-rotated (decorrelated)", "whiten": "whitened (identity covariance)"}
    views = {m: transformed(X, m) for m in modes}
    covs = {m: np.cov(v.T, bias=True) for m, (v, _) in views.items()}
    epochs = 15 if fast else 40
    curves = {m: train_curve(v, y, epochs) for m, (v, _) in views.items()}

    plt = pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(23, 4.6))
    for ax, m in zip(axes, modes):
        v = views[m][0]
        for c, color in ((0, "tab:blue"), (1, "tab:red")):
            ax.scatter(v[y == c, 0], v[y == c, 1], s=6, color=color, alpha=0.5)
        c = covs[m]
        ax.set_title(f"{titles[m]}\ncov = [[{c[0, 0]:.2f}, {c[0, 1]:.2f}], "
                     f"[{c[1, 0]:.2f}, {c[1, 1]:.2f}]]", fontsize=10)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        lim = np.abs(v).max() * 1.05 if m != "raw" else None
        if lim:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
        else:
            ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    ax = axes[4]
    for m in modes:
        ax.plot(range(1, epochs + 1), curves[m], label=m)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (BCE)")
    ax.set_title("Logistic regression, plain SGD, η = 0.1 for all")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    pca_layer = views["pca"][1]
    figures = {
        "raw_mean": views["raw"][0].mean(axis=0).astype(float).tolist(),
        "standardized_mean": views["standardize"][0].mean(axis=0).tolist(),
        "standardized_std": views["standardize"][0].std(axis=0).tolist(),
        "raw_correlation": float(np.corrcoef(X.T)[0, 1]),
        "pca_covariance": covs["pca"].tolist(),
        "pca_eigenvalues": pca_layer.explained_variance.astype(float).tolist(),
        "whitened_covariance": covs["whiten"].tolist(),
        "final_loss": {m: float(c[-1]) for m, c in curves.items()},
    }
    return show("Preprocessing", figures)


if __name__ == "__main__":
    main()
