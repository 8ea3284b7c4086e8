"""Tests of bnutils.checks shared by every checker: rel_error, the gradient
checker, the verdict format, and that every checker accepts the reference
solutions and the package's layers and never raises, whatever the learner's
function does.

Each exercise's named mistakes (small wrong functions) are tested in
tests/test_checks_<exercise>.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from checks_support import assert_rejected, quiet

from bnutils import checks, layers, solutions
from bnutils.checks import (
    CheckResult,
    check_batch_mean_std,
    check_batch_var_std,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_batchnorm_inference,
    check_fold_batchnorm,
    check_fold_normalization,
    check_forward_with_bn,
    check_gd_update,
    check_ghost_batchnorm_forward,
    check_gradient_change,
    check_identity_gamma_beta,
    check_layernorm_backward,
    check_layernorm_forward,
    check_normalize_inputs,
    check_percentiles_over_training,
    check_saturation_share,
    check_update_running_stats,
    grad_check,
    numerical_gradient,
    rel_error,
)

CHECKERS = {
    "batchnorm_forward": check_batchnorm_forward,
    "batchnorm_backward": check_batchnorm_backward,
    "normalize_inputs": check_normalize_inputs,
    "update_running_stats": check_update_running_stats,
    "batchnorm_inference": check_batchnorm_inference,
    "batch_mean_std": check_batch_mean_std,
    "batch_var_std": check_batch_var_std,
    "percentiles_over_training": check_percentiles_over_training,
    "saturation_share": check_saturation_share,
    "forward_with_bn": check_forward_with_bn,
    "fold_batchnorm": check_fold_batchnorm,
    "layernorm_forward": check_layernorm_forward,
    "layernorm_backward": check_layernorm_backward,
    "ghost_batchnorm_forward": check_ghost_batchnorm_forward,
    "gradient_change": check_gradient_change,
    "fold_normalization": check_fold_normalization,
    "identity_gamma_beta": check_identity_gamma_beta,
    "gd_update": check_gd_update,
}


# ---------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------


def test_rel_error_closed_forms():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    # max |a - b| = 0.2 at the second entry; max(|a| + |b|) = 4.2 there too.
    assert rel_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 4.2, rel=1e-15)
    # The denominator is the largest |a_i| + |b_i| over the whole array.
    assert rel_error([10.0, 0.0], [10.0, 1e-13]) == pytest.approx(1e-13 / 20, rel=1e-12)
    assert rel_error([3.0, -1.0], [-3.0, 1.0]) == 1.0  # opposite signs
    assert rel_error(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    assert rel_error(2.0, 2.0 * (1 + 1e-12)) == pytest.approx(0.5e-12, rel=1e-3)
    assert np.isnan(rel_error([1.0, np.nan], [1.0, 2.0]))
    assert np.isnan(rel_error([1.0, np.inf], [1.0, 2.0]))


def test_rel_error_refuses_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones((3, 1)), np.ones(3))


# ---------------------------------------------------------------------------
# numerical_gradient and grad_check
# ---------------------------------------------------------------------------


def test_numerical_gradient_of_sum_of_cubes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = numerical_gradient(lambda v: np.sum(v**3), x)
    assert rel_error(grad, 3 * x0**2) < 1e-9
    assert np.array_equal(x, x0)  # every nudged entry restored exactly


def test_numerical_gradient_with_upstream_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5))
    df = rng.standard_normal((2, 5))
    # f(x) = sin(x) elementwise: d/dx sum(sin(x) * df) = cos(x) * df.
    grad = numerical_gradient(np.sin, x, df=df)
    assert rel_error(grad, np.cos(x) * df) < 1e-9


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    x0 = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, x0)


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="df"):
        numerical_gradient(lambda v: v**2, np.ones(3))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_numerical_gradient_refuses_low_precision_x(dtype):
    """float16 used to give all-zero gradients (h below its spacing), which
    grad_check then blamed on the analytic formula."""
    x = np.linspace(0.5, 2.0, 4).astype(dtype)
    with pytest.raises(ValueError, match=f"{np.dtype(dtype).name}.*float64"):
        numerical_gradient(lambda v: np.sum(v**2), x)
    with pytest.raises(ValueError, match=np.dtype(dtype).name):
        grad_check(lambda v: np.sum(v**2), x, 2 * x, verbose=False)


@pytest.mark.parametrize(
    ("f", "grad"),
    [
        (lambda v: np.sum(v**3), lambda x: 3 * x**2),
        (lambda v: np.sum(v**2), lambda x: 2 * x),
        (lambda v: np.sum(np.log(v)), lambda x: 1 / x),
        (lambda v: np.sum(np.sqrt(v)), lambda x: 0.5 / np.sqrt(x)),
    ],
    ids=["cube", "square", "log", "sqrt"],
)
@pytest.mark.parametrize("size", [1e4, 1e8, 1e12])
def test_right_gradients_pass_at_large_x(f, grad, size):
    """h is scaled to the magnitude of x where the round-off of f at h = 1e-5
    would swamp the difference: no false 'your analytic gradient is wrong'."""
    x = size * np.linspace(1.0, 2.0, 5)
    result = grad_check(f, x.copy(), grad(x), verbose=False)
    assert result.passed, result
    assert rel_error(numerical_gradient(f, x.copy()), grad(x)) < 1e-8


def test_numerical_gradient_keeps_h_where_x_is_large_but_f_varies_fast():
    """A function whose scale of variation is 1 at x ~ 1e3 (like Batch Norm of
    inputs with a large mean): the relative step h * |x| would be too coarse."""
    x = 1e3 + np.linspace(0.0, 2.0, 6)
    df = np.linspace(-1.0, 1.0, 6)
    numeric = numerical_gradient(lambda v: np.sin(v - 1e3), x, df=df)
    assert rel_error(numeric, np.cos(x - 1e3) * df) < 1e-8
    # Batch Norm itself, on a batch with a mean of 1e3 (the checker's own case).
    rng = np.random.default_rng(4)
    Z = 1e3 + rng.standard_normal((3, 5))
    gamma, beta = np.ones((3, 1)), np.zeros((3, 1))
    dZt = rng.standard_normal((3, 5))
    _, cache = solutions.batchnorm_forward(Z, gamma, beta)
    dZ = solutions.batchnorm_backward(dZt, cache)[0]
    assert grad_check(
        lambda z: solutions.batchnorm_forward(z, gamma, beta)[0],
        Z.copy(),
        dZ,
        df=dZt,
        verbose=False,
    ).passed


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": -1}, "tol must lie between 0 and 1"),
        ({"tol": 0}, "tol must lie between 0 and 1"),
        ({"tol": 1.5}, "tol must lie between 0 and 1"),
        ({"tol": float("nan")}, "tol must be finite"),
        ({"tol": True}, "tol must be a number.*bool"),
        ({"tol": "1e-7"}, "tol must be a number.*str"),
        ({"tol": None}, "tol must be a number"),
        ({"h": 0}, "h must be a small positive step"),
        ({"h": -1e-5}, "h must be a small positive step"),
        ({"h": float("inf")}, "h must be finite"),
        ({"h": True}, "h must be a number.*bool"),
        ({"h": "1e-5"}, "h must be a number.*str"),
        ({"name": 3}, "name must be a string"),
        ({"verbose": "yes"}, "verbose must be True or False"),
        ({"df": np.ones(3) * 1j}, "df has complex numbers"),
        ({"df": np.ones(4)}, "df has shape"),
        ({"df": np.array([1.0, np.nan, 1.0])}, "df contains NaN"),
    ],
)
def test_grad_check_refuses_bad_arguments(kwargs, match):
    x = np.array([0.5, 1.0, 2.0])
    f = np.sum if "df" not in kwargs else np.sin
    with pytest.raises(ValueError, match=match):
        grad_check(f, x, np.ones(3), **kwargs)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.array([1.0, np.nan]), "NaN or inf"),
        (np.array([1.0, np.inf]), "NaN or inf"),
        (np.ma.masked_array([1.0, 2.0]), "plain numpy array"),
        ([1.0, 2.0], "floating-point numpy array"),
        (np.array([1, 2]), "floating-point numpy array"),
        (np.array([1.0, 2.0]) + 0j, "floating-point numpy array"),
    ],
    ids=["nan", "inf", "masked", "list", "int", "complex"],
)
def test_numerical_gradient_refuses_x_it_cannot_nudge(x, match):
    with pytest.raises(ValueError, match=match):
        numerical_gradient(np.sum, x)


def test_numerical_gradient_refuses_what_f_returns_when_it_is_not_float64():
    x = np.array([0.5, 1.0])
    with pytest.raises(ValueError, match="f returned float32"):
        numerical_gradient(lambda v: np.sum(v).astype(np.float32), x)
    with pytest.raises(ValueError, match="string"):
        numerical_gradient(lambda v: str(np.sum(v)), x)
    with pytest.raises(ValueError, match="complex"):
        numerical_gradient(lambda v: np.sum(v) + 1j, x)
    with pytest.raises(ValueError, match="f must be a function"):
        numerical_gradient(3.0, x)
    assert np.array_equal(x, [0.5, 1.0])


def test_grad_check_names_what_is_wrong_with_the_analytic_gradient():
    x = np.array([0.5, 1.0, 2.0])

    def check(analytic, f=np.sum):
        return grad_check(f, x.copy(), analytic, verbose=False)

    assert check(np.ones(3) * (1 + 1e-3j)).mistake == "wrong_type"
    assert "complex" in check(np.ones(3) * (1 + 1e-3j)).message
    assert check(np.ones(3, dtype=np.float32)).mistake == "low_precision"
    assert check(np.ma.masked_array(np.ones(3))).mistake == "wrong_type"
    assert check(np.array([1.0, np.nan, 1.0])).mistake == "nan"
    assert check("1, 1, 1").mistake == "wrong_type"
    result = check(np.ones(3), f=lambda v: np.sum(np.where(v > 1.5, v, np.nan)))
    assert result.mistake == "numerical_not_finite" and "f gives NaN" in result.message


def test_grad_check_accepts_right_and_rejects_wrong(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(6)
    good = grad_check(lambda v: np.sum(v**3), x, 3 * x**2, name="cubes")
    assert good.passed and good.rel_error < 1e-9
    assert good.max_abs_diff < 1e-8
    bad = grad_check(lambda v: np.sum(v**3), x, 2 * x**2, name="cubes")
    assert not bad.passed
    # Closed form of the error of 2x^2 against 3x^2: max x^2 / max 5x^2 = 1/5.
    assert bad.rel_error == pytest.approx(0.2, rel=1e-6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ cubes: passed")
    assert lines[1].startswith("✗ cubes:")
    assert not grad_check(np.sum, x, None, verbose=False).passed
    assert not grad_check(np.sum, x, np.ones(5), verbose=False).passed
    assert not grad_check(np.sum, x, "abc", verbose=False).passed


# ---------------------------------------------------------------------------
# Correct functions pass
# ---------------------------------------------------------------------------

# Right answers written in other styles than bnutils.solutions.


def fwd_np_var(Z, gamma, beta, eps=1e-5):
    Z_norm = (Z - Z.mean(axis=1, keepdims=True)) / np.sqrt(
        Z.var(axis=1, keepdims=True) + eps
    )
    return gamma * Z_norm + beta, {"Z_norm": Z_norm}


def fwd_transposed_inside(Z, gamma, beta, eps=1e-5):
    X = Z.T  # (m, n_l): statistics over axis 0, then back
    X_norm = (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + eps)
    return (X_norm * gamma.T + beta.T).T, (X_norm,)


def fwd_loop(Z, gamma, beta, eps=1e-5):
    out = np.empty_like(Z)
    for i, row in enumerate(Z):
        centred = row - sum(row) / len(row)
        out[i] = gamma[i, 0] * centred / np.sqrt(np.mean(centred**2) + eps) + beta[i, 0]
    return out, None


def bwd_jacobian(dZ_tilde, cache):
    """Each unit's Jacobian d Z_norm / d Z, written as a matrix."""
    n_l, m = dZ_tilde.shape
    dZ = np.empty_like(dZ_tilde)
    for i in range(n_l):
        zn = cache.Z_norm[i]
        J = (np.eye(m) - 1.0 / m - np.outer(zn, zn) / m) * cache.inv_std[i, 0]
        dZ[i] = J @ (dZ_tilde[i] * cache.gamma[i, 0])
    dgamma = np.einsum("ij,ij->i", dZ_tilde, cache.Z_norm)[:, None]
    dbeta = dZ_tilde @ np.ones((dZ_tilde.shape[1], 1))
    return dZ, dgamma, dbeta


