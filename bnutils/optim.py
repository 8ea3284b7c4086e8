"""Gradient descent, momentum, RMSprop and Adam, as in the course (course 2, week 2).

Every optimizer has ``step(params, grads)``, which updates each array of
``params`` in place (W, b and Batch Norm's gamma and beta alike: for the
optimizer they are all just parameters). ``params`` and ``grads`` are dicts with
the same keys and shapes, e.g. ``net.params`` and ``net.grads``.

A word on names. The course uses the letter beta for three different things:

* Batch Norm's **shift** ``beta`` (``net.params["beta1"]``), a learned parameter
  that these optimizers update;
* the **decay rate** of an exponentially weighted average in momentum,
  RMSprop and Adam (here ``momentum_beta``, ``rms_beta``, ``beta1``, ``beta2``);
* the decay of BN's running statistics (``ema_beta`` in
  :class:`bnutils.layers.BatchNorm`).

So no optimizer accepts a keyword called ``beta``: passing one raises a
ValueError that says which name was meant.

The state (``v``, ``s``) is kept per parameter name and starts at zero; ``t``
counts the steps taken. ``lr`` may be changed between steps (schedules).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bnutils.layers import _einsum

__all__ = [
    "GD",
    "OPTIMIZERS",
    "Adam",
    "Momentum",
    "NonFiniteGradientError",
    "Optimizer",
    "RMSprop",
    "make_optimizer",
]

# Keywords from other libraries or from the notation, and what they map to here.
_HINTS = {
    "momentum": "momentum_beta (this series' name for the momentum decay rate)",
    "betas": "beta1 and beta2 (two separate keywords)",
    "beta_1": "beta1",
    "beta_2": "beta2",
    "rho": "rms_beta",
    "alpha": "rms_beta (PyTorch's RMSprop alpha) or lr",
    "decay": "rms_beta",
    "epsilon": "eps",
    "learning_rate": "lr",
}


def _check_kwargs(owner: str, kwargs: dict, accepted: tuple[str, ...]) -> None:
    """Reject unexpected keywords with a message that names the right one."""
    if not kwargs:
        return
    names = ", ".join(accepted) if accepted else "only lr"
    if "beta" in kwargs:
        raise ValueError(
            f"{owner} has no keyword 'beta' ({owner} accepts: {names}). The name is "
            "ambiguous: Batch Norm's beta is the learned shift "
            "(net.params['beta1'], ...), which the optimizer updates like any "
            "weight; the optimizer's own decay rates are called "
            "momentum_beta (Momentum), rms_beta (RMSprop), beta1 and beta2 (Adam)."
        )
    parts = []
    for key in kwargs:
        hint = _HINTS.get(key)
        parts.append(f"{key!r}" + (f" (did you mean {hint}?)" if hint else ""))
    raise ValueError(
        f"{owner} got unexpected keyword(s) {', '.join(parts)}; it accepts: {names}."
    )


class NonFiniteGradientError(ValueError):
    """A gradient given to :meth:`Optimizer.step` holds NaN or infinity (nothing
    was updated). :func:`bnutils.train.train` catches it and records the run as
    diverged."""


def _is_number(value) -> bool:
    """A real Python or numpy number; not a bool, a string or an array."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_rate(value, name: str) -> float:
    """A decay rate in [0, 1)."""
    if not _is_number(value):
        raise ValueError(
            f"{name} must be a number in [0, 1); got {value!r} "
            f"({type(value).__name__})."
        )
    v = float(value)
    if not (0.0 <= v < 1.0):
        raise ValueError(
            f"{name} must be in [0, 1); got {value!r}. It is the weight of the old "
            "value in an exponentially weighted average (typical: 0.9 or 0.999)."
        )
    return v


