"""Exercise of notebook 05: :func:`check_percentiles_over_training`, the 15th,
50th and 85th percentiles of a unit's input at each recorded step."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import CheckResult, rel_error

# ---------------------------------------------------------------------------
# Exercise: the three curves of Figure 1 (b, c)
# ---------------------------------------------------------------------------


_EX_NAME = "percentiles_over_training"
_EX_RECORDS, _EX_PROBE = 6, 37  # 0.15 * 36 and 0.85 * 36 fall between examples


def _exercise_case() -> np.ndarray:
    """A skewed, drifting unit input, shape (6, 37): percentiles differ from
    mean +- std, and the interpolation rule matters."""
    rng = np.random.default_rng(2015)
    base = rng.lognormal(0.0, 0.8, size=(_EX_RECORDS, _EX_PROBE))
    shift = np.linspace(0.0, -3.0, _EX_RECORDS)[:, None]
    scale = np.linspace(0.5, 2.0, _EX_RECORDS)[:, None]
    return shift + scale * base


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


def _fail(message: str, hint: str, mistake: str, got=None, ref=None) -> CheckResult:
    diff = err = math.nan
    if got is not None and ref is not None and got.shape == ref.shape:
        diff = float(np.max(np.abs(got - ref)))
        err = rel_error(got, ref)
    return CheckResult(_EX_NAME, False, message, diff, err, hint, mistake)


def _other_methods(U: np.ndarray) -> dict:
    """np.percentile's other definitions of a percentile: name -> (n_rec, 3)."""
    out = {}
    for method in (
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
    ):
        out[method] = np.percentile(U, [15, 50, 85], axis=1, method=method).T
    return out


def _diagnose_exception(exc: Exception) -> CheckResult:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return _fail(
            "not written yet (NotImplementedError)",
            "Fill in the code marked YOUR CODE HERE.",
            "not_implemented",
        )
    if "in the range [0, 1]" in str(exc) or "range [0,1]" in str(exc):
        return _fail(
            f"your function raised {text}",
            "np.quantile takes fractions (0.15, 0.5, 0.85); np.percentile takes "
            "percents (15, 50, 85). Use one with the other's numbers and you get "
            "this error.",
            "quantile_with_percents",
        )
    if "axis" in str(exc) and "out of bounds" in str(exc):
        return _fail(
            f"your function raised {text}",
            "unit_inputs is 2-D, (n_records, n_probe): the examples are axis=1.",
            "bad_axis",
        )
    return _fail(
        f"your function raised {text}",
        "It should take one array of shape (n_records, n_probe) and return an "
        "array of shape (n_records, 3).",
        "exception",
    )


def check_percentiles_over_training(fn: Callable, *, verbose: bool = True):
    """Check the exercise ``percentiles_over_training(unit_inputs)``.

    Runs ``fn`` on a copy of a skewed, drifting test case of shape (6, 37) and
    compares with an independent reference (sorting and linear interpolation).
    Never raises: exceptions, ``None``, wrong shapes, NaN and in-place changes
    become a failing :class:`~bnutils.checks.CheckResult` that names the likely
    mistake (over the wrong axis, transposed, fractions instead of percents,
    reversed order, mean +- std, sorting the input in place). Other standard
    percentile definitions (nearest rank, ...) pass with a note. Prints the
    verdict when ``verbose``.
    """
    result = _check_percentiles(fn)
    if verbose:
        print(result)
    return result


def _check_percentiles(fn) -> CheckResult:
    if not callable(fn):
        return _fail(
            f"expected your function, got {type(fn).__name__}",
            "Pass the function itself: check_percentiles_over_training("
            "percentiles_over_training), without calling it.",
            "not_callable",
        )
    U = _exercise_case()
    U_in = U.copy()
    ref = _percentiles_ref(U)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn(U_in)
    except Exception as exc:  # the learner's bug becomes a verdict
        return _diagnose_exception(exc)
    warn = f"\nYour function also warned: {caught[0].message}" if caught else ""
    in_place = not np.array_equal(U_in, U)
    if out is None:
        return _fail(
            "returned None",
            "Fill in the code marked YOUR CODE HERE and return the array." + warn,
            "returned_none",
        )
    try:
        got = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        return _fail(
            f"returned {type(out).__name__}, not an array of numbers",
            "Return a numpy array of shape (n_records, 3)." + warn,
            "not_array",
        )
    if got.shape != ref.shape:
        return _shape_verdict(got, U, ref, warn)
    if not np.all(np.isfinite(got)):
        return _fail(
            "the result contains NaN or inf",
            "The test input is finite; check divisions and the indices you use." + warn,
            "nonfinite",
        )
    if in_place:
        return _fail(
            "your function changed unit_inputs in place (sorted it?)",
            "unit_inputs is the recorded history: a function that measures it must "
            "not change it. unit_inputs.sort(axis=1) sorts the caller's array; use "
            "np.sort(unit_inputs, axis=1) (a copy) or np.percentile." + warn,
            "in_place",
            got,
            ref,
        )
    err = rel_error(got, ref)
    if err < 1e-8:
        diff = float(np.max(np.abs(got - ref)))
        return CheckResult(
            _EX_NAME,
            True,
            f"passed — max |diff| {diff:.1e}, rel. error {err:.1e}",
            diff,
            err,
        )
    return _value_verdict(got, U, ref, warn)


