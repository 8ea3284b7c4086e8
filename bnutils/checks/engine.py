"""The checkers' engine: run the learner's function safely, compare its output
with the expected answer and with known mistakes, and turn the outcome into a
:class:`CheckResult`.

How a mistake is named: for each common mistake an exercise module computes what
that mistake would produce on the same inputs (a :class:`Variant`, one array per
test case) and :func:`diagnose` names the variant that the learner's output
matches (relative error below :data:`MATCH_TOL`). When nothing matches it says
so and prints the size of the difference.

A checker body raises :class:`Fail` with one or more :class:`Issue` to stop with
a failing verdict; :func:`run_checker` turns that, and anything else that goes
wrong, into a :class:`CheckResult`, so that a checker never raises because of
the learner's code.
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

#: rel_error below which an exercise answer counts as right (float64 round-off
#: of a correct answer is about 1e-16 to 1e-14).
TOL = 1e-8
#: rel_error below which an output is taken to *be* a named mistake.
MATCH_TOL = 1e-7

_TINY = np.finfo(np.float64).tiny
_PASS_ICON = "✓"
_FAIL_ICON = "✗"
YOUR_CODE = "fill in the code marked YOUR CODE HERE"


# ---------------------------------------------------------------------------
# Relative error
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


def passed_message(diff: float, err: float, extra: str = "") -> str:
    return f"passed — max |diff| {diff:.1e}, rel. error {err:.1e}{extra}"


def passed_result(
    name: str, outs: Sequence, refs: Sequence[np.ndarray], extra: str = ""
):
    """The passing result of a checker, with the differences from the answer."""
    gots = [as_real(g) for g in outs]
    diff, err = max_diff(gots, refs), max_rel(gots, refs)
    return CheckResult(name, True, passed_message(diff, err, extra), diff, err)


@dataclass
class Issue:
    """One diagnosed problem: a tag, a one-line message and a hint."""

    tag: str
    message: str
    hint: str = ""


class Fail(Exception):
    """Raised inside a checker body to stop with a failing verdict."""

    def __init__(self, issues: Sequence[Issue], diff=math.nan, err=math.nan):
        super().__init__(issues[0].message)
        self.issues = list(issues)
        self.diff = diff
        self.err = err


def _fail_result(name: str, fail: Fail) -> CheckResult:
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
# run_checker, filled by call_learner); quoted in the hint of a failing verdict.
_LEARNER_WARNINGS: list[str] = []


def run_checker(name: str, fn, body: Callable[[], CheckResult], verbose: bool):
    """Run a checker body; turn anything that goes wrong into a failing result."""
    _LEARNER_WARNINGS.clear()
    if not callable(fn):
        result = CheckResult(
            name,
            False,
            f"expected your function, got {describe(fn)}",
            hint=(
                "Pass the function itself, without calling it: "
                f"check_{name}({name}), not check_{name}({name}(...))."
            ),
            mistake="not_callable",
        )
    else:
        try:
            result = body()
        except Fail as fail:
            result = _fail_result(name, fail)
        except Exception as exc:  # output too strange to analyse: say so, don't raise
            result = CheckResult(
                name,
                False,
                "I could not analyse your function's output "
                f"({type(exc).__name__}: {short(str(exc))})",
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
class Outcome:
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


def call_learner(fn: Callable, named_args: Sequence[tuple[str, object]]) -> Outcome:
    """Call ``fn`` on copies of the arguments; record errors, warnings and
    which arguments it modified in place."""
    copies = [_copy(value) for _, value in named_args]
    outcome = Outcome()
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


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} (dtype {x.dtype})"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of length {len(x)}"
    kind = type(x).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind}"


def as_real(x) -> np.ndarray | None:
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


def failing_line(exc: Exception) -> str | None:
    """The last line of the traceback that is not inside numpy or this package."""
    here = os.path.dirname(os.path.abspath(__file__))  # the checks package
    numpy_dir = os.path.dirname(os.path.abspath(np.__file__))
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename)
        if path.startswith(here + os.sep) or path.startswith(numpy_dir):
            continue
        if frame.line:
            return frame.line.strip()
    return None


def exception_issue(exc: Exception, where: str, signature: str) -> Issue:
    kind = type(exc).__name__
    text = short(str(exc))
    if isinstance(exc, NotImplementedError):
        return Issue(
            "not_implemented",
            f"raised NotImplementedError — {YOUR_CODE}",
            f"Write the body of {signature}.",
        )
    lines = []
    line = failing_line(exc)
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
    return Issue("exception", f"raised {kind}: {text}", "\n".join(lines))


def unpack(value, names: Sequence[str], what: str) -> tuple:
    """Split the learner's return value into its parts (or fail)."""
    together = ", ".join(names)
    if value is None:
        raise Fail(
            [
                Issue(
                    "returned_none",
                    f"your function returned None — {YOUR_CODE}",
                    f"It should return {what}.",
                )
            ]
        )
    if len(names) == 1:
        return (value,)
    if isinstance(value, (tuple, list)) and len(value) == len(names):
        if all(v is None for v in value):
            raise Fail(
                [
                    Issue(
                        "returned_none",
                        f"your function returned ({together}) all None — {YOUR_CODE}",
                        f"It should return {what}.",
                    )
                ]
            )
        return tuple(value)
    raise Fail(
        [
            Issue(
                "wrong_return_type",
                f"your function returned {describe(value)}; expected the tuple "
                f"({together})",
                f"End it with `return {together}`.",
            )
        ]
    )


