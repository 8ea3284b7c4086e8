"""Notebook 03's payoff at full size: every learning rate and weight scale of the
panel, five seeds each, with and without Batch Norm, at 300 and 1000 steps.

    .venv/bin/python scripts/bn_network_grid.py            # about a minute
    .venv/bin/python scripts/bn_network_grid.py --steps 300
    .venv/bin/python scripts/bn_network_grid.py --save     # also store the results

``--save`` writes every seed's final test accuracy and training loss to
``bnutils/datafiles/network_grid.npz`` (read by
``bnutils.demos.network.grid_results()``), so notebook 03 shows the grid without
training it. Regenerate it after any change to ``train_networks``.

The network, data, training and measurements are those of the notebook (section 6,
``bnutils.demos.network.compare``): 2 -> 6 x 16 tanh -> 3 on three spirals (600
training and 600 test points), plain mini-batch gradient descent with batches of
60, initial weights N(0, 1/n_in) times the weight scale, the same initial weights
and batches for both networks. For each setting it prints the mean final test
accuracy over the seeds and the range from the worst to the best seed, as two
grids (learning rate down, weight scale across), then counts the settings where
every seed reaches 90 % test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bnutils.demos import network as demo

THRESHOLD = 0.90
SAVE_TO = Path(__file__).resolve().parents[1] / "bnutils" / "datafiles" / demo.GRID_FILE


def grid(results: dict, which: str) -> str:
    scales = demo.SCALE_CHOICES
    head = "lr \\ scale".ljust(12) + "".join(f"{s:>16g}" for s in scales)
    lines = [head]
    for lr in demo.LR_CHOICES:
        cells = []
        for sc in scales:
            acc = getattr(results[(lr, sc)], which).test_acc[-1]
            cells.append(f"{acc.mean():5.0%} ({acc.min():.0%}-{acc.max():.0%})")
        lines.append(f"{lr:<12g}" + "".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[300, 1000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--save", action="store_true", help=f"write {SAVE_TO.name}")
    args = parser.parse_args()
    lrs, scales = demo.LR_CHOICES, demo.SCALE_CHOICES
    shape = (len(args.steps), 2, len(lrs), len(scales), args.seeds)
    test_acc, train_loss = np.full(shape, np.nan), np.full(shape, np.nan)
    conditions = [(lr, sc) for lr in demo.LR_CHOICES for sc in demo.SCALE_CHOICES]
    data = demo.spiral_task(seed=0)
    for steps in args.steps:
        t0 = time.perf_counter()
        results = demo.compare(
            conditions, range(args.seeds), steps=steps, data=data, progress=False
        )
        took = time.perf_counter() - t0
        t = args.steps.index(steps)
        for i, lr in enumerate(lrs):
            for j, sc in enumerate(scales):
                for w, runs in enumerate(results[(float(lr), float(sc))]):
                    test_acc[t, w, i, j] = runs.test_acc[-1]
                    train_loss[t, w, i, j] = runs.train_loss[-1]
        print(
            f"\n=== {steps} steps, {args.seeds} seeds per setting "
            f"({len(conditions)} settings x 2 networks, {took:.0f} s) ==="
        )
        print("\nfinal test accuracy WITHOUT Batch Norm: mean (worst-best seed)")
        print(grid(results, "plain"))
        print("\nfinal test accuracy WITH Batch Norm: mean (worst-best seed)")
        print(grid(results, "bn"))
        for which, name in (("plain", "without BN"), ("bn", "with BN")):
            ok = [
                c
                for c in conditions
                if np.min(getattr(results[c], which).test_acc[-1]) >= THRESHOLD
            ]
            print(
                f"\n{name}: {len(ok)} of {len(conditions)} settings where every seed "
                f"reaches {THRESHOLD:.0%}: "
                + ", ".join(f"(lr {lr:g}, scale {sc:g})" for lr, sc in ok)
            )

    if args.save:
        np.savez_compressed(
            SAVE_TO,
            steps=np.array(args.steps),
            lrs=np.array(lrs),
            scales=np.array(scales),
            seeds=np.arange(args.seeds),
            test_acc=test_acc,
            train_loss=train_loss,
            command=np.array(" ".join(["python", *sys.argv])),
        )
        print(f"\nsaved {SAVE_TO}")


if __name__ == "__main__":
    main()
