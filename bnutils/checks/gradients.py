"""The one gradient checker of the series: :func:`numerical_gradient` (centred
finite differences) and :func:`grad_check` (analytic against numerical)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnutils.checks.engine import (
    CheckResult,
    as_real,
    describe,
    passed_message,
    rel_error,
)


def _objective(f: Callable, x: np.ndarray, df) -> float:
    out = f(x)
    if df is None:
        out = np.asarray(out, dtype=np.float64)
        if out.size != 1:
            raise ValueError(
                f"f returned an array of shape {out.shape}, not a scalar. Pass "
                "df (the upstream gradient, same shape as f(x)) to check the "
                "scalar sum(f(x) * df) instead."
            )
        return float(out.reshape(()))
    out = np.asarray(out, dtype=np.float64)
    if out.shape != np.shape(df):
        raise ValueError(
            f"f(x) has shape {out.shape} but df has shape {np.shape(df)}; df must "
            "have the shape of f's output."
        )
    return float(np.sum(out * df))


def numerical_gradient(f: Callable, x: np.ndarray, df=None, h: float = 1e-5):
    """Gradient of a scalar function by centred differences.

    ``grad[i] = (F(x + h e_i) - F(x - h e_i)) / (2 h)`` for every entry ``i`` of
    ``x``, where ``F(x) = f(x)`` if ``f`` returns a scalar and
    ``F(x) = sum(f(x) * df)`` if ``df`` is given (then ``grad`` is the
    backpropagated gradient ``dL/dx`` for an upstream gradient ``df = dL/df``).
    The error is O(h^2) plus round-off; with float64 and ``h = 1e-5`` a smooth
    function gives about 1e-10 relative error.

    Parameters
    ----------
    f : function of ``x`` returning a scalar, or an array of ``df``'s shape.
    x : float array of any shape. Each entry is nudged in place while ``f`` is
        evaluated and restored afterwards (also if ``f`` raises), so ``x`` ends
        unchanged; ``f`` must read ``x`` when called, not keep a copy.
    df : optional upstream gradient, shape of ``f(x)``.
    h : step size.

    Returns
    -------
    grad : array of the shape of ``x``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            "x must be a floating-point numpy array (it is nudged in place); got "
            f"{describe(x)}. Convert it with np.asarray(x, dtype=np.float64)."
        )
    if not x.flags.writeable:
        raise ValueError("x must be writeable: pass a copy, e.g. x.copy().")
    if not h > 0:
        raise ValueError(f"h must be a small positive step (e.g. 1e-5); got {h}.")
    if df is not None:
        df = np.asarray(df, dtype=np.float64)
    grad = np.zeros_like(x, dtype=np.float64)
    # One pair of evaluations per entry of x: a loop is the method itself.
    for idx in np.ndindex(x.shape):
        old = x[idx].copy()
        try:
            x[idx] = old + h
            f_plus = _objective(f, x, df)
            x[idx] = old - h
            f_minus = _objective(f, x, df)
        finally:
            x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
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
    tol : passes when ``rel_error(analytic_grad, numerical) < tol``. A correct
        gradient of a smooth function typically gives 1e-10 or less in float64,
        a wrong one 1e-3 or more.
    name : label printed in the verdict.
    verbose : print the one-line verdict.

    Returns
    -------
    :class:`CheckResult` with ``max_abs_diff`` and ``rel_error``. Errors raised
    by ``f`` itself propagate (``f`` is your test harness, not the exercise).
    """
    numeric = numerical_gradient(f, x, df=df, h=h)
    if analytic_grad is None:
        result = CheckResult(
            name,
            False,
            "the analytic gradient is None",
            hint=f"Pass an array of shape {x.shape}.",
            mistake="returned_none",
        )
    else:
        try:
            analytic = as_real(np.asarray(analytic_grad))
        except (TypeError, ValueError):
            analytic = None
        if analytic is None or analytic.shape != x.shape:
            got = describe(analytic_grad)
            result = CheckResult(
                name,
                False,
                f"the analytic gradient is {got}; expected shape {x.shape}",
                hint="A gradient has the shape of the variable it differentiates.",
                mistake="wrong_shape",
            )
        else:
            diff = float(np.max(np.abs(analytic - numeric))) if x.size else 0.0
            err = rel_error(analytic, numeric)
            passed = err < tol
            if passed:
                message = passed_message(diff, err)
                hint = ""
            else:
                message = (
                    f"analytic and numerical gradients differ — max |diff| "
                    f"{diff:.1e}, rel. error {err:.1e} (tolerance {tol:.0e})"
                )
                hint = (
                    "Look for a missing term or factor in the analytic formula; "
                    "compare the two arrays entry by entry to see where they differ."
                )
            result = CheckResult(
                name,
                passed,
                message,
                max_abs_diff=diff,
                rel_error=err,
                hint=hint,
                mistake=None if passed else "gradient_mismatch",
            )
    if verbose:
        print(result)
    return result
