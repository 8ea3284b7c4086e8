"""Reference solutions of the series' exercises.

Written the way a learner would write them: short, in the course's notation,
one step per line. Arrays are (units, examples) = ``(n_l, m)``; statistics are
taken over the examples, ``axis=1``; per-unit parameters have shape ``(n_l, 1)``.
Each function passes its checker in :mod:`bnutils.checks`.

Peek only after trying! In a notebook, ``bnutils.solutions.batchnorm_forward??``
shows the code of one solution.
"""

from __future__ import annotations

import numpy as np

from bnutils.layers import BNCache

__all__ = [
    "batch_mean_std",
    "batch_var_std",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "fold_normalization",
    "normalize_inputs",
    "percentiles_over_training",
    "saturation_share",
    "update_running_stats",
]


def normalize_inputs(X_train, X_test):
    """Normalize both sets with the TRAINING set's per-feature mean and std.

    Parameters
    ----------
    X_train : training inputs, shape (n_x, m_train).
    X_test : test inputs, shape (n_x, m_test).

    Returns
    -------
    X_train_norm : shape (n_x, m_train); each feature has mean 0 and variance 1.
    X_test_norm : shape (n_x, m_test), shifted and scaled like the training set.
    """
    # mu and sigma^2 come from the training set only, one value per feature.
    mu = np.mean(X_train, axis=1, keepdims=True)  # (n_x, 1)
    sigma2 = np.mean((X_train - mu) ** 2, axis=1, keepdims=True)  # (n_x, 1)
    # Divide by the standard deviation sigma, not by the variance sigma^2.
    # The tiny 1e-8 keeps a constant feature (sigma = 0) from dividing by zero.
    sigma = np.sqrt(sigma2 + 1e-8)
    # The same transformation for both sets: the test set uses the training mu, sigma.
    X_train_norm = (X_train - mu) / sigma
    X_test_norm = (X_test - mu) / sigma
    return X_train_norm, X_test_norm


def fold_normalization(W, b, mu, sigma):
    """Merge a fixed input normalization into the layer that follows it (notebook 01).

    Parameters
    ----------
    W : weights of a layer trained on normalized inputs, shape (n_1, n_x).
    b : its bias, shape (n_1, 1).
    mu, sigma : the mean and standard deviation used to normalize, shape (n_x, 1).

    Returns
    -------
    W_raw : shape (n_1, n_x). b_raw : shape (n_1, 1). Together they satisfy
    W_raw @ X + b_raw == W @ ((X - mu) / sigma) + b for every X of shape (n_x, m).
    """
    # sum_j W[k, j] (x_j - mu_j) / sigma_j + b_k
    #   = sum_j (W[k, j] / sigma_j) x_j + (b_k - sum_j W[k, j] mu_j / sigma_j)
    W_raw = W / sigma.T  # feature j is column j of W: divide the columns, (n_1, n_x)
    b_raw = b - W @ (mu / sigma)  # the constant part, summed over features, (n_1, 1)
    return W_raw, b_raw


def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    """Batch Norm in training mode.

    Parameters
    ----------
    Z : pre-activations of a mini-batch, shape (n_l, m).
    gamma, beta : scale and shift, shape (n_l, 1).
    eps : small number added to the variance inside the square root.

    Returns
    -------
    Z_tilde : gamma * Z_norm + beta, shape (n_l, m).
    cache : a BNCache with what the backward pass needs.
    """
    m = Z.shape[1]
    mu = np.sum(Z, axis=1, keepdims=True) / m  # mean of each unit, (n_l, 1)
    Z_centered = Z - mu  # (n_l, m)
    var = np.sum(Z_centered**2, axis=1, keepdims=True) / m  # biased variance, (n_l, 1)
    inv_std = 1 / np.sqrt(var + eps)  # eps INSIDE the square root, (n_l, 1)
    Z_norm = Z_centered * inv_std  # mean 0, variance ~1 per unit, (n_l, m)
    Z_tilde = gamma * Z_norm + beta  # learnable scale and shift, (n_l, m)
    cache = BNCache(Z, mu, var, Z_centered, inv_std, Z_norm, gamma, beta, eps)
    return Z_tilde, cache


