"""check_saturation_share (notebook 07): the reference solution passes, the
usual mistakes are named, and the checker never raises."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bnutils import checks, solutions
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
    """Over the cases of each activation, every named mistake gives different
    shares than the answer and than every other mistake."""
    cases = saturation._saturation_cases()
    for act in ("tanh", "sigmoid", "relu"):
        mine = [c for c in cases if c["activation"] == act]
        table = {"answer": [c["want"] for c in mine]}
        for c in mine:
            for tag, value, message, _ in saturation._variants(c):
                table.setdefault((tag, message), []).append(value)
        vectors = list(table.items())
        for i, (a, va) in enumerate(vectors):
            for b, vb in vectors[i + 1 :]:
                assert max(abs(x - y) for x, y in zip(va, vb, strict=True)) > 1e-3, (
                    act,
                    a,
                    b,
                )


def test_checker_cases_answers_are_the_constructed_ones():
    """The answers written by hand in the cases agree with the formula."""
    for case in saturation._saturation_cases():
        A, act = case["A"], case["activation"]
        assert solutions.saturation_share(A, act) == pytest.approx(
            case["want"], abs=1e-15
        )


# --------------------------------------------------------------------------
# Several cases; small but alive ReLU units; thresholds; strings
# --------------------------------------------------------------------------


def test_cases_vary_shape_and_include_small_but_alive_relu_units():
    cases = saturation._saturation_cases()
    shapes = [c["A"].shape for c in cases]
    assert any(m == 2 for _, m in shapes) and any(m % 2 for _, m in shapes)
    for act in ("tanh", "sigmoid", "relu"):
        assert sum(c["activation"] == act for c in cases) >= 2, act
    relu = [c["A"] for c in cases if c["activation"] == "relu"]
    unit_max = np.concatenate([A.max(axis=1) for A in relu])
    alive = unit_max[unit_max > 0]
    assert alive.min() <= 1e-3 and np.sum(alive < 0.2) >= 3  # small but alive
    assert alive.max() >= 1e2  # and a large scale


def _relu_rule(rule):
    def fn(A, act):
        if act == "relu":
            return float(rule(A))
        return demo.saturation_share(A, act)

    return fn


@pytest.mark.parametrize(
    "rule",
    [
        lambda A: np.mean(np.all(A <= 0.03, axis=1)),
        lambda A: np.mean(A.max(axis=1) < 0.2),
        lambda A: np.mean(np.all(A < 1e-2, axis=1)),
        lambda A: np.mean(A.sum(axis=1) < 1e-3),
    ],
    ids=["all_le_0.03", "max_lt_0.2", "all_lt_0.01", "sum_lt_1e-3"],
)
def test_small_positive_relu_outputs_are_alive(rule):
    result = demo.check_saturation_share(_relu_rule(rule), verbose=False)
    assert result.mistake == "relu_small_alive", result
    assert "exactly 0" in result.message


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (lambda A, act: float(np.mean(np.abs(A) > 0.95)), "tanh threshold"),
        (lambda A, act: float(np.mean(np.abs(A) >= 0.99)), "tanh threshold"),
    ],
)
def test_another_tanh_threshold_is_named(fn, words):
    result = demo.check_saturation_share(fn, verbose=False)
    assert result.mistake == "wrong_threshold" and words in result.message, result


def test_sigmoid_threshold_is_named():
    def fn(A, act):
        if act == "sigmoid":
            return float(np.mean((A < 0.05) | (A > 0.95)))
        return demo.saturation_share(A, act)

    result = demo.check_saturation_share(fn, verbose=False)
    assert result.mistake == "wrong_threshold" and "sigmoid" in result.message


@pytest.mark.parametrize(
    ("convert", "tag", "word"),
    [
        (str, "not_a_number", "string"),
        (lambda v: f"{v:.0%}", "not_a_number", "string"),
        (lambda v: complex(v, 1e-3), "not_a_number", "complex"),
        (np.float32, "low_precision", "float32"),
        (lambda v: np.ma.masked_array(v), "not_a_number", "masked"),
        (lambda v: v > 0.1, "not_a_number", "boolean"),
        (lambda v: 10**400, "not_a_number", "too large"),
    ],
    ids=["str", "percent_str", "complex", "float32", "masked", "bool", "huge"],
)
def test_results_of_the_wrong_kind_are_named(convert, tag, word):
    def fn(A, act):
        return convert(demo.saturation_share(A, act))

    result = demo.check_saturation_share(fn, verbose=False)
    assert result.mistake == tag and word in result.message, result


def test_margin_is_the_training_loops():
    from bnutils.train import SATURATION_MARGIN

    assert saturation._MARGIN == SATURATION_MARGIN


@pytest.mark.parametrize(
    ("rules", "tag"),
    [
        ({"relu": lambda A: np.mean(np.std(A, axis=1) == 0)}, "relu_constant"),
        ({"relu": lambda A: np.mean(np.any(A <= 0, axis=1))}, "relu_any"),
        ({"relu": lambda A: np.mean(A.min(axis=1) <= 0)}, "relu_any"),
        ({"relu": lambda A: np.mean(np.all(A < 0, axis=1))}, "relu_strict"),
        (
            {"relu": lambda A: np.sum(np.all(A <= 0, axis=1)) / A.size},
            "relu_over_entries",
        ),
        ({"sigmoid": lambda A: np.mean((A < 0.03) & (A > 0.97))}, "and_not_or"),
        ({"tanh": lambda A: np.mean(np.tanh(A) > 0.97)}, "activation_applied_again"),
        ({"tanh": lambda A: np.mean(A < -0.97)}, "no_abs"),
    ],
    ids=[
        "std_zero",
        "any",
        "min_le_0",
        "strict",
        "over_entries",
        "and",
        "tanh_again",
        "negative_tail",
    ],
)
def test_adversarial_mistakes_are_named(rules, tag):
    """Found by an adversarial pass (issue 9); the first (a unit whose output
    does not vary counted as dead) passed until a case had a constant, alive
    unit."""

    def fn(A, act):
        rule = rules.get(act)
        return demo.saturation_share(A, act) if rule is None else float(rule(A))

    result = demo.check_saturation_share(fn, verbose=False)
    assert result.mistake == tag and result.hint, result


def test_a_squared_threshold_is_not_mistaken_for_one_tail():
    """A**2 > 0.97 counts |a| > 0.985: wrong, and not 'only the positive tail'
    (the cases used to make the two counts coincide)."""

    def fn(A, act):
        if act == "tanh":
            return float(np.mean(A**2 > 0.97))
        return demo.saturation_share(A, act)

    result = demo.check_saturation_share(fn, verbose=False)
    assert not result.passed and result.mistake != "no_abs", result


# --------------------------------------------------------------------------
# Second adversarial pass: thresholds just beyond the edges, honest quotes,
# None for one activation
# --------------------------------------------------------------------------


def _rule_for(act_name, rule):
    def fn(A, act):
        if act == act_name:
            return float(rule(A))
        return demo.saturation_share(A, act)

    return fn


@pytest.mark.parametrize(
    ("act", "rule", "used"),
    [
        ("tanh", lambda A: np.mean(np.abs(A) > 0.9702), 0.9702),
        ("tanh", lambda A: np.mean(np.abs(A) >= 0.97004), 0.97004),
        ("tanh", lambda A: np.mean(np.abs(A) > 0.9698), 0.9698),
        ("sigmoid", lambda A: np.mean((A < 0.0298) | (A > 0.9702)), 0.0298),
        ("sigmoid", lambda A: np.mean((A < 0.0302) | (A > 0.9698)), 0.0302),
    ],
    ids=["tanh_0.9702", "tanh_0.97004", "tanh_0.9698", "sig_0.0298", "sig_0.0302"],
)
def test_thresholds_just_beyond_the_edges_are_named(act, rule, used):
    result = demo.check_saturation_share(_rule_for(act, rule), verbose=False)
    assert result.mistake == "wrong_threshold", result
    # The quoted range is what the shares can tell: it holds the threshold
    # actually used, and it is narrow.
    found = re.findall(r"between ([\d.e-]+) and ([\d.e-]+)", result.message)
    lo, hi = map(float, found[0])
    assert lo <= used <= hi and hi - lo < 6e-3, result.message


@pytest.mark.parametrize(
    ("rule", "used"),
    [
        (lambda A: np.mean(np.all(A < 1e-3, axis=1)), 1e-3),
        (lambda A: np.mean(np.all(A < 1e-2, axis=1)), 1e-2),
        (lambda A: np.mean(np.all(np.isclose(A, 0), axis=1)), 1e-8),
    ],
    ids=["lt_1e-3", "lt_1e-2", "isclose"],
)
def test_relu_tolerance_quotes_a_range_holding_the_one_used(rule, used):
    result = demo.check_saturation_share(_relu_rule(rule), verbose=False)
    assert result.mistake == "relu_small_alive", result
    lo, hi = map(
        float, re.findall(r"between ([\d.e-]+) and ([\d.e-]+)", result.message)[0]
    )
    assert lo < used <= hi, result.message


def test_whole_units_counted_is_not_called_a_threshold():
    fn = _rule_for("tanh", lambda A: np.mean(np.any(np.abs(A) > 0.97, axis=1)))
    result = demo.check_saturation_share(fn, verbose=False)
    assert not result.passed and result.mistake != "wrong_threshold", result


def test_none_for_one_activation_names_it():
    def fn(A, act):
        if act == "tanh":
            return float(np.mean(np.abs(A) > 0.97))
        if act == "relu":
            return float(np.mean(np.all(A <= 0, axis=1)))
        return None  # the sigmoid branch is missing

    result = demo.check_saturation_share(fn, verbose=False)
    assert result.mistake == "returned_none", result
    assert "activation='sigmoid'" in result.message
    assert "'tanh' and 'relu'" in result.message


def test_cases_hold_values_just_beyond_and_inside_each_edge():
    cases = saturation._saturation_cases()
    tanh = np.concatenate(
        [np.abs(c["A"]).ravel() for c in cases if c["activation"] == "tanh"]
    )
    sig = np.concatenate(
        [c["A"].ravel() for c in cases if c["activation"] == "sigmoid"]
    )
    assert np.any((tanh > 0.97) & (tanh < 0.97002))
    assert np.any((tanh < 0.97) & (tanh > 0.9699))
    assert np.any((sig > 0.97) & (sig < 0.97002)) and np.any(
        (sig < 0.03) & (sig > 0.0299)
    )
    assert np.any((sig < 0.97) & (sig > 0.9699)) and np.any(
        (sig > 0.03) & (sig < 0.0301)
    )
