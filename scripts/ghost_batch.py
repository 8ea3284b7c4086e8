"""Notebook 04's ghost-batch experiment at full size: does Batch Norm's own noise
regularize?

    python scripts/ghost_batch.py                  # all three settings below
    python scripts/ghost_batch.py --quick          # the notebook's run only
    python scripts/ghost_batch.py --subsets 1,2,3  # other 500-image training subsets

The gradient's mini-batch stays at 64 examples; only where each Batch Norm layer
takes its statistics from changes (ghost batches of 2 .. 64 consecutive examples,
the whole training set with or without the gradient through its statistics,
statistics frozen for an epoch, or no Batch Norm at all). Seed s fixes the initial
weights and the order of the mini-batches, the same for every configuration, so
configurations are compared seed by seed. A seed does not change the data: every
run of a setting uses the same 500 training images and the same test set (all
1,000 shipped test images). ``--subsets K,...`` repeats every setting on other
stratified 500-image training subsets (``ghost_data(..., seed=K)``; subset 0 is
the notebook's); the test set is never resampled. See
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
``<out>/ghost_batch.json``. With more than one subset it ends with a summary:
each configuration's gap minus the whole-set control, per setting and subset.
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


def parse_subsets(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> (1, 2, 3): the seeds of the training subsets to draw."""
    try:
        subsets = tuple(int(t) for t in text.split(","))
    except ValueError:
        subsets = ()
    if not subsets or min(subsets) < 0 or len(set(subsets)) != len(subsets):
        raise argparse.ArgumentTypeError(
            f"--subsets takes distinct non-negative integers separated by commas, "
            f"e.g. 0,1,2; got {text!r}."
        )
    return subsets


def paired(result, i) -> tuple[float, float, float, float]:
    """Row i minus the whole-set control, seed by seed: mean gap difference, its
    standard error, mean test-accuracy difference (points), its standard error."""
    ref = result.row("whole")
    d_gap = result.gap[i] - result.gap[ref]
    d_test = 100 * (result.test_acc[i] - result.test_acc[ref])
    n = d_gap.size
    se_gap = d_gap.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    se_test = d_test.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    return float(d_gap.mean()), se_gap, float(d_test.mean()), se_test


def paired_lines(result) -> list[str]:
    """Each configuration minus the whole-set control, seed by seed."""
    ref = result.row("whole")
    lines = [f"{'':<24}{'gap minus whole set':>22}{'test acc minus whole set':>28}"]
    for i, label in enumerate(result.labels):
        if i == ref:
            continue
        d_gap, se_gap, d_test, se_test = paired(result, i)
        note = "" if result.fitted[i] else "   (not fitted)"
        lines.append(
            f"{label:<24}{d_gap:>+13.1f} ± {se_gap:.1f}"
            f"{d_test:>+19.1f} ± {se_test:.1f}{note}"
        )
    return lines


def subset_summary(runs) -> list[str]:
    """Gap minus the whole-set control, one column per training subset, for each
    setting. ``runs``: (setting name, subset, GhostResult) in run order."""
    lines = ["\n== Across training subsets: gap minus whole set (± SE; nf: not fitted)"]
    names = list(dict.fromkeys(name for name, _, _ in runs))
    for name in names:
        mine = [(k, r) for n, k, r in runs if n == name]
        lines.append(f"\n{name}")
        lines.append(
            f"{'':<24}" + "".join(f"{'subset ' + str(k):>18}" for k, _ in mine)
        )
        first = mine[0][1]
        for i, label in enumerate(first.labels):
            if i == first.row("whole"):
                continue
            cells = []
            for _, r in mine:
                d_gap, se_gap, _, _ = paired(r, i)
                nf = "" if r.fitted[i] else " nf"
                cells.append(f"{f'{d_gap:+.2f} ± {se_gap:.2f}{nf}':>18}")
            lines.append(f"{label:<24}" + "".join(cells))
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
    parser.add_argument(
        "--subsets",
        type=parse_subsets,
        default=(0,),
        help="training subsets to run every setting on, e.g. 1,2,3 (default 0: the "
        "notebook's 500 images); the 1,000 test images are the same for all",
    )
    args = parser.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    import numpy as np

    from bnutils.demos import minibatch as mb

    record, runs = [], []
    t_all = time.perf_counter()
    for setting, subset in (
        (st, k) for st in settings(args.quick) for k in args.subsets
    ):
        kwargs = {k: v for k, v in setting.items() if k != "name"}
        data = mb.ghost_data(kwargs["n_train"], kwargs["pool"], np.float32, seed=subset)
        t0 = time.perf_counter()
        result = mb.ghost_batch_experiment(**kwargs, data=data, progress=False)
        seconds = time.perf_counter() - t0
        runs.append((setting["name"], subset, result))
        s = result.settings
        print(
            f"\n== {setting['name']}, training subset {subset}: {s['n_train']} "
            f"training images of "
            f"{s['n_x']} pixels, {s['layer_sizes']} ReLU, gradient batch "
            f"{s['batch_size']}, {s['epochs']} epochs ({s['steps']} steps), momentum "
            f"lr {s['lr']}, {result.seeds.size} seeds; {seconds:.0f} s"
        )
        print(result.table())
        print("\n".join(paired_lines(result)))
        record.append(
            {
                "name": setting["name"],
                "subset": subset,
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
    if len(args.subsets) > 1:
        print("\n".join(subset_summary(runs)))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ghost_batch.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    total = time.perf_counter() - t_all
    print(f"\nWrote {path} ({total:.0f} s in all).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
