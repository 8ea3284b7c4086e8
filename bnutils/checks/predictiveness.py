"""Exercise of notebook 05: :func:`check_gradient_change`, how much the gradient
changes along one gradient-descent step (Santurkar et al. 2018's gradient
predictiveness, made relative).

The learner writes ``gradient_change(grad_fn, w, lr) -> float``::

    || g(w - lr * g(w)) - g(w) || / || g(w) ||      g = grad_fn, Euclidean norms

for parameters ``w`` of any shape (the norms run over every entry).

The test cases: parameter arrays of 2, 7 and 15 entries (a vector, an odd
length, a 3 x 5 matrix), quadratic and non-quadratic losses (on a quadratic a
step uphill changes the gradient exactly as much as a step downhill; a
non-quadratic one tells them apart), three step sizes from 1e-6 to 0.3, one case
far from the origin (entries near 1e4) and one with gradients of order 1e5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Issue,
    Variant,
    call_learner,
    dedupe,
    diagnose,
    error_sizes,
    exception_issue,
    in_place_issue,
    kind_issue,
    passed_result,
    run_checker,
    unpack,
)

NAME = "gradient_change"
SIGNATURE = "gradient_change(grad_fn, w, lr) -> float"
STEPS = (
    "g0 = grad_fn(w); w1 = w - lr * g0; g1 = grad_fn(w1);\n"
    "return np.linalg.norm(g1 - g0) / np.linalg.norm(g0)."
)


class _Gradient:
    """A gradient function the checker hands to the learner: it counts its
    calls and always returns a new float64 array of the shape of its input."""

    def __init__(self, fn: Callable, shape: tuple, desc: str):
        self._fn = fn
        self.shape = shape
        self.desc = desc
        self.calls = 0

    def __call__(self, w):
        self.calls += 1
        w = np.asarray(w, dtype=np.float64)
        if w.shape != self.shape:
            raise ValueError(
                f"grad_fn expects parameters of shape {self.shape}; got {w.shape}. "
                "Step from w itself: w - lr * grad_fn(w) has the shape of w."
            )
        return np.asarray(self._fn(w), dtype=np.float64).reshape(self.shape)

    def __repr__(self) -> str:
        return f"<gradient of {self.desc}>"


def _spd(rng, n: int, low: float, high: float) -> np.ndarray:
    """A symmetric positive definite n x n matrix with eigenvalues in [low, high]."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q @ np.diag(np.linspace(low, high, n)) @ Q.T


def _cases() -> list[dict]:
    """Each case: ``grad`` (a function of a float64 array), ``w`` and ``lr``."""
    rng = np.random.default_rng(20180529)  # Santurkar et al., arXiv 1805.11604
    A2 = _spd(rng, 2, 1.0, 10.0)
    A15 = _spd(rng, 15, 0.5, 4.0)
    A4 = _spd(rng, 4, 1.0, 3.0)
    A3 = _spd(rng, 3, 1e5, 4e5)
    w_star15 = rng.standard_normal(15)
    w_star4 = 1e4 + rng.standard_normal(4)
    center7 = rng.standard_normal(7)
    scale7 = np.linspace(0.5, 3.0, 7)
    cases = [
        {
            "desc": "a quadratic loss of 2 parameters, lr=0.05",
            "grad": lambda w: A2 @ w,
            "w": np.array([1.0, -0.7]),
            "lr": 0.05,
        },
        {
            "desc": "a quadratic loss of a 3 x 5 weight matrix, lr=0.1",
            "grad": lambda w: (A15 @ (w.ravel() - w_star15)).reshape(3, 5),
            "w": rng.standard_normal((3, 5)),
            "lr": 0.1,
        },
        {
            "desc": "a non-quadratic loss (sum of log cosh) of 7 parameters, lr=0.3",
            "grad": lambda w: scale7 * np.tanh(scale7 * (w - center7)),
            "w": center7 + rng.standard_normal(7),
            "lr": 0.3,
        },
        {
            "desc": "a quadratic loss of 4 parameters near 1e4 (large offset), lr=0.1",
            "grad": lambda w: A4 @ (w - w_star4),
            "w": w_star4 + rng.standard_normal(4),
            "lr": 0.1,
        },
        {
            "desc": "a quadratic loss with gradients of order 1e5 (large scale), "
            "lr=1e-06",
            "grad": lambda w: A3 @ w,
            "w": rng.standard_normal(3),
            "lr": 1e-6,
        },
    ]
    return cases


