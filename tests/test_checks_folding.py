"""check_fold_batchnorm (notebook 06): right answers pass, each named mistake is
named, and the checker never raises whatever the learner's function does."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import layers, solutions
from bnutils.checks import CheckResult, check_fold_batchnorm, folding, rel_error

# ---------------------------------------------------------------------------
# Right answers
# ---------------------------------------------------------------------------


def test_reference_solution_passes_and_prints_one_line(capsys):
    result = check_fold_batchnorm(solutions.fold_batchnorm)
    assert result.passed and result.mistake is None
    assert result.rel_error < 1e-14
    out = capsys.readouterr().out
    assert out.startswith("✓ fold_batchnorm: passed") and len(out.splitlines()) == 1


def fold_by_matrices(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """Another style: a diagonal matrix of scales, float64 throughout."""
    D = np.diag((gamma / np.sqrt(running_var + eps))[:, 0])
    return D @ W, D @ (b - running_mean) + beta


def fold_by_probing(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """Another style: read W_fold and b_fold off inference-mode BN itself
    (the images of the zero vector and of the unit vectors)."""
    n_prev = W.shape[1]
    probe = np.concatenate([np.zeros((n_prev, 1)), np.eye(n_prev)], axis=1)
    out = layers.batchnorm_inference(
        W @ probe + b, gamma, beta, running_mean, running_var, eps
    )
    b_fold = out[:, :1]
    return out[:, 1:] - b_fold, b_fold


@pytest.mark.parametrize("fn", [fold_by_matrices, fold_by_probing])
def test_correct_answers_in_other_styles_pass(fn):
    result = quiet(check_fold_batchnorm, fn)
    assert result.passed, result.message


def test_reference_is_what_inference_mode_bn_computes():
    """The checker's own reference against the package's inference-mode BN, on
    every test case and on random inputs a: W_fold a + b_fold == BN(W a + b)."""
    rng = np.random.default_rng(5)
    for case in folding._cases():
        W_fold, b_fold = folding._ref(case)
        a = rng.normal(size=(case["W"].shape[1], 9))
        bn = layers.batchnorm_inference(
            case["W"] @ a + case["b"],
            case["gamma"],
            case["beta"],
            case["running_mean"],
            case["running_var"],
            case["eps"],
        )
        assert rel_error(W_fold @ a + b_fold, bn) < 1e-11


def test_cases_meet_the_checker_standard():
    cases = folding._cases()
    shapes = [c["W"].shape for c in cases]
    assert any(n_l == n_prev for n_l, n_prev in shapes)  # names scaled columns
    assert sum(n_l != n_prev for n_l, n_prev in shapes) >= 3
    assert len({s[0] for s in shapes}) >= 3 and len({s[1] for s in shapes}) >= 3
    assert len({c["eps"] for c in cases}) >= 2
    assert max(np.abs(c["running_mean"]).max() for c in cases) > 1e3  # offset
    assert max(np.abs(c["W"]).max() for c in cases) > 1e2  # scale
    for c in cases:
        assert all(v.dtype == np.float64 for v in c.values() if hasattr(v, "dtype"))


def test_variants_are_distinct_from_each_other_and_from_the_answer():
    cases = folding._cases()
    for j, name in enumerate(("W_fold", "b_fold")):
        table = {"right": [folding._ref(c)[j] for c in cases]}
        for c in cases:
            for tag, array in folding._variants(c)[j].items():
                table.setdefault(tag, []).append(array)
        assert_all_distinct(table), name
    assert set(folding._MISTAKES) == set(folding._variants(cases[0])[0]) | set(
        folding._variants(cases[0])[1]
    )


# ---------------------------------------------------------------------------
# Named mistakes
# ---------------------------------------------------------------------------


def _scale(gamma, running_var, eps):
    return gamma / np.sqrt(running_var + eps)


def scaled_columns(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return W * s.T, s * (b - running_mean) + beta  # crashes unless W is square


def eps_outside(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / (np.sqrt(running_var) + eps)
    return s * W, s * (b - running_mean) + beta


def eps_ignored(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / np.sqrt(running_var)
    return s * W, s * (b - running_mean) + beta


def var_not_sqrt(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / (running_var + eps)
    return s * W, s * (b - running_mean) + beta


def forgot_gamma(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = 1 / np.sqrt(running_var + eps)
    return s * W, s * (b - running_mean) + beta


def forgot_std(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * W, gamma * (b - running_mean) + beta


def swapped_gamma_beta(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = beta / np.sqrt(running_var + eps)
    return s * W, s * (b - running_mean) + gamma


def W_not_scaled(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return W, s * (b - running_mean) + beta


def forgot_b(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return s * W, beta - s * running_mean


def forgot_beta(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return s * W, s * (b - running_mean)


def shift_not_scaled(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return s * W, b - running_mean + beta


def mean_sign(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return s * W, s * (b + running_mean) + beta


def beta_scaled(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    return s * W, s * (b - running_mean + beta)


def b_unchanged(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    return _scale(gamma, running_var, eps) * W, b


def swapped_outputs(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    W_fold, b_fold = solutions.fold_batchnorm(
        W, b, gamma, beta, running_mean, running_var, eps
    )
    return b_fold, W_fold


def flat_bias(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    W_fold, b_fold = solutions.fold_batchnorm(
        W, b, gamma, beta, running_mean, running_var, eps
    )
    return W_fold, b_fold[:, 0]  # shape (n_l,): keepdims forgotten


def in_place(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = _scale(gamma, running_var, eps)
    W *= s
    return W, s * (b - running_mean) + beta


def returns_nan(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / np.sqrt(running_var - 10.0 + eps)  # negative under the root
    with np.errstate(invalid="ignore"):
        return s * W, s * (b - running_mean) + beta


def float16(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    W_fold, b_fold = solutions.fold_batchnorm(
        W, b, gamma, beta, running_mean, running_var, eps
    )
    return W_fold.astype(np.float16), b_fold


MISTAKES = [
    (scaled_columns, "scaled_columns", ["columns of W"]),
    (eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (eps_ignored, "eps_ignored", ["left out eps"]),
    (var_not_sqrt, "var_not_sqrt", ["divided by the variance"]),
    (forgot_gamma, "forgot_gamma", ["gamma is missing"]),
    (forgot_std, "forgot_std", ["standard deviation"]),
    (swapped_gamma_beta, "gamma_beta_swapped", ["swapped"]),
    (W_not_scaled, "W_not_scaled", ["W unchanged"]),
    (forgot_b, "forgot_b", ["own bias b"]),
    (forgot_beta, "forgot_beta", ["beta is missing"]),
    (shift_not_scaled, "shift_not_scaled", ["not multiplied by the scale"]),
    (mean_sign, "mean_sign", ["wrong sign"]),
    (beta_scaled, "beta_scaled", ["beta got multiplied"]),
    (b_unchanged, "b_unchanged", ["b unchanged"]),
    (swapped_outputs, "swapped_outputs", ["swapped"]),
    (flat_bias, "missing_keepdims", ["b_fold has shape (4,)"]),
    (in_place, "in_place", ["in place", "W"]),
    (returns_nan, "nan", ["NaN"]),
    (float16, "low_precision", ["float16", "float64"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "words"), MISTAKES, ids=[m[0].__name__ for m in MISTAKES]
)
def test_named_mistakes(fn, tag, words):
    result = quiet(check_fold_batchnorm, fn)
    assert_rejected(result, tag, *words[:1])
    for word in words[1:]:
        assert word.lower() in (result.message + result.hint).lower(), word
    assert result.hint, "every failure explains itself"


def test_at_least_six_specific_mistakes_are_named():
    specific = {tag for _, tag, _ in MISTAKES} - {
        "swapped_outputs",
        "missing_keepdims",
        "in_place",
        "nan",
        "unknown",
        "low_precision",
    }
    assert len(specific) >= 6
    assert specific <= set(folding._MISTAKES)


def test_scaled_columns_that_crash_are_still_named():
    result = quiet(check_fold_batchnorm, scaled_columns)
    assert "non-square" in result.message and "broadcast" in result.message


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
    "wrong_arity": (lambda W: W, "exception"),
    "string": (lambda *a: "hello", "wrong_return_type"),
    "one_array": (lambda *a: np.ones((4, 4)), "single_output"),
    "pair_of_none": (lambda *a: (None, None), "returned_none"),
    "pair_of_strings": (lambda *a: ("a", "b"), "wrong_type"),
    "strings_arrays": (lambda *a: (np.array(["x"]), np.array(["y"])), "wrong_type"),
    "complex": (lambda *a: (a[0] * 1j, a[1] * 1j), "wrong_type"),
    "lists": (lambda *a: (a[0].tolist(), a[1].tolist()), "wrong_type"),
    "bools": (lambda *a: (a[0] > 0, a[1] > 0), "wrong_type"),
    "objects": (lambda *a: (object(), object()), "wrong_type"),
    "inf": (lambda *a: (a[0] * np.inf, a[1]), "nan"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_never_raises(kind, capsys):
    fn, tag = GARBAGE[kind]
    result = check_fold_batchnorm(fn)
    assert isinstance(result, CheckResult)
    assert not result.passed and result.mistake == tag, (result.mistake, result)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.verdict
    assert out.startswith("✗ fold_batchnorm: ")


def test_passing_the_result_instead_of_the_function():
    result = quiet(check_fold_batchnorm, np.ones((4, 4)))
    assert_rejected(result, "not_callable", "expected your function")


def test_inputs_stay_unchanged_for_the_caller():
    cases = folding._cases()
    before = [{k: np.copy(v) for k, v in c.items()} for c in folding._cases()]
    quiet(check_fold_batchnorm, in_place)
    for c, b in zip(cases, before, strict=True):
        for k in c:
            assert np.array_equal(c[k], b[k])
