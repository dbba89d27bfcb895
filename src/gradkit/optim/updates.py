"""Update rules: pure, in-place functions of (parameters, gradient, state) and hyper-parameters.

Each rule changes `p` and its state arrays in place and reads `g` without writing it. Arrays of
any shape work; the optimizer classes call these rules once per step on whole flat buffers, so a
step is a handful of vectorized passes and never a Python loop over tensors.

`scratch` is work space of `p`'s shape and dtype whose contents are overwritten (allocated when
omitted); passing a preallocated one keeps the step free of full-size temporaries.

`y += a * x` is two NumPy passes into a work array (`axpy`), not SciPy's one-pass BLAS axpy:
SciPy ships its own OpenBLAS with its own thread pool, which fights NumPy's for the cores right
after a matrix product (bench/NOTES.md has the numbers), so the update rules use NumPy alone.

These rules are the reference: `gradkit._fast` installs a compiled Adam/AdamW update with the
same results, bit for bit, where its switch is on.
"""

import math

import numpy as np


def axpy(a, x, y, tmp=None):
    """y += a * x, in place, through `tmp` (x's shape; x itself when x is a work array)."""
    if tmp is None:
        y += a * x
        return
    np.multiply(x, a, out=tmp)
    np.add(y, tmp, out=y)


def _work(scratch, p):
    return np.empty_like(p) if scratch is None else scratch


# How often the optimizers ask the rules to flush (their `flush=True` steps): on every step the
# three extra NumPy passes per state would double a small network's Adam update; every 8th, a
# decaying value spends at most 7 steps in the subnormal range instead of ~150.
FLUSH_EVERY = 8


def flush_subnormal(a, tmp):
    """Set the entries of `a` smaller in magnitude than the dtype's smallest normal number to 0.

    A decaying state (momentum, Adam's moments) of a parameter whose gradient is zero, such as
    a dead ReLU unit's, shrinks geometrically into the subnormal range and lingers there for
    ~150 steps; every vectorized operation touching a subnormal takes a microcode assist, which
    makes a batch-32 Adam step up to 8x slower once the notes' network has trained an epoch. A subnormal
    moment moves no weight (its update is below 1e-35), so it is flushed, as a flush-to-zero
    FPU mode would (TensorFlow runs in that mode on x86). `tmp` is a work array of a's shape.
    The rules with a decaying state do this when called with `flush=True`.

    Written as a ← a · [|a| ≥ tiny] (three passes, no allocation): NaN and inf pass unchanged,
    and a negative subnormal becomes -0.0, exactly as the fused kernels compute it.
    """
    np.abs(a, out=tmp)
    np.greater_equal(tmp, np.finfo(a.dtype).tiny, out=tmp)
    np.multiply(a, tmp, out=a)


def sgd_update(p, g, *, lr, scratch=None):
    """Plain gradient descent: θ ← θ − η g (two passes)."""
    axpy(-lr, g, p, _work(scratch, p))


MOMENTUM_FORMS = ("average", "velocity", "accumulated")


def momentum_update(p, g, m, *, lr, gamma, form, scratch=None, flush=False):
    """Gradient descent with momentum, in the notes' two forms or PyTorch's (three passes).

    form="average" (running average of the gradient, KIT ML1):
        m ← γ m + (1 − γ) g;   θ ← θ − η m
    form="velocity" (the heavy ball, MIPT / DESY; Keras's SGD):
        Δ ← γ Δ + η g;         θ ← θ − Δ
    form="accumulated" (PyTorch's SGD):
        b ← γ b + g;           θ ← θ − η b

    `m` holds m, Δ or b; each starts at 0. The last two take the same steps while η is
    constant; when η changes, "velocity" keeps the steps already taken at their old rate and
    "accumulated" applies the new rate to all of b.
    """
    if form not in MOMENTUM_FORMS:
        raise ValueError(f"form must be one of {MOMENTUM_FORMS}, got form={form!r}")
    s = _work(scratch, p)
    np.multiply(m, gamma, out=m)
    if form == "accumulated":
        np.add(m, g, out=m)
    else:
        axpy(1.0 - gamma if form == "average" else lr, g, m, s)
    if flush:
        flush_subnormal(m, s)
    if form == "velocity":
        np.subtract(p, m, out=p)
    else:
        axpy(-lr, m, p, s)


def nesterov_update(p, g, v, *, lr, gamma, lr_in_velocity=True, scratch=None, flush=False):
    """Nesterov accelerated gradient (MIPT): v ← γ v + η ∇L(θ − γ v);  θ ← θ − v (four passes).

    The gradient is wanted at the look-ahead point θ − γv, so `p` stores that point, φ = θ − γv,
    and `g` is the gradient the caller computed at `p`. Substituting θ = φ + γv gives
        v ← γ v + η g;   φ ← φ − γ v − η g
    (Sutskever et al. 2013, and Keras), an update that needs only the current gradient. With
    lr_in_velocity=False, PyTorch's form, v holds gradients and η applies at the step:
        v ← γ v + g;     φ ← φ − η (g + γ v)
    the same steps while η is constant.
    """
    s = _work(scratch, p)
    np.multiply(v, gamma, out=v)
    if lr_in_velocity:
        axpy(lr, g, v, s)
    else:
        np.add(v, g, out=v)
    if flush:
        flush_subnormal(v, s)
    axpy(-lr, g, p, s)
    axpy(-gamma if lr_in_velocity else -lr * gamma, v, p, s)


