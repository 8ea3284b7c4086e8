"""Exercise of notebook 03: :func:`check_gd_update`.

The learner writes one step of plain gradient descent on every parameter of a
network, ``params[key] := params[key] - lr * grads[key]`` for ``W``, ``b``,
``gamma`` and ``beta`` alike, changing ``params`` itself (the network reads its
own dict) and returning it. The test networks have a layer with Batch Norm
(``gamma``, ``beta``, no ``b``) and a layer without it (with ``b``), so a
learner who updates only some kinds of parameters is told which.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np

from bnutils.checks.engine import (
    YOUR_CODE,
    CheckResult,
    Fail,
    Issue,
    as_real,
    call_learner,
    describe,
    exception_issue,
    is_low_precision,
    kind_issue,
    low_precision_hint,
    passed_result,
    run_checker,
)

_SIGNATURE = "gd_update(params, grads, lr) -> params"
_STEP = "params[key] = params[key] - lr * grads[key] for every key"


def _cases() -> list[dict]:
    """Parameter dicts of two small networks (layer sizes 2-3-2 and 3-4-5-2;
    Batch Norm on the hidden layers, a plain output layer with b), their
    gradients, and learning rates 0.1, 0.7 and 0.03."""
    rng = np.random.default_rng(20150211)

    def net(sizes):
        params = {}
        for layer, (n_in, n_out) in enumerate(pairwise(sizes), start=1):
            params[f"W{layer}"] = rng.normal(size=(n_out, n_in))
            if layer < len(sizes) - 1:
                params[f"gamma{layer}"] = 1.0 + 0.3 * rng.normal(size=(n_out, 1))
                params[f"beta{layer}"] = 0.5 * rng.normal(size=(n_out, 1))
            else:
                params[f"b{layer}"] = rng.normal(size=(n_out, 1))
        return params

    cases = []
    for sizes, lr in (((2, 3, 2), 0.1), ((3, 4, 5, 2), 0.7), ((2, 3, 2), 0.03)):
        params = net(sizes)
        grads = {key: rng.normal(size=p.shape) for key, p in params.items()}
        cases.append({"params": params, "grads": grads, "lr": lr})
    return cases


def _ref(params, grads, lr) -> dict:
    """The stepped parameters, one entry at a time (no numpy broadcasting)."""
    out = {}
    for key, p in params.items():
        g = grads[key]
        flat = [
            float(a) - lr * float(b) for a, b in zip(p.ravel(), g.ravel(), strict=True)
        ]
        out[key] = np.array(flat).reshape(p.shape)
    return out


def _kind(key: str) -> str:
    return key.rstrip("0123456789")


def _issue_for(case, start, got) -> list[Issue]:
    """What is wrong with the learner's parameters ``got`` on one case."""
    params, grads, lr = start, case["grads"], case["lr"]
    if set(got) != set(params):
        missing = sorted(set(params) - set(got))
        extra = sorted(set(got) - set(params))
        return [
            Issue(
                "keys_changed",
                f"params lost keys {missing} or gained keys {extra}",
                "Change the values of params, not its keys: " + _STEP + ".",
            )
        ]
    for key in params:
        value = got[key]
        issue = kind_issue(
            f"params[{key!r}]", value, f"a float64 array of shape {params[key].shape}"
        )
        if issue is not None:
            issue.hint = (
                issue.hint or "Keep each parameter a numpy array: " + _STEP + "."
            )
            return [issue]
        if is_low_precision(value):
            return [
                Issue(
                    "low_precision",
                    f"params[{key!r}] has dtype {value.dtype}, not float64",
                    low_precision_hint(value.dtype),
                )
            ]
        if np.shape(value) != params[key].shape:
            return [
                Issue(
                    "wrong_shape",
                    f"params[{key!r}] has shape {np.shape(value)}, "
                    f"expected {params[key].shape}",
                    "grads[key] has the shape of params[key]; subtract it entry "
                    "by entry.",
                )
            ]
    ref = _ref(params, grads, lr)
    right = {
        key: np.allclose(got[key], ref[key], rtol=1e-12, atol=1e-15) for key in params
    }
    if all(right.values()):
        return []
    unchanged = [key for key in params if np.array_equal(got[key], params[key])]
    if len(unchanged) == len(params):
        return [
            Issue(
                "not_in_place",
                "params is unchanged after your step",
                "The network reads its own dict, so a new dict with the new arrays "
                "does not train it: change params itself, " + _STEP + " (or "
                "params[key] -= lr * grads[key]), then return params.",
            )
        ]
    added = {k: params[k] + lr * grads[k] for k in params}
    if all(np.allclose(got[k], added[k], rtol=1e-12, atol=1e-15) for k in params):
        return [
            Issue(
                "added",
                "your step adds lr * grad instead of subtracting it",
                "Gradient descent goes downhill, against the gradient: "
                "params[key] -= lr * grads[key].",
            )
        ]
    wrong_steps = (
        ("no_lr", "subtracts grad without the learning rate", 1.0),
        ("lr_hardcoded", "uses the learning rate 0.1, not the argument lr", 0.1),
    )
    for tag, what, rate in wrong_steps:
        other = {k: params[k] - rate * grads[k] for k in params}
        close = [np.allclose(got[k], other[k], rtol=1e-12, atol=1e-15) for k in params]
        if lr != rate and all(close):
            return [Issue(tag, f"your step {what}", "The step is " + _STEP + ".")]
    if unchanged and all(right[k] for k in params if k not in unchanged):
        kinds = sorted({_kind(k) for k in unchanged})
        return [
            Issue(
                "missed_keys",
                f"your step leaves {', '.join(unchanged)} unchanged "
                f"({' and '.join(kinds)})",
                "Every parameter takes the same step, gamma, beta and b included: "
                "loop over all keys of params, " + _STEP + ".",
            )
        ]
    wrong = [k for k in params if not right[k]]
    return [
        Issue(
            "wrong_step",
            f"your step does not give param - lr * grad for {', '.join(wrong)}",
            "The step is " + _STEP + ", gamma and beta included.",
        )
    ]


