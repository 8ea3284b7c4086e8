"""Notebook 04's ghost-batch experiment at full size: does Batch Norm's own noise
regularize?

    python scripts/ghost_batch.py                  # all three settings below
    python scripts/ghost_batch.py --quick          # the notebook's run only

The gradient's mini-batch stays at 64 examples; only where each Batch Norm layer
takes its statistics from changes (ghost batches of 2 .. 64 consecutive examples,
the whole training set with or without the gradient through its statistics,
statistics frozen for an epoch, or no Batch Norm at all). Seed s fixes the initial
weights and the order of the mini-batches, the same for every configuration, so
configurations are compared seed by seed. See
:func:`bnutils.demos.minibatch.ghost_batch_experiment`.

Settings (``--quick`` runs only the first, with the notebook's five seeds):

1. the notebook's run (500 MNIST images average-pooled to 14 x 14, 15 epochs,
   momentum lr 0.5) with 20 seeds and every control;
2. the same, trained twice as long (30 epochs), 10 seeds;
3. the same at full resolution (28 x 28 = 784 pixels), 10 seeds.

For each setting it prints the table of train and test accuracy and gap per
configuration (mean over seeds, seed standard deviation), and each
configuration's gap and test accuracy minus those of the whole-set control
(no batch noise), paired by seed, with standard errors. It writes every number to
``<out>/ghost_batch.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ALL_CONFIGS = (2, 4, 8, 16, 32, 64, "whole", "whole_nograd", "frozen", "plain")


def settings(quick: bool) -> list[dict]:
    from bnutils.demos import minibatch as mb

    base = dict(mb.GHOST_NOTEBOOK)
    if quick:
        return [{"name": "the notebook's run", **base}]
    return [
        {
            "name": "notebook setting, 20 seeds",
            **base,
            "configs": ALL_CONFIGS,
            "seeds": tuple(range(20)),
        },
        {
            "name": "trained twice as long (30 epochs), 10 seeds",
            **base,
            "configs": ALL_CONFIGS,
            "seeds": tuple(range(10)),
            "epochs": 2 * base["epochs"],
        },
        {
            "name": "full resolution (784 pixels), 10 seeds",
            **base,
            "configs": ALL_CONFIGS,
            "seeds": tuple(range(10)),
            "pool": 1,
        },
    ]


def paired_lines(result) -> list[str]:
    """Each configuration minus the whole-set control, seed by seed."""
    ref = result.row("whole")
    lines = [f"{'':<24}{'gap minus whole set':>22}{'test acc minus whole set':>28}"]
    for i, label in enumerate(result.labels):
        if i == ref:
            continue
        d_gap = result.gap[i] - result.gap[ref]
        d_test = 100 * (result.test_acc[i] - result.test_acc[ref])
        n = d_gap.size
        se_gap = d_gap.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        se_test = d_test.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        note = "" if result.fitted[i] else "   (not fitted)"
        lines.append(
            f"{label:<24}{d_gap.mean():>+13.1f} ± {se_gap:.1f}"
            f"{d_test.mean():>+19.1f} ± {se_test:.1f}{note}"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="only the notebook's run (5 seeds)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "figures",
        help="folder for ghost_batch.json (default: figures/ in the repository)",
    )
    args = parser.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    from bnutils.demos import minibatch as mb

    record = []
    t_all = time.perf_counter()
    for setting in settings(args.quick):
        kwargs = {k: v for k, v in setting.items() if k != "name"}
        t0 = time.perf_counter()
        result = mb.ghost_batch_experiment(**kwargs, progress=False)
        seconds = time.perf_counter() - t0
        s = result.settings
        print(
            f"\n== {setting['name']}: {s['n_train']} training images of "
            f"{s['n_x']} pixels, {s['layer_sizes']} ReLU, gradient batch "
            f"{s['batch_size']}, {s['epochs']} epochs ({s['steps']} steps), momentum "
            f"lr {s['lr']}, {result.seeds.size} seeds; {seconds:.0f} s"
        )
        print(result.table())
        print("\n".join(paired_lines(result)))
        record.append(
            {
                "name": setting["name"],
                "settings": s,
                "configs": [str(c) for c in result.configs],
                "seeds": result.seeds.tolist(),
                "train_acc": result.train_acc.tolist(),
                "test_acc": result.test_acc.tolist(),
                "train_loss": result.train_loss.tolist(),
                "test_loss": result.test_loss.tolist(),
                "seconds": seconds,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ghost_batch.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    total = time.perf_counter() - t_all
    print(f"\nWrote {path} ({total:.0f} s in all).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
