"""First-order optimizers: thin classes around the update rules in `updates`.

Every class takes `(params=None, lr=None, *, settings..., clipnorm=None, clipvalue=None,
global_clipnorm=None)`: `Adam(1e-3)` (Keras style; the model binds parameters at compile),
`Adam(params, 1e-3)` or `Adam(params, lr=1e-3)` (PyTorch style). lr=None means the class
default. Where Keras and PyTorch mean different things by a setting (weight_decay, defaults,
where ε goes), the habit that made the optimizer decides: see `Optimizer`.

Each class validates its settings, creates its state (zeros, flat size) on first use, and calls
its rule once per step on the whole flat buffer. The learning rate arrives as `_apply(lr, g)`,
from the schedule; nothing derived from it is stored.
"""

import math
import numbers

import numpy as np

from gradkit.optim import updates
from gradkit.optim.optimizer import Optimizer, _lr_like, _made_with_params

PYTORCH_SGD_LR = 1e-3


def _number(name, value, *, low=0.0, high=math.inf, low_open=False, high_open=False):
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if not bad:
        value = float(value)
        bad = (not math.isfinite(value) or value < low or value > high
               or (low_open and value == low) or (high_open and value == high))
    if bad:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be a number in {lo}{low}, {high}{hi}, got {name}={value!r}")
    return value


def _fraction(name, value):
    return _number(name, value, high=1.0, high_open=True)


