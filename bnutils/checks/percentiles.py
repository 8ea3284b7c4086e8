"""Exercise of notebook 05: :func:`check_percentiles_over_training`, the 15th,
50th and 85th percentiles of a unit's input at each recorded step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    LOW_PRECISION_TOL,
    YOUR_CODE,
    CheckResult,
    Fail,
    Issue,
    call_learner,
    failing_line,
    is_low_precision,
    kind_issue,
    rel_error,
    run_checker,
    short,
)

_EX_NAME = "percentiles_over_training"
_TOL = 1e-8  # rel_error below which an answer is right
_MATCH = 1e-7  # rel_error below which an answer is taken to be a named variant
_AxisError = getattr(np, "exceptions", np).AxisError
_METHODS = (
    "lower",
    "higher",
    "nearest",
    "midpoint",
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "median_unbiased",
    "normal_unbiased",
)


def _exercise_cases() -> list[np.ndarray]:
    """Skewed, drifting unit inputs (n_records, n_probe): percentiles differ
    from mean +- std, and the interpolation rule matters. Shapes (6, 37) (0.15
    * 36 and 0.85 * 36 fall between examples), (4, 2), (5, 11) around a large
    offset (1e4) and (8, 20) at a large scale (1e4): n_records != n_probe,
    neither is 3, odd n_probe and n_probe = 2."""
    rng = np.random.default_rng(2015)

    def drifting(n_records, n_probe, offset=0.0, scale=1.0):
        base = rng.lognormal(0.0, 0.8, size=(n_records, n_probe))
        shift = np.linspace(0.0, -3.0, n_records)[:, None]
        spread = np.linspace(0.5, 2.0, n_records)[:, None]
        return offset + scale * (shift + spread * base)

    return [
        drifting(6, 37),
        drifting(4, 2),
        drifting(5, 11, offset=1e4),
        drifting(8, 20, scale=1e4),
    ]


def _percentiles_ref(U: np.ndarray, q=(15, 50, 85)) -> np.ndarray:
    """Linear-interpolation percentiles written out (not np.percentile).

    U : (n_records, n); returns (n_records, len(q))."""
    S = np.sort(U, axis=1)
    n = S.shape[1]
    h = (n - 1) * np.asarray(q, dtype=np.float64) / 100.0
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = h - lo
    return S[:, lo] + frac * (S[:, hi] - S[:, lo])


def _other_methods(U: np.ndarray) -> dict:
    """np.percentile's other definitions of a percentile: name -> (n_rec, 3)."""
    return {
        method: np.percentile(U, [15, 50, 85], axis=1, method=method).T
        for method in _METHODS
    }


def _named(U: np.ndarray, ref: np.ndarray) -> list[tuple[str, np.ndarray, str, str]]:
    """(tag, what the mistake gives, message, hint) of the usual mistakes."""
    mean = U.mean(axis=1, keepdims=True)
    mean_std = (
        "mean - std, mean, mean + std instead of percentiles",
        "For a Gaussian these are close to the 16th/50th/84th percentiles, but "
        "a unit's input is often skewed; Figure 1 plots percentiles: "
        "np.percentile(unit_inputs, [15, 50, 85], axis=1).",
    )
    out = [
        (
            "fractions",
            np.percentile(U, [0.15, 0.5, 0.85], axis=1).T,
            "percents given as fractions: np.percentile(x, 0.15) is the 0.15th "
            "percentile, almost the minimum",
            "np.percentile takes percents: [15, 50, 85] (np.quantile takes "
            "fractions: [0.15, 0.5, 0.85]).",
        ),
        (
            "reversed",
            ref[:, ::-1],
            "the columns are in reverse order (85th, 50th, 15th)",
            "Order the columns 15th, 50th, 85th: lowest first.",
        ),
        (
            "records_reversed",
            ref[::-1],
            "the records (rows) are in reverse order: the last step comes first",
            "Keep the rows in the order of unit_inputs: row k is record k.",
        ),
    ]
    for ddof in (0, 1):
        std = U.std(axis=1, ddof=ddof, keepdims=True)
        out.append(("mean_std", np.hstack([mean - std, mean, mean + std]), *mean_std))
    return out