def bwd_from_Z(dZ_tilde, cache):
    """Recomputes the forward quantities from cache.Z and cache.eps."""
    Z, gamma, eps = cache.Z, cache.gamma, cache.eps
    m = Z.shape[1]
    mu = Z.mean(axis=1, keepdims=True)
    var = Z.var(axis=1, keepdims=True)
    Zn = (Z - mu) / np.sqrt(var + eps)
    dZn = dZ_tilde * gamma
    dZ = m * dZn - dZn.sum(1, keepdims=True) - Zn * (dZn * Zn).sum(1, keepdims=True)
    return (
        dZ / (m * np.sqrt(var + eps)),
        (dZ_tilde * Zn).sum(1, keepdims=True),
        (dZ_tilde.sum(1, keepdims=True)),
    )


def norm_with_std(X_train, X_test):
    mu, sd = X_train.mean(axis=1, keepdims=True), X_train.std(axis=1, keepdims=True)
    return (X_train - mu) / sd, (X_test - mu) / sd


def norm_by_columns(X_train, X_test):
    T = X_train.T
    mu, sd = T.mean(axis=0), np.sqrt(((T - T.mean(axis=0)) ** 2).mean(axis=0))
    return ((T - mu) / sd).T, ((X_test.T - mu) / sd).T


