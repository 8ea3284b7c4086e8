"""Exercise of notebook 07: :func:`check_saturation_share`, the share of
saturated (tanh, sigmoid) or dead (ReLU) units of a layer."""

from __future__ import annotations

import math

import numpy as np

from bnutils.checks.engine import (
    YOUR_CODE,
    CheckResult,
    Fail,
    Issue,
    call_learner,
    failing_line,
    is_low_precision,
    kind_issue,
    run_checker,
    short,
)

_NAME = "saturation_share"
#: The saturation margin (bnutils.train.SATURATION_MARGIN): tanh saturates for
#: |a| > 1 - margin, the sigmoid for a < margin or a > 1 - margin.
_MARGIN = 0.03
_MATCH = 1e-9  # |got - value| (relative) below which a value is matched
_HINT = (
    "tanh: share of |a| > 0.97; sigmoid: share of a < 0.03 or a > 0.97; relu: "
    "share of units (rows) that are 0 for every example."
)


def _case(activation: str, A: np.ndarray, want: float) -> dict:
    return {"activation": activation, "A": A, "want": want}


def _saturation_cases() -> list[dict]:
    """Layers whose saturated (or dead) share is known by construction:
    tanh, sigmoid and ReLU layers with n_l != m, odd m and m = 2, values just
    inside and just outside the 0.97 and 0.03 edges (0.9699 to 0.9701, down
    to 1e-6 from the edge), ReLU units that are alive with small outputs (1e-9 to 0.15,
    never all zero) and a ReLU layer at a large scale (outputs up to 1e3)."""
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
    # Just beyond the edges (saturated) and just inside (not), so that a
    # threshold such as 0.9702 or 0.9698 shows.
    A[0, 3], A[4, 0], A[2, 8], A[1, 6] = 0.97001, 0.97005, 0.9701, 0.970001
    A[3, 5], A[5, 5] = 0.96995, -0.9699
    cases.append(_case("tanh", A, 13 / 60))

    # sigmoid: 5 x 12 values in (0.1, 0.9); 4 set above 0.97, 3 below 0.03.
    A = rng.uniform(0.1, 0.9, size=(5, 12))
    for r, c in [(0, 0), (1, 5), (3, 11), (4, 4)]:
        A[r, c] = rng.uniform(0.975, 0.999)
    for r, c in [(0, 7), (2, 2), (4, 9)]:
        A[r, c] = rng.uniform(0.001, 0.025)
    # Just beyond the edges (saturated) and just inside (not).
    A[1, 1], A[3, 3], A[2, 10] = 0.97001, 0.02999, 0.0299
    A[1, 8], A[3, 6] = 0.970001, 0.029999
    A[0, 9], A[4, 2] = 0.96995, 0.03005
    cases.append(_case("sigmoid", A, 12 / 60))

    # relu: 6 units x 10 examples; units 0 and 4 dead (zero for every example);
    # units 1 and 3 zero for some examples; example 9 zero in every unit.
    A = rng.uniform(0.2, 2.0, size=(6, 10))
    A[[0, 4], :] = 0.0
    A[1, [0, 2, 3, 5, 6, 8]] = 0.0
    A[3, [1, 4]] = 0.0
    A[:, 9] = 0.0
    cases.append(_case("relu", A, 2 / 6))

    # relu, m = 2: units 1 and 5 dead; units 0, 3 and 6 alive with small
    # outputs; units 2 and 4 at a large scale; unit 7 alive with the same
    # output for both examples (its spread is 0, it is not dead).
    A = np.array(
        [
            [0.0, 1e-3],
            [0.0, 0.0],
            [1e3, 0.0],
            [0.02, 0.0],
            [3.5, 250.0],
            [0.0, 0.0],
            [0.05, 0.004],
            [0.4, 0.4],
        ]
    )
    cases.append(_case("relu", A, 2 / 8))

    # tanh, 4 x 9: 3 above 0.97 (one just above), 2 below -0.97; three values
    # just inside the edges.
    A = rng.uniform(-0.94, 0.94, size=(4, 9))
    for (r, c), v in zip([(0, 0), (1, 3), (3, 8)], [0.9705, 0.978, 0.999], strict=True):
        A[r, c] = v
    for (r, c), v in zip([(2, 5), (3, 1)], [-0.972, -0.99], strict=True):
        A[r, c] = v
    A[0, 4], A[2, 2], A[1, 7] = 0.955, -0.965, 0.9695
    A[2, 7] = -0.97003  # just beyond the negative edge
    cases.append(_case("tanh", A, 6 / 36))

    # sigmoid, 3 x 5: 2 above 0.97, 3 below 0.03 (one just below); two values
    # just inside the edges.
    A = rng.uniform(0.1, 0.9, size=(3, 5))
    for (r, c), v in zip([(0, 2), (2, 4)], [0.9705, 0.99], strict=True):
        A[r, c] = v
    for (r, c), v in zip([(1, 0), (1, 3), (2, 1)], [0.0295, 0.01, 5e-4], strict=True):
        A[r, c] = v
    A[0, 0], A[2, 2] = 0.035, 0.962
    cases.append(_case("sigmoid", A, 5 / 15))

    # relu, 5 x 9: unit 0 dead; unit 1 alive in one example only (1e-4); unit 3
    # alive with outputs between 0.01 and 0.15; units 2 and 4 ordinary.
    A = rng.uniform(0.2, 3.0, size=(5, 9))
    A[0] = 0.0
    A[1] = 0.0
    A[1, 6] = 1e-4
    A[3] = rng.uniform(0.01, 0.15, size=9)
    A[3, [2, 5]] = 0.0
    A[[2, 4], 4] = 0.0
    cases.append(_case("relu", A, 1 / 5))

    # relu, 6 x 4: unit 2 dead; unit 0 alive by 1e-9 in one example only (a
    # tolerance such as np.isclose(A, 0) calls it dead).
    A = np.array(
        [
            [0.0, 1e-9, 0.0, 0.0],
            [0.3, 0.2, 1.2, 0.5],
            [0.0, 0.0, 0.0, 0.0],
            [2.0, 0.7, 0.0, 0.4],
            [0.5, 0.0, 0.8, 0.9],
            [1.1, 0.9, 0.4, 1.3],
        ]
    )
    cases.append(_case("relu", A, 1 / 6))
    return cases


