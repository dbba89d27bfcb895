"""Damped Newton's method for tiny networks: the notes' θ* = θ₀ − H⁻¹g, made safe.

The Hessian comes from central differences of the gradient (2N closure calls for N
parameters, O(N²) memory, O(N³) solve: the notes' reasons it is for small problems only).
The step solves (H + λI) d = g; λ is adapted Levenberg-Marquardt style: divided by 10 after a
step that lowers the loss, multiplied by 10 (and the step retried) after one that does not or
when H + λI is not positive definite, so every accepted step is a descent step.
"""

import math
import numbers

import numpy as np

from gradkit.errors import ConfigError
from gradkit.optim.lbfgs import _count, _tolerance
from gradkit.optim.optimizer import MinimizeResult, Optimizer

_MIN_DAMPING = 1e-12
_MAX_TRIES = 30  # ×10 each: from 1e-12 past 1e17, beyond any sensible curvature scale


class Newton(Optimizer):
    """Newton's method with a finite-difference Hessian and adaptive damping.

    `minimize(closure)` iterates until ‖g‖ ≤ tol or `maxiter`; `step(closure)` makes one
    iteration. `closure()` zeroes the gradients, runs forward and backward, returns the loss.

    Args:
        params: parameters, or None to `bind` later.
        damping: initial λ > 0 (default 1e-3); adapted as the run goes.
        eps: finite-difference step for the Hessian (default 1e-4; use float64 parameters,
            float32 gradients differenced at this step keep only ~3 digits).
        maxiter: most iterations per `minimize` call (default 20).
        tol: stop when the gradient's L2 norm is at most this (default 1e-8).
        max_params: refuse to bind more parameters than this (default 2000).
    """

    name = "newton"
    requires_closure = True
    takes_lr = False

    def __init__(self, params=None, *, damping=1e-3, eps=1e-4, maxiter=20, tol=1e-8,
                 max_params=2000):
        if (isinstance(damping, bool) or not isinstance(damping, numbers.Real)
                or not math.isfinite(damping) or damping <= 0):
            raise ValueError(f"damping must be a positive number, got damping={damping!r}")
        if (isinstance(eps, bool) or not isinstance(eps, numbers.Real)
                or not math.isfinite(eps) or eps <= 0):
            raise ValueError(f"eps must be a positive number, got eps={eps!r}")
        self.initial_damping = self.damping = float(damping)
        self.eps = float(eps)
        self.maxiter = _count("maxiter", maxiter)
        self.tol = _tolerance("tol", tol)
        self.max_params = _count("max_params", max_params)
        super().__init__(params, lr=1.0)  # the full Newton step; damping does the shortening

    def bind(self, params):
        super().bind(params)
        if self._flat.size > self.max_params:
            # A ConfigError (a ValueError): the CLI reports it in one line, as a bad flag.
            raise ConfigError(f"Newton forms an N×N Hessian from 2N gradient evaluations; got "
                             f"N={self._flat.size} parameters, expected at most "
                             f"max_params={self.max_params}; use a smaller network, or L-BFGS or Adam")
        return self

    def hessian(self, closure):
        """H[:, i] = (g(θ + h eᵢ) − g(θ − h eᵢ)) / 2h, symmetrized; θ is restored exactly."""
        flat, flat_grad = self._bound()
        n = flat.size
        H = np.empty((n, n))
        for i in range(n):
            orig = flat[i]
            flat[i] = orig + self.eps
            up = float(flat[i])  # the step actually taken, after rounding to the dtype
            self._evaluate(closure)
            g_up = flat_grad.astype(np.float64)
            flat[i] = orig - self.eps
            down = float(flat[i])
            self._evaluate(closure)
            H[:, i] = (g_up - flat_grad) / (up - down)
            flat[i] = orig
        H += H.T
        H *= 0.5
        return H

    def step(self, closure=None):
        """One damped Newton iteration; True if it took a step that did not raise the loss."""
        if closure is None:
            raise TypeError("Newton.step needs a closure: a function that zeroes the gradients, "
                            "runs forward and backward, and returns the loss")
        self._bound()
        self._sync()
        loss, g = self._loss_and_grad(closure)
        if g is None:
            return False
        accepted, *_ = self._iterate(closure, loss, g)
        return accepted

    def minimize(self, closure, *, maxiter=None):
        """Iterate until ‖g‖ ≤ tol, `maxiter`, or no λ gives a decrease; a `MinimizeResult`."""
        flat, flat_grad = self._bound()
        self._sync()
        maxiter = self.maxiter if maxiter is None else _count("maxiter", maxiter)
        n = flat.size
        loss, g = self._loss_and_grad(closure)
        evaluations, iterations = 1, 0
        if g is None:
            return MinimizeResult(loss=loss, grad_norm=math.inf, iterations=0, evaluations=1,
                                  success=False, message="non-finite loss or gradient at start")
        message = f"reached maxiter={maxiter}"
        while True:
            grad_norm = float(np.linalg.norm(g))
            if grad_norm <= self.tol:
                message = f"gradient norm {grad_norm:.3g} <= tol={self.tol:g}"
                break
            if iterations >= maxiter:
                break
            accepted, loss, g, used, why = self._iterate(closure, loss, g)
            evaluations += 2 * n + used
            if not accepted:
                message = why
                break
            iterations += 1
        np.copyto(flat_grad, g)  # the gradient at the final point (the last call may be elsewhere)
        return MinimizeResult(loss=loss, grad_norm=grad_norm, iterations=iterations,
                              evaluations=evaluations, success=grad_norm <= self.tol,
                              message=message)

    def _loss_and_grad(self, closure):
        loss = self._evaluate(closure)
        g = self._flat_grad.astype(np.float64)
        if not (math.isfinite(loss) and np.isfinite(g).all()):
            return loss, None
        return loss, g

    def _iterate(self, closure, loss, g):
        """Try θ − (H + λI)⁻¹g for growing λ until the loss does not rise.

        Returns (accepted, loss, g, closure calls after the Hessian, reason if not accepted).
        """
        flat = self._flat
        H = self.hessian(closure)
        if not np.isfinite(H).all():
            return False, loss, g, 0, "non-finite Hessian"
        x0 = flat.copy()
        diag = np.diag_indices_from(H)
        used = 0
        for _ in range(_MAX_TRIES):
            A = H.copy()
            A[diag] += self.damping
            try:
                np.linalg.cholesky(A)  # positive definite, so d is a descent direction
            except np.linalg.LinAlgError:
                self.damping *= 10.0
                continue
            d = np.linalg.solve(A, g)
            np.copyto(flat, x0 - d, casting="same_kind")
            new_loss, new_g = self._loss_and_grad(closure)
            used += 1
            if new_g is not None and new_loss <= loss:
                self.damping = max(self.damping / 10.0, _MIN_DAMPING)
                self.iterations += 1
                return True, new_loss, new_g, used, ""
            np.copyto(flat, x0)
            self.damping *= 10.0
        return False, loss, g, used, f"no decrease up to damping={self.damping:.3g}"

    def state_dict(self):
        state = super().state_dict()
        state["damping"] = np.asarray(self.damping)
        return state

    def load_state_dict(self, state):
        state = dict(state)
        damping = state.pop("damping", None)
        super().load_state_dict(state)
        if damping is not None:
            self.damping = float(damping)

    def get_config(self):
        return {"name": self.name, "damping": self.initial_damping, "eps": self.eps,
                "maxiter": self.maxiter, "tol": self.tol, "max_params": self.max_params}
