"""Exercise of notebook 07: :func:`check_saturation_share`, the share of
saturated (tanh, sigmoid) or dead (ReLU) units of a layer."""

from __future__ import annotations

import math
import warnings

import numpy as np

from bnutils.checks.engine import CheckResult, rel_error

# ----------------------------------------------------------------------------
# The exercise's checker
# ----------------------------------------------------------------------------

_FILL_IN = "fill in the code marked YOUR CODE HERE"


def _saturation_cases() -> list[dict]:
    """Three arrays whose answers are known by construction, and what each
    common mistake gives on them."""
    rng = np.random.default_rng(7)
    cases = []

    # tanh: 6 x 10 values in (-0.9, 0.9); 5 set above 0.97, 4 below -0.97.
    A = rng.uniform(-0.9, 0.9, size=(6, 10))
    pos = [(0, 1), (1, 4), (2, 2), (4, 7), (5, 9)]
    neg = [(0, 6), (3, 3), (3, 8), (5, 0)]
    for r, c in pos:
        A[r, c] = rng.uniform(0.975, 0.999)
    for r, c in neg:
        A[r, c] = -rng.uniform(0.975, 0.999)
    A[1, 1], A[2, 5] = 0.965, -0.96  # close to the edge, not saturated
    size = A.size
    share = (len(pos) + len(neg)) / size
    cases.append(
        {
            "activation": "tanh",
            "A": A,
            "want": share,
            "per_unit_len": 6,
            "variants": [
                (
                    "no_abs",
                    len(pos) / size,
                    "only the positive tail was counted (a > 0.97)",
                    "tanh saturates on both sides: count |a| > 0.97 with np.abs(A).",
                ),
                (
                    "unsaturated_share",
                    1 - share,
                    "this is the share of units that are NOT saturated",
                    "Count the values with |a| > 0.97, not the others.",
                ),
            ],
        }
    )

    # sigmoid: 5 x 12 values in (0.1, 0.9); 4 set above 0.97, 3 below 0.03.
    A = rng.uniform(0.1, 0.9, size=(5, 12))
    hi = [(0, 0), (1, 5), (3, 11), (4, 4)]
    lo = [(0, 7), (2, 2), (4, 9)]
    for r, c in hi:
        A[r, c] = rng.uniform(0.975, 0.999)
    for r, c in lo:
        A[r, c] = rng.uniform(0.001, 0.025)
    size = A.size
    share = (len(hi) + len(lo)) / size
    cases.append(
        {
            "activation": "sigmoid",
            "A": A,
            "want": share,
            "per_unit_len": 5,
            "variants": [
                (
                    "sigmoid_high_only",
                    len(hi) / size,
                    "only outputs near 1 were counted (a > 0.97, or |a| > 0.97 "
                    "as for tanh)",
                    "The sigmoid's outputs lie in (0, 1): it is flat near 0 too. "
                    "Count a < 0.03 or a > 0.97.",
                ),
                (
                    "sigmoid_low_only",
                    len(lo) / size,
                    "only outputs near 0 were counted (a < 0.03)",
                    "The sigmoid is flat near 1 too: count a < 0.03 or a > 0.97.",
                ),
                (
                    "unsaturated_share",
                    1 - share,
                    "this is the share of units that are NOT saturated",
                    "Count the values below 0.03 or above 0.97, not the others.",
                ),
            ],
        }
    )

    # relu: 6 units x 10 examples; units 0 and 4 dead (zero for every example);
    # units 1 and 3 zero for some examples; example 9 zero in every unit.
    A = rng.uniform(0.2, 2.0, size=(6, 10))
    A[[0, 4], :] = 0.0
    A[1, [0, 2, 3, 5, 6, 8]] = 0.0
    A[3, [1, 4]] = 0.0
    A[:, 9] = 0.0
    n_units, m = A.shape
    n_zero = int(np.sum(A == 0))  # 20 + 6 + 2 + 4 (example 9 in units 1, 2, 3, 5)
    cases.append(
        {
            "activation": "relu",
            "A": A,
            "want": 2 / n_units,
            "per_unit_len": n_units,
            "variants": [
                (
                    "relu_elementwise",
                    n_zero / A.size,
                    "this is the share of zero entries, not of dead units",
                    "A ReLU unit is dead when it is 0 for EVERY example of the "
                    "batch: np.all(A <= 0, axis=1) gives one True/False per unit "
                    "(row); then take the mean.",
                ),
                (
                    "relu_wrong_axis",
                    1 / m,
                    "this is the share of examples (columns) that are zero in every "
                    "unit: the statistic went over the wrong axis",
                    "Units are rows, examples are columns (n_l, m): use axis=1 to "
                    "ask, for each unit, whether all its examples are 0.",
                ),
                (
                    "relu_alive",
                    1 - 2 / n_units,
                    "this is the share of units that are alive, not dead",
                    "Count the units that are 0 for every example.",
                ),
            ],
        }
    )
    for c in cases:
        want = c["want"]
        c["variants"] += [
            (
                "percent",
                100 * want,
                "the answer is a percentage (x 100)",
                "Return a share between 0 and 1, e.g. 0.25 for a quarter.",
            ),
            (
                "count",
                want * (c["A"].shape[0] if c["activation"] == "relu" else c["A"].size),
                "this is a count, not a share",
                "Divide by the number of values (or of units, for ReLU), or use "
                "np.mean on the boolean array.",
            ),
        ]
    return cases