def _exception_issue(exc: Exception, desc: str) -> Issue:
    text = f"{type(exc).__name__}: {short(str(exc))}"
    line = failing_line(exc)
    where = f"\nIt failed at: {line} (test input: {desc})." if line else ""
    if isinstance(exc, NotImplementedError):
        return Issue(
            "not_implemented",
            f"raised NotImplementedError — {YOUR_CODE}",
            "Write the body of percentiles_over_training(unit_inputs).",
        )
    if "in the range [0, 1]" in str(exc) or "range [0,1]" in str(exc):
        return Issue(
            "quantile_with_percents",
            f"your function raised {text}",
            "np.quantile takes fractions (0.15, 0.5, 0.85); np.percentile takes "
            "percents (15, 50, 85). Use one with the other's numbers and you get "
            "this error." + where,
        )
    if isinstance(exc, _AxisError):
        return Issue(
            "bad_axis",
            f"your function raised {text}",
            "unit_inputs is 2-D, (n_records, n_probe): the examples are axis=1."
            + where,
        )
    if isinstance(exc, IndexError):
        return Issue(
            "index_out_of_range",
            f"your function raised {text}",
            "An index past the end of an array. If you index the sorted values "
            "yourself, compute the positions from the number of probe examples "
            "n = unit_inputs.shape[1] (not shape[0], the number of records, and "
            "not a fixed number): they run from 0 to n - 1. np.percentile(..., "
            "axis=1) does it for you." + where,
        )
    return Issue(
        "exception",
        f"your function raised {text}",
        "It should take one array of shape (n_records, n_probe) and return an "
        "array of shape (n_records, 3)." + where,
    )


def _as_array(out, ref: np.ndarray) -> np.ndarray:
    """The learner's output as a float64 array, or Fail (a list or tuple is
    refused like in the other checkers: the notebook's figure code indexes the
    result as an array)."""
    want = f"a numpy array of shape {ref.shape}"
    if out is None:
        raise Fail(
            [
                Issue(
                    "returned_none",
                    f"your function returned None — {YOUR_CODE}",
                    "Return the array of shape (n_records, 3).",
                )
            ]
        )
    if isinstance(out, (list, tuple)):
        raise Fail([_list_issue(out, ref, want)])
    arr = out
    issue = kind_issue("your result", arr, want)
    if issue is not None:
        raise Fail([Issue("not_array", issue.message, issue.hint or f"Return {want}.")])
    arr = np.asarray(arr)
    if is_low_precision(arr):
        right = arr.shape == ref.shape and rel_error(arr, ref) < LOW_PRECISION_TOL
        note = " (its values are right to that precision)" if right else ""
        raise Fail(
            [
                Issue(
                    "low_precision",
                    f"your result is {arr.dtype}{note}; expected float64",
                    "Compute in float64, numpy's default: drop any "
                    ".astype(np.float32) or dtype=np.float32.",
                )
            ]
        )
    return arr.astype(np.float64)


def _list_issue(out, ref: np.ndarray, want: str) -> Issue:
    kind = type(out).__name__
    nested = bool(out) and all(isinstance(v, (list, tuple)) for v in out)
    what = f"a {kind} of {kind}s" if nested else f"a {kind}"
    note = ""
    try:
        arr = np.asarray(out, dtype=np.float64)
    except Exception:  # ragged, not numbers, too large, a raising __array__
        arr = None
    if arr is not None and arr.shape == ref.shape and rel_error(arr, ref) < _TOL:
        note = " As an array its values would be right."
    elif arr is not None and arr.shape == ref.T.shape:
        note = " As an array it would also be transposed (shape (3, n_records))."
    return Issue(
        "not_array",
        f"your function returned {what} (length {len(out)}); expected {want}",
        "Return the numpy array itself: no .tolist(), list(...) or list "
        f"comprehension around it (or wrap it in np.asarray).{note}",
    )


