"""Per-step overhead: forward, loss, backward and an optimizer update of a 64-32-10 ReLU MLP at batch 16.

gradkit (low-level API) and PyTorch (CPU) run the same step, each in processes of its own that take
turns (gradkit, PyTorch, gradkit, ...; see `fit.alternating_medians`). The figure is the median
over all repeats of the mean time per step, and the ratio gradkit / PyTorch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fit import alternating_medians


def gradkit_step(X, y, W1, b1, W2, b2, lr=0.01, optimizer="sgd"):
    import gradkit as gk

    params = [gk.nn.Parameter(a.copy()) for a in (W1, b1, W2, b2)]
    tW1, tb1, tW2, tb2 = params
    tx = gk.tensor(X)
    opt = gk.optim.get(optimizer, lr=lr if optimizer == "sgd" else 1e-3)
    opt.bind(params)

    def step():
        h = gk.relu(gk.linear(tx, tW1, tb1))
        loss = gk.softmax_cross_entropy(gk.linear(h, tW2, tb2), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torch_step(X, y, W1, b1, W2, b2, lr=0.01, optimizer="sgd"):
    import torch

    params = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    tW1, tb1, tW2, tb2 = params
    tx, ty = torch.tensor(X), torch.tensor(y)
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else \
        torch.optim.Adam(params, lr=1e-3)
    F = torch.nn.functional

    def step():
        h = F.relu(tx @ tW1 + tb1)
        loss = F.cross_entropy(h @ tW2 + tb2, ty)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    W1 = (rng.normal(size=(64, 32)) * np.sqrt(2 / 64)).astype(np.float32)
    W2 = (rng.normal(size=(32, 10)) * np.sqrt(2 / 32)).astype(np.float32)
    b1, b2 = np.zeros(32, np.float32), np.zeros(10, np.float32)
    return X, y, W1, b1, W2, b2


def run(steps=2000, repeats=7, optimizer="sgd", rounds=3):
    """(gradkit, PyTorch) median us per step over `rounds` rounds of fresh processes taking
    turns, each timing `repeats` repeats of `steps` steps."""
    return tuple(alternating_medians(__file__, ["gradkit_step", "torch_step"],
                                     ["--optimizer", optimizer, "--steps", steps,
                                      "--repeats", repeats], rounds))


def _worker(make, steps, repeats, optimizer):
    step = globals()[make](*_problem(), optimizer=optimizer)
    for _ in range(steps // 10):
        step()
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        print((time.perf_counter() - t0) / steps * 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", default="sgd", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.steps, args.repeats, args.optimizer)
        return
    for optimizer in ("sgd", "adam"):
        gk_us, pt_us = run(args.steps, args.repeats, optimizer, args.rounds)
        print(f"training step, 64-32-10 ReLU MLP, batch 16, {optimizer} (median of repeats)")
        print(f"  gradkit  {gk_us:8.1f} us/step")
        print(f"  PyTorch  {pt_us:8.1f} us/step")
        print(f"  ratio gradkit/PyTorch  {gk_us / pt_us:.2f}")


if __name__ == "__main__":
    main()