def _check_positive(value, name: str, example: str) -> float:
    if not _is_number(value):
        raise ValueError(
            f"{name} must be a positive number (e.g. {example}); got {value!r} "
            f"({type(value).__name__})."
        )
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(
            f"{name} must be a positive, finite number (e.g. {example}); got {value!r}."
        )
    return v


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place.

    Subclasses implement ``_update(key, param, grad)`` for one array.
    """

    #: Hyperparameters shown by ``repr`` (besides ``lr``).
    _hyper: tuple[str, ...] = ()

    def __init__(self, lr: float):
        self.lr = lr
        self.t = 0

    @property
    def lr(self) -> float:
        """The learning rate alpha (may be changed between steps)."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _check_positive(value, "lr", "0.1")

    def __repr__(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}(lr={self.lr!r}{extra})"

    def reset(self) -> None:
        """Forget the state (v, s and the step count t)."""
        self.t = 0
        for name in ("v", "s"):
            if hasattr(self, name):
                getattr(self, name).clear()

    def _state(self, store: dict, key: str, param: np.ndarray) -> np.ndarray:
        arr = store.get(key)
        if arr is None:
            arr = store[key] = np.zeros_like(param)
        elif arr.shape != param.shape:
            raise ValueError(
                f"{type(self).__name__} holds state of shape {arr.shape} for "
                f"{key!r} but the parameter has shape {param.shape}: this optimizer "
                "was used with another network. Create a new optimizer (or call "
                ".reset())."
            )
        return arr

    def step(self, params: Mapping, grads: Mapping) -> None:
        """One update of every parameter, in place.

        Parameters
        ----------
        params : name -> float array (any shape), e.g. ``net.params``; updated
            in place.
        grads : name -> gradient with the same keys and shapes as ``params``.
        """
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise ValueError(
                "step(params, grads) takes two dicts name -> array, e.g. "
                "net.params and net.grads."
            )
        if params.keys() != grads.keys():
            missing = sorted(set(params) - set(grads))
            extra = sorted(set(grads) - set(params))
            raise ValueError(
                "params and grads must have the same keys; "
                f"missing gradients: {missing}, gradients without a parameter: "
                f"{extra}. Did you call net.backward(y) after the forward pass?"
            )
        checked = []
        total = 0.0
        for key, p in params.items():
            if type(p) is not np.ndarray or p.dtype.kind != "f":
                raise ValueError(
                    f"params[{key!r}] must be a float numpy array (it is updated in "
                    f"place); got {type(p).__name__}"
                    + (f" of dtype {p.dtype}." if isinstance(p, np.ndarray) else ".")
                )
            g = _checked_grad(key, grads[key], p)
            # One sum per gradient: the total is finite unless an entry is NaN or
            # infinite (or finite entries so large that a sum overflows).
            total += _einsum("i->", g.reshape(-1))
            checked.append((key, p, g))
        if not np.isfinite(total):
            for key, _, g in checked:
                if not np.all(np.isfinite(g)):
                    raise NonFiniteGradientError(
                        f"grads[{key!r}] contains NaN or infinite values; nothing "
                        "was updated. The loss has probably diverged: try a "
                        "smaller learning rate."
                    )
        self.t += 1
        for key, p, g in checked:
            self._update(key, p, g)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


def _checked_grad(key: str, g, p: np.ndarray) -> np.ndarray:
    """grads[key] as an array of p's dtype: real numbers of p's shape
    (:meth:`Optimizer.step` then checks that they are finite).

    Nothing is updated when any gradient fails (every one is checked first):
    a NaN gradient would silently turn the parameters into NaN.
    """
    if type(g) is not np.ndarray:
        if isinstance(g, np.ma.MaskedArray):
            raise ValueError(
                f"grads[{key!r}] is a masked array; an update would ignore its mask. "
                "Pass a plain array (fill the masked entries first)."
            )
        g = np.asarray(g)
    if g.dtype.kind not in "fiu":
        raise ValueError(
            f"grads[{key!r}] must hold real numbers; got dtype {g.dtype}"
            + (" (strings are not parsed as numbers)." if g.dtype.kind in "US" else ".")
        )
    if g.shape != p.shape:
        raise ValueError(
            f"grads[{key!r}] has shape {g.shape} but params[{key!r}] has "
            f"shape {p.shape}; a gradient has the shape of its parameter."
        )
    if g.dtype != p.dtype:
        g = g.astype(p.dtype)
    return g


class GD(Optimizer):
    """(Mini-batch) gradient descent: ``W := W - lr * dW``.

    Parameters
    ----------
    lr : learning rate alpha > 0.
    """

    def __init__(self, lr: float, **kwargs):
        _check_kwargs("GD", kwargs, ("lr",))
        super().__init__(lr)

    def _update(self, key, p, g):
        p -= self.lr * g


class Momentum(Optimizer):
    """Gradient descent with momentum (no bias correction, as in the course)::

        v := momentum_beta * v + (1 - momentum_beta) * dW
        W := W - lr * v

    Parameters
    ----------
    lr : learning rate alpha > 0.
    momentum_beta : decay rate of the average of the gradients, in [0, 1)
        (0.9 averages over roughly the last 10 steps; 0 is plain gradient
        descent). Not Batch Norm's beta.

    Attributes
    ----------
    v : name -> velocity, same shape as the parameter (starts at 0).
    """

    _hyper = ("momentum_beta",)

    def __init__(self, lr: float, momentum_beta: float = 0.9, **kwargs):
        _check_kwargs("Momentum", kwargs, ("lr", "momentum_beta"))
        super().__init__(lr)
        self.momentum_beta = _check_rate(momentum_beta, "momentum_beta")
        self.v: dict[str, np.ndarray] = {}

    def _update(self, key, p, g):
        b = self.momentum_beta
        v = self._state(self.v, key, p)
        v *= b
        v += (1.0 - b) * g
        p -= self.lr * v


