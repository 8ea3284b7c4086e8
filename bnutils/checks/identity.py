"""Exercise of notebook 02: :func:`check_identity_gamma_beta`.

The learner derives the ``gamma`` and ``beta`` that make training-mode Batch
Norm the identity on one mini-batch: from ``gamma * (z - mu) / sqrt(var + eps)
+ beta = z`` for every example, ``gamma = sqrt(var + eps)`` and ``beta = mu``,
per unit, with the batch's mean ``mu`` and biased variance ``var``. Shapes:
``Z`` (n_l, m); ``gamma`` and ``beta`` (n_l, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Issue,
    as_real,
    call_learner,
    dedupe,
    diagnose_parts,
    error_sizes,
    exception_issue,
    hardcoded_eps_mistake,
    in_place_issue,
    one_pass_issue,
    passed_result,
    permutation_issue,
    run_checker,
    unpack,
    wrong_only_in,
)

_SIGNATURE = "identity_gamma_beta(Z, eps) -> (gamma, beta)"
_NAMES = ("gamma", "beta")
_EPS_VALUES = (1e-5, 0.5, 1e-3, 0.5, 1e-5, 1e-3)
#: Index of the batch near 1e6, where a one-pass variance loses its precision.
_OFFSET_CASE = 5


def _cases() -> list[dict]:
    """Mini-batches on which the right answer and every named mistake differ.

    Shapes (3, 5), (4, 7), (2, 2), (5, 6), (3, 9) and (4, 8): n_l != m, odd m,
    m = 2.
    eps is 1e-5, 0.5 (large enough that leaving it out shows on any data) and
    1e-3. One batch has means near 1e4 (a large offset), one spreads of 300 to
    2000 (a large scale), one means near 1e6 with spreads near 1 (where a
    one-pass variance mean(Z**2) - mean(Z)**2 loses its precision), and one
    unit a spread of 0.01 (where eps = 1e-5 is not negligible); every unit has
    its own mean and spread.
    """
    rng = np.random.default_rng(20150211)

    def batch(n_l, m, loc, scale):
        loc = np.asarray(loc, dtype=np.float64).reshape(-1, 1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1, 1)
        return loc + scale * rng.standard_normal((n_l, m))

    Zs = [
        batch(3, 5, [0.5, -2.0, 3.0], [1.0, 0.01, 2.5]),
        batch(4, 7, [1.0, -1.0, 0.2, 4.0], [0.8, 1.5, 0.6, 2.0]),
        batch(2, 2, [2.0, -0.7], [1.2, 0.9]),
        batch(5, 6, [1e4, -2e4, 5e3, 1.2e4, -8e3], [1.0, 3.0, 0.5, 2.0, 1.5]),
        batch(3, 9, [10.0, -40.0, 0.0], [300.0, 2000.0, 750.0]),
        batch(4, 8, [1e6, -3e6, 2e6, 5e5], [1.0, 2.0, 0.7, 1.5]),
    ]
    return [{"Z": Z, "eps": eps} for Z, eps in zip(Zs, _EPS_VALUES, strict=True)]


def _ref(Z, eps):
    """gamma, beta from the per-unit mean and biased variance (two passes),
    summed with math.fsum one unit at a time (independent of numpy's
    reductions)."""
    n_l, m = Z.shape
    mu = np.array([[math.fsum(row) / m] for row in Z])
    var = np.array(
        [[math.fsum((x - mu[k, 0]) ** 2 for x in Z[k]) / m] for k in range(n_l)]
    )
    return np.sqrt(var + eps), mu


def _variants(Z, eps) -> dict[str, np.ndarray]:
    """What each named mistake returns on one case."""
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    std = np.sqrt(var + eps)
    return {
        # gamma
        "no_eps": np.sqrt(var),
        "variance": var + eps,
        "ddof1": np.sqrt(Z.var(axis=1, ddof=1, keepdims=True) + eps),
        "eps_outside": np.sqrt(var) + eps,
        "reciprocal": 1.0 / std,
        "eps_hardcoded": np.sqrt(var + 1e-5),
        "gamma_one": np.ones_like(mu),
        # beta
        "beta_zero": np.zeros_like(mu),
        "beta_negative": -mu,
        "beta_normalized": mu / std,
        "beta_times_gamma": mu * std,
    }


_GAMMA_TAGS = (
    "no_eps",
    "variance",
    "ddof1",
    "eps_outside",
    "reciprocal",
    "eps_hardcoded",
    "gamma_one",
)
_BETA_TAGS = ("beta_zero", "beta_negative", "beta_normalized", "beta_times_gamma")

_MISTAKES = {
    "no_eps": (
        "gamma = sqrt(var): eps is missing",
        "Batch Norm divides by sqrt(var + eps), not by sqrt(var). To undo that "
        "division gamma must multiply by the same number: gamma = sqrt(var + eps). "
        "(With eps = 0.5, as in one test, the difference is large.)",
    ),
    "variance": (
        "gamma is the variance var + eps, not its square root",
        "Z_norm = (Z - mu) / sqrt(var + eps): gamma must undo a division by a "
        "standard deviation, gamma = sqrt(var + eps).",
    ),
    "ddof1": (
        "gamma uses the unbiased variance (ddof=1, dividing by m - 1)",
        "Batch Norm normalizes with the biased variance, dividing by m (np.var's "
        "default ddof=0); gamma must undo that exact number: "
        "sqrt(Z.var(axis=1, keepdims=True) + eps).",
    ),
    "eps_outside": (
        "gamma = sqrt(var) + eps: eps is added outside the square root",
        "BN adds eps to the variance inside the square root, so gamma = "
        "sqrt(var + eps).",
    ),
    "reciprocal": (
        "gamma = 1 / sqrt(var + eps): that is the factor BN multiplies by, not "
        "the one that undoes it",
        "Solve gamma * (z - mu) / sqrt(var + eps) = z - mu for gamma: "
        "gamma = sqrt(var + eps).",
    ),
    "eps_hardcoded": hardcoded_eps_mistake(1e-5, "eps", _EPS_VALUES),
    "gamma_one": (
        "gamma is 1 for every unit (BN's starting value)",
        "gamma = 1 leaves Z_norm with variance about 1; to get Z back gamma must "
        "restore each unit's own spread, sqrt(var + eps).",
    ),
    "beta_zero": (
        "beta is 0 for every unit",
        "Z_norm has mean 0; to get Z back beta must restore each unit's own "
        "mean: beta = mu = Z.mean(axis=1, keepdims=True).",
    ),
    "beta_negative": (
        "beta = -mu: the sign is wrong",
        "Normalization subtracted mu; undoing it adds mu back: beta = mu.",
    ),
    "beta_normalized": (
        "beta = mu / sqrt(var + eps): beta is added after the scaling by gamma, "
        "so it is not divided",
        "Expand gamma * (z - mu) / sqrt(var + eps) + beta with gamma = "
        "sqrt(var + eps): (z - mu) + beta, so beta = mu.",
    ),
    "beta_times_gamma": (
        "beta = mu * sqrt(var + eps): beta is added after the scaling by gamma, "
        "so it is not scaled",
        "Expand gamma * (z - mu) / sqrt(var + eps) + beta with gamma = "
        "sqrt(var + eps): (z - mu) + beta, so beta = mu.",
    ),
}

_SHAPE_HINT = (
    "gamma and beta hold one value per unit, shape (n_l, 1): statistics over the "
    "examples, axis=1, with keepdims=True."
)


def _hint(issue: Issue) -> Issue:
    if issue.tag in ("transposed", "wrong_shape"):
        issue.hint = _SHAPE_HINT
    elif not issue.hint:
        issue.hint = "Return two real float64 arrays of shape (n_l, 1), (gamma, beta)."
    return issue


def _diagnose_parts(parts_per_case, refs, variants, descs) -> list[Issue]:
    tables = [
        {tag: [v[tag] for v in variants] for tag in tags}
        for tags in (_GAMMA_TAGS, _BETA_TAGS)
    ]
    found = diagnose_parts(_NAMES, parts_per_case, refs, tables, _MISTAKES, descs)
    return [_hint(issue) for issue in found]


def check_identity_gamma_beta(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check the gamma and beta that make Batch Norm the identity on a batch.

    Parameters
    ----------
    fn : the learner's ``fn(Z, eps) -> (gamma, beta)`` with Z of shape
        (n_l, m); the answer, of shapes (n_l, 1), makes
        ``gamma * (Z - mu) / sqrt(var + eps) + beta`` equal to Z, i.e.
        ``gamma = sqrt(var + eps)`` and ``beta = mu`` (biased variance).
    verbose : print the verdict (and, on failure, the explanation).

    Six batches are tried: (n_l, m) = (3, 5), (4, 7), (2, 2), (5, 6), (3, 9),
    (4, 8), eps 1e-5, 0.5 and 1e-3, one with means near 1e4, one near 1e6 and
    one with spreads up to 2000. The answer is computed with math.fsum, not from
    numpy's var.

    Returns
    -------
    :class:`CheckResult`. Named mistakes (``mistake`` tags): gamma without eps,
    gamma the variance, the unbiased variance, eps outside the square root,
    the reciprocal 1 / sqrt(var + eps), a hard-coded eps, gamma = 1; beta = 0,
    beta = -mu, beta divided or multiplied by the standard deviation, a
    one-pass variance that loses its precision near 1e6; and the
    general ones: gamma and beta swapped, shape (n_l,) (missing keepdims),
    exception, None, wrong type, float32, NaN, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [
            f"Z of shape {c['Z'].shape} (means up to "
            f"{np.abs(c['Z'].mean(axis=1)).max():.3g}), eps={c['eps']:g}"
            for c in cases
        ]
        refs = [_ref(**c) for c in cases]
        variants = [_variants(**c) for c in cases]
        parts_per_case, modified = [], []
        for case, desc in zip(cases, descs, strict=True):
            outcome = call_learner(fn, [("Z", case["Z"]), ("eps", case["eps"])])
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, _SIGNATURE)])
            parts_per_case.append(
                unpack(outcome.value, _NAMES, "the tuple (gamma, beta)")
            )
            modified += outcome.modified
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        swapped = permutation_issue(parts_per_case, refs, _NAMES)
        if swapped is not None:
            issues.append(swapped)
        else:
            issues += _diagnose_parts(parts_per_case, refs, variants, descs)
            gammas = [parts[0] for parts in parts_per_case]
            if (
                issues
                and all(i.tag in ("unknown", "right_for_some_inputs") for i in issues)
                and wrong_only_in(gammas, [r[0] for r in refs], {_OFFSET_CASE})
            ):
                issues = [
                    one_pass_issue("1e6", "((Z - mu)**2).mean(axis=1, keepdims=True)")
                ]
        flat_refs = [r for ref in refs for r in ref]
        if issues:
            flat = [p for parts in parts_per_case for p in parts]
            raise Fail(dedupe(issues), *error_sizes(flat, flat_refs))
        flat = [as_real(p) for parts in parts_per_case for p in parts]
        return passed_result("identity_gamma_beta", flat, flat_refs)

    return run_checker("identity_gamma_beta", fn, body, verbose, ("Z", "eps"))
