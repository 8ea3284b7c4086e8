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

from typing import NamedTuple

import numpy as np

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


def validate_batch(Z, name: str = "Z", *, training: bool = True) -> np.ndarray:
    """Check that ``Z`` is a finite 2-D array of shape ``(n_l, m)``.

    In training mode a batch needs at least two examples. Returns ``Z`` as a
    floating-point array: the input itself when it already is one (it is never
    written to), otherwise a float64 copy.
    """
    Z = np.asarray(Z)
    if Z.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_l, m) = (units, examples); got an "
            f"array of shape {Z.shape}. For a single unit use Z.reshape(1, -1); "
            "for one example use Z.reshape(-1, 1) (inference mode only)."
        )
    if not np.issubdtype(Z.dtype, np.floating):
        if not np.issubdtype(Z.dtype, np.number) or np.issubdtype(
            Z.dtype, np.complexfloating
        ):
            raise ValueError(f"{name} must hold real numbers; got dtype {Z.dtype}.")
        Z = Z.astype(np.float64)
    if not np.all(np.isfinite(Z)):
        n_bad = int(np.size(Z) - np.count_nonzero(np.isfinite(Z)))
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s). Batch Norm cannot "
            "normalize them; look for a diverging learning rate or a bad input "
            "upstream (np.isfinite(...) finds the entries)."
        )
    if training and Z.shape[1] < 2:
        raise ValueError(
            f"{name} has shape {Z.shape}: a mini-batch of {Z.shape[1]} example(s) "
            "in training mode. With one example the batch variance is 0 and every "
            "normalized value is 0, so the layer outputs beta whatever the input. "
            "Use a mini-batch of at least 2 examples (in practice 32 or more), or "
            "training=False to use the running statistics."
        )
    return Z


def validate_param(p, name: str, n_units: int) -> np.ndarray:
    """Check that a per-unit parameter (gamma, beta, running statistic) has shape
    ``(n_units, 1)`` and is finite."""
    p = np.asarray(p)
    if not np.issubdtype(p.dtype, np.number) or np.issubdtype(
        p.dtype, np.complexfloating
    ):
        raise ValueError(f"{name} must hold real numbers; got dtype {p.dtype}.")
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


def _check_eps(eps) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a number such as 1e-5; got {eps!r}.") from None
    if not eps > 0 or not np.isfinite(eps):
        raise ValueError(
            f"eps must be a small positive number (e.g. 1e-5); got {eps}. It keeps "
            "the square root away from zero when a unit's batch variance is 0."
        )
    return eps


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

    The inputs are never modified.
    """
    Z = validate_batch(Z, "Z", training=True)
    n_l = Z.shape[0]
    gamma = validate_param(gamma, "gamma", n_l)
    beta = validate_param(beta, "beta", n_l)
    eps = _check_eps(eps)

    mu = Z.mean(axis=1, keepdims=True)
    # Two-pass variance on the centred values: stable for large offsets
    # (Z = 1e6 + noise), unlike mean(Z**2) - mu**2.
    Z_centered = Z - mu
    var = np.mean(Z_centered**2, axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Z_norm = Z_centered * inv_std
    Z_tilde = gamma * Z_norm + beta
    cache = BNCache(Z, mu, var, Z_centered, inv_std, Z_norm, gamma, beta, eps)
    return Z_tilde, cache


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
    dZ_tilde = np.asarray(dZ_tilde)
    if not np.issubdtype(dZ_tilde.dtype, np.number):
        raise ValueError(f"dZ_tilde must hold numbers; got dtype {dZ_tilde.dtype}.")
    if dZ_tilde.shape != cache.Z_norm.shape:
        raise ValueError(
            f"dZ_tilde must have the shape of the forward output {cache.Z_norm.shape}; "
            f"got {dZ_tilde.shape}."
        )
    if not np.all(np.isfinite(dZ_tilde)):
        raise ValueError("dZ_tilde contains NaN or infinite values.")
    m = dZ_tilde.shape[1]
    Z_norm = cache.Z_norm
    dbeta = dZ_tilde.sum(axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * cache.gamma
    dZ = (cache.inv_std / m) * (
        m * dZ_norm
        - dZ_norm.sum(axis=1, keepdims=True)
        - Z_norm * np.sum(dZ_norm * Z_norm, axis=1, keepdims=True)
    )
    return dZ, dgamma, dbeta


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
        if not isinstance(ema_beta, (int, float, np.floating)) or not (
            0.0 <= ema_beta < 1.0
        ):
            raise ValueError(
                f"ema_beta must be in [0, 1); got {ema_beta}. Typical values are 0.9 "
                "(PyTorch momentum=0.1) or 0.99 (Keras momentum=0.99)."
            )
        self.n_units = int(n_units)
        self.ema_beta = float(ema_beta)
        self.eps = _check_eps(eps)
        self.gamma = np.ones((self.n_units, 1))
        self.beta = np.zeros((self.n_units, 1))
        self.running_mean = np.zeros((self.n_units, 1))
        self.running_var = np.ones((self.n_units, 1))
        self.dgamma = np.zeros((self.n_units, 1))
        self.dbeta = np.zeros((self.n_units, 1))
        self.n_updates = 0
        self._cache: BNCache | None = None

    def __repr__(self) -> str:
        return (
            f"BatchNorm(n_units={self.n_units}, ema_beta={self.ema_beta}, "
            f"eps={self.eps})"
        )

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
        Z_tilde, cache = batchnorm_forward(Z, self.gamma, self.beta, self.eps)
        m = Z.shape[1]
        unbiased_var = cache.var * (m / (m - 1))
        b = self.ema_beta
        self.running_mean = b * self.running_mean + (1.0 - b) * cache.mu
        self.running_var = b * self.running_var + (1.0 - b) * unbiased_var
        self.n_updates += 1
        self._cache = cache
        return Z_tilde

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
