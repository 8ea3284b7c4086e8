"""Exercise of notebook 06: :func:`check_batchnorm_inference` (test time)."""

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
    passed_result,
    rel_error,
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
    """Batches with n_l != m, odd m and m = 2, eps of 1e-5, 0.3 and 1e-3, a unit
    whose running variance is ~1e-8 (where even eps = 1e-8 and eps = 0 differ),
    a large offset (running means ~1e3), a large scale (running variances
    ~1e6), and last a single example (m = 1)."""
    rng = np.random.default_rng(3)

    def batch(loc, scale, m):
        return column(loc) + column(scale) * rng.standard_normal((len(loc), m))

    base = {
        "gamma": column([1.4, 0.6, 2.1, 0.45]),
        "beta": column([-0.5, 1.2, 0.15, -0.9]),
        "running_mean": column([1.0, -2.0, 0.5, 3.0]),
        "running_var": column([0.04, 2.5, 0.3, 9.0]),
    }
    loc, scale = [0.2, 0.4, 2.6, -1.0], [1.1, 0.5, 2.0, 1.3]
    Z1, Z2, Z_single = batch(loc, scale, 6), batch(loc, scale, 6), batch(loc, scale, 1)
    return [
        {"Z": Z1, **base, "eps": 1e-5},
        {"Z": Z2, **base, "eps": 0.3},
        {
            "Z": batch([0.5, 0.1, -1.0], [0.8, 1e-3, 1.5], 2),
            "gamma": column([0.9, -1.3, 0.7]),
            "beta": column([0.25, 0.6, -0.35]),
            "running_mean": column([0.3, 0.1002, -0.6]),
            "running_var": column([0.5, 1e-8, 1.7]),
            "eps": 1e-3,
        },
        {
            "Z": batch([1e3, -2e3, 4e2, 6e2, -1e3], [1.0, 2.0, 0.5, 1.5, 1.0], 9),
            "gamma": column([1.2, 0.3, -0.8, 1.9, 0.6]),
            "beta": column([-0.1, 0.45, 1.3, -0.7, 0.2]),
            "running_mean": column([1.0004e3, -1.9985e3, 3.996e2, 6.002e2, -1.0011e3]),
            "running_var": column([1.1, 3.5, 0.2, 2.4, 0.9]),
            "eps": 1e-5,
        },
        {
            "Z": batch(
                [0.0, 40.0, -25.0, 10.0, 0.0, 150.0],
                [1e3, 2e3, 5e2, 1.5e3, 8e2, 3e3],
                5,
            ),
            "gamma": column([0.5, 1.6, 0.95, -0.4, 1.2, 2.2]),
            "beta": column([0.3, -1.2, 0.5, 0.05, -0.6, 1.6]),
            "running_mean": column([-1e2, 3e2, 0.0, -2e2, 50.0, 5e2]),
            "running_var": column([9e5, 3.6e6, 2.6e5, 2.1e6, 7e5, 8e6]),
            "eps": 1e-5,
        },
        {"Z": Z_single, **base, "eps": 1e-3},
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
            (
                "batch_mean",
                g * (Z - Z.mean(axis=1, keepdims=True)) / np.sqrt(rv + eps) + b,
            ),
            ("batch_var", g * Zc / np.sqrt(Z.var(axis=1, keepdims=True) + eps) + b),
            (
                "wrong_axis",
                g
                * (Z - Z.mean(axis=0, keepdims=True))
                / np.sqrt(Z.var(axis=0, keepdims=True) + eps)
                + b,
            ),
        ] + [(_eps_key(v), g * Zc / np.sqrt(rv + v) + b) for v in HARDCODED_EPS]


