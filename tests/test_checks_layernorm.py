"""check_layernorm_forward (notebook 07): right answers pass, each named mistake
is named, the checker never raises, and the reference solutions of Layer Norm's
forward and backward passes are right (finite differences, float64)."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import layers, solutions
from bnutils.checks import (
    CheckResult,
    check_layernorm_backward,
    check_layernorm_forward,
    grad_check,
    layernorm,
    numerical_gradient,
    rel_error,
)

# ---------------------------------------------------------------------------
# The reference solutions
# ---------------------------------------------------------------------------


def test_layernorm_is_batchnorm_of_the_transpose():
    """LN(Z) with gamma = 1, beta = 0 is BN of Z.T, transposed back: the same
    statistics with the axes exchanged (an independent reference)."""
    rng = np.random.default_rng(0)
    Z = rng.normal(2.0, 3.0, size=(6, 4))
    ones_m, zeros_m = np.ones((4, 1)), np.zeros((4, 1))
    via_bn = layers.batchnorm_forward(Z.T, ones_m, zeros_m)[0].T
    got = solutions.layernorm_forward(Z, np.ones((6, 1)), np.zeros((6, 1)))
    assert rel_error(got, via_bn) < 1e-14


def test_layernorm_of_one_example_and_inside_any_batch_agree():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(5, 8))
    g, b = rng.uniform(0.5, 2, (5, 1)), rng.normal(size=(5, 1))
    whole = solutions.layernorm_forward(Z, g, b)
    for j in (0, 3, 7):
        alone = solutions.layernorm_forward(Z[:, [j]], g, b)
        assert np.array_equal(alone[:, 0], whole[:, j])


@pytest.mark.parametrize(("n_l", "m", "eps"), [(5, 3, 1e-5), (3, 1, 1e-3), (4, 2, 0.3)])
def test_layernorm_backward_matches_finite_differences(n_l, m, eps):
    rng = np.random.default_rng(n_l * 10 + m)
    Z = rng.normal(1.0, 2.0, size=(n_l, m))
    g, b = rng.uniform(0.5, 2, (n_l, 1)), rng.normal(size=(n_l, 1))
    dZt = rng.normal(size=(n_l, m))
    dZ, dgamma, dbeta = solutions.layernorm_backward(dZt, Z, g, eps)
    num_dZ = numerical_gradient(
        lambda v: solutions.layernorm_forward(v, g, b, eps), Z, dZt
    )
    num_dg = numerical_gradient(
        lambda v: solutions.layernorm_forward(Z, v, b, eps), g, dZt
    )
    num_db = numerical_gradient(
        lambda v: solutions.layernorm_forward(Z, g, v, eps), b, dZt
    )
    assert rel_error(dZ, num_dZ) < 1e-8
    assert rel_error(dgamma, num_dg) < 1e-8
    assert rel_error(dbeta, num_db) < 1e-8
    assert dZ.shape == Z.shape and dgamma.shape == dbeta.shape == (n_l, 1)
    # Each column's gradient sums to zero (the column mean is subtracted).
    assert np.abs(dZ.sum(axis=0)).max() < 1e-12


def test_grad_check_rejects_a_backward_with_the_batch_norm_axis():
    """The gradient check the notebook asks the learner to run can fail: the
    Batch Norm backward (statistics over axis 1) is wrong for Layer Norm."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(5, 4))
    g, b = rng.uniform(0.5, 2, (5, 1)), rng.normal(size=(5, 1))
    dZt = rng.normal(size=(5, 4))
    cache = layers.batchnorm_forward(Z, g, b)[1]
    wrong = layers.batchnorm_backward(dZt, cache)[0]
    result = grad_check(
        lambda v: solutions.layernorm_forward(v, g, b), Z, wrong, df=dZt, verbose=False
    )
    assert not result.passed and result.rel_error > 1e-3


# ---------------------------------------------------------------------------
# Right answers pass
# ---------------------------------------------------------------------------


def test_reference_solution_passes_and_prints_one_line(capsys):
    result = check_layernorm_forward(solutions.layernorm_forward)
    assert result.passed and result.mistake is None and result.rel_error < 1e-13
    out = capsys.readouterr().out
    assert out.startswith("✓ layernorm_forward: passed") and len(out.splitlines()) == 1


def ln_via_transpose(Z, gamma, beta, eps=1e-5):
    """Another style: examples as rows, np.var over each row."""
    X = Z.T  # (m, n_l)
    mu = X.mean(axis=1, keepdims=True)
    var = X.var(axis=1, keepdims=True)
    return gamma * ((X - mu) / np.sqrt(var + eps)).T + beta


