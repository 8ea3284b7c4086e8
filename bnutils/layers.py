"""Batch Normalization maths in the course's notation.

Conventions (fixed here, once, and tested in ``tests/test_layers.py``):

* **Layout.** Arrays are (units, examples) = ``(n_l, m)``, as in Andrew Ng's
  course. Statistics are taken over the examples axis, ``axis=1``. ``gamma``,
  ``beta``, ``running_mean`` and ``running_var`` have shape ``(n_l, 1)`` so they
  broadcast over the examples. PyTorch, Keras and CS231n use the transposed
  (examples, features) layout with statistics over ``axis=0``.
* **Variance used to normalize in training.** The biased mini-batch variance
  ``var_B = mean((Z - mu_B)**2, axis=1)`` (Ioffe & Szegedy 2015, Algorithm 1;
  the same in every framework).
* **eps** sits *inside* the square root: ``Z_norm = (Z - mu_B) / sqrt(var_B + eps)``,
  default ``1e-5`` (PyTorch, CS231n; Keras uses ``1e-3``).
* **Running averages** (the course's exponentially weighted average)::

      running = ema_beta * running + (1 - ema_beta) * batch_stat

  with ``ema_beta = 0.9`` by default. The running *variance* is fed the unbiased
  batch variance ``m / (m - 1) * var_B`` (PyTorch's convention and Ioffe's
  Algorithm 2). Running statistics start at mean 0 and variance 1.
* **dtype.** The statistics are computed in the dtype of ``Z``; the output follows
  numpy's promotion of ``Z`` with ``gamma`` and ``beta`` (float32 everywhere gives
  float32; the :class:`BatchNorm` layer's parameters are float64).

The pure functions :func:`batchnorm_forward` and :func:`batchnorm_backward` hold
the maths; the thin class :class:`BatchNorm` keeps the state (gamma, beta, the
running statistics). The mode is always an explicit argument.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

try:  # einsum's C core, without the Python wrapper (1-2 us a call on tiny arrays)
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - numpy < 2.0
    try:
        from numpy.core.multiarray import c_einsum as _einsum
    except ImportError:
        _einsum = np.einsum

__all__ = [
    "BNCache",
    "BatchNorm",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "validate_batch",
    "validate_param",
]


class BNCache(NamedTuple):
    """What :func:`batchnorm_forward` keeps for the backward pass.

    Every array has shape ``(n_l, m)`` except ``mu``, ``var``, ``inv_std``,
    ``gamma`` and ``beta``, which have shape ``(n_l, 1)``.
    """

    Z: np.ndarray  # the input pre-activations, (n_l, m)
    mu: np.ndarray  # mini-batch mean, (n_l, 1)
    var: np.ndarray  # biased mini-batch variance, (n_l, 1)
    Z_centered: np.ndarray  # Z - mu, (n_l, m)
    inv_std: np.ndarray  # 1 / sqrt(var + eps), (n_l, 1)
    Z_norm: np.ndarray  # normalized Z (mean 0, variance ~1 per unit), (n_l, m)
    gamma: np.ndarray  # scale, (n_l, 1)
    beta: np.ndarray  # shift, (n_l, 1)
    eps: float


def _refuse_masked(x, name: str) -> None:
    if isinstance(x, np.ma.MaskedArray):
        raise ValueError(
            f"{name} is a masked array; Batch Norm would silently ignore its mask. "
            f"Drop or fill the masked entries first, e.g. {name}.filled(value) or "
            "keep only complete examples."
        )


def _real_float(x, name: str) -> np.ndarray:
    """``x`` as a real floating-point array: float32/float64 as they are, float16
    upcast to float32 (its range ends at 65504, too small for squared
    deviations), integers as float64; anything else refused."""
    _refuse_masked(x, name)
    x = np.asarray(x)
    kind = x.dtype.kind
    if kind == "f":
        return x.astype(np.float32) if x.dtype.itemsize < 4 else x
    if kind in "iu":
        return x.astype(np.float64)
    what = {
        "c": "complex numbers",
        "b": "booleans",
        "U": "strings",
        "S": "bytes",
        "O": "Python objects",
    }.get(kind, f"dtype {x.dtype}")
    raise ValueError(
        f"{name} must hold real numbers (a float array); got {what} (dtype "
        f"{x.dtype}). Convert it first, e.g. np.asarray({name}, dtype=float)."
    )


def validate_batch(Z, name: str = "Z", *, training: bool = True) -> np.ndarray:
    """Check that ``Z`` is a finite 2-D array of shape ``(n_l, m)``.

    In training mode a batch needs at least two examples. Returns ``Z`` as a
    floating-point array: the input itself when it is float32 or float64 (it is
    never written to), float16 upcast to float32, integers as float64.
    """
    Z = _real_float(Z, name)
    if Z.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_l, m) = (units, examples); got an "
            f"array of shape {Z.shape}. For a single unit use Z.reshape(1, -1); "
            "for one example use Z.reshape(-1, 1) (inference mode only)."
        )
    if not np.isfinite(_einsum("ij->", Z)):
        _raise_nonfinite(Z, name)
    if training and Z.shape[1] < 2:
        raise ValueError(
            f"{name} has shape {Z.shape}: a mini-batch of {Z.shape[1]} example(s) "
            "in training mode. With one example the batch variance is 0 and every "
            "normalized value is 0, so the layer outputs beta whatever the input. "
            "Use a mini-batch of at least 2 examples (in practice 32 or more), or "
            "training=False to use the running statistics."
        )
    return Z


def _raise_nonfinite(Z: np.ndarray, name: str) -> None:
    """Called when a sum over ``Z`` is not finite: either ``Z`` holds NaN or
    infinity (raise, saying how many), or its finite values are so large that
    their sum overflowed (raise, saying how to rescale)."""
    bad = np.size(Z) - np.count_nonzero(np.isfinite(Z))
    if bad:
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s). Batch Norm cannot "
            "normalize them; look for a diverging learning rate or a bad input "
            "upstream (np.isfinite(...) finds the entries)."
        )
    _raise_too_large(Z, name)


def _raise_too_large(Z: np.ndarray, name: str) -> None:
    big = float(np.max(np.abs(Z)))
    raise ValueError(
        f"{name} holds values up to {big:.3g}: their mean or variance overflows "
        f"{Z.dtype} (largest number {np.finfo(Z.dtype).max:.3g}), so the "
        "normalized values cannot be computed. Batch Norm does not depend on the "
        f"scale of {name}: divide it by a constant (e.g. {name} / {big:.1g}) and "
        "normalize that."
    )


def validate_param(p, name: str, n_units: int) -> np.ndarray:
    """Check that a per-unit parameter (gamma, beta, running statistic) has shape
    ``(n_units, 1)`` and is finite."""
    if (
        type(p) is np.ndarray
        and p.shape == (n_units, 1)
        and p.dtype.kind == "f"
        and p.dtype.itemsize >= 4
    ):
        if not np.isfinite(_einsum("ij->", p)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        return p
    p = _real_float(p, name)
    if p.shape != (n_units, 1):
        hint = ""
        if p.ndim == 2 and p.shape[0] == n_units and p.shape[1] > 1:
            hint = (
                " It looks like one value per example: BN keeps one value per unit, "
                "shared by every example of the batch."
            )
        elif p.shape in ((n_units,), (1, n_units)):
            hint = f" Reshape it with {name}.reshape({n_units}, 1)."
        raise ValueError(
            f"{name} must have shape (n_l, 1) = ({n_units}, 1), one value per unit; "
            f"got {p.shape}.{hint}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return p


def _is_real_number(x) -> bool:
    """A real Python or numpy number, not a bool, a string or an array."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_)
    )


