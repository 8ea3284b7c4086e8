"""Exercise checkers and the one gradient checker of the series.

Every notebook checks its exercise with a function from this module, so a
learner meets the same verdicts everywhere:

* :func:`rel_error` is the project's only relative error.
* :func:`numerical_gradient` and :func:`grad_check` compare an analytic gradient
  with centred finite differences.
* ``check_*`` functions take the learner's function, run it on copies of a few
  test inputs chosen so that the common mistakes give *different* outputs, and
  print a one-line verdict::

      ✅ batchnorm_forward: passed — max |diff| 4.4e-16, rel. error 2.2e-16
      ❌ batchnorm_forward: eps outside the square root: ...

  followed, on failure, by a short explanation of the likely mistake and its
  fix. They return a :class:`CheckResult`. A checker never raises because of
  the learner's code: exceptions (``NotImplementedError`` included), ``None``,
  wrong types, wrong shapes, NaN and in-place modification of the inputs all
  become a failing result with a diagnosis.

How a mistake is named: for each common mistake the checker computes what that
mistake would produce on the same inputs (the "mistake variants" below) and
names the variant that the learner's output matches (relative error below
``MATCH_TOL``). When nothing matches it says so and prints the size of the
difference.

Array layout as everywhere in the series: (units, examples) = ``(n_l, m)``,
statistics over ``axis=1``, per-unit parameters of shape ``(n_l, 1)``. The
correct answers are computed by short independent references written in this
module, not by :mod:`bnutils.layers`.
"""

from __future__ import annotations

import itertools
import math
import os
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bnutils.layers import BNCache

__all__ = [
    "MATCH_TOL",
    "NORMALIZE_TOL",
    "TOL",
    "CheckResult",
    "check_batchnorm_backward",
    "check_batchnorm_forward",
    "check_batchnorm_inference",
    "check_normalize_inputs",
    "check_update_running_stats",
    "grad_check",
    "numerical_gradient",
    "rel_error",
]

#: rel_error below which an exercise answer counts as right (float64 round-off
#: of a correct answer is about 1e-16 to 1e-14).
TOL = 1e-8
#: rel_error below which an output is taken to *be* a named mistake.
MATCH_TOL = 1e-7
#: Tolerance of :func:`check_normalize_inputs`: accepts a small eps (up to
#: about 1e-8) added to the standard deviation or to the variance.
NORMALIZE_TOL = 1e-6

_TINY = np.finfo(np.float64).tiny
_PASS_ICON = "✓"
_FAIL_ICON = "✗"
_YOUR_CODE = "fill in the code marked YOUR CODE HERE"


# ---------------------------------------------------------------------------
# Relative error and finite differences
# ---------------------------------------------------------------------------


def rel_error(a, b) -> float:
    """Relative error between two arrays of the same shape.

    The formula, with the maximum over all entries ``i``::

        rel_error(a, b) = max_i |a_i - b_i| / max( max_i (|a_i| + |b_i|), tiny )

    where ``tiny`` is the smallest positive float64 (so two all-zero arrays give
    0, not 0/0). The result lies in [0, 1]: about 1e-16 means equal up to
    float64 round-off, 1 means unrelated (e.g. opposite signs). Unlike CS231n's
    entry-by-entry version, the denominator is the size of the whole array, so a
    single entry that should be 0 and comes out as 1e-13 does not blow it up.

    Parameters
    ----------
    a, b : array-likes of the same shape (any shape, scalars included).

    Returns
    -------
    float; ``nan`` if either array contains NaN or inf.

    Raises
    ------
    ValueError if the shapes differ (broadcasting would hide a bug).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"rel_error needs two arrays of the same shape; got {a.shape} and "
            f"{b.shape}. Reshape one of them (e.g. with .reshape({b.shape})) if "
            "they hold the same values."
        )
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    with np.errstate(over="ignore", invalid="ignore"):  # e.g. 1e308 - (-1e308)
        num = float(np.max(np.abs(a - b)))
        den = max(float(np.max(np.abs(a) + np.abs(b))), _TINY)
    if math.isinf(num) or math.isinf(den):
        # Overflow near the float64 limit: rescale both and try again.
        scale = float(max(np.max(np.abs(a)), np.max(np.abs(b))))
        return rel_error(a / scale, b / scale)
    return num / den


def _objective(f: Callable, x: np.ndarray, df) -> float:
    out = f(x)
    if df is None:
        out = np.asarray(out, dtype=np.float64)
        if out.size != 1:
            raise ValueError(
                f"f returned an array of shape {out.shape}, not a scalar. Pass "
                "df (the upstream gradient, same shape as f(x)) to check the "
                "scalar sum(f(x) * df) instead."
            )
        return float(out.reshape(()))
    out = np.asarray(out, dtype=np.float64)
    if out.shape != np.shape(df):
        raise ValueError(
            f"f(x) has shape {out.shape} but df has shape {np.shape(df)}; df must "
            "have the shape of f's output."
        )
    return float(np.sum(out * df))


def numerical_gradient(f: Callable, x: np.ndarray, df=None, h: float = 1e-5):
    """Gradient of a scalar function by centred differences.

    ``grad[i] = (F(x + h e_i) - F(x - h e_i)) / (2 h)`` for every entry ``i`` of
    ``x``, where ``F(x) = f(x)`` if ``f`` returns a scalar and
    ``F(x) = sum(f(x) * df)`` if ``df`` is given (then ``grad`` is the
    backpropagated gradient ``dL/dx`` for an upstream gradient ``df = dL/df``).
    The error is O(h^2) plus round-off; with float64 and ``h = 1e-5`` a smooth
    function gives about 1e-10 relative error.

    Parameters
    ----------
    f : function of ``x`` returning a scalar, or an array of ``df``'s shape.
    x : float array of any shape. Each entry is nudged in place while ``f`` is
        evaluated and restored afterwards (also if ``f`` raises), so ``x`` ends
        unchanged; ``f`` must read ``x`` when called, not keep a copy.
    df : optional upstream gradient, shape of ``f(x)``.
    h : step size.

    Returns
    -------
    grad : array of the shape of ``x``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            "x must be a floating-point numpy array (it is nudged in place); got "
            f"{_describe(x)}. Convert it with np.asarray(x, dtype=np.float64)."
        )
    if not x.flags.writeable:
        raise ValueError("x must be writeable: pass a copy, e.g. x.copy().")
    if not h > 0:
        raise ValueError(f"h must be a small positive step (e.g. 1e-5); got {h}.")
    if df is not None:
        df = np.asarray(df, dtype=np.float64)
    grad = np.zeros_like(x, dtype=np.float64)
    # One pair of evaluations per entry of x: a loop is the method itself.
    for idx in np.ndindex(x.shape):
        old = x[idx].copy()
        try:
            x[idx] = old + h
            f_plus = _objective(f, x, df)
            x[idx] = old - h
            f_minus = _objective(f, x, df)
        finally:
            x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
    return grad


