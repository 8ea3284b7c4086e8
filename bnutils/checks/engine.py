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

import dis
import inspect
import itertools
import math
import os
import traceback
import types
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
#: rel_error below which a float32 (or float16) output counts as "right, but in
#: single precision": float32 keeps about 7 significant digits.
LOW_PRECISION_TOL = 1e-4

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


def run_checker(
    name: str,
    fn,
    body: Callable[[], CheckResult],
    verbose: bool,
    arguments: Sequence[str] = (),
    aliases: dict[str, str] | None = None,
):
    """Run a checker body; turn anything that goes wrong into a failing result.

    ``body`` returns the passing :class:`CheckResult` or raises :class:`Fail`
    (any other exception becomes an "I could not analyse" verdict: a checker
    never raises because of the learner's code). ``arguments`` are the names of
    the exercise's parameters in order (e.g. ``("dZ_tilde", "cache")``) and
    ``aliases`` maps other names a notebook uses for them (e.g. ``{"U":
    "unit_inputs"}``): a failing function that reads a notebook's global array
    of such a name is told to use its argument instead (see
    :func:`global_issue`).
    """
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
            # The checker's own arithmetic on strange outputs (huge values, NaN)
            # stays quiet; call_learner records the learner's own warnings.
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = body()
        except Fail as fail:
            result = _fail_result(name, fail)
        except Exception as exc:  # output too strange to analyse: say so, don't raise
            result = CheckResult(
                name,
                False,
                "I could not analyse your function's output "
                f"({type(exc).__name__}: {short(_safe_str(exc))})",
                hint="Check that it returns numpy arrays of the documented shapes.",
                mistake="unanalysable",
            )
        if not result.passed:
            try:
                issue = global_issue(fn, arguments, aliases or {})
            except Exception:  # an exotic callable: no global-read diagnosis
                issue = None
            if issue is not None:
                result = _blame_global(result, issue)
    if not result.passed and _LEARNER_WARNINGS:
        note = f"Your function also triggered a warning: {_LEARNER_WARNINGS[0]}"
        result.hint = f"{result.hint}\n{note}" if result.hint else note
    _LEARNER_WARNINGS.clear()
    if verbose:
        print(result)
    return result


def _blame_global(result: CheckResult, issue: Issue) -> CheckResult:
    """Put a global-read diagnosis first, keeping what the checker saw."""
    if issue.tag != "reads_global":  # a secondary note only
        note = f"Also: {issue.message}."
        result.hint = f"{result.hint}\n{note}" if result.hint else note
        return result
    saw = f"What the checker saw: {result.message}."
    return CheckResult(
        result.name,
        False,
        issue.message,
        max_abs_diff=result.max_abs_diff,
        rel_error=result.rel_error,
        hint=f"{issue.hint}\n{saw}",
        mistake="reads_global",
    )


def _safe_str(x) -> str:
    try:
        return str(x)
    except Exception:  # a learner's object whose __str__ raises
        return f"<{type(x).__name__}>"


# ---------------------------------------------------------------------------
# Functions that read the notebook's arrays instead of their arguments
# ---------------------------------------------------------------------------