def _check_eps(eps) -> float:
    if type(eps) is float and 0.0 < eps < math.inf:  # the common case, fast
        return eps
    if not _is_real_number(eps):
        raise ValueError(
            f"eps must be a small positive number such as 1e-5; got {eps!r} "
            f"({type(eps).__name__})."
        )
    eps = float(eps)
    if not eps > 0 or not np.isfinite(eps):
        raise ValueError(
            f"eps must be a small positive number (e.g. 1e-5); got {eps}. It keeps "
            "the square root away from zero when a unit's batch variance is 0."
        )
    return eps


def _forward_core(Z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    """The maths of :func:`batchnorm_forward` on validated inputs.

    Returns ``(Z_tilde, cache)``, or ``None`` when a statistic is not finite
    (NaN or infinity in ``Z``, or values so large that the variance overflows):
    the caller decides what to raise. Fewer passes over ``Z`` than the textbook
    sequence of operations, and no temporary array that isn't kept.
    """
    m = Z.shape[1]
    # Sums over the examples with einsum: one pass, no temporary array, and no
    # floating-point warning when a sum overflows (checked just below).
    mu = _einsum("ij->i", Z)[:, None]
    mu *= 1.0 / m
    if not np.isfinite(_einsum("ij->", mu)):
        return None
    # Two-pass variance on the centred values: stable for large offsets
    # (Z = 1e6 + noise), unlike mean(Z**2) - mu**2.
    Z_centered = Z - mu
    var = _einsum("ij,ij->i", Z_centered, Z_centered)[:, None]
    var *= 1.0 / m
    if not np.isfinite(_einsum("ij->", var)):
        return None
    inv_std = var + eps
    np.sqrt(inv_std, out=inv_std)
    np.divide(1.0, inv_std, out=inv_std)
    Z_norm = Z_centered * inv_std
    Z_tilde = Z_norm * gamma
    Z_tilde += beta
    return Z_tilde, BNCache(Z, mu, var, Z_centered, inv_std, Z_norm, gamma, beta, eps)


def _backward_core(dZ_tilde: np.ndarray, cache: BNCache):
    """The maths of :func:`batchnorm_backward` on a validated upstream gradient.

    With ``dZ_norm = gamma * dZ_tilde``, the sums over the examples in the
    compact formula are ``gamma * dbeta`` and ``gamma * dgamma``, so::

        dZ = gamma * inv_std * (dZ_tilde - dbeta / m - Z_norm * dgamma / m)

    which is the compact formula with the common factor taken out. Returns
    ``None`` when dgamma or dbeta is not finite (NaN or infinity upstream).
    """
    m = dZ_tilde.shape[1]
    Z_norm = cache.Z_norm
    dbeta = _einsum("ij->i", dZ_tilde)[:, None]
    dgamma = _einsum("ij,ij->i", dZ_tilde, Z_norm)[:, None]
    if not np.isfinite(_einsum("ij->", dbeta) + _einsum("ij->", dgamma)):
        return None
    dZ = Z_norm * (dgamma * (1.0 / m))
    np.subtract(dZ_tilde, dZ, out=dZ)
    dZ -= dbeta * (1.0 / m)
    dZ *= cache.gamma * cache.inv_std
    return dZ, dgamma, dbeta


def batchnorm_forward(Z, gamma, beta, eps: float = 1e-5):
    """Batch Norm in training mode (Ioffe & Szegedy 2015, Algorithm 1).

    Parameters
    ----------
    Z : pre-activations of one layer, shape (n_l, m), m >= 2.
    gamma : scale, shape (n_l, 1).
    beta : shift, shape (n_l, 1). Not the beta of momentum, RMSprop or Adam.
    eps : added to the variance inside the square root.

    Returns
    -------
    Z_tilde : ``gamma * Z_norm + beta``, shape (n_l, m).
    cache : :class:`BNCache` for :func:`batchnorm_backward`.

    The inputs are never modified. Raises ValueError for NaN or infinite
    values, and for values so large that their variance overflows (Batch Norm
    does not depend on the scale of ``Z``: divide it by a constant first).
    """
    Z = _real_float(Z, "Z")
    if Z.ndim != 2 or Z.shape[1] < 2:
        validate_batch(Z, "Z", training=True)  # raises with the right message
    n_l = Z.shape[0]
    gamma = validate_param(gamma, "gamma", n_l)
    beta = validate_param(beta, "beta", n_l)
    eps = _check_eps(eps)
    out = _forward_core(Z, gamma, beta, eps)
    if out is None:
        _raise_nonfinite(Z, "Z")
        _raise_too_large(Z, "Z")
    return out


def batchnorm_backward(dZ_tilde, cache: BNCache):
    """Backward pass of :func:`batchnorm_forward`.

    Parameters
    ----------
    dZ_tilde : upstream gradient dL/dZ_tilde, shape (n_l, m).
    cache : the :class:`BNCache` returned by the forward pass.

    Returns
    -------
    dZ : dL/dZ, shape (n_l, m).
    dgamma : dL/dgamma, shape (n_l, 1).
    dbeta : dL/dbeta, shape (n_l, 1).

    With ``dZ_norm = dZ_tilde * gamma`` the compact formula is::

        dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * Z_norm))

    (sums over the examples axis). Every row of ``dZ`` sums to zero, which is
    why a bias added before Batch Norm receives no gradient.
    """
    if not isinstance(cache, BNCache):
        raise ValueError(
            "cache must be the BNCache returned by batchnorm_forward(Z, gamma, beta); "
            f"got {type(cache).__name__}."
        )
    dZ_tilde = _real_float(dZ_tilde, "dZ_tilde")
    if dZ_tilde.shape != cache.Z_norm.shape:
        raise ValueError(
            f"dZ_tilde must have the shape of the forward output {cache.Z_norm.shape}; "
            f"got {dZ_tilde.shape}."
        )
    out = _backward_core(dZ_tilde, cache)
    if out is None:
        if not np.all(np.isfinite(dZ_tilde)):
            raise ValueError("dZ_tilde contains NaN or infinite values.")
        raise ValueError(
            "dL/dgamma or dL/dbeta overflows: dZ_tilde holds values up to "
            f"{float(np.max(np.abs(dZ_tilde))):.3g}. Look for a diverging loss."
        )
    return out


def batchnorm_inference(Z, gamma, beta, running_mean, running_var, eps: float = 1e-5):
    """Batch Norm at test time: normalize with fixed (running) statistics.

    Parameters
    ----------
    Z : shape (n_l, m); any m >= 1 (one example at a time works).
    gamma, beta, running_mean, running_var : shape (n_l, 1).

    Returns ``gamma * (Z - running_mean) / sqrt(running_var + eps) + beta``, an
    affine map of Z, so each example's output depends on that example alone.
    """
    Z = validate_batch(Z, "Z", training=False)
    n_l = Z.shape[0]
    gamma = validate_param(gamma, "gamma", n_l)
    beta = validate_param(beta, "beta", n_l)
    running_mean = validate_param(running_mean, "running_mean", n_l)
    running_var = validate_param(running_var, "running_var", n_l)
    if np.any(running_var < 0):
        raise ValueError("running_var must be non-negative.")
    eps = _check_eps(eps)
    return gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta


def _check_ema_beta(ema_beta) -> float:
    if not _is_real_number(ema_beta):
        raise ValueError(
            f"ema_beta must be a number in [0, 1); got {ema_beta!r} "
            f"({type(ema_beta).__name__}). Typical values are 0.9 (PyTorch "
            "momentum=0.1) or 0.99 (Keras momentum=0.99)."
        )
    if not 0.0 <= ema_beta < 1.0:
        raise ValueError(
            f"ema_beta must be in [0, 1); got {ema_beta}. Typical values are 0.9 "
            "(PyTorch momentum=0.1) or 0.99 (Keras momentum=0.99)."
        )
    return float(ema_beta)


class BatchNorm:
    """A Batch Norm layer: learnable ``gamma``, ``beta`` and running statistics.

    Parameters
    ----------
    n_units : number of units n_l of the layer it normalizes.
    ema_beta : weight of the old value in the exponentially weighted average of
        the batch statistics, ``running = ema_beta * running + (1 - ema_beta) * stat``
        (the course's ``v = beta * v + (1 - beta) * theta``). The series calls it
        ``ema_beta`` so that it can't be confused with the BN shift ``beta`` nor
        with the ``beta`` of momentum, RMSprop or Adam.

        * PyTorch ``BatchNorm1d(momentum=p)`` uses ``running = (1 - p) * running +
          p * stat``: its ``momentum`` is ``1 - ema_beta`` (0.1 <-> 0.9).
        * Keras ``BatchNormalization(momentum=mom)`` uses ``running = mom * running
          + (1 - mom) * stat``: its ``momentum`` *is* ``ema_beta`` (default 0.99).
          Keras feeds the biased variance and uses ``epsilon=1e-3``.
    eps : added to the variance inside the square root (PyTorch's 1e-5).

    Attributes
    ----------
    gamma, beta : shape (n_units, 1), start at 1 and 0.
    running_mean, running_var : shape (n_units, 1), start at 0 and 1.
    dgamma, dbeta : gradients set by :meth:`backward`, shape (n_units, 1).
    """

    def __init__(self, n_units: int, ema_beta: float = 0.9, eps: float = 1e-5):
        if (
            isinstance(n_units, bool)
            or not isinstance(n_units, (int, np.integer))
            or n_units < 1
        ):
            raise ValueError(f"n_units must be a positive integer; got {n_units!r}.")
        self.n_units = int(n_units)
        self.ema_beta = _check_ema_beta(ema_beta)
        self.eps = _check_eps(eps)
        self.gamma = np.ones((self.n_units, 1))
        self.beta = np.zeros((self.n_units, 1))
        self._running_mean = np.zeros((self.n_units, 1))
        self._running_var = np.ones((self.n_units, 1))
        self.dgamma = np.zeros((self.n_units, 1))
        self.dbeta = np.zeros((self.n_units, 1))
        self.n_updates = 0
        self._cache: BNCache | None = None

    def __repr__(self) -> str:
        return (
            f"BatchNorm(n_units={self.n_units}, ema_beta={self.ema_beta}, "
            f"eps={self.eps})"
        )

    @property
    def running_mean(self) -> np.ndarray:
        """Running (exponentially weighted) mean of the batch means, (n_units, 1)."""
        return self._running_mean

    @running_mean.setter
    def running_mean(self, value) -> None:
        self._running_mean = self._checked_stat(value, "running_mean")

    @property
    def running_var(self) -> np.ndarray:
        """Running average of the unbiased batch variances, (n_units, 1), >= 0."""
        return self._running_var

    @running_var.setter
    def running_var(self, value) -> None:
        value = self._checked_stat(value, "running_var")
        if np.any(value < 0):
            raise ValueError("running_var must be non-negative: it is a variance.")
        self._running_var = value

    def _checked_stat(self, value, name: str) -> np.ndarray:
        """A running statistic assigned from outside: shape (n_units, 1), finite;
        stored as a copy in the layer's own dtype (float64 unless set)."""
        value = validate_param(value, name, self.n_units)
        return np.array(value, dtype=self._stat_dtype(), copy=True)

    def _stat_dtype(self):
        return np.float64

    def forward(self, Z, training: bool = True):
        """Normalize ``Z`` of shape (n_units, m).

        ``training=True``: mini-batch statistics, and the running statistics are
        updated. ``training=False``: the running statistics, nothing is updated.
        """
        if not isinstance(training, (bool, np.bool_)):
            raise ValueError(f"training must be True or False; got {training!r}.")
        Z = validate_batch(Z, "Z", training=training)
        if Z.shape[0] != self.n_units:
            raise ValueError(
                f"Z has {Z.shape[0]} units (rows) but this BatchNorm layer was made "
                f"for {self.n_units}. Z must have shape (n_units, m) = "
                f"({self.n_units}, m); did you pass the transposed (m, n) layout?"
            )
        if not training:
            self._cache = None
            return batchnorm_inference(
                Z, self.gamma, self.beta, self.running_mean, self.running_var, self.eps
            )
        gamma = validate_param(self.gamma, "gamma", self.n_units)
        beta = validate_param(self.beta, "beta", self.n_units)
        out = _forward_core(Z, gamma, beta, self.eps)
        if out is None:
            _raise_too_large(Z, "Z")
        Z_tilde, cache = out
        self._update_running(cache)
        self._cache = cache
        return Z_tilde

    def _update_running(self, cache: BNCache) -> None:
        """``running = ema_beta * running + (1 - ema_beta) * batch statistic``;
        the variance fed in is the unbiased ``m / (m - 1) * var_B``. New arrays
        (never written in place), in the running statistics' own dtype."""
        m = cache.Z.shape[1]
        b = self.ema_beta
        rm, rv = self._running_mean, self._running_var
        new_mean = rm * b  # a new array, in the running statistics' dtype
        new_mean += (1.0 - b) * cache.mu
        new_var = rv * b
        new_var += ((1.0 - b) * m / (m - 1)) * cache.var
        self._running_mean, self._running_var = new_mean, new_var
        self.n_updates += 1

    def backward(self, dZ_tilde):
        """Return dL/dZ and set ``self.dgamma`` and ``self.dbeta``.

        Needs a preceding ``forward(Z, training=True)``.
        """
        if self._cache is None:
            raise ValueError(
                "backward() needs a preceding forward(Z, training=True): there is no "
                "training-mode forward pass to differentiate."
            )
        dZ, self.dgamma, self.dbeta = batchnorm_backward(dZ_tilde, self._cache)
        return dZ
