"""Full-size versions of notebook 07's experiments, over several seeds; prints tables.

The notebook trains a few sweep points for 150 steps, one seed, to fit its
time budget. This script trains the same network with the same code
(:func:`bnutils.demos.practice.fit` and :func:`~bnutils.demos.practice.fit_together`,
float32, mini-batch gradient descent,
batch 60, all 4,000 training images) for 2,000 steps per point, over seeds 0,
1 and 2 (a seed sets the initial weights and the order of the mini-batches;
the networks with and without Batch Norm of one seed share both). It
measures the test accuracy at step 150 too, so the notebook's short result
can be read beside the long one and its seed spread:

1. steps to reach 85 / 90 / 92 % test accuracy, without and with Batch Norm
   (784-100-100-100-10 ReLU, weights N(0, 0.05^2), lr 0.1), test accuracy
   every 20 steps for 3,000 steps;
2. final test accuracy over learning rates 0.01 .. 10 (lr 2 is the setting
   of a widely circulated recreation of Ioffe & Szegedy's section 3.3);
3. final test accuracy over initial weight scales 1e-4 .. 1 (CS231n's sweep).

``--save`` writes the results to ``bnutils/datafiles/sweeps_full.npz``, which
notebook 07 reads (:func:`bnutils.demos.practice.full_size_results`).

Usage::

    .venv/bin/python scripts/sweeps.py --save   # 3-6 minutes on one core
    .venv/bin/python scripts/sweeps.py --quick    # a smoke test (seconds)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bnutils.data import load_mnist
from bnutils.demos import practice as demo
from bnutils.network import Network

REPO = Path(__file__).resolve().parents[1]
SAVE_TO = REPO / "bnutils" / "datafiles" / demo.FULL_SIZE_FILE
LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 3.0, 10.0)
SCALES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.03, 0.05, 0.1, 0.3, 1.0)
TARGETS = (0.85, 0.9, 0.92)
SHORT = 150  # the notebook's run length


def make_net(batchnorm: bool, weight_scale: float, seed: int) -> Network:
    return Network(
        list(demo.SIZES),
        activation="relu",
        batchnorm=batchnorm,
        weight_scale=weight_scale,
        seed=seed,
        dtype=np.float32,
    )


def sweep(name, values, steps, data, seeds, short):
    """acc (2, S, n, 2): [bn, seed, value, (after `short` steps, after `steps`)];
    diverged_at (2, S, n), -1 where the run did not diverge. The networks of
    one seed and one Batch Norm setting train together (fit_together)."""
    acc = np.full((2, len(seeds), len(values), 2), np.nan)
    div = np.full((2, len(seeds), len(values)), -1, dtype=np.int64)
    for s, seed in enumerate(seeds):
        for bn in (False, True):
            if name == "lr":
                nets = [make_net(bn, 0.05, seed) for _ in values]
                lrs = list(values)
            else:
                nets = [make_net(bn, v, seed) for v in values]
                lrs = [0.1] * len(values)
            runs = demo.fit_together(
                nets, lrs, steps, data, eval_at=sorted({short, steps}), seed=seed
            )
            for i, run in enumerate(runs):
                acc[int(bn), s, i, 0] = run.acc_at(short)
                acc[int(bn), s, i, 1] = run.final_acc
                div[int(bn), s, i] = -1 if run.diverged_at is None else run.diverged_at
    return acc, div


def print_sweep(label, values, acc, div, seeds, steps, short):
    """For each value and network: seed 0's accuracy, and the range over the
    seeds, after `short` and after `steps` steps."""
    head = f"seed 0 @{short}  seeds @{short}  seed 0 @{steps}  seeds @{steps}"
    print(f"  {'':>7}  {'without BN':^{len(head)}}   {'with BN':^{len(head)}}")
    print(f"  {label:>7}  {head}   {head}")
    for i, v in enumerate(values):
        cells = []
        for bn in (0, 1):
            for j, n in ((0, short), (1, steps)):
                d0 = div[bn, 0, i]
                first = f"div.@{d0}" if 0 <= d0 <= n else f"{acc[bn, 0, i, j]:.1%}"
                width = len(f"seed 0 @{n}")
                cells.append(f"{first:>{width}}")
                rng = demo.seed_range(acc[bn, :, i, j], div[bn, :, i], n)
                cells.append(f"{rng:>{len(f'seeds @{n}')}}")
        print(f"  {v:>7.3g}  {'  '.join(cells[:4])}   {'  '.join(cells[4:])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per sweep run")
    parser.add_argument(
        "--compare-steps", type=int, default=3000, help="steps of the comparison"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=None, help="training images")
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings, to test the script"
    )
    parser.add_argument("--save", action="store_true", help=f"write {SAVE_TO.name}")
    parser.add_argument("--out", type=Path, default=None, help="where --save writes")
    args = parser.parse_args(argv)
    lrs, scales, short = LRS, SCALES, SHORT
    if args.quick:
        args.n_train, args.steps, args.compare_steps = 600, 30, 60
        args.seeds = args.seeds[:1]
        lrs, scales, short = (0.1, 10.0), (1e-4, 0.05), 20
    seeds = list(args.seeds)
    data = load_mnist(n_train=args.n_train, dtype=np.float32)
    print(
        f"data: {data.X_train.shape[1]} training, {data.X_test.shape[1]} test images; "
        f"float32; seeds {seeds}"
    )
    t0 = time.perf_counter()

    print(
        f"\n1. Steps to a target test accuracy: 784-100-100-100-10 ReLU, weights "
        f"N(0, 0.05^2), GD lr 0.1, batch 60, {args.compare_steps} steps, test "
        "accuracy every 20 steps"
    )
    reached = np.full((2, len(seeds), len(TARGETS)), -1, dtype=np.int64)
    final = np.full((2, len(seeds)), np.nan)
    for s, seed in enumerate(seeds):
        for bn in (False, True):
            run = demo.fit(
                make_net(bn, 0.05, seed),
                0.1,
                args.compare_steps,
                data,
                eval_every=20,
                seed=seed,
            )
            for j, target in enumerate(TARGETS):
                hit = demo.steps_to_target(run, target)
                reached[int(bn), s, j] = -1 if hit is None else hit
            final[int(bn), s] = run.final_acc
    print(f"  {'target':>7} | {'without BN':>24} | {'with BN':>24}   (seeds {seeds})")
    for j, target in enumerate(TARGETS):
        row = [
            ", ".join(str(x) if x >= 0 else "-" for x in reached[bn, :, j])
            for bn in (0, 1)
        ]
        print(f"  {target:>7.0%} | {row[0]:>24} | {row[1]:>24}")
    print(
        f"  final test accuracy: without BN {', '.join(f'{a:.1%}' for a in final[0])}; "
        f"with BN {', '.join(f'{a:.1%}' for a in final[1])}"
    )

    print(
        f"\n2. Learning rates (weights N(0, 0.05^2), batch 60, test accuracy after "
        f"{short} and {args.steps} steps)"
    )
    lr_acc, lr_div = sweep("lr", lrs, args.steps, data, seeds, short)
    print_sweep("lr", lrs, lr_acc, lr_div, seeds, args.steps, short)

    print(
        f"\n3. Initial weight std (GD lr 0.1, batch 60, test accuracy after {short} "
        f"and {args.steps} steps)"
    )
    sc_acc, sc_div = sweep("scale", scales, args.steps, data, seeds, short)
    print_sweep("std", scales, sc_acc, sc_div, seeds, args.steps, short)
    print("\n  div.@k: diverged at step k (NaN or infinite loss); (k div.): k of the")
    print("  seeds diverged and the range is over the others")
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s")

    if args.save:
        out = args.out or SAVE_TO
        np.savez_compressed(
            out,
            seeds=np.array(seeds),
            steps=np.array(args.steps),
            short_steps=np.array(short),
            lrs=np.array(lrs),
            lr_acc=lr_acc,
            lr_diverged_at=lr_div,
            scales=np.array(scales),
            scale_acc=sc_acc,
            scale_diverged_at=sc_div,
            compare_steps=np.array(args.compare_steps),
            targets=np.array(TARGETS),
            steps_to_target=reached,
            compare_acc=final,
            command=np.array(
                "python scripts/sweeps.py " + " ".join(argv or sys.argv[1:])
            ),
        )
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
