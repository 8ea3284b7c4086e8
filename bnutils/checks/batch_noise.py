"""Exercise of notebook 04: :func:`check_batch_mean_std` and
:func:`check_batch_var_std`, the noise of the mini-batch statistics (closed
forms of sigma and m)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from bnutils.checks.engine import CheckResult, rel_error

# --------------------------------------------------------------------------
# The exercise's checkers
# --------------------------------------------------------------------------

#: rel_error below which an answer counts as right, and below which an answer
#: is taken to *be* a named mistake.
CHECK_TOL = 1e-8

#: (sigma, m) pairs the checkers try: sigma != 1 separates sigma from sigma^2,
#: small m separates m from m - 1.
CHECK_CASES = ((3.0, 2), (0.5, 3), (3.0, 10), (2.0, 64), (0.7, 256))

_TODO = "fill in the code marked YOUR CODE HERE"

#: tag -> (formula, message, hint) of the usual mistakes for std(mu_B).
_MEAN_MISTAKES = {
    "m_instead_of_sqrt_m": (
        lambda s, m: s / m,
        "you divided sigma by m; the standard deviation of the mean is sigma / sqrt(m)",
        "Var(mu_B) = sigma² / m, and a standard deviation is the square root of a "
        "variance: sqrt(sigma² / m) = sigma / sqrt(m).",
    ),
    "variance_not_std": (
        lambda s, m: s**2 / m,
        "you returned Var(mu_B) = sigma² / m, the variance; return its square root",
        "The standard deviation is sqrt(sigma² / m) = sigma / np.sqrt(m).",
    ),
    "m_minus_1": (
        lambda s, m: s / np.sqrt(m - 1),
        "you used m - 1; the mean of m independent values has variance sigma² / m "
        "exactly",
        "m - 1 belongs to the variance estimate (one degree of freedom is used by "
        "mu_B), not to the mean itself.",
    ),
    "sigma_squared": (
        lambda s, m: s**2 / np.sqrt(m),
        "you used sigma² where sigma belongs (right only for sigma = 1)",
        "mu_B is in the units of z, like sigma: the answer is sigma / sqrt(m).",
    ),
    "forgot_sigma": (
        lambda s, m: 1.0 / np.sqrt(m),
        "your answer doesn't depend on sigma (right only for sigma = 1)",
        "Scale by the data's standard deviation: sigma / sqrt(m).",
    ),
    "times_sqrt_m": (
        lambda s, m: s * np.sqrt(m),
        "you multiplied by sqrt(m): that is the standard deviation of the sum of m "
        "values, not of their mean",
        "The mean divides the sum by m: sqrt(m) * sigma / m = sigma / sqrt(m).",
    ),
}

#: tag -> (formula, message, hint) of the usual mistakes for std(var_B).
_VAR_MISTAKES = {
    "unbiased_formula": (
        lambda s, m: s**2 * np.sqrt(2.0 / (m - 1)),
        "that is the standard deviation of the UNBIASED variance m/(m-1)·sigma²_B "
        "(Var = 2 sigma⁴/(m-1)); Batch Norm uses the biased sigma²_B",
        "sigma²_B = (m-1)/m times the unbiased variance, so its standard deviation "
        "is (m-1)/m times yours: sigma² sqrt(2(m-1)) / m.",
    ),
    "unbiased_variance_not_std": (
        lambda s, m: 2.0 * s**4 / (m - 1),
        "you returned 2 sigma⁴/(m-1): that is the VARIANCE of the UNBIASED estimate "
        "m/(m-1)·sigma²_B; the exercise asks for the standard deviation of the "
        "biased sigma²_B that Batch Norm uses",
        "Var(sigma²_B) = (sigma²/m)² · Var(chi²_(m-1)) = 2 sigma⁴ (m-1) / m²; take "
        "its square root: sigma² sqrt(2(m-1)) / m.",
    ),
    "m_squared_not_rooted": (
        lambda s, m: s**2 * np.sqrt(2.0 * (m - 1)) / m**2,
        "you divided by m²: the VARIANCE of sigma²_B has the factor 1/m², its "
        "square root (the standard deviation) has 1/m",
        "sqrt(2 sigma⁴ (m-1) / m²) = sigma² sqrt(2(m-1)) / m: the square root "
        "applies to m² too.",
    ),
    "variance_not_std": (
        lambda s, m: 2.0 * s**4 * (m - 1) / m**2,
        "you returned Var(sigma²_B) = 2 sigma⁴ (m-1) / m²; return its square root",
        "The standard deviation is sqrt(2 sigma⁴ (m-1) / m²) = "
        "sigma² sqrt(2(m-1)) / m.",
    ),
    "m_instead_of_m_minus_1": (
        lambda s, m: s**2 * np.sqrt(2.0 / m),
        "you used m degrees of freedom; m·sigma²_B/sigma² is chi-square with m - 1 "
        "(the batch mean uses one up)",
        "Var(chi²_k) = 2k with k = m - 1, so Var(sigma²_B) = (sigma²/m)² · 2(m-1).",
    ),
    "sigma_not_squared": (
        lambda s, m: s * np.sqrt(2.0 * (m - 1)) / m,
        "you used sigma where sigma² belongs: sigma²_B is in squared units, so its "
        "spread scales with sigma²",
        "sigma²_B = (sigma²/m) · chi²_(m-1): the factor in front is sigma²/m.",
    ),
    "forgot_scale": (
        lambda s, m: np.sqrt(2.0 * (m - 1)),
        "you returned the standard deviation of chi²_(m-1) itself; scale it by "
        "sigma²/m",
        "sigma²_B = (sigma²/m) · chi²_(m-1), so multiply sqrt(2(m-1)) by sigma²/m.",
    ),
    "forgot_m_scale": (
        lambda s, m: s**2 * np.sqrt(2.0 * (m - 1)),
        "you forgot to divide by m: sigma²_B = (sigma²/m) · chi²_(m-1)",
        "The answer is sigma² sqrt(2(m-1)) / m.",
    ),
    "forgot_two": (
        lambda s, m: s**2 * np.sqrt(m - 1.0) / m,
        "you forgot the 2 in Var(chi²_k) = 2k",
        "A chi-square variable with k degrees of freedom has mean k and variance 2k.",
    ),
    "mean_formula": (
        lambda s, m: s / np.sqrt(m),
        "that is the standard deviation of the batch MEAN mu_B, not of the "
        "batch variance",
        "Use the chi-square fact: m·sigma²_B/sigma² ~ chi²_(m-1), whose variance "
        "is 2(m-1).",
    ),
}


def _call(fn, *args):
    """Call ``fn`` quietly; returns ``(value, exception)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                return fn(*args), None
            except Exception as exc:  # the learner's code: report, never raise
                return None, exc