def batchnorm_backward(dZ_tilde, cache):
    """Backward pass of Batch Norm, one step of the chain rule at a time.

    Parameters
    ----------
    dZ_tilde : upstream gradient dL/dZ_tilde, shape (n_l, m).
    cache : the BNCache of the forward pass.

    Returns
    -------
    dZ : dL/dZ, shape (n_l, m).
    dgamma, dbeta : dL/dgamma and dL/dbeta, shape (n_l, 1).
    """
    m = dZ_tilde.shape[1]
    # Z_tilde = gamma * Z_norm + beta: gamma and beta are shared by all m
    # examples, so their gradients sum over the examples.
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)  # (n_l, 1)
    dgamma = np.sum(dZ_tilde * cache.Z_norm, axis=1, keepdims=True)  # (n_l, 1)
    dZ_norm = dZ_tilde * cache.gamma  # (n_l, m)

    # Z_norm = Z_centered * inv_std with inv_std = (var + eps)^(-1/2).
    # var depends on Z too, so the gradient also flows through var ...
    dvar = np.sum(dZ_norm * cache.Z_centered, axis=1, keepdims=True) * (
        -0.5 * cache.inv_std**3
    )  # (n_l, 1)
    # ... and through mu (via Z_centered in both Z_norm and var; the var part
    # is dvar * mean(-2 * Z_centered) = 0, because Z_centered has mean 0).
    dmu = -np.sum(dZ_norm * cache.inv_std, axis=1, keepdims=True)  # (n_l, 1)

    # Each Z value reaches the loss directly, through var and through mu.
    dZ = dZ_norm * cache.inv_std + dvar * 2 * cache.Z_centered / m + dmu / m
    return dZ, dgamma, dbeta


def update_running_stats(running_mean, running_var, mu_B, var_B, m, ema_beta):
    """One step of the exponentially weighted averages used at test time.

    Parameters
    ----------
    running_mean, running_var : current running statistics, shape (n_l, 1).
    mu_B, var_B : mean and biased variance of the mini-batch, shape (n_l, 1).
    m : number of examples in the mini-batch.
    ema_beta : weight of the old value (e.g. 0.9).

    Returns
    -------
    new_mean, new_var : updated running statistics, shape (n_l, 1).
    """
    # The course's average v = beta * v + (1 - beta) * theta keeps ema_beta of the
    # old value. The variance fed in is the unbiased m / (m - 1) * var_B.
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * (m / (m - 1)) * var_B
    return new_mean, new_var


def batchnorm_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    """Batch Norm at test time: normalize with the running statistics.

    Parameters
    ----------
    Z : pre-activations, shape (n_l, m); any m >= 1, even a single example.
    gamma, beta, running_mean, running_var : shape (n_l, 1).
    eps : small number added to the variance inside the square root.

    Returns
    -------
    Z_tilde : shape (n_l, m). Each example is normalized on its own.
    """
    Z_norm = (Z - running_mean) / np.sqrt(running_var + eps)  # no batch statistics
    return gamma * Z_norm + beta


# Notebook 04: how noisy are the mini-batch statistics?


def batch_mean_std(sigma, m):
    """Standard deviation of the mini-batch mean mu_B over random mini-batches.

    sigma : standard deviation of one unit's values; m : examples per batch (>= 2,
    an int or an array of ints).
    """
    # mu_B averages m independent values: Var(mu_B) = sigma^2 / m.
    return sigma / np.sqrt(m)


def batch_var_std(sigma, m):
    """Standard deviation of the biased mini-batch variance sigma^2_B (Gaussian data).

    sigma : standard deviation of one unit's values; m : examples per batch (>= 2).
    """
    # m * sigma^2_B / sigma^2 follows a chi-square with m - 1 degrees of freedom,
    # whose variance is 2 (m - 1): Var(sigma^2_B) = 2 sigma^4 (m - 1) / m^2.
    return sigma**2 * np.sqrt(2 * (m - 1)) / m


# Notebook 05: how a unit's input distribution moves during training.


def percentiles_over_training(unit_inputs):
    """The 15th, 50th and 85th percentiles of a unit's input at each record.

    unit_inputs : shape (n_records, n_probe): row k holds the unit's input for
    each probe example at record k.

    Returns shape (n_records, 3): columns are the 15th, 50th and 85th percentiles.
    """
    # One distribution per record: the percentiles go over the probe examples,
    # axis=1. np.percentile takes percents (15, not 0.15) and returns (3, n_records).
    p = np.percentile(unit_inputs, [15, 50, 85], axis=1)
    return p.T


# Notebook 07: diagnosing a network.


def saturation_share(A, activation):
    """The share of saturated (or dead) units of one layer.

    A : activations of one hidden layer, shape (n_l, m).
    activation : "tanh", "sigmoid" or "relu".

    Returns a float in [0, 1]:
    tanh: share of entries with |a| > 0.97 (the flat tails);
    sigmoid: share of entries below 0.03 or above 0.97;
    relu: share of *units* that are zero for every example (dead units).
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"A must have shape (n_l, m); got {A.shape}.")
    margin = 0.03  # bnutils.train.SATURATION_MARGIN
    if activation == "tanh":
        return float(np.mean(np.abs(A) > 1 - margin))
    if activation == "sigmoid":
        return float(np.mean((A < margin) | (A > 1 - margin)))
    if activation == "relu":
        # a dead unit outputs 0 for every example (axis=1), so it passes no gradient
        return float(np.mean(np.all(A <= 0, axis=1)))
    raise ValueError(
        f"activation must be 'tanh', 'sigmoid' or 'relu'; got {activation!r}."
    )
