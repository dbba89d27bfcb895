"""XOR with the low-level API: a 2-8-1 tanh network trained by hand-written gradient descent."""

import numpy as np

import gradkit as gk


def main(steps=500, lr=0.5, seed=0):
    rng = np.random.default_rng(seed)
    X = gk.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    W1 = gk.tensor(rng.normal(0, 1, (2, 8)), requires_grad=True)
    b1 = gk.tensor(np.zeros(8), requires_grad=True)
    W2 = gk.tensor(rng.normal(0, 1, (8, 1)), requires_grad=True)
    b2 = gk.tensor(np.zeros(1), requires_grad=True)
    params = [W1, b1, W2, b2]
    for step in range(steps + 1):
        h = gk.tanh(gk.linear(X, W1, b1))
        logits = gk.linear(h, W2, b2).reshape(-1)
        loss = gk.sigmoid_binary_cross_entropy(logits, y)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        if step % 100 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    probs = gk.sigmoid(logits).numpy()
    for (a, b), p in zip(X.numpy().astype(int), probs):
        print(f"  {a} XOR {b} -> {p:.3f}")
    return loss.item(), probs


if __name__ == "__main__":
    main()
