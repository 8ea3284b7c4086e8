"""Exercise of notebook 07: :func:`check_layernorm_forward` and
:func:`check_layernorm_backward`, Layer Normalization in the course's layout.

Layer Norm normalizes each example (column) over its own units::

    mu  = mean of Z over axis 0          shape (1, m), one per example
    var = mean of (Z - mu)**2 over axis 0 (biased)
    Z_tilde = gamma * (Z - mu) / sqrt(var + eps) + beta    gamma, beta: (n_l, 1)

Batch Norm takes the same statistics over axis 1 (the examples). The
reference below is written independently of :mod:`bnutils.solutions`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
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
    diagnose_parts,
    error_sizes,
    exception_issue,
    in_place_issue,
    passed_result,
    permutation_issue,
    rel_error,
    run_checker,
    unpack,
    wrong_only_in,
)

__all__ = ["check_layernorm_backward", "check_layernorm_forward"]

_SIGNATURE = "layernorm_forward(Z, gamma, beta, eps=1e-5) -> Z_tilde"
_KEYS = ("Z", "gamma", "beta", "eps")
#: Offset of the large-offset case: mean(Z**2) - mean(Z)**2 loses about
#: 1e12 * 1e-16 = 1e-4 of a unit variance there.
_OFFSET = 1e6


def _cases() -> list[dict]:
    """Test inputs on which the answer and every named mistake differ:
    shapes with n_l != m, an odd m, m = 2 and m = 1 (Layer Norm needs no
    batch), three values of eps, a large offset and a large scale. Each
    example has its own mean and spread, so statistics over the wrong axis
    give different numbers."""
    rng = np.random.default_rng(70)

    def case(n_l, m, eps, offset=0.0, scale=1.0):
        col_mean = offset + scale * rng.normal(0.0, 2.0, size=(1, m))
        col_std = scale * rng.uniform(0.3, 2.5, size=(1, m))
        Z = col_mean + col_std * rng.normal(size=(n_l, m))
        return {
            "Z": Z,
            "gamma": column(rng.uniform(0.4, 2.2, size=n_l)),
            "beta": column(rng.uniform(-1.2, 1.2, size=n_l)),
            "eps": eps,
        }

    cases = [
        case(5, 3, 1e-5),
        case(4, 2, 0.3),
        case(3, 7, 1e-5),
        case(6, 1, 1e-3),
        case(4, 5, 1e-5, offset=_OFFSET),
        case(5, 4, 1e-5, scale=1e3),
    ]
    # An example whose units barely differ, so that where eps goes matters at
    # eps=1e-5 (its variance is about 1e-3).
    cases[2]["Z"][:, 0] = 0.5 + 0.03 * rng.normal(size=3)
    # n_l = 32 with a far outlying unit in two examples: |x_hat| reaches about
    # 5.5 there (with n_l units |x_hat| <= sqrt(n_l - 1), under 3 for n_l <= 9),
    # so that clipping x_hat to [-3, 3] (or to any bound up to 5) shows.
    outlier = case(32, 3, 1e-5)
    outlier["Z"][5, 0] += 80.0 * outlier["Z"][:, 0].std()
    outlier["Z"][9, 2] -= 80.0 * outlier["Z"][:, 2].std()
    cases.append(outlier)
    return cases


def _is_offset(c: dict) -> bool:
    return float(np.abs(c["Z"]).min()) > _OFFSET / 2


def _desc(c: dict) -> str:
    n_l, m = c["Z"].shape
    extra = ""
    if _is_offset(c):
        extra = f", values near {_OFFSET:.0e}"
    elif np.abs(c["Z"]).max() > 1e2:
        extra = ", values near 1e3"
    return f"Z of shape ({n_l}, {m}), eps={c['eps']}{extra}"


def _ref(c: dict) -> np.ndarray:
    """The answer, one example at a time (independent of any package code)."""
    Z, eps = c["Z"], c["eps"]
    out = np.empty_like(Z)
    for j in range(Z.shape[1]):
        z = Z[:, j]
        mu = np.sum(z) / z.size
        var = np.sum((z - mu) ** 2) / z.size
        out[:, j] = c["gamma"][:, 0] * (z - mu) / np.sqrt(var + eps) + c["beta"][:, 0]
    return out


def _variants(c: dict) -> dict:
    """What each named mistake returns on case ``c``."""
    Z, g, b, eps = c["Z"], c["gamma"], c["beta"], c["eps"]
    n_l = Z.shape[0]
    mu = Z.mean(axis=0, keepdims=True)
    Zc = Z - mu
    var = np.mean(Zc**2, axis=0, keepdims=True)
    std = np.sqrt(var + eps)
    mu1 = Z.mean(axis=1, keepdims=True)
    var1 = np.mean((Z - mu1) ** 2, axis=1, keepdims=True)
    var_all = np.mean((Z - Z.mean()) ** 2)
    with np.errstate(all="ignore"):
        return {
            "batch_axis": g * (Z - mu1) / np.sqrt(var1 + eps) + b,
            "unbiased_var": g * Zc / np.sqrt(var * n_l / (n_l - 1) + eps) + b,
            "global_stats": g * (Z - Z.mean()) / np.sqrt(var_all + eps) + b,
            "eps_outside_sqrt": g * Zc / (np.sqrt(var) + eps) + b,
            "eps_ignored": g * Zc / np.sqrt(var) + b,
            "eps_hardcoded": g * Zc / np.sqrt(var + 1e-5) + b,
            "var_not_sqrt": g * Zc / (var + eps) + b,
            "sqrt_twice": g * Zc / np.sqrt(std) + b,
            "no_centering": g * Z / std + b,
            "gamma_beta_swapped": b * Zc / std + g,
            "no_gamma_beta": Zc / std,
            "clipped": g * np.clip(Zc / std, -3.0, 3.0) + b,
        }


_MISTAKES = {
    "batch_axis": (
        "you normalized over the examples (axis=1): that is Batch Norm",
        "Layer Norm takes the mean and variance of each example over its units: "
        "Z.mean(axis=0, keepdims=True), shape (1, m). With axis=1 a single example "
        "comes out as beta whatever its values.",
    ),
    "unbiased_var": (
        "you used the unbiased variance (ddof=1, divided by n_l - 1)",
        "Layer Norm, like Batch Norm, normalizes with the biased variance: the "
        "mean of (Z - mu)**2 over the units, divided by n_l.",
    ),
    "global_stats": (
        "you took one mean and one variance over the whole array",
        "Each example (column) gets its own mean and variance: pass axis=0 (and "
        "keepdims=True) to mean and var.",
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root: sqrt(var) + eps",
        "Divide by np.sqrt(var + eps), with eps inside the square root, as in "
        "Batch Norm.",
    ),
    "eps_ignored": (
        "you left out eps",
        "Divide by np.sqrt(var + eps): eps keeps an example whose units are all "
        "equal from dividing by zero.",
    ),
    "eps_hardcoded": (
        "you ignored the eps argument (always 1e-5)",
        "Use the eps passed to the function, np.sqrt(var + eps): the checker also "
        "calls it with eps = 0.3 and 1e-3.",
    ),
    "var_not_sqrt": (
        "you divided by the variance: take its square root",
        "Normalizing divides by a standard deviation, np.sqrt(var + eps).",
    ),
    "sqrt_twice": (
        "you took the square root twice (divided by the square root of the "
        "standard deviation)",
        "var is already a variance: divide by np.sqrt(var + eps), one square root.",
    ),
    "no_centering": (
        "you forgot to subtract each example's mean",
        "Centre first: Z - mu with mu = Z.mean(axis=0, keepdims=True).",
    ),
    "gamma_beta_swapped": (
        "gamma and beta are swapped",
        "gamma scales Z_norm (it multiplies) and beta shifts it (it is added).",
    ),
    "no_gamma_beta": (
        "you returned Z_norm: gamma and beta are missing",
        "Finish with gamma * Z_norm + beta; gamma and beta have shape (n_l, 1), one "
        "per unit, as in Batch Norm.",
    ),
    "clipped": (
        "you clipped Z_norm to [-3, 3]",
        "Layer Norm does not clip: a unit far from its example's mean keeps its "
        "large Z_norm (with n_l units |Z_norm| can reach sqrt(n_l - 1)). Return "
        "gamma * (Z - mu) / np.sqrt(var + eps) + beta.",
    ),
    "one_pass_variance": (
        "right except for values with a large offset (1e6): your variance loses "
        "its precision there",
        "mean(Z**2) - mean(Z)**2 subtracts two numbers near 1e12 to get one near "
        "1: float64 keeps only about 16 digits, so the difference is off by about "
        "1e-4. Compute the variance from centred values, np.mean((Z - mu)**2, "
        "axis=0, keepdims=True), as Batch Norm does.",
    ),
}


def _only_offset_wrong(outs, refs, cases) -> bool:
    """Right on every case except those with a large offset (NaN included)."""
    wrong = []
    for got, want, case in zip(outs, refs, cases, strict=True):
        got = as_real(got)
        if got is None or got.shape != want.shape:
            return False
        ok = rel_error(got, want) < TOL  # NaN compares False: wrong
        wrong.append((not ok, _is_offset(case)))
    return any(w for w, _ in wrong) and all(off for w, off in wrong if w)


def check_layernorm_forward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check a Layer Norm forward pass in the course's (n_l, m) layout.

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, eps=1e-5) -> Z_tilde`` with Z and
        Z_tilde of shape (n_l, m) and gamma, beta of shape (n_l, 1); eps is
        passed positionally. Expected::

            mu  = Z.mean(axis=0, keepdims=True)            # (1, m)
            var = ((Z - mu) ** 2).mean(axis=0, keepdims=True)
            Z_tilde = gamma * (Z - mu) / np.sqrt(var + eps) + beta

        Tested on Z of shapes (5, 3), (4, 2), (3, 7), (6, 1) (a single
        example), (4, 5) with values near 1e6, (5, 4) with values near 1e3 and
        (32, 3) with an outlying unit (|Z_norm| up to about 5.5), with eps = 1e-5, 0.3
        and 1e-3.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, failure on a single
    example, statistics over the examples (Batch Norm), unbiased variance, one
    mean and variance for the whole array, eps outside the square root, eps
    left out, the eps argument ignored, variance not square-rooted, square
    root taken twice, no centring, gamma and beta swapped, gamma and beta
    missing, a variance that loses precision for large offsets, Z_norm clipped
    to [-3, 3], wrong shapes
    and types, NaN, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [_desc(c) for c in cases]
        outs, modified = [], []
        for case, desc in zip(cases, descs, strict=True):
            outcome = call_learner(fn, [(key, case[key]) for key in _KEYS])
            if outcome.error is not None:
                issue = exception_issue(outcome.error, desc, _SIGNATURE)
                if case["Z"].shape[1] == 1 and outs and issue.tag == "exception":
                    issue = Issue(
                        "single_example",
                        f"fails on a single example (m=1): {issue.message}",
                        "Layer Norm needs no batch: every statistic is over the "
                        "units of one example, so Z of shape (n_l, 1) works like "
                        "any other.\n" + issue.hint,
                    )
                raise Fail([issue])
            outs.append(unpack(outcome.value, ("Z_tilde",), "Z_tilde")[0])
            modified += outcome.modified
        refs = [_ref(c) for c in cases]
        issues = []
        if _only_offset_wrong(outs, refs, cases):
            issues.append(Issue("one_pass_variance", *_MISTAKES["one_pass_variance"]))
        else:
            table: dict[str, list] = {}
            for case in cases:
                for tag, array in _variants(case).items():
                    table.setdefault(tag, []).append(array)
            variants = [
                Variant(tag, *_MISTAKES[tag], arrays) for tag, arrays in table.items()
            ]
            issues += diagnose("Z_tilde", outs, refs, variants, descs)
        single = [k for k, c in enumerate(cases) if c["Z"].shape[1] == 1]
        if issues and issues[0].tag in ("wrong_shape", "missing_keepdims"):
            got = [as_real(outs[k]) for k in single]
            others_ok = all(
                as_real(outs[k]) is not None and outs[k].shape == refs[k].shape
                for k in range(len(cases))
                if k not in single
            )
            if others_ok and any(g is None or g.ndim != 2 for g in got):
                issues[0] = Issue(
                    "single_example",
                    "fails on a single example (m=1): Z_tilde lost a dimension",
                    "Keep Z 2-D, shape (n_l, 1) for one example: no np.squeeze, "
                    "no Z[:, 0].",
                )
        if modified:
            issues.insert(0, in_place_issue(modified))
        if issues:
            raise Fail(dedupe(issues), *error_sizes(outs, refs))
        return passed_result("layernorm_forward", outs, refs)

    return run_checker("layernorm_forward", fn, body, verbose, arguments=_KEYS)


# ---------------------------------------------------------------------------
# check_layernorm_backward
# ---------------------------------------------------------------------------

_BACKWARD_SIGNATURE = (
    "layernorm_backward(dZ_tilde, Z, gamma, eps=1e-5) -> (dZ, dgamma, dbeta)"
)
_BACKWARD_KEYS = ("dZ_tilde", "Z", "gamma", "eps")
_BACKWARD_NAMES = ("dZ", "dgamma", "dbeta")


def _backward_cases() -> list[dict]:
    """The forward pass's inputs (see :func:`_cases`) with an upstream gradient
    dZ_tilde of the same shape. The large-offset case stays: a backward pass
    that recomputes the variance in one pass, mean(Z**2) - mean(Z)**2, loses
    its precision there as the forward pass does."""
    rng = np.random.default_rng(71)
    cases = []
    for c in _cases():
        cases.append(
            {
                "dZ_tilde": rng.normal(0.0, 1.0, size=c["Z"].shape),
                "Z": c["Z"],
                "gamma": c["gamma"],
                "eps": c["eps"],
            }
        )
    return cases


def _backward_ref(c: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The answer through each example's Jacobian (independent of the compact
    formula): x_hat = (z - mu) / s and d x_hat / d z = (I - 1/n - x_hat x_hat^T /
    n) / s, with n = n_l."""
    dY, Z, g, eps = c["dZ_tilde"], c["Z"], c["gamma"][:, 0], c["eps"]
    n_l, m = Z.shape
    dZ = np.empty_like(Z)
    dgamma = np.zeros(n_l)
    for j in range(m):
        z = Z[:, j]
        mu = np.sum(z) / n_l
        s = np.sqrt(np.sum((z - mu) ** 2) / n_l + eps)
        x_hat = (z - mu) / s
        jac = (np.eye(n_l) - 1.0 / n_l - np.outer(x_hat, x_hat) / n_l) / s
        dZ[:, j] = jac.T @ (g * dY[:, j])
        dgamma += dY[:, j] * x_hat
    return dZ, dgamma[:, None], dY.sum(axis=1)[:, None]


