"""The one gradient checker of the series: :func:`numerical_gradient` (centred
finite differences) and :func:`grad_check` (analytic against numerical).

Both work in float64: ``x`` must be a float64 array (float16 and float32 are
refused with a message, their spacing is too coarse for a centred difference),
and so must ``f``'s output. The step is ``h`` where that is accurate, and grows
with ``|x_i|`` where the round-off of ``f`` at step ``h`` would swamp the
difference (``x ~ 1e8``), so that a right gradient is not reported as wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    as_real,
    describe,
    is_low_precision,
    kind_issue,
    passed_message,
    rel_error,
)

_EPS64 = float(np.finfo(np.float64).eps)
#: Round-off of f, relative to the largest gradient entry, above which an
#: entry's step is scaled up with |x_i| (grad_check's default tol is 1e-7).
_NOISE_LIMIT = 1e-9


def _number(value, name: str, example: str) -> float:
    """A real, finite number (not a bool, not a string) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            f"{name} must be a number such as {example}; got {describe(value)} "
            f"({_short_repr(value)})."
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, such as {example}; got {number}.")
    return number


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception:  # an object whose __repr__ raises
        return type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


def _check_x(x) -> None:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            "x must be a floating-point numpy array (it is nudged in place); got "
            f"{describe(x)}. Convert it with np.asarray(x, dtype=np.float64)."
        )
    if is_low_precision(x):
        raise ValueError(
            f"x is {x.dtype}, whose spacing is too coarse for finite differences "
            f"(about {np.finfo(x.dtype).eps:.0e} relative: a step of 1e-5 is lost "
            "or badly rounded). Check gradients in float64: pass "
            "x.astype(np.float64) and compute f in float64."
        )
    if type(x) is not np.ndarray:
        raise ValueError(
            f"x must be a plain numpy array; got a {type(x).__name__}. Pass "
            "np.asarray(x, dtype=np.float64)."
        )
    if not x.flags.writeable:
        raise ValueError("x must be writeable: pass a copy, e.g. x.copy().")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf: a gradient there is undefined.")


def _check_df(df):
    if df is None:
        return None
    issue = kind_issue("df", df, "an array of real numbers of the shape of f(x)")
    if issue is not None or is_low_precision(df):
        what = issue.message if issue is not None else f"df is {df.dtype}"
        raise ValueError(
            f"{what}. df is the upstream gradient dL/df: a float64 array of the "
            "shape of f(x)."
        )
    df = np.asarray(df, dtype=np.float64)
    if not np.all(np.isfinite(df)):
        raise ValueError("df contains NaN or inf.")
    return df


def _objective(f: Callable, x: np.ndarray, df) -> tuple[float, float]:
    """F(x) and the size of the terms that make it (for its round-off)."""
    out = f(x)
    issue = kind_issue("f(x)", out, "a float64 number or array")
    if issue is not None:
        raise ValueError(f"{issue.message}. {issue.hint}".strip())
    if is_low_precision(out):
        raise ValueError(
            f"f returned {np.asarray(out).dtype} values, accurate to about "
            f"{np.finfo(np.asarray(out).dtype).eps:.0e}: their centred differences "
            "would be mostly round-off. Compute f in float64."
        )
    out = np.asarray(out, dtype=np.float64)
    if df is None:
        if out.size != 1:
            raise ValueError(
                f"f returned an array of shape {out.shape}, not a scalar. Pass "
                "df (the upstream gradient, same shape as f(x)) to check the "
                "scalar sum(f(x) * df) instead."
            )
        value = float(out.reshape(()))
        return value, abs(value)
    if out.shape != df.shape:
        raise ValueError(
            f"f(x) has shape {out.shape} but df has shape {df.shape}; df must "
            "have the shape of f's output."
        )
    terms = out * df
    return float(np.sum(terms)), float(np.sum(np.abs(terms)))


