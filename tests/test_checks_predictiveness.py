"""check_gradient_change (notebook 05): right answers pass, each named mistake
is named, and nothing the learner writes makes the checker raise."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import checks, solutions
from bnutils.checks import check_gradient_change, predictiveness


def test_cases_cover_the_standard():
    cases = predictiveness._cases()
    shapes = [c["w"].shape for c in cases]
    assert len(cases) >= 3
    assert (2,) in shapes and any(len(s) == 2 and s[0] != s[1] for s in shapes)
    assert any(int(np.prod(s)) % 2 == 1 for s in shapes), "an odd size"
    assert len({c["lr"] for c in cases}) >= 2
    assert any(np.abs(c["w"]).min() > 1e3 for c in cases), "a large offset"
    assert any(np.abs(c["grad"](c["w"])).max() > 1e4 for c in cases), "a large scale"


@pytest.mark.parametrize("index", range(5))
def test_reference_against_closed_forms(index):
    """On a quadratic with gradient A (w - w*), g(w1) - g(w) = -lr A g(w): the
    reference must equal lr ||A g|| / ||g|| (the non-quadratic case is checked
    against a direct evaluation)."""
    case = predictiveness._cases()[index]
    grad, w, lr = case["grad"], case["w"], case["lr"]
    got = float(predictiveness._ref(grad, w, lr))
    g0 = grad(w)
    if "non-quadratic" in case["desc"]:
        want = np.linalg.norm(grad(w - lr * g0) - g0) / np.linalg.norm(g0)
    else:
        # recover A g0 by linearity: g(w + t) - g(w) = A t for a quadratic
        A_g0 = grad(w + g0) - g0
        want = lr * np.linalg.norm(A_g0) / np.linalg.norm(g0)
    assert got == pytest.approx(want, rel=1e-9)


def test_variants_differ_from_the_answer_and_from_each_other():
    cases = predictiveness._cases()
    table = {"right": []}
    for c in cases:
        ref = predictiveness._ref(c["grad"], c["w"], c["lr"])
        table["right"].append(ref)
        computed = predictiveness._variants(c["grad"], c["w"], c["lr"])
        for tag in predictiveness.MISTAKES:
            table.setdefault(tag, []).append(computed.get(tag, ref))
    assert len(predictiveness.MISTAKES) >= 6
    assert_all_distinct(table)


def flat_style(grad_fn, w, lr):
    """Another style: flattened vectors and np.dot."""
    g0 = grad_fn(w).ravel()
    g1 = grad_fn(w - lr * g0.reshape(w.shape)).ravel()
    d = g1 - g0
    return float(np.sqrt(d @ d / (g0 @ g0)))


def returns_numpy_scalar(grad_fn, w, lr):
    g0 = grad_fn(w)
    return np.linalg.norm(grad_fn(w - lr * g0) - g0) / np.linalg.norm(g0)


def three_calls(grad_fn, w, lr):
    w1 = w - lr * grad_fn(w)
    return np.linalg.norm(grad_fn(w1) - grad_fn(w)) / np.linalg.norm(grad_fn(w))


@pytest.mark.parametrize(
    "fn",
    [solutions.gradient_change, flat_style, returns_numpy_scalar, three_calls],
    ids=["solution", "flat", "numpy_scalar", "three_calls"],
)
def test_right_answers_pass(fn):
    result = quiet(check_gradient_change, fn)
    assert result.passed, result
    assert result.rel_error < 1e-12


def test_exported_and_prints_one_verdict(capsys):
    assert checks.check_gradient_change is check_gradient_change
    check_gradient_change(solutions.gradient_change)
    out = capsys.readouterr().out
    assert out.startswith("✓ gradient_change: passed") and out.count("\n") == 1


def _n(x):
    return np.linalg.norm(x)


def not_relative(g, w, lr):
    g0 = g(w)
    return _n(g(w - lr * g0) - g0)


def by_new(g, w, lr):
    g0 = g(w)
    g1 = g(w - lr * g0)
    return _n(g1 - g0) / _n(g1)


def by_w(g, w, lr):
    g0 = g(w)
    return _n(g(w - lr * g0) - g0) / _n(w)


def uphill(g, w, lr):
    g0 = g(w)
    return _n(g(w + lr * g0) - g0) / _n(g0)


def norms_diff(g, w, lr):
    g0 = g(w)
    return (_n(g(w - lr * g0)) - _n(g0)) / _n(g0)


def norms_absdiff(g, w, lr):
    g0 = g(w)
    return abs(_n(g(w - lr * g0)) - _n(g0)) / _n(g0)


def squared(g, w, lr):
    g0 = g(w)
    return np.sum((g(w - lr * g0) - g0) ** 2) / np.sum(g0**2)


def no_lr(g, w, lr):
    g0 = g(w)
    return _n(g(w - g0) - g0) / _n(g0)


def l1(g, w, lr):
    g0 = g(w)
    return np.mean(np.abs(g(w - lr * g0) - g0)) / np.mean(np.abs(g0))


def cosine(g, w, lr):
    g0 = g(w)
    g1 = g(w - lr * g0)
    return 1 - np.sum(g0 * g1) / (_n(g0) * _n(g1))


def weights(g, w, lr):
    w1 = w - lr * g(w)
    return _n(w1 - w) / _n(w)


def spectral(g, w, lr):
    g0 = g(w)
    d = g(w - lr * g0) - g0
    if w.ndim == 2:
        return np.linalg.norm(d, 2) / np.linalg.norm(g0, 2)
    return _n(d) / _n(g0)


def one_call(g, w, lr):
    return _n(g(w)) * lr


def in_place(g, w, lr):
    g0 = g(w)
    w -= lr * g0
    return _n(g(w) - g0) / _n(g0)


def returns_none(g, w, lr):
    return None


def returns_array(g, w, lr):
    g0 = g(w)
    return np.atleast_1d(_n(g(w - lr * g0) - g0) / _n(g0))


def returns_string(g, w, lr):
    return "0.5"


def returns_complex(g, w, lr):
    return complex(solutions.gradient_change(g, w, lr))


def returns_nan(g, w, lr):
    g(w)
    g(w)
    return float("nan")


def not_written(g, w, lr):
    raise NotImplementedError


def wrong_shape_step(g, w, lr):
    g0 = g(w)
    return _n(g(w.ravel() - lr * g0.ravel()) - g0) / _n(g0)


def unnameable(g, w, lr):
    return 1.01 * solutions.gradient_change(g, w, lr)


MISTAKES = [
    (not_relative, "not_relative", ["without dividing"]),
    (by_new, "divided_by_new", ["new gradient"]),
    (by_w, "divided_by_w", ["||w||"]),
    (uphill, "uphill", ["uphill"]),
    (norms_diff, "difference_of_norms", ["lengths"]),
    (norms_absdiff, "abs_difference_of_norms", ["lengths"]),
    (squared, "squared", ["squared"]),
    (no_lr, "no_lr", ["learning rate"]),
    (l1, "mean_abs", ["L1"]),
    (cosine, "cosine", ["cos"]),
    (weights, "weight_change", ["weights moved"]),
    (spectral, "spectral_norm", ["singular value"]),
    (one_call, "one_gradient", ["1 time"]),
    (in_place, "in_place", ["in place", "w"]),
    (returns_none, "returned_none", ["None"]),
    (returns_array, "wrong_shape", ["one real number", "shape (1,)"]),
    (returns_string, "wrong_type", ["string", "one real number"]),
    (returns_complex, "wrong_type", ["complex"]),
    (returns_nan, "nan", ["NaN"]),
    (not_written, "not_implemented", ["NotImplementedError"]),
    (wrong_shape_step, "exception", ["ValueError"]),
    (unnameable, "unknown", ["can't name"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"), MISTAKES, ids=[m[0].__name__ for m in MISTAKES]
)
def test_each_mistake_is_named(fn, tag, keywords):
    result = quiet(check_gradient_change, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint, "every failure explains itself"


def test_every_named_mistake_has_a_test():
    tested = {tag for _, tag, _ in MISTAKES}
    assert set(predictiveness.MISTAKES) <= tested


def test_grad_fn_refuses_a_step_of_the_wrong_shape_with_a_clear_message():
    hint = quiet(check_gradient_change, wrong_shape_step).message
    assert "expects parameters of shape" in hint


@pytest.mark.parametrize("fn", [42, None, "gradient_change"], ids=str)
def test_not_a_function(fn):
    assert_rejected(quiet(check_gradient_change, fn), "not_callable", "expected")


def test_checker_inputs_survive_an_in_place_learner():
    quiet(check_gradient_change, in_place)
    assert quiet(check_gradient_change, solutions.gradient_change).passed