def _variants(case: dict) -> list[tuple[str, float, str, str]]:
    """(tag, value, message, hint) of the common mistakes on one case."""
    A, act, want = case["A"], case["activation"], case["want"]
    out = []
    if act == "tanh":
        out += [
            (
                "no_abs",
                float(np.mean(A > 1 - _MARGIN)),
                "only the positive tail was counted (a > 0.97)",
                "tanh saturates on both sides: count |a| > 0.97 with np.abs(A).",
            ),
            (
                "no_abs",
                float(np.mean(A < -(1 - _MARGIN))),
                "only the negative tail was counted (a < -0.97)",
                "tanh saturates on both sides: count |a| > 0.97 with np.abs(A).",
            ),
            (
                "activation_applied_again",
                float(np.mean(np.abs(np.tanh(A)) > 1 - _MARGIN)),
                "nothing counted: did you apply tanh to A again?",
                "A already holds the layer's activations (the outputs of tanh): "
                "compare A itself, np.abs(A) > 0.97.",
            ),
            (
                "unsaturated_share",
                1 - want,
                "this is the share of units that are NOT saturated",
                "Count the values with |a| > 0.97, not the others.",
            ),
        ]
    elif act == "sigmoid":
        out += [
            (
                "sigmoid_high_only",
                float(np.mean(A > 1 - _MARGIN)),
                "only outputs near 1 were counted (a > 0.97, or |a| > 0.97 "
                "as for tanh)",
                "The sigmoid's outputs lie in (0, 1): it is flat near 0 too. "
                "Count a < 0.03 or a > 0.97.",
            ),
            (
                "sigmoid_low_only",
                float(np.mean(A < _MARGIN)),
                "only outputs near 0 were counted (a < 0.03)",
                "The sigmoid is flat near 1 too: count a < 0.03 or a > 0.97.",
            ),
            (
                "and_not_or",
                float(np.mean((A < _MARGIN) & (A > 1 - _MARGIN))),
                "nothing counted: no value is both below 0.03 AND above 0.97",
                "Combine the two tails with | (or): (A < 0.03) | (A > 0.97).",
            ),
            (
                "unsaturated_share",
                1 - want,
                "this is the share of units that are NOT saturated",
                "Count the values below 0.03 or above 0.97, not the others.",
            ),
        ]
    else:
        out += [
            (
                "relu_elementwise",
                float(np.mean(A <= 0)),
                "this is the share of zero entries, not of dead units",
                "A ReLU unit is dead when it is 0 for EVERY example of the "
                "batch: np.all(A <= 0, axis=1) gives one True/False per unit "
                "(row); then take the mean.",
            ),
            (
                "relu_wrong_axis",
                float(np.mean(np.all(A <= 0, axis=0))),
                "this is the share of examples (columns) that are zero in every "
                "unit: the statistic went over the wrong axis",
                "Units are rows, examples are columns (n_l, m): use axis=1 to "
                "ask, for each unit, whether all its examples are 0.",
            ),
            (
                "relu_alive",
                1 - want,
                "this is the share of units that are alive, not dead",
                "Count the units that are 0 for every example.",
            ),
            (
                "relu_any",
                float(np.mean(np.any(A <= 0, axis=1))),
                "you counted units that are 0 for SOME example; a dead unit is 0 "
                "for EVERY example",
                "Use np.all(A <= 0, axis=1), not np.any: a unit that is 0 for a "
                "few examples still learns from the others.",
            ),
            (
                "relu_strict",
                float(np.mean(np.all(A < 0, axis=1))),
                "nothing counted: ReLU outputs are never below 0, a dead unit "
                "outputs exactly 0",
                "Compare with <= 0 (or == 0): np.all(A <= 0, axis=1).",
            ),
            (
                "relu_over_entries",
                float(np.sum(np.all(A <= 0, axis=1)) / A.size),
                "you divided the number of dead units by the number of entries "
                "(n_l * m), not of units",
                "The share of dead units is (number of dead units) / n_l, i.e. "
                "np.mean(np.all(A <= 0, axis=1)).",
            ),
            (
                "relu_constant",
                float(np.mean(np.std(A, axis=1) == 0)),
                "you counted units whose output does not vary as dead; a unit is "
                "dead only when its output is 0",
                "A unit can be alive with the same positive output for every "
                "example. Count np.all(A <= 0, axis=1).",
            ),
        ]
    out += [
        (
            "percent",
            100 * want,
            "the answer is a percentage (x 100)",
            "Return a share between 0 and 1, e.g. 0.25 for a quarter.",
        ),
        (
            "count",
            want * (A.shape[0] if act == "relu" else A.size),
            "this is a count, not a share",
            "Divide by the number of values (or of units, for ReLU), or use "
            "np.mean on the boolean array.",
        ),
    ]
    return out