def _backward_variants(c: dict) -> tuple[dict, dict, dict]:
    """What each named mistake returns on case ``c``: (dZ, dgamma, dbeta)."""
    dY, Z, g, eps = c["dZ_tilde"], c["Z"], c["gamma"], c["eps"]
    n_l, m = Z.shape

    def parts(axis, eps_):
        mu = Z.mean(axis=axis, keepdims=True)
        inv = 1.0 / np.sqrt(np.mean((Z - mu) ** 2, axis=axis, keepdims=True) + eps_)
        return (Z - mu) * inv, inv

    x_hat, inv = parts(0, eps)
    dx = dY * g
    s1 = dx.sum(axis=0, keepdims=True)
    s2 = (dx * x_hat).sum(axis=0, keepdims=True)
    with np.errstate(all="ignore"):
        bn_hat, bn_inv = parts(1, eps)
        bn_dx = dY * g
        bn_dZ = (
            bn_inv
            / m
            * (
                m * bn_dx
                - bn_dx.sum(axis=1, keepdims=True)
                - bn_hat * (bn_dx * bn_hat).sum(axis=1, keepdims=True)
            )
        )
        hat0, inv0 = parts(0, 0.0)
        dZ_table = {
            "batch_axis": bn_dZ,
            "no_mean_term": inv / n_l * (n_l * dx - x_hat * s2),
            "no_var_term": inv / n_l * (n_l * dx - s1),
            "direct_path_only": dx * inv,
            "forgot_gamma": inv
            / n_l
            * (
                n_l * dY
                - dY.sum(axis=0, keepdims=True)
                - x_hat * (dY * x_hat).sum(axis=0, keepdims=True)
            ),
            "m_for_n": inv / m * (m * dx - s1 - x_hat * s2),
            "eps_ignored": inv0
            / n_l
            * (
                n_l * dY * g
                - (dY * g).sum(axis=0, keepdims=True)
                - hat0 * (dY * g * hat0).sum(axis=0, keepdims=True)
            ),
        }
    dgamma_table = {
        "batch_axis": (dY * bn_hat).sum(axis=1, keepdims=True),
        "params_over_units": (dY * x_hat).sum(axis=0, keepdims=True),
        "dgamma_without_x_hat": dY.sum(axis=1, keepdims=True),
        "dgamma_times_gamma": (dY * x_hat * g).sum(axis=1, keepdims=True),
        "params_mean": (dY * x_hat).mean(axis=1, keepdims=True),
    }
    dbeta_table = {
        "params_over_units": dY.sum(axis=0, keepdims=True),
        "dbeta_times_gamma": (dY * g).sum(axis=1, keepdims=True),
        "params_mean": dY.mean(axis=1, keepdims=True),
    }
    return dZ_table, dgamma_table, dbeta_table


