"""bnutils limits numpy's BLAS threads inside its training loops, and only there."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from bnutils import GD, Network
from bnutils.threads import limit_blas_threads
from bnutils.train import train


def _blas_threads() -> set[int]:
    return {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.fail("numpy's BLAS is not visible to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        yield


def test_limit_applies_inside_the_block_only(two_blas_threads):
    with limit_blas_threads(1):
        assert _blas_threads() == {1}
    assert _blas_threads() == {2}
    with limit_blas_threads(None):
        assert _blas_threads() == {2}


def test_training_runs_on_one_blas_thread(two_blas_threads):
    seen = []
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 40)), rng.integers(0, 2, 40)
    net = Network([4, 5, 2], batchnorm=True)
    train(
        net,
        GD(0.1),
        X,
        y,
        batch_size=10,
        steps=6,
        eval_every=3,
        progress=False,
        callback=lambda step, h: seen.append(_blas_threads()),
    )
    assert seen and all(s == {1} for s in seen)
    assert _blas_threads() == {2}  # restored afterwards
    seen.clear()
    train(
        net,
        GD(0.1),
        X,
        y,
        batch_size=10,
        steps=3,
        eval_every=3,
        progress=False,
        blas_threads=None,
        callback=lambda step, h: seen.append(_blas_threads()),
    )
    assert all(s == {2} for s in seen)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="positive integer"):
        with limit_blas_threads(bad):
            pass
    with pytest.raises(ValueError, match="blas_threads"):
        train(
            Network([2, 2]),
            GD(0.1),
            np.ones((2, 4)),
            np.array([0, 1, 0, 1]),
            batch_size=2,
            steps=1,
            blas_threads=bad,
            progress=False,
        )
