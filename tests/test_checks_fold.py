"""check_fold_normalization (notebook 01): the answer, other correct styles, and
every mistake it names; it never raises, whatever the learner's function does."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import solutions
from bnutils.checks import check_fold_normalization, fold, rel_error

# ---------------------------------------------------------------------------
# The reference and the test cases
# ---------------------------------------------------------------------------


def test_reference_matches_the_pipeline_on_random_inputs():
    """The checker's answer reproduces normalize-then-layer on inputs it never
    probed, at float64 round-off (independent of the solution's formula)."""
    rng = np.random.default_rng(1)
    for case in fold._cases():
        W_raw, b_raw = fold._ref(**case)
        n_x = case["W"].shape[1]
        X = case["mu"] + case["sigma"] * rng.standard_normal((n_x, 9))
        pipeline = case["W"] @ ((X - case["mu"]) / case["sigma"]) + case["b"]
        # raw inputs near 1e3 cancel against b_raw: round-off grows ~1e3-fold
        assert rel_error(W_raw @ X + b_raw, pipeline) < 1e-10


def test_reference_agrees_with_the_closed_form():
    for case in fold._cases():
        W_raw, b_raw = fold._ref(**case)
        W, b, mu, sigma = case["W"], case["b"], case["mu"], case["sigma"]
        np.testing.assert_allclose(W_raw, W / sigma.T, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b_raw, b - W @ (mu / sigma), rtol=1e-12)


def test_cases_meet_the_checker_standard():
    cases = fold._cases()
    shapes = [c["W"].shape for c in cases]
    assert len(cases) >= 3
    assert any(n_1 != n_x for n_1, n_x in shapes)
    assert any(n_x % 2 == 1 for _, n_x in shapes)  # an odd number of features
    assert any(n_x == 2 for _, n_x in shapes)
    assert any(n_1 == n_x for n_1, n_x in shapes)  # rows vs columns shows
    assert max(np.abs(c["mu"]).max() for c in cases) >= 1e3  # large offset
    assert max(c["sigma"].max() for c in cases) >= 1e3  # large scale
    assert min(c["sigma"].min() for c in cases) <= 0.1  # small scale
    for c in cases:
        assert c["W"].dtype == np.float64
        assert c["b"].shape == (c["W"].shape[0], 1)
        assert c["mu"].shape == c["sigma"].shape == (c["W"].shape[1], 1)


def test_named_variants_differ_from_the_answer_and_each_other():
    cases = fold._cases()
    for part, tags in ((0, fold._W_TAGS), (1, fold._B_TAGS)):
        table = {"right": [fold._ref(**c)[part] for c in cases]}
        for tag in tags:
            arrays = [fold._variants(**c)[tag] for c in cases]
            # Compare on the cases where the mistake runs (rows divided and the
            # precedence slip raise on some shapes).
            table[tag] = [
                a if a is not None else np.full((1, 1), np.nan) for a in arrays
            ]
        ok = {k: v for k, v in table.items() if all(np.isfinite(a).all() for a in v)}
        assert_all_distinct(ok)
        # The mistakes that raise somewhere still differ where they run.
        for tag, arrays in table.items():
            if tag in ok:
                continue
            for a, want in zip(arrays, table["right"], strict=True):
                if np.isfinite(a).all() and a.shape == want.shape:
                    assert rel_error(a, want) > 1e-5, tag
    assert len(fold._W_TAGS) + len(fold._B_TAGS) >= 6


# ---------------------------------------------------------------------------
# Correct answers pass
# ---------------------------------------------------------------------------


def fold_loops(W, b, mu, sigma):
    """Another correct style: explicit loops over units and features."""
    n_1, n_x = W.shape
    W_raw, b_raw = np.empty((n_1, n_x)), np.empty((n_1, 1))
    for k in range(n_1):
        b_raw[k, 0] = b[k, 0]
        for j in range(n_x):
            W_raw[k, j] = W[k, j] / sigma[j, 0]
            b_raw[k, 0] -= W[k, j] * mu[j, 0] / sigma[j, 0]
    return W_raw, b_raw


def fold_via_W_raw(W, b, mu, sigma):
    """Another correct style: the bias from the folded weights, a list return."""
    W_raw = W * (1.0 / sigma).reshape(1, -1)
    return [W_raw, b - W_raw @ mu]


def fold_by_probing(W, b, mu, sigma):
    """Another correct style: evaluate the pipeline at 0 and at the unit vectors."""
    n_x = W.shape[1]
    b_raw = W @ (-mu / sigma) + b
    return W @ (np.eye(n_x) / sigma), b_raw


@pytest.mark.parametrize(
    "fn",
    [solutions.fold_normalization, fold_loops, fold_via_W_raw, fold_by_probing],
    ids=lambda f: f.__name__,
)
def test_correct_answers_pass(fn):
    result = quiet(check_fold_normalization, fn)
    assert result.passed, result
    assert result.rel_error < 1e-13 and result.max_abs_diff < 1e-9
    assert result.mistake is None


def test_verdict_is_printed(capsys):
    check_fold_normalization(solutions.fold_normalization)
    assert capsys.readouterr().out.startswith("✓ fold_normalization: passed")


# ---------------------------------------------------------------------------
# Named mistakes
# ---------------------------------------------------------------------------


def _right_b(W, b, mu, sigma):
    return b - W @ (mu / sigma)


def times_sigma(W, b, mu, sigma):
    return W * sigma.T, _right_b(W, b, mu, sigma)


def divided_by_var(W, b, mu, sigma):
    return W / sigma.T**2, _right_b(W, b, mu, sigma)


def rows_divided(W, b, mu, sigma):
    return W / sigma, _right_b(W, b, mu, sigma)


def weights_unchanged(W, b, mu, sigma):
    return W, _right_b(W, b, mu, sigma)


def bias_unchanged(W, b, mu, sigma):
    return W / sigma.T, b


def bias_sign(W, b, mu, sigma):
    return W / sigma.T, b + W @ (mu / sigma)


def bias_no_sigma(W, b, mu, sigma):
    return W / sigma.T, b - W @ mu


def bias_divided_twice(W, b, mu, sigma):
    W_raw = W / sigma.T
    return W_raw, b - W_raw @ (mu / sigma)


def bias_times_sigma(W, b, mu, sigma):
    return W / sigma.T, b - W @ (mu * sigma)


def bias_not_summed(W, b, mu, sigma):
    return W / sigma.T, b - W * (mu / sigma).T


def bias_precedence(W, b, mu, sigma):
    return W / sigma.T, b - W @ mu / sigma


def in_place(W, b, mu, sigma):
    W /= sigma.T  # right values, but the caller's W is changed
    return W, b - W @ mu


def swapped(W, b, mu, sigma):
    return _right_b(W, b, mu, sigma), W / sigma.T


def single(W, b, mu, sigma):
    return W / sigma.T


def returns_none(W, b, mu, sigma):
    return None


def tuple_of_nones(W, b, mu, sigma):
    return None, None


def three_outputs(W, b, mu, sigma):
    return W / sigma.T, _right_b(W, b, mu, sigma), None


def transposed(W, b, mu, sigma):
    return (W / sigma.T).T, _right_b(W, b, mu, sigma)


def flat_bias(W, b, mu, sigma):
    return W / sigma.T, _right_b(W, b, mu, sigma).ravel()


def raises(W, b, mu, sigma):
    raise NotImplementedError


def raises_other(W, b, mu, sigma):
    return W / sigma.T, b - np.dot(mu.T, W)  # (1, n_x) and (n_1, n_x) don't align


def strings(W, b, mu, sigma):
    return "W_raw", "b_raw"


def complex_output(W, b, mu, sigma):
    return W / sigma.T + 0j, _right_b(W, b, mu, sigma)


def nan_output(W, b, mu, sigma):
    return W / (sigma.T - sigma.T), _right_b(W, b, mu, sigma)  # inf, nan


def unnameable(W, b, mu, sigma):
    return 1.01 * W / sigma.T, _right_b(W, b, mu, sigma)


MISTAKES = [
    (times_sigma, "times_sigma", ["multiplies W by sigma"]),
    (divided_by_var, "divided_by_var", ["sigma²"]),
    (rows_divided, "rows_divided", ["rows"]),
    (weights_unchanged, "weights_unchanged", ["W unchanged"]),
    (bias_unchanged, "bias_unchanged", ["b unchanged"]),
    (bias_sign, "bias_sign", ["wrong sign"]),
    (bias_no_sigma, "bias_no_sigma", ["1 / sigma"]),
    (bias_divided_twice, "bias_divided_twice", ["twice"]),
    (bias_times_sigma, "bias_times_sigma", ["mu by sigma"]),
    (bias_not_summed, "bias_not_summed", ["not summed"]),
    (bias_precedence, "bias_precedence", ["(W @ mu) / sigma"]),
    (in_place, "in_place", ["in place", "W"]),
    (swapped, "swapped_outputs", ["swapped"]),
    (single, "single_output", ["one array"]),
    (returns_none, "returned_none", ["None"]),
    (tuple_of_nones, "returned_none", ["None"]),
    (three_outputs, "wrong_return_type", ["tuple of length 3"]),
    (transposed, "transposed", ["transpose"]),
    (flat_bias, "missing_keepdims", ["b_raw has shape"]),
    (raises, "not_implemented", ["NotImplementedError"]),
    (raises_other, "exception", ["raised ValueError"]),
    (strings, "wrong_type", ["numpy array"]),
    (complex_output, "wrong_type", ["complex"]),
    (nan_output, "nan", ["NaN"]),
    (unnameable, "unknown", ["can't name"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"), MISTAKES, ids=[m[0].__name__ for m in MISTAKES]
)
def test_mistakes_are_named(fn, tag, keywords):
    with np.errstate(all="ignore"):
        result = quiet(check_fold_normalization, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint  # every failure explains itself


def test_rows_divided_also_reports_where_it_raised():
    hint = quiet(check_fold_normalization, rows_divided).hint
    assert "sigma.T" in hint and "raised ValueError" in hint


def test_shape_errors_get_a_note_on_sigma_transposed():
    def no_transpose_no_rows(W, b, mu, sigma):
        return W @ sigma.T, b  # (n_1, n_x) @ (1, n_x): raises on every case

    result = quiet(check_fold_normalization, no_transpose_no_rows)
    assert_rejected(result, "exception", "raised ValueError")
    assert "sigma.T" in result.hint
    assert "statistic over the wrong axis" not in result.hint


def test_not_callable_and_strange_objects_never_raise():
    assert_rejected(quiet(check_fold_normalization, 42), "not_callable", "function")

    class Weird:
        def __len__(self):
            raise RuntimeError("no length")

    result = quiet(check_fold_normalization, lambda *a: Weird())
    assert not result.passed and result.mistake
    result = quiet(check_fold_normalization, lambda W, b: (W, b))  # wrong signature
    assert_rejected(result, "exception", "TypeError")


def test_checker_inputs_survive_an_in_place_learner():
    quiet(check_fold_normalization, in_place)
    assert quiet(check_fold_normalization, solutions.fold_normalization).passed