# ---------------------------------------------------------------------------
# Comparing outputs with the expected answer and with known mistakes
# ---------------------------------------------------------------------------


@dataclass
class Variant:
    """What one known mistake produces: one array per test case."""

    tag: str
    message: str
    hint: str
    arrays: list[np.ndarray]


def max_rel(gots: Sequence[np.ndarray], wants: Sequence[np.ndarray]) -> float:
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


def max_diff(gots: Sequence[np.ndarray], wants: Sequence[np.ndarray]) -> float:
    with np.errstate(over="ignore"):
        return _max_diff_unguarded(gots, wants)


def _max_diff_unguarded(gots, wants) -> float:
    diffs = [
        float(np.max(np.abs(g - w))) if g.size else 0.0
        for g, w in zip(gots, wants, strict=True)
        if g.shape == w.shape
    ]
    return max(diffs) if len(diffs) == len(gots) else math.nan


def shape_issue(label: str, shape: tuple, want: tuple) -> Issue:
    if len(want) == 2 and shape == want[::-1]:
        return Issue(
            "transposed",
            f"{label} has shape {shape}, the transpose of the expected {want}",
            "Keep the course's layout (n_l, m) = (units, examples); compute "
            "statistics over axis=1 and don't transpose.",
        )
    if len(want) == 2 and want[1] > 1 and shape == (want[0], 1):
        return Issue(
            "wrong_shape",
            f"{label} has shape {shape}: one value per unit instead of one per "
            f"unit and example {want}",
            "Return the normalized batch itself, not a per-unit statistic.",
        )
    if len(want) == 2 and want[1] == 1 and shape == (want[0],):
        return Issue(
            "missing_keepdims",
            f"{label} has shape {shape}; expected {want}",
            "Use keepdims=True in the sum or mean (or .reshape(-1, 1)) so that "
            "per-unit arrays keep the shape (n, 1).",
        )
    return Issue(
        "wrong_shape",
        f"{label} has shape {shape}; expected {want}",
        "Print the shapes of your intermediate arrays; per-unit statistics have "
        "shape (n, 1), everything else the shape (n, m) of the input.",
    )


