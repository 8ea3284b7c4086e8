"""check_update_running_stats (notebook 06): the mistakes it names."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import (
    assert_all_distinct,
    assert_cases_cover,
    assert_rejected,
    quiet,
)

from bnutils import layers, solutions
from bnutils.checks import (
    check_update_running_stats,
    rel_error,
    running_stats,
)


def test_solution_running_stats_match_the_layer():
    rng = np.random.default_rng(8)
    bn = layers.BatchNorm(3, ema_beta=0.8)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    for _ in range(3):
        Z = rng.standard_normal((3, 6)) * 2 + 1
        bn.forward(Z, training=True)
        mu_B = Z.mean(axis=1, keepdims=True)
        var_B = Z.var(axis=1, keepdims=True)
        mean, var = solutions.update_running_stats(mean, var, mu_B, var_B, 6, 0.8)
    assert rel_error(mean, bn.running_mean) < 1e-14
    assert rel_error(var, bn.running_var) < 1e-14


# ---------------------------------------------------------------------------
# update_running_stats mistakes
# ---------------------------------------------------------------------------


def run_flipped(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = (1 - ema_beta) * running_mean + ema_beta * mu_B
    new_var = (1 - ema_beta) * running_var + ema_beta * var_B * m / (m - 1)
    return new_mean, new_var


def run_biased(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B
    return new_mean, new_var


def run_flipped_biased(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = (1 - ema_beta) * running_mean + ema_beta * mu_B
    new_var = (1 - ema_beta) * running_var + ema_beta * var_B
    return new_mean, new_var


def run_bessel_inverted(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B * (m - 1) / m
    return new_mean, new_var


def run_swapped(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean, new_var = solutions.update_running_stats(
        running_mean, running_var, mu_B, var_B, m, ema_beta
    )
    return new_var, new_mean


def run_fixed_beta(running_mean, running_var, mu_B, var_B, m, ema_beta):
    return solutions.update_running_stats(
        running_mean, running_var, mu_B, var_B, m, 0.9
    )


def run_in_place(running_mean, running_var, mu_B, var_B, m, ema_beta):
    running_mean *= ema_beta
    running_mean += (1 - ema_beta) * mu_B
    running_var *= ema_beta
    running_var += (1 - ema_beta) * var_B * m / (m - 1)
    return running_mean, running_var


def run_no_one_minus(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + mu_B
    new_var = ema_beta * running_var + var_B * m / (m - 1)
    return new_mean, new_var


RUNNING_MISTAKES = [
    (run_flipped, "ema_flipped", ["flipped", "PyTorch"]),
    (run_biased, "biased_var", ["biased", "m / (m - 1)"]),
    (run_flipped_biased, "flipped_and_biased", ["flipped", "biased"]),
    (run_bessel_inverted, "bessel_inverted", ["upside down"]),
    (run_swapped, "swapped_outputs", ["new_mean and new_var swapped"]),
    (run_fixed_beta, "ema_beta_fixed", ["ema_beta argument"]),
    (run_in_place, "in_place", ["in place", "running_mean", "running_var"]),
    (run_no_one_minus, "no_one_minus_beta", ["1 - ema_beta"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"),
    RUNNING_MISTAKES,
    ids=[f[0].__name__ for f in RUNNING_MISTAKES],
)
def test_running_stats_mistakes(fn, tag, keywords):
    result = quiet(check_update_running_stats, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint


def test_running_flipped_mentions_pytorch_momentum():
    result = quiet(check_update_running_stats, run_flipped)
    assert "momentum" in result.hint and "1 - ema_beta" in result.hint


def test_running_variants_are_distinct():
    tables: list[dict[str, list[np.ndarray]]] = [{}, {}]
    for case in running_stats._running_cases():
        ref, mean_v, var_v = running_stats._running_variants(case)
        for j, variants in enumerate((mean_v, var_v)):
            tables[j].setdefault("right", []).append(ref[j])
            for tag, array in variants.items():
                tables[j].setdefault(tag, []).append(array)
    for table in tables:
        assert_all_distinct(table)


# ---------------------------------------------------------------------------
# Several cases; integer division
# ---------------------------------------------------------------------------


def test_running_cases_vary_shape_beta_offset_and_scale():
    cases = running_stats._running_cases()
    # (n_l, m) of the batch each case's statistics come from
    assert_cases_cover(
        [(c["mu_B"].shape[0], c["m"]) for c in cases],
        [c["ema_beta"] for c in cases],
    )
    assert any(np.all(np.abs(c["running_mean"]) >= 100) for c in cases)
    assert any(np.all(c["running_var"] >= 1e5) for c in cases)


def run_integer_division(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B * (m // (m - 1))
    return new_mean, new_var


def run_bessel_on_mean(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B * m / (m - 1)
    new_var = ema_beta * running_var + (1 - ema_beta) * var_B * m / (m - 1)
    return new_mean, new_var


def test_running_integer_division_is_named():
    result = quiet(check_update_running_stats, run_integer_division)
    assert_rejected(result, "integer_division", "m // (m - 1)", "integer division")
    assert "m / (m - 1)" in result.hint


def test_running_bessel_factor_on_the_mean_is_named():
    result = quiet(check_update_running_stats, run_bessel_on_mean)
    assert_rejected(result, "bessel_on_mean", "mean got the factor")


def run_mu_in_var(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    return new_mean, ema_beta * running_var + (1 - ema_beta) * mu_B * m / (m - 1)


def run_var_not_updated(running_mean, running_var, mu_B, var_B, m, ema_beta):
    return ema_beta * running_mean + (1 - ema_beta) * mu_B, running_var


def run_bias_corrected(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean, new_var = solutions.update_running_stats(
        running_mean, running_var, mu_B, var_B, m, ema_beta
    )
    return new_mean / (1 - ema_beta), new_var / (1 - ema_beta)


def run_no_average(running_mean, running_var, mu_B, var_B, m, ema_beta):
    return mu_B, var_B * m / (m - 1)


def run_inverted_integer_division(running_mean, running_var, mu_B, var_B, m, ema_beta):
    new_mean = ema_beta * running_mean + (1 - ema_beta) * mu_B
    return new_mean, ema_beta * running_var + (1 - ema_beta) * var_B * ((m - 1) // m)


@pytest.mark.parametrize(
    ("fn", "tag", "word"),
    [
        (run_mu_in_var, "mean_in_var", "mu_B"),
        (run_var_not_updated, "var_not_updated", "not updated"),
        (run_bias_corrected, "bias_corrected", "bias-corrected"),
        (run_no_average, "no_ema", "no running average"),
        (run_inverted_integer_division, "integer_division", "(m - 1) // m"),
    ],
)
def test_running_adversarial_mistakes(fn, tag, word):
    """Found by an adversarial pass (issue 9): named since."""
    assert_rejected(quiet(check_update_running_stats, fn), tag, word)