def ln_loop_over_examples(Z, gamma, beta, eps=1e-5):
    """Another style: a loop over the examples."""
    out = np.empty(Z.shape)
    for j in range(Z.shape[1]):
        z = Z[:, j : j + 1]
        out[:, j : j + 1] = gamma * (z - z.mean()) / np.sqrt(z.var() + eps) + beta
    return out


@pytest.mark.parametrize("fn", [ln_via_transpose, ln_loop_over_examples])
def test_correct_answers_in_other_styles_pass(fn):
    result = quiet(check_layernorm_forward, fn)
    assert result.passed, result.message


def test_cases_meet_the_checker_standard():
    cases = layernorm._cases()
    shapes = [c["Z"].shape for c in cases]
    assert all(n_l != m for n_l, m in shapes)
    assert {2, 1} <= {m for _, m in shapes}
    assert any(m % 2 == 1 and m > 1 for _, m in shapes)
    assert len({c["eps"] for c in cases}) >= 2
    assert sum(layernorm._is_offset(c) for c in cases) == 1
    assert max(np.abs(c["Z"]).max() for c in cases if not layernorm._is_offset(c)) > 1e2


def test_variants_are_distinct_from_each_other_and_from_the_answer():
    cases = layernorm._cases()
    table = {"right": [layernorm._ref(c) for c in cases]}
    for c in cases:
        for tag, array in layernorm._variants(c).items():
            table.setdefault(tag, []).append(array)
    assert_all_distinct(table)


# ---------------------------------------------------------------------------
# Named mistakes
# ---------------------------------------------------------------------------