class RMSprop(Optimizer):
    """RMSprop (course 2, week 2)::

        s := rms_beta * s + (1 - rms_beta) * dW**2        (elementwise square)
        W := W - lr * dW / (sqrt(s) + eps)

    Parameters
    ----------
    lr : learning rate alpha > 0.
    rms_beta : decay rate of the average of squared gradients, in [0, 1).
    eps : keeps the division away from zero (outside the square root).

    Attributes
    ----------
    s : name -> average of squared gradients, same shape as the parameter.
    """

    _hyper = ("rms_beta", "eps")

    def __init__(self, lr: float, rms_beta: float = 0.999, eps: float = 1e-8, **kwargs):
        _check_kwargs("RMSprop", kwargs, ("lr", "rms_beta", "eps"))
        super().__init__(lr)
        self.rms_beta = _check_rate(rms_beta, "rms_beta")
        self.eps = _check_positive(eps, "eps", "1e-8")
        self.s: dict[str, np.ndarray] = {}

    def _update(self, key, p, g):
        b = self.rms_beta
        s = self._state(self.s, key, p)
        g2 = g * g
        g2 *= 1.0 - b
        s *= b
        s += g2
        den = np.sqrt(s, out=g2)
        den += self.eps
        num = g * self.lr
        num /= den
        p -= num


class Adam(Optimizer):
    """Adam: momentum and RMSprop with bias correction. At step t = 1, 2, ...::

        v := beta1 * v + (1 - beta1) * dW
        s := beta2 * s + (1 - beta2) * dW**2
        v_hat = v / (1 - beta1**t),   s_hat = s / (1 - beta2**t)
        W := W - lr * v_hat / (sqrt(s_hat) + eps)

    Parameters
    ----------
    lr : learning rate alpha > 0 (0.001 is the usual start).
    beta1, beta2 : decay rates of the first and second moment averages, in
        [0, 1) (0.9 and 0.999). Not Batch Norm's beta.
    eps : keeps the division away from zero (outside the square root).

    Attributes
    ----------
    v, s : name -> first and second moment averages (uncorrected), same shape
        as the parameter.
    t : number of steps taken (the exponent of the bias correction).
    """

    _hyper = ("beta1", "beta2", "eps")

    def __init__(
        self,
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        **kwargs,
    ):
        _check_kwargs("Adam", kwargs, ("lr", "beta1", "beta2", "eps"))
        super().__init__(lr)
        self.beta1 = _check_rate(beta1, "beta1")
        self.beta2 = _check_rate(beta2, "beta2")
        self.eps = _check_positive(eps, "eps", "1e-8")
        self.v: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}

    def _update(self, key, p, g):
        b1, b2, t = self.beta1, self.beta2, self.t
        v = self._state(self.v, key, p)
        s = self._state(self.s, key, p)
        v *= b1
        v += (1.0 - b1) * g
        g2 = g * g
        g2 *= 1.0 - b2
        s *= b2
        s += g2
        # lr * v_hat / (sqrt(s_hat) + eps), with the corrections folded into
        # scalars and the arithmetic done in place (fewer temporary arrays).
        den = np.sqrt(s, out=g2)
        den *= 1.0 / np.sqrt(1.0 - b2**t)
        den += self.eps
        num = v * (self.lr / (1.0 - b1**t))
        num /= den
        p -= num


#: Names accepted by :func:`make_optimizer`.
OPTIMIZERS = {"gd": GD, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}


def make_optimizer(name: str, lr: float, **kw) -> Optimizer:
    """An optimizer by name: ``"gd"``, ``"momentum"``, ``"rmsprop"`` or ``"adam"``
    (case-insensitive), with learning rate ``lr`` and the class's keywords
    (``momentum_beta``; ``rms_beta``, ``eps``; ``beta1``, ``beta2``, ``eps``)."""
    key = str(name).lower() if isinstance(name, str) else None
    if key not in OPTIMIZERS:
        hint = " (plain mini-batch gradient descent is 'gd')" if key == "sgd" else ""
        raise ValueError(
            f"unknown optimizer {name!r}{hint}; choose one of {sorted(OPTIMIZERS)}."
        )
    return OPTIMIZERS[key](lr, **kw)