def grad_check(
    f: Callable,
    x: np.ndarray,
    analytic_grad,
    df=None,
    h: float = 1e-5,
    tol: float = 1e-7,
    name: str = "gradient",
    verbose: bool = True,
) -> CheckResult:
    """Compare an analytic gradient with :func:`numerical_gradient`.

    Parameters
    ----------
    f, x, df, h : as in :func:`numerical_gradient` (``x`` ends unchanged).
    analytic_grad : the gradient to check, shape of ``x``.
    tol : passes when ``rel_error(analytic_grad, numerical) < tol``. A correct
        gradient of a smooth function typically gives 1e-10 or less in float64,
        a wrong one 1e-3 or more.
    name : label printed in the verdict.
    verbose : print the one-line verdict.

    Returns
    -------
    :class:`CheckResult` with ``max_abs_diff`` and ``rel_error``. Errors raised
    by ``f`` itself propagate (``f`` is your test harness, not the exercise).
    """
    numeric = numerical_gradient(f, x, df=df, h=h)
    if analytic_grad is None:
        result = CheckResult(
            name,
            False,
            "the analytic gradient is None",
            hint=f"Pass an array of shape {x.shape}.",
            mistake="returned_none",
        )
    else:
        try:
            analytic = _as_real(np.asarray(analytic_grad))
        except (TypeError, ValueError):
            analytic = None
        if analytic is None or analytic.shape != x.shape:
            got = _describe(analytic_grad)
            result = CheckResult(
                name,
                False,
                f"the analytic gradient is {got}; expected shape {x.shape}",
                hint="A gradient has the shape of the variable it differentiates.",
                mistake="wrong_shape",
            )
        else:
            diff = float(np.max(np.abs(analytic - numeric))) if x.size else 0.0
            err = rel_error(analytic, numeric)
            passed = err < tol
            if passed:
                message = _passed_message(diff, err)
                hint = ""
            else:
                message = (
                    f"analytic and numerical gradients differ — max |diff| "
                    f"{diff:.1e}, rel. error {err:.1e} (tolerance {tol:.0e})"
                )
                hint = (
                    "Look for a missing term or factor in the analytic formula; "
                    "compare the two arrays entry by entry to see where they differ."
                )
            result = CheckResult(
                name,
                passed,
                message,
                max_abs_diff=diff,
                rel_error=err,
                hint=hint,
                mistake=None if passed else "gradient_mismatch",
            )
    if verbose:
        print(result)
    return result


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(repr=False)
class CheckResult:
    """The outcome of a check.

    Attributes
    ----------
    name : what was checked, e.g. ``"batchnorm_forward"``.
    passed : True when the answer is right.
    message : one-line diagnosis (``"passed — max |diff| ..."`` when passed).
    max_abs_diff : largest absolute difference from the expected output
        (``nan`` when it can't be computed, e.g. wrong shape or an exception).
    rel_error : :func:`rel_error` from the expected output (or ``nan``).
    hint : a few lines on the likely mistake and its fix ("" when passed).
    mistake : short tag of the diagnosed mistake (e.g. ``"eps_outside_sqrt"``),
        ``None`` when passed.

    ``str(result)`` is what the checker prints; ``bool(result)`` is ``passed``.
    """

    name: str
    passed: bool
    message: str
    max_abs_diff: float = math.nan
    rel_error: float = math.nan
    hint: str = ""
    mistake: str | None = None

    @property
    def verdict(self) -> str:
        """The one-line verdict: icon, name and message."""
        icon = _PASS_ICON if self.passed else _FAIL_ICON
        return f"{icon} {self.name}: {self.message}"

    def __str__(self) -> str:
        if not self.hint:
            return self.verdict
        body = "\n".join("   " + line for line in self.hint.splitlines())
        return f"{self.verdict}\n{body}"

    def __repr__(self) -> str:
        tag = "" if self.passed else f", mistake={self.mistake!r}"
        return (
            f"CheckResult({self.name!r}, passed={self.passed}{tag}, "
            f"max_abs_diff={self.max_abs_diff:.1e}, rel_error={self.rel_error:.1e})"
        )

    def _ipython_display_(self) -> None:
        """Show nothing when a checker call ends a notebook cell: the checker has
        already printed its verdict, and it should not appear twice."""

    def __bool__(self) -> bool:
        return bool(self.passed)


def _passed_message(diff: float, err: float, extra: str = "") -> str:
    return f"passed — max |diff| {diff:.1e}, rel. error {err:.1e}{extra}"


def _passed(name: str, outs: Sequence, refs: Sequence[np.ndarray], extra: str = ""):
    """The passing result of a checker, with the differences from the answer."""
    gots = [_as_real(g) for g in outs]
    diff, err = _max_diff(gots, refs), _max_rel(gots, refs)
    return CheckResult(name, True, _passed_message(diff, err, extra), diff, err)


@dataclass
class _Issue:
    """One diagnosed problem: a tag, a one-line message and a hint."""

    tag: str
    message: str
    hint: str = ""


class _Fail(Exception):
    """Raised inside a checker body to stop with a failing verdict."""

    def __init__(self, issues: Sequence[_Issue], diff=math.nan, err=math.nan):
        super().__init__(issues[0].message)
        self.issues = list(issues)
        self.diff = diff
        self.err = err


def _fail_result(name: str, fail: _Fail) -> CheckResult:
    first, others = fail.issues[0], fail.issues[1:]
    hint = first.hint
    if others:
        also = "\n".join(f"Also: {issue.message}." for issue in others)
        hint = f"{hint}\n{also}" if hint else also
    return CheckResult(
        name,
        False,
        first.message,
        max_abs_diff=fail.diff,
        rel_error=fail.err,
        hint=hint,
        mistake=first.tag,
    )


# Warnings raised by the learner's function during the current check (reset by
# _checker, filled by _run); quoted in the hint of a failing verdict.
_LEARNER_WARNINGS: list[str] = []


def _checker(name: str, fn, body: Callable[[], CheckResult], verbose: bool):
    """Run a checker body; turn anything that goes wrong into a failing result."""
    _LEARNER_WARNINGS.clear()
    if not callable(fn):
        result = CheckResult(
            name,
            False,
            f"expected your function, got {_describe(fn)}",
            hint=(
                "Pass the function itself, without calling it: "
                f"check_{name}({name}), not check_{name}({name}(...))."
            ),
            mistake="not_callable",
        )
    else:
        try:
            result = body()
        except _Fail as fail:
            result = _fail_result(name, fail)
        except Exception as exc:  # output too strange to analyse: say so, don't raise
            result = CheckResult(
                name,
                False,
                "I could not analyse your function's output "
                f"({type(exc).__name__}: {_short(str(exc))})",
                hint="Check that it returns numpy arrays of the documented shapes.",
                mistake="unanalysable",
            )
    if not result.passed and _LEARNER_WARNINGS:
        note = f"Your function also triggered a warning: {_LEARNER_WARNINGS[0]}"
        result.hint = f"{result.hint}\n{note}" if result.hint else note
    _LEARNER_WARNINGS.clear()
    if verbose:
        print(result)
    return result


# ---------------------------------------------------------------------------
# Running the learner's function safely
# ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    value: object = None
    error: Exception | None = None
    warnings: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, BNCache):
        return BNCache(*(_copy(v) for v in value))
    return value


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, BNCache):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _run(fn: Callable, named_args: Sequence[tuple[str, object]]) -> _Outcome:
    """Call ``fn`` on copies of the arguments; record errors, warnings and
    which arguments it modified in place."""
    copies = [_copy(value) for _, value in named_args]
    outcome = _Outcome()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome.value = fn(*copies)
        except Exception as exc:
            outcome.error = exc
    outcome.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    _LEARNER_WARNINGS.extend(outcome.warnings)
    outcome.modified = [
        arg_name
        for (arg_name, original), passed in zip(named_args, copies, strict=True)
        if not _same(original, passed)
    ]
    return outcome


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} (dtype {x.dtype})"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of length {len(x)}"
    kind = type(x).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind}"


def _as_real(x) -> np.ndarray | None:
    """``x`` as a float64 array if it is a real numeric array or number, else None."""
    if isinstance(x, (np.generic, int, float)) and not isinstance(x, bool):
        x = np.asarray(x)
    if (
        not isinstance(x, np.ndarray)
        or not np.issubdtype(x.dtype, np.number)
        or np.iscomplexobj(x)
    ):
        return None
    return x.astype(np.float64)


def _failing_line(exc: Exception) -> str | None:
    """The last line of the traceback that is not inside numpy or this module."""
    here = os.path.abspath(__file__)
    numpy_dir = os.path.dirname(os.path.abspath(np.__file__))
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename)
        if path == here or path.startswith(numpy_dir):
            continue
        if frame.line:
            return frame.line.strip()
    return None


def _exception_issue(exc: Exception, where: str, signature: str) -> _Issue:
    kind = type(exc).__name__
    text = _short(str(exc))
    if isinstance(exc, NotImplementedError):
        return _Issue(
            "not_implemented",
            f"raised NotImplementedError — {_YOUR_CODE}",
            f"Write the body of {signature}.",
        )
    lines = []
    line = _failing_line(exc)
    if line:
        lines.append(f"It failed at: {line}")
    lines.append(f"Test input: {where}.")
    if "broadcast" in text:
        lines.append(
            "Shapes that don't broadcast usually mean a statistic over the wrong "
            "axis or without keepdims=True: a statistic per unit (or per feature) "
            "is taken over the examples, .mean(axis=1, keepdims=True), and has "
            "shape (n, 1)."
        )
    elif isinstance(exc, TypeError) and "argument" in text:
        lines.append(f"Check the signature: {signature}.")
    lines.append("Run it on such an input yourself to see the whole traceback.")
    return _Issue("exception", f"raised {kind}: {text}", "\n".join(lines))


