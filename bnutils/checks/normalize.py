"""Exercise of notebooks 00 and 01: :func:`check_normalize_inputs`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Issue,
    Variant,
    as_real,
    call_learner,
    column,
    dedupe,
    diagnose,
    error_sizes,
    exception_issue,
    in_place_issue,
    passed_result,
    permutation_issue,
    rel_error,
    run_checker,
    unpack,
)

#: Tolerance of :func:`check_normalize_inputs`: accepts a small eps (up to
#: about 1e-8) added to the standard deviation or to the variance.
NORMALIZE_TOL = 1e-6


# ---------------------------------------------------------------------------
# check_normalize_inputs
# ---------------------------------------------------------------------------

_NORMALIZE_SIGNATURE = (
    "normalize_inputs(X_train, X_test) -> (X_train_norm, X_test_norm)"
)


def _normalize_case():
    rng = np.random.default_rng(7)
    X_train = column([5.0, -2.0, 0.3]) + column([2.0, 0.5, 10.0]) * (
        rng.standard_normal((3, 40))
    )
    X_test = column([5.8, -1.4, 3.0]) + column([2.6, 0.8, 7.0]) * (
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
        outcome = call_learner(fn, [("X_train", X_train), ("X_test", X_test)])
        if outcome.error is not None:
            raise Fail([exception_issue(outcome.error, desc, _NORMALIZE_SIGNATURE)])
        ref, variants = _normalize_variants(X_train, X_test)
        value = outcome.value
        if isinstance(value, np.ndarray):
            real = as_real(value)
            same = (
                real is not None
                and real.shape == ref[0].shape
                and rel_error(real, ref[0]) < NORMALIZE_TOL
            )
            note = " (it matches X_train_norm)" if same else ""
            raise Fail(
                [
                    Issue(
                        "single_output",
                        "your function returned one array; return both "
                        f"(X_train_norm, X_test_norm){note}",
                        "End with `return X_train_norm, X_test_norm`.",
                    )
                ]
            )
        names = ("X_train_norm", "X_test_norm")
        parts = unpack(value, names, "the tuple (X_train_norm, X_test_norm)")
        issues = []
        if outcome.modified:
            issues.append(in_place_issue(outcome.modified))
        swapped = permutation_issue([parts], [ref], names, tol=NORMALIZE_TOL)
        if swapped is not None:
            issues.append(swapped)
        else:
            part_issues = []
            for j, label in enumerate(names):
                part_variants = [
                    Variant(tag, msg, hint, [variants[tag][j]])
                    for tag, (msg, hint) in _NORMALIZE_MISTAKES.items()
                ]
                part_issues.append(
                    diagnose(
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
            raise Fail(dedupe(issues), *error_sizes(parts, ref))
        return passed_result("normalize_inputs", parts, ref)

    return run_checker("normalize_inputs", fn, body, verbose)


def _close_call(issues: list[Issue], parts, ref) -> list[Issue]:
    """Explain an output that is close to the answer but outside the tolerance."""
    if not issues or any(i.tag != "unknown" for i in issues):
        return issues
    _, err = error_sizes(parts, ref)
    if err < 1e-3:
        return [
            Issue(
                "close",
                f"very close to the expected but not within the tolerance "
                f"{NORMALIZE_TOL:.0e} (rel. error {err:.1e})",
                "A large eps? Up to 1e-8 is accepted; otherwise divide by "
                "X_train.std(axis=1, keepdims=True) itself.",
            )
        ]
    return issues
