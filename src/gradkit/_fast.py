"""The one seam for gradkit's compiled fast paths, and the switch that turns them on and off.

The primitive table (`autograd/primitives.py`) and the update rules (`optim/updates.py`) are
the NumPy reference. This module holds faster versions of three of them, loops compiled with
numba (`gradkit._kernels`) that do the reference's arithmetic in the same order:

- Adam's and AdamW's update: one pass over the flat parameter buffer where NumPy makes twelve
  (`Adam.rule`, `AdamW.rule`);
- a relu layer's forward after x @ W, bias plus clamp: one pass where NumPy makes two
  (the `linear_relu` primitive's forward);
- relu's gradient, g times the 0/1 mask: one pass where NumPy makes two (`relu`'s VJP, which
  the fused `linear_relu` uses too).

Each gives the reference's results bit for bit (the tests compare the bits both ways), so the
switch changes speed, never a result. Each runs only for contiguous float32 or float64 arrays of
at least `MIN_SIZE` elements and hands anything else to the reference: below that size a
NumPy pass costs about what calling the kernel does.

The packages hand their tables to `attach_primitives` and `attach_optimizers` when they are
imported; the seam installs its versions there while the switch is on and puts the references
back when it is turned off. The switch: the environment variable GRADKIT_KERNELS (0 or 1,
default 1), read once when gradkit is imported, and `set_kernels(enabled)` at run time.

numba's import and the kernels' load from its cache cost about 0.2 s, as much as the NumPy
Adam update spends on `COMPILE_AFTER` parameter updates (1.3 ns each). So the reference runs
until Adam and AdamW have updated that many parameters in buffers of at least `MIN_SIZE`, and
the kernels are compiled then (the ski-rental rule: a run never pays more than twice the best
choice made in hindsight). A short run, such as `gradkit train`'s default network on a small
data set, never imports numba; the notes' 784-512-512-10 network compiles in its first
quarter epoch. The update is where the kernels pay most; the relu kernels are installed from
then on and never trigger the compilation themselves, so inference never imports numba, and
runs the reference table with no call in between. Where numba is not installed, the reference
runs.
"""

from __future__ import annotations

import math
import os

import numpy as np

from gradkit.errors import ConfigError

MIN_SIZE = 1 << 16
COMPILE_AFTER = 150_000_000
ENVIRONMENT_VARIABLE = "GRADKIT_KERNELS"
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _from_environment():
    value = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip()
    if value not in ("0", "1"):
        raise ConfigError(f"{ENVIRONMENT_VARIABLE} must be 0 (kernels off) or 1 (on), got "
                          f"{ENVIRONMENT_VARIABLE}={value!r}")
    return value == "1"


_enabled = _from_environment()
_installed = []          # (owner, attribute, reference, fast, once compiled) per fast path
_compiled = None         # gradkit._kernels once compiled; False where numba is missing
_reference_updates = 0   # parameters the reference Adam has updated before compiling


# -- the switch -----------------------------------------------------------------------------

