"""The DESY lecture's Keras program on the built-in digits (8x8), run by gradkit and by Keras 3
(PyTorch backend) over three seeds: test loss and accuracy of each (issue 16, point 5).

    python bench/desy_compare.py            # both, seeds 0 1 2 (Keras if installed)
    python bench/desy_compare.py gradkit 0  # one run

The program is the lecture's, with only the import line changed; the data are digits / 16 - 0.5
(the lecture's x / 255 - 0.5), 1,500 rows to train on and 297 to test, the same split for all.
"""

import os
import subprocess
import sys

import numpy as np


def data():
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.images.astype("float32") / 16.0 - 0.5
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1500], order[1500:]
    return (X[train], d.target[train]), (X[test], d.target[test])


def run(which, seed):
    (x_train, y_train), (x_test, y_test) = data()
    if which == "keras":
        os.environ["KERAS_BACKEND"] = "torch"
        import keras

        keras.utils.set_random_seed(seed)

        class tf:                       # `import tensorflow as tf` stands for this namespace
            pass

        tf.keras = keras
        fit_extra, quiet = {"verbose": 0}, {"verbose": 0}
    else:
        import gradkit as tf

        fit_extra, quiet = {"verbose": 0, "seed": seed}, {}
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(8, 8)),
        tf.keras.layers.Dense(512, activation='relu'),
        tf.keras.layers.Dense(512, activation='relu'),
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam',
                  loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=32, epochs=5,
              **fit_extra)
    loss, accuracy = model.evaluate(x_test, y_test, **quiet)
    print(f"{which} seed {seed}: test loss {loss:.4f}, test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run(sys.argv[1], int(sys.argv[2]))
    else:
        for which in ("gradkit", "keras"):
            for seed in (0, 1, 2):
                # one process per run: Keras and gradkit never share a process or a seed state
                subprocess.run([sys.executable, __file__, which, str(seed)], check=False)