def _shape_verdict(got, U, ref, warn) -> CheckResult:
    n_rec, n_probe = U.shape
    want = f"({n_rec}, 3)"
    if got.shape == (3, n_rec):
        if rel_error(got.T, ref) < 1e-8:
            return _fail(
                f"transposed: shape {got.shape}, expected {want}",
                "np.percentile(unit_inputs, [15, 50, 85], axis=1) has one row per "
                "percentile; transpose it (.T) so that each record is a row and "
                "the three percentiles are the columns." + warn,
                "transposed",
            )
    if got.shape in ((3, n_probe), (n_probe, 3)):
        return _fail(
            f"percentiles over the records (axis=0): shape {got.shape}, "
            f"expected {want}",
            "Each record (row) is one distribution: take the percentiles over the "
            "probe examples, axis=1, not over training time." + warn,
            "wrong_axis",
        )
    if got.shape == (3,):
        return _fail(
            "three numbers for the whole history: shape (3,), expected " + want,
            "Without axis=1, np.percentile pools every record together. The figure "
            "needs the three percentiles of each record separately." + warn,
            "no_axis",
        )
    if got.shape == (n_rec,):
        return _fail(
            f"one number per record: shape {got.shape}, expected {want}",
            "Return all three percentiles (15, 50, 85) of each record." + warn,
            "one_percentile",
        )
    return _fail(
        f"wrong shape {got.shape}, expected {want}",
        "One row per record, one column per percentile (15th, 50th, 85th)." + warn,
        "wrong_shape",
    )


def _value_verdict(got, U, ref, warn) -> CheckResult:
    def matches(candidate) -> bool:
        return rel_error(got, candidate) < 1e-7

    mean = U.mean(axis=1, keepdims=True)
    named = [
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
            "mean_std",
            np.hstack(
                [
                    mean - U.std(axis=1, keepdims=True),
                    mean,
                    mean + U.std(axis=1, keepdims=True),
                ]
            ),
            "mean - std, mean, mean + std instead of percentiles",
            "For a Gaussian these are close to the 16th/50th/84th percentiles, but "
            "a unit's input is often skewed; Figure 1 plots percentiles: "
            "np.percentile(unit_inputs, [15, 50, 85], axis=1).",
        ),
        (
            "mean_std",
            np.hstack(
                [
                    mean - U.std(axis=1, ddof=1, keepdims=True),
                    mean,
                    mean + U.std(axis=1, ddof=1, keepdims=True),
                ]
            ),
            "mean - std, mean, mean + std instead of percentiles",
            "For a Gaussian these are close to the 16th/50th/84th percentiles, but "
            "a unit's input is often skewed; Figure 1 plots percentiles: "
            "np.percentile(unit_inputs, [15, 50, 85], axis=1).",
        ),
    ]
    for tag, cand, message, hint in named:
        if matches(cand):
            return _fail(message, hint + warn, tag, got, ref)
    for method, cand in _other_methods(U).items():
        if matches(cand):
            diff = float(np.max(np.abs(got - ref)))
            return CheckResult(
                _EX_NAME,
                True,
                f"passed — your percentiles follow the {method!r} rule; "
                "np.percentile's default interpolates linearly between neighbours "
                f"(max |diff| {diff:.2g} here, negligible for 500 examples)",
                diff,
                rel_error(got, ref),
            )
    cols_ok = [rel_error(got[:, j], ref[:, j]) < 1e-8 for j in range(3)]
    if any(cols_ok):
        names = ("15th", "50th", "85th")
        bad = ", ".join(n for n, ok in zip(names, cols_ok, strict=True) if not ok)
        return _fail(
            f"the {bad} percentile column is wrong (the others are right)",
            "Check the percent you ask for in that column." + warn,
            "wrong_column",
            got,
            ref,
        )
    return _fail(
        f"wrong values (rel. error {rel_error(got, ref):.1e})",
        "Expected np.percentile(unit_inputs, [15, 50, 85], axis=1).T: for each "
        "record (row), the 15th, 50th and 85th percentile over the probe "
        "examples." + warn,
        "wrong_values",
        got,
        ref,
    )