def _eps_key(value: float) -> str:
    return f"eps_hardcoded_{value:g}"


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
    "batch_mean": (
        "you centered with the batch's own mean instead of running_mean",
        "At test time both statistics are the running ones: Z - running_mean, "
        "divided by np.sqrt(running_var + eps).",
    ),
    "batch_var": (
        "you divided by the batch's own variance instead of running_var",
        "At test time both statistics are the running ones: divide by "
        "np.sqrt(running_var + eps).",
    ),
    "wrong_axis": (
        "you normalized each example over its units (axis=0), as Layer Norm does",
        "Batch Norm at test time uses the per-unit running statistics, shape "
        "(n_l, 1): gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta.",
    ),
}
_INFERENCE_EPS = tuple(c["eps"] for c in _inference_cases())
for _value in HARDCODED_EPS:
    _INFERENCE_MISTAKES[_eps_key(_value)] = hardcoded_eps_mistake(
        _value, "eps", _INFERENCE_EPS
    )


def check_batchnorm_inference(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check Batch Norm at test time (running statistics).

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, running_mean, running_var, eps=1e-5)
        -> Z_tilde`` with Z and Z_tilde of shape (n_l, m) and the other arrays of
        shape (n_l, 1); eps is passed positionally. Tested on five batches
        (see :func:`_inference_cases`) and on a single example (m=1).
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, failure on a single
    example, batch statistics instead of the running ones, eps outside the
    square root, eps forgotten, variance not square-rooted, square root taken
    twice, gamma and beta swapped, gamma and beta missing, no centering, a
    hard-coded eps (named with its value), NaN, inputs modified in place; see
    :mod:`bnutils.checks` for what every checker names.
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
            Variant(_tag(key), *_INFERENCE_MISTAKES[key], [])
            for key, _ in _inference_variants(cases[0])
        ]
        for case in cases:
            for variant, (_, array) in zip(
                variants, _inference_variants(case), strict=True
            ):
                variant.arrays.append(array)
        issues = diagnose("Z_tilde", outs, refs, variants, descs)
        if issues and issues[0].tag in ("right_for_some_inputs", "unknown"):
            partial = _partial_variant(outs, refs, variants, cases)
            if partial is not None:
                issues = [partial]
        if modified:
            issues.insert(0, in_place_issue(modified))
        if issues:
            raise Fail(dedupe(issues), *error_sizes(outs, refs))
        return passed_result("batchnorm_inference", outs, refs)

    return run_checker(
        "batchnorm_inference",
        fn,
        body,
        verbose,
        ("Z", "gamma", "beta", "running_mean", "running_var", "eps"),
    )


def _partial_variant(outs, refs, variants, cases) -> Issue | None:
    """A named mistake on every test input where the output is wrong, the
    output right on the others: e.g. batch statistics with a special case that
    uses the running ones for a single example (m = 1)."""
    gots = [as_real(g) for g in outs]
    if any(g is None or g.shape != r.shape for g, r in zip(gots, refs, strict=True)):
        return None
    wrong = [
        k
        for k, (g, r) in enumerate(zip(gots, refs, strict=True))
        if not rel_error(g, r) < TOL
    ]
    if not wrong or len(wrong) == len(gots):
        return None
    for variant in variants:
        if all(
            rel_error(gots[k], variant.arrays[k]) < MATCH_TOL
            and rel_error(variant.arrays[k], refs[k]) >= MATCH_TOL
            for k in wrong
        ):
            right = [k for k in range(len(gots)) if k not in wrong]
            if all(cases[k]["Z"].shape[1] == 1 for k in right):
                where = (
                    "on every batch with m > 1 (your single example, m = 1, is "
                    "right: a special case for m = 1?)"
                )
            elif all(cases[k]["Z"].shape[1] == 1 for k in wrong):
                where = "on the single example (m = 1) only; the batches are right"
            else:
                where = f"on {len(wrong)} of the {len(gots)} test inputs"
            return Issue(variant.tag, f"{variant.message} {where}", variant.hint)
    return None


def _tag(key: str) -> str:
    return "eps_hardcoded" if key.startswith("eps_hardcoded") else key
