"""check_saturation_share (notebook 07): the reference solution passes, the
usual mistakes are named, and the checker never raises."""

from __future__ import annotations

import numpy as np
import pytest

from bnutils import checks
from bnutils.checks import saturation
from bnutils.demos import practice as demo


def test_the_demo_module_reexports_the_checker():
    """Notebook 07 calls it as demo.check_saturation_share(...)."""
    assert demo.check_saturation_share is checks.check_saturation_share


# --------------------------------------------------------------------------
# The exercise's checker
# --------------------------------------------------------------------------


def _variants():
    """Typical wrong answers, each with the tag the checker must give."""

    def no_abs(A, act):
        if act == "tanh":
            return float(np.mean(A > 0.97))
        return demo.saturation_share(A, act)

    def high_only(A, act):
        if act == "sigmoid":
            return float(np.mean(np.abs(A) > 0.97))
        return demo.saturation_share(A, act)

    def elementwise(A, act):
        if act == "relu":
            return float(np.mean(A <= 0))
        return demo.saturation_share(A, act)

    def wrong_axis(A, act):
        if act == "relu":
            return float(np.mean(np.all(A <= 0, axis=0)))
        return demo.saturation_share(A, act)

    def alive(A, act):
        if act == "relu":
            return float(np.mean(np.any(A > 0, axis=1)))
        return demo.saturation_share(A, act)

    def percent(A, act):
        return 100 * demo.saturation_share(A, act)

    def count(A, act):
        if act == "relu":
            return float(np.sum(np.all(A <= 0, axis=1)))
        return float(np.sum(np.abs(A) > 0.97) if act == "tanh" else 0)

    def unsaturated(A, act):
        return 1 - demo.saturation_share(A, act)

    def per_unit(A, act):
        return np.mean(np.abs(A) > 0.97, axis=1)

    def in_place(A, act):
        A[A < 0] = 0
        return demo.saturation_share(A, act)

    def raises(A, act):
        raise KeyError(act)

    def not_implemented(A, act):
        raise NotImplementedError

    def stub(A, act):
        return None

    def text(A, act):
        return "a lot"

    def nan(A, act):
        return float("nan")

    return [
        (no_abs, "no_abs"),
        (high_only, "sigmoid_high_only"),
        (elementwise, "relu_elementwise"),
        (wrong_axis, "relu_wrong_axis"),
        (alive, "relu_alive"),
        (percent, "percent"),
        (count, "count"),
        (unsaturated, "unsaturated_share"),
        (per_unit, "per_unit"),
        (in_place, "in_place"),
        (raises, "exception"),
        (not_implemented, "not_implemented"),
        (stub, "returned_none"),
        (text, "not_a_number"),
        (nan, "not_finite"),
    ]


def test_checker_passes_the_reference_solution(capsys):
    result = demo.check_saturation_share(demo.saturation_share)
    assert result.passed and bool(result)
    assert result.max_abs_diff == 0.0
    out = capsys.readouterr().out
    assert "passed" in out and out.count("\n") == 1


@pytest.mark.parametrize(("fn", "tag"), _variants(), ids=[t for _, t in _variants()])
def test_checker_names_each_mistake_and_never_raises(fn, tag):
    result = demo.check_saturation_share(fn, verbose=False)
    assert not result.passed
    assert result.mistake == tag, result
    assert result.message
    if tag not in ("returned_none", "not_implemented"):
        assert result.hint


def test_checker_reports_a_wrong_answer_with_the_expected_value():
    result = demo.check_saturation_share(lambda A, act: 0.123, verbose=False)
    assert result.mistake == "wrong_value"
    assert "expected" in result.message and "0.123" in result.message


def test_checker_refuses_a_non_function():
    result = demo.check_saturation_share(0.5, verbose=False)
    assert result.mistake == "not_callable" and not result.passed


def test_checker_cases_have_distinct_mistake_values():
    for case in saturation._saturation_cases():
        values = [case["want"]] + [v for _, v, _, _ in case["variants"]]
        assert len(set(np.round(values, 12))) == len(values), case["activation"]