def _unpack(value, names: Sequence[str], what: str) -> tuple:
    """Split the learner's return value into its parts (or fail)."""
    together = ", ".join(names)
    if value is None:
        raise _Fail(
            [
                _Issue(
                    "returned_none",
                    f"your function returned None — {_YOUR_CODE}",
                    f"It should return {what}.",
                )
            ]
        )
    if len(names) == 1:
        return (value,)
    if isinstance(value, (tuple, list)) and len(value) == len(names):
        if all(v is None for v in value):
            raise _Fail(
                [
                    _Issue(
                        "returned_none",
                        f"your function returned ({together}) all None — {_YOUR_CODE}",
                        f"It should return {what}.",
                    )
                ]
            )
        return tuple(value)
    raise _Fail(
        [
            _Issue(
                "wrong_return_type",
                f"your function returned {_describe(value)}; expected the tuple "
                f"({together})",
                f"End it with `return {together}`.",
            )
        ]
    )


# ---------------------------------------------------------------------------
# Comparing outputs with the expected answer and with known mistakes
# ---------------------------------------------------------------------------


@dataclass
class _Variant:
    """What one known mistake produces: one array per test case."""

    tag: str
    message: str
    hint: str
    arrays: list[np.ndarray]


def _max_rel(gots: Sequence[np.ndarray], wants: Sequence[np.ndarray]) -> float:
    """Largest rel_error over test cases (inf if any shape differs)."""
    worst = 0.0
    for got, want in zip(gots, wants, strict=True):
        if got.shape != want.shape:
            return math.inf
        err = rel_error(got, want)
        if math.isnan(err):
            return math.inf
        worst = max(worst, err)
    return worst


def _max_diff(gots: Sequence[np.ndarray], wants: Sequence[np.ndarray]) -> float:
    with np.errstate(over="ignore"):
        return _max_diff_unguarded(gots, wants)


def _max_diff_unguarded(gots, wants) -> float:
    diffs = [
        float(np.max(np.abs(g - w))) if g.size else 0.0
        for g, w in zip(gots, wants, strict=True)
        if g.shape == w.shape
    ]
    return max(diffs) if len(diffs) == len(gots) else math.nan


def _shape_issue(label: str, shape: tuple, want: tuple) -> _Issue:
    if len(want) == 2 and shape == want[::-1]:
        return _Issue(
            "transposed",
            f"{label} has shape {shape}, the transpose of the expected {want}",
            "Keep the course's layout (n_l, m) = (units, examples); compute "
            "statistics over axis=1 and don't transpose.",
        )
    if len(want) == 2 and want[1] > 1 and shape == (want[0], 1):
        return _Issue(
            "wrong_shape",
            f"{label} has shape {shape}: one value per unit instead of one per "
            f"unit and example {want}",
            "Return the normalized batch itself, not a per-unit statistic.",
        )
    if len(want) == 2 and want[1] == 1 and shape == (want[0],):
        return _Issue(
            "missing_keepdims",
            f"{label} has shape {shape}; expected {want}",
            "Use keepdims=True in the sum or mean (or .reshape(-1, 1)) so that "
            "per-unit arrays keep the shape (n, 1).",
        )
    return _Issue(
        "wrong_shape",
        f"{label} has shape {shape}; expected {want}",
        "Print the shapes of your intermediate arrays; per-unit statistics have "
        "shape (n, 1), everything else the shape (n, m) of the input.",
    )


def _diagnose(
    label: str,
    gots: Sequence,
    wants: Sequence[np.ndarray],
    variants: Sequence[_Variant],
    cases: Sequence[str],
    tol: float = TOL,
) -> list[_Issue]:
    """Issues of one output (over all test cases); [] when it is right."""
    for got in gots:
        if got is None:
            return [_Issue("returned_none", f"{label} is None — {_YOUR_CODE}")]
    # A plain number (e.g. np.sum(...) without axis) counts as a 0-d array.
    gots = [
        np.asarray(g)
        if isinstance(g, (np.generic, int, float)) and not isinstance(g, bool)
        else g
        for g in gots
    ]
    low_precision = any(
        isinstance(g, np.ndarray) and g.dtype.itemsize < 8 for g in gots
    )
    for got, want in zip(gots, wants, strict=True):
        if not isinstance(got, np.ndarray):
            return [
                _Issue(
                    "wrong_type",
                    f"{label} should be a numpy array of shape {want.shape}; got "
                    f"{_describe(got)}",
                    "Build it with numpy operations (or convert it with np.asarray).",
                )
            ]
        if not np.issubdtype(got.dtype, np.number) or np.iscomplexobj(got):
            return [
                _Issue(
                    "wrong_type",
                    f"{label} has dtype {got.dtype}; expected real (float) numbers",
                )
            ]
    gots = [_as_real(g) for g in gots]
    if _max_rel(gots, wants) < tol:
        return []
    # A known mistake (variants may have other shapes than the answer).
    best, best_err = None, math.inf
    for variant in variants:
        err = _max_rel(gots, variant.arrays)
        if err < best_err:
            best, best_err = variant, err
    if best is not None and best_err < MATCH_TOL:
        return [_Issue(best.tag, best.message, best.hint)]
    for got, want in zip(gots, wants, strict=True):
        if got.shape != want.shape:
            return [_shape_issue(label, got.shape, want.shape)]
    for got, case in zip(gots, cases, strict=True):
        if not np.all(np.isfinite(got)):
            return [
                _Issue(
                    "nan",
                    f"{label} contains NaN or inf (test input: {case})",
                    "Look for a division by zero or the square root of a negative "
                    "number: eps belongs inside the square root, sqrt(var + eps).",
                )
            ]
    err = _max_rel(gots, wants)
    diff = _max_diff(gots, wants)
    worst = max(range(len(gots)), key=lambda k: rel_error(gots[k], wants[k]))
    note = ""
    if low_precision:
        note = " Note: compute in float64 (your arrays are a lower precision)."
    return [
        _Issue(
            "unknown",
            f"{label} differs from the expected in a way I can't name; max |diff| "
            f"{diff:.1e}, rel. error {err:.1e}",
            f"The largest difference is for the test input {cases[worst]}. Go "
            "through the formula one step at a time and print each intermediate "
            f"array with its shape.{note}",
        )
    ]


def _dedupe(issues: Sequence[_Issue]) -> list[_Issue]:
    """Keep the first issue of each tag (e.g. the same mistake in two outputs)."""
    first: dict[str, _Issue] = {}
    for issue in issues:
        first.setdefault(issue.tag, issue)
    return list(first.values())


def _in_place_issue(modified: Sequence[str]) -> _Issue:
    names = list(dict.fromkeys(modified))
    if len(names) == 1:
        what = f"input {names[0]}"
    else:
        what = "inputs " + ", ".join(names[:-1]) + f" and {names[-1]}"
    return _Issue(
        "in_place",
        f"your function modified its {what} in place",
        "Operations like `x -= ...`, `x /= ...` or `x[...] = ...` change the "
        "caller's array. Build new arrays instead (`x_centered = x - mu`), so "
        "the caller's data stay as they were.",
    )


def _permutation_issue(
    outs, refs, names: Sequence[str], tol: float = TOL
) -> _Issue | None:
    """Detect outputs returned in the wrong order (right values, wrong places)."""
    n_parts = len(names)
    if n_parts < 2:
        return None
    for perm in itertools.permutations(range(n_parts)):
        if perm == tuple(range(n_parts)):
            continue
        ok = True
        for j in range(n_parts):
            gots = [_as_real(case_out[perm[j]]) for case_out in outs]
            if any(g is None for g in gots):
                ok = False
                break
            wants = [case_ref[j] for case_ref in refs]
            if not _max_rel(gots, wants) < tol:
                ok = False
                break
        if ok:
            order = ", ".join(names)
            moved = [names[j] for j in range(n_parts) if perm[j] != j]
            if len(moved) == 2:
                message = f"{moved[0]} and {moved[1]} swapped"
            else:
                message = "the outputs are in the wrong order"
            return _Issue(
                "swapped_outputs",
                f"{message} (the values are right, the order is not)",
                f"Return them in this order: ({order}).",
            )
    return None