def _is_data(value) -> bool:
    return (isinstance(value, np.ndarray) and value.ndim > 0) or isinstance(
        value, BNCache
    )


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def global_reads(fn, depth: int = 2) -> dict[str, object]:
    """The arrays (and BNCaches) that ``fn`` reads from its module's globals or
    from an enclosing function, by name; helper functions it calls from the
    same globals are followed ``depth`` levels deep.

    Only real reads count (``LOAD_GLOBAL`` / ``LOAD_NAME`` / closure cells): an
    attribute such as ``cache.Z`` is not a read of a global ``Z``.
    """
    found: dict[str, object] = {}
    seen: set[int] = set()

    def visit(f, level: int) -> None:
        f = getattr(f, "__func__", f)  # bound methods
        code = getattr(f, "__code__", None)
        env = getattr(f, "__globals__", None)
        if not isinstance(code, types.CodeType) or id(code) in seen:
            return
        seen.add(id(code))
        if isinstance(env, dict):
            names = {
                ins.argval
                for c in _code_objects(code)
                for ins in dis.get_instructions(c)
                if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")
            }
            for name in sorted(names):
                if name not in env:
                    continue
                value = env[name]
                if _is_data(value):
                    found.setdefault(name, value)
                elif isinstance(value, types.FunctionType) and level > 0:
                    visit(value, level - 1)
        cells = getattr(f, "__closure__", None) or ()
        for name, cell in zip(code.co_freevars, cells, strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if _is_data(value):
                found.setdefault(name, value)

    visit(fn, depth)
    return found


def _parameter_names(fn, n: int) -> list[str | None]:
    """The learner's own names of the first ``n`` positional parameters."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [None] * n
    names: list[str | None] = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return (names + [None] * n)[:n]


def global_issue(fn, arguments: Sequence[str], aliases: dict[str, str]) -> Issue | None:
    """Does ``fn`` read a notebook array that one of its arguments holds?

    A global read whose name is an argument of the exercise (``Z``), a field of
    its cache argument (``cache.Z``, ``cache.gamma``) or a notebook alias of an
    argument (``U`` for ``unit_inputs``) gives an Issue tagged
    ``"reads_global"`` that names the argument to use (in the learner's own
    parameter names). Any other global array gives a secondary note (tag
    ``"reads_global_note"``). None when the function reads no global array.
    """
    reads = global_reads(fn)
    if not reads:
        return None
    own = _parameter_names(fn, len(arguments))
    mine = {
        canon: (learner or canon) for canon, learner in zip(arguments, own, strict=True)
    }
    for name, value in reads.items():
        target = None
        canon = aliases.get(name, name)
        if canon in mine:
            target = mine[canon]
        elif "cache" in mine and name in BNCache._fields:
            target = f"{mine['cache']}.{name}"
        if target is not None:
            what = _what(value)
            return Issue(
                "reads_global",
                f"your function reads the notebook's `{name}`; use the argument "
                f"`{target}`",
                f"`{name}` inside your function is the notebook's variable "
                f"({what}), not the function's argument, so the function only "
                "works on the notebook's own data. The checker calls it on other "
                f"inputs: compute from `{target}`.",
            )
    name, value = next(iter(reads.items()))
    return Issue(
        "reads_global_note",
        f"your function reads the notebook's `{name}` ({_what(value)}); a "
        "function should compute from its arguments only",
    )


def _what(value) -> str:
    if isinstance(value, BNCache):
        return "a BNCache"
    return f"an array of shape {value.shape}"


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
    # numpy's default error handling inside the learner's code (the checker
    # itself runs quietly), so that its warnings can be quoted.
    with (
        warnings.catch_warnings(record=True) as caught,
        np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"),
    ):
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
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 1e300:
        return "a Python int too large for float64"
    kind = type(x).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind}"


def as_real(x) -> np.ndarray | None:
    """``x`` as a float64 array if it is a real number or a plain numpy array of
    real numbers (integer or float dtype), else None (strings, booleans,
    complex numbers, masked arrays, lists, ...)."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, float, np.integer, np.floating)):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (OverflowError, ValueError, TypeError):  # e.g. 10**400
            return None
    if type(x) is not np.ndarray or x.dtype.kind not in "iuf":
        return None
    return x.astype(np.float64)


def is_low_precision(x) -> bool:
    """A float16 / float32 array or number (float64 is what the checkers need)."""
    dtype = getattr(x, "dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8


def kind_issue(label: str, got, expected: str) -> Issue | None:
    """Why ``got`` is not a real number or a plain numpy array of real numbers
    (an :class:`Issue` tagged ``"returned_none"`` or ``"wrong_type"``), or None
    when it is one. ``expected`` says what was expected, e.g. ``"a numpy array
    of shape (4, 7)"``. float16 / float32 pass here: see :func:`diagnose`."""
    if got is None:
        return Issue("returned_none", f"{label} is None — {YOUR_CODE}")
    if isinstance(got, (str, bytes, np.str_, np.bytes_)):
        return Issue(
            "wrong_type",
            f"{label} is a string ({short(repr(got), 40)}); expected {expected}",
            "Return the numbers themselves, not their text: no str(...), "
            "f-strings or formatting.",
        )
    if isinstance(got, (bool, np.bool_)):
        return Issue(
            "wrong_type",
            f"{label} is a boolean ({bool(got)}); expected {expected}",
            "A comparison gives True/False; np.mean of a boolean array gives the "
            "share of True values.",
        )
    if isinstance(got, complex):
        got = np.asarray(got)
    if isinstance(got, (int, float, np.number)):
        return None if as_real(got) is not None else _complex_or_huge(label, got)
    if isinstance(got, np.ma.MaskedArray):
        return Issue(
            "wrong_type",
            f"{label} is a masked array (numpy.ma); expected {expected}",
            "np.ma hides entries instead of computing them. Compute with plain "
            "arrays (or convert with np.ma.getdata(...) if nothing is masked).",
        )
    if isinstance(got, np.ndarray) and type(got) is not np.ndarray:
        return Issue(
            "wrong_type",
            f"{label} is a {type(got).__name__} (a numpy array subclass); "
            f"expected {expected}",
            "Use plain numpy arrays (np.asarray(...)).",
        )
    if not isinstance(got, np.ndarray):
        return Issue(
            "wrong_type",
            f"{label} should be {expected}; got {describe(got)}",
            "Build it with numpy operations (or convert it with np.asarray).",
        )
    kind = got.dtype.kind
    if kind == "c":
        return _complex_or_huge(label, got)
    if kind == "b":
        return Issue(
            "wrong_type",
            f"{label} is an array of booleans (True/False); expected {expected}",
            "A comparison gives True/False; convert to numbers, e.g. with np.mean "
            "(the share of True values) or .astype(float).",
        )
    if kind not in "iuf":
        return Issue(
            "wrong_type",
            f"{label} has dtype {got.dtype}; expected real (float) numbers",
            "Build it with numpy operations on the float arrays you were given "
            "(an object or string dtype means lists, strings or None inside).",
        )
    return None


def _complex_or_huge(label: str, got) -> Issue:
    arr = np.asarray(got)
    if arr.dtype.kind == "c":
        imaginary = np.any(arr.imag != 0)
        what = "nonzero imaginary parts" if imaginary else "imaginary parts all 0"
        return Issue(
            "wrong_type",
            f"{label} has complex numbers (dtype {arr.dtype}, {what}); expected "
            "real (float) numbers",
            "Everything in this exercise is real: find where complex numbers "
            "appear (1j, np.emath.sqrt, a complex dtype) and compute with real "
            "float64 arrays.",
        )
    return Issue(
        "wrong_type",
        f"{label} is {describe(got)}; expected real float64 numbers",
        "Return float64 numbers (e.g. 1e300 is the largest order of magnitude "
        "float64 holds).",
    )


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
    if isinstance(value, np.ndarray):
        raise Fail(
            [
                Issue(
                    "single_output",
                    f"your function returned one array; return both ({together})",
                    f"End with `return {together}`.",
                )
            ]
        )
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


def diagnose_parts(
    names: Sequence[str],
    outs: Sequence[Sequence],
    refs: Sequence[Sequence[np.ndarray]],
    tables: Sequence[dict],
    mistakes: dict,
    descs: Sequence[str],
) -> list[Issue]:
    """:func:`diagnose` for each output of a function that returns several.

    ``outs[k][j]`` and ``refs[k][j]`` are output ``j`` on test case ``k``;
    ``tables[j]`` maps a mistake's tag to what that mistake returns for output
    ``j`` on every case, and ``mistakes[tag]`` is its (message, hint) pair.
    """
    issues = []
    for j, (name, table) in enumerate(zip(names, tables, strict=True)):
        variants = [
            Variant(tag, *mistakes[tag], arrays) for tag, arrays in table.items()
        ]
        issues += diagnose(
            name, [o[j] for o in outs], [r[j] for r in refs], variants, descs
        )
    return issues


def diagnose(
    label: str,
    gots: Sequence,
    wants: Sequence[np.ndarray],
    variants: Sequence[Variant],
    cases: Sequence[str],
    tol: float = TOL,
) -> list[Issue]:
    """Issues of one output (over all test cases); [] when it is right.

    In order: not a real numeric array (:func:`kind_issue`), the known mistake
    it matches, a wrong shape, NaN or inf, or "a difference I can't name". A
    float16 / float32 output never passes: it is "right in single precision"
    (tag ``"low_precision"``) or the mistake it matches at that precision.
    """
    for got, want in zip(gots, wants, strict=True):
        issue = kind_issue(label, got, f"a numpy array of shape {want.shape}")
        if issue is not None:
            return [issue]
    low = [g for g in gots if is_low_precision(g)]
    gots = [as_real(g) for g in gots]
    if not low and max_rel(gots, wants) < tol:
        return []
    match_tol = MATCH_TOL
    if low:
        dtype = low[0].dtype
        err = max_rel(gots, wants)
        if err < LOW_PRECISION_TOL:
            return [
                Issue(
                    "low_precision",
                    f"{label} is {dtype}: right to single precision (rel. error "
                    f"{err:.0e}), but the checker needs float64",
                    low_precision_hint(dtype),
                )
            ]
        match_tol = LOW_PRECISION_TOL
    # A known mistake (variants may have other shapes than the answer).
    best, best_err = None, math.inf
    for variant in variants:
        if max_rel(variant.arrays, wants) < match_tol:
            # The same as the answer for this output (e.g. a mistake that only
            # shows in another output): an output near it is near the answer.
            continue
        err = max_rel(gots, variant.arrays)
        if err < best_err:
            best, best_err = variant, err
    if best is not None and best_err < match_tol:
        hint = best.hint
        if low:
            hint += f"\nAlso: {label} is {low[0].dtype}. " + low_precision_hint(
                low[0].dtype
            )
        return [Issue(best.tag, best.message, hint)]
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
    if low and any(
        rel_error(g, w) < LOW_PRECISION_TOL for g, w in zip(gots, wants, strict=True)
    ):
        # Right to single precision on some inputs, far off on others (e.g.
        # values near 1e6, where float32 keeps nothing of a spread near 1):
        # the precision is the first thing to fix.
        dtype = low[0].dtype
        return [
            Issue(
                "low_precision",
                f"{label} is {dtype}: right to single precision on some inputs, "
                f"off by rel. error {err:.0e} on {cases[worst]}; the checker "
                "needs float64",
                low_precision_hint(dtype)
                + " Then run the checker again: it can only judge the formula "
                "in float64.",
            )
        ]
    note = ""
    if low:
        note = f" Note: compute in float64 (your arrays are {low[0].dtype})."
    right = [rel_error(g, w) < tol for g, w in zip(gots, wants, strict=True)]
    if any(right):
        wrong = "; ".join(c for c, ok in zip(cases, right, strict=True) if not ok)
        return [
            Issue(
                "right_for_some_inputs",
                f"{label} is right for some test inputs but not for others "
                f"(wrong for: {wrong})",
                "An answer right for some inputs and wrong for others often "
                "hard-codes a number (m, n_l or eps: use the shapes of the arrays "
                "you are given and the function's arguments), or computes "
                "something that only agrees with the formula on some inputs. Run "
                f"it on an input like the one listed and compare step by step.{note}",
            )
        ]
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


def low_precision_hint(dtype) -> str:
    return (
        f"{dtype} keeps about {np.finfo(dtype).precision} significant digits; the "
        "checker compares at 1e-8. Compute in float64, numpy's default: drop "
        "any .astype(np.float32) or dtype=np.float32."
    )


#: eps values a learner may write in place of the eps argument (the mistake
#: "eps_hardcoded"): the package's default, Keras's, Adam's, and their kin.
HARDCODED_EPS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10)


def hardcoded_eps_mistake(value: float, argument: str, tested) -> tuple[str, str]:
    """(message, hint) of the mistake "used eps = value instead of the argument";
    ``tested`` are the eps values the checker passes."""
    values = ", ".join(f"{e:g}" for e in dict.fromkeys(tested))
    return (
        f"you used eps = {value:g} instead of the argument {argument}",
        f"Use {argument}, the value your function is given (the checker passes "
        f"{values}), not a hard-coded {value:g}: Batch Norm layers are built with "
        "different eps values.",
    )


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


def wrong_only_in(gots, refs, suspects, tol: float = TOL) -> bool:
    """True when the outputs are right (same shape, rel_error below ``tol``) in
    every test case whose index is not in ``suspects`` and wrong in at least
    one that is: a mistake that only some special input (a large offset, an
    outlier) can show. NaN counts as wrong."""
    wrong = []
    for k, (got, want) in enumerate(zip(gots, refs, strict=True)):
        got = as_real(got)
        ok = got is not None and got.shape == want.shape and rel_error(got, want) < tol
        if not ok and k not in suspects:
            return False
        wrong.append(not ok)
    return any(wrong)


def one_pass_issue(offset: str, centred: str) -> Issue:
    """The mistake "one-pass variance E[Z**2] - E[Z]**2", right everywhere but on
    values near ``offset`` (e.g. "1e6"); ``centred`` is the two-pass formula to
    use instead, e.g. "((Z - mu)**2).mean(axis=1, keepdims=True)"."""
    return Issue(
        "one_pass_variance",
        f"right everywhere except on values near {offset}, where your variance "
        "lost its precision (one-pass variance mean(Z**2) - mean(Z)**2?)",
        f"mean(Z**2) - mean(Z)**2 subtracts two numbers near ({offset})**2 to get "
        "a variance near 1: float64 keeps about 16 digits, so much of the answer "
        f"is rounding error. Centre first: var = {centred}.",
    )


def column(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def error_sizes(outs, refs) -> tuple[float, float]:
    """(max |diff|, rel_error) of outputs against references, nan if unusable."""
    gots = [as_real(g) for g in outs]
    if any(g is None or g.shape != w.shape for g, w in zip(gots, refs, strict=True)):
        return math.nan, math.nan
    err = max_rel(gots, refs)
    return max_diff(gots, refs), (err if math.isfinite(err) else math.nan)