def _matches(got: float, value: float) -> bool:
    return abs(got - value) <= _MATCH * max(1.0, abs(value))


def _statistic(case: dict) -> np.ndarray:
    """The values a threshold rule compares: |a| (tanh: saturated if above),
    min(a, 1 - a) (sigmoid: saturated if below), each unit's largest output
    (relu: dead if below)."""
    A, act = case["A"], case["activation"]
    if act == "tanh":
        return np.abs(A).ravel()
    if act == "sigmoid":
        return np.minimum(A, 1 - A).ravel()
    return A.max(axis=1)


def _share_at(case: dict, t: float) -> float:
    """The share the case's rule gives with the threshold ``t``."""
    stat = _statistic(case)
    return float(np.mean(stat > t if case["activation"] == "tanh" else stat < t))


def _threshold_range(mine: list[tuple[dict, float]]) -> tuple[float, float] | None:
    """The thresholds that give the learner's shares on every case of one
    activation, as an interval (lo, hi) between two of the tested values (hi
    may be inf), or None when no single threshold does."""
    points = np.unique(np.concatenate([_statistic(c) for c, _ in mine]))
    edges = np.concatenate([[points[0] - 1.0], points, [points[-1] + 1.0]])
    fits = [
        k
        for k in range(len(edges) - 1)
        if all(
            _matches(got, _share_at(c, 0.5 * (edges[k] + edges[k + 1])))
            for c, got in mine
        )
    ]
    if not fits:
        return None
    lo = float(edges[fits[0]]) if fits[0] > 0 else -math.inf
    hi = float(edges[fits[-1] + 1]) if fits[-1] + 1 < len(edges) - 1 else math.inf
    return lo, hi