# ---------------------------------------------------------------------------
# Shared test inputs and independent references
# ---------------------------------------------------------------------------


def _column(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def _bn_train_ref(Z, gamma, beta, eps):
    """Batch Norm in training mode, written out (independent reference)."""
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return gamma * Z_norm + beta


def _forward_cases():
    """Test inputs in which the common forward mistakes give different outputs.

    Non-square Z (4 units x 7 examples) with unit-dependent means and spreads,
    gamma and beta with distinct values, and a case with eps = 0.5 and small
    variances, where eps inside or outside the square root matters a lot.
    """
    rng = np.random.default_rng(20150211)
    gamma = _column([1.5, 0.7, 2.0, 0.3])
    beta = _column([-0.4, 0.9, 0.2, -1.3])
    Z1 = _column([2.0, -1.0, 0.5, 3.0]) + _column([0.5, 2.0, 1.0, 3.0]) * (
        rng.standard_normal((4, 7))
    )
    Z2 = _column([1.0, -0.5, 0.0, 0.8]) + _column([0.2, 0.35, 0.15, 0.3]) * (
        rng.standard_normal((4, 7))
    )
    return [
        {"Z": Z1, "gamma": gamma, "beta": beta, "eps": 1e-5},
        {"Z": Z2, "gamma": gamma[::-1].copy(), "beta": beta[::-1].copy(), "eps": 0.5},
    ]


# ---------------------------------------------------------------------------
# check_batchnorm_forward
# ---------------------------------------------------------------------------

_FORWARD_SIGNATURE = "batchnorm_forward(Z, gamma, beta, eps=1e-5) -> (Z_tilde, cache)"
_FORWARD_STEPS = (
    "mu = Z.mean(axis=1, keepdims=True); var = ((Z - mu)**2).mean(axis=1, "
    "keepdims=True);\nZ_norm = (Z - mu) / np.sqrt(var + eps); "
    "Z_tilde = gamma * Z_norm + beta."
)


def _forward_variants(Z, gamma, beta, eps) -> dict[str, np.ndarray]:
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    Zc = Z - mu
    m = Z.shape[1]
    mu0 = Z.mean(axis=0, keepdims=True)
    var0 = ((Z - mu0) ** 2).mean(axis=0, keepdims=True)
    with np.errstate(all="ignore"):
        Z_norm = Zc / np.sqrt(var + eps)
        return {
            "wrong_axis": gamma * (Z - mu0) / np.sqrt(var0 + eps) + beta,
            "unbiased_var": gamma * Zc / np.sqrt(var * m / (m - 1) + eps) + beta,
            "eps_outside_sqrt": gamma * Zc / (np.sqrt(var) + eps) + beta,
            "eps_ignored": gamma * Zc / np.sqrt(var) + beta,
            "eps_hardcoded": gamma * Zc / np.sqrt(var + 1e-5) + beta,
            "gamma_beta_swapped": beta * Z_norm + gamma,
            "gamma_ignored": Z_norm + beta,
            "beta_ignored": gamma * Z_norm,
            "no_gamma_beta": Z_norm,
            "divided_by_var": gamma * Zc / (var + eps) + beta,
            "no_centering": gamma * Z / np.sqrt(var + eps) + beta,
        }


_FORWARD_MISTAKES = {
    "wrong_axis": (
        "statistics over the wrong axis (axis=0)",
        "Z has shape (n_l, m) = (units, examples). Each unit is normalized over its "
        "m examples, i.e. along axis=1: Z.mean(axis=1, keepdims=True).",
    ),
    "unbiased_var": (
        "you used the unbiased variance (ddof=1)",
        "Batch Norm normalizes with the biased batch variance, the plain average "
        "mean((Z - mu)**2) over the m examples (np.var's default ddof=0). The "
        "unbiased m/(m-1) version only feeds the running average.",
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root",
        "Write (Z - mu) / np.sqrt(var + eps), not (Z - mu) / (np.sqrt(var) + eps).",
    ),
    "eps_ignored": (
        "you forgot eps",
        "Add eps to the variance inside the square root, np.sqrt(var + eps): it "
        "keeps the division finite when a unit's variance is 0.",
    ),
    "eps_hardcoded": (
        "you used a fixed eps instead of the eps argument",
        "Use the function's eps parameter (the test passed eps=0.5), not a "
        "hard-coded 1e-5.",
    ),
    "gamma_beta_swapped": (
        "gamma and beta are swapped",
        "gamma scales (multiplies) and beta shifts (adds): Z_tilde = gamma * "
        "Z_norm + beta.",
    ),
    "gamma_ignored": (
        "you forgot to scale by gamma",
        "The last step is Z_tilde = gamma * Z_norm + beta.",
    ),
    "beta_ignored": (
        "you forgot to shift by beta",
        "The last step is Z_tilde = gamma * Z_norm + beta.",
    ),
    "no_gamma_beta": (
        "you returned Z_norm without gamma and beta",
        "Z_norm has mean 0 and variance 1 per unit; the learnable gamma and beta "
        "then set the mean and spread: Z_tilde = gamma * Z_norm + beta.",
    ),
    "divided_by_var": (
        "you divided by the variance instead of the standard deviation",
        "Divide by np.sqrt(var + eps), the standard deviation, so each unit ends "
        "with variance 1.",
    ),
    "no_centering": (
        "you forgot to subtract the mean",
        "Center first: Z - mu, then divide by np.sqrt(var + eps).",
    ),
}


def check_batchnorm_forward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check a Batch Norm forward pass (training mode).

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, eps=1e-5) -> (Z_tilde, cache)`` with
        Z of shape (n_l, m), gamma and beta of shape (n_l, 1) and Z_tilde of
        shape (n_l, m). The cache is not inspected (any object will do), but the
        function must return the pair; returning Z_tilde alone fails with a note.
        eps is passed positionally.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes (``mistake`` tags): exception,
    returned None, a single array instead of the pair, wrong shape (transposed,
    one value per unit), NaN/inf, statistics over axis 0, unbiased variance, eps
    outside the square root, eps forgotten, hard-coded eps, gamma and beta
    swapped, gamma or beta or both missing, variance instead of standard
    deviation, no centering, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _forward_cases()
        descs = [f"Z of shape {c['Z'].shape}, eps={c['eps']}" for c in cases]
        refs = [_bn_train_ref(**case) for case in cases]
        outs, modified, single = [], [], False
        for case, desc in zip(cases, descs, strict=True):
            args = [(k, case[k]) for k in ("Z", "gamma", "beta", "eps")]
            outcome = _run(fn, args)
            if outcome.error is not None:
                raise _Fail([_exception_issue(outcome.error, desc, _FORWARD_SIGNATURE)])
            value = outcome.value
            if isinstance(value, np.ndarray):
                single = True
                outs.append(value)
            else:
                outs.append(
                    _unpack(value, ("Z_tilde", "cache"), "the pair (Z_tilde, cache)")[0]
                )
            modified += outcome.modified
        variants = [
            _Variant(tag, *_FORWARD_MISTAKES[tag], arrays=[])
            for tag in _FORWARD_MISTAKES
        ]
        for case in cases:
            computed = _forward_variants(**case)
            for variant in variants:
                variant.arrays.append(computed[variant.tag])
        issues = _diagnose("Z_tilde", outs, refs, variants, descs)
        if single:
            verdict = (
                "its values are right"
                if not issues
                else f"and it has a problem too: {issues[0].message}"
            )
            issues = [
                _Issue(
                    "single_output",
                    "your function returned one array; return the pair "
                    "(Z_tilde, cache)",
                    f"The returned array is Z_tilde ({verdict}). End with `return "
                    "Z_tilde, cache`, where cache holds what the backward pass "
                    "needs (e.g. Z_norm, inv_std, gamma).",
                )
            ] + ([_in_place_issue(modified)] if modified else [])
        elif modified:
            issues.insert(0, _in_place_issue(modified))
        if not issues:
            return _passed("batchnorm_forward", outs, refs)
        if issues[0].tag == "unknown":
            issues[0].hint += f"\nThe steps: {_FORWARD_STEPS}"
        raise _Fail(_dedupe(issues), *_errors(outs, refs))

    return _checker("batchnorm_forward", fn, body, verbose)


