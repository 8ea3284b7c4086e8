"""Exercise of notebook 06: :func:`check_update_running_stats`."""

from __future__ import annotations

from collections.abc import Callable

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
    run_checker,
    unpack,
)

# ---------------------------------------------------------------------------
# check_update_running_stats
# ---------------------------------------------------------------------------

_RUNNING_SIGNATURE = (
    "update_running_stats(running_mean, running_var, mu_B, var_B, m, ema_beta) "
    "-> (new_mean, new_var)"
)


def _running_cases():
    return [
        {
            "running_mean": column([0.2, -1.0, 3.0]),
            "running_var": column([1.5, 0.4, 2.2]),
            "mu_B": column([0.5, -0.3, 2.0]),
            "var_B": column([0.9, 0.8, 3.1]),
            "m": 8,
            "ema_beta": 0.9,
        },
        {
            "running_mean": column([-0.6, 1.3, 0.1]),
            "running_var": column([0.7, 2.9, 1.2]),
            "mu_B": column([0.4, 2.1, -1.5]),
            "var_B": column([1.8, 0.6, 0.25]),
            "m": 5,
            "ema_beta": 0.7,
        },
        {  # one unit, m = 2 (where m // (m - 1) happens to equal m / (m - 1))
            "running_mean": column([2.0]),
            "running_var": column([0.6]),
            "mu_B": column([1.4]),
            "var_B": column([0.45]),
            "m": 2,
            "ema_beta": 0.99,
        },
        {  # odd m
            "running_mean": column([0.0, 0.7, -2.2, 1.1]),
            "running_var": column([1.0, 0.35, 2.6, 0.8]),
            "mu_B": column([0.3, 0.1, -1.8, 1.9]),
            "var_B": column([1.4, 0.5, 1.7, 0.2]),
            "m": 3,
            "ema_beta": 0.8,
        },
        {  # a large offset
            "running_mean": column([1e3, -2e3, 5e2, 3e3, -8e2]),
            "running_var": column([1.2, 0.9, 2.0, 0.6, 1.5]),
            "mu_B": column([1.0015e3, -2.0021e3, 4.987e2, 3.0009e3, -7.994e2]),
            "var_B": column([0.8, 1.3, 1.6, 0.9, 2.2]),
            "m": 7,
            "ema_beta": 0.95,
        },
        {  # a large scale
            "running_mean": column([1.5e3, -4e2]),
            "running_var": column([2.5e6, 4e5]),
            "mu_B": column([-9e2, 1.2e3]),
            "var_B": column([1.1e6, 9e5]),
            "m": 33,
            "ema_beta": 0.6,
        },
    ]


