"""check_batch_mean_std and check_batch_var_std (notebook 04): the reference
solutions pass, the usual mistakes are named, and the checkers never raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bnutils
from bnutils import checks
from bnutils.checks import CheckResult, batch_noise
from bnutils.demos import minibatch as mb


def _mean_std_ref(sigma, m):
    return sigma / math.sqrt(m)


def _var_std_ref(sigma, m):
    """sqrt(Var(var_B)), Var = 2 sigma^4 (m - 1) / m^2 (biased variance, Gaussian)."""
    return math.sqrt(2.0 * sigma**4 * (m - 1) / m**2)


def test_the_demo_module_reexports_the_checkers():
    """Notebook 04 calls them as mb.check_batch_mean_std(...)."""
    assert mb.check_batch_mean_std is checks.check_batch_mean_std
    assert mb.check_batch_var_std is checks.check_batch_var_std
    assert mb.CHECK_CASES is batch_noise.CHECK_CASES


# --------------------------------------------------------------------------
# The exercise checkers
# --------------------------------------------------------------------------


def _silent(check, fn):
    return check(fn, verbose=False)


def test_checkers_accept_the_reference_solutions_and_print_a_verdict(capsys):
    r1 = mb.check_batch_mean_std(mb.batch_mean_std)
    r2 = mb.check_batch_var_std(mb.batch_var_std)
    assert isinstance(r1, CheckResult) and r1.passed and r2.passed
    out = capsys.readouterr().out
    assert "batch_mean_std: passed" in out and "batch_var_std: passed" in out


def test_checkers_accept_a_plain_numpy_answer():
    assert _silent(mb.check_batch_mean_std, lambda s, m: s / np.sqrt(m))
    assert _silent(
        mb.check_batch_var_std, lambda s, m: np.sqrt(2 * s**4 * (m - 1) / m**2)
    )


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (lambda s, m: s / m, "m_instead_of_sqrt_m", "sqrt(m)"),
        (lambda s, m: s**2 / m, "variance_not_std", "square root"),
        (lambda s, m: s / np.sqrt(m - 1), "m_minus_1", "m - 1"),
        (lambda s, m: s**2 / np.sqrt(m), "sigma_squared", "sigma²"),
        (lambda s, m: 1 / np.sqrt(m), "forgot_sigma", "sigma"),
        (lambda s, m: s * np.sqrt(m), "times_sqrt_m", "sum"),
    ],
)
def test_mean_checker_names_the_mistake(fn, tag, words):
    r = _silent(mb.check_batch_mean_std, fn)
    assert not r.passed and r.mistake == tag and words in r.message


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (lambda s, m: s**2 * np.sqrt(2 / (m - 1)), "unbiased_formula", "UNBIASED"),
        (lambda s, m: 2 * s**4 * (m - 1) / m**2, "variance_not_std", "square root"),
        (lambda s, m: 2 * s**4 / (m - 1), "unbiased_variance_not_std", "VARIANCE"),
        (
            lambda s, m: s**2 * np.sqrt(2 * (m - 1)) / m**2,
            "m_squared_not_rooted",
            "divided by m²",
        ),
        (lambda s, m: s**2 * np.sqrt(2 / m), "m_instead_of_m_minus_1", "m - 1"),
        (lambda s, m: s * np.sqrt(2 * (m - 1)) / m, "sigma_not_squared", "sigma²"),
        (lambda s, m: np.sqrt(2 * (m - 1)), "forgot_scale", "sigma²/m"),
        (lambda s, m: s**2 * np.sqrt(2 * (m - 1)), "forgot_m_scale", "divide by m"),
        (lambda s, m: s**2 * np.sqrt(m - 1) / m, "forgot_two", "2k"),
        (lambda s, m: s / np.sqrt(m), "mean_formula", "MEAN"),
    ],
)
def test_var_checker_names_the_mistake(fn, tag, words):
    r = _silent(mb.check_batch_var_std, fn)
    assert not r.passed and r.mistake == tag and words in r.message


def test_every_named_mistake_differs_from_the_answer_and_the_others():
    for check_name, mistakes, ref in (
        ("mean", batch_noise._MEAN_MISTAKES, _mean_std_ref),
        ("var", batch_noise._VAR_MISTAKES, _var_std_ref),
    ):
        outs = {"answer": np.array([ref(s, m) for s, m in batch_noise.CHECK_CASES])}
        for tag, (formula, _, _) in mistakes.items():
            outs[tag] = np.array(
                [float(formula(s, m)) for s, m in batch_noise.CHECK_CASES]
            )
        names = list(outs)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                err = bnutils.checks.rel_error(outs[a], outs[b])
                assert err > 1e-3, (check_name, a, b)


def _raises(s, m):
    raise KeyError("oops")


def _not_implemented(s, m):
    raise NotImplementedError


class _Weird:
    def __float__(self):
        raise RuntimeError("no")

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array either")


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (lambda s, m: None, "returned_none", "YOUR CODE HERE"),
        (_raises, "exception", "KeyError"),
        (_not_implemented, "not_implemented", "YOUR CODE HERE"),
        (lambda s, m: "0.5", "wrong_type", "one number"),
        (lambda s, m: np.ones(3), "wrong_type", "one number"),
        (lambda s, m: float("nan"), "not_finite", "NaN"),
        (lambda s, m: s / math.sqrt(m), "not_vectorized", "np.sqrt"),
        (lambda s, m: s / np.sqrt(m) * 1.001, "wrong_value", "expected"),
        (lambda s, m: _Weird(), "wrong_type", "one number"),
        (42, "not_callable", "function itself"),
    ],
)
def test_checker_never_raises_and_diagnoses(fn, tag, words):
    r = _silent(mb.check_batch_mean_std, fn)
    assert not r.passed and r.mistake == tag and words in str(r), str(r)


def test_checker_flags_answers_that_break_on_arrays():
    def scalar_only(s, m):
        return s / np.sqrt(m) if np.ndim(m) == 0 else np.zeros(2)

    r = _silent(mb.check_batch_mean_std, scalar_only)
    assert r.mistake == "not_vectorized" and "array of m" in r.message


def test_checker_is_quiet_about_warnings_of_the_learners_code():
    import warnings

    def noisy(s, m):
        warnings.warn("learner warning", UserWarning, stacklevel=1)
        return s / np.sqrt(m)

    assert _silent(mb.check_batch_mean_std, noisy).passed


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("batch_mean_std", mb.check_batch_mean_std),
        ("batch_var_std", mb.check_batch_var_std),
    ],
)
def test_solutions_module_passes_the_checkers(name, check):
    import bnutils.solutions as solutions

    assert check(getattr(solutions, name), verbose=False).passed


# --------------------------------------------------------------------------
# Several cases; numbers of the wrong kind
# --------------------------------------------------------------------------


def test_cases_include_m_2_odd_m_and_large_and_small_sigma():
    sigmas = [s for s, _ in batch_noise.CHECK_CASES]
    ms = [m for _, m in batch_noise.CHECK_CASES]
    assert 2 in ms and any(m % 2 for m in ms) and len(set(ms)) >= 3
    assert max(sigmas) >= 1e3 and min(sigmas) <= 1e-2


def _solution_as(convert):
    return lambda s, m: convert(s / np.sqrt(m))


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (_solution_as(lambda v: v + 1e-3j), "wrong_type", "complex"),
        (_solution_as(np.float32), "low_precision", "float32"),
        (_solution_as(lambda v: np.ma.masked_array(v)), "wrong_type", "masked"),
        (_solution_as(str), "wrong_type", "string"),
        (lambda s, m: 10**400, "wrong_type", "too large"),
        (lambda s, m: s / np.sqrt(m) if m != 7 else 0.0, "wrong_value", "m = 7"),
        (lambda s, m: s / np.sqrt(m) if s < 100 else s / m, "wrong_value", "4000"),
    ],
)
def test_numbers_of_the_wrong_kind_and_tuned_answers(fn, tag, words):
    r = _silent(mb.check_batch_mean_std, fn)
    assert not r.passed and r.mistake == tag and words in r.message, r


def test_each_case_is_compared_on_its_own_scale():
    """The answers span 1e-4 to 1e7: a relative error over all cases at once
    would let an answer wrong only for a small sigma pass."""

    def wrong_for_small_sigma(sigma, m):
        right = batch_noise_solution(sigma, m)
        return right if sigma > 1e-2 or np.ndim(m) else 0.0

    r = _silent(mb.check_batch_var_std, wrong_for_small_sigma)
    assert r.mistake == "wrong_value" and "sigma = 0.002" in r.message, r


def test_a_near_miss_is_printed_with_enough_digits():
    r = _silent(mb.check_batch_mean_std, lambda s, m: s / np.sqrt(m) * (1 + 1e-7))
    assert r.mistake == "wrong_value"
    got, expected = r.message.split("you return ")[1].split(", expected ")
    assert got != expected.split(" (")[0]  # not "2.12132, expected 2.12132"


def batch_noise_solution(sigma, m):
    return sigma**2 * np.sqrt(2 * (m - 1)) / m


# ---------------------------------------------------------------------------
# Second adversarial pass: vectorised but wrong is not 'not vectorised'
# ---------------------------------------------------------------------------


def _tuned(s, m):
    """Wrong for 100 <= m < 200 only (between the scalar cases), vectorised."""
    m = np.asarray(m, dtype=np.float64)
    return np.where((m < 100) | (m >= 200), s / np.sqrt(m), s / m**0.6)


def _table(s, m):
    """Exact on the scalar m values, a rounded table elsewhere (vectorised)."""
    m = np.asarray(m)
    exact = s / np.sqrt(m)
    return np.where(np.isin(m, [2, 3, 5, 7, 10, 64, 256]), exact, np.round(exact, 2))


def _first_only(s, m):
    """Right for each m alone; with an array, every entry uses m[0]."""
    m = np.asarray(m)
    return s / np.sqrt(m.flat[0]) * np.ones(m.shape)


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (_tuned, "wrong_value", "m = 128"),
        (_table, "wrong_value", "m = 32"),
        (_first_only, "not_vectorized", "right for each m alone"),
    ],
    ids=["tuned", "table", "first_only"],
)
def test_vectorised_but_wrong_is_named_for_what_it_is(fn, tag, words):
    r = _silent(mb.check_batch_mean_std, fn)
    assert not r.passed and r.mistake == tag and words in r.message, str(r)
    if tag == "wrong_value":
        assert "numpy operations only" not in r.hint
        assert "got shape" not in r.message


def test_a_list_for_an_array_of_m_says_what_it_got():
    def as_list(s, m):
        if np.ndim(m) == 0:
            return s / math.sqrt(m)
        return [s / math.sqrt(v) for v in m]

    r = _silent(mb.check_batch_mean_std, as_list)
    assert r.mistake == "not_vectorized" and "a list of length 5" in r.message, str(r)


def test_sorting_or_deduplicating_m_is_caught():
    def unique(s, m):
        return (
            s / np.sqrt(np.unique(m).astype(float)) if np.ndim(m) else s / math.sqrt(m)
        )

    r = _silent(mb.check_batch_mean_std, unique)
    assert r.mistake == "not_vectorized" and "shape (4,)" in r.message, str(r)


def test_float32_for_an_array_of_m_is_named_as_such():
    def f32(s, m):
        out = s / np.sqrt(np.asarray(m, dtype=np.float64))
        return out.astype(np.float32) if np.ndim(m) else float(out)

    r = _silent(mb.check_batch_mean_std, f32)
    assert r.mistake == "low_precision" and "float32" in r.message, str(r)
