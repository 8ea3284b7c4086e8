"""Tests of the Batch Norm maths in :mod:`bnutils.layers`.

Everything is float64 and checked against independent references: closed forms
worked out by hand, a forward pass written again here (:func:`ref_forward`)
differentiated by centred finite differences, the identities of Ioffe & Szegedy
(2015) and values recorded from ``torch.nn.BatchNorm1d`` by
``scripts/record_torch_reference.py`` (PyTorch itself is not needed here).

Layout: arrays are (units, examples) = (n_l, m); gamma, beta and the running
statistics are (n_l, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnutils.layers import (
    BatchNorm,
    BNCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    validate_batch,
    validate_param,
)

REFERENCE_FILE = Path(__file__).parent / "data" / "torch_batchnorm_reference.npz"
TORCH_CASES = ["beta09", "beta099", "m2"]
EPS = 1e-5


# ---------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------


def ref_forward(Z, gamma, beta, eps=EPS):
    """Batch Norm straight from Algorithm 1 (biased variance, eps inside the root).

    Works on stacks: Z of shape (..., n_l, m), gamma and beta broadcastable to
    (..., n_l, 1). Statistics over the last axis (the examples).
    """
    mu = np.mean(Z, axis=-1, keepdims=True)
    var = np.var(Z, axis=-1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def centred_diff(loss, x, h):
    """Gradient of a scalar function by centred differences, all entries at once.

    ``loss`` maps a stack of shape (B, *x.shape) to B losses; ``x`` is any array.
    Returns an array of the shape of ``x``.
    """
    steps = h * np.eye(x.size).reshape((x.size, *x.shape))
    return ((loss(x + steps) - loss(x - steps)) / (2.0 * h)).reshape(x.shape)


def rel_error(a, b):
    """max |a - b| divided by the largest magnitude in a or b (0 when both are 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def random_batch(rng, n, m, spread=3.0):
    """Z of shape (n, m) whose units have different means and spreads."""
    loc = rng.uniform(-spread, spread, size=(n, 1))
    scale = rng.uniform(0.5, spread, size=(n, 1))
    return loc + scale * rng.standard_normal((n, m))


def random_params(rng, n):
    """Non-trivial gamma (some negative) and beta, each of shape (n, 1)."""
    gamma = rng.uniform(0.5, 2.0, size=(n, 1)) * rng.choice([-1.0, 1.0], size=(n, 1))
    beta = rng.uniform(-1.0, 1.0, size=(n, 1))
    return gamma, beta


def read_only(*arrays):
    """Copies of the arrays that raise if anything writes into them."""
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.flags.writeable = False
        out.append(a)
    return out


# ---------------------------------------------------------------------------
# Forward pass (training mode)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m"), [(1, 2), (3, 2), (4, 7), (6, 50)])
def test_forward_gives_mean_zero_and_the_exact_eps_shrunk_variance(n, m):
    rng = np.random.default_rng(n * 100 + m)
    Z = random_batch(rng, n, m)
    Z_tilde, cache = batchnorm_forward(Z, np.ones((n, 1)), np.zeros((n, 1)))
    var = np.var(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(Z_tilde.mean(axis=1), 0.0, rtol=0, atol=1e-14)
    # eps sits inside the root, so the variance is var / (var + eps), not exactly 1.
    np.testing.assert_allclose(
        np.var(Z_tilde, axis=1, keepdims=True), var / (var + EPS), rtol=1e-13, atol=0
    )
    np.testing.assert_allclose(cache.mu, Z.mean(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(cache.var, var, rtol=1e-13)


def test_forward_gamma_and_beta_set_the_mean_and_variance():
    rng = np.random.default_rng(1)
    Z = random_batch(rng, 5, 20)
    gamma, beta = random_params(rng, 5)
    Z_tilde, _ = batchnorm_forward(Z, gamma, beta)
    var = np.var(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(Z_tilde.mean(axis=1, keepdims=True), beta, atol=1e-14)
    np.testing.assert_allclose(
        np.var(Z_tilde, axis=1, keepdims=True), gamma**2 * var / (var + EPS), rtol=1e-13
    )


def test_forward_gamma_sqrt_var_eps_and_beta_mu_give_back_Z():
    rng = np.random.default_rng(2)
    Z = random_batch(rng, 4, 9)
    mu = Z.mean(axis=1, keepdims=True)
    var = np.var(Z, axis=1, keepdims=True)
    Z_tilde, _ = batchnorm_forward(Z, np.sqrt(var + EPS), mu)
    assert rel_error(Z_tilde, Z) < 1e-12


def test_forward_hand_computed_example():
    Z = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 12.0], [5.0, 5.0, 5.0, 5.0]])
    gamma = np.array([[2.0], [-1.0], [3.0]])
    beta = np.array([[0.5], [3.0], [-2.0]])
    # Row 1: mu = 2.5, deviations -1.5, -0.5, 0.5, 1.5, var = 5/4.
    # Row 2: mu = 10.5, deviations -0.5, -0.5, -0.5, 1.5,
    #        var = (3 * 0.25 + 2.25) / 4 = 3/4.
    # Row 3: constant, var = 0: every normalized value is 0, the output is beta.
    expected = np.array(
        [
            2.0 * np.array([-1.5, -0.5, 0.5, 1.5]) / np.sqrt(1.25 + EPS) + 0.5,
            -1.0 * np.array([-0.5, -0.5, -0.5, 1.5]) / np.sqrt(0.75 + EPS) + 3.0,
            [-2.0, -2.0, -2.0, -2.0],
        ]
    )
    Z_tilde, cache = batchnorm_forward(Z, gamma, beta)
    np.testing.assert_allclose(Z_tilde, expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(cache.mu, [[2.5], [10.5], [5.0]], rtol=1e-15)
    np.testing.assert_allclose(cache.var, [[1.25], [0.75], [0.0]], rtol=1e-15)
    # Integer input is converted to float64 and gives the same result.
    Z_int, _ = batchnorm_forward(Z.astype(int), gamma, beta)
    assert Z_int.dtype == np.float64
    np.testing.assert_array_equal(Z_int, Z_tilde)


def test_forward_matches_independent_reference_and_cache_is_consistent():
    rng = np.random.default_rng(3)
    Z = random_batch(rng, 6, 11)
    gamma, beta = random_params(rng, 6)
    Z_tilde, cache = batchnorm_forward(Z, gamma, beta, eps=0.3)
    assert isinstance(cache, BNCache)
    assert rel_error(Z_tilde, ref_forward(Z, gamma, beta, eps=0.3)) < 1e-14
    assert cache.eps == 0.3
    assert cache.Z_norm.shape == Z.shape and cache.inv_std.shape == (6, 1)
    np.testing.assert_allclose(
        cache.inv_std, 1 / np.sqrt(np.var(Z, axis=1) + 0.3)[:, None]
    )


# ---------------------------------------------------------------------------
# Backward pass
# ---------------------------------------------------------------------------


# m = 2 needs a larger eps for finite differences: with two examples the
# normalized values are +-sqrt(var / (var + eps)), so dZ is only O(eps / var) and
# at eps = 1e-5 it drowns in the rounding error of the differences. The m = 2
# gradient at the default eps is checked in closed form below and against PyTorch.
@pytest.mark.parametrize(
    ("n", "m", "eps"),
    [(1, 2, 0.5), (3, 2, 0.1), (2, 3, EPS), (4, 5, EPS), (5, 16, EPS), (3, 64, EPS)],
)
def test_backward_matches_centred_differences(n, m, eps):
    rng = np.random.default_rng(10 * n + m)
    Z = random_batch(rng, n, m)
    gamma, beta = random_params(rng, n)
    G = rng.standard_normal((n, m))  # upstream gradient: L = sum(G * Z_tilde)

    def loss(Z_, gamma_, beta_):
        return np.sum(G * ref_forward(Z_, gamma_, beta_, eps), axis=(-2, -1))

    _, cache = batchnorm_forward(Z, gamma, beta, eps)
    dZ, dgamma, dbeta = batchnorm_backward(G, cache)
    assert dZ.shape == (n, m) and dgamma.shape == (n, 1) and dbeta.shape == (n, 1)

    h = 1e-5
    num_dZ = centred_diff(lambda x: loss(x, gamma, beta), Z, h)
    num_dgamma = centred_diff(lambda x: loss(Z, x, beta), gamma, h)
    num_dbeta = centred_diff(lambda x: loss(Z, gamma, x), beta, h)
    assert rel_error(dZ, num_dZ) <= 1e-8
    assert rel_error(dgamma, num_dgamma) <= 1e-8
    assert rel_error(dbeta, num_dbeta) <= 1e-8


def test_backward_two_examples_closed_form_at_default_eps():
    # With m = 2 and d = (z1 - z2) / 2:
    #     Z_tilde = gamma * (+-d) / sqrt(d^2 + eps) + beta,
    # so dL/dz1 = -dL/dz2 = (g1 - g2) / 2 * gamma * eps / (d^2 + eps)^(3/2).
    rng = np.random.default_rng(4)
    Z = random_batch(rng, 5, 2) * np.array([[1.0], [1e-3], [1e-2], [2.0], [5e-3]])
    gamma, beta = random_params(rng, 5)
    G = rng.standard_normal((5, 2))
    d = (Z[:, :1] - Z[:, 1:]) / 2
    g = (G[:, :1] - G[:, 1:]) / 2 * gamma * EPS / (d**2 + EPS) ** 1.5
    _, cache = batchnorm_forward(Z, gamma, beta)
    dZ, dgamma, dbeta = batchnorm_backward(G, cache)
    assert rel_error(dZ, np.hstack([g, -g])) < 1e-12
    x_hat = np.hstack([d, -d]) / np.sqrt(d**2 + EPS)
    assert rel_error(dgamma, np.sum(G * x_hat, axis=1, keepdims=True)) < 1e-14
    np.testing.assert_array_equal(dbeta, G.sum(axis=1, keepdims=True))


@pytest.mark.parametrize(("n", "m"), [(3, 2), (4, 10), (2, 128)])
def test_backward_rows_of_dZ_sum_to_zero(n, m):
    rng = np.random.default_rng(5 + m)
    Z = random_batch(rng, n, m)
    gamma, beta = random_params(rng, n)
    _, cache = batchnorm_forward(Z, gamma, beta)
    G = rng.standard_normal((n, m))
    dZ, _, _ = batchnorm_backward(G, cache)
    # Rounding is measured against the size of the terms that cancel in dZ,
    # inv_std * |gamma * G| (at m = 2, dZ itself is only O(eps / var) of that).
    term_size = cache.inv_std[:, 0] * np.abs(gamma * G).sum(axis=1)
    assert np.all(np.abs(dZ.sum(axis=1)) <= 1e-14 * term_size)


def test_bias_before_batchnorm_has_no_effect_and_no_gradient():
    rng = np.random.default_rng(6)
    Z = random_batch(rng, 4, 12)
    b = rng.uniform(-5.0, 5.0, size=(4, 1))
    gamma, beta = random_params(rng, 4)
    out, _ = batchnorm_forward(Z, gamma, beta)
    out_b, cache_b = batchnorm_forward(Z + b, gamma, beta)
    assert rel_error(out_b, out) < 1e-12
    # dL/db = sum of dL/d(Z + b) over the examples: exactly zero up to rounding.
    G = rng.standard_normal((4, 12))
    dZ_b, _, _ = batchnorm_backward(G, cache_b)
    db = dZ_b.sum(axis=1, keepdims=True)
    assert np.all(np.abs(db) < 1e-12 * np.abs(dZ_b).sum(axis=1, keepdims=True))
    # Centred differences on b through the independent forward agree: about 0.
    num_db = centred_diff(
        lambda x: np.sum(G * ref_forward(Z + x, gamma, beta), axis=(-2, -1)), b, 1e-4
    )
    assert np.max(np.abs(num_db)) < 1e-9


# ---------------------------------------------------------------------------
# Scale invariance (Ioffe & Szegedy 2015, section 3.3)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("a", [1e-2, 0.5, 3.0, 1e3])
def test_scale_invariance_of_output_and_gradients(a):
    # BN_eps(a * Z) = BN_{eps / a^2}(Z) exactly, so scaling W by a is the same as
    # dividing eps by a^2: that accounts for eps instead of ignoring it.
    rng = np.random.default_rng(7)
    n, d, m = 4, 6, 10
    W = rng.standard_normal((n, d))
    u = rng.standard_normal((d, m))
    gamma, beta = random_params(rng, n)
    G = rng.standard_normal((n, m))

    out, cache = batchnorm_forward(W @ u, gamma, beta, eps=EPS / a**2)
    out_a, cache_a = batchnorm_forward((a * W) @ u, gamma, beta, eps=EPS)
    assert rel_error(out_a, out) < 1e-12

    dZ, dgamma, dbeta = batchnorm_backward(G, cache)
    dZ_a, dgamma_a, dbeta_a = batchnorm_backward(G, cache_a)
    du, dW = W.T @ dZ, dZ @ u.T
    du_a, dW_a = (a * W).T @ dZ_a, dZ_a @ u.T
    assert rel_error(du_a, du) < 1e-11  # gradient w.r.t. u unchanged
    assert rel_error(dW_a, dW / a) < 1e-11  # gradient w.r.t. aW is 1/a times
    assert rel_error(dgamma_a, dgamma) < 1e-12
    assert rel_error(dbeta_a, dbeta) < 1e-15


@pytest.mark.parametrize("a", [0.1, 7.0])
def test_scale_invariance_with_the_same_tiny_eps(a):
    # With eps negligible against the variance the plain statement holds.
    rng = np.random.default_rng(8)
    W = rng.standard_normal((3, 5))
    u = rng.standard_normal((5, 20))
    gamma, beta = random_params(rng, 3)
    out, _ = batchnorm_forward(W @ u, gamma, beta, eps=1e-14)
    out_a, _ = batchnorm_forward((a * W) @ u, gamma, beta, eps=1e-14)
    assert rel_error(out_a, out) < 1e-11


# ---------------------------------------------------------------------------
# Numerical stability
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "std", "eps"),
    [(1e6, 1e-2, 1e-9), (1e6, 1.0, EPS), (-1e8, 1.0, EPS), (0.0, 1e6, EPS)],
)
def test_large_offsets_and_scales_normalize_accurately(offset, std, eps):
    rng = np.random.default_rng(9)
    noise = std * rng.standard_normal((3, 200))
    Z = offset + noise
    Z_tilde, cache = batchnorm_forward(Z, np.ones((3, 1)), np.zeros((3, 1)), eps=eps)
    var_true = np.var(noise, axis=1)
    assert np.all(var_true > 1e3 * eps)
    assert np.max(np.abs(Z_tilde.mean(axis=1))) < 1e-6
    assert np.max(np.abs(Z_tilde.var(axis=1) - var_true / (var_true + eps))) < 1e-6
    # The gradient does not depend on the offset either.
    G = rng.standard_normal((3, 200))
    dZ, _, _ = batchnorm_backward(G, cache)
    _, cache0 = batchnorm_forward(noise, np.ones((3, 1)), np.zeros((3, 1)), eps=eps)
    dZ0, _, _ = batchnorm_backward(G, cache0)
    assert rel_error(dZ, dZ0) < 1e-6


def test_one_pass_variance_would_fail_the_stability_test():
    # Shows the test above has teeth: mean(Z**2) - mean(Z)**2 loses the variance.
    rng = np.random.default_rng(9)
    noise = 1e-2 * rng.standard_normal((3, 200))
    Z = 1e6 + noise
    naive = np.mean(Z**2, axis=1) - np.mean(Z, axis=1) ** 2
    assert np.max(np.abs(naive / np.var(noise, axis=1) - 1)) > 1e-2
    _, cache = batchnorm_forward(Z, np.ones((3, 1)), np.zeros((3, 1)))
    assert rel_error(cache.var, np.var(noise, axis=1, keepdims=True)) < 1e-6


# ---------------------------------------------------------------------------
# Inference (Ioffe & Szegedy 2015, Algorithm 2)
# ---------------------------------------------------------------------------


def test_inference_one_example_equals_the_folded_affine_map():
    rng = np.random.default_rng(11)
    n = 5
    gamma, beta = random_params(rng, n)
    mu = rng.uniform(-2.0, 2.0, size=(n, 1))
    var = rng.uniform(0.1, 4.0, size=(n, 1))
    scale = gamma / np.sqrt(var + EPS)
    shift = beta - gamma * mu / np.sqrt(var + EPS)
    Z = random_batch(rng, n, 7)
    for j in range(Z.shape[1]):
        z = Z[:, j : j + 1]  # one example, shape (n, 1)
        out = batchnorm_inference(z, gamma, beta, mu, var)
        assert out.shape == (n, 1)
        assert rel_error(out, scale * z + shift) < 1e-14
    # A batch gives each example's own output: examples don't interact.
    assert (
        rel_error(batchnorm_inference(Z, gamma, beta, mu, var), scale * Z + shift)
        < 1e-14
    )


def test_inference_with_the_batch_statistics_equals_training_forward():
    rng = np.random.default_rng(12)
    Z = random_batch(rng, 4, 9)
    gamma, beta = random_params(rng, 4)
    out_train, cache = batchnorm_forward(Z, gamma, beta)
    out_inf = batchnorm_inference(Z, gamma, beta, cache.mu, cache.var)
    assert rel_error(out_inf, out_train) < 1e-14


# ---------------------------------------------------------------------------
# The BatchNorm layer
# ---------------------------------------------------------------------------


def test_layer_initial_state():
    layer = BatchNorm(7)
    assert (layer.n_units, layer.ema_beta, layer.eps) == (7, 0.9, 1e-5)
    for name, value in [
        ("gamma", 1.0),
        ("beta", 0.0),
        ("running_mean", 0.0),
        ("running_var", 1.0),
        ("dgamma", 0.0),
        ("dbeta", 0.0),
    ]:
        arr = getattr(layer, name)
        assert arr.shape == (7, 1) and arr.dtype == np.float64, name
        np.testing.assert_array_equal(arr, value, err_msg=name)
    assert layer.n_updates == 0
    assert "n_units=7" in repr(layer)


@pytest.mark.parametrize("ema_beta", [0.0, 0.9, 0.99])
def test_layer_running_statistics_follow_the_ema_with_unbiased_variance(ema_beta):
    rng = np.random.default_rng(13)
    n = 3
    layer = BatchNorm(n, ema_beta=ema_beta)
    layer.gamma, layer.beta = random_params(rng, n)
    mean_ref, var_ref = np.zeros((n, 1)), np.ones((n, 1))
    var_biased_ref = var_ref.copy()
    for m in [2, 5, 3, 40, 2, 8]:  # the Bessel factor m/(m-1) changes each step
        Z = random_batch(rng, n, m)
        out = layer.forward(Z, training=True)
        mu = Z.mean(axis=1, keepdims=True)
        var_unbiased = np.var(Z, axis=1, ddof=1, keepdims=True)
        mean_ref = ema_beta * mean_ref + (1 - ema_beta) * mu
        var_ref = ema_beta * var_ref + (1 - ema_beta) * var_unbiased
        var_biased_ref = ema_beta * var_biased_ref + (1 - ema_beta) * np.var(
            Z, axis=1, keepdims=True
        )
        # Training mode normalizes with the batch statistics, not the running ones.
        assert rel_error(out, ref_forward(Z, layer.gamma, layer.beta)) < 1e-14
    assert layer.n_updates == 6
    assert rel_error(layer.running_mean, mean_ref) < 1e-13
    assert rel_error(layer.running_var, var_ref) < 1e-13
    # The data tell the conventions apart: feeding the biased variance differs.
    assert rel_error(layer.running_var, var_biased_ref) > 1e-3


def test_layer_eval_mode_uses_running_statistics_and_does_not_update_them():
    rng = np.random.default_rng(14)
    layer = BatchNorm(4)
    layer.gamma, layer.beta = random_params(rng, 4)
    for _ in range(3):
        layer.forward(random_batch(rng, 4, 16), training=True)
    saved = {k: getattr(layer, k).copy() for k in ("running_mean", "running_var")}
    Z = random_batch(rng, 4, 6)
    out = layer.forward(Z, training=False)
    expected = (
        layer.gamma
        * (Z - saved["running_mean"])
        / np.sqrt(saved["running_var"] + layer.eps)
        + layer.beta
    )
    assert rel_error(out, expected) < 1e-14
    one = layer.forward(Z[:, 2:3], training=False)  # one example works at test time
    assert rel_error(one, expected[:, 2:3]) < 1e-14
    np.testing.assert_array_equal(layer.running_mean, saved["running_mean"])
    np.testing.assert_array_equal(layer.running_var, saved["running_var"])
    assert layer.n_updates == 3
    # An eval-mode pass leaves nothing to differentiate.
    with pytest.raises(ValueError, match="preceding forward"):
        layer.backward(np.ones((4, 1)))


def test_layer_backward_sets_dgamma_dbeta_and_returns_dZ():
    rng = np.random.default_rng(15)
    layer = BatchNorm(3)
    layer.gamma, layer.beta = random_params(rng, 3)
    Z = random_batch(rng, 3, 10)
    G = rng.standard_normal((3, 10))
    layer.forward(Z, training=True)
    dZ = layer.backward(G)
    _, cache = batchnorm_forward(Z, layer.gamma, layer.beta)
    dZ_ref, dgamma_ref, dbeta_ref = batchnorm_backward(G, cache)
    np.testing.assert_array_equal(dZ, dZ_ref)
    np.testing.assert_array_equal(layer.dgamma, dgamma_ref)
    np.testing.assert_array_equal(layer.dbeta, dbeta_ref)
    assert layer.dgamma.shape == (3, 1) and layer.dbeta.shape == (3, 1)
    num_dgamma = centred_diff(
        lambda x: np.sum(G * ref_forward(Z, x, layer.beta), axis=(-2, -1)),
        layer.gamma,
        1e-5,
    )
    assert rel_error(layer.dgamma, num_dgamma) < 1e-8


# ---------------------------------------------------------------------------
# Agreement with PyTorch (recorded by scripts/record_torch_reference.py)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_ref():
    with np.load(REFERENCE_FILE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_torch_reference_file_metadata(torch_ref):
    assert str(torch_ref["torch_version"]).startswith("2.")
    assert sorted(torch_ref["cases"].tolist()) == sorted(TORCH_CASES)


@pytest.mark.parametrize("case", TORCH_CASES)
def test_layer_agrees_with_torch_batchnorm1d(torch_ref, case):
    r = {
        k.split("__", 1)[1]: v
        for k, v in torch_ref.items()
        if k.startswith(case + "__")
    }
    k, n, _ = r["Z"].shape
    layer = BatchNorm(n, ema_beta=float(r["ema_beta"]), eps=float(r["eps"]))
    tol = {"rtol": 1e-12, "atol": 1e-12}
    for t in range(k):
        layer.gamma, layer.beta = r["gamma"][t].copy(), r["beta"][t].copy()
        out = layer.forward(r["Z"][t], training=True)
        dZ = layer.backward(r["dZ_tilde"][t])
        msg = f"{case}, step {t}"
        np.testing.assert_allclose(out, r["Z_tilde"][t], **tol, err_msg=msg)
        np.testing.assert_allclose(dZ, r["dZ"][t], **tol, err_msg=msg)
        np.testing.assert_allclose(layer.dgamma, r["dgamma"][t], **tol, err_msg=msg)
        np.testing.assert_allclose(layer.dbeta, r["dbeta"][t], **tol, err_msg=msg)
        np.testing.assert_allclose(
            layer.running_mean, r["running_mean"][t], **tol, err_msg=msg
        )
        np.testing.assert_allclose(
            layer.running_var, r["running_var"][t], **tol, err_msg=msg
        )
    layer.gamma, layer.beta = r["gamma_eval"].copy(), r["beta_eval"].copy()
    out_eval = layer.forward(r["Z_eval"], training=False)
    np.testing.assert_allclose(out_eval, r["Z_tilde_eval"], **tol)


# ---------------------------------------------------------------------------
# Inputs are never modified
# ---------------------------------------------------------------------------


def test_no_function_writes_into_its_inputs():
    rng = np.random.default_rng(16)
    Z0 = random_batch(rng, 3, 6)
    gamma0, beta0 = random_params(rng, 3)
    G0 = rng.standard_normal((3, 6))
    mu0, var0 = rng.standard_normal((3, 1)), rng.uniform(0.5, 2.0, size=(3, 1))
    # Read-only copies: any in-place write would raise.
    Z, gamma, beta, G, mu, var = read_only(Z0, gamma0, beta0, G0, mu0, var0)

    out, cache = batchnorm_forward(Z, gamma, beta)
    batchnorm_backward(G, cache)
    batchnorm_inference(Z, gamma, beta, mu, var)
    layer = BatchNorm(3)
    layer.gamma, layer.beta = gamma, beta
    layer.forward(Z, training=True)
    layer.backward(G)
    layer.forward(Z, training=False)
    originals = (Z0, gamma0, beta0, G0, mu0, var0)
    for got, want in zip((Z, gamma, beta, G, mu, var), originals, strict=True):
        np.testing.assert_array_equal(got, want)
    # The outputs are new arrays, so writing into them can't reach the inputs.
    assert not np.shares_memory(out, Z)

    # Writable inputs are not changed either.
    Z1, G1 = Z0.copy(), G0.copy()
    out, cache = batchnorm_forward(Z1, gamma0, beta0)
    dZ, _, _ = batchnorm_backward(G1, cache)
    np.testing.assert_array_equal(Z1, Z0)
    np.testing.assert_array_equal(G1, G0)
    assert not np.shares_memory(dZ, G1)


# ---------------------------------------------------------------------------
# Bad input: ValueError with a message that names the problem
# ---------------------------------------------------------------------------

N, M = 3, 5
_Z = np.arange(N * M, dtype=float).reshape(N, M) ** 1.5
_ONES, _ZEROS = np.ones((N, 1)), np.zeros((N, 1))
_NAN_Z = _Z.copy()
_NAN_Z[1, 2] = np.nan
_INF_Z = _Z.copy()
_INF_Z[0, 0] = -np.inf


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: batchnorm_forward(_Z[:, :1], _ONES, _ZEROS), "at least 2 examples"),
        (lambda: batchnorm_forward(_Z[:, :1], _ONES, _ZEROS), "variance is 0"),
        (lambda: BatchNorm(N).forward(_Z[:, :1]), "at least 2 examples"),
        (lambda: batchnorm_forward(_NAN_Z, _ONES, _ZEROS), r"1 NaN or infinite"),
        (lambda: batchnorm_forward(_INF_Z, _ONES, _ZEROS), r"1 NaN or infinite"),
        (lambda: BatchNorm(N).forward(_NAN_Z, training=False), "NaN"),
        (lambda: batchnorm_forward(_Z, np.ones((N, M)), _ZEROS), "one value per unit"),
        (lambda: batchnorm_forward(_Z, np.ones((N, M)), _ZEROS), "per example"),
        (lambda: batchnorm_forward(_Z, np.ones(N), _ZEROS), r"reshape\(3, 1\)"),
        (lambda: batchnorm_forward(_Z, np.ones((1, N)), _ZEROS), r"gamma.*\(1, 3\)"),
        (lambda: batchnorm_forward(_Z, _ONES, np.zeros((N + 1, 1))), r"beta must have"),
        (lambda: batchnorm_forward(_Z, _ONES, np.zeros(N)), r"beta\.reshape"),
        (lambda: batchnorm_forward(_Z, _ONES * np.nan, _ZEROS), "gamma contains NaN"),
        (lambda: batchnorm_forward(_Z[0], _ONES, _ZEROS), "must be 2-D"),
        (lambda: batchnorm_forward(_Z[None], _ONES, _ZEROS), r"2-D.*\(1, 3, 5\)"),
        (lambda: BatchNorm(N).forward(_Z[0]), "must be 2-D"),
        (lambda: BatchNorm(N).forward(_Z.T), "transposed"),
        (lambda: BatchNorm(N).forward(_Z.T, training=False), "transposed"),
        (lambda: batchnorm_forward(_Z.astype(complex), _ONES, _ZEROS), "real numbers"),
        (
            lambda: batchnorm_forward(np.full((N, M), "a"), _ONES, _ZEROS),
            "real numbers",
        ),
        (lambda: batchnorm_forward(_Z, _ONES, _ZEROS, eps=0.0), "eps must be"),
        (lambda: batchnorm_forward(_Z, _ONES, _ZEROS, eps=-1e-5), "eps must be"),
        (lambda: batchnorm_forward(_Z, _ONES, _ZEROS, eps=np.nan), "eps must be"),
        (lambda: batchnorm_forward(_Z, _ONES, _ZEROS, eps=np.inf), "eps must be"),
        (lambda: batchnorm_inference(_Z, _ONES, _ZEROS, _ZEROS, _ONES, 0), "eps must"),
        (lambda: BatchNorm(N, eps=0.0), "eps must be"),
        (lambda: BatchNorm(N, ema_beta=1.0), r"ema_beta must be in \[0, 1\)"),
        (lambda: BatchNorm(N, ema_beta=-0.1), "ema_beta must be"),
        (lambda: BatchNorm(N, ema_beta=1.5), "ema_beta must be"),
        (lambda: BatchNorm(N, ema_beta=np.nan), "ema_beta must be"),
        (lambda: BatchNorm(0), "n_units must be a positive integer"),
        (lambda: BatchNorm(2.5), "n_units must be a positive integer"),
        (lambda: BatchNorm(N).forward(_Z, training="yes"), "training must be True"),
        (lambda: BatchNorm(N).backward(np.ones((N, M))), "preceding forward"),
        (lambda: batchnorm_backward(np.ones((N, M)), (1, 2)), "BNCache"),
        (lambda: batchnorm_backward(np.ones((N, M)), {"Z": _Z}), "got dict"),
        (
            lambda: batchnorm_inference(_Z, _ONES, _ZEROS, _ZEROS, -_ONES),
            "non-negative",
        ),
        (
            lambda: batchnorm_inference(_Z, _ONES, _ZEROS, np.zeros(N), _ONES),
            "running_mean",
        ),
        (
            lambda: batchnorm_inference(_Z, _ONES, _ZEROS, _ZEROS, _ONES.T),
            "running_var",
        ),
        (lambda: validate_batch(np.float64(1.0)), r"2-D.*shape \(\)"),
        (lambda: validate_param(np.ones((2, 1)), "gamma", 3), r"\(3, 1\)"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _trained_cache():
    _, cache = batchnorm_forward(_Z, _ONES, _ZEROS)
    return cache


@pytest.mark.parametrize(
    ("dZ_tilde", "match"),
    [
        (np.ones((N, M + 1)), r"dZ_tilde must have the shape.*\(3, 5\).*\(3, 6\)"),
        (np.ones((M, N)), "dZ_tilde must have the shape"),
        (np.ones(N * M), "dZ_tilde must have the shape"),
        (np.full((N, M), np.nan), "dZ_tilde contains NaN"),
    ],
)
def test_bad_upstream_gradient_raises(dZ_tilde, match):
    with pytest.raises(ValueError, match=match):
        batchnorm_backward(dZ_tilde, _trained_cache())
    layer = BatchNorm(N)
    layer.forward(_Z)
    with pytest.raises(ValueError, match=match):
        layer.backward(dZ_tilde)


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------


def test_float32_input_works_and_stays_accurate():
    # Output dtype follows numpy's promotion: float32 Z with float32 gamma/beta gives
    # float32; with float64 gamma/beta (the layer's default) the statistics are
    # computed in float32 and the output comes out float64.
    rng = np.random.default_rng(17)
    Z64 = random_batch(rng, 4, 32)
    gamma64, beta64 = random_params(rng, 4)
    G64 = rng.standard_normal((4, 32))
    Z32, gamma32, beta32, G32 = (
        a.astype(np.float32) for a in (Z64, gamma64, beta64, G64)
    )
    # The float64 reference on exactly the same (rounded) numbers.
    Zr, gr, br, Gr = (a.astype(np.float64) for a in (Z32, gamma32, beta32, G32))
    ref_out, ref_cache = batchnorm_forward(Zr, gr, br)
    ref_dZ, ref_dgamma, ref_dbeta = batchnorm_backward(Gr, ref_cache)

    out, cache = batchnorm_forward(Z32, gamma32, beta32)
    dZ, dgamma, dbeta = batchnorm_backward(G32, cache)
    assert out.dtype == dZ.dtype == dgamma.dtype == dbeta.dtype == np.float32
    assert rel_error(out, ref_out) < 1e-5
    assert rel_error(dZ, ref_dZ) < 1e-5
    assert rel_error(dgamma, ref_dgamma) < 1e-5
    assert rel_error(dbeta, ref_dbeta) < 1e-5

    out_mixed, _ = batchnorm_forward(Z32, gr, br)
    assert out_mixed.dtype == np.float64
    assert rel_error(out_mixed, ref_out) < 1e-5

    layer = BatchNorm(4)
    layer.gamma, layer.beta = gr, br
    out_layer = layer.forward(Z32)
    assert out_layer.dtype == np.float64 and layer.running_var.dtype == np.float64
    assert rel_error(out_layer, ref_out) < 1e-5
    assert rel_error(layer.backward(G32), ref_dZ) < 1e-5
    out_eval = layer.forward(Z32[:, :1], training=False)
    assert np.all(np.isfinite(out_eval))