_BACKWARD_MISTAKES = {
    "batch_axis": (
        "you used Batch Norm's backward pass (statistics over the examples, axis=1)",
        "Layer Norm's mean and variance are taken over each example's units "
        "(axis=0, n_l values): the sums that come from them run over axis 0 and "
        "divide by n_l.",
    ),
    "no_mean_term": (
        "dZ misses the path through the mean: the term - sum(dZ_norm) over the units",
        "Every z_ij also moves its example's mean mu_j; that path gives "
        "- sum_i dZ_norm_ij (over axis 0) inside the parentheses.",
    ),
    "no_var_term": (
        "dZ misses the path through the variance: the term - Z_norm * sum(dZ_norm "
        "* Z_norm)",
        "Every z_ij also moves its example's variance; that path gives - Z_norm * "
        "sum_i (dZ_norm * Z_norm)_ij (over axis 0).",
    ),
    "direct_path_only": (
        "dZ treats the mean and variance as constants (only the direct path "
        "dZ_norm / std)",
        "The statistics depend on Z too: dZ = (n_l dZ_norm - sum(dZ_norm) - Z_norm "
        "sum(dZ_norm Z_norm)) / (n_l std), sums over axis 0.",
    ),
    "forgot_gamma": (
        "dZ forgot gamma: dZ_norm = gamma * dZ_tilde",
        "Z_tilde = gamma * Z_norm + beta, so the gradient reaching Z_norm is "
        "gamma * dZ_tilde.",
    ),
    "m_for_n": (
        "you divided by m, the number of examples; each example's statistics have "
        "n_l values",
        "The formula of notebook 03 with the axes exchanged: m becomes n_l = "
        "Z.shape[0].",
    ),
    "eps_ignored": (
        "you left out eps in the standard deviation",
        "The forward pass divides by np.sqrt(var + eps); the backward pass uses the "
        "same factor.",
    ),
    "params_over_units": (
        "dgamma and dbeta summed over the units (axis=0): shape (1, m)",
        "gamma and beta are per unit, shape (n_l, 1), shared by the m examples: "
        "their gradients sum over the examples, axis=1, keepdims=True.",
    ),
    "params_mean": (
        "mean instead of sum over axis 1: you averaged over the examples",
        "The loss adds up the contributions of the m examples, so dgamma and dbeta "
        "sum over axis 1 (np.sum(..., axis=1, keepdims=True)), no division by m.",
    ),
    "dgamma_without_x_hat": (
        "dgamma is sum(dZ_tilde): it misses the factor Z_norm",
        "Z_tilde = gamma * Z_norm + beta: dgamma = sum over axis 1 of dZ_tilde * "
        "Z_norm.",
    ),
    "dgamma_times_gamma": (
        "dgamma has an extra factor gamma",
        "d(gamma * Z_norm)/d gamma = Z_norm: dgamma = sum over axis 1 of dZ_tilde "
        "* Z_norm, no gamma.",
    ),
    "dbeta_times_gamma": (
        "dbeta has an extra factor gamma",
        "beta is added at the end: dbeta = sum over axis 1 of dZ_tilde.",
    ),
    "one_pass_variance": (
        "right except for values with a large offset (1e6): your variance loses "
        "its precision there (one-pass variance mean(Z**2) - mean(Z)**2?)",
        "mean(Z**2) - mean(Z)**2 subtracts two numbers near 1e12 to get one near "
        "1: float64 keeps only about 16 digits, so the standard deviation, and "
        "with it dZ and dgamma, is off by about 1e-4. Compute the variance from "
        "centred values, np.mean((Z - mu)**2, axis=0, keepdims=True).",
    ),
}


