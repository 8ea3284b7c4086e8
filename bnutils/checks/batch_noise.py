"""Exercise of notebook 04: :func:`check_batch_mean_std` and
:func:`check_batch_var_std`, the noise of the mini-batch statistics (closed
forms of sigma and m)."""

from __future__ import annotations

import math

import numpy as np

from bnutils.checks.engine import (
    YOUR_CODE,
    CheckResult,
    Fail,
    Issue,
    call_learner,
    describe,
    exception_issue,
    is_low_precision,
    kind_issue,
    run_checker,
)

# --------------------------------------------------------------------------
# The exercise's checkers
# --------------------------------------------------------------------------

#: rel_error below which an answer counts as right, and below which an answer
#: is taken to *be* a named mistake.
CHECK_TOL = 1e-8

#: (sigma, m) pairs the checkers try: sigma != 1 separates sigma from sigma^2,
#: small m separates m from m - 1; odd m, m = 2, a large and a small sigma.
CHECK_CASES = (
    (3.0, 2),
    (0.5, 3),
    (3.0, 10),
    (2.0, 64),
    (0.7, 256),
    (4e3, 7),
    (2e-3, 5),
)

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


def _one_number(label: str, value) -> float:
    """``value`` as a float if it is one real float64 number (or a size-1 array
    of one); else fail with what it is."""
    issue = kind_issue(label, value, "one number")
    if issue is not None:
        if issue.tag == "returned_none":
            issue = Issue("returned_none", f"your function returned None — {YOUR_CODE}")
        raise Fail([issue])
    arr = np.asarray(value)
    if arr.size != 1:
        raise Fail(
            [
                Issue(
                    "wrong_type",
                    f"{label} is an array of shape {arr.shape}; expected one number",
                    "For one sigma and one m, return a single float.",
                )
            ]
        )
    if is_low_precision(arr):
        raise Fail(
            [
                Issue(
                    "low_precision",
                    f"{label} is {arr.dtype}; expected a float64 number",
                    "Compute in float64 (numpy's default): drop any np.float32(...) "
                    "or .astype(np.float32).",
                )
            ]
        )
    return float(arr.reshape(()))


def _worst_rel(got: np.ndarray, want: np.ndarray) -> float:
    """The largest relative error of one entry, |a - b| / (|a| + |b|)."""
    with np.errstate(all="ignore"):
        rel = np.abs(got - want) / np.maximum(np.abs(got) + np.abs(want), 1e-300)
    return float(np.max(rel)) if np.all(np.isfinite(rel)) else math.inf


