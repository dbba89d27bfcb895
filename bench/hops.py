"""Hop count: the chain of Python calls from `fit` to the first matmul, to the first weight
gradient and to the optimizer update of one train step, and the Python calls of that step.

    PYTHONPATH=src python bench/hops.py

One `fit` of one batch of a 20-16-3 ReLU MLP with Adam runs under `sys.setprofile` (after a
warm-up fit, so building and binding are not counted). The numbers count Python frames, not
time: they change only when the code's shape does.
"""

import sys

import numpy as np

import gradkit as gk


def _name(frame):
    return f"{frame.f_globals.get('__name__', '?').replace('gradkit.', '')}.{frame.f_code.co_name}"


def measure():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 20)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = gk.Sequential([gk.layers.Dense(16, activation="relu"), gk.layers.Dense(3)])
    model.compile(optimizer=gk.optim.Adam(1e-3), loss="cross_entropy")
    model.fit(X, y, batch_size=32, epochs=1, verbose=0)
    stack, first, counts = [], {}, {"fit": 0, "train_step": 0}

    def profile(frame, event, arg):
        if event == "return":
            if stack:
                stack.pop()
            return
        if event != "call":
            return
        stack.append(_name(frame))
        counts["fit"] += 1
        counts["train_step"] += "train.model.train_step" in stack
        here = stack[-1]
        if here.startswith("autograd.primitives._linear_dw"):
            first.setdefault("weight gradient", list(stack))
        elif here.startswith("autograd.primitives._linear"):
            first.setdefault("matmul", list(stack))
        elif "train_step" in " ".join(stack) and (here.startswith("optim.updates")
                                                   or here.endswith("._apply")):
            first.setdefault("update", list(stack))

    sys.setprofile(profile)
    model.fit(X[:32], y[:32], batch_size=32, epochs=1, verbose=0, shuffle=False)
    sys.setprofile(None)
    for what, chain in first.items():
        start = min(i for i, f in enumerate(chain) if f.endswith(".fit"))
        chain = chain[start:]
        print(f"{what}: {len(chain) - 1} hops: " + " -> ".join(chain))
    print(f"Python calls: {counts['fit']} in the fit of one step, "
          f"{counts['train_step']} inside train_step")


if __name__ == "__main__":
    measure()
