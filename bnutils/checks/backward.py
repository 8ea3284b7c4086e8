"""Exercise of notebook 03: :func:`check_batchnorm_backward`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    HARDCODED_EPS,
    CheckResult,
    Fail,
    Variant,
    call_learner,
    column,
    dedupe,
    diagnose,
    error_sizes,
    exception_issue,
    hardcoded_eps_mistake,
    in_place_issue,
    passed_result,
    permutation_issue,
    rel_error,
    run_checker,
    unpack,
)
from bnutils.checks.forward import _bn_train_ref
from bnutils.checks.gradients import numerical_gradient
from bnutils.layers import BNCache

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


def _backward_cases() -> list[tuple]:
    """(Z, gamma, beta, dZ_tilde, eps) test inputs: n_l != m, odd m and m = 2,
    eps of 1e-5, 0.5, 1e-3 and 0.2 (with variances small enough for eps to
    matter), a nearly constant unit (where even eps = 1e-8 and eps = 0 differ),
    a large offset (means ~1e3) and a large scale (spreads ~1e3)."""
    rng = np.random.default_rng(19)
    specs = [
        # loc, scale, m, eps, gamma, beta
        (
            [1.0, -2.0, 0.3, 4.0],
            [0.8, 1.7, 0.4, 2.5],
            7,
            1e-5,
            [1.6, 0.6, 2.2, 0.35],
            [0.3, -0.8, 1.1, -0.2],
        ),
        (  # m = 2, and a nearly constant unit (variance ~1e-8)
            [0.5, -1.0, 2.0, 0.3],
            [0.6, 0.4, 0.9, 1e-4],
            2,
            0.5,
            [1.3, -0.7, 0.5, 1.0],
            [0.2, 0.1, -1.0, 0.4],
        ),
        (
            [1e3, -2e3, 5e2, 8e2, -1.5e3],
            [1.2, 0.5, 2.0, 0.9, 1.6],
            9,
            1e-3,
            [0.9, 1.4, -0.6, 2.1, 0.75],
            [0.0, 0.4, -0.3, 1.2, -0.9],
        ),
        (
            [0.0, 40.0, -25.0, 10.0, 0.0, 150.0],
            [1e3, 2.5e3, 6e2, 1.8e3, 9e2, 4e3],
            5,
            1e-5,
            [0.45, 1.9, 0.8, -1.1, 1.25, 2.4],
            [0.1, -0.5, 0.7, 0.3, -1.4, 0.9],
        ),
        ([0.2, -0.4], [0.3, 0.5], 3, 0.2, [1.7, 0.55], [-0.25, 0.6]),
    ]
    cases = []
    for loc, scale, m, eps, gamma, beta in specs:
        Z = column(loc) + column(scale) * rng.standard_normal((len(loc), m))
        dZt = rng.standard_normal((len(loc), m))
        cases.append((Z, column(gamma), column(beta), dZt, eps))
    return cases


def _reference_cache(Z, gamma, beta, eps) -> BNCache:
    """The cache of a Batch Norm forward pass, computed here (not by the package)."""
    mu = Z.mean(axis=1, keepdims=True)
    Z_centered = Z - mu
    var = (Z_centered**2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return BNCache(
        Z=Z,
        mu=mu,
        var=var,
        Z_centered=Z_centered,
        inv_std=inv_std,
        Z_norm=Z_centered * inv_std,
        gamma=gamma,
        beta=beta,
        eps=eps,
    )


def _staged(
    dZn, Zc, inv_std, m, *, Zc_var=None, power=3, half=-0.5, dvar_m=None, dmu_m=None
):
    """The six-stage formula of notebook 03 with knobs to break it."""
    Zc_var = Zc if Zc_var is None else Zc_var
    dvar = np.sum(dZn * Zc_var, axis=1, keepdims=True) * half * inv_std**power
    dmu = -np.sum(dZn * inv_std, axis=1, keepdims=True)
    dvar_m = m if dvar_m is None else dvar_m
    dmu_m = m if dmu_m is None else dmu_m
    return dZn * inv_std + dvar * 2 * Zc_var / dvar_m + dmu / dmu_m


def _backward_variants(dZt, Z, gamma, eps):
    m = Z.shape[1]
    mu = Z.mean(axis=1, keepdims=True)
    Zc = Z - mu
    var = (Zc**2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Zn = Zc * inv_std
    dZn = dZt * gamma

    def full(d, axis=1, reduce=np.mean, inv=inv_std, zn=Zn):
        """The right formula applied to d, with a choice of axis and reduction."""
        centre = reduce(d, axis=axis, keepdims=True)
        return inv * (d - centre - zn * reduce(d * zn, axis=axis, keepdims=True))

    with np.errstate(all="ignore"):
        dZ = {
            "mu_var_constant": dZn * inv_std,
            "no_var_path": inv_std * (dZn - dZn.mean(axis=1, keepdims=True)),
            "no_mean_path": inv_std
            * (dZn - Zn * (dZn * Zn).mean(axis=1, keepdims=True)),
            "forgot_gamma": full(dZt),
            "wrong_axis": full(dZn, axis=0),
            "forgot_1_over_m": m * full(dZn),
            "sums_not_means": full(dZn, reduce=np.sum),
            "dvar_power": _staged(dZn, Zc, inv_std, m, power=2),
            "dvar_half": _staged(dZn, Zc, inv_std, m, half=1.0),
            "dvar_sign": _staged(dZn, Zc, inv_std, m, half=0.5),
            "dvar_term_m": _staged(dZn, Zc, inv_std, m, dvar_m=1),
            "dmu_term_m": _staged(dZn, Zc, inv_std, m, dmu_m=1),
            "used_Z_not_centered": _staged(dZn, Zc, inv_std, m, Zc_var=Z),
            "extra_1_over_m": full(dZn) / m,
            "gamma_twice": full(dZn) * gamma,
            "inv_std_twice": full(dZn) * inv_std,
        }
        for key, value in [("eps_ignored", 0.0)] + [
            (_eps_key(v), v) for v in HARDCODED_EPS
        ]:
            inv = 1.0 / np.sqrt(var + value)
            # inv_std recomputed with the wrong eps; Z_norm from the cache or
            # recomputed with it too.
            dZ[key] = full(dZn, inv=inv)
            dZ[key + "_norm"] = full(dZn, inv=inv, zn=Zc * inv)
    g_terms = dZt * Zn
    dgamma = {
        "no_sum": g_terms,
        "wrong_axis": g_terms.sum(axis=0),
        "wrong_axis_2d": g_terms.sum(axis=0, keepdims=True),
        "sum_all": np.sum(g_terms).reshape(()),
        "used_Z": (dZt * Z).sum(axis=1, keepdims=True),
        "used_Z_centered": (dZt * Zc).sum(axis=1, keepdims=True),
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


def _eps_key(value: float) -> str:
    return f"eps_hardcoded_{value:g}"


_DZ_MISTAKES = {
    "mu_var_constant": (
        "dZ is dZ_norm * inv_std: you treated mu and var as constants",
        "mu and var are computed from Z, so moving one Z value also moves them. "
        "Follow the graph back from mu and from var to Z and add both paths to "
        "the direct one: each is a sum over the m examples (axis=1, "
        "keepdims=True). The notebook's hints go stage by stage (var, then mu); "
        "open the next one only if you are stuck.",
    ),
    "no_var_path": (
        "dZ misses the path through var",
        "var depends on Z: dvar = sum(dZ_norm * (Z - mu)) * (-1/2) * "
        "(var + eps)^(-3/2) over axis=1, and it reaches Z as dvar * 2 (Z - mu) / m. "
        "(Compact form: the -Z_norm * sum(dZ_norm * Z_norm) term.)",
    ),
    "no_mean_path": (
        "dZ misses the path through mu",
        "mu depends on Z: every Z value moves mu by 1/m, so dZ gets dmu / m, with "
        "dmu the sum over axis=1 of the gradient reaching mu. (Compact form: the "
        "-sum(dZ_norm) term.)",
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
    "dvar_power": (
        "dvar has (var + eps)^(-1) where the derivative of (var + eps)^(-1/2) "
        "gives (var + eps)^(-3/2)",
        "d/dvar (var + eps)^(-1/2) = -1/2 (var + eps)^(-3/2): dvar = sum(dZ_norm * "
        "Z_centered) * (-0.5) * inv_std**3.",
    ),
    "dvar_half": (
        "dvar lacks the factor -1/2 of d/dvar (var + eps)^(-1/2)",
        "dvar = sum(dZ_norm * Z_centered) * (-0.5) * inv_std**3.",
    ),
    "dvar_sign": (
        "dvar has the wrong sign: d/dvar (var + eps)^(-1/2) = -1/2 (var + eps)^(-3/2)",
        "dvar = sum(dZ_norm * Z_centered) * (-0.5) * inv_std**3 (note the minus).",
    ),
    "dvar_term_m": (
        "the var path of dZ lacks its 1/m: dvar * 2 * Z_centered / m",
        "var = mean((Z - mu)**2), so dvar/dZ = 2 (Z - mu) / m.",
    ),
    "dmu_term_m": (
        "the mu path of dZ lacks its 1/m: dmu / m",
        "mu = mean(Z), so dmu/dZ = 1/m for every example.",
    ),
    "used_Z_not_centered": (
        "the var path of dZ uses Z where Z_centered = Z - mu belongs",
        "var = mean((Z - mu)**2): dvar = sum(dZ_norm * cache.Z_centered) * (-0.5) "
        "* inv_std**3 and its term in dZ is dvar * 2 * cache.Z_centered / m.",
    ),
    "extra_1_over_m": (
        "dZ is m times too small: a 1/m too many",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)): one 1/m in front (or means instead of sums, not both).",
    ),
    "gamma_twice": (
        "dZ has gamma twice: dZ_norm = dZ_tilde * gamma already carries it",
        "Multiply by cache.gamma once, in dZ_norm = dZ_tilde * cache.gamma.",
    ),
    "inv_std_twice": (
        "dZ has inv_std twice (a factor 1 / sqrt(var + eps) too many)",
        "dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm) - Z_norm * sum(dZ_norm * "
        "Z_norm)): one inv_std in front (Z_norm already contains one).",
    ),
    "eps_ignored": (
        "dZ leaves eps out: you recomputed 1 / sqrt(var) without cache.eps",
        "Use cache.inv_std, which is 1 / np.sqrt(cache.var + cache.eps).",
    ),
}
_BACKWARD_EPS = tuple(c[4] for c in _backward_cases())
for _value in HARDCODED_EPS:
    _DZ_MISTAKES[_eps_key(_value)] = hardcoded_eps_mistake(
        _value, "cache.eps", _BACKWARD_EPS
    )
for _key in [k for k in _DZ_MISTAKES if k.startswith("eps_")]:
    _DZ_MISTAKES[_key + "_norm"] = _DZ_MISTAKES[_key]

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
    "used_Z_centered": (
        "dgamma uses Z_centered instead of Z_norm",
        "Z_tilde = gamma * Z_norm + beta, so dgamma = sum(dZ_tilde * cache.Z_norm, "
        "axis=1, keepdims=True); Z_centered is not yet divided by the standard "
        "deviation.",
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
        dZ_tilde has shape (n_l, m), ``cache`` is a :class:`~bnutils.layers.BNCache`
        of a forward pass (fields Z, mu, var, Z_centered, inv_std, Z_norm, gamma,
        beta, eps; computed by the checker itself), dZ has shape (n_l, m) and
        dgamma, dbeta have shape (n_l, 1). Tested on five batches with
        different shapes and eps (see :func:`_backward_cases`).
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
    off, the staged formula's slips (the power, factor or sign of dvar, a 1/m
    missing from one path, Z instead of Z_centered), eps left out or hard-coded
    instead of cache.eps, dgamma with Z or Z_centered, NaN, cache or dZ_tilde
    modified in place; see :mod:`bnutils.checks` for what every checker names.
    """

    def body() -> CheckResult:
        cases = _backward_cases()
        descs = [f"dZ_tilde of shape {c[3].shape}, cache.eps={c[4]}" for c in cases]
        names = ("dZ", "dgamma", "dbeta")
        outs, refs, modified = [], [], []
        for (Z, gamma, beta, dZt, eps), desc in zip(cases, descs, strict=True):
            cache = _reference_cache(Z, gamma, beta, eps)
            outcome = call_learner(fn, [("dZ_tilde", dZt), ("cache", cache)])
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, _BACKWARD_SIGNATURE)])
            outs.append(unpack(outcome.value, names, "the tuple (dZ, dgamma, dbeta)"))
            refs.append(_backward_ref(dZt, Z, gamma, eps))
            modified += outcome.modified
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        order = permutation_issue(outs, refs, names)
        if order is not None:
            issues.append(order)
        else:
            tables = [_backward_variants(c[3], c[0], c[1], c[4]) for c in cases]
            dZ_variants = [
                Variant(_tag(key), msg, hint, [t[0][key] for t in tables])
                for key, (msg, hint) in _DZ_MISTAKES.items()
            ]
            issues += diagnose(
                "dZ", [o[0] for o in outs], [r[0] for r in refs], dZ_variants, descs
            )
            for j, label in ((1, "dgamma"), (2, "dbeta")):
                variants = []
                for key in tables[0][j]:
                    tag = key.removesuffix("_2d")
                    msg, hint = _PARAM_MISTAKES[tag]
                    variants.append(
                        Variant(
                            f"{label}_{tag}",
                            msg.format(p=label),
                            hint.format(p=label),
                            [t[j][key] for t in tables],
                        )
                    )
                issues += diagnose(
                    label, [o[j] for o in outs], [r[j] for r in refs], variants, descs
                )
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise Fail(dedupe(issues), *error_sizes(flat_outs, flat_refs))
        # Confirm the closed form by centred differences of a separate forward.
        fd_err = 0.0
        for (Z, gamma, beta, dZt, eps), ref in zip(cases, refs, strict=True):
            fd = _finite_difference_grads(dZt, Z, gamma, beta, eps)
            fd_err = max(
                fd_err, *(rel_error(a, b) for a, b in zip(fd, ref, strict=True))
            )
        extra = f" (finite differences agree to {fd_err:.0e})"
        return passed_result("batchnorm_backward", flat_outs, flat_refs, extra)

    return run_checker("batchnorm_backward", fn, body, verbose, ("dZ_tilde", "cache"))


def _tag(key: str) -> str:
    if key.startswith("eps_hardcoded"):
        return "eps_hardcoded"
    return key.removesuffix("_norm")


def _finite_difference_grads(dZt, Z, gamma, beta, eps):
    """(dZ, dgamma, dbeta) of sum(dZt * BN(Z)) by centred differences."""
    Z, gamma, beta = Z.copy(), gamma.copy(), beta.copy()

    def forward(_):
        return _bn_train_ref(Z, gamma, beta, eps)

    return tuple(numerical_gradient(forward, x, df=dZt) for x in (Z, gamma, beta))
