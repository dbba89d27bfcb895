"""Check backward against float64 central differences over the full Jacobian."""

from __future__ import annotations

import numpy as np

from gradkit.autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """Backward disagrees with finite differences; the message names the input and element."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare the Jacobian from `backward` with (f(x+eps) - f(x-eps)) / 2eps, in float64.

    Args:
        fn: takes the inputs, returns a Tensor of any shape.
        inputs: Tensors (those with requires_grad=True are checked) or constants.
        eps: finite-difference step. atol, rtol: tolerance |a - n| <= atol + rtol |n|.
        raise_exception: raise `GradcheckError` on mismatch (else return False).

    Returns:
        True when every element of every checked Jacobian agrees.
    """
    inputs = [Tensor(x.data.astype(np.float64), x.requires_grad) if isinstance(x, Tensor)
              and x.dtype.kind == "f" else x for x in inputs]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck needs at least one input with requires_grad=True")

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    n_out = out.data.size

    for i in checked:
        x = inputs[i]
        analytic = np.zeros((n_out, x.data.size))
        for k in range(n_out):
            for t in inputs:
                if isinstance(t, Tensor):
                    t.grad = None
            y = fn(*inputs)
            seed = np.zeros(y.data.size)
            seed[k] = 1.0
            if y.requires_grad:
                y.backward(seed.reshape(y.shape))
            if x.grad is not None:
                analytic[k] = x.grad.reshape(-1)
        numeric = np.zeros_like(analytic)
        flat = x.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = np.array(fn(*inputs).data, dtype=np.float64).reshape(-1)
            flat[j] = orig - eps
            minus = np.array(fn(*inputs).data, dtype=np.float64).reshape(-1)
            flat[j] = orig
            numeric[:, j] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(err > 0) or not np.all(np.isfinite(analytic)):
            k, j = np.unravel_index(np.nanargmax(np.where(np.isfinite(err), err, np.inf)),
                                    err.shape)
            where = tuple(int(v) for v in np.unravel_index(j, x.shape)) if x.shape else ()
            msg = (f"gradcheck failed for input {i} (shape {x.shape}) at element {where} "
                   f"of the input and element {k} of the output: backward gives "
                   f"{analytic[k, j]:.6g}, central differences give {numeric[k, j]:.6g} "
                   f"(atol={atol}, rtol={rtol}, {int(np.sum(err > 0))} of {err.size} entries "
                   f"off)")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    return True
