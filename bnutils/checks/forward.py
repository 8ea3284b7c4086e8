"""Exercise of notebook 02: :func:`check_batchnorm_forward` (training mode)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Issue,
    Variant,
    call_learner,
    column,
    dedupe,
    diagnose,
    error_sizes,
    exception_issue,
    in_place_issue,
    passed_result,
    run_checker,
    unpack,
)


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
    gamma = column([1.5, 0.7, 2.0, 0.3])
    beta = column([-0.4, 0.9, 0.2, -1.3])
    Z1 = column([2.0, -1.0, 0.5, 3.0]) + column([0.5, 2.0, 1.0, 3.0]) * (
        rng.standard_normal((4, 7))
    )
    Z2 = column([1.0, -0.5, 0.0, 0.8]) + column([0.2, 0.35, 0.15, 0.3]) * (
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
            outcome = call_learner(fn, args)
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, _FORWARD_SIGNATURE)])
            value = outcome.value
            if isinstance(value, np.ndarray):
                single = True
                outs.append(value)
            else:
                outs.append(
                    unpack(value, ("Z_tilde", "cache"), "the pair (Z_tilde, cache)")[0]
                )
            modified += outcome.modified
        variants = [
            Variant(tag, *_FORWARD_MISTAKES[tag], arrays=[])
            for tag in _FORWARD_MISTAKES
        ]
        for case in cases:
            computed = _forward_variants(**case)
            for variant in variants:
                variant.arrays.append(computed[variant.tag])
        issues = diagnose("Z_tilde", outs, refs, variants, descs)
        if single:
            verdict = (
                "its values are right"
                if not issues
                else f"and it has a problem too: {issues[0].message}"
            )
            issues = [
                Issue(
                    "single_output",
                    "your function returned one array; return the pair "
                    "(Z_tilde, cache)",
                    f"The returned array is Z_tilde ({verdict}). End with `return "
                    "Z_tilde, cache`, where cache holds what the backward pass "
                    "needs (e.g. Z_norm, inv_std, gamma).",
                )
            ] + ([in_place_issue(modified)] if modified else [])
        elif modified:
            issues.insert(0, in_place_issue(modified))
        if not issues:
            return passed_result("batchnorm_forward", outs, refs)
        if issues[0].tag == "unknown":
            issues[0].hint += f"\nThe steps: {_FORWARD_STEPS}"
        raise Fail(dedupe(issues), *error_sizes(outs, refs))

    return run_checker("batchnorm_forward", fn, body, verbose)