def _shape_issue(got: np.ndarray, U: np.ndarray, ref: np.ndarray) -> Issue:
    n_rec, n_probe = U.shape
    want = f"({n_rec}, 3)"
    if got.shape == (3, n_rec) and rel_error(got.T, ref) < _TOL:
        return Issue(
            "transposed",
            f"transposed: shape {got.shape}, expected {want}",
            "np.percentile(unit_inputs, [15, 50, 85], axis=1) has one row per "
            "percentile; transpose it (.T) so that each record is a row and "
            "the three percentiles are the columns.",
        )
    if got.shape in ((3, n_probe), (n_probe, 3)):
        return Issue(
            "wrong_axis",
            f"percentiles over the records (axis=0): shape {got.shape}, "
            f"expected {want}",
            "Each record (row) is one distribution: take the percentiles over the "
            "probe examples, axis=1, not over training time.",
        )
    if got.shape == (3,):
        return Issue(
            "no_axis",
            "three numbers for the whole history: shape (3,), expected " + want,
            "Without axis=1, np.percentile pools every record together. The figure "
            "needs the three percentiles of each record separately.",
        )
    if got.shape == (n_rec,):
        return Issue(
            "one_percentile",
            f"one number per record: shape {got.shape}, expected {want}",
            "Return all three percentiles (15, 50, 85) of each record.",
        )
    return Issue(
        "wrong_shape",
        f"wrong shape {got.shape}, expected {want} (for unit_inputs of shape "
        f"{U.shape})",
        "One row per record, one column per percentile (15th, 50th, 85th); the "
        "shape follows unit_inputs, so compute it from unit_inputs, not from "
        "fixed numbers.",
    )


def _share_of_spread(runs) -> float:
    """The largest |got - ref| of a record over its 15th-85th percentile range
    (the reference's), over all records of all cases."""
    worst = 0.0
    for _, ref, got, _ in runs:
        spread = np.maximum(ref[:, 2] - ref[:, 0], np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(got - ref).max(axis=1) / spread)))
    return worst


def _sizes(runs) -> tuple[float, float]:
    """(max |diff|, rel_error) over all cases."""
    diff = max(float(np.max(np.abs(got - ref))) for _, ref, got, _ in runs)
    err = max(rel_error(got, ref) for _, ref, got, _ in runs)
    return diff, err


def check_percentiles_over_training(fn: Callable, *, verbose: bool = True):
    """Check the exercise ``percentiles_over_training(unit_inputs)``.

    Runs ``fn`` on copies of four skewed, drifting test cases (shapes (6, 37),
    (4, 2), (5, 11) around 1e4 and (8, 20) scaled by 1e4) and compares with an
    independent reference (sorting and linear interpolation). Never raises:
    exceptions, ``None``, wrong types, wrong shapes, NaN and in-place changes
    become a failing :class:`~bnutils.checks.CheckResult` that names the likely
    mistake (over the wrong axis, transposed, fractions instead of percents,
    reversed order, mean +- std, an index past the end, sorting the input in
    place, a function that reads the notebook's ``U``, a list instead of an
    array). Another standard percentile definition of np.percentile (nearest
    rank, ...) used for every case passes with a note that says how far it is
    from the default relative to each record's 15th-85th percentile range.
    Prints the verdict when ``verbose``.
    """

    def body() -> CheckResult:
        runs = []
        for U in _exercise_cases():
            desc = f"unit_inputs of shape {U.shape}"
            ref = _percentiles_ref(U)
            outcome = call_learner(fn, [("unit_inputs", U)])
            if outcome.error is not None:
                raise Fail([_exception_issue(outcome.error, desc)])
            got = _as_array(outcome.value, ref)
            if got.shape != ref.shape:
                raise Fail([_shape_issue(got, U, ref)])
            if not np.all(np.isfinite(got)):
                raise Fail(
                    [
                        Issue(
                            "nonfinite",
                            f"the result contains NaN or inf ({desc})",
                            "The test input is finite; check divisions and the "
                            "indices you use.",
                        )
                    ]
                )
            runs.append((U, ref, got, desc))
            if outcome.modified:
                raise Fail(
                    [
                        Issue(
                            "in_place",
                            "your function changed unit_inputs in place (sorted it?)",
                            "unit_inputs is the recorded history: a function that "
                            "measures it must not change it. unit_inputs.sort("
                            "axis=1) sorts the caller's array; use np.sort("
                            "unit_inputs, axis=1) (a copy) or np.percentile.",
                        )
                    ],
                    *_sizes(runs),
                )
        return _value_verdict(runs)

    return run_checker(
        _EX_NAME, fn, body, verbose, ("unit_inputs",), {"U": "unit_inputs"}
    )


