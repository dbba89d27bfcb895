"""Optimizers, learning-rate schedules, L-BFGS and Newton over one flat parameter buffer.

>>> import types, numpy as np
>>> w = types.SimpleNamespace(data=np.array([1.0, 2.0]), grad=None)
>>> opt = SGD([w], lr=0.5)
>>> w.grad[...] = [1.0, -1.0]; opt.step()
True
>>> w.data
array([0.5, 2.5])
"""

from gradkit import _fast
from gradkit.optim import schedules, updates
from gradkit.optim.first_order import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSProp,
    RMSprop,
)
from gradkit.optim.lbfgs import LBFGS

from gradkit.optim.newton import Newton
from gradkit.optim.optimizer import MinimizeResult, Optimizer, get
from gradkit.optim.schedules import Schedule
from gradkit.optim.updates import (
    adadelta_update,
    adagrad_update,
    adam_update,
    adamw_update,
    momentum_update,
    nesterov_update,
    rmsprop_update,
    sgd_update,
)

_fast.attach_optimizers(Adam, AdamW)

__all__ = [
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "MinimizeResult",
    "Momentum",
    "Nesterov",
    "Newton",
    "Optimizer",
    "RMSProp",
    "RMSprop",
    "Schedule",
    "adadelta_update",
    "adagrad_update",
    "adam_update",
    "adamw_update",
    "get",
    "momentum_update",
    "nesterov_update",
    "rmsprop_update",
    "schedules",
    "sgd_update",
    "updates",
]