def run_incremental(running_mean, running_var, mu_B, var_B, m, ema_beta):
    unbiased = var_B * m / (m - 1.0)
    return (
        running_mean + (1 - ema_beta) * (mu_B - running_mean),
        running_var + (1 - ema_beta) * (unbiased - running_var),
    )


def inf_folded(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = gamma / np.sqrt(running_var + eps)
    return scale * Z + (beta - scale * running_mean)


def pct_quantile(unit_inputs):
    return np.quantile(unit_inputs, [0.15, 0.5, 0.85], axis=1).T


def pct_rows(unit_inputs):
    return np.array([np.percentile(row, [15, 50, 85]) for row in unit_inputs])


def pct_interp(unit_inputs):
    S = np.sort(unit_inputs, axis=1)
    positions = np.arange(S.shape[1])
    where = (S.shape[1] - 1) * np.array([0.15, 0.5, 0.85])
    return np.stack([np.interp(where, positions, row) for row in S])


def sat_other_style(A, activation):
    if activation == "relu":
        return np.mean(~np.any(A > 0, axis=1))
    if activation == "sigmoid":
        return np.count_nonzero(np.abs(A - 0.5) > 0.47) / A.size
    return float(np.sum(np.abs(A) > 0.97)) / A.size


def sat_relu_max(A, activation):
    if activation == "relu":
        return float(np.mean(A.max(axis=1) == 0))
    return solutions.saturation_share(A, activation)


def ghost_loop(Z, gamma, beta, ghost_size, eps=1e-5):
    """Ghost-batch BN as a loop over blocks of columns, with the layer's own forward."""
    blocks = [
        layers.batchnorm_forward(Z[:, s : s + ghost_size], gamma, beta, eps)[0]
        for s in range(0, Z.shape[1], ghost_size)
    ]
    return np.hstack(blocks)


def gradient_change_dot(grad_fn, w, lr):
    g0 = np.ravel(grad_fn(w))
    d = np.ravel(grad_fn(w - lr * g0.reshape(np.shape(w)))) - g0
    return float(np.sqrt(d @ d) / np.sqrt(g0 @ g0))


def identity_np_std(Z, eps=1e-5):
    """gamma from np.std (squared back), beta from np.average, a list return."""
    std = Z.std(axis=1).reshape(-1, 1)
    return [np.sqrt(std**2 + eps), np.average(Z, axis=1)[:, None]]


def gd_new_arrays(params, grads, lr):
    """Puts new arrays into the dict instead of changing the old ones: right."""
    for key in list(params):
        params[key] = params[key] - lr * grads[key]
    return params


CORRECT = [
    ("batchnorm_forward", solutions.batchnorm_forward),
    ("batchnorm_forward", layers.batchnorm_forward),
    ("batchnorm_forward", fwd_np_var),
    ("batchnorm_forward", fwd_transposed_inside),
    ("batchnorm_forward", fwd_loop),
    ("batchnorm_backward", solutions.batchnorm_backward),
    ("batchnorm_backward", layers.batchnorm_backward),
    ("batchnorm_backward", bwd_jacobian),
    ("batchnorm_backward", bwd_from_Z),
    ("normalize_inputs", solutions.normalize_inputs),
    ("normalize_inputs", norm_with_std),
    ("normalize_inputs", norm_by_columns),
    ("update_running_stats", solutions.update_running_stats),
    ("update_running_stats", run_incremental),
    ("batchnorm_inference", solutions.batchnorm_inference),
    ("batchnorm_inference", layers.batchnorm_inference),
    ("batchnorm_inference", inf_folded),
    ("batch_mean_std", solutions.batch_mean_std),
    ("batch_mean_std", lambda sigma, m: np.sqrt(sigma**2 / m)),
    ("batch_mean_std", lambda sigma, m: sigma * np.asarray(m, dtype=float) ** -0.5),
    ("batch_var_std", solutions.batch_var_std),
    ("batch_var_std", lambda sigma, m: sigma**2 * np.sqrt(2 * (m - 1) / m**2)),
    ("batch_var_std", lambda s, m: np.sqrt(2.0 * (m - 1)) * s * s / m),
    ("percentiles_over_training", solutions.percentiles_over_training),
    ("forward_with_bn", solutions.forward_with_bn),
    ("gd_update", solutions.gd_update),
    ("gd_update", gd_new_arrays),
    ("percentiles_over_training", pct_quantile),
    ("percentiles_over_training", pct_rows),
    ("percentiles_over_training", pct_interp),
    ("saturation_share", solutions.saturation_share),
    ("saturation_share", sat_other_style),
    ("saturation_share", sat_relu_max),
    ("fold_batchnorm", solutions.fold_batchnorm),
    ("layernorm_forward", solutions.layernorm_forward),
    ("layernorm_backward", solutions.layernorm_backward),
    ("fold_normalization", solutions.fold_normalization),
    ("ghost_batchnorm_forward", solutions.ghost_batchnorm_forward),
    ("ghost_batchnorm_forward", ghost_loop),
    ("gradient_change", solutions.gradient_change),
    ("gradient_change", gradient_change_dot),
    ("identity_gamma_beta", solutions.identity_gamma_beta),
    ("identity_gamma_beta", identity_np_std),
]


@pytest.mark.parametrize(
    ("name", "fn"),
    CORRECT,
    ids=[f"{name}-{getattr(fn, '__name__', '')}" for name, fn in CORRECT],
)
def test_correct_functions_pass(name, fn, capsys):
    result = CHECKERS[name](fn)
    assert result.passed, result
    assert bool(result)
    assert result.mistake is None
    tol = checks.NORMALIZE_TOL if name == "normalize_inputs" else 1e-9
    assert result.rel_error < tol
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.verdict
    assert out.startswith(f"✓ {name}: passed — ")
    assert len(out.splitlines()) == 1
    assert name in repr(result) and "passed=True" in repr(result)


def test_every_checker_and_solution_is_covered():
    assert set(CHECKERS) == set(solutions.__all__)
    assert {f"check_{name}" for name in CHECKERS} <= set(checks.__all__)
    assert {name for name, _ in CORRECT} == set(CHECKERS)


# ---------------------------------------------------------------------------
# Verdict format
# ---------------------------------------------------------------------------


def test_failing_verdict_is_one_line_then_explanation(capsys):
    def eps_outside(Z, gamma, beta, eps=1e-5):
        mu = Z.mean(axis=1, keepdims=True)
        var = Z.var(axis=1, keepdims=True)
        return gamma * (Z - mu) / (np.sqrt(var) + eps) + beta, None

    result = check_batchnorm_forward(eps_outside)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == result.verdict
    assert lines[0].startswith("✗ batchnorm_forward: ")
    assert len(lines) >= 2 and all(line.startswith("   ") for line in lines[1:])
    assert "np.sqrt(var + eps)" in result.hint
    assert "mistake='eps_outside_sqrt'" in repr(result)
    assert "\n" not in repr(result)


def test_verbose_false_prints_nothing(capsys):
    quiet(check_batchnorm_forward, solutions.batchnorm_forward)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# Checkers never raise
# ---------------------------------------------------------------------------


def _raises(*args, **kwargs):
    raise ValueError("something broke")


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


class _BadArray:
    """Looks like an array to numpy, but converting it raises."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array for you")

    def __float__(self):
        raise RuntimeError("no float either")


class _Evil:
    """Every special method a checker might touch raises."""

    def __repr__(self):
        raise RuntimeError("repr")

    __str__ = __repr__

    def __len__(self):
        raise RuntimeError("len")

    def __iter__(self):
        raise RuntimeError("iter")

    def __eq__(self, other):
        raise RuntimeError("eq")

    __hash__ = None

    def __bool__(self):
        raise RuntimeError("bool")


def _recurse(*args):
    return _recurse(*args)


def _stub(*args, **kwargs):
    # YOUR CODE HERE
    return None


GARBAGE = {
    "raises": _raises,
    "not_implemented": _not_implemented,
    "stub": _stub,
    "string": lambda *a: "hello",
    "list": lambda *a: [1, 2, 3],
    "nested_list": lambda *a: [[1.0, 2.0], [3.0, 4.0]],
    "dict": lambda *a: {"a": 1},
    "object": lambda *a: object(),
    "tuple_of_strings": lambda *a: ("a", "b", "c")[: max(1, len(a) // 2)],
    "tuple_of_none": lambda *a: (None, None, None),
    "pair_of_none": lambda *a: (None, None),
    "strings_array": lambda *a: np.array(["x", "y"]),
    "complex": lambda *a: (np.ones((4, 7)) * 1j, np.ones((4, 1)) * 1j),
    "wrong_arity": lambda x: x,
    "int_zero_division": lambda *a: 1 // 0,
    "huge_int": lambda *a: 10**400,
    "huge_int_pair": lambda *a: (10**400, 10**400, 10**400)[: max(1, len(a) // 2)],
    "bad_array": lambda *a: _BadArray(),
    "bad_array_pair": lambda *a: (_BadArray(),) * max(1, len(a) // 2),
    "evil_object": lambda *a: _Evil(),
    "masked": lambda *a: np.ma.masked_array(np.ones((4, 7)), mask=np.eye(4, 7)),
    "complex_number": lambda *a: 0.5 + 1j,
    "bool": lambda *a: True,
    "float16": lambda *a: np.ones((4, 7), dtype=np.float16),
    "generator": lambda *a: (x for x in range(3)),
    "exception_instance": lambda *a: ValueError("returned, not raised"),
    "overflow": lambda *a: float(10**400),
    "recursion": _recurse,
}


@pytest.mark.parametrize("name", list(CHECKERS))
@pytest.mark.parametrize("kind", list(GARBAGE))
def test_checkers_never_raise(name, kind, capsys):
    result = CHECKERS[name](GARBAGE[kind])
    assert isinstance(result, CheckResult)
    assert not result.passed
    # Diagnosed, not a fallback after the checker itself tripped over the output.
    assert result.mistake != "unanalysable", result.message
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}: ")
    assert out.splitlines()[0] == result.verdict


def test_extreme_values_are_diagnosed_without_warnings():
    def huge_forward(Z, gamma, beta, eps=1e-5):
        return np.full(Z.shape, 1e308), None

    def huge_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        return np.where(Z > 0, 1e308, -1e308)

    assert_rejected(quiet(check_batchnorm_forward, huge_forward), "unknown")
    assert_rejected(quiet(check_batchnorm_inference, huge_inference), "unknown")
    assert rel_error([1e308, -1e308], [-1e308, 1e308]) == 1.0


@pytest.mark.parametrize("name", list(CHECKERS))
def test_stub_and_not_implemented_messages(name):
    assert_rejected(quiet(CHECKERS[name], _stub), "returned_none", "returned None")
    assert "YOUR CODE HERE" in quiet(CHECKERS[name], _stub).message
    result = quiet(CHECKERS[name], _not_implemented)
    assert_rejected(result, "not_implemented", "NotImplementedError", "YOUR CODE HERE")
    result = quiet(CHECKERS[name], _raises)
    assert_rejected(result, "exception", "raised ValueError: something broke")


@pytest.mark.parametrize("name", list(CHECKERS))
def test_passing_the_result_instead_of_the_function(name):
    result = quiet(CHECKERS[name], np.ones((4, 7)))
    assert_rejected(result, "not_callable", "expected your function")


# ---------------------------------------------------------------------------
# Outputs must be real float64 numbers, the same way in every checker
# ---------------------------------------------------------------------------

#: The tag each checker gives a value that is not a real number or array.
WRONG_TYPE_TAG = {
    name: {"percentiles_over_training": "not_array"}.get(
        name, {"saturation_share": "not_a_number"}.get(name, "wrong_type")
    )
    for name in CHECKERS
}


def _convert(solution, convert):
    """The reference solution, with every number or array it returns converted
    (a cache object is left alone; a returned dict has its entries converted in
    place)."""

    def one(value):
        if isinstance(value, (np.ndarray, float, np.floating)):
            return convert(value)
        return value

    def fn(*args):
        out = solution(*args)
        if isinstance(out, dict):  # gd_update: the entries of params itself
            for key in out:
                out[key] = one(out[key])
            return out
        if isinstance(out, tuple) and not isinstance(out, layers.BNCache):
            return tuple(one(v) for v in out)
        return one(out)

    return fn


KINDS = {
    "complex": (
        lambda v: np.asarray(v) + 1e-3j,
        ["complex", "nonzero imaginary"],
    ),
    "masked": (lambda v: np.ma.masked_array(v), ["masked array"]),
    "string": (lambda v: str(v), ["string"]),
}


@pytest.mark.parametrize("name", list(CHECKERS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_outputs_of_the_wrong_kind_are_named(name, kind):
    """A right answer turned into complex numbers, a masked array or a string
    fails, and the message says what was returned and what was expected."""
    convert, words = KINDS[kind]
    result = quiet(CHECKERS[name], _convert(getattr(solutions, name), convert))
    assert_rejected(result, WRONG_TYPE_TAG[name], *words)
    assert "expected" in result.message


@pytest.mark.parametrize("name", list(CHECKERS))
def test_float32_is_refused_the_same_way_everywhere(name):
    """float32 used to pass normalize_inputs and fail the others with messages
    such as 'got 0.15, expected 0.15'."""

    def to_float32(v):
        return np.asarray(v, dtype=np.float32)

    result = quiet(CHECKERS[name], _convert(getattr(solutions, name), to_float32))
    assert_rejected(result, "low_precision", "float32", "float64")
    assert "float64" in result.hint


# ---------------------------------------------------------------------------
# A function that reads the notebook's arrays instead of its arguments
# ---------------------------------------------------------------------------


def _notebook_function(source: str, **notebook_globals):
    """Define ``source`` as a notebook cell would, next to the notebook's own
    variables, and return the function it defines."""
    namespace = {"np": np, **notebook_globals}
    exec(source, namespace)
    name = re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE)[-1]
    return namespace[name]


def _notebook_03():
    """Notebook 03's variables: Z, gamma, beta of a (4, 8) layer and its cache."""
    rng = np.random.default_rng(2)
    Z = rng.normal(loc=3.0, scale=2.0, size=(4, 8))
    gamma = rng.uniform(0.5, 2.0, size=(4, 1))
    beta = rng.normal(size=(4, 1))
    _, cache = layers.batchnorm_forward(Z, gamma, beta)
    return {"Z": Z, "gamma": gamma, "beta": beta, "cache": cache}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            """
def batchnorm_backward(dZ_tilde, cache):
    m = dZ_tilde.shape[1]
    Z_norm = (Z - Z.mean(axis=1, keepdims=True)) * cache.inv_std
    dZ_norm = dZ_tilde * cache.gamma
    dZ = cache.inv_std / m * (m * dZ_norm - dZ_norm.sum(axis=1, keepdims=True)
        - Z_norm * (dZ_norm * Z_norm).sum(axis=1, keepdims=True))
    return dZ, (dZ_tilde * Z_norm).sum(axis=1, keepdims=True), dZ_tilde.sum(
        axis=1, keepdims=True)
""",
            "your function reads the notebook's `Z`; use the argument `cache.Z`",
        ),
        (
            """
def batchnorm_backward(dZ_tilde, cache):
    dZ_norm = dZ_tilde * gamma
    m = dZ_tilde.shape[1]
    dZ = cache.inv_std / m * (m * dZ_norm - dZ_norm.sum(axis=1, keepdims=True)
        - cache.Z_norm * (dZ_norm * cache.Z_norm).sum(axis=1, keepdims=True))
    return dZ, (dZ_tilde * cache.Z_norm).sum(axis=1, keepdims=True), dZ_tilde.sum(
        axis=1, keepdims=True)
""",
            "your function reads the notebook's `gamma`; use the argument "
            "`cache.gamma`",
        ),
        (
            """
def batchnorm_backward(dZ_tilde, bn_cache):
    dbeta = dZ_tilde.sum(axis=1, keepdims=True)
    dgamma = (dZ_tilde * cache.Z_norm).sum(axis=1, keepdims=True)
    return dZ_tilde * bn_cache.gamma * bn_cache.inv_std, dgamma, dbeta
""",
            "your function reads the notebook's `cache`; use the argument `bn_cache`",
        ),
    ],
    ids=["Z", "gamma", "cache"],
)
def test_backward_reading_a_notebook_global_is_told_to_use_its_argument(
    source, expected
):
    fn = _notebook_function(source, **_notebook_03())
    result = quiet(check_batchnorm_backward, fn)
    assert_rejected(result, "reads_global", expected)
    assert "What the checker saw:" in result.hint


