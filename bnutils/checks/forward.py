"""Exercise of notebook 02: :func:`check_batchnorm_forward` (training mode)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    HARDCODED_EPS,
    MATCH_TOL,
    TOL,
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
    hardcoded_eps_mistake,
    in_place_issue,
    max_rel,
    one_pass_issue,
    passed_result,
    run_checker,
    unpack,
    wrong_only_in,
)


def _bn_train_ref(Z, gamma, beta, eps):
    """Batch Norm in training mode, written out (independent reference)."""
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return gamma * Z_norm + beta


def _case(rng, loc, scale, m, eps, gamma, beta) -> dict:
    Z = column(loc) + column(scale) * rng.standard_normal((len(loc), m))
    return {"Z": Z, "gamma": column(gamma), "beta": column(beta), "eps": eps}


def _forward_cases():
    """Test inputs in which the common forward mistakes give different outputs.

    Five batches with n_l != m, odd m and m = 2, unit-dependent means and
    spreads, gamma (one negative) and beta with distinct values, and eps of
    1e-5, 0.5 and 1e-3: eps = 0.5 with small variances, where eps inside or
    outside the square root matters a lot; a nearly constant unit (variance
    about 1e-8) where even a hard-coded eps = 1e-8 differs from the argument;
    a large offset (means ~1e3) and a large scale (spreads ~1e3 to 1e4), so that
    an answer tuned to one shape, one eps or well-scaled data fails; then
    values near 1e6 (where a one-pass variance loses its precision) and a batch
    of m = 32 with outliers (|Z_norm| up to about 5.5, where clipping shows).
    """
    rng = np.random.default_rng(20150211)
    g = [1.5, 0.7, 2.0, 0.3]
    b = [-0.4, 0.9, 0.2, -1.3]
    return [
        _case(rng, [2.0, -1.0, 0.5, 0.3], [0.5, 2.0, 1.0, 1e-4], 7, 1e-5, g, b),
        _case(
            rng, [1.0, -0.5, 0.0, 0.8], [0.2, 0.35, 0.15, 0.3], 7, 0.5, g[::-1], b[::-1]
        ),
        _case(
            rng,
            [0.5, -1.5, 2.0],
            [1.0, 0.6, 2.0],
            2,
            1e-3,
            [0.8, -1.2, 1.1],
            [0.1, -0.6, 0.35],
        ),
        _case(
            rng,
            [1e3, -2.5e3, 4e2, 7e2, -1.2e3],
            [1.0, 0.5, 2.0, 1.5, 0.8],
            9,
            1e-5,
            [1.1, 0.4, -0.7, 2.2, 0.9],
            [0.3, -0.2, 1.4, -0.8, 0.05],
        ),
        _case(
            rng,
            [0.0, 50.0, -30.0, 10.0, 0.0, 200.0],
            [1e3, 3e3, 5e2, 2e3, 8e2, 1e4],
            5,
            1e-5,
            [0.5, 1.7, 0.9, -0.3, 1.3, 2.5],
            [0.2, -1.1, 0.6, 0.0, -0.4, 1.8],
        ),
        # Values near 1e6 with spreads near 1: a one-pass variance
        # mean(Z**2) - mean(Z)**2 loses about 1e-4 of it (see _OFFSET_CASE).
        _case(
            rng,
            [1e6, -2e6, 5e5],
            [1.0, 2.0, 0.5],
            6,
            1e-5,
            [0.9, 1.4, -2.2],
            [0.1, -0.3, 0.6],
        ),
        _outlier_case(rng),
    ]


#: Index of the large-offset case in :func:`_forward_cases`.
_OFFSET_CASE = 5


def _outlier_case(rng) -> dict:
    """m = 32 with one far outlier per unit, so that |Z_norm| reaches about 5.5
    (with m examples |Z_norm| <= sqrt(m - 1), under 3 for every m <= 9):
    clipping Z_norm to [-3, 3] (or to any bound up to 5) shows here."""
    Z = column([0.5, -2.0]) + column([1.0, 3.0]) * rng.standard_normal((2, 32))
    Z[0, 3] = 0.5 + 80.0
    Z[1, 11] = -2.0 - 240.0
    return {
        "Z": Z,
        "gamma": column([1.3, 0.6]),
        "beta": column([-0.2, 0.45]),
        "eps": 1e-5,
    }


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
    raw_var = np.mean(Z**2, axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        Z_norm = Zc / np.sqrt(var + eps)
        out = {
            "wrong_axis": gamma * (Z - mu0) / np.sqrt(var0 + eps) + beta,
            "unbiased_var": gamma * Zc / np.sqrt(var * m / (m - 1) + eps) + beta,
            "eps_outside_sqrt": gamma * Zc / (np.sqrt(var) + eps) + beta,
            "eps_ignored": gamma * Zc / np.sqrt(var) + beta,
            "gamma_beta_swapped": beta * Z_norm + gamma,
            "gamma_ignored": Z_norm + beta,
            "beta_ignored": gamma * Z_norm,
            "no_gamma_beta": Z_norm,
            "divided_by_var": gamma * Zc / (var + eps) + beta,
            "no_centering": gamma * Z / np.sqrt(var + eps) + beta,
            "var_not_centered": gamma * Zc / np.sqrt(raw_var + eps) + beta,
            "sqrt_of_std": gamma * Zc / np.sqrt(np.sqrt(var) + eps) + beta,
            "clipped": gamma * np.clip(Z_norm, -3.0, 3.0) + beta,
            "no_axis": gamma * (Z - Z.mean()) / np.sqrt(Z.var() + eps) + beta,
            "median": gamma
            * (Z - np.median(Z, axis=1, keepdims=True))
            / np.sqrt(var + eps)
            + beta,
        }
        for value in HARDCODED_EPS:
            out[_eps_key(value)] = gamma * Zc / np.sqrt(var + value) + beta
        return out


def _eps_key(value: float) -> str:
    return f"eps_hardcoded_{value:g}"


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
    "var_not_centered": (
        "your variance is mean(Z**2): the mean was not subtracted inside it",
        "The variance is the mean of the SQUARED DEVIATIONS, mean((Z - mu)**2) "
        "(np.var); mean(Z**2) is only the same when mu = 0.",
    ),
    "no_axis": (
        "statistics over the whole batch (no axis): every unit needs its own mean "
        "and variance",
        "Each unit is normalized over its m examples: Z.mean(axis=1, keepdims=True) "
        "and Z.var(axis=1, keepdims=True), shape (n_l, 1).",
    ),
    "median": (
        "you centered with the median instead of the mean",
        "Batch Norm subtracts the mean: Z.mean(axis=1, keepdims=True).",
    ),
    "sqrt_of_std": (
        "you took the square root of the standard deviation",
        "np.std is already a square root: divide by np.sqrt(var + eps) with var "
        "the variance (np.var), or by np.sqrt(std**2 + eps).",
    ),
    "clipped": (
        "you clipped Z_norm to [-3, 3]",
        "Batch Norm does not clip: an example far from its batch's mean keeps its "
        "large Z_norm (with m examples |Z_norm| can reach sqrt(m - 1)). Return "
        "gamma * Z_norm + beta with Z_norm = (Z - mu) / np.sqrt(var + eps).",
    ),
}
_FORWARD_EPS = tuple(c["eps"] for c in _forward_cases())
for _value in HARDCODED_EPS:
    _FORWARD_MISTAKES[_eps_key(_value)] = hardcoded_eps_mistake(
        _value, "eps", _FORWARD_EPS
    )


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
    deviation, no centering, a variance without centering, the square root of
    the standard deviation, a hard-coded eps (named with its value, e.g. 1e-8),
    a one-pass variance that loses precision near 1e6, Z_norm clipped to
    [-3, 3],
    Z_tilde returned second (e.g. ``return Z_norm, Z_tilde``), inputs modified
    in place; see :mod:`bnutils.checks` for what every checker names.
    """

    def body() -> CheckResult:
        cases = _forward_cases()
        descs = [f"Z of shape {c['Z'].shape}, eps={c['eps']}" for c in cases]
        refs = [_bn_train_ref(**case) for case in cases]
        outs, seconds, modified, single = [], [], [], False
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
                first, second = unpack(
                    value, ("Z_tilde", "cache"), "the pair (Z_tilde, cache)"
                )
                outs.append(first)
                seconds.append(second)
            modified += outcome.modified
        variants = [
            Variant(_tag(key), *_FORWARD_MISTAKES[key], arrays=[])
            for key in _FORWARD_MISTAKES
        ]
        for case in cases:
            computed = _forward_variants(**case)
            for key, variant in zip(_FORWARD_MISTAKES, variants, strict=True):
                variant.arrays.append(computed[key])
        issues = diagnose("Z_tilde", outs, refs, variants, descs)
        if (
            issues
            and issues[0].tag in ("unknown", "right_for_some_inputs")
            and wrong_only_in(outs, refs, {_OFFSET_CASE})
        ):
            issues = [
                one_pass_issue("1e6", "((Z - mu)**2).mean(axis=1, keepdims=True)")
            ]
        if issues and not single:
            order = _order_issue(outs, seconds, refs, cases)
            if order is not None:
                issues = [order]
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

    return run_checker(
        "batchnorm_forward", fn, body, verbose, ("Z", "gamma", "beta", "eps")
    )


def _tag(key: str) -> str:
    return "eps_hardcoded" if key.startswith("eps_hardcoded") else key


def _order_issue(outs, seconds, refs, cases) -> Issue | None:
    """Z_tilde returned second, e.g. ``return Z_norm, Z_tilde``."""
    gots = [as_real(s) for s in seconds]
    if any(g is None for g in gots) or not max_rel(gots, refs) < TOL:
        return None
    firsts = [as_real(o) for o in outs]
    norms = [_bn_train_ref(c["Z"], 1.0, 0.0, c["eps"]) for c in cases]
    was = ""
    if all(f is not None for f in firsts) and max_rel(firsts, norms) < MATCH_TOL:
        was = " You returned (Z_norm, Z_tilde): Z_norm belongs in the cache."
    return Issue(
        "swapped_outputs",
        "Z_tilde is your second output: return (Z_tilde, cache), in that order",
        "The checker (and the backward pass) read Z_tilde first and the cache "
        f"second.{was} End with `return Z_tilde, cache`.",
    )