def _running_variants(c):
    b, m = c["ema_beta"], c["m"]
    rm, rv, mu, var = c["running_mean"], c["running_var"], c["mu_B"], c["var_B"]
    unbiased = var * m / (m - 1)
    ref = (b * rm + (1 - b) * mu, b * rv + (1 - b) * unbiased)
    mean_variants = {
        "ema_flipped": (1 - b) * rm + b * mu,
        "ema_beta_fixed": 0.9 * rm + 0.1 * mu,
        "no_one_minus_beta": b * rm + mu,
        "bessel_on_mean": b * rm + (1 - b) * mu * m / (m - 1),
        "no_ema": mu.copy(),
        "bias_corrected": ref[0] / (1 - b),
    }
    var_variants = {
        "ema_flipped": (1 - b) * rv + b * unbiased,
        "biased_var": b * rv + (1 - b) * var,
        "bessel_inverted": b * rv + (1 - b) * var * (m - 1) / m,
        "integer_division": b * rv + (1 - b) * var * (m // (m - 1)),
        "integer_division_inverted": b * rv + (1 - b) * var * ((m - 1) // m),
        "no_ema": unbiased,
        "var_not_updated": rv.copy(),
        "mean_in_var": b * rv + (1 - b) * mu * m / (m - 1),
        "bias_corrected": ref[1] / (1 - b),
        "flipped_and_biased": (1 - b) * rv + b * var,
        "ema_beta_fixed": 0.9 * rv + 0.1 * unbiased,
        "no_one_minus_beta": b * rv + unbiased,
    }
    return ref, mean_variants, var_variants


_RUNNING_MISTAKES = {
    "ema_flipped": (
        "the EMA direction is flipped (PyTorch's momentum convention): ema_beta "
        "and (1 - ema_beta) are swapped",
        "The course's average keeps ema_beta of the OLD value: running = ema_beta * "
        "running + (1 - ema_beta) * batch_stat. Weighting the new batch by the "
        "parameter is PyTorch's momentum convention (momentum = 1 - ema_beta).",
    ),
    "ema_beta_fixed": (
        "you used a fixed 0.9 instead of the ema_beta argument",
        "Use the function's ema_beta parameter (the checker passes 0.9, 0.7, "
        "0.99, 0.8, 0.95 and 0.6).",
    ),
    "no_one_minus_beta": (
        "the batch statistic is missing its weight (1 - ema_beta)",
        "running = ema_beta * running + (1 - ema_beta) * batch_stat: the two weights "
        "add up to 1.",
    ),
    "biased_var": (
        "you fed the biased batch variance: forgot the factor m / (m - 1)",
        "var_B is the biased variance used to normalize the batch; the running "
        "average (the estimate used at test time) is fed the unbiased m / (m - 1) * "
        "var_B, as in Ioffe & Szegedy's Algorithm 2 and PyTorch.",
    ),
    "bessel_inverted": (
        "the Bessel factor is upside down: use m / (m - 1), not (m - 1) / m",
        "The unbiased variance is larger than the biased one: m / (m - 1) * var_B.",
    ),
    "integer_division": (
        "m // (m - 1) is integer division: it is 1 for every m > 2 (and "
        "(m - 1) // m is 0), so the factor m / (m - 1) is lost",
        "Write m / (m - 1) with a single slash: // rounds down to a whole number "
        "(8 // 7 == 1), / divides (8 / 7 == 1.1428...).",
    ),
    "no_ema": (
        "you returned the batch statistics themselves: no running average",
        "Mix the old value in: running = ema_beta * running + (1 - ema_beta) * "
        "batch_stat.",
    ),
    "var_not_updated": (
        "new_var is running_var unchanged: the variance is not updated",
        "new_var = ema_beta * running_var + (1 - ema_beta) * m / (m - 1) * var_B.",
    ),
    "mean_in_var": (
        "new_var averages in mu_B, the batch MEAN, instead of var_B",
        "new_var = ema_beta * running_var + (1 - ema_beta) * m / (m - 1) * var_B.",
    ),
    "bias_corrected": (
        "you divided by (1 - ema_beta): the running statistics are not bias-corrected",
        "Bias correction (Adam's v / (1 - beta^t)) would divide by 1 - ema_beta**t, "
        "and the course's running averages don't use it: return ema_beta * "
        "running + (1 - ema_beta) * batch_stat.",
    ),
    "integer_division_inverted": (
        "(m - 1) // m is integer division: it is 0, so var_B is lost (and the "
        "factor is upside down too)",
        "Write m / (m - 1) with a single slash: // rounds down to a whole number.",
    ),
    "bessel_on_mean": (
        "the mean got the factor m / (m - 1) too",
        "m / (m - 1) corrects the variance only (the batch mean is already "
        "unbiased): new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B.",
    ),
    "flipped_and_biased": (
        "the EMA direction is flipped and the variance is the biased one",
        "running = ema_beta * running + (1 - ema_beta) * batch_stat (the course's "
        "convention, not PyTorch's momentum), and the variance fed in is the "
        "unbiased m / (m - 1) * var_B.",
    ),
}


def check_update_running_stats(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check the update of Batch Norm's running statistics.

    Parameters
    ----------
    fn : the learner's ``fn(running_mean, running_var, mu_B, var_B, m, ema_beta)
        -> (new_mean, new_var)``; every array has shape (n_l, 1), m is the
        mini-batch size (int) and ema_beta the weight of the old value. Expected
        (the series' convention, see :mod:`bnutils.layers`)::

            new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
            new_var  = ema_beta * running_var  + (1 - ema_beta) * m / (m - 1) * var_B

    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`CheckResult`. Named mistakes: exception, None, flipped EMA
    direction (PyTorch's momentum convention), biased variance fed in, Bessel
    factor inverted, integer division m // (m - 1), the factor m / (m - 1) on
    the mean too, fixed ema_beta, missing (1 - ema_beta), mean and var swapped,
    inputs modified in place; see :mod:`bnutils.checks` for what every checker
    names. Tested on six cases (see :func:`_running_cases`).
    """

    def body() -> CheckResult:
        cases = _running_cases()
        descs = [f"m={c['m']}, ema_beta={c['ema_beta']}" for c in cases]
        keys = ("running_mean", "running_var", "mu_B", "var_B", "m", "ema_beta")
        names = ("new_mean", "new_var")
        outs, refs, modified = [], [], []
        mean_v: dict[str, list] = {}
        var_v: dict[str, list] = {}
        for case, desc in zip(cases, descs, strict=True):
            outcome = call_learner(fn, [(k, case[k]) for k in keys])
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, _RUNNING_SIGNATURE)])
            outs.append(unpack(outcome.value, names, "the tuple (new_mean, new_var)"))
            modified += outcome.modified
            ref, mv, vv = _running_variants(case)
            refs.append(ref)
            for tag, array in mv.items():
                mean_v.setdefault(tag, []).append(array)
            for tag, array in vv.items():
                var_v.setdefault(tag, []).append(array)
        issues = []
        if modified:
            issues.append(in_place_issue(modified))
        swapped = permutation_issue(outs, refs, names)
        if swapped is not None:
            issues.append(swapped)
        else:
            for j, (label, table) in enumerate(((names[0], mean_v), (names[1], var_v))):
                variants = [
                    Variant(
                        "integer_division" if key.startswith("integer_div") else key,
                        *_RUNNING_MISTAKES[key],
                        arrays,
                    )
                    for key, arrays in table.items()
                ]
                issues += diagnose(
                    label, [o[j] for o in outs], [r[j] for r in refs], variants, descs
                )
        if any(i.tag == "flipped_and_biased" for i in issues):
            # The variance's diagnosis already says "flipped": one message.
            issues = [i for i in issues if i.tag != "ema_flipped"]
            issues.sort(key=lambda i: i.tag != "flipped_and_biased")
        flat_outs = [p for o in outs for p in o]
        flat_refs = [p for r in refs for p in r]
        if issues:
            raise Fail(dedupe(issues), *error_sizes(flat_outs, flat_refs))
        return passed_result("update_running_stats", flat_outs, flat_refs)

    return run_checker(
        "update_running_stats",
        fn,
        body,
        verbose,
        ("running_mean", "running_var", "mu_B", "var_B", "m", "ema_beta"),
    )