def _fail(message: str, hint: str, tag: str, got=math.nan, want=math.nan):
    diff = abs(got - want) if np.isfinite(got) and np.isfinite(want) else math.nan
    err = rel_error(np.array(got), np.array(want)) if np.isfinite(diff) else math.nan
    return CheckResult("saturation_share", False, message, diff, err, hint, tag)


def _check_one_case(fn, case: dict) -> CheckResult | float:
    """Run ``fn`` on one case; a failing CheckResult, or |got - want| on success."""
    act, A = case["activation"], case["A"]
    where = f"on the {act} case"
    arg = A.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(arg, act)
        except NotImplementedError:
            return _fail(
                f"not implemented yet {where}", _FILL_IN + ".", "not_implemented"
            )
        except Exception as exc:
            return _fail(
                f"raised {type(exc).__name__}: {str(exc)[:120]} {where}",
                "Your function should run on an array of shape (n_l, m) and the "
                "name of the activation ('tanh', 'sigmoid' or 'relu').",
                "exception",
            )
    warned = [f"{w.category.__name__}: {w.message}" for w in caught]
    if not np.array_equal(arg, A):
        return _fail(
            f"it changed A in place {where}",
            "Don't modify the input (e.g. A[A < 0] = 0); compute a boolean mask "
            "instead: np.abs(A) > 0.97 makes a new array.",
            "in_place",
        )
    if out is None:
        return _fail(
            "returned None: " + _FILL_IN,
            "Return one number between 0 and 1.",
            "returned_none",
        )
    try:
        value = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        return _fail(
            f"returned a {type(out).__name__}, not a number {where}",
            "Return one float, e.g. float(np.mean(mask)).",
            "not_a_number",
        )
    if value.size != 1:
        if value.shape == (case["per_unit_len"],) or value.shape == (
            case["per_unit_len"],
            1,
        ):
            return _fail(
                f"returned one value per unit (shape {value.shape}) {where}",
                "The share is one number for the whole layer: average over all "
                "units (np.mean without an axis, or the mean of the per-unit "
                "booleans for ReLU).",
                "per_unit",
            )
        return _fail(
            f"returned an array of shape {value.shape} {where}; expected one number",
            "Return one float between 0 and 1.",
            "wrong_shape",
        )
    got = float(value.reshape(()))
    want = float(case["want"])
    if not np.isfinite(got):
        return _fail(f"returned {got} {where}", "Return a finite share.", "not_finite")
    if abs(got - want) <= 1e-12:
        return abs(got - want)
    for tag, variant, message, hint in case["variants"]:
        if abs(got - variant) <= 1e-9 * max(1.0, abs(variant)):
            return _fail(
                f"{message} ({where}: got {got:.4g}, expected {want:.4g})",
                hint,
                tag,
                got,
                want,
            )
    hint = (
        "tanh: share of |a| > 0.97; sigmoid: share of a < 0.03 or a > 0.97; relu: "
        "share of units (rows) that are 0 for every example."
    )
    if warned:
        hint += f"\nYour function also triggered a warning: {warned[0]}"
    return _fail(
        f"wrong {where}: got {got:.4g}, expected {want:.4g}",
        hint,
        "wrong_value",
        got,
        want,
    )


def check_saturation_share(fn, *, verbose: bool = True) -> CheckResult:
    """Check a learner's ``saturation_share(A, activation)``.

    Runs it on a tanh, a sigmoid and a ReLU layer whose saturated (or dead)
    share is known by construction, and names the common mistakes: only one
    tail counted, the unsaturated share, dead entries instead of dead units,
    the wrong axis, a percentage or a count instead of a share, one value per
    unit, modifying ``A`` in place. Never raises; prints a one-line verdict
    (and a hint on failure) when ``verbose``.

    Returns a :class:`bnutils.checks.CheckResult`.
    """
    name = "saturation_share"
    if not callable(fn):
        result = CheckResult(
            name,
            False,
            f"expected your function, got {type(fn).__name__}",
            hint="Pass the function itself: check_saturation_share(saturation_share).",
            mistake="not_callable",
        )
    else:
        try:
            diffs = []
            result = None
            for case in _saturation_cases():
                out = _check_one_case(fn, case)
                if isinstance(out, CheckResult):
                    result = out
                    break
                diffs.append(out)
            if result is None:
                diff = max(diffs)
                result = CheckResult(
                    name,
                    True,
                    "passed — tanh, sigmoid and relu cases right, "
                    f"max |diff| {diff:.1e}",
                    diff,
                    0.0 if diff == 0 else diff,
                )
        except Exception as exc:  # never raise because of the learner's code
            result = CheckResult(
                name,
                False,
                f"I could not analyse your function ({type(exc).__name__}: {exc})",
                hint="Return one float between 0 and 1.",
                mistake="unanalysable",
            )
    if verbose:
        print(result)
    return result