def _centred(f, x, idx, step, df) -> tuple[float, float]:
    """(centred difference at x[idx], its round-off estimate), x restored."""
    old = x[idx].copy()
    try:
        x[idx] = old + step
        plus = x[idx].copy()
        f_plus, size_plus = _objective(f, x, df)
        x[idx] = old - step
        minus = x[idx].copy()
        f_minus, size_minus = _objective(f, x, df)
    finally:
        x[idx] = old
    # The step actually taken: x +- step is rounded to x's spacing.
    taken = float(plus) - float(minus)
    if taken == 0.0:
        return math.nan, math.inf
    noise = 4 * _EPS64 * max(size_plus, size_minus) / taken
    return (f_plus - f_minus) / taken, noise


def numerical_gradient(f: Callable, x: np.ndarray, df=None, h: float = 1e-5):
    """Gradient of a scalar function by centred differences, in float64.

    ``grad[i] = (F(x + h_i e_i) - F(x - h_i e_i)) / (2 h_i)`` for every entry
    ``i`` of ``x``, where ``F(x) = f(x)`` if ``f`` returns a scalar and
    ``F(x) = sum(f(x) * df)`` if ``df`` is given (then ``grad`` is the
    backpropagated gradient ``dL/dx`` for an upstream gradient ``df = dL/df``).
    The error is O(h^2) plus round-off; with ``h = 1e-5`` a smooth function
    gives about 1e-10 relative error.

    The difference is divided by the step actually taken after rounding
    ``x_i +- h``. Where the round-off of ``F`` at step ``h`` would be more than
    1e-9 of the largest gradient entry (large ``|x_i|``, e.g. 1e8), the entry is
    redone with the relative step ``h_i = h * |x_i| / 2`` when that is more
    accurate (its truncation error is estimated from ``h * |x_i|``).

    Parameters
    ----------
    f : function of ``x`` returning a float64 scalar, or a float64 array of
        ``df``'s shape.
    x : float64 array of any shape (float16 and float32 are refused: their
        spacing is too coarse). Each entry is nudged in place while ``f`` is
        evaluated and restored afterwards (also if ``f`` raises), so ``x`` ends
        unchanged; ``f`` must read ``x`` when called, not keep a copy.
    df : optional upstream gradient, shape of ``f(x)``.
    h : step size, a positive number (1e-5 suits float64).

    Returns
    -------
    grad : float64 array of the shape of ``x``.

    Raises
    ------
    ValueError for an ``x``, ``df`` or ``h`` it cannot use, or when ``f``
    returns something other than float64 numbers (the message says why).
    """
    if not callable(f):
        raise ValueError(f"f must be a function of x; got {describe(f)}.")
    _check_x(x)
    h = _number(h, "h", "1e-5")
    if not h > 0:
        raise ValueError(f"h must be a small positive step (e.g. 1e-5); got {h}.")
    df = _check_df(df)
    grad = np.zeros(x.shape, dtype=np.float64)
    noise = np.zeros(x.shape, dtype=np.float64)
    # One pair of evaluations per entry of x: a loop is the method itself.
    for idx in np.ndindex(x.shape):
        grad[idx], noise[idx] = _centred(f, x, idx, h, df)
    finite = np.isfinite(grad)
    scale = float(np.max(np.abs(grad[finite]))) if finite.any() else 0.0
    for idx in np.ndindex(x.shape):
        size = abs(float(x[idx]))
        if size > 1.0 and not noise[idx] <= _NOISE_LIMIT * scale:
            # A relative step; kept only if its truncation error (estimated by
            # halving it) plus round-off beat the round-off at step h.
            g1, _ = _centred(f, x, idx, h * size, df)
            g2, n2 = _centred(f, x, idx, h * size / 2, df)
            if abs(g1 - g2) * 4 / 3 + n2 < noise[idx]:
                grad[idx] = g2
    return grad