def _threshold_issue(failing, cases, gots) -> Issue | None:
    """A threshold other than the course's that gives the learner's shares on
    every case of the first failing case's activation; the message quotes the
    range of thresholds that do (what the shares can tell), not a guess."""
    act = failing[0][0]["activation"]
    mine = [(c, g) for c, g in zip(cases, gots, strict=True) if c["activation"] == act]
    found = _threshold_range(mine)
    if found is None:
        return None
    lo, hi = found
    # Only a threshold near the edge is a threshold mistake: one that counts
    # everything or nothing is another mistake (e.g. whole units counted).
    plausible = {"tanh": (0.5, 1.0), "sigmoid": (0.0, 0.5), "relu": (0.0, 1.0)}
    low, high = plausible[act]
    if not (low <= lo and hi <= high):
        return None
    if act == "relu":
        where = f"one between {lo:.2g} and {hi:.2g}"
        return Issue(
            "relu_small_alive",
            "you counted units with small positive outputs as dead (your shares "
            f"match a threshold on each unit's largest output, {where}); a dead "
            "ReLU unit outputs exactly 0 for every example",
            "A unit whose outputs are small but positive still passes a gradient: "
            "it is alive. Count the units with np.all(A <= 0, axis=1), with no "
            "tolerance (no np.isclose).",
        )
    between = f"between {lo:.6g} and {hi:.6g}"
    if act == "tanh":
        used, want = f"|a| > t with t {between}", "|a| > 0.97"
    else:
        used, want = f"a < t or a > 1 - t with t {between}", "a < 0.03 or a > 0.97"
    return Issue(
        "wrong_threshold",
        f"your {act} threshold is off: your shares match counting {used}; "
        f"saturated means {want}",
        f"Use the margin 0.03 of the course (bnutils.train.SATURATION_MARGIN): {want}.",
    )


def _run_case(fn, case: dict) -> float:
    """The learner's share on one case, or Fail."""
    act, A = case["activation"], case["A"]
    where = f"on the {act} case of shape {A.shape}"
    outcome = call_learner(fn, [("A", A), ("activation", act)])
    if outcome.error is not None:
        exc = outcome.error
        if isinstance(exc, NotImplementedError):
            raise Fail(
                [
                    Issue(
                        "not_implemented",
                        f"raised NotImplementedError — {YOUR_CODE}",
                        "Write the body of saturation_share(A, activation).",
                    )
                ]
            )
        line = failing_line(exc)
        at = f"\nIt failed at: {line}" if line else ""
        raise Fail(
            [
                Issue(
                    "exception",
                    f"raised {type(exc).__name__}: {short(str(exc), 120)} {where}",
                    "Your function should run on an array of shape (n_l, m) and the "
                    "name of the activation ('tanh', 'sigmoid' or 'relu')." + at,
                )
            ]
        )
    if outcome.modified:
        raise Fail(
            [
                Issue(
                    "in_place",
                    f"it changed A in place {where}",
                    "Don't modify the input (e.g. A[A < 0] = 0); compute a boolean "
                    "mask instead: np.abs(A) > 0.97 makes a new array.",
                )
            ]
        )
    out = outcome.value
    if out is None:
        raise Fail(
            [
                Issue(
                    "returned_none",
                    f"returned None for activation={act!r}: {YOUR_CODE}",
                    "Return one number between 0 and 1.",
                )
            ]
        )
    issue = kind_issue(f"your result {where}", out, "one number between 0 and 1")
    if issue is not None:
        raise Fail([Issue("not_a_number", issue.message, issue.hint)])
    value = np.asarray(out)
    if value.size != 1:
        n_units = A.shape[0]
        if value.shape in ((n_units,), (n_units, 1)):
            raise Fail(
                [
                    Issue(
                        "per_unit",
                        f"returned one value per unit (shape {value.shape}) {where}",
                        "The share is one number for the whole layer: average over "
                        "all units (np.mean without an axis, or the mean of the "
                        "per-unit booleans for ReLU).",
                    )
                ]
            )
        raise Fail(
            [
                Issue(
                    "wrong_shape",
                    f"returned an array of shape {value.shape} {where}; expected "
                    "one number",
                    "Return one float between 0 and 1.",
                )
            ]
        )
    if is_low_precision(value):
        raise Fail(
            [
                Issue(
                    "low_precision",
                    f"returned {value.dtype} {where}; expected a float64 number",
                    "Compute in float64, numpy's default: float(np.mean(mask)).",
                )
            ]
        )
    got = float(value.reshape(()))
    if not math.isfinite(got):
        raise Fail(
            [Issue("not_finite", f"returned {got} {where}", "Return a finite share.")]
        )
    return got


