"""Exercise of notebook 06: :func:`check_batchnorm_inference` (test time)."""

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
from bnutils.checks.forward import _FORWARD_MISTAKES, _bn_train_ref

# ---------------------------------------------------------------------------
# check_batchnorm_inference
# ---------------------------------------------------------------------------

_INFERENCE_SIGNATURE = (
    "batchnorm_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5) "
    "-> Z_tilde"
)


def _inference_cases():
    rng = np.random.default_rng(3)
    gamma = column([1.4, 0.6, 2.1, 0.45])
    beta = column([-0.5, 1.2, 0.15, -0.9])
    running_mean = column([1.0, -2.0, 0.5, 3.0])
    running_var = column([0.04, 2.5, 0.3, 9.0])
    loc = column([0.2, 0.4, 2.6, -1.0])
    scale = column([1.1, 0.5, 2.0, 1.3])
    Z1 = loc + scale * rng.standard_normal((4, 6))
    Z2 = loc + scale * rng.standard_normal((4, 6))
    Z3 = loc + scale * rng.standard_normal((4, 1))
    base = {
        "gamma": gamma,
        "beta": beta,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    return [
        {"Z": Z1, **base, "eps": 1e-5},
        {"Z": Z2, **base, "eps": 0.3},
        {"Z": Z3, **base, "eps": 1e-5},
    ]


def _inference_ref(c):
    std = np.sqrt(c["running_var"] + c["eps"])
    return c["gamma"] * (c["Z"] - c["running_mean"]) / std + c["beta"]


def _inference_variants(c) -> list[tuple[str, np.ndarray]]:
    Z, g, b, eps = c["Z"], c["gamma"], c["beta"], c["eps"]
    rm, rv = c["running_mean"], c["running_var"]
    Zc = Z - rm
    with np.errstate(all="ignore"):
        Z_norm = Zc / np.sqrt(rv + eps)
        return [
            ("batch_stats", _bn_train_ref(Z, g, b, eps)),
            ("eps_outside_sqrt", g * Zc / (np.sqrt(rv) + eps) + b),
            ("eps_ignored", g * Zc / np.sqrt(rv) + b),
            ("var_not_sqrt", g * Zc / (rv + eps) + b),
            # Two ways of taking the square root twice.
            ("sqrt_twice", g * Zc / (rv + eps) ** 0.25 + b),
            ("sqrt_twice", g * Zc / np.sqrt(np.sqrt(rv) + eps) + b),
            ("gamma_beta_swapped", b * Z_norm + g),
            ("no_gamma_beta", Z_norm),
            ("no_centering", g * Z / np.sqrt(rv + eps) + b),
        ]


_INFERENCE_MISTAKES = {
    "batch_stats": (
        "you normalized with the batch's own statistics (training mode at test time)",
        "At test time use the running statistics: gamma * (Z - running_mean) / "
        "np.sqrt(running_var + eps) + beta. Batch statistics make each prediction "
        "depend on the other examples, and a single example normalizes to beta.",
    ),
    "eps_outside_sqrt": (
        _FORWARD_MISTAKES["eps_outside_sqrt"][0],
        "Write (Z - running_mean) / np.sqrt(running_var + eps), not "
        "(Z - running_mean) / (np.sqrt(running_var) + eps).",
    ),
    "eps_ignored": (
        _FORWARD_MISTAKES["eps_ignored"][0],
        "Add eps inside the square root, np.sqrt(running_var + eps), as in "
        "training, so that test-time and training-time normalization agree.",
    ),
    "var_not_sqrt": (
        "you divided by the variance: running_var is a variance, take its square root",
        "Divide by the standard deviation np.sqrt(running_var + eps).",
    ),
    "sqrt_twice": (
        "you took the square root twice: running_var is a variance, not a standard "
        "deviation",
        "Divide by np.sqrt(running_var + eps), one square root.",
    ),
    "gamma_beta_swapped": _FORWARD_MISTAKES["gamma_beta_swapped"],
    "no_gamma_beta": _FORWARD_MISTAKES["no_gamma_beta"],
    "no_centering": (
        "you forgot to subtract running_mean",
        "Center with the running mean first: Z - running_mean.",
    ),
}


def check_batchnorm_inference(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check Batch Norm at test time (running statistics).

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, running_mean, running_var, eps=1e-5)
        -> Z_tilde`` with Z and Z_tilde of shape (n_l, m) and the other arrays of
        shape (n_l, 1); eps is passed positionally. Tested on two batches
        (eps=1e-5 and eps=0.3) and on a single example (m=1).
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, failure on a single
    example, batch statistics instead of the running ones, eps outside the
    square root, eps forgotten, variance not square-rooted, square root taken
    twice, gamma and beta swapped, gamma and beta missing, no centering, NaN,
    inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _inference_cases()
        descs = [f"Z of shape {c['Z'].shape}, eps={c['eps']}" for c in cases]
        keys = ("Z", "gamma", "beta", "running_mean", "running_var", "eps")
        outs, modified = [], []
        for k, (case, desc) in enumerate(zip(cases, descs, strict=True)):
            outcome = call_learner(fn, [(key, case[key]) for key in keys])
            if outcome.error is not None:
                issue = exception_issue(outcome.error, desc, _INFERENCE_SIGNATURE)
                # The m=1 case comes last: reaching it means the batches worked.
                if case["Z"].shape[1] == 1 and k > 0 and issue.tag == "exception":
                    issue = Issue(
                        "single_example",
                        f"fails on a single example (m=1): {issue.message}",
                        "At test time examples often arrive one at a time. With the "
                        "running statistics nothing depends on the batch size; avoid "
                        "statistics of Z and anything that needs m > 1.\n" + issue.hint,
                    )
                raise Fail([issue])
            outs.append(unpack(outcome.value, ("Z_tilde",), "Z_tilde")[0])
            modified += outcome.modified
        refs = [_inference_ref(c) for c in cases]
        single = [k for k, c in enumerate(cases) if c["Z"].shape[1] == 1]
        batches_ok = all(
            isinstance(outs[k], np.ndarray) and outs[k].shape == refs[k].shape
            for k in range(len(cases))
            if k not in single
        )
        for k in single:
            got = outs[k]
            if (
                batches_ok
                and isinstance(got, np.ndarray)
                and got.shape != refs[k].shape
            ):
                raise Fail(
                    [
                        Issue(
                            "single_example",
                            f"fails on a single example (m=1): Z_tilde has shape "
                            f"{got.shape}, expected {refs[k].shape}",
                            "With one example Z has shape (n_l, 1); keep it 2-D "
                            "(no np.squeeze, no Z[:, 0]) so it broadcasts with the "
                            "(n_l, 1) statistics.",
                        )
                    ]
                )
            if (
                isinstance(got, np.ndarray)
                and got.shape == refs[k].shape
                and np.issubdtype(got.dtype, np.number)
                and not np.all(np.isfinite(got))
            ):
                raise Fail(
                    [
                        Issue(
                            "batch_stats",
                            "NaN for a single example (m=1): it looks like you used "
                            "the batch's own statistics",
                            _INFERENCE_MISTAKES["batch_stats"][1],
                        )
                    ]
                )
        variants = [
            Variant(tag, *_INFERENCE_MISTAKES[tag], [])
            for tag, _ in _inference_variants(cases[0])
        ]
        for case in cases:
            for variant, (_, array) in zip(
                variants, _inference_variants(case), strict=True
            ):
                variant.arrays.append(array)
        issues = diagnose("Z_tilde", outs, refs, variants, descs)
        if modified:
            issues.insert(0, in_place_issue(modified))
        if issues:
            raise Fail(dedupe(issues), *error_sizes(outs, refs))
        return passed_result("batchnorm_inference", outs, refs)

    return run_checker("batchnorm_inference", fn, body, verbose)
