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
    "fold_batchnorm",
    "fold_normalization",
    "forward_with_bn",
    "gd_update",
    "ghost_batchnorm_forward",
    "gradient_change",
    "identity_gamma_beta",
    "layernorm_backward",
    "layernorm_forward",
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


def identity_gamma_beta(Z, eps=1e-5):
    """The gamma and beta that make Batch Norm the identity on this batch (notebook 02).

    Parameters
    ----------
    Z : pre-activations of a mini-batch, shape (n_l, m).
    eps : the eps of the Batch Norm layer.

    Returns
    -------
    gamma, beta : shape (n_l, 1), such that batchnorm_forward(Z, gamma, beta, eps)
    gives Z back.
    """
    # gamma (z - mu) / sqrt(var + eps) + beta = z for every z of the unit:
    # the factor of z gives gamma = sqrt(var + eps), the constant beta = mu.
    mu = np.mean(Z, axis=1, keepdims=True)  # (n_l, 1)
    var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)  # biased, as BN uses, (n_l, 1)
    gamma = np.sqrt(var + eps)  # eps inside, exactly as BN divides, (n_l, 1)
    beta = mu  # (n_l, 1)
    return gamma, beta


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


def forward_with_bn(X, params, eps=1e-5):
    """Forward pass of an L-layer network with Batch Norm on every hidden layer.

    Parameters
    ----------
    X : inputs of a mini-batch, shape (n_0, m).
    params : dict with W1 .. WL (W[l] of shape (n_l, n_{l-1})), b1 .. bL (n_l, 1),
        and gamma1 .. gamma{L-1}, beta1 .. beta{L-1} (n_l, 1) for the hidden layers.
    eps : small number added to the variance inside the square root.

    Returns
    -------
    probs : softmax probabilities, shape (n_L, m); each column sums to 1.
    cache : dict with Z{l} for every layer and Z_tilde{l}, A{l} for the hidden
        layers, each of shape (n_l, m).
    """
    L = sum(1 for key in params if key.startswith("W"))  # number of layers
    cache = {}
    A = X  # A[0] = X, (n_0, m)
    for layer in range(1, L):  # the hidden layers 1 .. L-1
        # No b[l]: Batch Norm subtracts each unit's mean, so a bias would cancel.
        Z = params[f"W{layer}"] @ A  # (n_l, m)
        mu = np.mean(Z, axis=1, keepdims=True)  # over the m examples, (n_l, 1)
        var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)  # biased, (n_l, 1)
        Z_norm = (Z - mu) / np.sqrt(var + eps)  # (n_l, m)
        Z_tilde = params[f"gamma{layer}"] * Z_norm + params[f"beta{layer}"]
        A = np.tanh(Z_tilde)  # the activation comes after Batch Norm
        cache[f"Z{layer}"] = Z
        cache[f"Z_tilde{layer}"] = Z_tilde
        cache[f"A{layer}"] = A
    # The output layer has no Batch Norm after it, so it keeps its bias b[L].
    ZL = params[f"W{L}"] @ A + params[f"b{L}"]  # (n_L, m)
    cache[f"Z{L}"] = ZL
    E = np.exp(ZL - ZL.max(axis=0, keepdims=True))  # shifted: exp never overflows
    probs = E / E.sum(axis=0, keepdims=True)  # softmax over the classes (axis=0)
    return probs, cache


def gd_update(params, grads, lr):
    """One step of gradient descent on every parameter (notebook 03).

    Parameters
    ----------
    params : dict of parameter arrays (W, b, gamma and beta alike); changed in
        place, because the network reads its own dict.
    grads : dict with the same keys and shapes: the gradients of the loss.
    lr : the learning rate.

    Returns
    -------
    params : the same dict, each entry now ``param - lr * grad``.
    """
    for key in params:  # W, b, gamma and beta alike
        params[key] -= lr * grads[key]
    return params


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


# Notebook 06: folding inference-mode Batch Norm into the layer before it.


def fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """One affine layer that computes BN(W a + b) in inference mode.

    Parameters
    ----------
    W : weights of the layer before Batch Norm, shape (n_l, n_prev).
    b : its bias, shape (n_l, 1) (zeros when the layer has none).
    gamma, beta, running_mean, running_var : the BN layer's, shape (n_l, 1).
    eps : the BN layer's eps.

    Returns
    -------
    W_fold : shape (n_l, n_prev); b_fold : shape (n_l, 1), such that
    W_fold @ a + b_fold == batchnorm_inference(W @ a + b, ...) for every a.
    """
    # gamma * (W a + b - mu) / sqrt(var + eps) + beta: one factor per unit ...
    scale = gamma / np.sqrt(running_var + eps)  # (n_l, 1)
    # ... multiplies row l of W (it broadcasts along the row) ...
    W_fold = scale * W  # (n_l, n_prev)
    # ... and what doesn't multiply a is the new bias.
    b_fold = scale * (b - running_mean) + beta  # (n_l, 1)
    return W_fold, b_fold


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


def ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps=1e-5):
    """Batch Norm in training mode with statistics over ghost batches.

    The m columns of Z are cut into m // ghost_size consecutive "ghost batches"
    (columns 0 .. ghost_size - 1 are the first); each is normalized with its own
    mean and biased variance, then every column is scaled by gamma and shifted
    by beta, as in ordinary Batch Norm. ghost_size = m is ordinary Batch Norm.

    Parameters
    ----------
    Z : pre-activations of a mini-batch, shape (n_l, m); m a multiple of ghost_size.
    gamma, beta : scale and shift, shape (n_l, 1).
    ghost_size : examples per ghost batch (>= 2).
    eps : small number added to the variance inside the square root.

    Returns
    -------
    Z_tilde : shape (n_l, m).
    """
    n_l, m = Z.shape
    k = m // ghost_size  # number of ghost batches
    # Row-major reshape: Zg[i, j, t] = Z[i, j * ghost_size + t], so ghost batch j
    # holds the consecutive columns j * ghost_size ... (j + 1) * ghost_size - 1.
    Zg = Z.reshape(n_l, k, ghost_size)
    mu = Zg.mean(axis=2, keepdims=True)  # (n_l, k, 1): per unit and ghost batch
    var = ((Zg - mu) ** 2).mean(axis=2, keepdims=True)  # biased, (n_l, k, 1)
    Z_norm = ((Zg - mu) / np.sqrt(var + eps)).reshape(n_l, m)  # back to (n_l, m)
    # gamma and beta, shape (n_l, 1), broadcast over the (n_l, m) array: per unit.
    return gamma * Z_norm + beta


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


def gradient_change(grad_fn, w, lr):
    """How much the gradient changes along one gradient-descent step.

    ||g(w - lr * g(w)) - g(w)|| / ||g(w)|| with Euclidean norms, g = grad_fn.

    grad_fn : function of an array shaped like w, returning the gradient (same shape).
    w : the current parameters, an array of any shape (not modified).
    lr : the step size, > 0.

    Returns a float: near 0, the gradient still describes the slope where the
    step lands; near 1 or more, it no longer does.
    """
    g0 = grad_fn(w)
    w1 = w - lr * g0  # a new array: the caller's w stays as it was
    g1 = grad_fn(w1)
    return float(np.linalg.norm(g1 - g0) / np.linalg.norm(g0))


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


# Notebook 07: Layer Norm, Batch Norm with the axes exchanged.


def layernorm_forward(Z, gamma, beta, eps=1e-5):
    """Layer Normalization of a batch, in the course's layout.

    Parameters
    ----------
    Z : pre-activations, shape (n_l, m); any m >= 1.
    gamma, beta : scale and shift of each unit, shape (n_l, 1).
    eps : added to the variance inside the square root.

    Returns
    -------
    Z_tilde : shape (n_l, m). Each example (column) is normalized over its own
    n_l units, so it does not depend on the other examples of the batch.
    """
    mu = np.mean(Z, axis=0, keepdims=True)  # one mean per example, (1, m)
    var = np.mean((Z - mu) ** 2, axis=0, keepdims=True)  # biased, (1, m)
    Z_norm = (Z - mu) / np.sqrt(var + eps)  # (n_l, m)
    return gamma * Z_norm + beta  # gamma, beta per unit, as in Batch Norm


def layernorm_backward(dZ_tilde, Z, gamma, eps=1e-5):
    """Backward pass of :func:`layernorm_forward`.

    Parameters
    ----------
    dZ_tilde : upstream gradient dL/dZ_tilde, shape (n_l, m).
    Z, gamma, eps : the forward pass's inputs.

    Returns
    -------
    dZ : shape (n_l, m); dgamma, dbeta : shape (n_l, 1).
    """
    n_l = Z.shape[0]
    mu = np.mean(Z, axis=0, keepdims=True)  # (1, m)
    inv_std = 1 / np.sqrt(np.mean((Z - mu) ** 2, axis=0, keepdims=True) + eps)
    Z_norm = (Z - mu) * inv_std  # (n_l, m)
    # gamma and beta are shared by the m examples: sums over axis 1, as in BN.
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)  # (n_l, 1)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)  # (n_l, 1)
    dZ_norm = dZ_tilde * gamma  # (n_l, m)
    # Notebook 03's compact formula, with the statistics' axis (and its size n_l)
    # in place of the examples' axis (and m): each column is its own "batch".
    dZ = (
        inv_std
        / n_l
        * (
            n_l * dZ_norm
            - np.sum(dZ_norm, axis=0, keepdims=True)
            - Z_norm * np.sum(dZ_norm * Z_norm, axis=0, keepdims=True)
        )
    )
    return dZ, dgamma, dbeta