def _backward_only_offset_wrong(outs, refs, offset: set[int]) -> bool:
    """Every output right except on the large-offset case(s)."""
    parts = [
        ([o[j] for o in outs], [r[j] for r in refs])
        for j in range(len(_BACKWARD_NAMES))
    ]
    wrong = [wrong_only_in(gots, wants, offset) for gots, wants in parts]
    right = [
        not wrong_only_in(gots, wants, set(range(len(outs)))) for gots, wants in parts
    ]
    return any(wrong) and all(w or r for w, r in zip(wrong, right, strict=True))


def check_layernorm_backward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check the backward pass of Layer Norm (course layout).

    Parameters
    ----------
    fn : the learner's ``fn(dZ_tilde, Z, gamma, eps=1e-5) -> (dZ, dgamma,
        dbeta)`` with dZ_tilde, Z, dZ of shape (n_l, m) and gamma, dgamma, dbeta
        of shape (n_l, 1); eps is passed positionally. With ``x_hat = (Z -
        mu) / std`` per example (statistics over axis 0) and ``dx = gamma *
        dZ_tilde``::

            dZ = (n_l dx - sum0(dx) - x_hat * sum0(dx * x_hat)) / (n_l std)
            dgamma = sum1(dZ_tilde * x_hat),  dbeta = sum1(dZ_tilde)

        Tested on the forward checker's inputs (a single example, m = 2, an
        odd m, values near 1e3 and near 1e6, an outlying unit, three values of
        eps) with a random upstream gradient; the reference goes through each
        example's Jacobian.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, failure on a single
    example, outputs swapped, Batch Norm's axis, the path through the mean
    missing, the path through the variance missing, only the direct path,
    gamma forgotten, m in place of n_l, eps left out, dgamma and dbeta summed
    over the units or averaged over the examples, dgamma without Z_norm or
    with an extra gamma, dbeta with an extra gamma, a one-pass variance that
    loses precision near 1e6, wrong shapes and kinds, NaN, inputs modified in
    place.
    """

    def body() -> CheckResult:
        cases = _backward_cases()
        descs = [_desc(c) for c in cases]
        outs, refs, modified = [], [], []
        tables: list[dict[str, list]] = [{}, {}, {}]
        for case, desc in zip(cases, descs, strict=True):
            outcome = call_learner(fn, [(k, case[k]) for k in _BACKWARD_KEYS])
            if outcome.error is not None:
                issue = exception_issue(outcome.error, desc, _BACKWARD_SIGNATURE)
                if case["Z"].shape[1] == 1 and outs and issue.tag == "exception":
                    issue = Issue(
                        "single_example",
                        f"fails on a single example (m=1): {issue.message}",
                        "Layer Norm's statistics are over each example's units, so "
                        "its backward pass works for one example like for many.\n"
                        + issue.hint,
                    )
                raise Fail([issue])
            outs.append(
                unpack(outcome.value, _BACKWARD_NAMES, "the tuple (dZ, dgamma, dbeta)")
            )
            modified += outcome.modified
            refs.append(_backward_ref(case))
            for table, found in zip(tables, _backward_variants(case), strict=True):
                for tag, array in found.items():
                    table.setdefault(tag, []).append(array)
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        swapped = permutation_issue(outs, refs, _BACKWARD_NAMES)
        offset = {k for k, c in enumerate(cases) if _is_offset(c)}
        if swapped is not None:
            issues.append(swapped)
        elif _backward_only_offset_wrong(outs, refs, offset):
            issues.append(
                Issue("one_pass_variance", *_BACKWARD_MISTAKES["one_pass_variance"])
            )
        else:
            issues += diagnose_parts(
                _BACKWARD_NAMES, outs, refs, tables, _BACKWARD_MISTAKES, descs
            )
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise Fail(dedupe(issues), *error_sizes(flat_outs, flat_refs))
        return passed_result("layernorm_backward", flat_outs, flat_refs)

    return run_checker(
        "layernorm_backward", fn, body, verbose, arguments=_BACKWARD_KEYS
    )