def _errors(outs, refs) -> tuple[float, float]:
    """(max |diff|, rel_error) of outputs against references, nan if unusable."""
    gots = [_as_real(g) for g in outs]
    if any(g is None or g.shape != w.shape for g, w in zip(gots, refs, strict=True)):
        return math.nan, math.nan
    err = _max_rel(gots, refs)
    return _max_diff(gots, refs), (err if math.isfinite(err) else math.nan)


# ---------------------------------------------------------------------------
# check_batchnorm_backward
# ---------------------------------------------------------------------------

_BACKWARD_SIGNATURE = "batchnorm_backward(dZ_tilde, cache) -> (dZ, dgamma, dbeta)"


def _backward_ref(dZt, Z, gamma, eps):
    """Closed-form gradients of sum(dZt * BN(Z)), written out independently."""
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Z_norm = (Z - mu) * inv_std
    dbeta = dZt.sum(axis=1, keepdims=True)
    dgamma = (dZt * Z_norm).sum(axis=1, keepdims=True)
    dZn = dZt * gamma
    dZ = inv_std * (
        dZn
        - dZn.mean(axis=1, keepdims=True)
        - Z_norm * (dZn * Z_norm).mean(axis=1, keepdims=True)
    )
    return dZ, dgamma, dbeta


def _backward_case():
    rng = np.random.default_rng(19)
    Z = _column([1.0, -2.0, 0.3, 4.0]) + _column([0.8, 1.7, 0.4, 2.5]) * (
        rng.standard_normal((4, 7))
    )
    gamma = _column([1.6, 0.6, 2.2, 0.35])
    beta = _column([0.3, -0.8, 1.1, -0.2])
    dZt = rng.standard_normal((4, 7))
    return Z, gamma, beta, dZt, 1e-5


def _backward_variants(dZt, Z, gamma, eps):
    m = Z.shape[1]
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Zn = (Z - mu) * inv_std
    dZn = dZt * gamma

    def full(d, axis=1, reduce=np.mean):
        """The right formula applied to d, with a choice of axis and reduction."""
        centre = reduce(d, axis=axis, keepdims=True)
        return inv_std * (d - centre - Zn * reduce(d * Zn, axis=axis, keepdims=True))

    dZ = {
        "mu_var_constant": dZn * inv_std,
        "no_var_path": inv_std * (dZn - dZn.mean(axis=1, keepdims=True)),
        "no_mean_path": inv_std * (dZn - Zn * (dZn * Zn).mean(axis=1, keepdims=True)),
        "forgot_gamma": full(dZt),
        "wrong_axis": full(dZn, axis=0),
        "forgot_1_over_m": m * full(dZn),
        "sums_not_means": full(dZn, reduce=np.sum),
    }
    g_terms = dZt * Zn
    dgamma = {
        "no_sum": g_terms,
        "wrong_axis": g_terms.sum(axis=0),
        "wrong_axis_2d": g_terms.sum(axis=0, keepdims=True),
        "sum_all": np.sum(g_terms).reshape(()),
        "used_Z": (dZt * Z).sum(axis=1, keepdims=True),
        "times_gamma": (g_terms * gamma).sum(axis=1, keepdims=True),
        "mean_not_sum": g_terms.mean(axis=1, keepdims=True),
    }
    dbeta = {
        "no_sum": dZt.copy(),
        "wrong_axis": dZt.sum(axis=0),
        "wrong_axis_2d": dZt.sum(axis=0, keepdims=True),
        "sum_all": np.sum(dZt).reshape(()),
        "times_gamma": (dZt * gamma).sum(axis=1, keepdims=True),
        "mean_not_sum": dZt.mean(axis=1, keepdims=True),
    }
    return dZ, dgamma, dbeta


_DZ_MISTAKES = {
    "mu_var_constant": (
        "dZ is dZ_norm * inv_std: you treated mu and var as constants",
        "mu and var are computed from Z, so moving one Z value also moves them. "
        "dZ needs two more terms (sums over the examples, axis=1):\n"
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)).",
    ),
    "no_var_path": (
        "dZ misses the path through var (the Z_norm * sum(dZ_norm * Z_norm) term)",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)); the last term comes from var depending on Z.",
    ),
    "no_mean_path": (
        "dZ misses the path through mu (the -sum(dZ_norm) term)",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)); the middle term comes from mu depending on Z.",
    ),
    "forgot_gamma": (
        "dZ forgets gamma: dZ_norm = dZ_tilde * gamma, not dZ_tilde",
        "Z_tilde = gamma * Z_norm + beta, so the gradient reaching Z_norm is "
        "dZ_tilde * cache.gamma.",
    ),
    "wrong_axis": (
        "dZ sums over the wrong axis (axis=0)",
        "The sums in dZ run over the m examples of each unit: axis=1, keepdims=True.",
    ),
    "forgot_1_over_m": (
        "dZ is m times too large: you forgot the factor 1/m",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)).",
    ),
    "sums_not_means": (
        "dZ uses sums where the formula has means (divide the two sums by m)",
        "dZ = inv_std * (dZ_norm - mean(dZ_norm) - Z_norm * mean(dZ_norm * Z_norm)) "
        "with means over axis=1.",
    ),
}

_PARAM_MISTAKES = {
    "no_sum": (
        "{p} has shape (n, m): you forgot to sum over the examples (axis=1)",
        "gamma and beta are shared by all m examples, so their gradients add up "
        "the m per-example contributions: .sum(axis=1, keepdims=True), shape (n, 1).",
    ),
    "wrong_axis": (
        "{p} sums over the wrong axis (axis=0)",
        "Sum over the examples, axis=1, keepdims=True: one value per unit, shape "
        "(n, 1).",
    ),
    "sum_all": (
        "{p} is a single number: you summed over all entries",
        "Sum over the examples only, axis=1, keepdims=True: one value per unit.",
    ),
    "used_Z": (
        "dgamma uses Z instead of Z_norm",
        "Z_tilde = gamma * Z_norm + beta, so dgamma = sum(dZ_tilde * Z_norm, "
        "axis=1, keepdims=True).",
    ),
    "mean_not_sum": (
        "{p} is m times too small: you averaged over the examples instead of summing",
        "The loss already carries the 1/m of the mean over the batch inside "
        "dZ_tilde; each example adds its own contribution to {p}, so sum them: "
        ".sum(axis=1, keepdims=True), not .mean(...).",
    ),
    "times_gamma": (
        "{p} is multiplied by gamma",
        "dbeta = sum(dZ_tilde) and dgamma = sum(dZ_tilde * Z_norm) over axis=1; "
        "gamma enters only dZ (through dZ_norm = dZ_tilde * gamma).",
    ),
}