def diagnose(
    label: str,
    gots: Sequence,
    wants: Sequence[np.ndarray],
    variants: Sequence[Variant],
    cases: Sequence[str],
    tol: float = TOL,
) -> list[Issue]:
    """Issues of one output (over all test cases); [] when it is right."""
    for got in gots:
        if got is None:
            return [Issue("returned_none", f"{label} is None — {YOUR_CODE}")]
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
                Issue(
                    "wrong_type",
                    f"{label} should be a numpy array of shape {want.shape}; got "
                    f"{describe(got)}",
                    "Build it with numpy operations (or convert it with np.asarray).",
                )
            ]
        if not np.issubdtype(got.dtype, np.number) or np.iscomplexobj(got):
            return [
                Issue(
                    "wrong_type",
                    f"{label} has dtype {got.dtype}; expected real (float) numbers",
                )
            ]
    gots = [as_real(g) for g in gots]
    if max_rel(gots, wants) < tol:
        return []
    # A known mistake (variants may have other shapes than the answer).
    best, best_err = None, math.inf
    for variant in variants:
        err = max_rel(gots, variant.arrays)
        if err < best_err:
            best, best_err = variant, err
    if best is not None and best_err < MATCH_TOL:
        return [Issue(best.tag, best.message, best.hint)]
    for got, want in zip(gots, wants, strict=True):
        if got.shape != want.shape:
            return [shape_issue(label, got.shape, want.shape)]
    for got, case in zip(gots, cases, strict=True):
        if not np.all(np.isfinite(got)):
            return [
                Issue(
                    "nan",
                    f"{label} contains NaN or inf (test input: {case})",
                    "Look for a division by zero or the square root of a negative "
                    "number: eps belongs inside the square root, sqrt(var + eps).",
                )
            ]
    err = max_rel(gots, wants)
    diff = max_diff(gots, wants)
    worst = max(range(len(gots)), key=lambda k: rel_error(gots[k], wants[k]))
    note = ""
    if low_precision:
        note = " Note: compute in float64 (your arrays are a lower precision)."
    return [
        Issue(
            "unknown",
            f"{label} differs from the expected in a way I can't name; max |diff| "
            f"{diff:.1e}, rel. error {err:.1e}",
            f"The largest difference is for the test input {cases[worst]}. Go "
            "through the formula one step at a time and print each intermediate "
            f"array with its shape.{note}",
        )
    ]


def dedupe(issues: Sequence[Issue]) -> list[Issue]:
    """Keep the first issue of each tag (e.g. the same mistake in two outputs)."""
    first: dict[str, Issue] = {}
    for issue in issues:
        first.setdefault(issue.tag, issue)
    return list(first.values())


def in_place_issue(modified: Sequence[str]) -> Issue:
    names = list(dict.fromkeys(modified))
    if len(names) == 1:
        what = f"input {names[0]}"
    else:
        what = "inputs " + ", ".join(names[:-1]) + f" and {names[-1]}"
    return Issue(
        "in_place",
        f"your function modified its {what} in place",
        "Operations like `x -= ...`, `x /= ...` or `x[...] = ...` change the "
        "caller's array. Build new arrays instead (`x_centered = x - mu`), so "
        "the caller's data stay as they were.",
    )


def permutation_issue(
    outs, refs, names: Sequence[str], tol: float = TOL
) -> Issue | None:
    """Detect outputs returned in the wrong order (right values, wrong places)."""
    n_parts = len(names)
    if n_parts < 2:
        return None
    for perm in itertools.permutations(range(n_parts)):
        if perm == tuple(range(n_parts)):
            continue
        ok = True
        for j in range(n_parts):
            gots = [as_real(case_out[perm[j]]) for case_out in outs]
            if any(g is None for g in gots):
                ok = False
                break
            wants = [case_ref[j] for case_ref in refs]
            if not max_rel(gots, wants) < tol:
                ok = False
                break
        if ok:
            order = ", ".join(names)
            moved = [names[j] for j in range(n_parts) if perm[j] != j]
            if len(moved) == 2:
                message = f"{moved[0]} and {moved[1]} swapped"
            else:
                message = "the outputs are in the wrong order"
            return Issue(
                "swapped_outputs",
                f"{message} (the values are right, the order is not)",
                f"Return them in this order: ({order}).",
            )
    return None


def column(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def error_sizes(outs, refs) -> tuple[float, float]:
    """(max |diff|, rel_error) of outputs against references, nan if unusable."""
    gots = [as_real(g) for g in outs]
    if any(g is None or g.shape != w.shape for g, w in zip(gots, refs, strict=True)):
        return math.nan, math.nan
    err = max_rel(gots, refs)
    return max_diff(gots, refs), (err if math.isfinite(err) else math.nan)
