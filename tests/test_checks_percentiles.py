"""check_percentiles_over_training (notebook 05): the reference solution
passes, the usual mistakes are named, and the checker never raises."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnutils import checks
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
        (lambda U: list(np.percentile(U, [15, 50, 85], axis=1)), "transposed"),
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
        (lambda U: U[:, :3] * 0 + 1, "wrong_values"),
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
    r = _check(lambda U: np.sort(U, axis=1)[:, [int(0.15 * 37), 18, int(0.85 * 37)]])
    assert r.passed  # nearest-rank style indexing of the sorted values


def test_checker_quotes_a_warning_of_the_learner():
    import warnings

    def noisy(U):
        warnings.warn("careful", UserWarning, stacklevel=1)
        return np.percentile(U, [85, 50, 15], axis=1).T

    r = _check(noisy)
    assert r.mistake == "reversed" and "careful" in r.hint