def _as_float(value) -> float | None:
    """``value`` as a float if it is one real number (or a size-1 array)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except Exception:  # anything that is not a number
        return None
    if arr.size != 1:
        return None
    return float(arr.reshape(()))


def _check_closed_form(name: str, fn, ref, mistakes: dict, what: str, verbose: bool):
    signature = f"{name}(sigma, m)"

    def fail(message, tag, hint="", diff=math.nan, err=math.nan):
        return CheckResult(name, False, message, diff, err, hint, tag)

    def body() -> CheckResult:
        if not callable(fn):
            return fail(
                f"expected your function, got {type(fn).__name__}",
                "not_callable",
                f"Pass the function itself: check_{name}({name}), without calling it.",
            )
        gots, wants = [], []
        for sigma, m in CHECK_CASES:
            value, exc = _call(fn, sigma, m)
            where = f"sigma = {sigma}, m = {m}"
            if exc is not None:
                if isinstance(exc, NotImplementedError):
                    return fail(
                        f"raised NotImplementedError — {_TODO}", "not_implemented"
                    )
                return fail(
                    f"raised {type(exc).__name__}: {exc} (for {where})",
                    "exception",
                    f"Call {name}({sigma}, {m}) yourself to see the whole traceback.",
                )
            if value is None:
                return fail(
                    f"your function returned None — {_TODO}",
                    "returned_none",
                    f"It should return {what}.",
                )
            got = _as_float(value)
            if got is None:
                return fail(
                    f"for {where} your function returned {type(value).__name__} "
                    f"{value!r:.60}; expected one number",
                    "wrong_type",
                    f"It should return {what}, a single float.",
                )
            gots.append(got)
            wants.append(float(ref(sigma, m)))
        got_arr, want_arr = np.array(gots), np.array(wants)
        if not np.all(np.isfinite(got_arr)):
            bad = CHECK_CASES[int(np.argmin(np.isfinite(got_arr)))]
            return fail(
                f"returned NaN or inf for sigma = {bad[0]}, m = {bad[1]}",
                "not_finite",
                "Every m >= 2 and sigma > 0 should give a finite positive number.",
            )
        err = rel_error(got_arr, want_arr)
        diff = float(np.max(np.abs(got_arr - want_arr)))
        if err >= CHECK_TOL:
            for tag, (formula, message, hint) in mistakes.items():
                variant = np.array([float(formula(s, m)) for s, m in CHECK_CASES])
                if rel_error(got_arr, variant) < CHECK_TOL:
                    return fail(message, tag, hint, diff, err)
            k = int(np.argmax(np.abs(got_arr - want_arr) / np.abs(want_arr)))
            s, m = CHECK_CASES[k]
            return fail(
                f"for sigma = {s}, m = {m} you return {got_arr[k]:.6g}, expected "
                f"{want_arr[k]:.6g} (rel. error {err:.1e})",
                "wrong_value",
                "Compare your formula with the facts above the exercise, and try "
                "sigma = 1 and m = 2 by hand.",
                diff,
                err,
            )
        # Right for single numbers; now an array of batch sizes (for plotting).
        m_arr = np.array([2, 8, 32, 128])
        value, exc = _call(fn, 2.0, m_arr)
        want = np.array([float(ref(2.0, int(mm))) for mm in m_arr])
        if exc is not None:
            return fail(
                f"right for one m, but raised {type(exc).__name__} for an array of m: "
                f"{exc}",
                "not_vectorized",
                "Use numpy functions (np.sqrt, not math.sqrt) so that m can be an "
                "array such as np.array([2, 8, 32, 128]).",
                diff,
                err,
            )
        try:
            arr = (
                None
                if isinstance(value, (str, bytes))
                else np.asarray(value, dtype=np.float64)
            )
        except Exception:  # not numbers
            arr = None
        if arr is None or arr.shape != want.shape or rel_error(arr, want) >= CHECK_TOL:
            shape = "None" if arr is None else str(arr.shape)
            return fail(
                "right for one m, but not for an array of m (got shape "
                f"{shape}, expected {want.shape})",
                "not_vectorized",
                "Write it with numpy operations only, so that every entry of m gets "
                "its own answer.",
                diff,
                err,
            )
        return CheckResult(
            name,
            True,
            f"passed — max |diff| {diff:.1e}, rel. error {err:.1e}",
            diff,
            err,
        )

    try:
        result = body()
    except Exception as exc:  # anything unexpected: say so, never raise
        result = CheckResult(
            name,
            False,
            f"I could not analyse your function's output ({type(exc).__name__}: {exc})",
            hint=f"Check that {signature} returns one float.",
            mistake="unanalysable",
        )
    if verbose:
        print(result)
    return result


def check_batch_mean_std(fn, *, verbose: bool = True) -> CheckResult:
    """Check the learner's ``batch_mean_std(sigma, m)`` (std of ``mu_B``).

    Tries the pairs in :data:`CHECK_CASES` and an array of batch sizes; never
    raises. Named mistakes: None, exceptions, non-numbers, NaN, ``sigma / m``,
    ``sigma**2 / m``, ``sigma / sqrt(m - 1)``, ``sigma**2 / sqrt(m)``,
    ``1 / sqrt(m)``, ``sigma * sqrt(m)``, and not accepting an array ``m``.
    Prints the verdict (``verbose``) and returns a
    :class:`bnutils.checks.CheckResult`.
    """
    return _check_closed_form(
        "batch_mean_std",
        fn,
        lambda s, m: s / math.sqrt(m),
        _MEAN_MISTAKES,
        "the standard deviation of mu_B over random mini-batches",
        verbose,
    )


def check_batch_var_std(fn, *, verbose: bool = True) -> CheckResult:
    """Check the learner's ``batch_var_std(sigma, m)`` (std of the biased ``var_B``).

    Like :func:`check_batch_mean_std`. Named mistakes: the unbiased-variance
    formula ``sigma**2 sqrt(2/(m-1))`` (or its square, ``2 sigma**4/(m-1)``),
    the variance returned instead of the standard deviation, ``m**2`` left
    outside the square root, ``m`` for ``m - 1``, ``sigma`` for ``sigma**2``,
    a missing ``sigma**2 / m`` or ``1 / m`` scale, a missing factor 2, the
    formula of the mean, and not accepting an array ``m``.
    """
    return _check_closed_form(
        "batch_var_std",
        fn,
        lambda s, m: s**2 * math.sqrt(2.0 * (m - 1)) / m,
        _VAR_MISTAKES,
        "the standard deviation of the biased variance sigma²_B over random "
        "mini-batches",
        verbose,
    )
