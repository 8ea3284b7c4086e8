"""Exercise checkers and the one gradient checker of the series.

Every notebook checks its exercise with a function from this package, so a
learner meets the same verdicts everywhere:

* :func:`rel_error` is the project's only relative error.
* :func:`numerical_gradient` and :func:`grad_check` compare an analytic gradient
  with centred finite differences.
* ``check_*`` functions take the learner's function, run it on copies of a few
  test inputs chosen so that the common mistakes give *different* outputs, and
  print a one-line verdict::

      ✓ batchnorm_forward: passed — max |diff| 4.4e-16, rel. error 2.2e-16
      ✗ batchnorm_forward: eps outside the square root: ...

  followed, on failure, by a short explanation of the likely mistake and its
  fix. They return a :class:`CheckResult`. A checker never raises because of
  the learner's code: exceptions (``NotImplementedError`` included), ``None``,
  wrong types, wrong shapes, NaN and in-place modification of the inputs all
  become a failing result with a diagnosis.
* Every checker runs the function on several test inputs (different n_l and
  m, including an odd m and m = 2, several eps, a large offset and a large
  scale), so that an answer tuned to one shape, one eps or well-scaled data
  fails ("right for some test inputs but not for others"). Outputs must be
  real float64 numbers: strings, complex numbers, masked arrays and float32
  are named as such. A failing function that reads one of the notebook's
  arrays instead of its argument (``Z`` for ``cache.Z``) is told so first.

Array layout as everywhere in the series: (units, examples) = ``(n_l, m)``,
statistics over ``axis=1``, per-unit parameters of shape ``(n_l, 1)``. The
correct answers are computed by short independent references written in the
exercise modules, not by :mod:`bnutils.layers` or :mod:`bnutils.solutions`.

Layout
------
``engine``
    :class:`CheckResult`, :func:`rel_error`, the tolerances, and the machinery
    every checker shares: running the learner's function safely, comparing its
    output with the answer and with known mistakes, naming the mistake.
``gradients``
    :func:`numerical_gradient` and :func:`grad_check`.
one module per exercise
    ``normalize`` and ``fold`` (notebooks 00-01), ``forward`` and ``identity`` (02),
    ``backward``, ``network_forward`` and ``gd_update`` (03), ``batch_noise`` and
    ``ghost_batch`` (04), ``percentiles`` and ``predictiveness`` (05),
    ``running_stats``, ``inference`` and ``folding`` (06), ``saturation`` and
    ``layernorm`` (07): each holds its test cases, its independent reference,
    its table of mistakes and its ``check_...``.

Adding an exercise
------------------
Write one new module ``bnutils/checks/<topic>.py`` and import its checker
below (add it to ``__all__``); then add ``tests/test_checks_<topic>.py``. In
the module, using :mod:`bnutils.checks.engine`:

1. ``_cases()``: a few test inputs (float64; several shapes with
   ``n_l != m``, an odd ``m`` and ``m = 2``; several values of every numeric
   argument) on which the right answer and every common mistake differ, and
   ``_ref(case)``: the right answer written out independently.
2. A table ``{tag: (message, hint)}`` of the common mistakes and a function
   that computes what each mistake gives on a case; wrap the arrays in
   :class:`engine.Variant` (one array per case).
3. ``check_<name>(fn, *, verbose=True)``: define ``body()`` and return
   ``engine.run_checker(name, fn, body, verbose, arguments)``, which handles
   a non-callable ``fn``, anything ``body`` raises, learner warnings,
   printing, and (from ``arguments``, the parameter names in order) a failing
   function that reads a notebook array instead of its argument. In ``body``,
   for every case:

   - call the learner with ``engine.call_learner(fn, [(arg_name, value), ...])``
     (it passes copies, records exceptions, warnings and in-place changes);
     turn ``outcome.error`` into ``engine.exception_issue(...)``;
   - split a tuple return with ``engine.unpack(value, names, what)``;
   - ``engine.diagnose(label, outs, refs, variants, descs)`` returns the
     issues of one output over all cases ([] when right): not a real float64
     array (``engine.kind_issue``, also for checkers whose answer is one
     number), float32, the named mistake it matches, a wrong shape, NaN,
     right for some cases only, or "a difference I can't name";
     ``engine.HARDCODED_EPS`` and ``engine.hardcoded_eps_mistake`` name an eps
     written in place of the argument;
     ``engine.permutation_issue`` spots outputs returned in the wrong order,
     ``engine.in_place_issue`` words an in-place change, and
     ``engine.wrong_only_in`` with ``engine.one_pass_issue`` names a mistake
     that only a special case shows (a one-pass variance near 1e6);
   - stop with ``raise engine.Fail(engine.dedupe(issues),
     *engine.error_sizes(outs, refs))`` or
     ``return engine.passed_result(name, outs, refs)``.
"""

from bnutils.checks.backward import check_batchnorm_backward
from bnutils.checks.batch_noise import check_batch_mean_std, check_batch_var_std
from bnutils.checks.engine import MATCH_TOL, TOL, CheckResult, rel_error
from bnutils.checks.fold import check_fold_normalization
from bnutils.checks.folding import check_fold_batchnorm
from bnutils.checks.forward import check_batchnorm_forward
from bnutils.checks.gd_update import check_gd_update
from bnutils.checks.ghost_batch import check_ghost_batchnorm_forward
from bnutils.checks.gradients import grad_check, numerical_gradient
from bnutils.checks.identity import check_identity_gamma_beta
from bnutils.checks.inference import check_batchnorm_inference
from bnutils.checks.layernorm import check_layernorm_backward, check_layernorm_forward
from bnutils.checks.network_forward import check_forward_with_bn
from bnutils.checks.normalize import NORMALIZE_TOL, check_normalize_inputs
from bnutils.checks.percentiles import check_percentiles_over_training
from bnutils.checks.predictiveness import check_gradient_change
from bnutils.checks.running_stats import check_update_running_stats
from bnutils.checks.saturation import check_saturation_share

__all__ = [
    "MATCH_TOL",
    "NORMALIZE_TOL",
    "TOL",
    "CheckResult",
    "check_batch_mean_std",
    "check_batch_var_std",
    "check_batchnorm_backward",
    "check_batchnorm_forward",
    "check_batchnorm_inference",
    "check_fold_batchnorm",
    "check_fold_normalization",
    "check_forward_with_bn",
    "check_gd_update",
    "check_ghost_batchnorm_forward",
    "check_gradient_change",
    "check_identity_gamma_beta",
    "check_layernorm_backward",
    "check_layernorm_forward",
    "check_normalize_inputs",
    "check_percentiles_over_training",
    "check_saturation_share",
    "check_update_running_stats",
    "grad_check",
    "numerical_gradient",
    "rel_error",
]
