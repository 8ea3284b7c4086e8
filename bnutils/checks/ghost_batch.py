"""Exercise of notebook 04: :func:`check_ghost_batchnorm_forward`, Batch Norm
with statistics over ghost batches (Hoffer, Hubara & Soudry 2017).

The learner writes ``ghost_batchnorm_forward(Z, gamma, beta, ghost_size,
eps=1e-5) -> Z_tilde``: the m columns of ``Z`` (shape ``(n_l, m)``) are cut into
``m // ghost_size`` consecutive ghost batches, each normalized with its own mean
and biased variance, then scaled by ``gamma`` and shifted by ``beta`` (shape
``(n_l, 1)``).

The test cases differ in ``n_l`` and ``m`` (``n_l != m``, odd ``m``, ``m = 2``,
ghost batches of 2 to 5 examples, one and several ghost batches), use two values
of ``eps``, and include a large-offset case (values near 1e6, where a one-pass
variance ``E[Z^2] - E[Z]^2`` loses its precision) and a large-scale case
(values of order 1e4). One case has as many units as ghost batches, so that
gamma applied along the ghost axis runs without an error there.
"""

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
    call_learner,
    column,
    dedupe,
    describe,
    diagnose,
    error_sizes,
    exception_issue,
    hardcoded_eps_mistake,
    in_place_issue,
    max_rel,
    passed_result,
    run_checker,
    unpack,
)

NAME = "ghost_batchnorm_forward"
SIGNATURE = "ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps=1e-5) -> Z_tilde"
STEPS = (
    "k = m // ghost_size; Zg = Z.reshape(n_l, k, ghost_size);\n"
    "mu = Zg.mean(axis=2, keepdims=True); var = ((Zg - mu)**2).mean(axis=2, "
    "keepdims=True);\nZ_norm = ((Zg - mu) / np.sqrt(var + eps)).reshape(n_l, m); "
    "Z_tilde = gamma * Z_norm + beta."
)


def _cases() -> list[dict]:
    """The test inputs (float64). Each case: Z (n_l, m), gamma, beta (n_l, 1),
    ghost_size, eps, and a description for the messages."""
    rng = np.random.default_rng(20170524)  # Hoffer et al., arXiv 1705.08741

    def unit_values(means, stds, m):
        return column(means) + column(stds) * rng.standard_normal((len(means), m))

    cases = [
        # 4 units x 12 examples, 3 ghost batches of 4 (n_l != m, n_l != k); the
        # last unit nearly constant (variance ~1e-8), where any eps written in
        # place of the argument changes the answer.
        {
            "Z": unit_values([2.0, -1.0, 0.5, 3.0], [0.5, 2.0, 1.0, 1e-4], 12),
            "gamma": column([1.5, 0.7, 2.0, 0.3]),
            "beta": column([-0.4, 0.9, 0.2, -1.3]),
            "ghost_size": 4,
            "eps": 1e-5,
        },
        # 3 units x 9 examples (odd m), 3 ghost batches of 3: as many units as
        # ghost batches, and eps = 0.5 against small variances.
        {
            "Z": unit_values([1.0, -0.5, 0.0], [0.3, 0.45, 0.2], 9),
            "gamma": column([0.8, 1.7, 1.2]),
            "beta": column([0.3, -0.6, 1.1]),
            "ghost_size": 3,
            "eps": 0.5,
        },
        # 5 units x 2 examples (m = 2): one ghost batch, ordinary Batch Norm.
        {
            "Z": unit_values([0.0, 1.0, -2.0, 0.5, 4.0], [1.0, 0.6, 2.0, 1.5, 0.8], 2),
            "gamma": column([1.1, 0.4, 2.5, 0.9, 1.6]),
            "beta": column([0.5, -0.2, 0.0, 1.4, -0.9]),
            "ghost_size": 2,
            "eps": 1e-5,
        },
        # 2 units x 15 examples, 3 ghost batches of 5 (odd ghost size), eps 0.5.
        {
            "Z": unit_values([-0.3, 0.8], [0.4, 0.25], 15),
            "gamma": column([1.3, 0.6]),
            "beta": column([-0.7, 0.4]),
            "ghost_size": 5,
            "eps": 0.5,
        },
        # Large offset: values near 1e6 with spread 1, 4 ghost batches of 2.
        {
            "Z": unit_values([1e6, -2e6, 5e5], [1.0, 2.0, 0.5], 8),
            "gamma": column([0.9, 1.4, 2.2]),
            "beta": column([0.1, -0.3, 0.6]),
            "ghost_size": 2,
            "eps": 1e-5,
        },
        # Large scale: values of order 1e4, 2 ghost batches of 3.
        {
            "Z": unit_values([0.0, 3e4, -1e4, 5e3], [2e4, 1e4, 5e4, 8e3], 6),
            "gamma": column([0.5, 1.0, 3.0, 1.8]),
            "beta": column([2.0, -1.0, 0.0, 0.7]),
            "ghost_size": 3,
            "eps": 1e-5,
        },
    ]
    for case in cases:
        n_l, m = case["Z"].shape
        k = m // case["ghost_size"]
        case["desc"] = (
            f"Z of shape {(n_l, m)}, ghost_size={case['ghost_size']} ({k} ghost "
            f"batch{'es' if k > 1 else ''}), eps={case['eps']}"
        )
    return cases