def adagrad_update(p, g, c, *, lr, eps, eps_inside_sqrt=False, scratch=None):
    """Adagrad (MIPT): c ← c + g²;  θ ← θ − η g / (√c + ε) (six passes), ε outside the root
    as in the notes and PyTorch; with eps_inside_sqrt=True, θ ← θ − η g / √(c + ε), Keras's."""
    s = _work(scratch, p)
    np.multiply(g, g, out=s)
    np.add(c, s, out=c)
    _step_by_root(p, g, c, s, lr=lr, eps=eps, eps_inside_sqrt=eps_inside_sqrt)


def _step_by_root(p, g, acc, s, *, lr, eps, eps_inside_sqrt):
    """θ ← θ − η g / (√acc + ε), or θ − η g / √(acc + ε): the step Adagrad and RMSProp share,
    with `s` as work space."""
    if eps_inside_sqrt:
        np.add(acc, eps, out=s)
        np.sqrt(s, out=s)
    else:
        np.sqrt(acc, out=s)
        np.add(s, eps, out=s)
    np.divide(g, s, out=s)
    axpy(-lr, s, p, s)


def rmsprop_update(p, g, v, *, lr, gamma, eps, eps_inside_sqrt=False, scratch=None,
                   flush=False):
    """RMSProp: v ← γ v + (1 − γ) g²;  θ ← θ − η g / (√v + ε) (seven passes).

    ε outside the root as in the MIPT notes and PyTorch; with eps_inside_sqrt=True,
    θ ← θ − η g / √(v + ε), the KIT slide's form and Keras's (ε then bounds the step by
    η|g|/√ε where v is tiny instead of η|g|/ε).
    """
    s = _work(scratch, p)
    np.multiply(g, g, out=s)
    np.multiply(v, gamma, out=v)
    axpy(1.0 - gamma, s, v, s)
    if flush:
        flush_subnormal(v, s)
    _step_by_root(p, g, v, s, lr=lr, eps=eps, eps_inside_sqrt=eps_inside_sqrt)


def adadelta_update(p, g, eg2, edx2, *, lr, rho, eps, scratch=None, flush=False):
    """Adadelta (Zeiler 2012): a learning rate in units of θ from two running averages.

        E[g²]  ← ρ E[g²] + (1 − ρ) g²
        Δθ     ← −√(E[Δθ²] + ε) / √(E[g²] + ε) · g
        E[Δθ²] ← ρ E[Δθ²] + (1 − ρ) Δθ²
        θ      ← θ + η Δθ                (η = 1 in the paper)

    `scratch` is a pair of work arrays here. √a/√b is computed as √(a/b): one root, not two.
    """
    s, u = (np.empty_like(p), np.empty_like(p)) if scratch is None else scratch
    np.multiply(g, g, out=s)
    np.multiply(eg2, rho, out=eg2)
    axpy(1.0 - rho, s, eg2, s)
    if flush:
        flush_subnormal(eg2, s)
    np.add(eg2, eps, out=s)
    np.add(edx2, eps, out=u)
    np.divide(u, s, out=u)
    np.sqrt(u, out=u)
    np.multiply(u, g, out=u)  # u = −Δθ
    np.multiply(u, u, out=s)
    np.multiply(edx2, rho, out=edx2)
    axpy(1.0 - rho, s, edx2, s)
    if flush:
        flush_subnormal(edx2, s)
    axpy(-lr, u, p, u)


def adam_update(p, g, m, v, *, lr, beta1, beta2, eps, t, eps_on_v_hat=True, scratch=None,
                flush=False):
    """Adam with bias correction (Kingma & Ba 2014; EPFL and DESY notes), at step t ≥ 1.

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ)              v̂ = v / (1 − β₂ᵗ)
        θ ← θ − η m̂ / (√v̂ + ε)

    Computed in the paper's cheaper order, which is the same quantity:
        θ ← θ − η_t m / (√v + ε̂),  η_t = η √(1 − β₂ᵗ) / (1 − β₁ᵗ),  ε̂ = ε √(1 − β₂ᵗ)
    so neither m̂ nor v̂ is ever formed: twelve passes, one of them the square root. With
    eps_on_v_hat=False, ε̂ = ε: θ ← θ − η_t m / (√v + ε), ε added to √v as Keras and
    scikit-learn add it. With flush=True, subnormal moments are set to zero (see
    `flush_subnormal`).
    """
    if t < 1:
        raise ValueError(f"t counts steps from 1, got t={t!r}")
    root_bc2 = math.sqrt(1.0 - beta2**t)
    step = lr * root_bc2 / (1.0 - beta1**t)
    eps_hat = eps * root_bc2 if eps_on_v_hat else eps
    s = _work(scratch, p)
    np.multiply(m, beta1, out=m)
    axpy(1.0 - beta1, g, m, s)
    if flush:
        flush_subnormal(m, s)
    np.multiply(g, g, out=s)
    np.multiply(v, beta2, out=v)
    axpy(1.0 - beta2, s, v, s)
    if flush:
        flush_subnormal(v, s)
    np.sqrt(v, out=s)
    np.add(s, eps_hat, out=s)
    np.divide(m, s, out=s)
    axpy(-step, s, p, s)


def adamw_update(p, g, m, v, *, lr, beta1, beta2, eps, t, weight_decay, eps_on_v_hat=True,
                 scratch=None, flush=False):
    """AdamW (Loshchilov & Hutter 2019): decoupled weight decay, then the Adam step.

        θ ← θ (1 − η λ);   θ ← adam(θ)

    The decay acts on the weights directly instead of entering g (and with it m and v), so it is
    not rescaled by Adam's per-parameter step size. λ is multiplied by η as in PyTorch and Keras.
    """
    if weight_decay:
        np.multiply(p, 1.0 - lr * weight_decay, out=p)
    adam_update(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t,
                eps_on_v_hat=eps_on_v_hat, scratch=scratch, flush=flush)
