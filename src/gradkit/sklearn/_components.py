"""The gradkit pieces behind the estimators: the network, its loss, penalty, optimizer, schedule.

scikit-learn's MLP minimizes, per mini-batch B with sample weights w (1 when none are given),

    L_B = Σ_{i∈B} w_i ℓ_i / Σ_{i∈B} w_i  +  ½ α ‖W‖² / Σ_{i∈B} w_i,

with ℓ the log-loss (summed over the labels of a multi-label row) or half the squared error
(averaged over the outputs). `BatchLoss` computes the first term with a gradkit loss and
remembers Σw of the batch it saw; `BatchL2`, the kernels' regularizer, reads it for the second
term. `Sequential.train_step` (and the full-batch closure) computes the loss before the penalty,
so the penalty always divides by the batch that was just scored.
"""

from __future__ import annotations

import copy

import numpy as np

import gradkit.autograd as ag
from gradkit import optim
from gradkit.nn import initializers, losses, regularizers
from gradkit.nn.layers import Activation, BatchNorm, Dense, Dropout
from gradkit.optim import schedules

# scikit-learn's activation names that gradkit spells differently.
ACTIVATION_ALIASES = {"logistic": "sigmoid"}

# Schedules that a bare name can build: their settings follow from learning_rate_init and the
# number of steps in max_iter epochs. Others need a config dict or a Schedule object.
SCHEDULE_NAMES = {
    "constant": lambda lr, total: {"value": lr},
    "cosine": lambda lr, total: {"initial": lr, "steps": total},
    "linear": lambda lr, total: {"initial": lr, "steps": total},
    "inverse_sqrt": lambda lr, total: {"initial": lr},
}


class BatchLoss:
    """A gradkit loss weighted as scikit-learn weighs it; records the batch's total weight.

    Args:
        base: the gradkit `Loss`.
        scale: constant factor on the loss (½ for scikit-learn's squared error, the number of
            labels for its multi-label log-loss, which sums over labels where gradkit averages).
    """

    def __init__(self, base, scale=1.0):
        self.base = base
        self.scale = float(scale)
        self.batch_weight = 1.0

    @property
    def name(self):
        return getattr(self.base, "name", "loss")

    @property
    def output(self):
        return getattr(self.base, "output", None)

    def __call__(self, y_pred, y_true, sample_weight=None):
        n = len(y_true)
        self.batch_weight = float(n)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            total = float(w.sum())
            if total > 0:
                # mean(w_i ℓ_i · n / Σw) = Σ w_i ℓ_i / Σw: the weighted mean of the batch.
                sample_weight = w * (n / total)
                self.batch_weight = total
        loss = losses.value(self.base, y_pred, y_true, sample_weight)
        return loss * self.scale if self.scale != 1.0 else loss

    def describe(self):
        return self.base.describe() if hasattr(self.base, "describe") else {"name": self.name}


class BatchL2(regularizers.Regularizer):
    """½ α ‖W‖² / Σw over the current batch (scikit-learn's MLP penalty)."""

    name = "l2"

    def __init__(self, alpha, loss, nominal_batch):
        self.alpha = float(alpha)
        self.loss = loss
        self.nominal_batch = float(nominal_batch)

    def __call__(self, w):
        return ag.sumsq(w, scale=0.5 * self.alpha / self.loss.batch_weight)

    def get_config(self):
        # Saved with the model as gradkit's own L2 at the factor of a full batch, so that
        # `gradkit.save(estimator.model_, ...)` writes a file gradkit can load.
        return {"l2": 0.5 * self.alpha / self.nominal_batch}


def hidden_activation(name):
    return ACTIVATION_ALIASES.get(name, name)


def sklearn_inits(activation, fan_in, fan_out):
    """scikit-learn's initialization of one layer (its `_init_coef`): W and b both uniform in
    ±sqrt(factor / (fan_in + fan_out)), factor 6, or 2 for the logistic activation."""
    factor = 2.0 if activation == "logistic" else 6.0
    bound = float(np.sqrt(factor / (fan_in + fan_out)))
    uniform = initializers.RandomUniform(-bound, bound)
    return uniform, uniform


