"""Exercise of notebooks 00 and 01: :func:`check_normalize_inputs`."""

from __future__ import annotations

import math
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
    max_rel,
    passed_result,
    permutation_issue,
    rel_error,
    run_checker,
    unpack,
)

#: Tolerance of :func:`check_normalize_inputs`: float64 answers, however they
#: are computed, agree with the reference to about 1e-13 on the test cases;
#: outputs rounded to a few decimals (or computed in float32) do not.
NORMALIZE_TOL = 1e-10
#: The largest eps accepted when added to the standard deviation, sigma + eps,
#: or to the variance, sqrt(sigma**2 + eps) (the reference solution adds 1e-8
#: to the variance): such an answer passes with a note (see :func:`_small_eps`).
SMALL_EPS = 1e-8
#: rel_error below which an output counts as "nearly the answer" when naming
#: swapped outputs or a single returned array (not for passing).
_NEAR = 1e-6


# ---------------------------------------------------------------------------
# check_normalize_inputs
# ---------------------------------------------------------------------------

_NORMALIZE_SIGNATURE = (
    "normalize_inputs(X_train, X_test) -> (X_train_norm, X_test_norm)"
)


def _normalize_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(X_train, X_test) pairs: n_x != m, odd m_train, m_train = 2 and m_train
    = 57 (more than a notebook's 40), a large offset (means ~1e3) and a large
    scale (spreads ~1e3 to 1e4). Every feature
    of a training set has a standard deviation of 0.5 or more, so a tiny eps
    (up to about 1e-8) stays within the tolerance."""
    rng = np.random.default_rng(7)
    specs = [
        # train loc, train scale, m_train, test loc, test scale, m_test
        ([5.0, -2.0, 0.3], [2.0, 0.5, 10.0], 40, [5.8, -1.4, 3.0], [2.6, 0.8, 7.0], 15),
        ([1.0, -3.0], [1.0, 1.5], 2, [1.5, -2.0], [1.2, 2.0], 3),
        (
            [1e3, -5e3, 2e3, 8e2],
            [1.0, 3.0, 0.7, 2.0],
            9,
            [1.001e3, -4.998e3, 2.0005e3, 7.99e2],
            [1.5, 2.0, 1.0, 2.5],
            5,
        ),
        (  # more examples than a notebook's 40 (X_train[:, :40] must fail)
            [-1.0, 2.5, 0.0, 4.0, -3.0, 0.7],
            [1.5, 0.8, 3.0, 1.0, 2.2, 0.6],
            57,
            [-0.5, 2.0, 1.0, 4.5, -2.0, 1.0],
            [1.8, 1.0, 2.5, 1.4, 2.0, 0.9],
            12,
        ),
        (
            [0.0, 1e2, -50.0, 0.0, 10.0],
            [1e3, 5e3, 2e3, 1e4, 8e2],
            7,
            [3e2, -1e3, 0.0, 2e3, 0.0],
            [1.2e3, 4e3, 2.5e3, 8e3, 1e3],
            4,
        ),
    ]
    cases = []
    for loc, scale, m, loc_t, scale_t, m_t in specs:
        while True:  # redraw until every training feature spreads enough
            X_train = column(loc) + column(scale) * rng.standard_normal((len(loc), m))
            if np.all(X_train.std(axis=1) >= 0.5):
                break
        X_test = column(loc_t) + column(scale_t) * rng.standard_normal((len(loc), m_t))
        cases.append((X_train, X_test))
    return cases


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
        "test_stats_for_both": ((X_train - mu_te) / sd_te, (X_test - mu_te) / sd_te),
        "min_max": (
            (X_train - X_train.min(axis=1, keepdims=True))
            / np.ptp(X_train, axis=1)[:, None],
            (X_test - X_train.min(axis=1, keepdims=True))
            / np.ptp(X_train, axis=1)[:, None],
        ),
        "median": (
            (X_train - np.median(X_train, axis=1, keepdims=True)) / sd,
            (X_test - np.median(X_train, axis=1, keepdims=True)) / sd,
        ),
    }
    for key, (m, s) in {
        "no_axis": (X_train.mean(), X_train.std()),
        "no_axis_mean": (X_train.mean(), sd),
        "no_axis_std": (mu, X_train.std()),
    }.items():
        variants[key] = ((X_train - m) / s, (X_test - m) / s)
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
    "test_stats_for_both": (
        "you normalized both sets with the TEST set's mean and standard deviation",
        "mu and sigma come from the training set: X_train.mean(axis=1, "
        "keepdims=True) and X_train.std(axis=1, keepdims=True).",
    ),
    "min_max": (
        "you scaled with the minimum and maximum (min-max scaling to [0, 1])",
        "The course standardizes instead: subtract the mean and divide by the "
        "standard deviation, (X - mu) / sigma, so each feature has mean 0 and "
        "variance 1.",
    ),
    "median": (
        "you centered with the median instead of the mean",
        "Subtract the mean: X_train.mean(axis=1, keepdims=True).",
    ),
    "no_axis": (
        "statistics over the whole array (no axis): every feature needs its own "
        "mean and standard deviation",
        "Take them over the examples of each feature: .mean(axis=1, keepdims=True) "
        "and .std(axis=1, keepdims=True), shape (n_x, 1).",
    ),
}
_NORMALIZE_MISTAKES["no_axis_mean"] = _NORMALIZE_MISTAKES["no_axis"]
_NORMALIZE_MISTAKES["no_axis_std"] = _NORMALIZE_MISTAKES["no_axis"]


def check_normalize_inputs(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check input normalization with the training set's statistics.

    Parameters
    ----------
    fn : the learner's ``fn(X_train, X_test) -> (X_train_norm, X_test_norm)``
        with X_train of shape (n_x, m_train) and X_test of shape (n_x, m_test);
        both are normalized with the training set's per-feature mean and
        population standard deviation (ddof=0).
    verbose : print the verdict (and, on failure, the explanation).

    Tolerance: ``rel_error < NORMALIZE_TOL`` (1e-10; float64 answers reach
    about 1e-13, answers rounded to a few decimals do not). A small eps, 0 <
    eps <= SMALL_EPS (1e-8), added to sigma or to sigma² is accepted explicitly:
    the checker measures it and compares with the answer computed with that
    eps (the pass message says so). Using ``ddof=1`` (sample standard
    deviation) is a clearly named failure: it changes the result by about
    1 / (2 m_train), far above the tolerance.

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception (including shapes that
    don't broadcast after statistics over the wrong axis), None, one array
    instead of two, test set normalized with its own statistics, statistics
    over axis 0, division by the variance, only centering, only scaling,
    ddof=1, test set left as is, statistics over train and test together,
    close but outside the tolerance (a large eps, rounded values), inputs
    modified in place; see :mod:`bnutils.checks` for what every checker
    names. Tested on five pairs of sets (see :func:`_normalize_cases`).
    """

    def body() -> CheckResult:
        cases = _normalize_cases()
        descs = [
            f"X_train of shape {X_train.shape}, X_test of shape {X_test.shape}"
            for X_train, X_test in cases
        ]
        names = ("X_train_norm", "X_test_norm")
        outs, refs, tables, modified = [], [], [], []
        for (X_train, X_test), desc in zip(cases, descs, strict=True):
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
                    and rel_error(real, ref[0]) < _NEAR
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
            outs.append(unpack(value, names, "the tuple (X_train_norm, X_test_norm)"))
            refs.append(ref)
            tables.append(variants)
            modified += outcome.modified
        flat = [as_real(p) for o in outs for p in o]
        exact = math.inf
        if all(g is not None for g in flat):
            exact = max_rel(flat, [p for r in refs for p in r])
        eps = None if modified or exact < NORMALIZE_TOL else _small_eps(outs, cases)
        if eps is not None:
            form, value, eps_refs = eps
            return passed_result(
                "normalize_inputs",
                [p for o in outs for p in o],
                [p for r in eps_refs for p in r],
                f" (with a small eps = {value:.1e} added to the {form}, accepted up "
                f"to {SMALL_EPS:.0e})",
            )
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        swapped = permutation_issue(outs, refs, names, tol=_NEAR)
        if swapped is not None:
            issues.append(swapped)
        else:
            part_issues = []
            for j, label in enumerate(names):
                part_variants = [
                    Variant(
                        "no_axis" if key.startswith("no_axis") else key,
                        msg,
                        hint,
                        [table[key][j] for table in tables],
                    )
                    for key, (msg, hint) in _NORMALIZE_MISTAKES.items()
                ]
                part_issues.append(
                    diagnose(
                        label,
                        [o[j] for o in outs],
                        [r[j] for r in refs],
                        part_variants,
                        descs,
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
            flat_outs = [p for o in outs for p in o]
            flat_refs = [p for r in refs for p in r]
            issues += _close_call(train_issues + test_issues, flat_outs, flat_refs)
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise Fail(dedupe(issues), *error_sizes(flat_outs, flat_refs))
        return passed_result("normalize_inputs", flat_outs, flat_refs)

    return run_checker("normalize_inputs", fn, body, verbose, ("X_train", "X_test"))


def _with_eps(X_train, X_test, form: str, eps: float):
    mu = X_train.mean(axis=1, keepdims=True)
    sd = X_train.std(axis=1, keepdims=True)
    sd = sd + eps if form == "standard deviation" else np.sqrt(sd**2 + eps)
    return (X_train - mu) / sd, (X_test - mu) / sd


def _small_eps(outs, cases):
    """(form, eps, references) when the outputs are the answer with a small eps
    (0 < eps <= SMALL_EPS) added to the standard deviation or to the variance,
    within NORMALIZE_TOL; else None. eps is measured on the training feature
    with the smallest spread, where it shows most, and then checked on every
    output of every case."""
    try:
        gots = [(as_real(a), as_real(b)) for a, b in outs]
        if any(g is None for pair in gots for g in pair):
            return None
        k, i = min(
            ((k, i) for k, (X, _) in enumerate(cases) for i in range(X.shape[0])),
            key=lambda ki: cases[ki[0]][0][ki[1]].std(),
        )
        X = cases[k][0][i]
        if gots[k][0].shape != cases[k][0].shape:
            return None
        centred = X - X.mean()
        scale = float(centred @ centred / (centred @ gots[k][0][i]))
        sd = float(X.std())
        for form, eps in (
            ("standard deviation", scale - sd),
            ("variance", scale**2 - sd**2),
        ):
            if not 0 < eps <= SMALL_EPS * (1 + 1e-3):
                continue
            refs = [_with_eps(Xtr, Xte, form, eps) for Xtr, Xte in cases]
            flat_gots = [g for pair in gots for g in pair]
            flat_refs = [r for pair in refs for r in pair]
            if max_rel(flat_gots, flat_refs) < NORMALIZE_TOL:
                return form, eps, refs
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return None
    return None


def _close_call(issues: list[Issue], parts, ref) -> list[Issue]:
    """Explain an output that is close to the answer but outside the tolerance."""
    unnamed = ("unknown", "right_for_some_inputs")
    if not issues or any(i.tag not in unnamed for i in issues):
        return issues
    _, err = error_sizes(parts, ref)
    if err < 1e-3:
        return [
            Issue(
                "close",
                f"very close to the expected but not within the tolerance "
                f"{NORMALIZE_TOL:.0e} (rel. error {err:.1e})",
                "A large eps? Up to 1e-8 added to sigma or to sigma**2 is "
                "accepted; otherwise divide by X_train.std(axis=1, keepdims=True) "
                "itself. Rounded values (np.round, a few decimals)? Return the "
                "full float64 values.",
            )
        ]
    return issues
