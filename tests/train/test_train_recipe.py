"""The notes' recipe on real data (scikit-learn's bundled 8x8 digits): overfit a small sample,
then train the full MLP to a held-out accuracy."""

import numpy as np
import pytest

import gradkit as gk


def mlp(hidden, out=10):
    return gk.Sequential([gk.layers.Dense(h, activation="relu") for h in hidden]
                         + [gk.layers.Dense(out)])


def test_initial_loss_is_log_of_the_class_count(digits):
    # Recipe step 1: with small random logits the softmax is near uniform, loss ≈ log(10).
    X, y = digits
    model = mlp([64])
    model.compile(gk.optim.Adam(1e-3), "cross_entropy", ["accuracy"])
    model.build((64,), seed=0)
    loss = model.evaluate(X / 16.0, y, return_dict=True)["loss"]
    assert loss == pytest.approx(np.log(10), rel=0.15)


def test_overfit_a_small_sample(digits):
    # Recipe step 2: a 2-layer MLP reaches 100% training accuracy on 200 samples.
    X, y = digits
    X, y = X[:200] / 16.0, y[:200]
    model = mlp([64])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy", ["accuracy"])
    history = model.fit(X, y, batch_size=20, epochs=40, seed=0, verbose=0)
    assert model.evaluate(X, y, return_dict=True)["accuracy"] == 1.0
    assert history["loss"][-1] < 0.05 < history["loss"][0]
    # the learning curve goes down (compare the first and last fifth)
    batch_loss = np.array(history.batch_loss)
    assert batch_loss[-80:].mean() < 0.1 * batch_loss[:80].mean()


def test_digits_mlp_reaches_97_percent(digits):
    from sklearn.model_selection import train_test_split

    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0                        # pixels that are always blank in training
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    model = mlp([256, 256])
    model.compile(gk.optim.Adam(1e-3), "cross_entropy", ["accuracy"])
    history = model.fit(X_train, y_train, batch_size=32, epochs=30, seed=0, verbose=0)
    scores = model.evaluate(X_test, y_test, return_dict=True)
    assert scores["accuracy"] >= 0.97, scores
    assert history["accuracy"][-1] == 1.0
    assert len(history.batch_loss) == 30 * int(np.ceil(len(X_train) / 32))