def _finish(Z, mu, var, gamma, beta, eps):
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def batch_axis(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    return _finish(Z, mu, Z.var(axis=1, keepdims=True), gamma, beta, eps)


def unbiased(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return _finish(Z, mu, Z.var(axis=0, ddof=1, keepdims=True), gamma, beta, eps)


def global_stats(Z, gamma, beta, eps=1e-5):
    return _finish(Z, Z.mean(), Z.var(), gamma, beta, eps)


def eps_outside(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return gamma * (Z - mu) / (Z.std(axis=0, keepdims=True) + eps) + beta


def eps_ignored(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return gamma * (Z - mu) / Z.std(axis=0, keepdims=True) + beta


def eps_hardcoded(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return _finish(Z, mu, Z.var(axis=0, keepdims=True), gamma, beta, 1e-5)


def var_not_sqrt(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return gamma * (Z - mu) / (Z.var(axis=0, keepdims=True) + eps) + beta


def sqrt_twice(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    std = np.sqrt(Z.var(axis=0, keepdims=True) + eps)
    return gamma * (Z - mu) / np.sqrt(std) + beta


def no_centering(Z, gamma, beta, eps=1e-5):
    return gamma * Z / np.sqrt(Z.var(axis=0, keepdims=True) + eps) + beta


def swapped(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return _finish(Z, mu, Z.var(axis=0, keepdims=True), beta, gamma, eps)


def no_gamma_beta(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    return (Z - mu) / np.sqrt(Z.var(axis=0, keepdims=True) + eps)


def one_pass(Z, gamma, beta, eps=1e-5):
    mu = Z.mean(axis=0, keepdims=True)
    var = (Z**2).mean(axis=0, keepdims=True) - mu**2
    return _finish(Z, mu, var, gamma, beta, eps)


def refuses_one_example(Z, gamma, beta, eps=1e-5):
    if Z.shape[1] < 2:
        raise ValueError("need a batch")
    return solutions.layernorm_forward(Z, gamma, beta, eps)


def squeezes(Z, gamma, beta, eps=1e-5):
    return np.squeeze(solutions.layernorm_forward(Z, gamma, beta, eps))


def in_place(Z, gamma, beta, eps=1e-5):
    Z -= Z.mean(axis=0, keepdims=True)
    Z /= np.sqrt(Z.var(axis=0, keepdims=True) + eps)
    return gamma * Z + beta


def float32(Z, gamma, beta, eps=1e-5):
    return solutions.layernorm_forward(Z.astype(np.float32), gamma, beta, eps).astype(
        np.float32
    )


MISTAKES = [
    (batch_axis, "batch_axis", ["over the examples", "Batch Norm"]),
    (unbiased, "unbiased_var", ["unbiased"]),
    (global_stats, "global_stats", ["whole array"]),
    (eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (eps_ignored, "eps_ignored", ["left out eps"]),
    (eps_hardcoded, "eps_hardcoded", ["ignored the eps argument"]),
    (var_not_sqrt, "var_not_sqrt", ["divided by the variance"]),
    (sqrt_twice, "sqrt_twice", ["square root twice"]),
    (no_centering, "no_centering", ["subtract"]),
    (swapped, "gamma_beta_swapped", ["swapped"]),
    (no_gamma_beta, "no_gamma_beta", ["missing"]),
    (one_pass, "one_pass_variance", ["large offset", "mean(Z**2)"]),
    (refuses_one_example, "single_example", ["single example"]),
    (squeezes, "single_example", ["single example"]),
    (in_place, "in_place", ["in place", "Z"]),
    (float32, "unknown", ["differs", "float64"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "words"), MISTAKES, ids=[m[0].__name__ for m in MISTAKES]
)
def test_named_mistakes(fn, tag, words):
    result = quiet(check_layernorm_forward, fn)
    assert_rejected(result, tag, *words[:1])
    for word in words[1:]:
        assert word.lower() in (result.message + result.hint).lower(), word
    assert result.hint


def test_at_least_six_specific_mistakes_are_named():
    specific = {tag for _, tag, _ in MISTAKES} - {"in_place", "unknown"}
    assert len(specific) >= 6 and specific <= set(layernorm._MISTAKES) | {
        "single_example"
    }


# ---------------------------------------------------------------------------
# Never raises
# ---------------------------------------------------------------------------


def _stub(*args):
    # YOUR CODE HERE
    return None


def _not_implemented(*args):
    raise NotImplementedError


GARBAGE = {
    "stub": (_stub, "returned_none"),
    "not_implemented": (_not_implemented, "not_implemented"),
    "raises": (lambda *a: 1 // 0, "exception"),
    "wrong_arity": (lambda Z: Z, "exception"),
    "string": (lambda *a: "hello", "wrong_type"),
    "tuple": (lambda *a: (a[0], None), "wrong_type"),
    "list": (lambda *a: a[0].tolist(), "wrong_type"),
    "strings_array": (lambda *a: np.array(["x", "y"]), "wrong_type"),
    "complex": (lambda *a: a[0] * 1j, "wrong_type"),
    "bools": (lambda *a: a[0] > 0, "wrong_type"),
    "per_unit": (lambda *a: a[1], "wrong_shape"),
    "transposed": (lambda *a: solutions.layernorm_forward(*a).T, "transposed"),
    "nan": (lambda *a: a[0] * np.nan, "nan"),
    "huge": (lambda *a: np.full(a[0].shape, 1e308), "unknown"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_never_raises(kind, capsys):
    fn, tag = GARBAGE[kind]
    result = check_layernorm_forward(fn)
    assert isinstance(result, CheckResult)
    assert not result.passed and result.mistake == tag, (result.mistake, result)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.verdict
    assert out.startswith("✗ layernorm_forward: ")


def test_passing_the_result_instead_of_the_function():
    result = quiet(check_layernorm_forward, np.ones((4, 7)))
    assert_rejected(result, "not_callable", "expected your function")


# ---------------------------------------------------------------------------
# check_layernorm_backward
# ---------------------------------------------------------------------------


def test_backward_reference_passes():
    result = quiet(check_layernorm_backward, solutions.layernorm_backward)
    assert result.passed and result.rel_error < 1e-13


def ln_backward_via_batchnorm(dZ_tilde, Z, gamma, eps=1e-5):
    """Another style: Layer Norm's Z_norm is Batch Norm's of Z.T, so its backward
    pass is the package's Batch Norm backward of the transpose (gamma = 1),
    with gamma applied outside."""
    m = Z.shape[1]
    ones, zeros = np.ones((m, 1)), np.zeros((m, 1))
    Z_norm_T, cache = layers.batchnorm_forward(Z.T, ones, zeros, eps)
    dZ = layers.batchnorm_backward((dZ_tilde * gamma).T, cache)[0].T
    dgamma = np.sum(dZ_tilde * Z_norm_T.T, axis=1, keepdims=True)
    return dZ, dgamma, dZ_tilde.sum(axis=1, keepdims=True)


def test_backward_in_another_style_passes():
    assert quiet(check_layernorm_backward, ln_backward_via_batchnorm).passed


def test_backward_reference_agrees_with_finite_differences_on_every_case():
    for case in layernorm._backward_cases():
        dZ, dgamma, dbeta = layernorm._backward_ref(case)
        Z, g, eps, dY = case["Z"], case["gamma"], case["eps"], case["dZ_tilde"]
        b = np.zeros_like(g)

        def f(v, Z=Z, g=g, b=b, eps=eps):
            return solutions.layernorm_forward(v, g, b, eps)

        num = numerical_gradient(f, Z.copy(), dY, h=1e-6 * max(1.0, np.abs(Z).max()))
        assert rel_error(dZ, num) < 1e-6, case["Z"].shape
        assert dgamma.shape == dbeta.shape == g.shape


def test_backward_variants_are_distinct():
    cases = layernorm._backward_cases()
    refs = [layernorm._backward_ref(c) for c in cases]
    for j in range(3):
        table = {"right": [r[j] for r in refs]}
        for c in cases:
            for tag, array in layernorm._backward_variants(c)[j].items():
                table.setdefault(tag, []).append(array)
        assert_all_distinct(table)


def _ln_parts(Z, eps, axis=0):
    mu = Z.mean(axis=axis, keepdims=True)
    inv = 1 / np.sqrt(Z.var(axis=axis, keepdims=True) + eps)
    return (Z - mu) * inv, inv


def bwd_batch_axis(dZ_tilde, Z, gamma, eps=1e-5):
    x, inv = _ln_parts(Z, eps, axis=1)  # Batch Norm's statistics
    m = Z.shape[1]
    dx = dZ_tilde * gamma
    dZ = (
        inv
        / m
        * (m * dx - dx.sum(1, keepdims=True) - x * (dx * x).sum(1, keepdims=True))
    )
    return dZ, (dZ_tilde * x).sum(1, keepdims=True), dZ_tilde.sum(1, keepdims=True)


def bwd_refuses_one_example(dZ_tilde, Z, gamma, eps=1e-5):
    if Z.shape[1] < 2:
        raise ValueError("need a batch")
    return solutions.layernorm_backward(dZ_tilde, Z, gamma, eps)


def bwd_no_mean_term(dZ_tilde, Z, gamma, eps=1e-5):
    x, inv = _ln_parts(Z, eps)
    n = Z.shape[0]
    dx = dZ_tilde * gamma
    dZ = inv / n * (n * dx - x * (dx * x).sum(axis=0, keepdims=True))
    return dZ, (dZ_tilde * x).sum(1, keepdims=True), dZ_tilde.sum(1, keepdims=True)


def bwd_direct_only(dZ_tilde, Z, gamma, eps=1e-5):
    x, inv = _ln_parts(Z, eps)
    dZ = dZ_tilde * gamma * inv
    return dZ, (dZ_tilde * x).sum(1, keepdims=True), dZ_tilde.sum(1, keepdims=True)


def bwd_m_for_n(dZ_tilde, Z, gamma, eps=1e-5):
    x, inv = _ln_parts(Z, eps)
    m = Z.shape[1]
    dx = dZ_tilde * gamma
    dZ = (
        inv
        / m
        * (m * dx - dx.sum(0, keepdims=True) - x * (dx * x).sum(0, keepdims=True))
    )
    return dZ, (dZ_tilde * x).sum(1, keepdims=True), dZ_tilde.sum(1, keepdims=True)


def bwd_params_over_units(dZ_tilde, Z, gamma, eps=1e-5):
    dZ, _, _ = solutions.layernorm_backward(dZ_tilde, Z, gamma, eps)
    x, _ = _ln_parts(Z, eps)
    return dZ, (dZ_tilde * x).sum(0, keepdims=True), dZ_tilde.sum(0, keepdims=True)


def bwd_dgamma_without_x(dZ_tilde, Z, gamma, eps=1e-5):
    dZ, _, dbeta = solutions.layernorm_backward(dZ_tilde, Z, gamma, eps)
    return dZ, dZ_tilde.sum(1, keepdims=True), dbeta


def bwd_params_mean(dZ_tilde, Z, gamma, eps=1e-5):
    dZ, dgamma, dbeta = solutions.layernorm_backward(dZ_tilde, Z, gamma, eps)
    m = Z.shape[1]
    return dZ, dgamma / m, dbeta / m


def bwd_swapped(dZ_tilde, Z, gamma, eps=1e-5):
    dZ, dgamma, dbeta = solutions.layernorm_backward(dZ_tilde, Z, gamma, eps)
    return dZ, dbeta, dgamma


def bwd_forgot_gamma(dZ_tilde, Z, gamma, eps=1e-5):
    return solutions.layernorm_backward(dZ_tilde, Z, np.ones_like(gamma), eps)


BACKWARD_MISTAKES = [
    (bwd_batch_axis, "batch_axis", ["Batch Norm's backward"]),
    (bwd_no_mean_term, "no_mean_term", ["through the mean"]),
    (bwd_direct_only, "direct_path_only", ["constants"]),
    (bwd_m_for_n, "m_for_n", ["number of examples"]),
    (bwd_params_over_units, "params_over_units", ["over the units"]),
    (bwd_dgamma_without_x, "dgamma_without_x_hat", ["Z_norm"]),
    (bwd_params_mean, "params_mean", ["mean instead of sum"]),
    (bwd_swapped, "swapped_outputs", ["swapped"]),
    (bwd_forgot_gamma, "forgot_gamma", ["forgot gamma"]),
    (bwd_refuses_one_example, "single_example", ["single example"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    BACKWARD_MISTAKES,
    ids=[m[0].__name__ for m in BACKWARD_MISTAKES],
)
def test_backward_named_mistakes(fn, tag, words):
    result = quiet(check_layernorm_backward, fn)
    assert_rejected(result, tag, *words)
    assert result.hint