def _check_closed_form(name: str, fn, ref, mistakes: dict, what: str, verbose: bool):
    signature = f"{name}(sigma, m)"

    def fail(message, tag, hint="", diff=math.nan, err=math.nan):
        raise Fail([Issue(tag, message, hint)], diff, err)

    def body() -> CheckResult:
        gots, wants = [], []
        for sigma, m in CHECK_CASES:
            where = f"sigma = {sigma}, m = {m}"
            outcome = call_learner(fn, [("sigma", sigma), ("m", m)])
            if outcome.error is not None:
                issue = exception_issue(outcome.error, where, signature)
                if issue.tag == "not_implemented":
                    fail(f"raised NotImplementedError — {YOUR_CODE}", "not_implemented")
                issue.message = f"{issue.message} (for {where})"
                raise Fail([issue])
            if outcome.value is None:
                fail(
                    f"your function returned None — {YOUR_CODE}",
                    "returned_none",
                    f"It should return {what}.",
                )
            gots.append(_one_number(f"your result for {where}", outcome.value))
            wants.append(float(ref(sigma, m)))
        got_arr, want_arr = np.array(gots), np.array(wants)
        if not np.all(np.isfinite(got_arr)):
            bad = CHECK_CASES[int(np.argmin(np.isfinite(got_arr)))]
            fail(
                f"returned NaN or inf for sigma = {bad[0]}, m = {bad[1]}",
                "not_finite",
                "Every m >= 2 and sigma > 0 should give a finite positive number.",
            )
        # Case by case: the answers span 1e-4 to 1e7 (sigma from 2e-3 to 4e3),
        # and one relative error over them all would hide the small ones.
        err = _worst_rel(got_arr, want_arr)
        diff = float(np.max(np.abs(got_arr - want_arr)))
        if err >= CHECK_TOL:
            for tag, (formula, message, hint) in mistakes.items():
                variant = np.array([float(formula(s, m)) for s, m in CHECK_CASES])
                if _worst_rel(got_arr, variant) < CHECK_TOL:
                    fail(message, tag, hint, diff, err)
            rel = np.abs(got_arr - want_arr) / np.abs(want_arr)
            k = int(np.argmax(rel))
            s, m = CHECK_CASES[k]
            digits = min(17, max(6, int(np.ceil(-np.log10(max(rel[k], 1e-17)))) + 2))
            right = [
                f"sigma = {s_}, m = {m_}"
                for (s_, m_), r in zip(CHECK_CASES, rel, strict=True)
                if r < CHECK_TOL
            ]
            note = ""
            if right:
                note = (
                    f"\nIt is right for {'; '.join(right)}: look for a hard-coded "
                    "number or an integer division (//) that only suits some m."
                )
            fail(
                f"for sigma = {s}, m = {m} you return {got_arr[k]:.{digits}g}, "
                f"expected {want_arr[k]:.{digits}g} (rel. error {rel[k]:.1e})",
                "wrong_value",
                "Compare your formula with the facts above the exercise, and try "
                f"sigma = 1 and m = 2 by hand.{note}",
                diff,
                err,
            )
        # Right for single numbers; now an array of batch sizes (for plotting).
        # Unsorted, with a repeat: an answer that sorts or de-duplicates m shows.
        m_arr = np.array([32, 2, 128, 8, 32])
        want = np.array([float(ref(2.0, int(mm))) for mm in m_arr])
        outcome = call_learner(fn, [("sigma", 2.0), ("m", m_arr)])
        if outcome.error is not None:
            exc = outcome.error
            fail(
                f"right for one m, but raised {type(exc).__name__} for an array of m: "
                f"{exc}",
                "not_vectorized",
                "Use numpy functions (np.sqrt, not math.sqrt) so that m can be an "
                "array such as np.array([32, 2, 128, 8, 32]).",
                diff,
                err,
            )
        value = outcome.value
        shown = "of m (np.array([32, 2, 128, 8, 32]))"
        arr = None
        if kind_issue("", value, "") is None and not is_low_precision(value):
            arr = np.asarray(value, dtype=np.float64)
        if kind_issue("", value, "") is None and is_low_precision(value):
            fail(
                f"right for one m, but for an array {shown} it returned "
                f"{np.asarray(value).dtype} numbers; expected float64",
                "low_precision",
                "Compute in float64 (numpy's default): drop any np.float32(...) or "
                ".astype(np.float32).",
                diff,
                err,
            )
        if arr is None:
            fail(
                f"right for one m, but for an array {shown} it returned "
                f"{describe(value)}; expected an array of shape {want.shape}",
                "not_vectorized",
                "Use numpy functions (np.sqrt, not math.sqrt) and return their "
                "result, so that every entry of m gets its own answer.",
                diff,
                err,
            )
        if arr.shape != want.shape:
            fail(
                f"right for one m, but for an array {shown} it returned shape "
                f"{arr.shape}; expected {want.shape}, one answer per entry of m",
                "not_vectorized",
                "Use element-wise numpy operations on m (np.sqrt(m), m - 1): no "
                "sum, mean or max over m, no m[0] or len(m).",
                diff,
                err,
            )
        bad = [k for k in range(len(m_arr)) if _worst_rel(arr[k], want[k]) >= CHECK_TOL]
        if bad:
            diff = float(np.max(np.abs(arr - want)))
            err = _worst_rel(arr, want)
            k = bad[0]
            mm = int(m_arr[k])
            alone = call_learner(fn, [("sigma", 2.0), ("m", mm)])
            single = None
            if alone.error is None:
                try:
                    single = _one_number("", alone.value)
                except Fail:
                    single = None
            rel = _worst_rel(arr[k], want[k])
            numbers = (
                f"you return {arr[k]:.6g}, expected {want[k]:.6g} (rel. error "
                f"{rel:.1e})"
            )
            if (
                single is not None
                and _worst_rel(np.float64(single), arr[k]) < CHECK_TOL
            ):
                # Vectorised, and the same on its own: the formula is wrong there.
                tried = ", ".join(
                    str(m_) for m_ in sorted({m_ for _, m_ in CHECK_CASES})
                )
                fail(
                    f"for sigma = 2.0, m = {mm} {numbers}",
                    "wrong_value",
                    f"It is right for the m tried before ({tried}) but not for m = "
                    f"{mm}: look for a hard-coded number, a table of values or a "
                    "branch on m that only suits some m.",
                    diff,
                    err,
                )
            fail(
                f"right for each m alone, but with the array {shown} the entry "
                f"for m = {mm} is wrong: {numbers}",
                "not_vectorized",
                "Each entry of m must get its own answer: use element-wise numpy "
                "operations (np.sqrt(m), m - 1), no m[0], len(m), sum or max over m.",
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

    return run_checker(name, fn, body, verbose, ("sigma", "m"))


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
