"""Feature learning: the first layer's weights as images

The KIT notes (001_55bdccef08b64fc2.txt) present neural networks as "a way of learning features":
"each first-layer hidden unit computes σ(wᵢᵀx). It acts as a feature detector", and the network
"learns the features ψ(x) such that linear regression / classification can solve it"; the DESY
notes (004_b03d6a67b28a555f.txt) say the same of deep networks ("the first layer(s) can construct
such high level features themselves from low level features"). A 64-16-10 network with sigmoid
hidden units (`gk.layers.Dense(16, activation="sigmoid")`) is trained with Adam on the 8×8 digits
(`gk.data.load("digits")`), and each hidden unit's 64 incoming weights `layer.W.data[:, j]` are
drawn as an 8×8 image, before training and after. The random start is salt and pepper; after
training each unit weighs whole strokes and blobs of the digits (red: pixels that excite the
unit, blue: pixels that inhibit it). The right panel measures it: the correlation between the
weights of neighbouring pixels, about 0 for the random start, rises with training, while the
test accuracy climbs.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk

from _common import digits, pyplot, save, show

PNG = "feature_learning.png"


def neighbour_correlation(W):
    """Correlation of the weights of horizontally and vertically adjacent pixels (mean of both)."""
    images = W.T.reshape(-1, 8, 8).astype(np.float64)
    right = np.corrcoef(images[:, :, :-1].ravel(), images[:, :, 1:].ravel())[0, 1]
    down = np.corrcoef(images[:, :-1, :].ravel(), images[:, 1:, :].ravel())[0, 1]
    return float((right + down) / 2)


class Watch(gk.callbacks.Callback):
    def __init__(self, X_test, y_test):
        self.X_test, self.y_test = X_test, y_test

    def on_train_begin(self, logs=None):
        self.correlation = [neighbour_correlation(self.model.layers[0].W.data)]
        self.accuracy = [self._accuracy()]

    def on_epoch_end(self, epoch, logs=None):
        self.correlation.append(neighbour_correlation(self.model.layers[0].W.data))
        self.accuracy.append(self._accuracy())

    def _accuracy(self):
        return self.model.evaluate(self.X_test, self.y_test, return_dict=True)["accuracy"]


def tiles(ax, W, title):
    """The 16 units' weights as a 4×4 mosaic of 8×8 images, one colour scale per unit."""
    mosaic = np.full((4 * 9 - 1, 4 * 9 - 1), np.nan)
    for j in range(W.shape[1]):
        image = W[:, j].reshape(8, 8)
        r, c = divmod(j, 4)
        mosaic[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = image / np.abs(image).max()
    ax.imshow(mosaic, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)


def main(fast=False, out_dir=None):
    X_train, y_train, _, _, X_test, y_test, _ = digits(seed=0)
    model = gk.Sequential([gk.layers.Dense(16, activation="sigmoid"), gk.layers.Dense(10)])
    model.compile(optimizer=gk.optim.Adam(0.01), loss="cross_entropy", metrics=["accuracy"])
    model.build((64,), seed=0)
    W_start = model.layers[0].W.data.copy()
    watch = Watch(X_test, y_test)
    epochs = 15 if fast else 40
    model.fit(X_train, y_train, batch_size=32, epochs=epochs, seed=0, verbose=0,
              callbacks=[watch])
    W_trained = model.layers[0].W.data

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(20, 5), gridspec_kw={"width_ratios": [1, 1, 0.15,
                                                                                    1.3]})
    tiles(axes[0], W_start, "16 hidden units' weights, random start")
    tiles(axes[1], W_trained, f"the same after {epochs} epochs of Adam")
    axes[2].axis("off")
    ax = axes[3]
    ax.plot(watch.correlation, "o-", ms=3, label="neighbour-pixel weight correlation")
    ax.plot(watch.accuracy, "s-", ms=3, label="test accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylim(-0.1, 1.0)
    ax.set_title("Smooth, stroke-like detectors emerge")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, out_dir, PNG)

    figures = {
        "neighbour_correlation_start": watch.correlation[0],
        "neighbour_correlation_trained": watch.correlation[-1],
        "test_accuracy_start": watch.accuracy[0],
        "test_accuracy_trained": watch.accuracy[-1],
    }
    return show("Feature learning", figures)


if __name__ == "__main__":
    main()
