"""Per-step overhead: forward, loss, backward and an optimizer update of a 64-32-10 ReLU MLP at batch 16.

gradkit (low-level API) and PyTorch (CPU) run the same step in the same process; the figure is the
median over repeats of the mean time per step, and the ratio gradkit / PyTorch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_us(step, steps, repeats):
    for _ in range(steps // 10):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps * 1e6)
    return statistics.median(times)


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


def run(steps=2000, repeats=7, optimizer="sgd"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    W1 = (rng.normal(size=(64, 32)) * np.sqrt(2 / 64)).astype(np.float32)
    W2 = (rng.normal(size=(32, 10)) * np.sqrt(2 / 32)).astype(np.float32)
    b1, b2 = np.zeros(32, np.float32), np.zeros(10, np.float32)
    gk_us = _median_us(gradkit_step(X, y, W1, b1, W2, b2, optimizer=optimizer), steps, repeats)
    try:
        pt_us = _median_us(torch_step(X, y, W1, b1, W2, b2, optimizer=optimizer), steps, repeats)
    except ImportError:
        pt_us = float("nan")
    return gk_us, pt_us


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for optimizer in ("sgd", "adam"):
        gk_us, pt_us = run(args.steps, args.repeats, optimizer)
        print(f"training step, 64-32-10 ReLU MLP, batch 16, {optimizer} (median of repeats)")
        print(f"  gradkit  {gk_us:8.1f} us/step")
        print(f"  PyTorch  {pt_us:8.1f} us/step")
        print(f"  ratio gradkit/PyTorch  {gk_us / pt_us:.2f}")


if __name__ == "__main__":
    main()
