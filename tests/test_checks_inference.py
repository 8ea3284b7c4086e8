"""check_batchnorm_inference (notebook 06): the mistakes it names."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import (
    assert_all_distinct,
    assert_cases_cover,
    assert_rejected,
    quiet,
)

from bnutils.checks import (
    check_batchnorm_inference,
    inference,
)

# ---------------------------------------------------------------------------
# batchnorm_inference mistakes
# ---------------------------------------------------------------------------


def inf_batch_stats(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def inf_batch_stats_ddof1(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, ddof=1, keepdims=True)  # NaN (and a warning) at m = 1
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def inf_eps_outside(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / (np.sqrt(running_var) + eps) + beta


def inf_no_sqrt(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / (running_var + eps) + beta


def inf_sqrt_twice(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    std = np.sqrt(running_var + eps)
    return gamma * (Z - running_mean) / np.sqrt(std) + beta


def inf_sqrt_twice_b(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    std = np.sqrt(running_var)
    return gamma * (Z - running_mean) / np.sqrt(std + eps) + beta


def inf_swapped(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return beta * (Z - running_mean) / np.sqrt(running_var + eps) + gamma


def inf_no_eps(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / np.sqrt(running_var) + beta


def inf_fails_single(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    if Z.shape[1] < 2:
        raise ValueError("need at least two examples")
    return gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta


def inf_squeezes(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    n_l = Z.shape[0]
    Z = np.squeeze(Z)  # (4, 1) -> (4,): broadcasting then fails
    return (gamma * (Z - running_mean) / np.sqrt(running_var + eps) + beta).reshape(
        n_l, -1
    )


def inf_in_place(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    Z -= running_mean
    Z /= np.sqrt(running_var + eps)
    return gamma * Z + beta


INFERENCE_MISTAKES = [
    (inf_batch_stats, "batch_stats", ["batch's own statistics"]),
    (inf_batch_stats_ddof1, "batch_stats", ["single example", "batch's own"]),
    (inf_eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (inf_no_sqrt, "var_not_sqrt", ["divided by the variance"]),
    (inf_sqrt_twice, "sqrt_twice", ["square root twice"]),
    (inf_sqrt_twice_b, "sqrt_twice", ["square root twice"]),
    (inf_swapped, "gamma_beta_swapped", ["swapped"]),
    (inf_no_eps, "eps_ignored", ["forgot eps"]),
    (inf_fails_single, "single_example", ["single example (m=1)"]),
    (inf_squeezes, "single_example", ["single example (m=1)"]),
    (inf_in_place, "in_place", ["in place", "Z"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    INFERENCE_MISTAKES,
    ids=[f[0].__name__ for f in INFERENCE_MISTAKES],
)
def test_inference_mistakes(fn, tag, keywords):
    result = quiet(check_batchnorm_inference, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_inference_variants_are_distinct():
    cases = inference._inference_cases()
    table = {"right": [inference._inference_ref(c) for c in cases]}
    for c in cases:
        for k, (tag, array) in enumerate(inference._inference_variants(c)):
            table.setdefault(f"{tag}{k}", []).append(array)
    assert_all_distinct(table)


# ---------------------------------------------------------------------------
# Several cases; a hard-coded eps
# ---------------------------------------------------------------------------


def test_inference_cases_vary_shape_eps_offset_and_scale():
    cases = inference._inference_cases()
    assert_cases_cover(
        [c["Z"].shape for c in cases],
        [c["eps"] for c in cases],
        [c["Z"] for c in cases],
    )
    assert cases[-1]["Z"].shape[1] == 1  # the single example comes last


def inf_eps_1e8(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / np.sqrt(running_var + 1e-8) + beta


def inf_eps_1e3(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (Z - running_mean) / np.sqrt(running_var + 1e-3) + beta


@pytest.mark.parametrize(
    ("fn", "value"), [(inf_eps_1e8, "1e-08"), (inf_eps_1e3, "0.001")]
)
def test_inference_hard_coded_eps_is_named_with_its_value(fn, value):
    result = quiet(check_batchnorm_inference, fn)
    assert_rejected(result, "eps_hardcoded", f"eps = {value} instead of the argument")


def inf_batch_var(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    var = Z.var(axis=1, keepdims=True)
    return gamma * (Z - running_mean) / np.sqrt(var + eps) + beta


def inf_batch_mean(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu = Z.mean(axis=1, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(running_var + eps) + beta


def inf_layer_norm(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    mu, var = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize(
    ("fn", "tag", "word"),
    [
        (inf_batch_var, "batch_var", "batch's own variance"),
        (inf_batch_mean, "batch_mean", "batch's own mean"),
        (inf_layer_norm, "wrong_axis", "Layer Norm"),
    ],
)
def test_inference_adversarial_mistakes(fn, tag, word):
    """Found by an adversarial pass (issue 9): named since."""
    assert_rejected(quiet(check_batchnorm_inference, fn), tag, word)


# ---------------------------------------------------------------------------
# Second adversarial pass: a mistake on some inputs only is still named
# ---------------------------------------------------------------------------


def inf_switch(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    """Batch statistics when m > 1, running statistics for a single example."""
    if Z.shape[1] > 1:
        mu = Z.mean(axis=1, keepdims=True)
        var = Z.var(axis=1, keepdims=True)
    else:
        mu, var = running_mean, running_var
    return gamma * (Z - mu) / np.sqrt(var + eps) + beta


def inf_norm_for_one(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    Z_norm = (Z - running_mean) / np.sqrt(running_var + eps)
    return Z_norm if Z.shape[1] == 1 else gamma * Z_norm + beta


def test_batch_statistics_are_named_even_when_m1_is_right():
    result = quiet(check_batchnorm_inference, inf_switch)
    assert_rejected(result, "batch_stats", "batch's own statistics", "m > 1")
    assert "running_mean" in result.hint


def test_a_mistake_on_the_single_example_only_is_named():
    result = quiet(check_batchnorm_inference, inf_norm_for_one)
    assert_rejected(result, "no_gamma_beta", "single example (m = 1) only")


def test_eps_hard_coded_for_the_single_example_only_is_named():
    def fn(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        e = 1e-5 if Z.shape[1] == 1 else eps
        return gamma * (Z - running_mean) / np.sqrt(running_var + e) + beta

    result = quiet(check_batchnorm_inference, fn)
    assert_rejected(result, "eps_hardcoded", "single example (m = 1) only")
