"""check_identity_gamma_beta (notebook 02): the answer, other correct styles, and
every mistake it names; it never raises, whatever the learner's function does."""

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
from bnutils.checks import check_identity_gamma_beta, identity, rel_error

# ---------------------------------------------------------------------------
# The reference and the test cases
# ---------------------------------------------------------------------------


def test_reference_makes_batchnorm_the_identity():
    """Independent of the formula: the package's BN with the reference gamma,
    beta gives every test batch back, at float64 round-off."""
    for case in identity._cases():
        gamma, beta = identity._ref(**case)
        Z_back, _ = layers.batchnorm_forward(case["Z"], gamma, beta, case["eps"])
        assert rel_error(Z_back, case["Z"]) < 1e-13


def test_reference_agrees_with_the_closed_form():
    for case in identity._cases():
        gamma, beta = identity._ref(**case)
        Z, eps = case["Z"], case["eps"]
        np.testing.assert_allclose(gamma, np.sqrt(Z.var(axis=1, keepdims=True) + eps))
        np.testing.assert_allclose(beta, Z.mean(axis=1, keepdims=True), rtol=1e-13)


def test_cases_meet_the_checker_standard():
    cases = identity._cases()
    assert_cases_cover(
        [c["Z"].shape for c in cases],
        eps_values=[c["eps"] for c in cases],
        arrays=[c["Z"] for c in cases],
    )
    assert max(c["eps"] for c in cases) >= 0.1  # leaving eps out shows anywhere
    for c in cases:
        assert c["Z"].dtype == np.float64


def test_named_variants_differ_from_the_answer_and_each_other():
    cases = identity._cases()
    for part, tags in ((0, identity._GAMMA_TAGS), (1, identity._BETA_TAGS)):
        table = {"right": [identity._ref(**c)[part] for c in cases]}
        for tag in tags:
            table[tag] = [identity._variants(**c)[tag] for c in cases]
        assert_all_distinct(table)
    assert len(identity._GAMMA_TAGS) + len(identity._BETA_TAGS) >= 8


# ---------------------------------------------------------------------------
# Correct answers pass
# ---------------------------------------------------------------------------


def identity_loops(Z, eps):
    """Another correct style: loops over the units."""
    n_l, m = Z.shape
    gamma, beta = np.empty((n_l, 1)), np.empty((n_l, 1))
    for k in range(n_l):
        mu = sum(Z[k]) / m
        gamma[k, 0] = (sum((z - mu) ** 2 for z in Z[k]) / m + eps) ** 0.5
        beta[k, 0] = mu
    return gamma, beta


def identity_from_cache(Z, eps):
    """Another correct style: read the statistics off the package's BN cache."""
    n_l = Z.shape[0]
    _, cache = layers.batchnorm_forward(Z, np.ones((n_l, 1)), np.zeros((n_l, 1)), eps)
    return 1.0 / cache.inv_std, cache.mu


@pytest.mark.parametrize(
    "fn",
    [solutions.identity_gamma_beta, identity_loops, identity_from_cache],
    ids=lambda f: f.__name__,
)
def test_correct_answers_pass(fn):
    result = quiet(check_identity_gamma_beta, fn)
    assert result.passed, result
    assert result.rel_error < 1e-12
    assert result.mistake is None


def test_verdict_is_printed(capsys):
    check_identity_gamma_beta(solutions.identity_gamma_beta)
    assert capsys.readouterr().out.startswith("✓ identity_gamma_beta: passed")


# ---------------------------------------------------------------------------
# Named mistakes
# ---------------------------------------------------------------------------


def _mu(Z):
    return Z.mean(axis=1, keepdims=True)


def _var(Z):
    return Z.var(axis=1, keepdims=True)


def no_eps(Z, eps):
    return np.sqrt(_var(Z)), _mu(Z)


def variance(Z, eps):
    return _var(Z) + eps, _mu(Z)


def ddof1(Z, eps):
    return np.sqrt(Z.var(axis=1, ddof=1, keepdims=True) + eps), _mu(Z)


def eps_outside(Z, eps):
    return np.sqrt(_var(Z)) + eps, _mu(Z)


def reciprocal(Z, eps):
    return 1 / np.sqrt(_var(Z) + eps), _mu(Z)


def eps_hardcoded(Z, eps):
    return np.sqrt(_var(Z) + 1e-5), _mu(Z)


