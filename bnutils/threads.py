"""One BLAS thread for the package's training loops, however the kernel started.

The series' matrices are small (at most a few hundred rows by a few hundred
columns). For those, numpy's BLAS (OpenBLAS, MKL) is as fast on one thread as on
several, and on a busy 2-core machine extra threads mostly wait for each other:
training was up to ten times slower. ``make lab`` exports
``OPENBLAS_NUM_THREADS=1``, but a kernel started by plain ``jupyter lab``, VS
Code or Colab has no such variable, so :func:`bnutils.train.train` and the
notebooks' longer loops run inside :func:`limit_blas_threads` instead.

It uses threadpoolctl, the maintained library that changes the thread count of
the BLAS already loaded in the process, for the duration of a ``with`` block
only: outside it the learner's own numpy code keeps its usual threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["TRAINING_BLAS_THREADS", "limit_blas_threads"]

#: BLAS threads used inside the package's training loops.
TRAINING_BLAS_THREADS = 1

_controller = None


@contextlib.contextmanager
def limit_blas_threads(n: int | None = TRAINING_BLAS_THREADS) -> Iterator[None]:
    """``with limit_blas_threads(1): ...`` runs the block with ``n`` BLAS
    threads (``None``: leave the count alone), then restores the previous count.

    A no-op when threadpoolctl is not installed (it is a dependency of the
    package, so only a hand-made environment lacks it).
    """
    global _controller
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer or None; got {n!r}.")
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        limiter = _controller.limit(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with limiter:
        yield