def check_batchnorm_backward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check a Batch Norm backward pass.

    Parameters
    ----------
    fn : the learner's ``fn(dZ_tilde, cache) -> (dZ, dgamma, dbeta)``, where
        dZ_tilde has shape (n_l, m), ``cache`` is the :class:`~bnutils.layers.BNCache`
        made by :func:`bnutils.layers.batchnorm_forward` (fields Z, mu, var,
        Z_centered, inv_std, Z_norm, gamma, beta, eps), dZ has shape (n_l, m)
        and dgamma, dbeta have shape (n_l, 1).
    verbose : print the verdict (and, on failure, the explanation).

    The expected gradients come from a closed form written in this module, which
    is itself confirmed by centred finite differences of an independent forward
    pass (the agreement is printed with a pass).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, wrong type, outputs
    in the wrong order (e.g. dgamma and dbeta swapped), dgamma/dbeta without the
    sum over the examples (shape (n, m)), summed over axis 0 or over everything,
    missing keepdims, dZ with mu and var treated as constants, dZ missing the
    mean or the variance term, gamma forgotten, sums over axis 0, a factor m
    off, NaN, cache or dZ_tilde modified in place.
    """
    from bnutils.layers import batchnorm_forward as _package_forward

    def body() -> CheckResult:
        Z, gamma, beta, dZt, eps = _backward_case()
        _, cache = _package_forward(Z, gamma, beta, eps)
        desc = f"dZ_tilde of shape {dZt.shape}"
        outcome = _run(fn, [("dZ_tilde", dZt), ("cache", cache)])
        if outcome.error is not None:
            raise _Fail([_exception_issue(outcome.error, desc, _BACKWARD_SIGNATURE)])
        names = ("dZ", "dgamma", "dbeta")
        parts = _unpack(outcome.value, names, "the tuple (dZ, dgamma, dbeta)")
        refs = _backward_ref(dZt, Z, gamma, eps)
        issues = []
        if outcome.modified:
            issues.append(_in_place_issue(outcome.modified))
        order = _permutation_issue([parts], [refs], names)
        if order is not None:
            issues.append(order)
        else:
            v_dZ, v_dgamma, v_dbeta = _backward_variants(dZt, Z, gamma, eps)
            dZ_variants = [
                _Variant(tag, msg, hint, [v_dZ[tag]])
                for tag, (msg, hint) in _DZ_MISTAKES.items()
            ]
            issues += _diagnose("dZ", [parts[0]], [refs[0]], dZ_variants, [desc])
            for label, got, want, table in (
                ("dgamma", parts[1], refs[1], v_dgamma),
                ("dbeta", parts[2], refs[2], v_dbeta),
            ):
                variants = []
                for key, array in table.items():
                    tag = key.removesuffix("_2d")
                    msg, hint = _PARAM_MISTAKES[tag]
                    variants.append(
                        _Variant(
                            f"{label}_{tag}",
                            msg.format(p=label),
                            hint.format(p=label),
                            [array],
                        )
                    )
                issues += _diagnose(label, [got], [want], variants, [desc])
        if issues:
            raise _Fail(_dedupe(issues), *_errors(parts, refs))
        # Confirm the closed form by centred differences of a separate forward.
        fd = _finite_difference_grads(dZt, Z, gamma, beta, eps)
        fd_err = max(rel_error(a, b) for a, b in zip(fd, refs, strict=True))
        extra = f" (finite differences agree to {fd_err:.0e})"
        return _passed("batchnorm_backward", parts, refs, extra)

    return _checker("batchnorm_backward", fn, body, verbose)


def _finite_difference_grads(dZt, Z, gamma, beta, eps):
    """(dZ, dgamma, dbeta) of sum(dZt * BN(Z)) by centred differences."""
    Z, gamma, beta = Z.copy(), gamma.copy(), beta.copy()

    def forward(_):
        return _bn_train_ref(Z, gamma, beta, eps)

    return tuple(numerical_gradient(forward, x, df=dZt) for x in (Z, gamma, beta))


# ---------------------------------------------------------------------------
# check_normalize_inputs
# ---------------------------------------------------------------------------

_NORMALIZE_SIGNATURE = (
    "normalize_inputs(X_train, X_test) -> (X_train_norm, X_test_norm)"
)


def _normalize_case():
    rng = np.random.default_rng(7)
    X_train = _column([5.0, -2.0, 0.3]) + _column([2.0, 0.5, 10.0]) * (
        rng.standard_normal((3, 40))
    )
    X_test = _column([5.8, -1.4, 3.0]) + _column([2.6, 0.8, 7.0]) * (
        rng.standard_normal((3, 15))
    )
    return X_train, X_test


def _stats(X, axis=1, ddof=0):
    return X.mean(axis=axis, keepdims=True), X.std(axis=axis, ddof=ddof, keepdims=True)


def _normalize_variants(X_train, X_test):
    mu, sd = _stats(X_train)
    ref = ((X_train - mu) / sd, (X_test - mu) / sd)
    mu_te, sd_te = _stats(X_test)
    mu0_tr, sd0_tr = _stats(X_train, axis=0)
    mu0_te, sd0_te = _stats(X_test, axis=0)
    _, sd1 = _stats(X_train, ddof=1)
    mu_all, sd_all = _stats(np.hstack([X_train, X_test]))
    var = sd**2
    variants = {
        "test_own_stats": (ref[0], (X_test - mu_te) / sd_te),
        "wrong_axis": ((X_train - mu0_tr) / sd0_tr, (X_test - mu0_te) / sd0_te),
        "divided_by_var": ((X_train - mu) / var, (X_test - mu) / var),
        "only_centering": (X_train - mu, X_test - mu),
        "only_scaling": (X_train / sd, X_test / sd),
        "sample_std": ((X_train - mu) / sd1, (X_test - mu) / sd1),
        "test_not_normalized": (ref[0], X_test.copy()),
        "combined_stats": ((X_train - mu_all) / sd_all, (X_test - mu_all) / sd_all),
    }
    return ref, variants


_NORMALIZE_MISTAKES = {
    "test_own_stats": (
        "you normalized the test set with its own mean and standard deviation",
        "Use the TRAINING set's mu and sigma for both sets. The network learned on "
        "inputs shifted and scaled by the training statistics; the test inputs must "
        "go through exactly the same transformation (and at prediction time there "
        "may be a single test example, which has no useful statistics of its own).",
    ),
    "wrong_axis": (
        "statistics over the wrong axis (axis=0)",
        "X has shape (n_x, m) = (features, examples). Each feature gets its own "
        "mean and standard deviation over the m examples: axis=1, keepdims=True.",
    ),
    "divided_by_var": (
        "you divided by the variance sigma² instead of the standard deviation sigma",
        "An easy slip: the lecture slide writes x /= sigma², but dividing by the "
        "variance does not give unit variance. Divide by sigma = np.sqrt(sigma²), "
        "i.e. X_train.std(axis=1, keepdims=True).",
    ),
    "only_centering": (
        "you only centered the data (subtracted the mean) but did not scale it",
        "After subtracting mu, divide by the training set's standard deviation.",
    ),
    "only_scaling": (
        "you only scaled the data but did not subtract the mean",
        "First subtract the training mean mu, then divide by sigma.",
    ),
    "sample_std": (
        "you used the sample standard deviation (ddof=1)",
        "The course normalizes with the population standard deviation, "
        "sqrt(mean((x - mu)**2)), which is np.std's default ddof=0. (With many "
        "examples the two are close, but the checker asks for ddof=0.)",
    ),
    "test_not_normalized": (
        "you forgot to normalize the test set",
        "Apply the same (X - mu) / sigma, with the training mu and sigma, to X_test.",
    ),
    "combined_stats": (
        "you computed mu and sigma on the training and test sets together",
        "Use the training set alone: the test set must not influence anything the "
        "model uses, its statistics included.",
    ),
}


def check_normalize_inputs(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check input normalization with the training set's statistics.

    Parameters
    ----------
    fn : the learner's ``fn(X_train, X_test) -> (X_train_norm, X_test_norm)``
        with X_train of shape (n_x, m_train) and X_test of shape (n_x, m_test);
        both are normalized with the training set's per-feature mean and
        population standard deviation (ddof=0).
    verbose : print the verdict (and, on failure, the explanation).

    Tolerance: ``rel_error < NORMALIZE_TOL`` (1e-6), which accepts a small eps
    (up to about 1e-8) added to sigma or to sigma² (the test features have
    standard deviations of 0.5 or more). Using ``ddof=1`` (sample standard
    deviation) is a clearly named failure: it changes the result by about
    1 / (2 m_train), far above the tolerance.

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception (including shapes that
    don't broadcast after statistics over the wrong axis), None, one array
    instead of two, test set normalized with its own statistics, statistics
    over axis 0, division by the variance, only centering, only scaling,
    ddof=1, test set left as is, statistics over train and test together,
    inputs modified in place.
    """

    def body() -> CheckResult:
        X_train, X_test = _normalize_case()
        desc = f"X_train of shape {X_train.shape}, X_test of shape {X_test.shape}"
        outcome = _run(fn, [("X_train", X_train), ("X_test", X_test)])
        if outcome.error is not None:
            raise _Fail([_exception_issue(outcome.error, desc, _NORMALIZE_SIGNATURE)])
        ref, variants = _normalize_variants(X_train, X_test)
        value = outcome.value
        if isinstance(value, np.ndarray):
            real = _as_real(value)
            same = (
                real is not None
                and real.shape == ref[0].shape
                and rel_error(real, ref[0]) < NORMALIZE_TOL
            )
            note = " (it matches X_train_norm)" if same else ""
            raise _Fail(
                [
                    _Issue(
                        "single_output",
                        "your function returned one array; return both "
                        f"(X_train_norm, X_test_norm){note}",
                        "End with `return X_train_norm, X_test_norm`.",
                    )
                ]
            )
        names = ("X_train_norm", "X_test_norm")
        parts = _unpack(value, names, "the tuple (X_train_norm, X_test_norm)")
        issues = []
        if outcome.modified:
            issues.append(_in_place_issue(outcome.modified))
        swapped = _permutation_issue([parts], [ref], names, tol=NORMALIZE_TOL)
        if swapped is not None:
            issues.append(swapped)
        else:
            part_issues = []
            for j, label in enumerate(names):
                part_variants = [
                    _Variant(tag, msg, hint, [variants[tag][j]])
                    for tag, (msg, hint) in _NORMALIZE_MISTAKES.items()
                ]
                part_issues.append(
                    _diagnose(
                        label,
                        [parts[j]],
                        [ref[j]],
                        part_variants,
                        [desc],
                        tol=NORMALIZE_TOL,
                    )
                )
            train_issues, test_issues = part_issues
            if not train_issues and test_issues and test_issues[0].tag == "unknown":
                test_issues[0].message = (
                    "X_train_norm is right but " + test_issues[0].message
                )
                test_issues[0].hint = (
                    "Normalize X_test with the same mu and sigma as X_train "
                    "(the training set's)."
                )
            issues += _close_call(train_issues + test_issues, parts, ref)
        if issues:
            raise _Fail(_dedupe(issues), *_errors(parts, ref))
        return _passed("normalize_inputs", parts, ref)

    return _checker("normalize_inputs", fn, body, verbose)