def _norm(x) -> float:
    return float(np.sqrt(np.sum(np.square(x))))


def _ref(grad, w, lr) -> np.ndarray:
    g0 = grad(w)
    g1 = grad(w - lr * g0)
    return np.array(_norm(g1 - g0) / _norm(g0))


def _variants(grad, w, lr) -> dict[str, np.ndarray]:
    """What each named mistake returns on one case (0-d arrays)."""
    g0 = grad(w)
    g1 = grad(w - lr * g0)
    up = grad(w + lr * g0)
    whole = grad(w - g0)
    diff = g1 - g0
    out = {
        "not_relative": _norm(diff),
        "divided_by_new": _norm(diff) / _norm(g1),
        "divided_by_w": _norm(diff) / _norm(w),
        "uphill": _norm(up - g0) / _norm(g0),
        "difference_of_norms": (_norm(g1) - _norm(g0)) / _norm(g0),
        "abs_difference_of_norms": abs(_norm(g1) - _norm(g0)) / _norm(g0),
        "squared": _norm(diff) ** 2 / _norm(g0) ** 2,
        "no_lr": _norm(whole - g0) / _norm(g0),
        "mean_abs": float(np.mean(np.abs(diff)) / np.mean(np.abs(g0))),
        "cosine": 1.0 - float(np.sum(g0 * g1)) / (_norm(g0) * _norm(g1)),
        "weight_change": lr * _norm(g0) / _norm(w),
    }
    if w.ndim == 2:
        out["spectral_norm"] = float(np.linalg.norm(diff, 2) / np.linalg.norm(g0, 2))
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


MISTAKES = {
    "not_relative": (
        "you returned ||g(w1) - g(w)|| without dividing by ||g(w)||",
        "The measure is relative: divide by np.linalg.norm(g0), so that networks "
        "whose gradients differ in size can be compared on one scale.",
    ),
    "divided_by_new": (
        "you divided by the norm of the new gradient, ||g(w1)||, not of g(w)",
        "Divide by the gradient measured before the step, np.linalg.norm(g0): the "
        "question is how far the gradient we acted on was from the truth.",
    ),
    "divided_by_w": (
        "you divided by the size of the parameters, ||w||, not of the gradient",
        "Divide by np.linalg.norm(g0). (Relative to ||w|| the number would change "
        "if the minimum were moved away from the origin: see the case near 1e4.)",
    ),
    "uphill": (
        "you stepped uphill, w + lr * g(w)",
        "Gradient descent steps against the gradient: w1 = w - lr * g0.",
    ),
    "difference_of_norms": (
        "you compared the lengths of the two gradients, ||g1|| - ||g0||, instead of "
        "the length of their difference",
        "Two gradients of the same length can point in different directions. Take "
        "the norm of the difference: np.linalg.norm(g1 - g0).",
    ),
    "abs_difference_of_norms": (
        "you compared the lengths of the two gradients, | ||g1|| - ||g0|| |, instead "
        "of the length of their difference",
        "Two gradients of the same length can point in different directions. Take "
        "the norm of the difference: np.linalg.norm(g1 - g0).",
    ),
    "squared": (
        "you returned the squared ratio ||g1 - g0||^2 / ||g0||^2",
        "np.linalg.norm already takes the square root: norm(g1 - g0) / norm(g0).",
    ),
    "no_lr": (
        "your step ignores the learning rate: w - g(w)",
        "The step is w1 = w - lr * g0; with lr = 1e-6 the difference is huge.",
    ),
    "mean_abs": (
        "you averaged absolute values (an L1 measure) instead of Euclidean norms",
        "Use np.linalg.norm (square root of the sum of squares) for both the "
        "difference and g0.",
    ),
    "cosine": (
        "you returned 1 - cos(angle between g0 and g1): a change of direction only",
        "The measure is the length of the difference relative to ||g0||; it sees "
        "a change of length as well as of direction.",
    ),
    "weight_change": (
        "you measured how far the weights moved, ||w1 - w|| / ||w||, not how much "
        "the gradient changed",
        "Evaluate the gradient again at w1 = w - lr * g0 and compare it with g0.",
    ),
    "spectral_norm": (
        "for a matrix of parameters you used np.linalg.norm(..., 2), the largest "
        "singular value, not the Euclidean norm of all the entries",
        "Call np.linalg.norm(x) without ord (for a matrix that is the Frobenius "
        "norm, the square root of the sum of all squared entries), or flatten first.",
    ),
}


