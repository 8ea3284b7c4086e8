"""check_gd_update (notebook 03): the answer, other correct styles, and every
mistake it names; it never raises, whatever the learner's function does."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_rejected, quiet

from bnutils import solutions
from bnutils.checks import check_gd_update, gd_update


def test_reference_is_param_minus_lr_grad():
    """The entry-by-entry reference against numpy's vectorised step."""
    for case in gd_update._cases():
        ref = gd_update._ref(**case)
        assert set(ref) == set(case["params"])
        for key, p in case["params"].items():
            want = p - case["lr"] * case["grads"][key]
            np.testing.assert_allclose(ref[key], want, rtol=1e-15, atol=1e-15)


def test_cases_cover_every_kind_of_parameter_and_several_rates():
    cases = gd_update._cases()
    kinds = {gd_update._kind(k) for c in cases for k in c["params"]}
    assert kinds == {"W", "b", "gamma", "beta"}
    assert len({c["lr"] for c in cases}) == len(cases)
    assert all(c["lr"] != 0.1 for c in cases[1:])  # a hard-coded 0.1 shows
    for c in cases:
        for key, p in c["params"].items():
            assert p.dtype == np.float64
            assert c["grads"][key].shape == p.shape


def test_the_solution_passes_and_does_not_touch_grads():
    result = quiet(check_gd_update, solutions.gd_update)
    assert result.passed, result
    assert result.rel_error < 1e-14


def not_written(params, grads, lr):
    return None


def no_return(params, grads, lr):
    for key in params:
        params[key] -= lr * grads[key]


def new_dict(params, grads, lr):
    return {key: params[key] - lr * grads[key] for key in params}


def only_weights(params, grads, lr):
    for key in params:
        if key.startswith("W"):
            params[key] -= lr * grads[key]
    return params


def no_b(params, grads, lr):
    for key in params:
        if not key.startswith("b") or key.startswith("beta"):
            params[key] -= lr * grads[key]
    return params


def adds(params, grads, lr):
    for key in params:
        params[key] += lr * grads[key]
    return params


def no_lr(params, grads, lr):
    for key in params:
        params[key] -= grads[key]
    return params


def lr_fixed(params, grads, lr):
    for key in params:
        params[key] -= 0.1 * grads[key]
    return params


def raises(params, grads, lr):
    raise KeyError("W3")


def not_implemented(params, grads, lr):
    raise NotImplementedError


def as_list(params, grads, lr):
    for key in params:
        params[key] = (params[key] - lr * grads[key]).tolist()
    return params


def float32(params, grads, lr):
    for key in params:
        params[key] = (params[key] - lr * grads[key]).astype(np.float32)
    return params


def flattened(params, grads, lr):
    for key in params:
        params[key] = (params[key] - lr * grads[key]).ravel()
    return params


def drops_a_key(params, grads, lr):
    solutions.gd_update(params, grads, lr)
    params.pop("W1")
    return params


def touches_grads(params, grads, lr):
    for key in params:
        grads[key] *= lr
        params[key] -= grads[key]
    return params


def returns_copy(params, grads, lr):
    solutions.gd_update(params, grads, lr)
    return dict(params)


def half_step_on_gamma(params, grads, lr):
    for key in params:
        rate = lr / 2 if key.startswith("gamma") else lr
        params[key] -= rate * grads[key]
    return params


MISTAKES = [
    (not_written, "returned_none", ["None"]),
    (no_return, "no_return", ["returned None"]),
    (new_dict, "not_in_place", ["unchanged"]),
    (only_weights, "missed_keys", ["gamma", "beta", "b2"]),
    (no_b, "missed_keys", ["b2"]),
    (adds, "added", ["adds"]),
    (no_lr, "no_lr", ["learning rate"]),
    (lr_fixed, "lr_hardcoded", ["0.1"]),
    (raises, "exception", ["KeyError"]),
    (not_implemented, "not_implemented", ["NotImplementedError"]),
    (as_list, "wrong_type", ["list"]),
    (float32, "low_precision", ["float32"]),
    (flattened, "wrong_shape", ["shape"]),
    (drops_a_key, "keys_changed", ["W1"]),
    (touches_grads, "grads_modified", ["grads"]),
    (returns_copy, "returned_other", ["dict"]),
    (half_step_on_gamma, "wrong_step", ["gamma1"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "words"), MISTAKES, ids=[fn.__name__ for fn, _, _ in MISTAKES]
)
def test_named_mistakes(fn, tag, words):
    result = quiet(check_gd_update, fn)
    assert_rejected(result, tag, *words)
    assert result.hint


def test_not_callable_is_named():
    result = quiet(check_gd_update, None)
    assert_rejected(result, "not_callable")