def _close_call(issues: list[_Issue], parts, ref) -> list[_Issue]:
    """Explain an output that is close to the answer but outside the tolerance."""
    if not issues or any(i.tag != "unknown" for i in issues):
        return issues
    _, err = _errors(parts, ref)
    if err < 1e-3:
        return [
            _Issue(
                "close",
                f"very close to the expected but not within the tolerance "
                f"{NORMALIZE_TOL:.0e} (rel. error {err:.1e})",
                "A large eps? Up to 1e-8 is accepted; otherwise divide by "
                "X_train.std(axis=1, keepdims=True) itself.",
            )
        ]
    return issues


# ---------------------------------------------------------------------------
# check_update_running_stats
# ---------------------------------------------------------------------------

_RUNNING_SIGNATURE = (
    "update_running_stats(running_mean, running_var, mu_B, var_B, m, ema_beta) "
    "-> (new_mean, new_var)"
)


def _running_cases():
    return [
        {
            "running_mean": _column([0.2, -1.0, 3.0]),
            "running_var": _column([1.5, 0.4, 2.2]),
            "mu_B": _column([0.5, -0.3, 2.0]),
            "var_B": _column([0.9, 0.8, 3.1]),
            "m": 8,
            "ema_beta": 0.9,
        },
        {
            "running_mean": _column([-0.6, 1.3, 0.1]),
            "running_var": _column([0.7, 2.9, 1.2]),
            "mu_B": _column([0.4, 2.1, -1.5]),
            "var_B": _column([1.8, 0.6, 0.25]),
            "m": 5,
            "ema_beta": 0.7,
        },
    ]


def _running_variants(c):
    b, m = c["ema_beta"], c["m"]
    rm, rv, mu, var = c["running_mean"], c["running_var"], c["mu_B"], c["var_B"]
    unbiased = var * m / (m - 1)
    ref = (b * rm + (1 - b) * mu, b * rv + (1 - b) * unbiased)
    mean_variants = {
        "ema_flipped": (1 - b) * rm + b * mu,
        "ema_beta_fixed": 0.9 * rm + 0.1 * mu,
        "no_one_minus_beta": b * rm + mu,
    }
    var_variants = {
        "ema_flipped": (1 - b) * rv + b * unbiased,
        "biased_var": b * rv + (1 - b) * var,
        "bessel_inverted": b * rv + (1 - b) * var * (m - 1) / m,
        "flipped_and_biased": (1 - b) * rv + b * var,
        "ema_beta_fixed": 0.9 * rv + 0.1 * unbiased,
        "no_one_minus_beta": b * rv + unbiased,
    }
    return ref, mean_variants, var_variants


_RUNNING_MISTAKES = {
    "ema_flipped": (
        "the EMA direction is flipped (PyTorch's momentum convention): ema_beta "
        "and (1 - ema_beta) are swapped",
        "The course's average keeps ema_beta of the OLD value: running = ema_beta * "
        "running + (1 - ema_beta) * batch_stat. Weighting the new batch by the "
        "parameter is PyTorch's momentum convention (momentum = 1 - ema_beta).",
    ),
    "ema_beta_fixed": (
        "you used a fixed 0.9 instead of the ema_beta argument",
        "Use the function's ema_beta parameter (the test passed ema_beta=0.7).",
    ),
    "no_one_minus_beta": (
        "the batch statistic is missing its weight (1 - ema_beta)",
        "running = ema_beta * running + (1 - ema_beta) * batch_stat: the two weights "
        "add up to 1.",
    ),
    "biased_var": (
        "you fed the biased batch variance: forgot the factor m / (m - 1)",
        "var_B is the biased variance used to normalize the batch; the running "
        "average (the estimate used at test time) is fed the unbiased m / (m - 1) * "
        "var_B, as in Ioffe & Szegedy's Algorithm 2 and PyTorch.",
    ),
    "bessel_inverted": (
        "the Bessel factor is upside down: use m / (m - 1), not (m - 1) / m",
        "The unbiased variance is larger than the biased one: m / (m - 1) * var_B.",
    ),
    "flipped_and_biased": (
        "the EMA direction is flipped and the variance is the biased one",
        "running = ema_beta * running + (1 - ema_beta) * batch_stat (the course's "
        "convention, not PyTorch's momentum), and the variance fed in is the "
        "unbiased m / (m - 1) * var_B.",
    ),
}