def test_percentiles_reading_the_notebooks_U_is_told_to_use_unit_inputs():
    source = """
def percentiles_over_training(unit_inputs):
    return np.percentile(U, [15, 50, 85], axis=1).T
"""
    U = np.random.default_rng(0).normal(size=(6, 37))
    fn = _notebook_function(source, U=U)
    assert_rejected(
        quiet(check_percentiles_over_training, fn),
        "reads_global",
        "reads the notebook's `U`; use the argument `unit_inputs`",
    )


def test_forward_reading_a_global_names_the_learners_own_parameter():
    source = """
def batchnorm_forward(X, g, b, eps=1e-5):
    Z_norm = (X - X.mean(axis=1, keepdims=True)) / np.sqrt(X.var(axis=1) + eps)
    return gamma * Z_norm + b, None
"""
    fn = _notebook_function(source, gamma=np.ones((4, 1)))
    assert_rejected(
        quiet(check_batchnorm_forward, fn),
        "reads_global",
        "reads the notebook's `gamma`; use the argument `g`",
    )


def test_a_helper_function_that_reads_a_global_is_followed():
    source = """
def _stats():
    return Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True)

def batchnorm_forward(Z_in, gamma, beta, eps=1e-5):
    mu, var = _stats()
    return gamma * (Z_in - mu) / np.sqrt(var + eps) + beta, None
"""
    namespace = {"np": np, "Z": np.ones((4, 8))}
    exec(source, namespace)
    result = quiet(check_batchnorm_forward, namespace["batchnorm_forward"])
    assert_rejected(result, "reads_global", "`Z`; use the argument `Z_in`")


