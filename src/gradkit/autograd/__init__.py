"""gradkit's reverse-mode automatic differentiation on NumPy."""

from gradkit import _fast
from gradkit.autograd.tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from gradkit.autograd import ops
from gradkit.autograd.ops import *  # noqa: F401,F403  (the array functions, NumPy names)
from gradkit.autograd import creation
from gradkit.autograd.creation import *  # noqa: F401,F403  (PyTorch's factories, manual_seed)
from gradkit.autograd.primitive import PRIMITIVES, Primitive, unbroadcast
from gradkit.autograd.gradcheck import GradcheckError, gradcheck

_fast.attach_primitives(PRIMITIVES)

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck",
           "GradcheckError", "PRIMITIVES", "Primitive", "unbroadcast", *ops.__all__,
           *creation.__all__]
