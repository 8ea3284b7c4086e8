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
