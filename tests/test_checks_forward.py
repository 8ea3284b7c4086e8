"""check_batchnorm_forward (notebook 02): the mistakes it names."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import (
    assert_all_distinct,
    assert_cases_cover,
    assert_rejected,
    quiet,
)

from bnutils import solutions
from bnutils.checks import (
    check_batchnorm_forward,
    forward,
)

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
    (fwd_fixed_eps, "eps_hardcoded", ["eps = 1e-05 instead of the argument eps"]),
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
    (fwd_float32, "low_precision", ["float32", "float64"]),
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


def test_forward_variants_are_distinct():
    cases = forward._forward_cases()
    table = {"right": [forward._bn_train_ref(**c) for c in cases]}
    for c in cases:
        for tag, array in forward._forward_variants(**c).items():
            table.setdefault(tag, []).append(array)
    assert_all_distinct(table)


def test_checker_leaves_its_shared_inputs_alone():
    """Running a function that writes into its inputs must not corrupt the
    checker's own test inputs for the next call."""
    quiet(check_batchnorm_forward, fwd_in_place_Z)
    assert quiet(check_batchnorm_forward, solutions.batchnorm_forward).passed


# ---------------------------------------------------------------------------
# Several cases; the diagnoses named in issue 9
# ---------------------------------------------------------------------------


def test_forward_cases_vary_shape_eps_offset_and_scale():
    cases = forward._forward_cases()
    assert_cases_cover(
        [c["Z"].shape for c in cases],
        [c["eps"] for c in cases],
        [c["Z"] for c in cases],
    )


def fwd_divides_by_7(Z, gamma, beta, eps=1e-5):
    mu = np.sum(Z, axis=1, keepdims=True) / 7  # the notebook's m, hard-coded
    var = np.sum((Z - mu) ** 2, axis=1, keepdims=True) / 7
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta, None


def fwd_eps_1e8(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + 1e-8) + beta, None


def fwd_returns_z_norm_first(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return Z_norm, gamma * Z_norm + beta


def fwd_returns_cache_first(Z, gamma, beta, eps=1e-5):
    Z_norm, mu, var = _bn(Z, gamma, beta, eps)
    return (Z_norm, mu, var), gamma * Z_norm + beta


def fwd_var_not_centered(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = np.mean(Z**2, axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta, None


def fwd_sqrt_of_std(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(Z.std(axis=1, keepdims=True) + eps) + beta, None


ISSUE_MISTAKES = [
    (fwd_divides_by_7, "right_for_some_inputs", ["right for some", "(5, 9)"]),
    (fwd_eps_1e8, "eps_hardcoded", ["eps = 1e-08 instead of the argument eps"]),
    (fwd_returns_z_norm_first, "swapped_outputs", ["second output", "order"]),
    (fwd_returns_cache_first, "swapped_outputs", ["second output", "order"]),
    (fwd_var_not_centered, "var_not_centered", ["mean(Z**2)"]),
    (fwd_sqrt_of_std, "sqrt_of_std", ["square root of the standard deviation"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    ISSUE_MISTAKES,
    ids=[f[0].__name__ for f in ISSUE_MISTAKES],
)
def test_forward_issue_mistakes(fn, tag, keywords):
    result = quiet(check_batchnorm_forward, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_forward_z_norm_first_is_told_it_returned_z_norm():
    hint = quiet(check_batchnorm_forward, fwd_returns_z_norm_first).hint
    assert "You returned (Z_norm, Z_tilde)" in hint


def fwd_no_axis(Z, gamma, beta, eps=1e-5):
    return gamma * (Z - Z.mean()) / np.sqrt(Z.var() + eps) + beta, None


def fwd_median(Z, gamma, beta, eps=1e-5):
    mu = np.median(Z, axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(Z.var(axis=1, keepdims=True) + eps) + beta, None


@pytest.mark.parametrize(
    ("fn", "tag", "word"),
    [(fwd_no_axis, "no_axis", "no axis"), (fwd_median, "median", "median")],
)
def test_forward_adversarial_mistakes(fn, tag, word):
    """Found by an adversarial pass (issue 9); the median equals the mean at
    m = 2, so this one looked 'right for some inputs' before it was named."""
    assert_rejected(quiet(check_batchnorm_forward, fn), tag, word)


# ---------------------------------------------------------------------------
# Found by the second adversarial pass: one-pass variance, clipping, float32
# ---------------------------------------------------------------------------


def fwd_one_pass(Z, gamma, beta, eps=1e-5):
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.mean(Z**2, axis=1, keepdims=True) - mu**2  # E[Z^2] - E[Z]^2
    return [gamma * (Z - mu) / np.sqrt(var + eps) + beta, None]


def fwd_one_pass_squares(Z, gamma, beta, eps=1e-5):
    m = Z.shape[1]
    mu = Z.sum(axis=1, keepdims=True) / m
    var = (Z * Z).sum(axis=1, keepdims=True) / m - mu * mu
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta, None


def fwd_clip3(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    Z_norm = np.clip(Z_norm, -3, 3)
    return gamma * Z_norm + beta, (Z_norm,)


def fwd_clip2_5(Z, gamma, beta, eps=1e-5):
    Z_norm, _, _ = _bn(Z, gamma, beta, eps)
    return gamma * np.clip(Z_norm, -2.5, 2.5) + beta, None


def fwd_float32(Z, gamma, beta, eps=1e-5):
    Z32 = Z.astype(np.float32)
    Z_norm, _, _ = _bn(Z32, gamma, beta, eps)
    return (gamma * Z_norm + beta).astype(np.float32), None


@pytest.mark.parametrize(
    ("fn", "tag", "word"),
    [
        (fwd_one_pass, "one_pass_variance", "near 1e6"),
        (fwd_one_pass_squares, "one_pass_variance", "near 1e6"),
        (fwd_clip3, "clipped", "[-3, 3]"),
        (fwd_clip2_5, "right_for_some_inputs", "(2, 32)"),
        (fwd_float32, "low_precision", "float32"),
    ],
    ids=["one_pass", "one_pass_squares", "clip3", "clip2_5", "float32"],
)
def test_forward_second_adversarial_pass(fn, tag, word):
    assert_rejected(quiet(check_batchnorm_forward, fn), tag, word)


def test_forward_cases_show_one_pass_and_clipping():
    """The offset case is near 1e6 with spreads near 1, and some |Z_norm| of
    the outlier case exceed 5 (|Z_norm| > 3 is impossible for m <= 9)."""
    cases = forward._forward_cases()
    offset = cases[forward._OFFSET_CASE]["Z"]
    assert np.abs(offset).min() > 4e5 and offset.std(axis=1).max() < 10
    norms = [forward._bn_train_ref(c["Z"], 1.0, 0.0, c["eps"]) for c in cases]
    assert max(np.abs(n).max() for n in norms) > 5
