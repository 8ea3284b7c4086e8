"""Helpers shared by the tests of bnutils.checks (tests/test_checks*.py)."""

from __future__ import annotations

import itertools

import numpy as np

from bnutils.checks import MATCH_TOL, TOL, CheckResult, rel_error


def quiet(checker, fn) -> CheckResult:
    return checker(fn, verbose=False)


def assert_rejected(result: CheckResult, tag: str, *keywords: str) -> None:
    """The result failed with the given mistake tag and message keywords."""
    assert isinstance(result, CheckResult)
    assert not result.passed, result
    assert result.mistake == tag, (result.mistake, result.message)
    for word in keywords:
        assert word.lower() in result.message.lower(), (word, result.message)


def assert_all_distinct(named_arrays: dict[str, list[np.ndarray]], margin=1e-5):
    """Every pair of variants differs in some test case by a rel_error far above
    both the pass tolerance and the mistake-matching tolerance."""
    assert margin > 10 * max(TOL, MATCH_TOL)
    for (a, xs), (b, ys) in itertools.combinations(named_arrays.items(), 2):
        errs = [
            rel_error(x, y) if x.shape == y.shape else 1.0
            for x, y in zip(xs, ys, strict=True)
        ]
        assert max(errs) > margin, (a, b, errs)


def assert_cases_cover(shapes, eps_values=(), arrays=()):
    """A checker's test inputs are varied enough that an answer tuned to one
    shape, one eps or well-scaled data fails: at least three shapes (n_l, m),
    one with n_l != m, one with an odd m and one with m = 2; at least two eps
    values (when eps is an argument); and among ``arrays`` one with a large
    offset (a row whose mean is 100 times its spread or more) and one at a large
    scale (a row whose spread is 100 or more)."""
    shapes = list(shapes)
    assert len(set(shapes)) >= 3, shapes
    assert any(n != m for n, m in shapes), shapes
    assert any(m % 2 == 1 for _, m in shapes), shapes
    assert any(m == 2 for _, m in shapes), shapes
    if eps_values:
        assert len(set(eps_values)) >= 2, eps_values
    if arrays:
        rows = [row for a in arrays for row in np.atleast_2d(a) if row.size > 1]
        assert any(abs(r.mean()) >= 100 * max(r.std(), 1e-300) for r in rows)
        assert any(r.std() >= 100 for r in rows)