def check_update_running_stats(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check the update of Batch Norm's running statistics.

    Parameters
    ----------
    fn : the learner's ``fn(running_mean, running_var, mu_B, var_B, m, ema_beta)
        -> (new_mean, new_var)``; every array has shape (n_l, 1), m is the
        mini-batch size (int) and ema_beta the weight of the old value. Expected
        (the series' convention, see :mod:`bnutils.layers`)::

            new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
            new_var  = ema_beta * running_var  + (1 - ema_beta) * m / (m - 1) * var_B

    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, flipped EMA
    direction (PyTorch's momentum convention), biased variance fed in, Bessel
    factor inverted, fixed ema_beta, missing (1 - ema_beta), mean and var
    swapped, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _running_cases()
        descs = [f"m={c['m']}, ema_beta={c['ema_beta']}" for c in cases]
        keys = ("running_mean", "running_var", "mu_B", "var_B", "m", "ema_beta")
        names = ("new_mean", "new_var")
        outs, refs, modified = [], [], []
        mean_v: dict[str, list] = {}
        var_v: dict[str, list] = {}
        for case, desc in zip(cases, descs, strict=True):
            outcome = _run(fn, [(k, case[k]) for k in keys])
            if outcome.error is not None:
                raise _Fail([_exception_issue(outcome.error, desc, _RUNNING_SIGNATURE)])
            outs.append(_unpack(outcome.value, names, "the tuple (new_mean, new_var)"))
            modified += outcome.modified
            ref, mv, vv = _running_variants(case)
            refs.append(ref)
            for tag, array in mv.items():
                mean_v.setdefault(tag, []).append(array)
            for tag, array in vv.items():
                var_v.setdefault(tag, []).append(array)
        issues = []
        if modified:
            issues.append(_in_place_issue(modified))
        swapped = _permutation_issue(outs, refs, names)
        if swapped is not None:
            issues.append(swapped)
        else:
            for j, (label, table) in enumerate(((names[0], mean_v), (names[1], var_v))):
                variants = [
                    _Variant(tag, *_RUNNING_MISTAKES[tag], arrays)
                    for tag, arrays in table.items()
                ]
                issues += _diagnose(
                    label, [o[j] for o in outs], [r[j] for r in refs], variants, descs
                )
        if any(i.tag == "flipped_and_biased" for i in issues):
            # The variance's diagnosis already says "flipped": one message.
            issues = [i for i in issues if i.tag != "ema_flipped"]
            issues.sort(key=lambda i: i.tag != "flipped_and_biased")
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise _Fail(_dedupe(issues), *_errors(flat_outs, flat_refs))
        return _passed("update_running_stats", flat_outs, flat_refs)

    return _checker("update_running_stats", fn, body, verbose)


# ---------------------------------------------------------------------------
# check_batchnorm_inference
# ---------------------------------------------------------------------------

_INFERENCE_SIGNATURE = (
    "batchnorm_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5) "
    "-> Z_tilde"
)


def _inference_cases():
    rng = np.random.default_rng(3)
    gamma = _column([1.4, 0.6, 2.1, 0.45])
    beta = _column([-0.5, 1.2, 0.15, -0.9])
    running_mean = _column([1.0, -2.0, 0.5, 3.0])
    running_var = _column([0.04, 2.5, 0.3, 9.0])
    loc = _column([0.2, 0.4, 2.6, -1.0])
    scale = _column([1.1, 0.5, 2.0, 1.3])
    Z1 = loc + scale * rng.standard_normal((4, 6))
    Z2 = loc + scale * rng.standard_normal((4, 6))
    Z3 = loc + scale * rng.standard_normal((4, 1))
    base = {
        "gamma": gamma,
        "beta": beta,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    return [
        {"Z": Z1, **base, "eps": 1e-5},
        {"Z": Z2, **base, "eps": 0.3},
        {"Z": Z3, **base, "eps": 1e-5},
    ]


def _inference_ref(c):
    std = np.sqrt(c["running_var"] + c["eps"])
    return c["gamma"] * (c["Z"] - c["running_mean"]) / std + c["beta"]


def _inference_variants(c) -> list[tuple[str, np.ndarray]]:
    Z, g, b, eps = c["Z"], c["gamma"], c["beta"], c["eps"]
    rm, rv = c["running_mean"], c["running_var"]
    Zc = Z - rm
    with np.errstate(all="ignore"):
        Z_norm = Zc / np.sqrt(rv + eps)
        return [
            ("batch_stats", _bn_train_ref(Z, g, b, eps)),
            ("eps_outside_sqrt", g * Zc / (np.sqrt(rv) + eps) + b),
            ("eps_ignored", g * Zc / np.sqrt(rv) + b),
            ("var_not_sqrt", g * Zc / (rv + eps) + b),
            # Two ways of taking the square root twice.
            ("sqrt_twice", g * Zc / (rv + eps) ** 0.25 + b),
            ("sqrt_twice", g * Zc / np.sqrt(np.sqrt(rv) + eps) + b),
            ("gamma_beta_swapped", b * Z_norm + g),
            ("no_gamma_beta", Z_norm),
            ("no_centering", g * Z / np.sqrt(rv + eps) + b),
        ]


_INFERENCE_MISTAKES = {
    "batch_stats": (
        "you normalized with the batch's own statistics (training mode at test time)",
        "At test time use the running statistics: gamma * (Z - running_mean) / "
        "np.sqrt(running_var + eps) + beta. Batch statistics make each prediction "
        "depend on the other examples, and a single example normalizes to beta.",
    ),
    "eps_outside_sqrt": (
        _FORWARD_MISTAKES["eps_outside_sqrt"][0],
        "Write (Z - running_mean) / np.sqrt(running_var + eps), not "
        "(Z - running_mean) / (np.sqrt(running_var) + eps).",
    ),
    "eps_ignored": (
        _FORWARD_MISTAKES["eps_ignored"][0],
        "Add eps inside the square root, np.sqrt(running_var + eps), as in "
        "training, so that test-time and training-time normalization agree.",
    ),
    "var_not_sqrt": (
        "you divided by the variance: running_var is a variance, take its square root",
        "Divide by the standard deviation np.sqrt(running_var + eps).",
    ),
    "sqrt_twice": (
        "you took the square root twice: running_var is a variance, not a standard "
        "deviation",
        "Divide by np.sqrt(running_var + eps), one square root.",
    ),
    "gamma_beta_swapped": _FORWARD_MISTAKES["gamma_beta_swapped"],
    "no_gamma_beta": _FORWARD_MISTAKES["no_gamma_beta"],
    "no_centering": (
        "you forgot to subtract running_mean",
        "Center with the running mean first: Z - running_mean.",
    ),
}


def check_batchnorm_inference(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check Batch Norm at test time (running statistics).

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, running_mean, running_var, eps=1e-5)
        -> Z_tilde`` with Z and Z_tilde of shape (n_l, m) and the other arrays of
        shape (n_l, 1); eps is passed positionally. Tested on two batches
        (eps=1e-5 and eps=0.3) and on a single example (m=1).
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, failure on a single
    example, batch statistics instead of the running ones, eps outside the
    square root, eps forgotten, variance not square-rooted, square root taken
    twice, gamma and beta swapped, gamma and beta missing, no centering, NaN,
    inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _inference_cases()
        descs = [f"Z of shape {c['Z'].shape}, eps={c['eps']}" for c in cases]
        keys = ("Z", "gamma", "beta", "running_mean", "running_var", "eps")
        outs, modified = [], []
        for k, (case, desc) in enumerate(zip(cases, descs, strict=True)):
            outcome = _run(fn, [(key, case[key]) for key in keys])
            if outcome.error is not None:
                issue = _exception_issue(outcome.error, desc, _INFERENCE_SIGNATURE)
                # The m=1 case comes last: reaching it means the batches worked.
                if case["Z"].shape[1] == 1 and k > 0 and issue.tag == "exception":
                    issue = _Issue(
                        "single_example",
                        f"fails on a single example (m=1): {issue.message}",
                        "At test time examples often arrive one at a time. With the "
                        "running statistics nothing depends on the batch size; avoid "
                        "statistics of Z and anything that needs m > 1.\n" + issue.hint,
                    )
                raise _Fail([issue])
            outs.append(_unpack(outcome.value, ("Z_tilde",), "Z_tilde")[0])
            modified += outcome.modified
        refs = [_inference_ref(c) for c in cases]
        single = [k for k, c in enumerate(cases) if c["Z"].shape[1] == 1]
        batches_ok = all(
            isinstance(outs[k], np.ndarray) and outs[k].shape == refs[k].shape
            for k in range(len(cases))
            if k not in single
        )
        for k in single:
            got = outs[k]
            if (
                batches_ok
                and isinstance(got, np.ndarray)
                and got.shape != refs[k].shape
            ):
                raise _Fail(
                    [
                        _Issue(
                            "single_example",
                            f"fails on a single example (m=1): Z_tilde has shape "
                            f"{got.shape}, expected {refs[k].shape}",
                            "With one example Z has shape (n_l, 1); keep it 2-D "
                            "(no np.squeeze, no Z[:, 0]) so it broadcasts with the "
                            "(n_l, 1) statistics.",
                        )
                    ]
                )
            if (
                isinstance(got, np.ndarray)
                and got.shape == refs[k].shape
                and np.issubdtype(got.dtype, np.number)
                and not np.all(np.isfinite(got))
            ):
                raise _Fail(
                    [
                        _Issue(
                            "batch_stats",
                            "NaN for a single example (m=1): it looks like you used "
                            "the batch's own statistics",
                            _INFERENCE_MISTAKES["batch_stats"][1],
                        )
                    ]
                )
        variants = [
            _Variant(tag, *_INFERENCE_MISTAKES[tag], [])
            for tag, _ in _inference_variants(cases[0])
        ]
        for case in cases:
            for variant, (_, array) in zip(
                variants, _inference_variants(case), strict=True
            ):
                variant.arrays.append(array)
        issues = _diagnose("Z_tilde", outs, refs, variants, descs)
        if modified:
            issues.insert(0, _in_place_issue(modified))
        if issues:
            raise _Fail(_dedupe(issues), *_errors(outs, refs))
        return _passed("batchnorm_inference", outs, refs)

    return _checker("batchnorm_inference", fn, body, verbose)