def grad_check(
    f: Callable,
    x: np.ndarray,
    analytic_grad,
    df=None,
    h: float = 1e-5,
    tol: float = 1e-7,
    name: str = "gradient",
    verbose: bool = True,
) -> CheckResult:
    """Compare an analytic gradient with :func:`numerical_gradient`.

    Parameters
    ----------
    f, x, df, h : as in :func:`numerical_gradient` (``x`` ends unchanged).
    analytic_grad : the gradient to check, shape of ``x``.
    tol : passes when ``rel_error(analytic_grad, numerical) < tol``; a number
        between 0 and 1 (rel_error lies in [0, 1]). A correct gradient of a
        smooth function typically gives 1e-10 or less in float64, a wrong one
        1e-3 or more.
    name : label printed in the verdict (a string).
    verbose : print the one-line verdict (True or False).

    Returns
    -------
    :class:`CheckResult` with ``max_abs_diff`` and ``rel_error``. Errors raised
    by ``f`` itself propagate (``f`` is your test harness, not the exercise);
    so do ValueErrors for arguments it cannot use (see
    :func:`numerical_gradient`).
    """
    tol = _number(tol, "tol", "1e-7")
    if not 0 < tol < 1:
        raise ValueError(
            f"tol must lie between 0 and 1, such as 1e-7 (rel_error lies in "
            f"[0, 1], so tol >= 1 passes anything); got {tol}."
        )
    if not isinstance(name, str):
        raise ValueError(f"name must be a string; got {describe(name)}.")
    if not isinstance(verbose, (bool, np.bool_)):
        raise ValueError(f"verbose must be True or False; got {describe(verbose)}.")
    numeric = numerical_gradient(f, x, df=df, h=h)
    result = _compare(name, x.shape, analytic_grad, numeric, tol)
    if verbose:
        print(result)
    return result


def _compare(name, shape, analytic_grad, numeric, tol) -> CheckResult:
    if not np.all(np.isfinite(numeric)):
        return CheckResult(
            name,
            False,
            "the numerical gradient is not finite: f gives NaN or inf next to x",
            hint="Check f (your test harness) at x; the gradient is undefined there.",
            mistake="numerical_not_finite",
        )
    issue = kind_issue(
        "the analytic gradient", analytic_grad, f"a float64 array of shape {shape}"
    )
    if issue is not None and issue.tag == "returned_none":
        return CheckResult(
            name,
            False,
            "the analytic gradient is None",
            hint=f"Pass an array of shape {shape}.",
            mistake="returned_none",
        )
    if issue is not None:
        return CheckResult(
            name, False, issue.message, hint=issue.hint, mistake="wrong_type"
        )
    if is_low_precision(analytic_grad):
        return CheckResult(
            name,
            False,
            f"the analytic gradient is {np.asarray(analytic_grad).dtype}; compare "
            "float64 gradients",
            hint="Compute the analytic gradient in float64 (numpy's default).",
            mistake="low_precision",
        )
    analytic = as_real(analytic_grad)
    if analytic.shape != shape:
        return CheckResult(
            name,
            False,
            f"the analytic gradient is {describe(analytic_grad)}; expected shape "
            f"{shape}",
            hint="A gradient has the shape of the variable it differentiates.",
            mistake="wrong_shape",
        )
    if not np.all(np.isfinite(analytic)):
        return CheckResult(
            name,
            False,
            "the analytic gradient contains NaN or inf",
            hint="Look for a division by zero or the square root of a negative "
            "number in the analytic formula.",
            mistake="nan",
        )
    with np.errstate(over="ignore"):
        diff = float(np.max(np.abs(analytic - numeric))) if analytic.size else 0.0
    err = rel_error(analytic, numeric)
    if err < tol:
        return CheckResult(name, True, passed_message(diff, err), diff, err)
    return CheckResult(
        name,
        False,
        f"analytic and numerical gradients differ — max |diff| {diff:.1e}, rel. "
        f"error {err:.1e} (tolerance {tol:.0e})",
        max_abs_diff=diff,
        rel_error=err,
        hint="Look for a missing term or factor in the analytic formula; compare "
        "the two arrays entry by entry to see where they differ.",
        mistake="gradient_mismatch",
    )
