"""Exercise of notebook 06: :func:`check_fold_batchnorm`, folding inference-mode
Batch Norm into the weights and bias of the layer before it.

At test time Batch Norm uses fixed numbers (the running statistics and the
learned gamma, beta), so for ``z = W a + b``::

    BN(z) = gamma * (W a + b - running_mean) / sqrt(running_var + eps) + beta
          = W_fold a + b_fold

with ``s = gamma / sqrt(running_var + eps)`` (shape (n_l, 1)),
``W_fold = s * W`` (row l of W scaled by s[l]) and
``b_fold = s * (b - running_mean) + beta``. The checker's reference below is
written independently of :mod:`bnutils.solutions`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    MATCH_TOL,
    CheckResult,
    Fail,
    Issue,
    as_real,
    call_learner,
    dedupe,
    diagnose_parts,
    error_sizes,
    exception_issue,
    in_place_issue,
    passed_result,
    permutation_issue,
    rel_error,
    run_checker,
    unpack,
)

__all__ = ["check_fold_batchnorm"]

_SIGNATURE = (
    "fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps=1e-5) "
    "-> (W_fold, b_fold)"
)
_KEYS = ("W", "b", "gamma", "beta", "running_mean", "running_var", "eps")
_NAMES = ("W_fold", "b_fold")


def _cases() -> list[dict]:
    """Test inputs on which the answer and every named mistake differ.

    The first case is square (n_l = n_prev), so that scaling the columns of W
    instead of its rows gives an answer of the right shape that can be named;
    the others have n_l != n_prev, two values of eps, a large offset (running
    mean and bias near 1e4, so b - running_mean cancels) and a large scale
    (weights near 1e3, variances near 1e6).
    """
    rng = np.random.default_rng(61)

    def case(n_l, n_prev, eps, offset=0.0, scale=1.0):
        W = scale * rng.normal(0.0, 1.0, size=(n_l, n_prev))
        mean = offset + scale * rng.normal(0.0, 1.5, size=(n_l, 1))
        return {
            "W": W,
            "b": mean + scale * rng.normal(0.5, 1.0, size=(n_l, 1)),
            "gamma": rng.uniform(0.4, 2.5, size=(n_l, 1)),
            "beta": rng.uniform(-1.5, 1.5, size=(n_l, 1)),
            "running_mean": mean,
            "running_var": scale**2 * rng.uniform(0.02, 3.0, size=(n_l, 1)),
            "eps": eps,
        }

    cases = [
        case(4, 4, 0.3),
        case(3, 5, 1e-5),
        case(5, 2, 1e-3, offset=1e4),
        case(2, 7, 1e-5, scale=1e3),
    ]
    # A unit with a small variance, so that where eps goes matters at eps=1e-5.
    cases[1]["running_var"][0, 0] = 2e-3
    return cases


def _desc(c: dict) -> str:
    n_l, n_prev = c["W"].shape
    extra = ""
    if np.abs(c["running_mean"]).max() > 1e3:
        extra = ", running_mean and b near 1e4"
    elif np.abs(c["W"]).max() > 1e2:
        extra = ", W near 1e3 and running_var near 1e6"
    return f"W of shape ({n_l}, {n_prev}), eps={c['eps']}{extra}"


def _ref(c: dict) -> tuple[np.ndarray, np.ndarray]:
    """The answer, one unit at a time (independent of any package code)."""
    n_l = c["W"].shape[0]
    W_fold = np.empty_like(c["W"])
    b_fold = np.empty((n_l, 1))
    for i in range(n_l):
        s = c["gamma"][i, 0] / np.sqrt(c["running_var"][i, 0] + c["eps"])
        W_fold[i, :] = s * c["W"][i, :]
        b_fold[i, 0] = s * (c["b"][i, 0] - c["running_mean"][i, 0]) + c["beta"][i, 0]
    return W_fold, b_fold


def _variants(c: dict) -> tuple[dict, dict]:
    """What each named mistake returns on case ``c``: (W_fold, b_fold) tables."""
    W, b, g, beta = c["W"], c["b"], c["gamma"], c["beta"]
    mu, var, eps = c["running_mean"], c["running_var"], c["eps"]
    std = np.sqrt(var + eps)
    s = g / std
    scales = {
        "eps_outside_sqrt": g / (np.sqrt(var) + eps),
        "eps_ignored": g / np.sqrt(var),
        "var_not_sqrt": g / (var + eps),
        "forgot_gamma": 1.0 / std,
        "forgot_std": g,
        "gamma_beta_swapped": beta / std,
    }
    W_table = {tag: sc * W for tag, sc in scales.items()}
    b_table = {tag: sc * (b - mu) + beta for tag, sc in scales.items()}
    b_table["gamma_beta_swapped"] = beta / std * (b - mu) + g
    if W.shape[0] == W.shape[1]:
        W_table["scaled_columns"] = W * s.T
    else:  # the learner's code raises here; this shape never matches
        W_table["scaled_columns"] = np.zeros((0,))
    W_table["W_not_scaled"] = W.copy()
    b_table.update(
        {
            "forgot_b": beta - s * mu,
            "forgot_beta": s * (b - mu),
            "shift_not_scaled": b - mu + beta,
            "mean_sign": s * (b + mu) + beta,
            "beta_scaled": s * (b - mu + beta),
            "b_unchanged": b.copy(),
        }
    )
    return W_table, b_table


_MISTAKES = {
    "scaled_columns": (
        "you scaled the columns of W instead of its rows",
        "Unit l of the layer is row l of W (W has shape (n_l, n_prev)), and "
        "gamma[l] / sqrt(running_var[l] + eps) belongs to unit l: multiply W by "
        "the (n_l, 1) column of scales, which broadcasts along each row. Don't "
        "transpose it.",
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root: sqrt(running_var) + eps",
        "Inference-mode BN divides by np.sqrt(running_var + eps), with eps inside, "
        "exactly as in training; the folded layer must compute the same numbers.",
    ),
    "eps_ignored": (
        "you left out eps: the folded layer divides by sqrt(running_var) alone",
        "The BN layer you fold divides by np.sqrt(running_var + eps); without eps "
        "the folded network computes something slightly different (very different "
        "for a unit with a small variance).",
    ),
    "var_not_sqrt": (
        "you divided by the variance: running_var needs its square root",
        "The scale of unit l is gamma[l] / np.sqrt(running_var[l] + eps), a standard "
        "deviation below the line, not a variance.",
    ),
    "forgot_gamma": (
        "gamma is missing: you folded only the normalization, not the scale gamma",
        "BN multiplies Z_norm by gamma: the factor in front of W is "
        "gamma / np.sqrt(running_var + eps).",
    ),
    "forgot_std": (
        "you multiplied by gamma but forgot to divide by the standard deviation",
        "Z_norm divides by np.sqrt(running_var + eps); that division is part of "
        "the factor in front of W.",
    ),
    "gamma_beta_swapped": (
        "gamma and beta are swapped",
        "gamma scales (it multiplies Z_norm) and beta shifts (it is added at the end).",
    ),
    "W_not_scaled": (
        "W_fold is W unchanged: the scale gamma / sqrt(running_var + eps) must "
        "multiply W too",
        "Substitute z = W a + b into gamma * (z - running_mean) / "
        "sqrt(running_var + eps) + beta: the factor in front of z multiplies "
        "W a as well as b.",
    ),
    "forgot_b": (
        "b_fold ignores the layer's own bias b",
        "z = W a + b, so what gets centred and scaled is b - running_mean, not "
        "-running_mean alone (b is zero in the course's BN networks, but not in "
        "general).",
    ),
    "forgot_beta": (
        "beta is missing from b_fold",
        "BN adds beta after scaling: b_fold = scale * (b - running_mean) + beta.",
    ),
    "shift_not_scaled": (
        "the shift b - running_mean is not multiplied by the scale",
        "Everything inside (z - running_mean) is scaled, the bias and the mean "
        "included: scale * (b - running_mean), then + beta.",
    ),
    "mean_sign": (
        "the running mean has the wrong sign: it is subtracted, not added",
        "BN centres z with z - running_mean, so b_fold contains "
        "scale * (b - running_mean).",
    ),
    "beta_scaled": (
        "beta got multiplied by the scale; it is added after scaling",
        "gamma * Z_norm + beta: beta is not divided by the standard deviation.",
    ),
    "b_unchanged": (
        "b_fold is b unchanged: the bias must absorb the running mean and beta",
        "Work out gamma * (W a + b - running_mean) / sqrt(running_var + eps) + beta "
        "and collect everything that doesn't multiply a: that is b_fold.",
    ),
}


def check_fold_batchnorm(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check folding inference-mode Batch Norm into the layer before it.

    Parameters
    ----------
    fn : the learner's ``fn(W, b, gamma, beta, running_mean, running_var,
        eps=1e-5) -> (W_fold, b_fold)`` with W and W_fold of shape
        (n_l, n_prev) and every other array of shape (n_l, 1); eps is passed
        positionally. Expected, with ``s = gamma / sqrt(running_var + eps)``::

            W_fold = s * W                       # row l scaled by s[l]
            b_fold = s * (b - running_mean) + beta

        Tested on four layers: square (4, 4) with eps=0.3, (3, 5) with
        eps=1e-5 and a unit of small variance, (5, 2) with running mean and
        bias near 1e4, and (2, 7) with weights near 1e3 and variances near 1e6.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, outputs swapped,
    columns scaled instead of rows (also when that crashes on a non-square
    W), eps outside the square root, eps left out, variance not
    square-rooted, gamma missing, standard deviation missing, gamma and beta
    swapped, W not scaled, b ignored, beta missing, shift not scaled, sign of
    the running mean, beta scaled, b unchanged, wrong shapes (e.g. (n_l,)
    without keepdims), wrong types, NaN, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [_desc(c) for c in cases]
        outs, refs, modified = [], [], []
        W_v: dict[str, list] = {}
        b_v: dict[str, list] = {}
        for k, (case, desc) in enumerate(zip(cases, descs, strict=True)):
            outcome = call_learner(fn, [(key, case[key]) for key in _KEYS])
            if outcome.error is not None:
                issue = exception_issue(outcome.error, desc, _SIGNATURE)
                raise Fail([_crash_after_columns(issue, outs, cases[:k]) or issue])
            outs.append(unpack(outcome.value, _NAMES, "the tuple (W_fold, b_fold)"))
            modified += outcome.modified
            refs.append(_ref(case))
            W_table, b_table = _variants(case)
            for tag, array in W_table.items():
                W_v.setdefault(tag, []).append(array)
            for tag, array in b_table.items():
                b_v.setdefault(tag, []).append(array)
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        swapped = permutation_issue(outs, refs, _NAMES)
        if swapped is not None:
            issues.append(swapped)
        else:
            issues += diagnose_parts(_NAMES, outs, refs, (W_v, b_v), _MISTAKES, descs)
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise Fail(dedupe(issues), *error_sizes(flat_outs, flat_refs))
        return passed_result("fold_batchnorm", flat_outs, flat_refs)

    return run_checker("fold_batchnorm", fn, body, verbose, arguments=_KEYS)


def _crash_after_columns(issue: Issue, outs: list, done: list[dict]) -> Issue | None:
    """A crash on a non-square W after the square case came out with its
    columns scaled: name that mistake (it is why the shapes don't broadcast)."""
    if issue.tag != "exception" or not outs:
        return None
    W_fold = as_real(outs[0][0])
    if W_fold is None or W_fold.shape != done[0]["W"].shape:
        return None
    wrong = _variants(done[0])[0]["scaled_columns"]
    if not rel_error(W_fold, wrong) < MATCH_TOL:  # NaN counts as no match
        return None
    message, hint = _MISTAKES["scaled_columns"]
    return Issue(
        "scaled_columns",
        f"{message} (on the square test W it ran; on a non-square W it "
        f"{issue.message})",
        hint,
    )