def build_layers(hidden, *, activation, init, dropout, batch_norm, n_outputs, penalty, dtype,
                 n_features=None):
    """Dense layers (with BatchNorm → activation and Dropout after each hidden one if asked).

    `init` None is scikit-learn's initialization (`sklearn_inits`), which needs `n_features`.
    """
    act = hidden_activation(activation)
    sizes = [n_features, *[int(u) for u in hidden], int(n_outputs)]

    def inits(i):
        if init is not None:
            return {"init": init}
        w, b = sklearn_inits(activation, sizes[i], sizes[i + 1])
        return {"init": w, "bias_init": b}

    layers = []
    for i, units in enumerate(hidden):
        layers.append(Dense(int(units), activation=None if batch_norm else act, **inits(i),
                            kernel_regularizer=penalty, dtype=dtype))
        if batch_norm:
            layers += [BatchNorm(dtype=dtype), Activation(act, dtype=dtype)]
        if dropout:
            layers.append(Dropout(dropout, dtype=dtype))
    layers.append(Dense(int(n_outputs), **inits(len(hidden)), kernel_regularizer=penalty,
                        dtype=dtype))
    return layers


def resolve_init(init):
    """The initializer named by the `init` parameter (an object is copied, never shared)."""
    if isinstance(init, initializers.Initializer):
        return copy.deepcopy(init)
    return initializers.get(init)


def resolve_loss(loss):
    """A gradkit Loss from a name, a config dict or an object (copied), reading logits.

    The estimator's network ends in its own output unit, without an activation, and turns
    its outputs into probabilities itself: a loss named for probabilities (Keras's
    "sparse_categorical_crossentropy", from_logits=False) is the same loss read from those
    logits, as a Keras model with a softmax output layer computes it."""
    resolved = copy.deepcopy(loss) if isinstance(loss, losses.Loss) else losses.get(loss)
    return resolved.with_logits() if isinstance(resolved, losses.Loss) else resolved


def resolve_schedule(spec, *, lr, steps_per_epoch, epochs):
    """The learning-rate schedule of `learning_rate_schedule`, or the constant `lr` for None."""
    if spec is None:
        return lr
    if isinstance(spec, str):
        key = spec.strip().lower()
        schedule = schedules.get(key, **SCHEDULE_NAMES[key](lr, steps_per_epoch * epochs))
    elif isinstance(spec, schedules.Schedule):
        schedule = copy.deepcopy(spec)
    else:
        schedule = schedules.get(dict(spec))
    _fill_steps_per_epoch(schedule, steps_per_epoch)
    return schedule


def _fill_steps_per_epoch(schedule, steps_per_epoch):
    # Epoch-based schedules need the number of steps per epoch; the fit loop does not set it.
    while schedule is not None:
        if getattr(schedule, "per", None) == "epoch" and schedule.steps_per_epoch is None:
            schedule.steps_per_epoch = int(steps_per_epoch)
        schedule = getattr(schedule, "schedule", None)


def make_optimizer(est, lr):
    """The optimizer for `est`: its `optimizer` parameter if set, else one from `solver`.

    `lr` (a number or a Schedule) replaces the learning rate of a named optimizer and of an
    object when `learning_rate_schedule` is set; full-batch (closure) methods ignore it.
    """
    spec = est.optimizer
    if spec is None:
        if est.solver == "adam":
            # scikit-learn's AdamOptimizer adds epsilon to √v, not to the bias-corrected √v̂.
            return optim.Adam(lr, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon,
                              eps_on_v_hat=False)
        if est.solver == "sgd":
            momentum = float(est.momentum)
            return optim.SGD(lr, momentum=momentum,
                             nesterov=bool(est.nesterovs_momentum) and momentum > 0)
        return optim.LBFGS(maxiter=est.max_iter, tol=est.tol, maxfun=est.max_fun)
    if isinstance(spec, optim.Optimizer):
        opt = copy.deepcopy(spec)
        if est.learning_rate_schedule is not None and not opt.requires_closure:
            opt.lr = lr
        return opt
    opt = optim.get(dict(spec) if isinstance(spec, dict) else spec)
    named_lr = isinstance(spec, dict) and "lr" in spec
    if not opt.requires_closure and (not named_lr or est.learning_rate_schedule is not None):
        opt.lr = lr
    return opt


def requires_closure(spec, solver):
    """Whether the optimizer chosen by (`optimizer`, `solver`) trains full-batch."""
    if spec is None:
        return solver == "lbfgs"
    if isinstance(spec, optim.Optimizer):
        return bool(spec.requires_closure)
    try:
        return bool(optim.get(dict(spec) if isinstance(spec, dict) else spec).requires_closure)
    except (TypeError, ValueError):
        return False   # reported by fit's parameter checks