class set_kernels:
    """Turn the compiled kernels on or off for the whole process; as a context manager, the
    previous setting comes back at the end of the block.

        gk.set_kernels(False)              # the NumPy reference from now on
        with gk.set_kernels(False):        # ... or for this block only
            model.fit(X, y)

    Results are the same either way (the kernels are the reference's arithmetic, bit for
    bit); only the speed changes. The environment variable GRADKIT_KERNELS=0 sets the default.
    """

    def __init__(self, enabled):
        if enabled is not True and enabled is not False:
            raise TypeError(f"set_kernels takes True or False, got {enabled!r}")
        self.previous = _enabled
        _switch(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _switch(self.previous)


def kernels_enabled():
    """Whether the switch is on (the kernels then run where numba is installed)."""
    return _enabled


def _switch(enabled):
    global _enabled
    _enabled = enabled
    for entry in _installed:
        _set(*entry)


def _set(owner, attribute, reference, fast, once_compiled):
    use = _enabled and (_compiled or not once_compiled)
    setattr(owner, attribute, fast if use else reference)


def _provide(owner, attribute, reference, fast, *, once_compiled=False):
    """Install `fast` in place of `reference` while the switch is on (and, once_compiled,
    only after the kernels are compiled)."""
    _installed.append((owner, attribute, reference, fast, once_compiled))
    _set(*_installed[-1])


def attach_primitives(table):
    """Install the relu kernels into the primitive table (called once, by gradkit.autograd)."""
    relu, linear_relu = table["relu"], table["linear_relu"]
    _provide(relu, "vjps", relu.vjps, (_relu_vjp(relu.vjps[0]),), once_compiled=True)
    _provide(linear_relu, "forward", linear_relu.forward, _linear_relu(linear_relu.forward),
             once_compiled=True)


def attach_optimizers(adam, adamw):
    """Install the fused update into the Adam and AdamW classes (called once, by gradkit.optim)."""
    for cls, decayed in ((adam, False), (adamw, True)):
        reference = cls.__dict__["rule"]                       # a staticmethod
        fast = _adamw_rule(reference.__func__) if decayed else _adam_rule(reference.__func__)
        _provide(cls, "rule", reference, staticmethod(fast))


# -- compilation ----------------------------------------------------------------------------

def compiled():
    """The kernels, compiled on the first call (numba's import and its cache's load), or False
    where numba is not installed."""
    global _compiled
    if _compiled is None:
        try:
            from gradkit import _kernels
        except ImportError:
            _kernels = False
        _compiled = _kernels
        _switch(_enabled)                   # installs the relu kernels
    return _compiled


def _worth_compiling(size):
    """Whether an update of `size` parameters runs compiled: the kernels are compiled (or
    numba is missing: False), or the reference has now updated `COMPILE_AFTER` parameters."""
    global _reference_updates
    if _compiled is None:
        _reference_updates += size
        if _reference_updates < COMPILE_AFTER:
            return False
    return bool(compiled())


def _contiguous_floats(*arrays):
    """C-contiguous arrays of one float type, float32 or float64: what the loops run over."""
    dtype = arrays[0].dtype
    return dtype in _FLOATS and all(a.dtype == dtype and a.flags.c_contiguous for a in arrays)


# -- the fast paths ---------------------------------------------------------------------------

def _adam_rule(reference):
    def adam_update(p, g, m, v, *, lr, beta1, beta2, eps, t, eps_on_v_hat=True, scratch=None,
                    flush=False):
        if p.size < MIN_SIZE or not _contiguous_floats(p, g, m, v) \
                or not _worth_compiling(p.size):
            return reference(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t,
                             eps_on_v_hat=eps_on_v_hat, scratch=scratch, flush=flush)
        _fused_adam(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t,
                    eps_on_v_hat=eps_on_v_hat, weight_decay=0.0, flush=flush)

    return adam_update


def _adamw_rule(reference):
    def adamw_update(p, g, m, v, *, lr, beta1, beta2, eps, t, weight_decay, eps_on_v_hat=True,
                     scratch=None, flush=False):
        if p.size < MIN_SIZE or not _contiguous_floats(p, g, m, v) \
                or not _worth_compiling(p.size):
            return reference(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t,
                             weight_decay=weight_decay, eps_on_v_hat=eps_on_v_hat,
                             scratch=scratch, flush=flush)
        _fused_adam(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t,
                    eps_on_v_hat=eps_on_v_hat, weight_decay=weight_decay, flush=flush)

    return adamw_update


def _fused_adam(p, g, m, v, *, lr, beta1, beta2, eps, t, eps_on_v_hat, weight_decay, flush):
    """`updates.adamw_update`'s arithmetic (weight_decay=0: `adam_update`'s) in one pass."""
    if t < 1:
        raise ValueError(f"t counts steps from 1, got t={t!r}")
    root_bc2 = math.sqrt(1.0 - beta2**t)
    step = lr * root_bc2 / (1.0 - beta1**t)
    eps_hat = eps * root_bc2 if eps_on_v_hat else eps
    f = p.dtype.type          # scalars in the buffer's precision, as NumPy's weak scalars are
    # Without a flush the threshold is 0, which keeps every value (x · 1; NaN stays NaN).
    tiny = np.finfo(f).tiny if flush else 0.0
    compiled().adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                    f(1.0 - lr * weight_decay), f(beta1), f(1.0 - beta1), f(beta2),
                    f(1.0 - beta2), f(-step), f(eps_hat), f(tiny), f(0.0), f(1.0))


def _relu_vjp(reference):
    def relu_vjp(g, ans, saved, x):
        if ans.size >= MIN_SIZE and g.shape == ans.shape and _contiguous_floats(g, ans):
            out = np.empty_like(ans)
            _compiled.relu_grad(g.reshape(-1), ans.reshape(-1), out.reshape(-1))
            return out
        return reference(g, ans, saved, x)

    return relu_vjp


def _linear_relu(reference):
    def linear_relu(x, w, b):
        if (type(x) is type(w) is type(b) is np.ndarray
                and x.ndim == 2 and w.ndim == 2 and b.ndim == 1
                and x.shape[0] * w.shape[1] >= MIN_SIZE
                and x.dtype == w.dtype == b.dtype and _contiguous_floats(b)):
            out = x @ w                          # a new C-contiguous (n, units) array
            _compiled.bias_relu(out, b)
            return out, [None, None]             # the fused node's empty gradient cache
        return reference(x, w, b)

    return linear_relu


__all__ = ["COMPILE_AFTER", "ENVIRONMENT_VARIABLE", "MIN_SIZE", "attach_optimizers", "attach_primitives",
           "compiled", "kernels_enabled", "set_kernels"]
