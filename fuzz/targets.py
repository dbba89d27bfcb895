"""The readers the fuzzers feed, each a function of raw bytes that must return or raise one of
gradkit's own errors (anything else, a hang, or a crash is a finding), and seed inputs.

Shared by the atheris harness (`fuzz/run.py`) and its pure-Hypothesis fallback.
"""

from __future__ import annotations

import io
import json
import os
import tempfile

import numpy as np

# Where each input is written: a file, as the readers take paths. /dev/shm keeps it in memory.
_DIR = tempfile.mkdtemp(prefix="gradkit-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                        else None)


def _write(name, data: bytes) -> str:
    path = os.path.join(_DIR, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def model_file(data: bytes) -> None:
    import gradkit as gk

    model = gk.load(_write("model.safetensors", data))
    model.predict(np.zeros((2, *model.input_shape), np.float32))


_SEED_TENSORS = {}


def model_config(data: bytes) -> None:
    """The seed model's weights with `data` as its JSON config: mutations reach the loader's
    checks of meaning instead of stopping at the file's syntax."""
    import gradkit as gk
    from gradkit import _safetensors

    if not _SEED_TENSORS:
        _SEED_TENSORS.update(_safetensors.load_tensors(_write("s.safetensors",
                                                              seeds("model")[0]))[0])
    path = os.path.join(_DIR, "config.safetensors")
    _safetensors.save_tensors(path, _SEED_TENSORS,
                              {"gradkit": data.decode("utf-8", errors="replace")})
    model = gk.load(path)
    model.predict(np.zeros((2, *model.input_shape), np.float32))


def csv_file(data: bytes) -> None:
    from gradkit.data import load

    load(_write("data.csv", data))


TARGETS = {"model": model_file, "model_config": model_config, "csv": csv_file}


def seeds(target: str) -> list[bytes]:
    """Valid inputs to start from: a trained model's file, small CSV files of each kind."""
    if target == "csv":
        return [b"a,b,label\n1,2.5,x\n3,4,y\n5,6,x\n",
                b"x;colour;y\n1,5;red;0\n2;blue;1\n\xef\xbb\xbf",
                b'"q","w"\n"1,234",0\n"5",1\n',
                b"f1\tf2\tt\n0.1\t1e3\t1\n-2\tnan\t0\n"]
    import gradkit as gk
    from gradkit import _safetensors

    if target == "model_config":
        _, metadata = _safetensors.load_tensors(_write("s.safetensors", seeds("model")[0]))
        return [metadata["gradkit"].encode()]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    norm = gk.layers.Normalization()
    norm.adapt(X)
    model = gk.Sequential([norm, gk.layers.Dense(4, activation="relu"), gk.layers.BatchNorm(),
                           gk.layers.Dense(2)])
    model.compile("adam", "cross_entropy")
    model.fit(X, (X[:, 0] > 0).astype(np.int64), epochs=1, verbose=0, seed=0)
    model.class_names = ["no", "yes"]
    path = os.path.join(_DIR, "seed.safetensors")
    gk.save(model, path)
    with open(path, "rb") as f:
        return [f.read()]


def expected_errors():
    from gradkit.errors import GradkitError

    return (GradkitError,)


__all__ = ["TARGETS", "seeds", "expected_errors", "io", "json"]
