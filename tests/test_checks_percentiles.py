"""check_percentiles_over_training (notebook 05): the reference solution
passes, the usual mistakes are named, and the checker never raises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checks_support import assert_cases_cover

from bnutils import checks
from bnutils.checks import percentiles
from bnutils.demos import covariate as demo


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300))


def _percentiles_by_hand(U, q=(15, 50, 85)):
    """Linear interpolation between order statistics, one row at a time."""
    out = np.empty((U.shape[0], len(q)))
    for k, row in enumerate(U):
        s = sorted(row)
        for j, pct in enumerate(q):
            h = (len(s) - 1) * pct / 100
            lo = math.floor(h)
            hi = min(lo + 1, len(s) - 1)
            out[k, j] = s[lo] + (h - lo) * (s[hi] - s[lo])
    return out


def test_the_demo_module_reexports_the_checker():
    """Notebook 05 calls it as demo.check_percentiles_over_training(...)."""
    assert (
        demo.check_percentiles_over_training is checks.check_percentiles_over_training
    )


# --------------------------------------------------------------------------
# Exercise checker
# --------------------------------------------------------------------------


def _check(fn):
    return demo.check_percentiles_over_training(fn, verbose=False)


def test_reference_solution_passes_and_matches_by_hand():
    U = np.random.default_rng(3).normal(size=(4, 11))
    assert _rel(demo.percentiles_over_training(U), _percentiles_by_hand(U)) < 1e-14
    r = _check(demo.percentiles_over_training)
    assert r.passed and r.mistake is None and r.rel_error < 1e-12


def test_checker_prints_one_verdict(capsys):
    demo.check_percentiles_over_training(demo.percentiles_over_training)
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line, nothing else
    assert "percentiles_over_training: passed" in out


def _sort_in_place(U):
    U.sort(axis=1)
    return np.percentile(U, [15, 50, 85], axis=1).T


def _raise(exc):
    def fn(U):
        raise exc

    return fn


@pytest.mark.parametrize(
    ("fn", "tag"),
    [
        (lambda U: None, "returned_none"),
        (_raise(NotImplementedError()), "not_implemented"),
        (lambda U: np.percentile(U, [15, 50, 85], axis=1), "transposed"),
        (lambda U: list(np.percentile(U, [15, 50, 85], axis=1)), "not_array"),
        (lambda U: np.percentile(U, [15, 50, 85], axis=0), "wrong_axis"),
        (lambda U: np.percentile(U, [15, 50, 85], axis=0).T, "wrong_axis"),
        (lambda U: np.percentile(U, [15, 50, 85]), "no_axis"),
        (lambda U: np.median(U, axis=1), "one_percentile"),
        (lambda U: np.percentile(U, [0.15, 0.5, 0.85], axis=1).T, "fractions"),
        (lambda U: np.quantile(U, [15, 50, 85], axis=1).T, "quantile_with_percents"),
        (lambda U: np.percentile(U, [85, 50, 15], axis=1).T, "reversed"),
        (
            lambda U: np.stack(
                [U.mean(1) - U.std(1), U.mean(1), U.mean(1) + U.std(1)], axis=1
            ),
            "mean_std",
        ),
        (lambda U: np.percentile(U, [15, 50, 80], axis=1).T, "wrong_column"),
        (lambda U: np.percentile(U, [15, 50, 85], axis=2).T, "bad_axis"),
        (_sort_in_place, "in_place"),
        (lambda U: np.full((6, 3), np.nan), "nonfinite"),
        (lambda U: "15, 50, 85", "not_array"),
        (lambda U: np.zeros((2, 2)), "wrong_shape"),
        (lambda U: np.ones((U.shape[0], 3)), "wrong_values"),
        (_raise(KeyError("x")), "exception"),
        ("not a function", "not_callable"),
    ],
)
def test_checker_names_the_mistake(fn, tag):
    r = _check(fn)
    assert not r.passed
    assert r.mistake == tag, (r.mistake, r.message)
    assert r.message and r.verdict.endswith(f"percentiles_over_training: {r.message}")
    assert r.hint  # says how to fix it


def test_checker_accepts_other_percentile_definitions_with_a_note():
    r = _check(lambda U: np.percentile(U, [15, 50, 85], axis=1, method="lower").T)
    assert r.passed and "'lower'" in r.message

    def nearest_rank(U):
        n = U.shape[1]
        ranks = np.ceil(np.array([0.15, 0.5, 0.85]) * n).astype(int)  # 1-based
        return np.sort(U, axis=1)[:, ranks - 1]

    r = _check(nearest_rank)
    assert r.passed and "'inverted_cdf'" in r.message  # the nearest-rank rule


def test_checker_quotes_a_warning_of_the_learner():
    import warnings

    def noisy(U):
        warnings.warn("careful", UserWarning, stacklevel=1)
        return np.percentile(U, [85, 50, 15], axis=1).T

    r = _check(noisy)
    assert r.mistake == "reversed" and "careful" in r.hint


# --------------------------------------------------------------------------
# Several cases; never raise; an index past the end
# --------------------------------------------------------------------------


def test_cases_vary_shape_offset_and_scale():
    cases = percentiles._exercise_cases()
    assert_cases_cover([U.shape for U in cases], arrays=cases)
    assert all(3 not in U.shape for U in cases)  # shapes can't be confused


class _BadArray:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no")


def _wrong_n(U):
    """n taken over the wrong axis of a flattened sort: an index past the end."""
    S = np.sort(U, axis=1)
    n = U.size
    return S[:, [int(0.15 * (n - 1)), int(0.5 * (n - 1)), int(0.85 * (n - 1))]]


def _hard_coded_37(U):
    return np.sort(U, axis=1)[:, [5, 18, 31]]


@pytest.mark.parametrize(
    ("fn", "tag", "words"),
    [
        (lambda U: 10**400, "not_array", "too large"),
        (lambda U: _BadArray(), "not_array", "_BadArray"),
        (lambda U: [[1.0, 2.0], [3.0]], "not_array", ""),
        (
            lambda U: np.percentile(U, [15, 50, 85], axis=1).T + 1e-9j,
            "not_array",
            "complex",
        ),
        (
            lambda U: np.percentile(U, [15, 50, 85], axis=1).T.astype(np.float32),
            "low_precision",
            "float32",
        ),
        (_wrong_n, "index_out_of_range", "IndexError"),
        (_hard_coded_37, "index_out_of_range", "IndexError"),
    ],
    ids=["huge_int", "bad_array", "ragged", "complex", "float32", "wrong_n", "n_37"],
)
def test_checker_never_raises_and_names_it(fn, tag, words):
    r = _check(fn)
    assert not r.passed and r.mistake == tag, r
    assert words in r.message


def test_an_index_error_does_not_get_the_axis_hint():
    r = _check(_wrong_n)
    assert "the examples are axis=1" not in r.hint
    assert "unit_inputs.shape[1]" in r.hint


def test_records_in_reverse_order_are_named():
    """Found by an adversarial pass (issue 9)."""
    r = _check(lambda U: np.percentile(U, [15, 50, 85], axis=1).T[::-1])
    assert r.mistake == "records_reversed", r


# ---------------------------------------------------------------------------
# Second adversarial pass: lists refused, the method note relative to spread
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda U: np.percentile(U, [15, 50, 85], axis=1).T.tolist(),
        lambda U: [list(row) for row in np.percentile(U, [15, 50, 85], axis=1).T],
        lambda U: tuple(np.percentile(U, [15, 50, 85], axis=1).T),
    ],
    ids=["tolist", "list_comprehension", "tuple_of_rows"],
)
def test_a_list_is_refused_and_said_so(fn):
    r = _check(fn)
    assert r.mistake == "not_array", r
    assert "expected a numpy array" in r.message
    assert "values would be right" in r.hint


@pytest.mark.parametrize("method", ["nearest", "lower", "inverted_cdf", "hazen"])
def test_method_note_is_relative_to_the_spread(method):
    r = _check(lambda U: np.percentile(U, [15, 50, 85], axis=1, method=method).T)
    assert r.passed and f"{method!r}" in r.message
    assert "max |diff|" not in r.message and "negligible" not in r.message
    assert "of a record's 15th-85th percentile range" in r.message
    share = float(r.message.split("differ by up to ")[1].split("%")[0]) / 100
    cases = percentiles._exercise_cases()
    worst = max(
        float(
            np.max(
                np.abs(
                    np.percentile(U, [15, 50, 85], axis=1, method=method).T
                    - np.percentile(U, [15, 50, 85], axis=1).T
                ).max(axis=1)
                / np.ptp(np.percentile(U, [15, 85], axis=1), axis=0)
            )
        )
        for U in cases
    )
    assert share == pytest.approx(worst, abs=0.006)