#: Index of the large-offset case in :func:`_cases` (one-pass variance test).
_OFFSET_CASE = 4


def _ref(Z, gamma, beta, ghost_size, eps) -> np.ndarray:
    """The right answer, written with explicit loops over the ghost batches."""
    out = np.empty_like(Z)
    for start in range(0, Z.shape[1], ghost_size):
        block = Z[:, start : start + ghost_size]
        mu = block.sum(axis=1, keepdims=True) / ghost_size
        var = ((block - mu) ** 2).sum(axis=1, keepdims=True) / ghost_size
        out[:, start : start + ghost_size] = (
            gamma * (block - mu) / np.sqrt(var + eps) + beta
        )
    return out


def _normalize(Zg, axis, eps, ddof=0):
    mu = Zg.mean(axis=axis, keepdims=True)
    var = Zg.var(axis=axis, ddof=ddof, keepdims=True)
    return (Zg - mu) / np.sqrt(var + eps)


def _variants(Z, gamma, beta, ghost_size, eps) -> dict[str, np.ndarray]:
    """What each named mistake returns on one case."""
    n_l, m = Z.shape
    g = ghost_size
    k = m // g
    Zg = Z.reshape(n_l, k, g)
    mu = Zg.mean(axis=2, keepdims=True)
    Zc = Zg - mu
    var = (Zc**2).mean(axis=2, keepdims=True)
    right_norm = Zc / np.sqrt(var + eps)  # (n_l, k, g)
    Zn = right_norm.reshape(n_l, m)
    right = gamma * Zn + beta

    def scaled(normed):
        """gamma * normed + beta, with normed reshaped back to (n_l, m)."""
        return gamma * normed.reshape(n_l, m) + beta

    out = {}
    with np.errstate(all="ignore"):
        # The statistics of the whole batch: ordinary Batch Norm.
        out["whole_batch"] = scaled(_normalize(Z, 1, eps))
        # Z.reshape(n_l, g, k): [i, a, b] = Z[i, a * k + b]. Statistics over axis
        # 1 make ghost batches of every k-th example (columns b, k + b, ...);
        # over axis 2, g groups of k consecutive examples (ghost_size read as
        # the number of ghost batches).
        by_g_k = Z.reshape(n_l, g, k)
        if k > 1:
            out["interleaved"] = scaled(_normalize(by_g_k, 1, eps))
        if k != g:
            out["ghost_size_as_count"] = scaled(_normalize(by_g_k, 2, eps))
        # Statistics over the units (axis 0) of each example.
        out["wrong_axis"] = scaled(_normalize(Z, 0, eps))
        # One mean and variance per ghost batch, shared by all units.
        out["pooled_units"] = scaled(_normalize(Zg, (0, 2), eps))
        out["unbiased_var"] = scaled(_normalize(Zg, 2, eps, ddof=1))
        out["eps_outside_sqrt"] = scaled(Zc / (np.sqrt(var) + eps))
        for value in HARDCODED_EPS:
            out[_eps_key(value)] = scaled(Zc / np.sqrt(var + value))
        out["divided_by_var"] = scaled(Zc / (var + eps))
        out["no_centering"] = scaled(Zg / np.sqrt(var + eps))
        # Centred per ghost batch, scaled by the whole batch's standard deviation.
        whole_var = Z.var(axis=1, keepdims=True)
        out["mixed_statistics"] = scaled(Zc.reshape(n_l, m) / np.sqrt(whole_var + eps))
        out["gamma_beta_swapped"] = beta * Zn + gamma
        out["no_gamma_beta"] = Zn
        out["gamma_ignored"] = Zn + beta
        out["beta_ignored"] = gamma * Zn
        # gamma and beta applied to the 3-D array: they broadcast along the
        # ghost-batch axis (runs only when n_l equals the number of ghost batches).
        if n_l == k:
            on_ghosts = gamma * right_norm + beta  # (n_l, 1) against (n_l, k, g)
            out["gamma_on_ghost_axis"] = on_ghosts.reshape(n_l, m)
        # Returned before reshaping back to (n_l, m).
        out["not_reshaped"] = right.reshape(n_l, k, g)
        # Reshaped back through a transpose: the columns come out scrambled.
        if k > 1 and g > 1:
            out["columns_scrambled"] = scaled(right_norm.transpose(0, 2, 1))
    return out