def _value_verdict(runs) -> CheckResult:
    diff, err = _sizes(runs)
    right = [rel_error(got, ref) < _TOL for _, ref, got, _ in runs]
    if all(right):
        return CheckResult(
            _EX_NAME,
            True,
            f"passed — max |diff| {diff:.1e}, rel. error {err:.1e}",
            diff,
            err,
        )
    for method in _METHODS:
        if all(
            rel_error(got, np.percentile(U, [15, 50, 85], axis=1, method=method).T)
            < _MATCH
            for U, _, got, _ in runs
        ):
            share = _share_of_spread(runs)
            sizes = sorted({U.shape[1] for U, *_ in runs})
            return CheckResult(
                _EX_NAME,
                True,
                f"passed — your percentiles follow the {method!r} rule; "
                "np.percentile's default interpolates linearly between neighbours. "
                f"On these small test sets ({sizes[0]} to {sizes[-1]} examples per "
                f"record) the two differ by up to {share:.0%} of a record's 15th-"
                "85th percentile range; the gap shrinks about like 1/n, so with "
                "the notebook's 500 probe examples the curves look the same",
                diff,
                err,
            )
    failing = [run for run, ok in zip(runs, right, strict=True) if not ok]
    first = failing[0]
    for tag, _, message, hint in _named(first[0], first[1]):
        if all(
            any(
                t == tag and rel_error(got, cand) < _MATCH
                for t, cand, _, _ in _named(U, ref)
            )
            for U, ref, got, _ in failing
        ):
            raise Fail([Issue(tag, message, hint)], diff, err)
    names = ("15th", "50th", "85th")
    bad_cols = set()
    for _, ref, got, _ in failing:
        cols_ok = [rel_error(got[:, j], ref[:, j]) < _TOL for j in range(3)]
        if not any(cols_ok):
            break
        bad_cols |= {j for j in range(3) if not cols_ok[j]}
    else:
        bad = ", ".join(names[j] for j in sorted(bad_cols))
        raise Fail(
            [
                Issue(
                    "wrong_column",
                    f"the {bad} percentile column is wrong (the others are right)",
                    "Check the percent you ask for in that column.",
                )
            ],
            diff,
            err,
        )
    if any(right):
        wrong = "; ".join(desc for *_, desc in failing)
        raise Fail(
            [
                Issue(
                    "right_for_some_inputs",
                    f"right for some test inputs but not for others (wrong for: "
                    f"{wrong})",
                    "An answer right for some inputs and wrong for others often "
                    "hard-codes a number (use n = unit_inputs.shape[1], the number "
                    "of probe examples), or transforms the values (abs, rounding, "
                    "clipping) in a way that only some inputs don't notice. "
                    "Compare with np.percentile(unit_inputs, [15, 50, 85], "
                    "axis=1).T on the inputs listed.",
                )
            ],
            diff,
            err,
        )
    worst = max(failing, key=lambda run: rel_error(run[2], run[1]))
    raise Fail(
        [
            Issue(
                "wrong_values",
                f"wrong values (rel. error {err:.1e}, largest for {worst[3]})",
                "Expected np.percentile(unit_inputs, [15, 50, 85], axis=1).T: for "
                "each record (row), the 15th, 50th and 85th percentile over the "
                "probe examples.",
            )
        ],
        diff,
        err,
    )