def check_gradient_change(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check ``gradient_change(grad_fn, w, lr) -> float``.

    Parameters
    ----------
    fn : the learner's function. ``grad_fn`` maps parameters of the shape of ``w``
        to the gradient (same shape); ``w`` is a float64 array (a vector or a
        matrix); ``lr`` a positive float. The answer is
        ``||g(w - lr g(w)) - g(w)|| / ||g(w)||`` with Euclidean norms over all
        entries, as a number (a Python or numpy float).
    verbose : print the verdict and, on failure, the explanation.

    Returns
    -------
    :class:`~bnutils.checks.CheckResult`. Named mistakes (``mistake`` tags): not
    divided by ||g(w)||, divided by ||g(w1)|| or by ||w||, a step uphill, the
    difference of the two lengths (signed or absolute) instead of the length of
    the difference, the squared ratio, the learning rate ignored, an L1 measure,
    1 - cosine, the weights' change instead of the gradient's, the spectral norm
    of a matrix, grad_fn called only once (or more than twice is fine), and, as
    for every checker, an exception, None, a wrong type or shape, NaN, or ``w``
    modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [c["desc"] for c in cases]
        refs = [_ref(c["grad"], c["w"], c["lr"]) for c in cases]
        outs, modified, calls = [], [], []
        for case, desc in zip(cases, descs, strict=True):
            grad_fn = _Gradient(case["grad"], case["w"].shape, desc)
            args = [("grad_fn", grad_fn), ("w", case["w"]), ("lr", case["lr"])]
            outcome = call_learner(fn, args)
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, SIGNATURE)])
            outs.append(unpack(outcome.value, ("change",), "a float")[0])
            modified += outcome.modified
            calls.append(grad_fn.calls)
        computed = [_variants(c["grad"], c["w"], c["lr"]) for c in cases]
        variants = []
        for tag in MISTAKES:
            arrays = [c.get(tag, r) for c, r in zip(computed, refs, strict=True)]
            variants.append(Variant(tag, *MISTAKES[tag], arrays=arrays))
        label = "the returned change"
        for got in outs:
            issue = kind_issue(label, got, "one real number (a float)")
            if issue is not None:
                if not issue.hint:
                    issue.hint = (
                        "Return one number: np.linalg.norm(...) / np.linalg.norm(...)."
                    )
                raise Fail([issue])
        issues = diagnose(label, outs, refs, variants, descs)
        vague = ("unknown", "nan", "right_for_some_inputs")
        if issues and issues[0].tag in vague and min(calls) < 2:
            issues = [
                Issue(
                    "one_gradient",
                    f"your function called grad_fn {min(calls)} time(s); it needs the "
                    "gradient at two points",
                    "Once at w (g0 = grad_fn(w)) and once where the step lands "
                    "(g1 = grad_fn(w - lr * g0)).",
                )
            ]
        if issues and issues[0].tag == "wrong_shape":
            got = outs[0]
            kind = (
                f"an array of shape {got.shape}"
                if isinstance(got, np.ndarray)
                else f"a {type(got).__name__}"
            )
            issues[0] = Issue(
                issues[0].tag,
                f"the returned change should be one real number (a float); got {kind}",
                "np.linalg.norm returns a number; divide one by the other and return "
                "it (float(...) turns a one-element array into a number).",
            )
        if modified:
            issues.insert(0, in_place_issue(modified))
        if not issues:
            return passed_result(NAME, outs, refs)
        if issues[0].tag in ("unknown", "right_for_some_inputs"):
            issues[0].hint += f"\nThe steps: {STEPS}"
        elif not issues[0].hint:
            issues[0].hint = "Return one number (a float), e.g. float(ratio)."
        raise Fail(dedupe(issues), *error_sizes(outs, refs))

    return run_checker(NAME, fn, body, verbose, ("grad_fn", "w", "lr"))