MISTAKES = {
    "whole_batch": (
        "you normalized with the statistics of the whole mini-batch, not of each "
        "ghost batch",
        "Cut the m columns into m // ghost_size ghost batches first, "
        "Zg = Z.reshape(n_l, m // ghost_size, ghost_size), and take the mean and "
        "variance of each, over axis=2 with keepdims=True.",
    ),
    "interleaved": (
        "your ghost batches hold every k-th example instead of consecutive ones",
        "Z.reshape(n_l, ghost_size, k) puts columns 0, k, 2k, ... together. "
        "Reshape to (n_l, k, ghost_size), k = m // ghost_size, so that ghost batch "
        "j holds the consecutive columns j*ghost_size ... (j+1)*ghost_size - 1, "
        "and take the statistics over the last axis.",
    ),
    "ghost_size_as_count": (
        "you used ghost_size as the number of ghost batches, not as their size",
        "ghost_size is how many examples each ghost batch holds; there are "
        "k = m // ghost_size of them: Z.reshape(n_l, m // ghost_size, ghost_size).",
    ),
    "wrong_axis": (
        "statistics over the units (axis 0) instead of over the examples",
        "Each unit is normalized over the examples of its ghost batch: with "
        "Zg = Z.reshape(n_l, k, ghost_size) that is axis=2.",
    ),
    "pooled_units": (
        "one mean and variance per ghost batch shared by all units",
        "Batch Norm keeps one mean and variance per unit (row) and ghost batch: "
        "average over the examples only, Zg.mean(axis=2, keepdims=True), shape "
        "(n_l, k, 1).",
    ),
    "unbiased_var": (
        "you used the unbiased variance (ddof=1) inside each ghost batch",
        "Batch Norm normalizes with the biased variance, mean((Zg - mu)**2) over "
        "the ghost batch (np.var's default ddof=0), whatever the batch size.",
    ),
    "eps_outside_sqrt": (
        "eps is outside the square root",
        "Write (Zg - mu) / np.sqrt(var + eps), not (Zg - mu) / (np.sqrt(var) + eps).",
    ),
    "divided_by_var": (
        "you divided by the variance instead of the standard deviation",
        "Divide by np.sqrt(var + eps), so each unit of each ghost batch ends with "
        "variance 1.",
    ),
    "no_centering": (
        "you forgot to subtract each ghost batch's mean",
        "Centre first, Zg - mu, then divide by np.sqrt(var + eps).",
    ),
    "mixed_statistics": (
        "you centred each ghost batch with its own mean but divided by the whole "
        "mini-batch's standard deviation",
        "Both statistics come from the same ghost batch: mean and variance of Zg "
        "over axis=2.",
    ),
    "gamma_beta_swapped": (
        "gamma and beta are swapped",
        "gamma scales and beta shifts: Z_tilde = gamma * Z_norm + beta.",
    ),
    "no_gamma_beta": (
        "you returned Z_norm without gamma and beta",
        "The last step is Z_tilde = gamma * Z_norm + beta.",
    ),
    "gamma_ignored": (
        "you forgot to scale by gamma",
        "The last step is Z_tilde = gamma * Z_norm + beta.",
    ),
    "beta_ignored": (
        "you forgot to shift by beta",
        "The last step is Z_tilde = gamma * Z_norm + beta.",
    ),
    "gamma_on_ghost_axis": (
        "gamma and beta were applied to the 3-D array (n_l, k, ghost_size), where "
        "numpy lines them up with the ghost batches, not with the units",
        "gamma has shape (n_l, 1); against a (n_l, k, ghost_size) array numpy "
        "matches its n_l with the k axis. Reshape Z_norm back to (n_l, m) first, "
        "then Z_tilde = gamma * Z_norm + beta (or use gamma[:, :, None]). With "
        "other shapes the same line raises a broadcasting error.",
    ),
    "not_reshaped": (
        "you returned the 3-D array (n_l, k, ghost_size); reshape it back",
        "End with .reshape(n_l, m): the layer's output has the shape of its input.",
    ),
    "columns_scrambled": (
        "the values are right but the columns are in the wrong order",
        "Reshape back with the same (row-major) order you reshaped with: "
        "Z_norm.reshape(n_l, m) straight from (n_l, k, ghost_size), without a "
        "transpose in between, so that every column keeps its example.",
    ),
}