_NOT_WRITTEN = Issue(
    "returned_none",
    f"gd_update returned None and left params unchanged — {YOUR_CODE}",
    "Write the step, " + _STEP + ", then return params.",
)
_NO_RETURN = Issue(
    "no_return",
    "gd_update changed params but returned None",
    "End with `return params`.",
)
_GRADS_MODIFIED = Issue(
    "grads_modified",
    "gd_update changed grads",
    "Only params changes; read grads without writing to it.",
)


def check_gd_update(fn: Callable, *, verbose: bool = True) -> CheckResult:
    """Check one step of gradient descent on every parameter of a network.

    Parameters
    ----------
    fn : the learner's ``fn(params, grads, lr) -> params``; it must set every
        ``params[key]`` to ``params[key] - lr * grads[key]`` (``W``, ``b``,
        ``gamma`` and ``beta`` alike) in the dict it was given and return that
        dict.
    verbose : print the verdict (and, on failure, the explanation).

    Three cases: networks 2-3-2 and 3-4-5-2 (Batch Norm on the hidden layers,
    a plain output layer with ``b``), learning rates 0.1, 0.7 and 0.03. The
    answer is computed one entry at a time.

    Returns
    -------
    :class:`CheckResult`. Named mistakes (``mistake`` tags): not written yet
    (``returned_none`` with params unchanged), params changed but ``None``
    returned (``no_return``), a new dict with params left unchanged
    (``not_in_place``), some kinds of parameters left out (``missed_keys``,
    e.g. gamma and beta), lr * grad added instead of subtracted (``added``),
    no learning rate, a hard-coded learning rate 0.1, keys lost or added, a
    parameter turned into a list, a string, float32 or another shape, grads
    modified, another object returned, an exception.
    """

    def body() -> CheckResult:
        cases = _cases()
        outs, refs = [], []
        for case in cases:
            start = case["params"]
            params = {k: v.copy() for k, v in start.items()}
            grads = {k: v.copy() for k, v in case["grads"].items()}
            desc = f"a network with parameters {sorted(start)}, lr={case['lr']:g}"
            outcome = call_learner(
                fn, [("params", params), ("grads", grads), ("lr", case["lr"])]
            )
            if outcome.error is not None:
                raise Fail([exception_issue(outcome.error, desc, _SIGNATURE)])
            returned = outcome.value
            issues = _issue_for(case, start, params)
            if returned is None and issues and issues[0].tag == "not_in_place":
                raise Fail([_NOT_WRITTEN])
            if returned is None and not issues:
                raise Fail([_NO_RETURN])
            if issues:
                raise Fail(issues)
            if any(not np.array_equal(grads[k], case["grads"][k]) for k in grads):
                raise Fail([_GRADS_MODIFIED])
            if returned is not params:
                message = (
                    f"gd_update returned {describe(returned)}, not the params "
                    "dict it was given"
                )
                raise Fail(
                    [Issue("returned_other", message, "End with `return params`.")]
                )
            ref = _ref(start, case["grads"], case["lr"])
            outs += [as_real(params[k]) for k in start]
            refs += [ref[k] for k in start]
        return passed_result("gd_update", outs, refs)

    return run_checker("gd_update", fn, body, verbose, ("params", "grads", "lr"))