def test_other_global_arrays_get_a_note_not_the_blame():
    source = """
def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    return W @ Z, None
"""
    fn = _notebook_function(source, W=np.ones((4, 4)))
    result = quiet(check_batchnorm_forward, fn)
    assert result.mistake != "reads_global"
    assert "Also: your function reads the notebook's `W`" in result.hint


def test_reading_a_constant_global_array_is_fine_when_the_answer_is_right():
    source = """
def percentiles_over_training(unit_inputs):
    return np.percentile(unit_inputs, PERCENTS, axis=1).T
"""
    fn = _notebook_function(source, PERCENTS=np.array([15, 50, 85]))
    assert quiet(check_percentiles_over_training, fn).passed


def test_attribute_names_are_not_mistaken_for_global_reads():
    """cache.Z is an attribute, not the notebook's Z (which also exists)."""
    source = """
def batchnorm_backward(dZ_tilde, cache):
    dZ, dgamma, dbeta = solution(dZ_tilde, cache)
    return dZ + 0.01 * cache.Z, dgamma, dbeta
"""
    fn = _notebook_function(
        source, solution=solutions.batchnorm_backward, **_notebook_03()
    )
    result = quiet(check_batchnorm_backward, fn)
    assert not result.passed and result.mistake != "reads_global"
