"""check_normalize_inputs (notebooks 00-01): tolerance and the mistakes it names."""

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
    check_normalize_inputs,
    normalize,
)


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


def test_normalize_variants_are_distinct():
    """The pair (X_train_norm, X_test_norm) of every named mistake differs from
    the answer and from every other mistake's (one of the two outputs may
    agree: e.g. the test set's own statistics for X_test_norm)."""
    table: dict[str, list[np.ndarray]] = {}
    for X_train, X_test in normalize._normalize_cases():
        ref, variants = normalize._normalize_variants(X_train, X_test)
        table.setdefault("right", []).extend(ref)
        for key, pair in variants.items():
            table.setdefault(key, []).extend(pair)
    assert_all_distinct(table)


def test_checker_leaves_its_shared_inputs_alone():
    """Running a function that writes into its inputs must not corrupt the
    checker's own test inputs for the next call."""
    quiet(check_normalize_inputs, norm_in_place)
    assert quiet(check_normalize_inputs, solutions.normalize_inputs).passed


# ---------------------------------------------------------------------------
# Several cases
# ---------------------------------------------------------------------------


def test_normalize_cases_vary_shape_offset_and_scale():
    cases = normalize._normalize_cases()
    assert_cases_cover(
        [X_train.shape for X_train, _ in cases],
        arrays=[X_train for X_train, _ in cases],
    )
    # the tolerance allows a tiny eps only because every feature spreads
    assert all(np.all(X_train.std(axis=1) >= 0.5) for X_train, _ in cases)


def norm_first_40_examples(X_train, X_test):
    """Statistics of the notebook's first 40 examples: right for one shape."""
    mu = X_train[:, :40].mean(axis=1, keepdims=True)
    sd = X_train[:, :40].std(axis=1, keepdims=True)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_hard_coded_m(X_train, X_test):
    mu = X_train.sum(axis=1, keepdims=True) / 40
    sd = np.sqrt(((X_train - mu) ** 2).sum(axis=1, keepdims=True) / 40)
    return (X_train - mu) / sd, (X_test - mu) / sd


def test_normalize_rejects_answers_tuned_to_one_shape():
    result = quiet(check_normalize_inputs, norm_first_40_examples)
    assert_rejected(
        result, "right_for_some_inputs", "wrong for: X_train of shape (6, 57)"
    )
    result = quiet(check_normalize_inputs, norm_hard_coded_m)
    assert_rejected(result, "right_for_some_inputs", "right for some test inputs")
    assert "hard-codes a number" in result.hint


def norm_min_max(X_train, X_test):
    lo, hi = X_train.min(axis=1, keepdims=True), X_train.max(axis=1, keepdims=True)
    return (X_train - lo) / (hi - lo), (X_test - lo) / (hi - lo)


def norm_median(X_train, X_test):
    mu = np.median(X_train, axis=1, keepdims=True)
    sd = X_train.std(axis=1, keepdims=True)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_global_std(X_train, X_test):
    mu = X_train.mean(axis=1, keepdims=True)
    return (X_train - mu) / X_train.std(), (X_test - mu) / X_train.std()


def norm_no_axis(X_train, X_test):
    return (X_train - X_train.mean()) / X_train.std(), (
        X_test - X_train.mean()
    ) / X_train.std()


def norm_test_stats(X_train, X_test):
    mu, sd = X_test.mean(axis=1, keepdims=True), X_test.std(axis=1, keepdims=True)
    return (X_train - mu) / sd, (X_test - mu) / sd


# Found by an adversarial pass (issue 9): named since.
ADVERSARIAL = [
    (norm_min_max, "min_max", ["min-max"]),
    (norm_median, "median", ["median"]),
    (norm_global_std, "no_axis", ["no axis"]),
    (norm_no_axis, "no_axis", ["no axis"]),
    (norm_test_stats, "test_stats_for_both", ["TEST set"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"), ADVERSARIAL, ids=[f[0].__name__ for f in ADVERSARIAL]
)
def test_normalize_adversarial_mistakes(fn, tag, keywords):
    assert_rejected(quiet(check_normalize_inputs, fn), tag, *keywords)


# ---------------------------------------------------------------------------
# Second adversarial pass: the tolerance is float64's, a small eps is accepted
# explicitly
# ---------------------------------------------------------------------------


def _norm(X_train, X_test, *, eps=0.0, on="var", decimals=None):
    mu = X_train.mean(axis=1, keepdims=True)
    var = X_train.var(axis=1, keepdims=True)
    sd = np.sqrt(var + eps) if on == "var" else np.sqrt(var) + eps
    out = (X_train - mu) / sd, (X_test - mu) / sd
    return out if decimals is None else tuple(np.round(o, decimals) for o in out)


@pytest.mark.parametrize("decimals", [5, 6, 8])
def test_rounded_outputs_are_rejected(decimals):
    result = quiet(check_normalize_inputs, lambda a, b: _norm(a, b, decimals=decimals))
    assert_rejected(result, "close", "very close", "1e-10")
    assert "np.round" in result.hint


@pytest.mark.parametrize(
    ("eps", "on"),
    [(1e-8, "var"), (1e-8, "std"), (1e-9, "var"), (3e-9, "std"), (1e-12, "var")],
)
def test_a_small_eps_passes_and_is_named(eps, on):
    result = quiet(check_normalize_inputs, lambda a, b: _norm(a, b, eps=eps, on=on))
    assert result.passed, result
    if eps >= 1e-9:  # smaller ones are within float64's tolerance anyway
        assert "small eps" in result.message
        shown = float(result.message.split("eps = ")[1].split()[0])
        assert shown == pytest.approx(eps, rel=1e-2)


@pytest.mark.parametrize(("eps", "on"), [(3e-8, "var"), (1e-7, "std")])
def test_a_larger_eps_is_rejected(eps, on):
    result = quiet(check_normalize_inputs, lambda a, b: _norm(a, b, eps=eps, on=on))
    assert_rejected(result, "close", "very close")


def test_exact_answers_pass_without_an_eps_note():
    for fn in (lambda a, b: _norm(a, b), lambda a, b: _norm(a, b, on="std")):
        result = quiet(check_normalize_inputs, fn)
        assert result.passed and "eps" not in result.message, result
        assert result.rel_error < 1e-12


def test_eps_on_the_train_set_only_is_not_accepted():
    def fn(X_train, X_test):
        a, _ = _norm(X_train, X_test, eps=1e-8)
        _, b = _norm(X_train, X_test)
        b = b * (1 + 5e-9)
        return a, b

    assert not quiet(check_normalize_inputs, fn).passed
