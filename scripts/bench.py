"""Benchmark: Batch Norm forward+backward and one training step (`make bench`).

Prints median wall-clock times (median of several repeats of a timed loop) and
the peak memory that numpy allocates for one BN forward+backward, in float64 and
float32. Next to the package's ``batchnorm_forward`` + ``batchnorm_backward``
(input validation included) it times :func:`plain_forward_backward`, a plain
vectorized numpy version of the same maths with no validation at all, in the
same run and dtype, interleaved, and prints the ratio (the target is <= 1.0).

A benchmark, not a test: it asserts nothing; compare numbers across machines
and commits. ``--quick`` uses shorter timing loops.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import tracemalloc

import numpy as np

from bnutils import batchnorm_backward, batchnorm_forward
from bnutils.network import Network
from bnutils.optim import GD

BN_SIZES = [(100, 60), (1024, 256), (1024, 4096)]
NET_SIZES = [784, 100, 100, 100, 10]


def _time(fn, min_seconds: float = 0.2, repeats: int = 5) -> float:
    """Median seconds per call over `repeats` timed loops of ~min_seconds each."""
    fn()  # warm up
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds / repeats or n >= 1 << 16:
            break
        n *= 2
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter() - t0) / n)
    return statistics.median(per_call)


def plain_forward_backward(Z, gamma, beta, dZ_tilde, eps=1e-5):
    """The textbook vectorized numpy Batch Norm, forward then backward, with no
    validation: the baseline the package's kernel is compared with."""
    m = Z.shape[1]
    mu = Z.mean(axis=1, keepdims=True)
    Zc = Z - mu
    var = (Zc**2).mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    Z_norm = Zc * inv_std
    out = gamma * Z_norm + beta
    dbeta = dZ_tilde.sum(axis=1, keepdims=True)
    dgamma = (dZ_tilde * Z_norm).sum(axis=1, keepdims=True)
    dZ_norm = dZ_tilde * gamma
    dZ = (inv_std / m) * (
        m * dZ_norm
        - dZ_norm.sum(axis=1, keepdims=True)
        - Z_norm * (dZ_norm * Z_norm).sum(axis=1, keepdims=True)
    )
    return out, dZ, dgamma, dbeta


def bench_bn(n_l: int, m: int, dtype) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    Z = rng.normal(3.0, 2.0, size=(n_l, m)).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, size=(n_l, 1)).astype(dtype)
    beta = rng.normal(size=(n_l, 1)).astype(dtype)
    dZt = rng.normal(size=(n_l, m)).astype(dtype)

    def step():
        out, cache = batchnorm_forward(Z, gamma, beta)
        batchnorm_backward(dZt, cache)
        return out

    def plain():
        return plain_forward_backward(Z, gamma, beta, dZt)

    # Interleaved, so that a busy machine slows both alike.
    ours, base = [], []
    for _ in range(3):
        ours.append(_time(step))
        base.append(_time(plain))
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(ours), statistics.median(base), peak / 2**20


def bench_train_step(batchnorm: bool, dtype, batch: int = 60) -> float:
    rng = np.random.default_rng(0)
    X = rng.random((NET_SIZES[0], batch)).astype(dtype)
    y = rng.integers(0, NET_SIZES[-1], size=batch)
    net = Network(NET_SIZES, activation="sigmoid", batchnorm=batchnorm, dtype=dtype)
    opt = GD(lr=0.1)

    def step():
        _, grads = net.loss_and_grads(X, y, training=True)
        opt.step(net.params, grads)

    return _time(step)


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print(
        f"numpy {np.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}"
    )
    print()
    print("Batch Norm forward + backward (batchnorm_forward, batchnorm_backward)")
    print("against plain vectorized numpy of the same maths (no validation)")
    print(
        f"{'n_l x m':>12} {'dtype':>8} {'bnutils':>10} {'plain':>10} {'ratio':>6} "
        f"{'M values/s':>11} {'peak MiB':>9}"
    )
    for n_l, m in BN_SIZES:
        for dtype in (np.float64, np.float32):
            s, base, peak = bench_bn(n_l, m, dtype)
            rate = n_l * m / s / 1e6
            print(
                f"{f'{n_l} x {m}':>12} {np.dtype(dtype).name:>8} "
                f"{s * 1e3:>8.3f}ms {base * 1e3:>8.3f}ms {s / base:>6.2f} "
                f"{rate:>11.1f} {peak:>9.2f}"
            )
    print("ratio = bnutils / plain (target <= 1.00)")
    print()
    sizes = "-".join(map(str, NET_SIZES))
    print(
        f"One training step (forward, backward, GD update), {sizes} sigmoid, batch 60"
    )
    print(f"{'network':>12} {'dtype':>8} {'time':>10} {'steps/s':>9}")
    for bn in (False, True):
        for dtype in (np.float64, np.float32):
            s = bench_train_step(bn, dtype)
            name = "with BN" if bn else "without BN"
            print(
                f"{name:>12} {np.dtype(dtype).name:>8} {s * 1e3:>8.3f}ms {1 / s:>9.0f}"
            )


if __name__ == "__main__":
    main()