def _none_fail(cases: list[dict], nones: list[str]) -> Fail:
    """None for some activations: say which, and whether the others worked."""
    acts = list(dict.fromkeys(c["activation"] for c in cases))
    missing = [a for a in acts if a in nones]
    worked = [a for a in acts if a not in nones]
    which = " and ".join(repr(a) for a in missing)
    if not worked:
        return Fail(
            [
                Issue(
                    "returned_none",
                    f"returned None (for every activation): {YOUR_CODE}",
                    "Return one number between 0 and 1.",
                )
            ]
        )
    others = " and ".join(repr(a) for a in worked)
    return Fail(
        [
            Issue(
                "returned_none",
                f"returned None for activation={which} (it returned numbers for "
                f"{others})",
                f"The branch for {which} is missing or does not return its share: "
                "the function falls through to its end, which returns None. Check "
                "the spelling of the activation names ('tanh', 'sigmoid', 'relu').",
            )
        ]
    )


def check_saturation_share(fn, *, verbose: bool = True) -> CheckResult:
    """Check a learner's ``saturation_share(A, activation)``.

    Runs it on tanh, sigmoid and ReLU layers (eight cases, see
    :func:`_saturation_cases`) whose saturated (or dead) share is known by
    construction, and names the common mistakes: only one tail counted, the
    unsaturated share, dead entries instead of dead units, the wrong axis, a
    threshold other than 0.97 (quoting the range of thresholds the shares
    match; or ReLU units with small positive outputs counted as dead), a
    percentage or a count instead of a share, one value per unit, None for
    some activation (named), a string or another non-number, modifying ``A``
    in place. Never
    raises; prints a one-line verdict (and a hint on failure) when ``verbose``.

    Returns a :class:`bnutils.checks.CheckResult`.
    """

    def body() -> CheckResult:
        cases = _saturation_cases()
        gots, nones = [], []
        for case in cases:
            try:
                gots.append(_run_case(fn, case))
            except Fail as fail:
                if fail.issues[0].tag != "returned_none":
                    raise
                nones.append(case["activation"])
        if nones:
            raise _none_fail(cases, nones)
        diffs = [abs(g - c["want"]) for g, c in zip(gots, cases, strict=True)]
        failing = [
            (case, got)
            for case, got, d in zip(cases, gots, diffs, strict=True)
            if d > 1e-12
        ]
        if not failing:
            diff = max(diffs)
            return CheckResult(
                _NAME,
                True,
                f"passed — tanh, sigmoid and relu cases right, max |diff| {diff:.1e}",
                diff,
                diff,
            )
        case, got = failing[0]
        want = case["want"]
        diff = max(diffs)
        where = f"on the {case['activation']} case of shape {case['A'].shape}"
        numbers = f"({where}: got {got:.4g}, expected {want:.4g})"

        def fail(tag, message, hint) -> Fail:
            return Fail(
                [Issue(tag, f"{message} {numbers}", hint)], diff, abs(got - want)
            )

        # A mistake is named when it explains every failing case of the first
        # failing case's activation (one match alone can be a coincidence).
        alike = [(c, g) for c, g in failing if c["activation"] == case["activation"]]
        for tag, value, message, hint in _variants(case):
            if _matches(got, value) and all(
                any(
                    (t, msg) == (tag, message) and _matches(g, v)
                    for t, v, msg, _ in _variants(c)
                )
                for c, g in alike
            ):
                raise fail(tag, message, hint)
        threshold = _threshold_issue(failing, cases, gots)
        if threshold is not None:
            raise fail(threshold.tag, threshold.message, threshold.hint)
        note = ""
        if len(failing) < len(cases):
            note = (
                "\nIt is right on some cases but not on others: look for a "
                "hard-coded shape, threshold or count."
            )
        raise fail("wrong_value", "wrong", _HINT + note)

    return run_checker(_NAME, fn, body, verbose, ("A", "activation"))