def _positive(name, value):
    return _number(name, value, low_open=True)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    θ ← θ − η g, or with momentum γ the velocity form Δ ← γΔ + ηg; θ ← θ − Δ (Keras's), or
    PyTorch's b ← γb + g; θ ← θ − ηb, or Nesterov's look-ahead (see `updates.momentum_update`,
    `updates.nesterov_update`). The two forms take the same steps while η is constant; after η
    changes (a schedule, `param_groups[0]["lr"] = ...`) PyTorch's applies the new rate to the
    whole of b, Keras's only to new gradients.

    Args:
        lr: learning rate or schedule (default 0.01, Keras's; 1e-3, PyTorch's, when the
            parameters are given first, PyTorch-style, as in `SGD(model.parameters())`).
        momentum: γ in [0, 1) (default 0: plain SGD).
        nesterov: use Nesterov momentum (needs momentum > 0).
        weight_decay: λ ≥ 0 (default 0). Made without parameters it is Keras's, decoupled:
            θ ← θ(1 − ηλ) before the step; made with parameters, PyTorch's: λθ added to the
            gradient (as the penalty ½λ‖θ‖² would). `decoupled_weight_decay` chooses.
        lr_in_velocity: True: Keras's momentum form (η inside the velocity); False:
            PyTorch's (η applied at the step). None: Keras's made without parameters,
            PyTorch's made with them.
    """

    name = "sgd"
    state_names = ("velocity",)
    default_lr = 1e-2

    def __init__(self, params=None, lr=None, *, momentum=0.0, nesterov=False, weight_decay=0.0,
                 decoupled_weight_decay=None, lr_in_velocity=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None):
        self.momentum = _fraction("momentum", momentum)
        if nesterov not in (True, False):
            raise ValueError(f"nesterov must be True or False, got nesterov={nesterov!r}")
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = bool(nesterov)
        if lr_in_velocity not in (None, True, False):
            raise ValueError("lr_in_velocity must be True, False or None, got "
                             f"lr_in_velocity={lr_in_velocity!r}")
        self.lr_in_velocity = (not _made_with_params(params) if lr_in_velocity is None
                               else lr_in_velocity)
        if lr is None and _made_with_params(params):
            # PyTorch's SGD(params) defaults to 1e-3; Keras's SGD() (bound later) to 0.01.
            lr = PYTORCH_SGD_LR
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm,
                         weight_decay=_number("weight_decay", weight_decay),
                         decoupled_weight_decay=decoupled_weight_decay)

    def _apply(self, lr, g):
        p, work = self._flat, self._work()
        if not self.momentum:
            updates.sgd_update(p, g, lr=lr, scratch=work)
        elif self.nesterov:
            updates.nesterov_update(p, g, self._buffer("velocity"), lr=lr,
                                    gamma=self.momentum, lr_in_velocity=self.lr_in_velocity,
                                    scratch=work, flush=self._flush_due())
        else:
            updates.momentum_update(p, g, self._buffer("velocity"), lr=lr,
                                    gamma=self.momentum,
                                    form="velocity" if self.lr_in_velocity else "accumulated",
                                    scratch=work, flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "lr_in_velocity": self.lr_in_velocity, **self._decay_config()}


class Momentum(Optimizer):
    """Gradient descent with momentum, in the notes' two forms (see `updates.momentum_update`).

    form="average": m ← γm + (1 − γ)g; θ ← θ − ηm (KIT). form="velocity": Δ ← γΔ + ηg;
    θ ← θ − Δ (MIPT, DESY; the same as `SGD(momentum=γ)`). With equal η the velocity form
    steps 1/(1 − γ) times further once the average has built up.

    gamma="arithmetic" is KIT's arithmetic average: γ_k = (k − 1)/k at the k-th step (k from
    1), so m after k steps is the plain mean (1/k) Σ gᵢ of every gradient so far, where a
    constant γ gives the geometric average (1 − γ) Σ γ^(k−i) gᵢ (average form only).

    Args:
        lr: learning rate or schedule (default 0.01).
        gamma: γ in [0, 1) (default 0.9), or "arithmetic".
        form: "average" (default) or "velocity".
    """

    name = "momentum"
    state_names = ("m",)
    default_lr = 1e-2

    def __init__(self, params=None, lr=None, *, gamma=0.9, form="average", clipnorm=None,
                 clipvalue=None, global_clipnorm=None):
        if form not in ("average", "velocity"):
            raise ValueError(f"form must be 'average' or 'velocity', got form={form!r}")
        if gamma == "arithmetic" and form != "average":
            raise ValueError("gamma='arithmetic' is the coefficient of the running average "
                             f"(form='average'), got form={form!r}")
        self.gamma = gamma if gamma == "arithmetic" else _fraction("gamma", gamma)
        self.form = form
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm)

    def _apply(self, lr, g):
        gamma = self.gamma
        if gamma == "arithmetic":          # γ_k = (k − 1)/k, k = iterations + 1
            gamma = self.iterations / (self.iterations + 1)
        updates.momentum_update(self._flat, g, self._buffer("m"),
                                lr=lr, gamma=gamma, form=self.form,
                                scratch=self._work(), flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "form": self.form}


class Nesterov(Optimizer):
    """Nesterov accelerated gradient: v ← γv + η∇L(θ − γv); θ ← θ − v (MIPT).

    The parameters hold the look-ahead point θ − γv, so the gradient of the ordinary forward
    and backward pass is the one the formula asks for (`updates.nesterov_update`).

    Args:
        lr: learning rate or schedule (default 0.01).
        gamma: γ in [0, 1) (default 0.9).
    """

    name = "nesterov"
    state_names = ("v",)
    default_lr = 1e-2

    def __init__(self, params=None, lr=None, *, gamma=0.9, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.gamma = _fraction("gamma", gamma)
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm)

    def _apply(self, lr, g):
        updates.nesterov_update(self._flat, g, self._buffer("v"),
                                lr=lr, gamma=self.gamma, scratch=self._work(),
                                flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


class Adagrad(Optimizer):
    """Adagrad: c ← c + g²; θ ← θ − η g/(√c + ε) (MIPT, and PyTorch).

    Keras and PyTorch share the name, not the defaults, so each habit gets its own: made
    without parameters, as Keras users do (`Adagrad(learning_rate=0.01)`, or "adagrad" by
    name), it is Keras's: lr 0.001, c starting at 0.1, ε = 1e-7 inside the root,
    θ ← θ − η g/√(c + ε); made with parameters, as PyTorch users do
    (`Adagrad(model.parameters())`), PyTorch's: lr 0.01, c from 0, ε = 1e-10 outside. The
    notes' form is `initial_accumulator=0, eps_inside_sqrt=False`. weight_decay is each
    habit's (see `Optimizer`); PyTorch's lr_decay is refused unless 0: the rule has none.

    Args:
        lr: learning rate or schedule.
        eps: ε > 0.
        initial_accumulator: starting value of c, ≥ 0 (Keras's initial_accumulator_value,
            PyTorch's initial_accumulator_value).
        eps_inside_sqrt: where ε goes (see above).
    """

    name = "adagrad"
    state_names = ("c",)
    keras_names = {"initial_accumulator_value": "initial_accumulator", "epsilon": "eps"}

    def __init__(self, params=None, lr=None, *, eps=None, initial_accumulator=None,
                 eps_inside_sqrt=None, weight_decay=0.0, decoupled_weight_decay=None,
                 lr_decay=0.0, clipnorm=None, clipvalue=None, global_clipnorm=None):
        if lr_decay:
            raise TypeError(f"Adagrad(lr_decay={lr_decay!r}) is not supported: gradkit's "
                            "Adagrad has no such term (a schedule decays the rate)")
        if _made_with_params(params):          # PyTorch's habit
            defaults = {"eps": 1e-10, "initial_accumulator": 0.0, "eps_inside_sqrt": False}
            lr = 1e-2 if lr is None else lr
        else:                                                    # Keras's (lr 1e-3)
            defaults = {"eps": 1e-7, "initial_accumulator": 0.1, "eps_inside_sqrt": True}
        given = {"eps": eps, "initial_accumulator": initial_accumulator,
                 "eps_inside_sqrt": eps_inside_sqrt}
        settings = {k: defaults[k] if v is None else v for k, v in given.items()}
        self.eps = _positive("eps", settings["eps"])
        self.initial_accumulator = _number("initial_accumulator",
                                           settings["initial_accumulator"])
        self.eps_inside_sqrt = bool(settings["eps_inside_sqrt"])
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay)

    def _apply(self, lr, g):
        updates.adagrad_update(self._flat, g, self._buffer("c"),
                               lr=lr, eps=self.eps, eps_inside_sqrt=self.eps_inside_sqrt,
                               scratch=self._work())

    def _initial_state(self, key):
        return self.initial_accumulator

    def get_config(self):
        return {**super().get_config(), "eps": self.eps,
                "initial_accumulator": self.initial_accumulator,
                "eps_inside_sqrt": self.eps_inside_sqrt, **self._decay_config()}


class RMSProp(Optimizer):
    """RMSProp: v ← γv + (1 − γ)g²; θ ← θ − η g/√(v + ε) (the KIT slide's form, and Keras's).

    The defaults are Keras's `RMSprop()`, so `compile(optimizer="rmsprop")` takes the steps it
    takes in Keras. With eps_inside_sqrt=False, θ ← θ − η g/(√v + ε), the MIPT notes' form and
    PyTorch's (`RMSprop` made with parameters, PyTorch-style, takes that form with PyTorch's
    defaults).

    Args:
        lr: learning rate or schedule (default 0.001).
        gamma: γ in [0, 1) (default 0.9; Keras's `rho`).
        eps: ε > 0 (default 1e-7).
        eps_inside_sqrt: True (default): ε inside the root, as above; False: ε added to √v.
    """

    name = "rmsprop"
    state_names = ("v",)
    keras_names = {"rho": "gamma"}

    def __init__(self, params=None, lr=None, *, gamma=0.9, eps=1e-7, eps_inside_sqrt=True,
                 weight_decay=0.0, decoupled_weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.gamma = _fraction("gamma", gamma)
        self.eps = _positive("eps", eps)
        if eps_inside_sqrt not in (True, False):
            raise ValueError("eps_inside_sqrt must be True or False, got "
                             f"eps_inside_sqrt={eps_inside_sqrt!r}")
        self.eps_inside_sqrt = bool(eps_inside_sqrt)
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay)

    def _apply(self, lr, g):
        updates.rmsprop_update(self._flat, g, self._buffer("v"),
                               lr=lr, gamma=self.gamma, eps=self.eps,
                               eps_inside_sqrt=self.eps_inside_sqrt, scratch=self._work(),
                               flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "eps": self.eps,
                "eps_inside_sqrt": self.eps_inside_sqrt, **self._decay_config()}


class RMSprop(RMSProp):
    """The spelling Keras and PyTorch share, with the meaning of whichever habit made it.

    Made without parameters, as Keras users do (`RMSprop(learning_rate=1e-3, rho=0.9)`), it is
    Keras's RMSprop: ε = 1e-7 inside the square root. Made with parameters, as PyTorch users do
    (`RMSprop(model.parameters(), lr=0.01)`), it is PyTorch's: α = 0.99, ε = 1e-8 added to √v,
    learning rate 0.01 unless given. weight_decay is each habit's (see `Optimizer`). PyTorch's
    momentum and centered options, and Keras's, are refused unless they are off, since
    gradkit's rule has neither.
    """

    keras_names = {"rho": "gamma", "epsilon": "eps"}

    def __init__(self, params=None, lr=None, *, alpha=None, gamma=None, eps=None,
                 eps_inside_sqrt=None, momentum=0.0, centered=False, weight_decay=0.0,
                 decoupled_weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        for option, value in (("momentum", momentum), ("centered", centered)):
            if value:
                raise TypeError(f"RMSprop({option}={value!r}) is not supported: gradkit's "
                                "RMSProp has no such term (use Momentum or Adam)")
        torch_style = _made_with_params(params)
        if alpha is not None and gamma is not None:
            raise TypeError("RMSprop got alpha= (PyTorch's name) and rho=/gamma=, which are one "
                            "setting: pass one")
        if torch_style or alpha is not None:
            defaults = {"gamma": 0.99, "eps": 1e-8, "eps_inside_sqrt": False}
            lr = 0.01 if lr is None and not _lr_like(params) else lr
        else:
            defaults = {"gamma": 0.9, "eps": 1e-7, "eps_inside_sqrt": True}
        given = {"gamma": alpha if alpha is not None else gamma, "eps": eps,
                 "eps_inside_sqrt": eps_inside_sqrt}
        settings = {k: defaults[k] if v is None else v for k, v in given.items()}
        super().__init__(params, lr, **settings, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): step sizes from running averages of g² and of past steps².

    Keras and PyTorch share the name and the rule (`updates.adadelta_update`) but not the
    defaults, so each habit gets its own: made without parameters, as Keras users do
    (`Adadelta(learning_rate=1.0)`, or "adadelta" by name), it has Keras's lr 0.001, ρ 0.95,
    ε 1e-7; made with parameters, as PyTorch users do (`Adadelta(model.parameters())`),
    PyTorch's lr 1.0, ρ 0.9, ε 1e-6. The paper's method is lr=1.0, rho=0.95, eps=1e-6.
    weight_decay is each habit's (see `Optimizer`).

    Args:
        lr: multiplier of the step, or schedule.
        rho: ρ in [0, 1), the decay of both running averages.
        eps: ε > 0, inside both square roots.
    """

    name = "adadelta"
    state_names = ("eg2", "edx2")
    keras_names = {"epsilon": "eps"}

    def __init__(self, params=None, lr=None, *, rho=None, eps=None, weight_decay=0.0,
                 decoupled_weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        if _made_with_params(params):          # PyTorch's habit
            defaults, lr = (0.9, 1e-6), 1.0 if lr is None else lr
        else:                                                    # Keras's (lr 1e-3)
            defaults = (0.95, 1e-7)
        self.rho = _fraction("rho", defaults[0] if rho is None else rho)
        self.eps = _positive("eps", defaults[1] if eps is None else eps)
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay)

    def _apply(self, lr, g):
        updates.adadelta_update(self._flat, g, self._buffer("eg2"),
                                self._buffer("edx2"), lr=lr, rho=self.rho, eps=self.eps,
                                scratch=(self._work(0), self._work(1)),
                                flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "eps": self.eps,
                **self._decay_config()}


class Adam(Optimizer):
    """Adam with bias correction (see `updates.adam_update`).

    Args:
        lr: learning rate or schedule (default 0.001).
        beta1: β₁ in [0, 1), decay of the first moment (default 0.9).
        beta2: β₂ in [0, 1), decay of the second moment (default 0.999).
        eps: ε > 0.
        eps_on_v_hat: True: ε is added to the bias-corrected √v̂, as in the paper, the notes
            and PyTorch; False: to √v, θ ← θ − η_t m/(√v + ε) with
            η_t = η √(1 − β₂ᵗ)/(1 − β₁ᵗ), as in Keras and scikit-learn. Keras's `epsilon=`
            is that ε: `Adam(epsilon=1e-7)` means eps=1e-7, eps_on_v_hat=False.
            Without either, each library's default, as for the other optimizers: made with
            parameters (PyTorch's `Adam(model.parameters())`), ε = 1e-8 on √v̂, which is
            also the notes' recommended value; made without (Keras's `Adam()`, or "adam"
            by name), Keras's ε = 1e-7 on √v.
        weight_decay: λ ≥ 0 (default 0). Made without parameters it is Keras's, decoupled:
            θ ← θ(1 − ηλ) before the step; made with parameters, PyTorch's: λθ added to the
            gradient, which then enters m and v. `decoupled_weight_decay` chooses.
    """

    name = "adam"
    state_names = ("m", "v")
    keras_names = {"beta_1": "beta1", "beta_2": "beta2"}

    def __init__(self, params=None, lr=None, *, beta1=0.9, beta2=0.999, eps=None,
                 eps_on_v_hat=None, epsilon=None, weight_decay=0.0, decoupled_weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        if epsilon is not None:
            if eps is not None or eps_on_v_hat is not None:
                raise TypeError(f"{type(self).__name__} got Keras's epsilon= (ε added to √v) "
                                "with eps= or eps_on_v_hat=, which are the same setting: pass "
                                "one")
            eps, eps_on_v_hat = epsilon, False
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        if eps is None and eps_on_v_hat is None:
            eps, eps_on_v_hat = (1e-8, True) if _made_with_params(params) else (1e-7, False)
        self.eps = _positive("eps", 1e-8 if eps is None else eps)
        if eps_on_v_hat not in (None, True, False):
            raise ValueError("eps_on_v_hat must be True or False, got "
                             f"eps_on_v_hat={eps_on_v_hat!r}")
        self.eps_on_v_hat = eps_on_v_hat is not False
        super().__init__(params, lr=lr, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm,
                         weight_decay=_number("weight_decay", weight_decay),
                         decoupled_weight_decay=decoupled_weight_decay)

    # The update rule (gradkit._fast installs a compiled one with the same results).
    rule = staticmethod(updates.adam_update)

    def _apply(self, lr, g):
        self.rule(self._flat, g, self._buffer("m"), self._buffer("v"),
                  scratch=self._work(), **self._settings(lr))

    def _settings(self, lr):
        return dict(lr=lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                    eps_on_v_hat=self.eps_on_v_hat, t=self.iterations + 1,
                    flush=self._flush_due())

    def get_config(self):
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "eps_on_v_hat": self.eps_on_v_hat, **self._decay_config()}


class AdamW(Adam):
    """Adam with decoupled weight decay: θ ← θ(1 − ηλ), then the Adam step (Keras's and
    PyTorch's AdamW alike).

    Args:
        lr, beta1, beta2, eps, eps_on_v_hat: as `Adam`.
        weight_decay: λ ≥ 0. Default: Keras's 0.004 made without parameters (as Keras users
            do, or "adamw" by name), PyTorch's 0.01 made with parameters (as PyTorch users
            do).
    """

    name = "adamw"
    rule = staticmethod(updates.adamw_update)
    rule_decays = True        # the fused rule decays the weights itself

    def __init__(self, params=None, lr=None, *, beta1=0.9, beta2=0.999, eps=None,
                 eps_on_v_hat=None, epsilon=None, weight_decay=None,
                 decoupled_weight_decay=True, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        if decoupled_weight_decay is not True:
            raise ValueError("AdamW's weight decay is decoupled, got decoupled_weight_decay="
                             f"{decoupled_weight_decay!r}; Adam(weight_decay=..., "
                             "decoupled_weight_decay=False) adds λθ to the gradient")
        if weight_decay is None:
            weight_decay = 1e-2 if _made_with_params(params) else 4e-3
        super().__init__(params, lr, beta1=beta1, beta2=beta2, eps=eps,
                         eps_on_v_hat=eps_on_v_hat, epsilon=epsilon, weight_decay=weight_decay,
                         decoupled_weight_decay=True, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm)

    def _settings(self, lr):
        return {**super()._settings(lr), "weight_decay": self.weight_decay}