def _eps_key(value: float) -> str:
    return f"eps_hardcoded_{value:g}"


_TESTED_EPS = tuple(c["eps"] for c in _cases())
for _value in HARDCODED_EPS:
    MISTAKES[_eps_key(_value)] = hardcoded_eps_mistake(_value, "eps", _TESTED_EPS)


def _tag(key: str) -> str:
    """The mistake tag a variant reports (every hard-coded eps is one mistake)."""
    return "eps_hardcoded" if key.startswith("eps_hardcoded") else key


def _one_pass_issue() -> Issue:
    return Issue(
        "one_pass_variance",
        "right everywhere except on values near 1e6, where your variance lost "
        "its precision",
        "E[Z**2] - E[Z]**2 subtracts two numbers near 1e12 to get a variance "
        "near 1: float64 keeps about 16 digits, so most of the answer is "
        "rounding error. Centre first: var = ((Zg - mu)**2).mean(axis=2, "
        "keepdims=True).",
    )


def check_ghost_batchnorm_forward(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check a ghost-batch Batch Norm forward pass (training mode).

    Parameters
    ----------
    fn : the learner's ``fn(Z, gamma, beta, ghost_size, eps=1e-5) -> Z_tilde``,
        Z of shape (n_l, m) with m a multiple of ghost_size, gamma and beta of
        shape (n_l, 1); Z_tilde of shape (n_l, m). Called with all five
        arguments by position.
    verbose : print the verdict (and, on failure, the explanation).

    Returns
    -------
    :class:`~bnutils.checks.CheckResult`. Named mistakes (``mistake`` tags):
    the whole mini-batch's statistics, interleaved (strided) ghost batches,
    ghost_size read as the number of ghost batches, statistics over the units,
    one statistic shared by all units, unbiased variance, eps outside the square
    root or hard-coded, variance instead of standard deviation, no centring,
    mean per ghost batch with the whole batch's variance, gamma and beta
    swapped or missing, gamma and beta broadcast along the ghost axis, the 3-D
    array returned, columns scrambled by the reshape back, a one-pass variance
    that loses precision at a large offset; and, as for every checker, an
    exception, None, a wrong type or shape, NaN, or inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [c["desc"] for c in cases]
        refs = [
            _ref(c["Z"], c["gamma"], c["beta"], c["ghost_size"], c["eps"])
            for c in cases
        ]
        outs, errors, modified = [], [], []
        for case in cases:
            args = [(k, case[k]) for k in ("Z", "gamma", "beta", "ghost_size", "eps")]
            outcome = call_learner(fn, args)
            errors.append(outcome.error)
            modified += outcome.modified
            value = outcome.value
            if outcome.error is not None:
                outs.append(None)
                continue
            if (
                isinstance(value, (tuple, list))
                and value
                and all(isinstance(v, np.ndarray) or v is None for v in value)
            ):
                raise Fail(
                    [
                        Issue(
                            "returned_tuple",
                            f"your function returned {describe(value)}; return the "
                            "array Z_tilde alone",
                            "This exercise needs no cache: end with `return "
                            "gamma * Z_norm + beta`.",
                        )
                    ]
                )
            outs.append(unpack(value, ("Z_tilde",), "the array Z_tilde")[0])
        computed = [
            _variants(c["Z"], c["gamma"], c["beta"], c["ghost_size"], c["eps"])
            for c in cases
        ]
        if any(e is not None for e in errors):
            # gamma broadcast along the ghost axis raises in every case except the
            # one with as many units as ghost batches: name it from that case.
            ran = [i for i, e in enumerate(errors) if e is None]
            for i in ran:
                want = computed[i].get("gamma_on_ghost_axis")
                got = outs[i]
                if (
                    want is not None
                    and isinstance(got, np.ndarray)
                    and got.size == want.size
                    and np.issubdtype(got.dtype, np.number)
                    and max_rel([got.astype(np.float64).reshape(want.shape)], [want])
                    < MATCH_TOL
                ):
                    tag = "gamma_on_ghost_axis"
                    raise Fail([Issue(tag, *MISTAKES[tag])])
            first = next(i for i, e in enumerate(errors) if e is not None)
            raise Fail([exception_issue(errors[first], descs[first], SIGNATURE)])
        tags = list(MISTAKES)
        variants = []
        for tag in tags:
            arrays = [c.get(tag) for c in computed]
            if any(a is None for a in arrays):
                # A mistake that can't happen in some case (e.g. only one ghost
                # batch) gives the right answer there.
                arrays = [
                    r if a is None else a for a, r in zip(arrays, refs, strict=True)
                ]
            variants.append(Variant(_tag(tag), *MISTAKES[tag], arrays=arrays))
        issues = diagnose("Z_tilde", outs, refs, variants, descs)
        if issues and issues[0].tag in ("unknown", "right_for_some_inputs"):
            others = [i for i in range(len(cases)) if i != _OFFSET_CASE]
            gots = [np.asarray(outs[i], dtype=np.float64) for i in others]
            if all(g.shape == refs[i].shape for g, i in zip(gots, others, strict=True)):
                if max_rel(gots, [refs[i] for i in others]) < TOL:
                    issues = [_one_pass_issue()]
        if modified:
            issues.insert(0, in_place_issue(modified))
        if not issues:
            return passed_result(NAME, outs, refs)
        if issues[0].tag in ("unknown", "right_for_some_inputs"):
            issues[0].hint += f"\nThe steps: {STEPS}"
        elif not issues[0].hint:
            issues[0].hint = (
                "Return a float numpy array of shape (n_l, m), the shape of Z: "
                "gamma * Z_norm + beta."
            )
        raise Fail(dedupe(issues), *error_sizes(outs, refs))

    return run_checker(
        NAME, fn, body, verbose, ("Z", "gamma", "beta", "ghost_size", "eps")
    )
