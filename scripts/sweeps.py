"""Full-size versions of notebook 07's experiments; prints tables.

The notebook runs reduced versions to fit its 20-second budget (2,000 training
images, 150 steps per sweep point, 6 learning rates, 5 weight scales). This
script runs the same package functions (:mod:`bnutils.demos.practice`) on all
4,000 training images with longer runs and finer grids:

1. steps to reach 85 / 90 / 92 % test accuracy, without and with Batch Norm
   (784-100-100-100-10 ReLU, weights N(0, 0.05^2), mini-batch GD, lr 0.1,
   batch 60);
2. final test accuracy over learning rates 0.01 .. 10 (including lr = 2, the
   well-known recreation of Ioffe & Szegedy's section 3.3);
3. final test accuracy over initial weight scales 1e-4 .. 1 (CS231n).

Usage::

    .venv/bin/python scripts/sweeps.py            # about 2 minutes on one core
    .venv/bin/python scripts/sweeps.py --quick    # a smoke test (seconds)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from bnutils.demos import practice as demo
from bnutils.demos.network import format_table

LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 3.0, 10.0)
SCALES = tuple(float(s) for s in np.logspace(-4, 0, 9))
TARGETS = (0.85, 0.9, 0.92)


def _trained(result: demo.SweepResult, key: str, threshold: float) -> str:
    values = result.trained_values(key, threshold)
    return ", ".join(f"{v:.3g}" for v in values) if values.size else "none"


def _summary(result: demo.SweepResult) -> str:
    lines = []
    for threshold in (0.5, 0.8, 0.9):
        for key, label in (("plain", "without BN"), ("bn", "with BN")):
            lines.append(
                f"  {label:10s} reaches >= {threshold:.0%} at "
                f"{result.param} = {_trained(result, key, threshold)}"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000, help="training images")
    parser.add_argument("--steps", type=int, default=2000, help="steps per sweep run")
    parser.add_argument(
        "--compare-steps", type=int, default=3000, help="steps of the comparison"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings, to test the script"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.steps, args.compare_steps = 600, 30, 60

    data = demo.practice_data(n_train=args.n_train, seed=args.seed)
    base = replace(demo.FULL_CONFIG, steps=args.steps, seed=args.seed)
    print(f"data: {data.X_train.shape[1]} training, {data.X_test.shape[1]} test images")
    t0 = time.perf_counter()

    cmp_cfg = replace(base, steps=args.compare_steps, eval_every=20)
    print(f"\n1. Steps to a target test accuracy ({cmp_cfg.describe()}, eval every 20)")
    runs = demo.compare(cmp_cfg, data, progress=False)
    print(format_table(demo.target_rows(runs, TARGETS)))
    for r in runs.values():
        print(
            f"  {r.label}: final test accuracy {r.final_test_acc:.1%}, "
            f"{r.history.seconds:.1f} s"
        )

    print(f"\n2. Learning-rate sweep (lr varies; otherwise {base.describe()})")
    lr = demo.lr_sweep(LRS, base, data, progress=False)
    print(format_table(demo.sweep_rows(lr)))
    print(_summary(lr))

    print(
        "\n3. Initial weight scale sweep (the weight std varies; otherwise "
        f"{base.describe()})"
    )
    sc = demo.init_scale_sweep(SCALES, base, data, progress=False)
    print(format_table(demo.sweep_rows(sc)))
    print(_summary(sc))
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
