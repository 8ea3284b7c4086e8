"""check_batchnorm_backward (notebook 03): its reference and the mistakes it names."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import (
    assert_all_distinct,
    assert_cases_cover,
    assert_rejected,
    quiet,
)

from bnutils import layers, solutions
from bnutils.checks import (
    backward,
    check_batchnorm_backward,
    numerical_gradient,
    rel_error,
)


def test_checks_reference_backward_matches_finite_differences():
    """The checker's closed form against centred differences of a forward
    written here (a third, independent implementation)."""
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((3, 6)) * 2 + 1
    gamma = rng.standard_normal((3, 1))
    beta = rng.standard_normal((3, 1))
    dZt = rng.standard_normal((3, 6))
    eps = 1e-5

    def forward(_):
        centred = Z - Z.sum(axis=1, keepdims=True) / Z.shape[1]
        var = np.mean(centred * centred, axis=1, keepdims=True)
        return gamma * centred / np.sqrt(var + eps) + beta

    numeric = [numerical_gradient(forward, p, df=dZt) for p in (Z, gamma, beta)]
    closed = backward._backward_ref(dZt, Z, gamma, eps)
    for got, want in zip(closed, numeric, strict=True):
        assert rel_error(got, want) < 1e-8


def test_solution_forward_cache_works_with_package_backward():
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((3, 5))
    gamma, beta = rng.standard_normal((3, 1)), rng.standard_normal((3, 1))
    dZt = rng.standard_normal((3, 5))
    _, cache = solutions.batchnorm_forward(Z, gamma, beta)
    assert isinstance(cache, layers.BNCache)
    _, ref_cache = layers.batchnorm_forward(Z, gamma, beta)
    for got, want in zip(
        solutions.batchnorm_backward(dZt, cache),
        layers.batchnorm_backward(dZt, ref_cache),
        strict=True,
    ):
        assert rel_error(got, want) < 1e-12


# ---------------------------------------------------------------------------
# batchnorm_backward mistakes
# ---------------------------------------------------------------------------


def _grads(dZ_tilde, cache, *, axis=1, use_gamma=True, reduce=np.mean):
    """The right formula with knobs to break it."""
    dZ_norm = dZ_tilde * cache.gamma if use_gamma else dZ_tilde
    Zn, inv = cache.Z_norm, cache.inv_std
    dZ = inv * (
        dZ_norm
        - reduce(dZ_norm, axis=axis, keepdims=True)
        - Zn * reduce(dZ_norm * Zn, axis=axis, keepdims=True)
    )
    dgamma = np.sum(dZ_tilde * Zn, axis=1, keepdims=True)
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    return dZ, dgamma, dbeta


def bwd_swapped(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dZ, dbeta, dgamma


def bwd_order(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dgamma, dbeta, dZ


def bwd_dbeta_no_sum(dZ_tilde, cache):
    dZ, dgamma, _ = _grads(dZ_tilde, cache)
    return dZ, dgamma, dZ_tilde


def bwd_dgamma_no_sum(dZ_tilde, cache):
    dZ, _, dbeta = _grads(dZ_tilde, cache)
    return dZ, dZ_tilde * cache.Z_norm, dbeta


def bwd_dbeta_axis0(dZ_tilde, cache):
    dZ, dgamma, _ = _grads(dZ_tilde, cache)
    return dZ, dgamma, dZ_tilde.sum(axis=0, keepdims=True)


def bwd_dgamma_axis0(dZ_tilde, cache):
    dZ, _, dbeta = _grads(dZ_tilde, cache)
    return dZ, (dZ_tilde * cache.Z_norm).sum(axis=0), dbeta


def bwd_dbeta_sum_all(dZ_tilde, cache):
    dZ, dgamma, _ = _grads(dZ_tilde, cache)
    return dZ, dgamma, np.sum(dZ_tilde)


def bwd_no_keepdims(dZ_tilde, cache):
    dZ, _, dbeta = _grads(dZ_tilde, cache)
    return dZ, np.sum(dZ_tilde * cache.Z_norm, axis=1), dbeta


def bwd_constants(dZ_tilde, cache):
    _, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dZ_tilde * cache.gamma * cache.inv_std, dgamma, dbeta


def bwd_no_var_term(dZ_tilde, cache):
    _, dgamma, dbeta = _grads(dZ_tilde, cache)
    dZ_norm = dZ_tilde * cache.gamma
    dZ = cache.inv_std * (dZ_norm - dZ_norm.mean(axis=1, keepdims=True))
    return dZ, dgamma, dbeta


def bwd_no_mean_term(dZ_tilde, cache):
    _, dgamma, dbeta = _grads(dZ_tilde, cache)
    dZ_norm = dZ_tilde * cache.gamma
    Zn = cache.Z_norm
    dZ = cache.inv_std * (dZ_norm - Zn * np.mean(dZ_norm * Zn, axis=1, keepdims=True))
    return dZ, dgamma, dbeta


def bwd_forgot_gamma(dZ_tilde, cache):
    return _grads(dZ_tilde, cache, use_gamma=False)


def bwd_axis0(dZ_tilde, cache):
    return _grads(dZ_tilde, cache, axis=0)


def bwd_no_one_over_m(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dZ * dZ_tilde.shape[1], dgamma, dbeta


def bwd_sums(dZ_tilde, cache):
    return _grads(dZ_tilde, cache, reduce=np.sum)


def bwd_dgamma_with_Z(dZ_tilde, cache):
    dZ, _, dbeta = _grads(dZ_tilde, cache)
    return dZ, np.sum(dZ_tilde * cache.Z, axis=1, keepdims=True), dbeta


def bwd_params_averaged(dZ_tilde, cache):
    dZ, _, _ = _grads(dZ_tilde, cache)
    dgamma = np.mean(dZ_tilde * cache.Z_norm, axis=1, keepdims=True)
    return dZ, dgamma, dZ_tilde.mean(axis=1, keepdims=True)


def bwd_in_place_upstream(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    dZ_tilde *= 0.0
    return dZ, dgamma, dbeta


def bwd_in_place_cache(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    cache.Z_norm[:] = 0.0
    return dZ, dgamma, dbeta


def bwd_nan(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dZ * np.nan, dgamma, dbeta


def bwd_two_outputs(dZ_tilde, cache):
    return _grads(dZ_tilde, cache)[:2]


def bwd_unnameable(dZ_tilde, cache):
    dZ, dgamma, dbeta = _grads(dZ_tilde, cache)
    return dZ + 0.01, dgamma, dbeta


BACKWARD_MISTAKES = [
    (bwd_swapped, "swapped_outputs", ["dgamma and dbeta swapped"]),
    (bwd_order, "swapped_outputs", ["wrong order"]),
    (bwd_dbeta_no_sum, "dbeta_no_sum", ["dbeta", "forgot to sum"]),
    (bwd_dgamma_no_sum, "dgamma_no_sum", ["dgamma", "forgot to sum"]),
    (bwd_dbeta_axis0, "dbeta_wrong_axis", ["dbeta", "wrong axis"]),
    (bwd_dgamma_axis0, "dgamma_wrong_axis", ["dgamma", "wrong axis"]),
    (bwd_dbeta_sum_all, "dbeta_sum_all", ["all entries"]),
    (bwd_no_keepdims, "missing_keepdims", ["dgamma", "(4,)"]),
    (bwd_constants, "mu_var_constant", ["treated mu and var as constants"]),
    (bwd_no_var_term, "no_var_path", ["path through var"]),
    (bwd_no_mean_term, "no_mean_path", ["path through mu"]),
    (bwd_forgot_gamma, "forgot_gamma", ["forgets gamma"]),
    (bwd_axis0, "wrong_axis", ["dZ", "wrong axis"]),
    (bwd_no_one_over_m, "forgot_1_over_m", ["1/m"]),
    (bwd_sums, "sums_not_means", ["sums where"]),
    (bwd_dgamma_with_Z, "dgamma_used_Z", ["Z instead of Z_norm"]),
    (bwd_params_averaged, "dgamma_mean_not_sum", ["averaged", "m times too small"]),
    (bwd_in_place_upstream, "in_place", ["in place", "dZ_tilde"]),
    (bwd_in_place_cache, "in_place", ["in place", "cache"]),
    (bwd_nan, "nan", ["dZ", "NaN"]),
    (bwd_two_outputs, "wrong_return_type", ["(dZ, dgamma, dbeta)"]),
    (bwd_unnameable, "unknown", ["dZ", "can't name"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    BACKWARD_MISTAKES,
    ids=[f[0].__name__ for f in BACKWARD_MISTAKES],
)
def test_backward_mistakes(fn, tag, keywords):
    result = quiet(check_backward := check_batchnorm_backward, fn)
    assert check_backward is check_batchnorm_backward
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_backward_reports_several_problems():
    def two_bugs(dZ_tilde, cache):
        dZ = dZ_tilde * cache.gamma * cache.inv_std
        return dZ, dZ_tilde * cache.Z_norm, dZ_tilde

    result = quiet(check_batchnorm_backward, two_bugs)
    assert_rejected(result, "mu_var_constant", "constants")
    assert "Also: dgamma" in result.hint and "Also: dbeta" in result.hint


def test_backward_pass_message_quotes_finite_differences():
    result = quiet(check_batchnorm_backward, solutions.batchnorm_backward)
    assert "finite differences agree to" in result.message


def test_backward_variants_are_distinct():
    tables: list[dict[str, list[np.ndarray]]] = [{}, {}, {}]
    for Z, gamma, _, dZt, eps in backward._backward_cases():
        ref = backward._backward_ref(dZt, Z, gamma, eps)
        for j, part in enumerate(backward._backward_variants(dZt, Z, gamma, eps)):
            tables[j].setdefault("right", []).append(ref[j])
            for key, array in part.items():
                tables[j].setdefault(key, []).append(array)
    for table in tables:
        assert_all_distinct(table)


# ---------------------------------------------------------------------------
# Several cases; more named mistakes
# ---------------------------------------------------------------------------


def test_backward_cases_vary_shape_eps_offset_and_scale():
    cases = backward._backward_cases()
    assert_cases_cover(
        [c[0].shape for c in cases], [c[4] for c in cases], [c[0] for c in cases]
    )


def test_backward_cache_is_the_forward_pass_of_its_case():
    for Z, gamma, beta, _, eps in backward._backward_cases():
        cache = backward._reference_cache(Z, gamma, beta, eps)
        _, package = layers.batchnorm_forward(Z, gamma, beta, eps)
        for field in layers.BNCache._fields:
            assert rel_error(getattr(cache, field), getattr(package, field)) < 1e-12


def _compact(dZ_tilde, cache, inv_std, Z_norm):
    m = dZ_tilde.shape[1]
    dZn = dZ_tilde * cache.gamma
    dZ = (inv_std / m) * (
        m * dZn
        - dZn.sum(axis=1, keepdims=True)
        - Z_norm * (dZn * Z_norm).sum(axis=1, keepdims=True)
    )
    dgamma = (dZ_tilde * Z_norm).sum(axis=1, keepdims=True)
    return dZ, dgamma, dZ_tilde.sum(axis=1, keepdims=True)


def bwd_eps_1e5(dZ_tilde, cache):
    inv_std = 1 / np.sqrt(cache.var + 1e-5)  # instead of cache.eps
    return _compact(dZ_tilde, cache, inv_std, cache.Z_norm)


def bwd_eps_1e5_everywhere(dZ_tilde, cache):
    inv_std = 1 / np.sqrt(cache.var + 1e-5)
    return _compact(dZ_tilde, cache, inv_std, cache.Z_centered * inv_std)


def bwd_no_eps(dZ_tilde, cache):
    return _compact(dZ_tilde, cache, 1 / np.sqrt(cache.var), cache.Z_norm)


def _staged(dZ_tilde, cache, *, Zc=None, power=3, half=-0.5, m_var=None, m_mu=None):
    m = dZ_tilde.shape[1]
    Zc = cache.Z_centered if Zc is None else Zc
    dZn = dZ_tilde * cache.gamma
    dvar = np.sum(dZn * Zc, axis=1, keepdims=True) * half * cache.inv_std**power
    dmu = -np.sum(dZn * cache.inv_std, axis=1, keepdims=True)
    dZ = dZn * cache.inv_std + dvar * 2 * Zc / (m_var or m) + dmu / (m_mu or m)
    return (
        dZ,
        np.sum(dZ_tilde * cache.Z_norm, axis=1, keepdims=True),
        np.sum(dZ_tilde, axis=1, keepdims=True),
    )


def bwd_dvar_power_2(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, power=2)


def bwd_dvar_no_half(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, half=1.0)


def bwd_dvar_plus_half(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, half=0.5)


def bwd_var_term_no_m(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, m_var=1)


def bwd_mu_term_no_m(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, m_mu=1)


def bwd_Z_not_centered(dZ_tilde, cache):
    return _staged(dZ_tilde, cache, Zc=cache.Z)


def bwd_dgamma_Z_centered(dZ_tilde, cache):
    dZ, _, dbeta = solutions.batchnorm_backward(dZ_tilde, cache)
    return dZ, np.sum(dZ_tilde * cache.Z_centered, axis=1, keepdims=True), dbeta


MORE_MISTAKES = [
    (bwd_eps_1e5, "eps_hardcoded", ["eps = 1e-05 instead of the argument cache.eps"]),
    (bwd_eps_1e5_everywhere, "eps_hardcoded", ["eps = 1e-05"]),
    (bwd_no_eps, "eps_ignored", ["eps out"]),
    (bwd_dvar_power_2, "dvar_power", ["(var + eps)^(-3/2)"]),
    (bwd_dvar_no_half, "dvar_half", ["-1/2"]),
    (bwd_dvar_plus_half, "dvar_sign", ["wrong sign"]),
    (bwd_var_term_no_m, "dvar_term_m", ["var path", "1/m"]),
    (bwd_mu_term_no_m, "dmu_term_m", ["mu path", "1/m"]),
    (bwd_Z_not_centered, "used_Z_not_centered", ["Z_centered"]),
    (bwd_dgamma_Z_centered, "dgamma_used_Z_centered", ["Z_centered instead"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    MORE_MISTAKES,
    ids=[f[0].__name__ for f in MORE_MISTAKES],
)
def test_backward_more_mistakes(fn, tag, keywords):
    result = quiet(check_batchnorm_backward, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def bwd_inv_std_twice(dZ_tilde, cache):
    dZ, dgamma, dbeta = solutions.batchnorm_backward(dZ_tilde, cache)
    return dZ * cache.inv_std, dgamma, dbeta


def bwd_gamma_twice(dZ_tilde, cache):
    dZ, dgamma, dbeta = solutions.batchnorm_backward(dZ_tilde, cache)
    return dZ * cache.gamma, dgamma, dbeta


def bwd_divides_by_m_twice(dZ_tilde, cache):
    dZ, dgamma, dbeta = solutions.batchnorm_backward(dZ_tilde, cache)
    return dZ / dZ_tilde.shape[1], dgamma, dbeta


@pytest.mark.parametrize(
    ("fn", "tag"),
    [
        (bwd_inv_std_twice, "inv_std_twice"),
        (bwd_gamma_twice, "gamma_twice"),
        (bwd_divides_by_m_twice, "extra_1_over_m"),
    ],
)
def test_backward_adversarial_mistakes(fn, tag):
    """Found by an adversarial pass (issue 9): named since."""
    result = quiet(check_batchnorm_backward, fn)
    assert result.mistake == tag and result.hint, result
