"""Tests of bnutils.checks shared by every checker: rel_error, the gradient
checker, the verdict format, and that every checker accepts the reference
solutions and the package's layers and never raises, whatever the learner's
function does.

Each exercise's named mistakes (small wrong functions) are tested in
tests/test_checks_<exercise>.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_rejected, quiet

from bnutils import checks, layers, solutions
from bnutils.checks import (
    CheckResult,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_batchnorm_inference,
    check_normalize_inputs,
    check_update_running_stats,
    grad_check,
    numerical_gradient,
    rel_error,
)

CHECKERS = {
    "batchnorm_forward": check_batchnorm_forward,
    "batchnorm_backward": check_batchnorm_backward,
    "normalize_inputs": check_normalize_inputs,
    "update_running_stats": check_update_running_stats,
    "batchnorm_inference": check_batchnorm_inference,
}


# ---------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------


def test_rel_error_closed_forms():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    # max |a - b| = 0.2 at the second entry; max(|a| + |b|) = 4.2 there too.
    assert rel_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 4.2, rel=1e-15)
    # The denominator is the largest |a_i| + |b_i| over the whole array.
    assert rel_error([10.0, 0.0], [10.0, 1e-13]) == pytest.approx(1e-13 / 20, rel=1e-12)
    assert rel_error([3.0, -1.0], [-3.0, 1.0]) == 1.0  # opposite signs
    assert rel_error(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    assert rel_error(2.0, 2.0 * (1 + 1e-12)) == pytest.approx(0.5e-12, rel=1e-3)
    assert np.isnan(rel_error([1.0, np.nan], [1.0, 2.0]))
    assert np.isnan(rel_error([1.0, np.inf], [1.0, 2.0]))


def test_rel_error_refuses_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones((3, 1)), np.ones(3))


# ---------------------------------------------------------------------------
# numerical_gradient and grad_check
# ---------------------------------------------------------------------------


def test_numerical_gradient_of_sum_of_cubes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = numerical_gradient(lambda v: np.sum(v**3), x)
    assert rel_error(grad, 3 * x0**2) < 1e-9
    assert np.array_equal(x, x0)  # every nudged entry restored exactly


def test_numerical_gradient_with_upstream_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5))
    df = rng.standard_normal((2, 5))
    # f(x) = sin(x) elementwise: d/dx sum(sin(x) * df) = cos(x) * df.
    grad = numerical_gradient(np.sin, x, df=df)
    assert rel_error(grad, np.cos(x) * df) < 1e-9


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    x0 = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, x0)


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="df"):
        numerical_gradient(lambda v: v**2, np.ones(3))


def test_grad_check_accepts_right_and_rejects_wrong(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(6)
    good = grad_check(lambda v: np.sum(v**3), x, 3 * x**2, name="cubes")
    assert good.passed and good.rel_error < 1e-9
    assert good.max_abs_diff < 1e-8
    bad = grad_check(lambda v: np.sum(v**3), x, 2 * x**2, name="cubes")
    assert not bad.passed
    # Closed form of the error of 2x^2 against 3x^2: max x^2 / max 5x^2 = 1/5.
    assert bad.rel_error == pytest.approx(0.2, rel=1e-6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ cubes: passed")
    assert lines[1].startswith("✗ cubes:")
    assert not grad_check(np.sum, x, None, verbose=False).passed
    assert not grad_check(np.sum, x, np.ones(5), verbose=False).passed
    assert not grad_check(np.sum, x, "abc", verbose=False).passed


# ---------------------------------------------------------------------------
# Correct functions pass
# ---------------------------------------------------------------------------

CORRECT = [
    ("batchnorm_forward", solutions.batchnorm_forward),
    ("batchnorm_forward", layers.batchnorm_forward),
    ("batchnorm_backward", solutions.batchnorm_backward),
    ("batchnorm_backward", layers.batchnorm_backward),
    ("normalize_inputs", solutions.normalize_inputs),
    ("update_running_stats", solutions.update_running_stats),
    ("batchnorm_inference", solutions.batchnorm_inference),
    ("batchnorm_inference", layers.batchnorm_inference),
]


@pytest.mark.parametrize(("name", "fn"), CORRECT)
def test_correct_functions_pass(name, fn, capsys):
    result = CHECKERS[name](fn)
    assert result.passed, result.message
    assert bool(result)
    assert result.mistake is None
    tol = checks.NORMALIZE_TOL if name == "normalize_inputs" else 1e-12
    assert result.rel_error < tol
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.verdict
    assert out.startswith(f"✓ {name}: passed — max |diff| ")
    assert len(out.splitlines()) == 1
    assert name in repr(result) and "passed=True" in repr(result)


# ---------------------------------------------------------------------------
# Verdict format
# ---------------------------------------------------------------------------


def test_failing_verdict_is_one_line_then_explanation(capsys):
    def eps_outside(Z, gamma, beta, eps=1e-5):
        mu = Z.mean(axis=1, keepdims=True)
        var = Z.var(axis=1, keepdims=True)
        return gamma * (Z - mu) / (np.sqrt(var) + eps) + beta, None

    result = check_batchnorm_forward(eps_outside)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == result.verdict
    assert lines[0].startswith("✗ batchnorm_forward: ")
    assert len(lines) >= 2 and all(line.startswith("   ") for line in lines[1:])
    assert "np.sqrt(var + eps)" in result.hint
    assert "mistake='eps_outside_sqrt'" in repr(result)
    assert "\n" not in repr(result)


def test_verbose_false_prints_nothing(capsys):
    quiet(check_batchnorm_forward, solutions.batchnorm_forward)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# Checkers never raise
# ---------------------------------------------------------------------------


def _raises(*args, **kwargs):
    raise ValueError("something broke")


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


def _stub(*args, **kwargs):
    # YOUR CODE HERE
    return None


GARBAGE = {
    "raises": _raises,
    "not_implemented": _not_implemented,
    "stub": _stub,
    "string": lambda *a: "hello",
    "list": lambda *a: [1, 2, 3],
    "nested_list": lambda *a: [[1.0, 2.0], [3.0, 4.0]],
    "dict": lambda *a: {"a": 1},
    "object": lambda *a: object(),
    "tuple_of_strings": lambda *a: ("a", "b", "c")[: max(1, len(a) // 2)],
    "tuple_of_none": lambda *a: (None, None, None),
    "pair_of_none": lambda *a: (None, None),
    "strings_array": lambda *a: np.array(["x", "y"]),
    "complex": lambda *a: (np.ones((4, 7)) * 1j, np.ones((4, 1)) * 1j),
    "wrong_arity": lambda x: x,
    "int_zero_division": lambda *a: 1 // 0,
}


@pytest.mark.parametrize("name", list(CHECKERS))
@pytest.mark.parametrize("kind", list(GARBAGE))
def test_checkers_never_raise(name, kind, capsys):
    result = CHECKERS[name](GARBAGE[kind])
    assert isinstance(result, CheckResult)
    assert not result.passed
    # Diagnosed, not a fallback after the checker itself tripped over the output.
    assert result.mistake != "unanalysable", result.message
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ")
    assert out.splitlines()[0] == result.verdict


def test_extreme_values_are_diagnosed_without_warnings():
    def huge_forward(Z, gamma, beta, eps=1e-5):
        return np.full(Z.shape, 1e308), None

    def huge_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        return np.where(Z > 0, 1e308, -1e308)

    assert_rejected(quiet(check_batchnorm_forward, huge_forward), "unknown")
    assert_rejected(quiet(check_batchnorm_inference, huge_inference), "unknown")
    assert rel_error([1e308, -1e308], [-1e308, 1e308]) == 1.0


@pytest.mark.parametrize("name", list(CHECKERS))
def test_stub_and_not_implemented_messages(name):
    assert_rejected(quiet(CHECKERS[name], _stub), "returned_none", "returned None")
    assert "YOUR CODE HERE" in quiet(CHECKERS[name], _stub).message
    result = quiet(CHECKERS[name], _not_implemented)
    assert_rejected(result, "not_implemented", "NotImplementedError", "YOUR CODE HERE")
    result = quiet(CHECKERS[name], _raises)
    assert_rejected(result, "exception", "raised ValueError: something broke")


@pytest.mark.parametrize("name", list(CHECKERS))
def test_passing_the_result_instead_of_the_function(name):
    result = quiet(CHECKERS[name], np.ones((4, 7)))
    assert_rejected(result, "not_callable", "expected your function")
