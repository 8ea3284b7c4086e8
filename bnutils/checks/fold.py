"""Exercise of notebook 01: :func:`check_fold_normalization`.

The learner folds a fixed input normalization ``(X - mu) / sigma`` into the
layer ``Z = W X_norm + b`` that follows it: ``W_raw = W / sigma.T`` and
``b_raw = b - W @ (mu / sigma)``, so that ``W_raw @ X + b_raw`` equals the
normalize-then-layer pipeline for every ``X``. Shapes: ``W`` (n_1, n_x), ``b``
(n_1, 1), ``mu`` and ``sigma`` (n_x, 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    Fail,
    Issue,
    as_real,
    call_learner,
    column,
    dedupe,
    diagnose_parts,
    error_sizes,
    exception_issue,
    in_place_issue,
    passed_result,
    permutation_issue,
    run_checker,
    unpack,
)

_SIGNATURE = "fold_normalization(W, b, mu, sigma) -> (W_raw, b_raw)"
_NAMES = ("W_raw", "b_raw")


def _cases() -> list[dict]:
    """Layers on which the right answer and every named mistake differ.

    The first case is square (n_1 = n_x = 4), so that dividing the *rows* of W
    by sigma runs without an error and can be named; the others have
    n_1 != n_x, an odd n_x (3) and n_x = 2 (as in the notebook). One case has
    large means (about 1e3), one large and small scales (1e3 and 0.05), and
    every mu and sigma has distinct entries, so swapping features shows.
    """
    rng = np.random.default_rng(20150301)

    def layer(n_1, n_x):
        W = rng.normal(0.0, 1.0, size=(n_1, n_x))
        b = rng.normal(0.0, 1.0, size=(n_1, 1))
        return W, b

    W1, b1 = layer(4, 4)
    W2, b2 = layer(1, 2)
    W3, b3 = layer(5, 3)
    W4, b4 = layer(2, 3)
    return [
        {"W": W1, "b": b1, "mu": column([1.5, -2.0, 0.7, 3.0]),
         "sigma": column([2.0, 0.5, 4.0, 1.3])},
        {"W": W2, "b": b2, "mu": column([3.0, 80.0]), "sigma": column([1.1, 9.0])},
        {"W": W3, "b": b3, "mu": column([1200.0, -850.0, 40.0]),
         "sigma": column([3.0, 7.5, 0.6])},
        {"W": W4, "b": b4, "mu": column([0.3, -1.2, 2.5]),
         "sigma": column([1500.0, 0.05, 2.2])},
    ]  # fmt: skip


def _ref(W, b, mu, sigma):
    """The folded layer, found by probing the pipeline (independent of the
    formula): ``b_raw`` is its output at ``x = 0`` and column ``j`` of
    ``W_raw`` is its output at the unit vector ``e_j`` minus that."""
    n_x = W.shape[1]

    def pipeline(x):
        return W @ ((x - mu) / sigma) + b

    b_raw = pipeline(np.zeros((n_x, 1)))
    W_raw = pipeline(np.eye(n_x)) - b_raw
    return W_raw, b_raw


def _variants(W, b, mu, sigma) -> dict[str, np.ndarray | None]:
    """What each named mistake returns on one case (None where it raises)."""
    try:  # runs when W is square, or has one row: (1, n_x) / (n_x, 1) -> (n_x, n_x)
        rows = W / sigma
    except ValueError:
        rows = None
    try:  # `W @ mu / sigma` is (W @ mu) / sigma: (n_1, 1) / (n_x, 1)
        precedence = b - (W @ mu) / sigma
    except ValueError:
        precedence = None
    return {
        # W_raw
        "times_sigma": W * sigma.T,
        "divided_by_var": W / sigma.T**2,
        "rows_divided": rows,
        "weights_unchanged": W.copy(),
        # b_raw
        "bias_unchanged": b.copy(),
        "bias_sign": b + W @ (mu / sigma),
        "bias_no_sigma": b - W @ mu,
        "bias_divided_twice": b - W @ (mu / sigma**2),
        "bias_times_sigma": b - W @ (mu * sigma),
        "bias_not_summed": b - W * (mu / sigma).T,
        "bias_precedence": precedence,
    }


_W_TAGS = ("times_sigma", "divided_by_var", "rows_divided", "weights_unchanged")
_B_TAGS = (
    "bias_unchanged",
    "bias_sign",
    "bias_no_sigma",
    "bias_divided_twice",
    "bias_times_sigma",
    "bias_not_summed",
    "bias_precedence",
)

_MISTAKES = {
    "times_sigma": (
        "W_raw multiplies W by sigma instead of dividing",
        "The layer sees x_j / sigma_j, so the weight of the raw x_j is "
        "W[k, j] / sigma_j: W_raw = W / sigma.T.",
    ),
    "divided_by_var": (
        "W_raw divides W by sigma² instead of sigma",
        "Normalization divides each feature by its standard deviation sigma_j "
        "once: W_raw = W / sigma.T.",
    ),
    "rows_divided": (
        "W_raw divides the rows of W by sigma, not its columns",
        "sigma_j belongs to feature j, which is column j of W (shape (n_1, n_x)). "
        "sigma has shape (n_x, 1); transpose it to a row: W / sigma.T. (W / sigma "
        "only ran because this W is square.)",
    ),
    "weights_unchanged": (
        "W_raw is W unchanged",
        "Raw features are not normalized any more, so each weight must absorb "
        "its feature's 1 / sigma_j: W_raw = W / sigma.T.",
    ),
    "bias_unchanged": (
        "b_raw is b unchanged",
        "The normalization also subtracted mu: W (x - mu) / sigma + b has the "
        "constant part b - W @ (mu / sigma), which is b_raw.",
    ),
    "bias_sign": (
        "b_raw has the wrong sign on the mu term (b + W @ (mu / sigma))",
        "Expanding W (x - mu) / sigma + b gives - W @ (mu / sigma): "
        "b_raw = b - W @ (mu / sigma).",
    ),
    "bias_no_sigma": (
        "b_raw = b - W @ mu: the mu term is missing its 1 / sigma",
        "mu is subtracted before the division by sigma, so it is divided too: "
        "b_raw = b - W @ (mu / sigma) (or b - W_raw @ mu).",
    ),
    "bias_divided_twice": (
        "b_raw divides mu by sigma twice (b - W @ (mu / sigma²))",
        "Use either the original W with mu / sigma, or W_raw with mu: "
        "b_raw = b - W @ (mu / sigma) = b - W_raw @ mu, not both divisions.",
    ),
    "bias_times_sigma": (
        "b_raw multiplies mu by sigma (b - W @ (mu * sigma))",
        "The normalized input is (x - mu) / sigma: mu is divided by sigma, "
        "b_raw = b - W @ (mu / sigma).",
    ),
    "bias_not_summed": (
        "b_raw has one value per unit and feature, shape (n_1, n_x): the mu "
        "terms are not summed over the features",
        "Each unit's constant is a sum over its inputs, a matrix product: "
        "b_raw = b - W @ (mu / sigma), shape (n_1, 1). W * (mu / sigma).T "
        "multiplies entry by entry and keeps one column per feature.",
    ),
}

_MISTAKES["bias_precedence"] = (
    "b_raw divides W @ mu by sigma: `W @ mu / sigma` is (W @ mu) / sigma",
    "@ and / have the same precedence and go left to right, so the product "
    "W @ mu (one value per unit) is divided by sigma (one value per feature). "
    "Put the division first: b - W @ (mu / sigma).",
)

_SHAPE_HINT = (
    "W_raw has the shape of W, (n_1, n_x): one row per unit, one column per "
    "feature; b_raw the shape of b, (n_1, 1). sigma and mu are columns (n_x, 1): "
    "use sigma.T to divide the columns of W, and W @ (mu / sigma) for the "
    "constant."
)


def _exception(exc: Exception, desc: str) -> Issue:
    issue = exception_issue(exc, desc, _SIGNATURE)
    if "broadcast" in str(exc) or "matmul" in str(exc) or "align" in str(exc):
        # The engine's generic note is about statistics over an axis; here the
        # usual cause is sigma (n_x, 1) meeting W (n_1, n_x) without a transpose.
        kept = [
            line
            for line in issue.hint.splitlines()
            if not line.startswith("Shapes that don't broadcast")
        ]
        issue.hint = "\n".join([*kept, _SHAPE_HINT])
    return issue


def _fold_hint(issue: Issue) -> Issue:
    if issue.tag in ("transposed", "wrong_shape"):
        issue.hint = _SHAPE_HINT
    elif not issue.hint:
        issue.hint = (
            "Return two real float arrays, e.g. W / sigma.T and b - W @ (mu / sigma), "
            "computed from the arguments."
        )
    return issue


def _diagnose_parts(parts_per_case, refs, variants, descs) -> list[Issue]:
    """Issues of W_raw and b_raw over the given cases ([] when both are right)."""
    tables = [
        {
            tag: [v[tag] for v in variants]
            for tag in tags
            if all(v[tag] is not None for v in variants)
        }
        for tags in (_W_TAGS, _B_TAGS)
    ]
    found = diagnose_parts(_NAMES, parts_per_case, refs, tables, _MISTAKES, descs)
    return [_fold_hint(issue) for issue in found]


def check_fold_normalization(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check folding a fixed input normalization into the next layer.

    Parameters
    ----------
    fn : the learner's ``fn(W, b, mu, sigma) -> (W_raw, b_raw)`` with W of
        shape (n_1, n_x), b of shape (n_1, 1), mu and sigma of shape (n_x, 1);
        the answer satisfies ``W_raw @ X + b_raw == W @ ((X - mu) / sigma) + b``
        for every X of shape (n_x, m), i.e. ``W_raw = W / sigma.T`` and
        ``b_raw = b - W @ (mu / sigma)``.
    verbose : print the verdict (and, on failure, the explanation).

    Four layers are tried: (n_1, n_x) = (4, 4), (1, 2), (5, 3) and (2, 3), one
    with means near 1e3, one with scales from 0.05 to 1.5e3. The answer is
    found by probing the pipeline, not from the formula.

    Returns
    -------
    :class:`CheckResult`. Named mistakes (``mistake`` tags): W_raw multiplied
    by sigma, divided by sigma², rows instead of columns divided (on the square
    layer; on the others that raises and the verdict says so), W left
    unchanged; b_raw left unchanged, with the wrong sign, without the 1/sigma,
    divided by sigma twice, with mu times sigma, not summed over the features
    (shape (n_1, n_x)); and the general ones: exception (with a note on
    shapes), None, one array instead of two, outputs swapped, wrong type or
    shape, NaN, inputs modified in place.
    """

    def body() -> CheckResult:
        cases = _cases()
        descs = [
            f"W of shape {c['W'].shape} with mu up to {np.abs(c['mu']).max():g} "
            f"and sigma from {c['sigma'].min():g} to {c['sigma'].max():g}"
            for c in cases
        ]
        refs = [_ref(**c) for c in cases]
        variants = [_variants(**c) for c in cases]
        parts_per_case, modified = [], []
        for k, (case, desc) in enumerate(zip(cases, descs, strict=True)):
            args = [(name, case[name]) for name in ("W", "b", "mu", "sigma")]
            outcome = call_learner(fn, args)
            if outcome.error is not None:
                # A mistake visible on the cases that ran (rows divided on the
                # square layer) explains the error that follows.
                earlier = (
                    _diagnose_parts(parts_per_case, refs[:k], variants[:k], descs[:k])
                    if parts_per_case
                    else []
                )
                named = [i for i in earlier if i.tag in _MISTAKES]
                raised = _exception(outcome.error, desc)
                if named:
                    named[0].hint += f"\nOn the next layer it {raised.message}."
                    raise Fail(named)
                raise Fail([raised])
            parts_per_case.append(
                unpack(outcome.value, _NAMES, "the tuple (W_raw, b_raw)")
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
        if issues:
            flat = [p for parts in parts_per_case for p in parts]
            flat_refs = [r for ref in refs for r in ref]
            raise Fail(dedupe(issues), *error_sizes(flat, flat_refs))
        flat = [as_real(p) for parts in parts_per_case for p in parts]
        return passed_result(
            "fold_normalization", flat, [r for ref in refs for r in ref]
        )

    return run_checker("fold_normalization", fn, body, verbose)
