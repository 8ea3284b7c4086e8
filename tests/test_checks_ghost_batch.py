"""check_ghost_batchnorm_forward (notebook 04): right answers pass, each named
mistake is named, nothing the learner writes makes the checker raise."""

from __future__ import annotations

import numpy as np
import pytest
from checks_support import assert_all_distinct, assert_rejected, quiet

from bnutils import checks, solutions
from bnutils.checks import check_ghost_batchnorm_forward, ghost_batch


def _split(Z, g):
    n, m = Z.shape
    return Z.reshape(n, m // g, g), n, m


# ---------------------------------------------------------------------------
# The test cases meet the checker standard
# ---------------------------------------------------------------------------


def test_cases_cover_the_standard():
    cases = ghost_batch._cases()
    shapes = [c["Z"].shape for c in cases]
    assert len(cases) >= 3
    assert any(n != m for n, m in shapes)
    assert any(m % 2 == 1 for _, m in shapes), "an odd m"
    assert any(m == 2 for _, m in shapes), "m = 2"
    assert len({c["eps"] for c in cases}) >= 2
    assert any(np.abs(c["Z"]).min() > 1e5 for c in cases), "a large offset"
    assert any(np.abs(c["Z"]).max() > 1e4 and c["Z"].std() > 1e3 for c in cases)
    counts = [c["Z"].shape[1] // c["ghost_size"] for c in cases]
    assert 1 in counts and max(counts) >= 3, "one and several ghost batches"
    assert any(c["Z"].shape[0] == k for c, k in zip(cases, counts, strict=True))
    for c in cases:
        assert c["Z"].shape[1] % c["ghost_size"] == 0
        assert c["gamma"].shape == c["beta"].shape == (c["Z"].shape[0], 1)


def test_reference_is_ordinary_batchnorm_on_each_ghost_batch():
    """The checker's reference, against the package's batchnorm_forward applied
    to each block of columns (an independent implementation)."""
    import bnutils

    for c in ghost_batch._cases():
        want = ghost_batch._ref(
            c["Z"], c["gamma"], c["beta"], c["ghost_size"], c["eps"]
        )
        g = c["ghost_size"]
        for start in range(0, c["Z"].shape[1], g):
            block = c["Z"][:, start : start + g]
            out, _ = bnutils.batchnorm_forward(block, c["gamma"], c["beta"], c["eps"])
            np.testing.assert_allclose(
                want[:, start : start + g], out, rtol=1e-9, atol=1e-9
            )


def test_variants_differ_from_the_answer_and_from_each_other():
    cases = ghost_batch._cases()
    table = {"right": []}
    for c in cases:
        args = (c["Z"], c["gamma"], c["beta"], c["ghost_size"], c["eps"])
        ref = ghost_batch._ref(*args)
        table["right"].append(ref)
        computed = ghost_batch._variants(*args)
        for tag in ghost_batch.MISTAKES:
            table.setdefault(tag, []).append(computed.get(tag, ref))
    assert len(ghost_batch.MISTAKES) >= 6
    assert_all_distinct(table)


# ---------------------------------------------------------------------------
# Right answers pass
# ---------------------------------------------------------------------------


def loop_version(Z, gamma, beta, ghost_size, eps=1e-5):
    """Another style: a loop over the ghost batches with np.var."""
    out = np.empty_like(Z)
    for s in range(0, Z.shape[1], ghost_size):
        block = Z[:, s : s + ghost_size]
        norm = (block - block.mean(axis=1, keepdims=True)) / np.sqrt(
            block.var(axis=1, keepdims=True) + eps
        )
        out[:, s : s + ghost_size] = gamma * norm + beta
    return out


def gamma_on_3d_correctly(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, n, m = _split(Z, ghost_size)
    norm = (Zg - Zg.mean(axis=2, keepdims=True)) / np.sqrt(
        Zg.var(axis=2, keepdims=True) + eps
    )
    return (gamma[:, :, None] * norm + beta[:, :, None]).reshape(n, m)


@pytest.mark.parametrize(
    "fn",
    [solutions.ghost_batchnorm_forward, loop_version, gamma_on_3d_correctly],
    ids=["solution", "loop", "gamma_3d"],
)
def test_right_answers_pass(fn):
    result = quiet(check_ghost_batchnorm_forward, fn)
    assert result.passed, result
    assert result.rel_error < 1e-12


def test_exported_and_prints_one_verdict(capsys):
    assert checks.check_ghost_batchnorm_forward is check_ghost_batchnorm_forward
    check_ghost_batchnorm_forward(solutions.ghost_batchnorm_forward)
    out = capsys.readouterr().out
    assert out.startswith("✓ ghost_batchnorm_forward: passed")
    assert out.count("\n") == 1


# ---------------------------------------------------------------------------
# Each named mistake
# ---------------------------------------------------------------------------


def _bn3(Zg, axis, eps, ddof=0):
    mu = Zg.mean(axis=axis, keepdims=True)
    return (Zg - mu) / np.sqrt(Zg.var(axis=axis, ddof=ddof, keepdims=True) + eps)


def whole_batch(Z, gamma, beta, ghost_size, eps=1e-5):
    return gamma * _bn3(Z, 1, eps) + beta


def interleaved(Z, gamma, beta, ghost_size, eps=1e-5):
    n, m = Z.shape
    Zg = Z.reshape(n, ghost_size, m // ghost_size)
    return gamma * _bn3(Zg, 1, eps).reshape(n, m) + beta


def size_as_count(Z, gamma, beta, ghost_size, eps=1e-5):
    n, m = Z.shape
    Zg = Z.reshape(n, ghost_size, m // ghost_size)
    return gamma * _bn3(Zg, 2, eps).reshape(n, m) + beta


def units_axis(Z, gamma, beta, ghost_size, eps=1e-5):
    return gamma * _bn3(Z, 0, eps) + beta


def pooled_units(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, n, m = _split(Z, ghost_size)
    return gamma * _bn3(Zg, (0, 2), eps).reshape(n, m) + beta


def unbiased(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, n, m = _split(Z, ghost_size)
    return gamma * _bn3(Zg, 2, eps, ddof=1).reshape(n, m) + beta


def _parts(Z, ghost_size):
    Zg, n, m = _split(Z, ghost_size)
    mu = Zg.mean(axis=2, keepdims=True)
    return Zg, mu, ((Zg - mu) ** 2).mean(axis=2, keepdims=True), n, m


def eps_outside(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    return gamma * ((Zg - mu) / (np.sqrt(var) + eps)).reshape(n, m) + beta


def eps_fixed(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    return gamma * ((Zg - mu) / np.sqrt(var + 1e-5)).reshape(n, m) + beta


def eps_fixed_small(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    return gamma * ((Zg - mu) / np.sqrt(var + 1e-8)).reshape(n, m) + beta


def by_variance(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    return gamma * ((Zg - mu) / (var + eps)).reshape(n, m) + beta


def not_centred(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, _mu, var, n, m = _parts(Z, ghost_size)
    return gamma * (Zg / np.sqrt(var + eps)).reshape(n, m) + beta


def mixed(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, _var, n, m = _parts(Z, ghost_size)
    centred = (Zg - mu).reshape(n, m)
    return gamma * centred / np.sqrt(Z.var(axis=1, keepdims=True) + eps) + beta


def _norm(Z, ghost_size, eps):
    return solutions.ghost_batchnorm_forward(
        Z, np.ones((Z.shape[0], 1)), np.zeros((Z.shape[0], 1)), ghost_size, eps
    )


def swapped(Z, gamma, beta, ghost_size, eps=1e-5):
    return beta * _norm(Z, ghost_size, eps) + gamma


def norm_only(Z, gamma, beta, ghost_size, eps=1e-5):
    return _norm(Z, ghost_size, eps)


def no_gamma(Z, gamma, beta, ghost_size, eps=1e-5):
    return _norm(Z, ghost_size, eps) + beta


def no_beta(Z, gamma, beta, ghost_size, eps=1e-5):
    return gamma * _norm(Z, ghost_size, eps)


def gamma_3d(Z, gamma, beta, ghost_size, eps=1e-5):
    """gamma (n_l, 1) against (n_l, k, g): raises unless n_l == k."""
    Zg, mu, var, _n, _m = _parts(Z, ghost_size)
    return gamma * (Zg - mu) / np.sqrt(var + eps) + beta


def gamma_3d_reshaped(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    return (gamma * (Zg - mu) / np.sqrt(var + eps) + beta).reshape(n, m)


def three_d(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, _n, _m = _split(
        solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps), ghost_size
    )
    return Zg


def scrambled(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, mu, var, n, m = _parts(Z, ghost_size)
    norm = ((Zg - mu) / np.sqrt(var + eps)).transpose(0, 2, 1).reshape(n, m)
    return gamma * norm + beta


def one_pass(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, n, m = _split(Z, ghost_size)
    mu = Zg.mean(axis=2, keepdims=True)
    var = (Zg * Zg).mean(axis=2, keepdims=True) - mu * mu
    return gamma * ((Zg - mu) / np.sqrt(np.abs(var) + eps)).reshape(n, m) + beta


def in_place(Z, gamma, beta, ghost_size, eps=1e-5):
    Zg, _n, _m = _split(Z, ghost_size)  # a view: writing to it writes to Z
    Zg -= Zg.mean(axis=2, keepdims=True)
    Zg /= np.sqrt((Zg**2).mean(axis=2, keepdims=True) + eps)
    return gamma * Z + beta


def returns_none(Z, gamma, beta, ghost_size, eps=1e-5):
    return None


def returns_pair(Z, gamma, beta, ghost_size, eps=1e-5):
    return solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps), None


def returns_list(Z, gamma, beta, ghost_size, eps=1e-5):
    return solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps).tolist()


def returns_strings(Z, gamma, beta, ghost_size, eps=1e-5):
    out = solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps)
    return out.astype(str)


def returns_complex(Z, gamma, beta, ghost_size, eps=1e-5):
    out = solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps)
    return out + 0j


def nan_out(Z, gamma, beta, ghost_size, eps=1e-5):
    out = solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps)
    out[0, 0] = np.nan
    return out


def transposed(Z, gamma, beta, ghost_size, eps=1e-5):
    return solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps).T


# A notebook's own array named like the exercise's argument.
Z = np.arange(24.0).reshape(2, 12)


def reads_global_Z(Z_batch, gamma, beta, ghost_size, eps=1e-5):
    # uses the notebook's Z instead of its own argument Z_batch
    return solutions.ghost_batchnorm_forward(Z, gamma[:2], beta[:2], 4, eps)


def not_written(Z, gamma, beta, ghost_size, eps=1e-5):
    raise NotImplementedError


def unnameable(Z, gamma, beta, ghost_size, eps=1e-5):
    return 1.01 * solutions.ghost_batchnorm_forward(Z, gamma, beta, ghost_size, eps)


def float32(Z, gamma, beta, ghost_size, eps=1e-5):
    out = solutions.ghost_batchnorm_forward(
        Z.astype(np.float32), gamma, beta, ghost_size, np.float32(eps)
    )
    return out.astype(np.float32)


MISTAKES = [
    (whole_batch, "whole_batch", ["whole mini-batch"]),
    (interleaved, "interleaved", ["every k-th"]),
    (size_as_count, "ghost_size_as_count", ["number of ghost batches"]),
    (units_axis, "wrong_axis", ["axis 0"]),
    (pooled_units, "pooled_units", ["shared by all units"]),
    (unbiased, "unbiased_var", ["ddof=1"]),
    (eps_outside, "eps_outside_sqrt", ["outside the square root"]),
    (eps_fixed, "eps_hardcoded", ["eps = 1e-05", "argument eps"]),
    (eps_fixed_small, "eps_hardcoded", ["eps = 1e-08"]),
    (by_variance, "divided_by_var", ["variance instead"]),
    (not_centred, "no_centering", ["subtract"]),
    (mixed, "mixed_statistics", ["whole mini-batch's standard deviation"]),
    (swapped, "gamma_beta_swapped", ["swapped"]),
    (norm_only, "no_gamma_beta", ["without gamma and beta"]),
    (no_gamma, "gamma_ignored", ["scale by gamma"]),
    (no_beta, "beta_ignored", ["shift by beta"]),
    (gamma_3d, "gamma_on_ghost_axis", ["3-D array"]),
    (gamma_3d_reshaped, "gamma_on_ghost_axis", ["ghost batches, not with the units"]),
    (three_d, "not_reshaped", ["reshape it back"]),
    (scrambled, "columns_scrambled", ["wrong order"]),
    (one_pass, "one_pass_variance", ["precision"]),
    (in_place, "in_place", ["in place", "Z"]),
    (returns_none, "returned_none", ["None"]),
    (returns_pair, "returned_tuple", ["tuple"]),
    (returns_list, "wrong_type", ["numpy array"]),
    (returns_strings, "wrong_type", ["dtype"]),
    (returns_complex, "wrong_type", ["real"]),
    (nan_out, "nan", ["NaN"]),
    (transposed, "transposed", ["transpose"]),
    (not_written, "not_implemented", ["NotImplementedError"]),
    (unnameable, "unknown", ["can't name"]),
    (float32, "low_precision", ["float32", "single precision on some inputs"]),
]


@pytest.mark.parametrize(
    ("fn", "tag", "keywords"), MISTAKES, ids=[f[0].__name__ for f in MISTAKES]
)
def test_each_mistake_is_named(fn, tag, keywords):
    result = quiet(check_ghost_batchnorm_forward, fn)
    assert_rejected(result, tag, *keywords)
    assert result.hint, "every failure explains itself"


def test_every_named_mistake_has_a_test():
    tested = {tag for _, tag, _ in MISTAKES}
    assert {ghost_batch._tag(k) for k in ghost_batch.MISTAKES} <= tested


def test_float32_answer_gets_a_precision_note():
    assert "float64" in quiet(check_ghost_batchnorm_forward, float32).hint


def test_a_function_reading_the_notebooks_array_is_told_so():
    result = quiet(check_ghost_batchnorm_forward, reads_global_Z)
    assert_rejected(result, "reads_global", "`Z`")


def test_unnamed_difference_lists_the_steps():
    hint = quiet(check_ghost_batchnorm_forward, unnameable).hint
    assert "reshape" in hint and "np.sqrt(var + eps)" in hint


@pytest.mark.parametrize(
    "fn",
    [
        42,
        None,
        "ghost_batchnorm_forward",
        solutions.ghost_batchnorm_forward(
            np.ones((2, 4)) * np.arange(4), np.ones((2, 1)), np.zeros((2, 1)), 2
        ),
    ],
    ids=["int", "None", "str", "array"],
)
def test_not_a_function(fn):
    assert_rejected(
        quiet(check_ghost_batchnorm_forward, fn), "not_callable", "expected"
    )


def test_wrong_signature_is_an_exception_with_the_signature():
    def three_args(Z, gamma, beta):
        return Z

    result = quiet(check_ghost_batchnorm_forward, three_args)
    assert_rejected(result, "exception", "TypeError")
    assert "ghost_size" in result.hint


def test_checker_inputs_survive_an_in_place_learner():
    quiet(check_ghost_batchnorm_forward, in_place)
    assert quiet(check_ghost_batchnorm_forward, solutions.ghost_batchnorm_forward)


def test_a_learner_warning_is_quoted():
    def sqrt_of_negative(Z, gamma, beta, ghost_size, eps=1e-5):
        Zg, mu, var, n, m = _parts(Z, ghost_size)
        return gamma * ((Zg - mu) / np.sqrt(var - 1e9)).reshape(n, m) + beta

    result = quiet(check_ghost_batchnorm_forward, sqrt_of_negative)
    assert not result.passed
    assert "invalid value" in result.hint
