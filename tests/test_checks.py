"""Tests of bnutils.checks (the checkers) and bnutils.solutions.

Every checker must accept the reference solutions and the package's layers,
reject each listed mistake (written below as a small wrong function) with a
message that names it, and never raise, whatever the learner's function does.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bnutils import checks, layers, solutions
from bnutils.checks import (
    CheckResult,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_batchnorm_inference,
    check_normalize_inputs,
    check_update_running_stats,
    grad_check,
    numerical_gradient,
    rel_error,
)

CHECKERS = {
    "batchnorm_forward": check_batchnorm_forward,
    "batchnorm_backward": check_batchnorm_backward,
    "normalize_inputs": check_normalize_inputs,
    "update_running_stats": check_update_running_stats,
    "batchnorm_inference": check_batchnorm_inference,
}


def quiet(checker, fn) -> CheckResult:
    return checker(fn, verbose=False)


def assert_rejected(result: CheckResult, tag: str, *keywords: str) -> None:
    """The result failed with the given mistake tag and message keywords."""
    assert isinstance(result, CheckResult)
    assert not result.passed, result
    assert result.mistake == tag, (result.mistake, result.message)
    for word in keywords:
        assert word.lower() in result.message.lower(), (word, result.message)


# ---------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------


def test_rel_error_closed_forms():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    # max |a - b| = 0.2 at the second entry; max(|a| + |b|) = 4.2 there too.
    assert rel_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 4.2, rel=1e-15)
    # The denominator is the largest |a_i| + |b_i| over the whole array.
    assert rel_error([10.0, 0.0], [10.0, 1e-13]) == pytest.approx(1e-13 / 20, rel=1e-12)
    assert rel_error([3.0, -1.0], [-3.0, 1.0]) == 1.0  # opposite signs
    assert rel_error(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    assert rel_error(2.0, 2.0 * (1 + 1e-12)) == pytest.approx(0.5e-12, rel=1e-3)
    assert np.isnan(rel_error([1.0, np.nan], [1.0, 2.0]))
    assert np.isnan(rel_error([1.0, np.inf], [1.0, 2.0]))


def test_rel_error_refuses_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones((3, 1)), np.ones(3))


# ---------------------------------------------------------------------------
# numerical_gradient and grad_check
# ---------------------------------------------------------------------------


def test_numerical_gradient_of_sum_of_cubes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = numerical_gradient(lambda v: np.sum(v**3), x)
    assert rel_error(grad, 3 * x0**2) < 1e-9
    assert np.array_equal(x, x0)  # every nudged entry restored exactly


def test_numerical_gradient_with_upstream_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5))
    df = rng.standard_normal((2, 5))
    # f(x) = sin(x) elementwise: d/dx sum(sin(x) * df) = cos(x) * df.
    grad = numerical_gradient(np.sin, x, df=df)
    assert rel_error(grad, np.cos(x) * df) < 1e-9


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    x0 = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, x0)


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="df"):
        numerical_gradient(lambda v: v**2, np.ones(3))


def test_grad_check_accepts_right_and_rejects_wrong(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(6)
    good = grad_check(lambda v: np.sum(v**3), x, 3 * x**2, name="cubes")
    assert good.passed and good.rel_error < 1e-9
    assert good.max_abs_diff < 1e-8
    bad = grad_check(lambda v: np.sum(v**3), x, 2 * x**2, name="cubes")
    assert not bad.passed
    # Closed form of the error of 2x^2 against 3x^2: max x^2 / max 5x^2 = 1/5.
    assert bad.rel_error == pytest.approx(0.2, rel=1e-6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ cubes: passed")
    assert lines[1].startswith("✗ cubes:")
    assert not grad_check(np.sum, x, None, verbose=False).passed
    assert not grad_check(np.sum, x, np.ones(5), verbose=False).passed
    assert not grad_check(np.sum, x, "abc", verbose=False).passed


# ---------------------------------------------------------------------------
# Correct functions pass
# ---------------------------------------------------------------------------

CORRECT = [
    ("batchnorm_forward", solutions.batchnorm_forward),
    ("batchnorm_forward", layers.batchnorm_forward),
    ("batchnorm_backward", solutions.batchnorm_backward),
    ("batchnorm_backward", layers.batchnorm_backward),
    ("normalize_inputs", solutions.normalize_inputs),
    ("update_running_stats", solutions.update_running_stats),
    ("batchnorm_inference", solutions.batchnorm_inference),
    ("batchnorm_inference", layers.batchnorm_inference),
]


@pytest.mark.parametrize(("name", "fn"), CORRECT)
def test_correct_functions_pass(name, fn, capsys):
    result = CHECKERS[name](fn)
    assert result.passed, result.message
    assert bool(result)
    assert result.mistake is None
    tol = checks.NORMALIZE_TOL if name == "normalize_inputs" else 1e-12
    assert result.rel_error < tol
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.verdict
    assert out.startswith(f"✓ {name}: passed — max |diff| ")
    assert len(out.splitlines()) == 1
    assert name in repr(result) and "passed=True" in repr(result)


def test_normalize_accepts_small_eps():
    def with_eps_on_std(X_train, X_test):
        mu = X_train.mean(axis=1, keepdims=True)
        sigma = X_train.std(axis=1, keepdims=True) + 1e-8
        return (X_train - mu) / sigma, (X_test - mu) / sigma

    def without_eps(X_train, X_test):
        mu = X_train.mean(axis=1, keepdims=True)
        sigma = X_train.std(axis=1, keepdims=True)
        return (X_train - mu) / sigma, (X_test - mu) / sigma

    assert quiet(check_normalize_inputs, with_eps_on_std).passed
    assert quiet(check_normalize_inputs, without_eps).passed
    assert quiet(check_normalize_inputs, solutions.normalize_inputs).passed  # 1e-8


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
    closed = checks._backward_ref(dZt, Z, gamma, eps)
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


def test_solution_running_stats_match_the_layer():
    rng = np.random.default_rng(8)
    bn = layers.BatchNorm(3, ema_beta=0.8)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    for _ in range(3):
        Z = rng.standard_normal((3, 6)) * 2 + 1
        bn.forward(Z, training=True)
        mu_B = Z.mean(axis=1, keepdims=True)
        var_B = Z.var(axis=1, keepdims=True)
        mean, var = solutions.update_running_stats(mean, var, mu_B, var_B, 6, 0.8)
    assert rel_error(mean, bn.running_mean) < 1e-14
    assert rel_error(var, bn.running_var) < 1e-14


# ---------------------------------------------------------------------------
# Verdict format
# ---------------------------------------------------------------------------


def test_failing_verdict_is_one_line_then_explanation(capsys):
    def eps_outside(Z, gamma, beta, eps=1e-5):
        mu = Z.mean(axis=1, keepdims=True)
        var = Z.var(axis=1, keepdims=True)
        return gamma * (Z - mu) / (np.sqrt(var) + eps) + beta, None

    result = check_batchnorm_forward(eps_outside)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == result.verdict
    assert lines[0].startswith("✗ batchnorm_forward: ")
    assert len(lines) >= 2 and all(line.startswith("   ") for line in lines[1:])
    assert "np.sqrt(var + eps)" in result.hint
    assert "mistake='eps_outside_sqrt'" in repr(result)
    assert "\n" not in repr(result)


def test_verbose_false_prints_nothing(capsys):
    quiet(check_batchnorm_forward, solutions.batchnorm_forward)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# Checkers never raise
# ---------------------------------------------------------------------------


def _raises(*args, **kwargs):
    raise ValueError("something broke")


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


def _stub(*args, **kwargs):
    # YOUR CODE HERE
    return None


GARBAGE = {
    "raises": _raises,
    "not_implemented": _not_implemented,
    "stub": _stub,
    "string": lambda *a: "hello",
    "list": lambda *a: [1, 2, 3],
    "nested_list": lambda *a: [[1.0, 2.0], [3.0, 4.0]],
    "dict": lambda *a: {"a": 1},
    "object": lambda *a: object(),
    "tuple_of_strings": lambda *a: ("a", "b", "c")[: max(1, len(a) // 2)],
    "tuple_of_none": lambda *a: (None, None, None),
    "pair_of_none": lambda *a: (None, None),
    "strings_array": lambda *a: np.array(["x", "y"]),
    "complex": lambda *a: (np.ones((4, 7)) * 1j, np.ones((4, 1)) * 1j),
    "wrong_arity": lambda x: x,
    "int_zero_division": lambda *a: 1 // 0,
}


@pytest.mark.parametrize("name", list(CHECKERS))
@pytest.mark.parametrize("kind", list(GARBAGE))
def test_checkers_never_raise(name, kind, capsys):
    result = CHECKERS[name](GARBAGE[kind])
    assert isinstance(result, CheckResult)
    assert not result.passed
    # Diagnosed, not a fallback after the checker itself tripped over the output.
    assert result.mistake != "unanalysable", result.message
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ")
    assert out.splitlines()[0] == result.verdict


def test_extreme_values_are_diagnosed_without_warnings():
    def huge_forward(Z, gamma, beta, eps=1e-5):
        return np.full(Z.shape, 1e308), None

    def huge_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        return np.where(Z > 0, 1e308, -1e308)

    assert_rejected(quiet(check_batchnorm_forward, huge_forward), "unknown")
    assert_rejected(quiet(check_batchnorm_inference, huge_inference), "unknown")
    assert rel_error([1e308, -1e308], [-1e308, 1e308]) == 1.0


@pytest.mark.parametrize("name", list(CHECKERS))
def test_stub_and_not_implemented_messages(name):
    assert_rejected(quiet(CHECKERS[name], _stub), "returned_none", "returned None")
    assert "YOUR CODE HERE" in quiet(CHECKERS[name], _stub).message
    result = quiet(CHECKERS[name], _not_implemented)
    assert_rejected(result, "not_implemented", "NotImplementedError", "YOUR CODE HERE")
    result = quiet(CHECKERS[name], _raises)
    assert_rejected(result, "exception", "raised ValueError: something broke")


@pytest.mark.parametrize("name", list(CHECKERS))
def test_passing_the_result_instead_of_the_function(name):
    result = quiet(CHECKERS[name], np.ones((4, 7)))
    assert_rejected(result, "not_callable", "expected your function")


# ---------------------------------------------------------------------------
# batchnorm_forward mistakes
# ---------------------------------------------------------------------------


def _bn(Z, gamma, beta, eps, *, axis=1, ddof=0):
    mu = Z.mean(axis=axis, keepdims=True)
    var = Z.var(axis=axis, ddof=ddof, keepdims=True)
    return (Z - mu) / np.sqrt(var + eps), mu, var


def fwd_axis0(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps, axis=0)
    return gamma * Z_norm + beta, None


def fwd_axis0_no_keepdims(Z, gamma, beta, eps=1e-5):
    mu = np.mean(Z, axis=0)
    var = np.var(Z, axis=0)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta, None


def fwd_ddof1(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps, ddof=1)
    return gamma * Z_norm + beta, None


def fwd_eps_outside(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / (np.sqrt(var) + eps) + beta, None


def fwd_no_eps(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var) + beta, None


def fwd_fixed_eps(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, 1e-5)
    return gamma * Z_norm + beta, None


def fwd_swapped(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return beta * Z_norm + gamma, None


def fwd_no_gamma(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return Z_norm + beta, None


def fwd_no_beta(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return gamma * Z_norm, None


def fwd_z_norm(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return Z_norm, None


def fwd_by_var(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / (var + eps) + beta, None


def fwd_no_centering(Z, gamma, beta, eps=1e-5):
    var = Z.var(axis=1, keepdims=True)
    return gamma * Z / np.sqrt(var + eps) + beta, None


def fwd_transposed(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return (gamma * Z_norm + beta).T, None


def fwd_per_unit(Z, gamma, beta, eps=1e-5):
    _, mu, _ = _bn(Z, gamma, beta, eps)
    return mu, None


def fwd_nan(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var - 100.0) + beta, None  # sqrt(<0) = NaN


def fwd_single(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return gamma * Z_norm + beta


def fwd_single_wrong(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return Z_norm


def fwd_in_place_Z(Z, gamma, beta, eps=1e-5):
    Z -= Z.mean(axis=1, keepdims=True)
    Z /= np.sqrt(np.mean(Z**2, axis=1, keepdims=True) + eps)
    return gamma * Z + beta, None


def fwd_in_place_gamma(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    gamma *= 2.0
    return gamma / 2.0 * Z_norm + beta, None


def fwd_unnameable(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return 1.01 * gamma * Z_norm + beta, None


def fwd_list_output(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return (gamma * Z_norm + beta).tolist(), None


def fwd_keyword_only_eps(Z, gamma, beta, *, epsilon=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, epsilon)
    return gamma * Z_norm + beta, None


def fwd_float32(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z.astype(np.float32), gamma, beta, np.float32(eps))
    return (gamma * Z_norm + beta).astype(np.float32), None


FORWARD_MISTAKES = [
    (fwd_axis0, "wrong_axis", ["axis=0"]),
    (fwd_axis0_no_keepdims, "wrong_axis", ["wrong axis"]),
    (fwd_ddof1, "unbiased_var", ["unbiased", "ddof=1"]),
    (fwd_eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (fwd_no_eps, "eps_ignored", ["forgot eps"]),
    (fwd_fixed_eps, "eps_hardcoded", ["eps argument"]),
    (fwd_swapped, "gamma_beta_swapped", ["swapped"]),
    (fwd_no_gamma, "gamma_ignored", ["scale by gamma"]),
    (fwd_no_beta, "beta_ignored", ["shift by beta"]),
    (fwd_z_norm, "no_gamma_beta", ["Z_norm without gamma and beta"]),
    (fwd_by_var, "divided_by_var", ["variance instead of the standard deviation"]),
    (fwd_no_centering, "no_centering", ["subtract the mean"]),
    (fwd_transposed, "transposed", ["transpose"]),
    (fwd_per_unit, "wrong_shape", ["one value per unit"]),
    (fwd_nan, "nan", ["NaN"]),
    (fwd_single, "single_output", ["(Z_tilde, cache)"]),
    (fwd_single_wrong, "single_output", ["(Z_tilde, cache)"]),
    (fwd_in_place_Z, "in_place", ["in place", "Z"]),
    (fwd_in_place_gamma, "in_place", ["in place", "gamma"]),
    (fwd_unnameable, "unknown", ["can't name", "max |diff|"]),
    (fwd_list_output, "wrong_type", ["numpy array", "list"]),
    (fwd_keyword_only_eps, "exception", ["raised TypeError"]),
    (fwd_float32, "unknown", ["can't name"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    FORWARD_MISTAKES,
    ids=[f[0].__name__ for f in FORWARD_MISTAKES],
)
def test_forward_mistakes(fn, tag, keywords):
    result = quiet(check_batchnorm_forward, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint  # every failure explains itself


def test_forward_single_output_says_whether_values_are_right():
    assert "values are right" in quiet(check_batchnorm_forward, fwd_single).hint
    hint = quiet(check_batchnorm_forward, fwd_single_wrong).hint
    assert "problem too" in hint and "without gamma and beta" in hint
    assert "Also" not in hint  # said once, not twice


def test_forward_float32_gets_a_precision_note():
    assert "float64" in quiet(check_batchnorm_forward, fwd_float32).hint


def test_learner_warnings_are_quoted_in_the_hint():
    result = quiet(check_batchnorm_forward, fwd_nan)
    assert "invalid value encountered in sqrt" in result.hint
    assert "warning" not in quiet(check_batchnorm_forward, fwd_swapped).hint


def test_forward_unnamed_reports_the_difference():
    result = quiet(check_batchnorm_forward, fwd_unnameable)
    assert 0 < result.rel_error < 0.01
    assert result.max_abs_diff > 0


def test_forward_failing_line_shown():
    def broken(Z, gamma, beta, eps=1e-5):
        mu = Z.mean(axis=1)  # no keepdims: (4,) against (4, 7)
        return Z - mu, None

    result = quiet(check_batchnorm_forward, broken)
    assert_rejected(result, "exception", "raised ValueError")
    assert "Z - mu" in result.hint and "keepdims=True" in result.hint


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


# ---------------------------------------------------------------------------
# normalize_inputs mistakes
# ---------------------------------------------------------------------------


def _train_stats(X_train, ddof=0):
    return X_train.mean(axis=1, keepdims=True), X_train.std(
        axis=1, ddof=ddof, keepdims=True
    )


def norm_own_stats(X_train, X_test):
    mu, sd = _train_stats(X_train)
    mu_t, sd_t = _train_stats(X_test)
    return (X_train - mu) / sd, (X_test - mu_t) / sd_t


def norm_axis0(X_train, X_test):
    def norm(X):
        return (X - X.mean(axis=0)) / X.std(axis=0)

    return norm(X_train), norm(X_test)


def norm_axis0_train_stats(X_train, X_test):
    mu, sd = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_by_var(X_train, X_test):
    mu = X_train.mean(axis=1, keepdims=True)
    sigma2 = np.mean((X_train - mu) ** 2, axis=1, keepdims=True)
    return (X_train - mu) / sigma2, (X_test - mu) / sigma2


def norm_center_only(X_train, X_test):
    mu, _ = _train_stats(X_train)
    return X_train - mu, X_test - mu


def norm_scale_only(X_train, X_test):
    _, sd = _train_stats(X_train)
    return X_train / sd, X_test / sd


def norm_ddof1(X_train, X_test):
    mu, sd = _train_stats(X_train, ddof=1)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_test_untouched(X_train, X_test):
    mu, sd = _train_stats(X_train)
    return (X_train - mu) / sd, X_test


def norm_combined(X_train, X_test):
    mu, sd = _train_stats(np.concatenate([X_train, X_test], axis=1))
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_in_place(X_train, X_test):
    mu, sd = _train_stats(X_train)
    X_train -= mu
    X_train /= sd
    X_test -= mu
    X_test /= sd
    return X_train, X_test


def norm_single(X_train, X_test):
    mu, sd = _train_stats(X_train)
    return (X_train - mu) / sd


def norm_swapped(X_train, X_test):
    X_train_norm, X_test_norm = solutions.normalize_inputs(X_train, X_test)  # eps
    return X_test_norm, X_train_norm


def norm_big_eps(X_train, X_test):
    mu = X_train.mean(axis=1, keepdims=True)
    sd = np.sqrt(X_train.var(axis=1, keepdims=True) + 1e-5)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_test_wrong(X_train, X_test):
    mu, sd = _train_stats(X_train)
    return (X_train - mu) / sd, (X_test - mu) / sd + 0.5


NORMALIZE_MISTAKES = [
    (norm_own_stats, "test_own_stats", ["test set", "its own mean"]),
    (norm_axis0, "wrong_axis", ["wrong axis"]),
    (norm_by_var, "divided_by_var", ["variance", "instead of the standard deviation"]),
    (norm_center_only, "only_centering", ["only centered"]),
    (norm_scale_only, "only_scaling", ["only scaled"]),
    (norm_ddof1, "sample_std", ["ddof=1"]),
    (norm_test_untouched, "test_not_normalized", ["forgot to normalize the test"]),
    (norm_combined, "combined_stats", ["together"]),
    (norm_in_place, "in_place", ["in place", "X_train", "X_test"]),
    (norm_single, "single_output", ["return both", "matches X_train_norm"]),
    (norm_swapped, "swapped_outputs", ["swapped"]),
    (norm_big_eps, "close", ["very close"]),
    (norm_test_wrong, "unknown", ["X_train_norm is right but X_test_norm differs"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    NORMALIZE_MISTAKES,
    ids=[f[0].__name__ for f in NORMALIZE_MISTAKES],
)
def test_normalize_mistakes(fn, tag, keywords):
    result = quiet(check_normalize_inputs, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_normalize_var_hint_mentions_the_slide():
    assert "slide" in quiet(check_normalize_inputs, norm_by_var).hint


def test_normalize_axis0_train_stats_points_at_the_axis():
    result = quiet(check_normalize_inputs, norm_axis0_train_stats)
    assert_rejected(result, "exception", "broadcast")
    assert "axis=1" in result.hint and "keepdims=True" in result.hint


# ---------------------------------------------------------------------------
# update_running_stats mistakes
# ---------------------------------------------------------------------------


def run_flipped(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = (1 - ema_beta) * running_mean + ema_beta * mu_B
    new_var = (1 - ema_beta) * running_var + ema_beta * var_B * m / (m - 1)
    return new_mean, new_var


def run_biased(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B
    return new_mean, new_var


def run_flipped_biased(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = (1 - ema_beta) * running_mean + ema_beta * mu_B
    new_var = (1 - ema_beta) * running_var + ema_beta * var_B
    return new_mean, new_var


def run_bessel_inverted(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B * (m - 1) / m
    return new_mean, new_var


def run_swapped(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean, new_var = solutions.update_running_stats(
        running_mean, running_var, mu_B, var_B, m, ema_beta
    )
    return new_var, new_mean


def run_fixed_beta(running_mean, running_var, mu_B, var_B, m, ema_beta):
    return solutions.update_running_stats(
        running_mean, running_var, mu_B, var_B, m, 0.9
    )


def run_in_place(running_mean, running_var, mu_B, var_B, m, ema_beta):
    running_mean *= ema_beta
    running_mean += (1 - ema_beta) * mu_B
    running_var *= ema_beta
    running_var += (1 - ema_beta) * var_B * m / (m - 1)
    return running_mean, running_var


def run_no_one_minus(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + mu_B
    new_var = ema_beta * running_var + var_B * m / (m - 1)
    return new_mean, new_var


RUNNING_MISTAKES = [
    (run_flipped, "ema_flipped", ["flipped", "PyTorch"]),
    (run_biased, "biased_var", ["biased", "m / (m - 1)"]),
    (run_flipped_biased, "flipped_and_biased", ["flipped", "biased"]),
    (run_bessel_inverted, "bessel_inverted", ["upside down"]),
    (run_swapped, "swapped_outputs", ["new_mean and new_var swapped"]),
    (run_fixed_beta, "ema_beta_fixed", ["ema_beta argument"]),
    (run_in_place, "in_place", ["in place", "running_mean", "running_var"]),
    (run_no_one_minus, "no_one_minus_beta", ["1 - ema_beta"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    RUNNING_MISTAKES,
    ids=[f[0].__name__ for f in RUNNING_MISTAKES],
)
def test_running_stats_mistakes(fn, tag, keywords):
    result = quiet(check_update_running_stats, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_running_flipped_mentions_pytorch_momentum():
    result = quiet(check_update_running_stats, run_flipped)
    assert "momentum" in result.hint and "1 - ema_beta" in result.hint


# ---------------------------------------------------------------------------
# batchnorm_inference mistakes
# ---------------------------------------------------------------------------


def inf_batch_stats(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def inf_batch_stats_ddof1(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, ddof=1, keepdims=True)  # NaN (and a warning) at m = 1
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def inf_eps_outside(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / (np.sqrt(running_var) + eps) + beta


def inf_no_sqrt(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / (running_var + eps) + beta


def inf_sqrt_twice(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    std = np.sqrt(running_var + eps)
    return gamma * (Z - running_mean) / np.sqrt(std) + beta


def inf_sqrt_twice_b(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    std = np.sqrt(running_var)
    return gamma * (Z - running_mean) / np.sqrt(std + eps) + beta


def inf_swapped(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return beta * (Z - running_mean) / np.sqrt(running_var + eps) + gamma


def inf_no_eps(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / np.sqrt(running_var) + beta


def inf_fails_single(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    if Z.shape[1] < 2:
        raise ValueError("need at least two examples")
    return gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta


def inf_squeezes(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    Z = np.squeeze(Z)  # (4, 1) -> (4,): broadcasting then fails
    return (gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta).reshape(
        4, -1
    )


def inf_in_place(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    Z -= running_mean
    Z /= np.sqrt(running_var + eps)
    return gamma * Z + beta


INFERENCE_MISTAKES = [
    (inf_batch_stats, "batch_stats", ["batch's own statistics"]),
    (inf_batch_stats_ddof1, "batch_stats", ["single example", "batch's own"]),
    (inf_eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (inf_no_sqrt, "var_not_sqrt", ["divided by the variance"]),
    (inf_sqrt_twice, "sqrt_twice", ["square root twice"]),
    (inf_sqrt_twice_b, "sqrt_twice", ["square root twice"]),
    (inf_swapped, "gamma_beta_swapped", ["swapped"]),
    (inf_no_eps, "eps_ignored", ["forgot eps"]),
    (inf_fails_single, "single_example", ["single example (m=1)"]),
    (inf_squeezes, "single_example", ["single example (m=1)"]),
    (inf_in_place, "in_place", ["in place", "Z"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    INFERENCE_MISTAKES,
    ids=[f[0].__name__ for f in INFERENCE_MISTAKES],
)
def test_inference_mistakes(fn, tag, keywords):
    result = quiet(check_batchnorm_inference, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


# ---------------------------------------------------------------------------
# The test inputs separate the mistakes
# ---------------------------------------------------------------------------


def _assert_all_distinct(named_arrays: dict[str, list[np.ndarray]], margin=1e-5):
    """Every pair of variants differs in some test case by a rel_error far above
    both the pass tolerance and the mistake-matching tolerance."""
    assert margin > 10 * max(checks.TOL, checks.MATCH_TOL)
    for (a, xs), (b, ys) in itertools.combinations(named_arrays.items(), 2):
        errs = [
            rel_error(x, y) if x.shape == y.shape else 1.0
            for x, y in zip(xs, ys, strict=True)
        ]
        assert max(errs) > margin, (a, b, errs)


def test_forward_variants_are_distinct():
    cases = checks._forward_cases()
    table = {"right": [checks._bn_train_ref(**c) for c in cases]}
    for c in cases:
        for tag, array in checks._forward_variants(**c).items():
            table.setdefault(tag, []).append(array)
    _assert_all_distinct(table)


def test_inference_variants_are_distinct():
    cases = checks._inference_cases()
    table = {"right": [checks._inference_ref(c) for c in cases]}
    for c in cases:
        for k, (tag, array) in enumerate(checks._inference_variants(c)):
            table.setdefault(f"{tag}{k}", []).append(array)
    _assert_all_distinct(table)


def test_backward_variants_are_distinct():
    Z, gamma, _, dZt, eps = checks._backward_case()
    ref = checks._backward_ref(dZt, Z, gamma, eps)
    for j, part in enumerate(checks._backward_variants(dZt, Z, gamma, eps)):
        table = {"right": [ref[j]]} | {k: [v] for k, v in part.items()}
        _assert_all_distinct(table)


def test_normalize_variants_are_distinct():
    ref, variants = checks._normalize_variants(*checks._normalize_case())
    for j in range(2):
        table = {"right": [ref[j]]} | {k: [v[j]] for k, v in variants.items()}
        # Some variants only change one of the two outputs: compare those where
        # the variant differs from the right answer at all.
        table = {
            k: v
            for k, v in table.items()
            if k == "right" or rel_error(v[0], ref[j]) > 0
        }
        _assert_all_distinct(table)


def test_running_variants_are_distinct():
    tables: list[dict[str, list[np.ndarray]]] = [{}, {}]
    for case in checks._running_cases():
        ref, mean_v, var_v = checks._running_variants(case)
        for j, variants in enumerate((mean_v, var_v)):
            tables[j].setdefault("right", []).append(ref[j])
            for tag, array in variants.items():
                tables[j].setdefault(tag, []).append(array)
    for table in tables:
        _assert_all_distinct(table)


def test_checkers_leave_the_shared_inputs_alone():
    """Running a function that writes into its inputs must not corrupt the
    checker's own test inputs for the next call."""
    quiet(check_batchnorm_forward, fwd_in_place_Z)
    assert quiet(check_batchnorm_forward, solutions.batchnorm_forward).passed
    quiet(check_normalize_inputs, norm_in_place)
    assert quiet(check_normalize_inputs, solutions.normalize_inputs).passed
