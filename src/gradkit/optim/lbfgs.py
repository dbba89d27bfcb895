"""Full-batch L-BFGS: SciPy's L-BFGS-B driving the flat parameter buffer through a closure.

The notes' advice: "if you can afford full batch updates then try out L-BFGS (and don't forget
to disable all sources of noise)". The closure recomputes the loss deterministically on all the
data; mini-batches make L-BFGS's curvature pairs meaningless.
"""

import math
import numbers

import numpy as np

from gradkit.optim.optimizer import MinimizeResult, Optimizer, _made_with_params

# PyTorch's LBFGS settings: its step(closure) runs at most max_iter iterations of a fixed step
# lr (no line search unless line_search_fn), where SciPy's searches along each direction. The
# same numbers would mean other steps, so each is refused with gradkit's nearest spelling.
_PYTORCH_SETTINGS = {"lr": None, "max_iter": "maxiter", "max_eval": "maxfun",
                     "tolerance_grad": "tol", "tolerance_change": "ftol",
                     "history_size": "history", "line_search_fn": None}
_WHAT_IT_IS = ("gradkit's LBFGS is SciPy's L-BFGS-B, with a line search, and minimize(closure) "
               "runs it to convergence in one call (up to maxiter=100 iterations), where "
               "torch.optim.LBFGS.step(closure) takes at most max_iter=20 iterations of a fixed "
               "step lr=1 and is called in a loop: the numbers differ")


class _NonFinite(Exception):
    pass


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def _tolerance(name, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"{name} must be a non-negative number, got {name}={value!r}")
    return float(value)


class LBFGS(Optimizer):
    """Limited-memory BFGS over the flat buffer (scipy.optimize.minimize, method L-BFGS-B).

    `minimize(closure)` (or `step(closure)`, the same, on an optimizer made without parameters,
    as `compile` binds them) runs up to `maxiter` iterations. Made with parameters, PyTorch's
    habit, `step(closure)` is refused, as are PyTorch's settings (`lr`, `max_iter`,
    `history_size`, ...): PyTorch's LBFGS takes other steps (see `_WHAT_IT_IS`).
    `closure()` must zero the gradients, run forward and backward at the current parameters,
    and return the loss; it fills the gradient buffer through the parameters' `.grad` views.
    The parameters end at the lowest finite loss seen. A non-finite loss or gradient stops the
    run there (`success=False`) rather than letting it reach the weights.

    Args:
        params: parameters, or None to `bind` later.
        maxiter: most iterations per call (default 100).
        tol: stop when the largest gradient entry is at most this (SciPy's gtol; default 1e-6).
        history: curvature pairs kept, the "limited memory" (SciPy's maxcor; default 10).
        ftol: stop when the relative loss decrease is at most this (default 2.2e-9, SciPy's).
        maxfun: most closure evaluations per call (default: SciPy's, 15000).
    """

    name = "lbfgs"
    aliases = ("l-bfgs", "l_bfgs", "l-bfgs-b")
    requires_closure = True
    takes_lr = False

    def __init__(self, params=None, *, maxiter=100, tol=1e-6, history=10, ftol=2.2e-9,
                 maxfun=None, **pytorch_settings):
        for key in pytorch_settings:
            if key not in _PYTORCH_SETTINGS:
                raise TypeError(f"LBFGS got an unexpected keyword argument {key!r}")
            ours = _PYTORCH_SETTINGS[key]
            hint = f" (its nearest setting here is {ours}=)" if ours else ""
            raise TypeError(f"LBFGS({key}=...) is PyTorch's setting, which gradkit does not "
                            f"take{hint}: {_WHAT_IT_IS}")
        self.made_with_params = _made_with_params(params)
        self.maxiter = _count("maxiter", maxiter)
        self.tol = _tolerance("tol", tol)
        self.history = _count("history", history)
        self.ftol = _tolerance("ftol", ftol)
        self.maxfun = None if maxfun is None else _count("maxfun", maxfun)
        super().__init__(params, lr=1.0)  # unused: the line search chooses step lengths

    def step(self, closure=None):
        """Run `minimize(closure)`; True unless it stopped on a non-finite loss or gradient."""
        if self.made_with_params:
            raise TypeError("LBFGS made with parameters (PyTorch's habit) refuses step(closure): "
                            f"{_WHAT_IT_IS}. Write opt.minimize(closure), which returns a "
                            "MinimizeResult")
        if closure is None:
            raise TypeError("LBFGS.step needs a closure: a function that zeroes the gradients, "
                            "runs forward and backward, and returns the loss")
        return math.isfinite(self.minimize(closure).loss)

    def minimize(self, closure, *, maxiter=None):
        """Minimize the closure's loss over the bound parameters; returns a `MinimizeResult`."""
        from scipy.optimize import minimize

        flat, flat_grad = self._bound()
        self._sync()
        maxiter = self.maxiter if maxiter is None else _count("maxiter", maxiter)
        best = {"loss": math.inf, "x": flat.copy(), "g": flat_grad.copy()}
        counts = {"evaluations": 0, "iterations": 0}

        def fun(x):
            np.copyto(flat, x, casting="same_kind")
            loss = self._evaluate(closure)
            counts["evaluations"] += 1
            with np.errstate(over="ignore", invalid="ignore"):
                gsq = float(flat_grad @ flat_grad)
            if not (math.isfinite(loss) and math.isfinite(gsq)):
                raise _NonFinite
            if loss < best["loss"]:
                best.update(loss=loss, x=flat.copy(), g=flat_grad.copy())
            return loss, flat_grad.astype(np.float64)

        def count_iteration(_):
            counts["iterations"] += 1

        options = {"maxiter": maxiter, "maxcor": self.history, "gtol": self.tol,
                   "ftol": self.ftol}
        if self.maxfun is not None:
            options["maxfun"] = self.maxfun
        try:
            res = minimize(fun, flat.astype(np.float64), jac=True, method="L-BFGS-B",
                           options=options, callback=count_iteration)
            success, message = bool(res.success), str(res.message)
        except _NonFinite:
            success = False
            message = (f"non-finite loss or gradient at evaluation {counts['evaluations']}; "
                       "stopped at the best finite point")
        finally:
            np.copyto(flat, best["x"])
            np.copyto(flat_grad, best["g"])
        self.iterations += counts["iterations"]
        grad_norm = math.sqrt(float(np.square(best["g"], dtype=np.float64).sum()))
        return MinimizeResult(loss=best["loss"], grad_norm=grad_norm,
                              iterations=counts["iterations"],
                              evaluations=counts["evaluations"], success=success,
                              message=message)

    def get_config(self):
        return {"name": self.name, "maxiter": self.maxiter, "tol": self.tol,
                "history": self.history, "ftol": self.ftol, "maxfun": self.maxfun}
