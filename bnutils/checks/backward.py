"""Exercise of notebook 03: :func:`check_batchnorm_backward`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Variant,
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
from bnutils.checks.forward import _bn_train_ref
from bnutils.checks.gradients import numerical_gradient

# ---------------------------------------------------------------------------
# check_batchnorm_backward
# ---------------------------------------------------------------------------

_BACKWARD_SIGNATURE = "batchnorm_backward(dZ_tilde, cache) -> (dZ, dgamma, dbeta)"


def _backward_ref(dZt, Z, gamma, eps):
    """Closed-form gradients of sum(dZt * BN(Z)), written out independently."""
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Z_norm = (Z - mu) * inv_std
    dbeta = dZt.sum(axis=1, keepdims=True)
    dgamma = (dZt * Z_norm).sum(axis=1, keepdims=True)
    dZn = dZt * gamma
    dZ = inv_std * (
        dZn
        - dZn.mean(axis=1, keepdims=True)
        - Z_norm * (dZn * Z_norm).mean(axis=1, keepdims=True)
    )
    return dZ, dgamma, dbeta


def _backward_case():
    rng = np.random.default_rng(19)
    Z = column([1.0, -2.0, 0.3, 4.0]) + column([0.8, 1.7, 0.4, 2.5]) * (
        rng.standard_normal((4, 7))
    )
    gamma = column([1.6, 0.6, 2.2, 0.35])
    beta = column([0.3, -0.8, 1.1, -0.2])
    dZt = rng.standard_normal((4, 7))
    return Z, gamma, beta, dZt, 1e-5


def _backward_variants(dZt, Z, gamma, eps):
    m = Z.shape[1]
    mu = Z.mean(axis=1, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Zn = (Z - mu) * inv_std
    dZn = dZt * gamma

    def full(d, axis=1, reduce=np.mean):
        """The right formula applied to d, with a choice of axis and reduction."""
        centre = reduce(d, axis=axis, keepdims=True)
        return inv_std * (d - centre - Zn * reduce(d * Zn, axis=axis, keepdims=True))

    dZ = {
        "mu_var_constant": dZn * inv_std,
        "no_var_path": inv_std * (dZn - dZn.mean(axis=1, keepdims=True)),
        "no_mean_path": inv_std * (dZn - Zn * (dZn * Zn).mean(axis=1, keepdims=True)),
        "forgot_gamma": full(dZt),
        "wrong_axis": full(dZn, axis=0),
        "forgot_1_over_m": m * full(dZn),
        "sums_not_means": full(dZn, reduce=np.sum),
    }
    g_terms = dZt * Zn
    dgamma = {
        "no_sum": g_terms,
        "wrong_axis": g_terms.sum(axis=0),
        "wrong_axis_2d": g_terms.sum(axis=0, keepdims=True),
        "sum_all": np.sum(g_terms).reshape(()),
        "used_Z": (dZt * Z).sum(axis=1, keepdims=True),
        "times_gamma": (g_terms * gamma).sum(axis=1, keepdims=True),
        "mean_not_sum": g_terms.mean(axis=1, keepdims=True),
    }
    dbeta = {
        "no_sum": dZt.copy(),
        "wrong_axis": dZt.sum(axis=0),
        "wrong_axis_2d": dZt.sum(axis=0, keepdims=True),
        "sum_all": np.sum(dZt).reshape(()),
        "times_gamma": (dZt * gamma).sum(axis=1, keepdims=True),
        "mean_not_sum": dZt.mean(axis=1, keepdims=True),
    }
    return dZ, dgamma, dbeta


_DZ_MISTAKES = {
    "mu_var_constant": (
        "dZ is dZ_norm * inv_std: you treated mu and var as constants",
        "mu and var are computed from Z, so moving one Z value also moves them. "
        "dZ needs two more terms (sums over the examples, axis=1):\n"
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)).",
    ),
    "no_var_path": (
        "dZ misses the path through var (the Z_norm * sum(dZ_norm * Z_norm) term)",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)); the last term comes from var depending on Z.",
    ),
    "no_mean_path": (
        "dZ misses the path through mu (the -sum(dZ_norm) term)",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)); the middle term comes from mu depending on Z.",
    ),
    "forgot_gamma": (
        "dZ forgets gamma: dZ_norm = dZ_tilde * gamma, not dZ_tilde",
        "Z_tilde = gamma * Z_norm + beta, so the gradient reaching Z_norm is "
        "dZ_tilde * cache.gamma.",
    ),
    "wrong_axis": (
        "dZ sums over the wrong axis (axis=0)",
        "The sums in dZ run over the m examples of each unit: axis=1, keepdims=True.",
    ),
    "forgot_1_over_m": (
        "dZ is m times too large: you forgot the factor 1/m",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)).",
    ),
    "sums_not_means": (
        "dZ uses sums where the formula has means (divide the two sums by m)",
        "dZ = inv_std * (dZ_norm - mean(dZ_norm) - Z_norm * mean(dZ_norm * Z_norm)) "
        "with means over axis=1.",
    ),
}

_PARAM_MISTAKES = {
    "no_sum": (
        "{p} has shape (n, m): you forgot to sum over the examples (axis=1)",
        "gamma and beta are shared by all m examples, so their gradients add up "
        "the m per-example contributions: .sum(axis=1, keepdims=True), shape (n, 1).",
    ),
    "wrong_axis": (
        "{p} sums over the wrong axis (axis=0)",
        "Sum over the examples, axis=1, keepdims=True: one value per unit, shape "
        "(n, 1).",
    ),
    "sum_all": (
        "{p} is a single number: you summed over all entries",
        "Sum over the examples only, axis=1, keepdims=True: one value per unit.",
    ),
    "used_Z": (
        "dgamma uses Z instead of Z_norm",
        "Z_tilde = gamma * Z_norm + beta, so dgamma = sum(dZ_tilde * Z_norm, "
        "axis=1, keepdims=True).",
    ),
    "mean_not_sum": (
        "{p} is m times too small: you averaged over the examples instead of summing",
        "The loss already carries the 1/m of the mean over the batch inside "
        "dZ_tilde; each example adds its own contribution to {p}, so sum them: "
        ".sum(axis=1, keepdims=True), not .mean(...).",
    ),
    "times_gamma": (
        "{p} is multiplied by gamma",
        "dbeta = sum(dZ_tilde) and dgamma = sum(dZ_tilde * Z_norm) over axis=1; "
        "gamma enters only dZ (through dZ_norm = dZ_tilde * gamma).",
    ),
}


def check_batchnorm_backward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check a Batch Norm backward pass.

    Parameters
    ----------
    fn : the learner's ``fn(dZ_tilde, cache) -> (dZ, dgamma, dbeta)``, where
        dZ_tilde has shape (n_l, m), ``cache`` is the :class:`~bnutils.layers.BNCache`
        made by :func:`bnutils.layers.batchnorm_forward` (fields Z, mu, var,
        Z_centered, inv_std, Z_norm, gamma, beta, eps), dZ has shape (n_l, m)
        and dgamma, dbeta have shape (n_l, 1).
    verbose : print the verdict (and, on failure, the explanation).

    The expected gradients come from a closed form written in this module, which
    is itself confirmed by centred finite differences of an independent forward
    pass (the agreement is printed with a pass).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, wrong type, outputs
    in the wrong order (e.g. dgamma and dbeta swapped), dgamma/dbeta without the
    sum over the examples (shape (n, m)), summed over axis 0 or over everything,
    missing keepdims, dZ with mu and var treated as constants, dZ missing the
    mean or the variance term, gamma forgotten, sums over axis 0, a factor m
    off, NaN, cache or dZ_tilde modified in place.
    """
    from bnutils.layers import batchnorm_forward as _package_forward

    def body() -> CheckResult:
        Z, gamma, beta, dZt, eps = _backward_case()
        _, cache = _package_forward(Z, gamma, beta, eps)
        desc = f"dZ_tilde of shape {dZt.shape}"
        outcome = call_learner(fn, [("dZ_tilde", dZt), ("cache", cache)])
        if outcome.error is not None:
            raise Fail([exception_issue(outcome.error, desc, _BACKWARD_SIGNATURE)])
        names = ("dZ", "dgamma", "dbeta")
        parts = unpack(outcome.value, names, "the tuple (dZ, dgamma, dbeta)")
        refs = _backward_ref(dZt, Z, gamma, eps)
        issues = []
        if outcome.modified:
            issues.append(in_place_issue(outcome.modified))
        order = permutation_issue([parts], [refs], names)
        if order is not None:
            issues.append(order)
        else:
            v_dZ, v_dgamma, v_dbeta = _backward_variants(dZt, Z, gamma, eps)
            dZ_variants = [
                Variant(tag, msg, hint, [v_dZ[tag]])
                for tag, (msg, hint) in _DZ_MISTAKES.items()
            ]
            issues += diagnose("dZ", [parts[0]], [refs[0]], dZ_variants, [desc])
            for label, got, want, table in (
                ("dgamma", parts[1], refs[1], v_dgamma),
                ("dbeta", parts[2], refs[2], v_dbeta),
            ):
                variants = []
                for key, array in table.items():
                    tag = key.removesuffix("_2d")
                    msg, hint = _PARAM_MISTAKES[tag]
                    variants.append(
                        Variant(
                            f"{label}_{tag}",
                            msg.format(p=label),
                            hint.format(p=label),
                            [array],
                        )
                    )
                issues += diagnose(label, [got], [want], variants, [desc])
        if issues:
            raise Fail(dedupe(issues), *error_sizes(parts, refs))
        # Confirm the closed form by centred differences of a separate forward.
        fd = _finite_difference_grads(dZt, Z, gamma, beta, eps)
        fd_err = max(rel_error(a, b) for a, b in zip(fd, refs, strict=True))
        extra = f" (finite differences agree to {fd_err:.0e})"
        return passed_result("batchnorm_backward", parts, refs, extra)

    return run_checker("batchnorm_backward", fn, body, verbose)


def _finite_difference_grads(dZt, Z, gamma, beta, eps):
    """(dZ, dgamma, dbeta) of sum(dZt * BN(Z)) by centred differences."""
    Z, gamma, beta = Z.copy(), gamma.copy(), beta.copy()

    def forward(_):
        return _bn_train_ref(Z, gamma, beta, eps)

    return tuple(numerical_gradient(forward, x, df=dZt) for x in (Z, gamma, beta))