def gamma_one(Z, eps):
    return np.ones((Z.shape[0], 1)), _mu(Z)


def beta_zero(Z, eps):
    return np.sqrt(_var(Z) + eps), np.zeros((Z.shape[0], 1))


def beta_negative(Z, eps):
    return np.sqrt(_var(Z) + eps), -_mu(Z)


def beta_normalized(Z, eps):
    return np.sqrt(_var(Z) + eps), _mu(Z) / np.sqrt(_var(Z) + eps)


def beta_times_gamma(Z, eps):
    return np.sqrt(_var(Z) + eps), _mu(Z) * np.sqrt(_var(Z) + eps)


def swapped(Z, eps):
    return _mu(Z), np.sqrt(_var(Z) + eps)


def flat(Z, eps):
    return np.sqrt(Z.var(axis=1) + eps), Z.mean(axis=1)


def wrong_axis(Z, eps):
    return np.sqrt(Z.var(axis=0, keepdims=True) + eps), Z.mean(axis=0, keepdims=True)


def in_place(Z, eps):
    mu = _mu(Z)
    Z -= mu  # right values, but the caller's Z is changed
    return np.sqrt(np.mean(Z**2, axis=1, keepdims=True) + eps), mu


def single(Z, eps):
    return np.sqrt(_var(Z) + eps)


def returns_none(Z, eps):
    return None


def raises(Z, eps):
    raise NotImplementedError


def float32(Z, eps):
    return (
        np.sqrt(_var(Z) + eps).astype(np.float32),
        _mu(Z).astype(np.float32),
    )


def unnameable(Z, eps):
    return 1.01 * np.sqrt(_var(Z) + eps), _mu(Z)


def one_pass(Z, eps):
    mu = Z.mean(axis=1, keepdims=True)
    var = (Z**2).mean(axis=1, keepdims=True) - mu**2  # loses precision near 1e6
    return np.sqrt(var + eps), mu


MISTAKES = [
    (one_pass, "one_pass_variance", ["1e6", "one-pass"]),
    (no_eps, "no_eps", ["eps is missing"]),
    (variance, "variance", ["variance"]),
    (ddof1, "ddof1", ["unbiased", "ddof=1"]),
    (eps_outside, "eps_outside", ["outside"]),
    (reciprocal, "reciprocal", ["1 / sqrt"]),
    (eps_hardcoded, "eps_hardcoded", ["eps = 1e-05"]),
    (gamma_one, "gamma_one", ["gamma is 1"]),
    (beta_zero, "beta_zero", ["beta is 0"]),
    (beta_negative, "beta_negative", ["-mu"]),
    (beta_normalized, "beta_normalized", ["mu / sqrt"]),
    (beta_times_gamma, "beta_times_gamma", ["mu * sqrt"]),
    (swapped, "swapped_outputs", ["swapped"]),
    (flat, "missing_keepdims", ["shape"]),
    (wrong_axis, "wrong_shape", ["shape"]),
    (in_place, "in_place", ["in place", "Z"]),
    (single, "single_output", ["one array"]),
    (returns_none, "returned_none", ["None"]),
    (raises, "not_implemented", ["NotImplementedError"]),
    (float32, "low_precision", ["float32"]),
    (unnameable, "unknown", ["can't name"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"), MISTAKES, ids=[m[0].__name__ for m in MISTAKES]
)
def test_mistakes_are_named(fn, tag, keywords):
    with np.errstate(all="ignore"):
        result = quiet(check_identity_gamma_beta, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint  # every failure explains itself


def test_at_least_eight_named_wrong_answers_are_tested():
    named = {tag for _, tag, _ in MISTAKES} & set(identity._MISTAKES)
    assert named == set(identity._MISTAKES)
    assert len(named) >= 8


def test_not_callable_and_wrong_signature_never_raise():
    assert_rejected(quiet(check_identity_gamma_beta, 42), "not_callable", "function")
    result = quiet(check_identity_gamma_beta, lambda Z: (Z, Z))  # no eps argument
    assert_rejected(result, "exception", "TypeError")


def test_checker_inputs_survive_an_in_place_learner():
    quiet(check_identity_gamma_beta, in_place)
    assert quiet(check_identity_gamma_beta, solutions.identity_gamma_beta).passed
