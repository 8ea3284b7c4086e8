"""Reproduce Ioffe & Szegedy (2015), Figure 1, on the shipped MNIST subset.

    python scripts/reproduce_figure1.py                 # the paper's 50,000 steps
    python scripts/reproduce_figure1.py --steps 2000    # a quick look
    python scripts/reproduce_figure1.py --kinds plain,bn,noisy,xavier --extras

The network of the paper: 784 -> 100 -> 100 -> 100 sigmoid units -> 10 softmax,
initial weights N(0, 0.05^2), mini-batches of 60, trained once without and once
with Batch Norm on every hidden layer (same initial weights, same mini-batches).
The paper does not state the optimizer or the learning rate; this script uses
plain mini-batch gradient descent with lr 1.0 (``--lr``).

It records the test accuracy (1,000 test images) and the 15th, 50th and 85th
percentiles of the input of one sigmoid of the last hidden layer (unit 0, over
the first 500 test images) about 500 times during training, prints a summary
(with the drift of those percentiles over the whole run, from step 200 on, and
relative to their current spread, as notebook 05 measures it), and writes

* ``<out>/figure1.png``: (a) test accuracy, (b, c) the percentiles;
* ``<out>/figure1.json``: the settings, the run times and every recorded number.

``--kinds`` adds networks of notebook 05: ``noisy`` (noisy BN, Santurkar et al.
2018) and ``xavier`` (no Batch Norm, Xavier initialization N(0, 1/n_in): is the
plain network's plateau an initialization problem?). ``--extras`` also records,
for the Batch Norm networks, the probe in inference mode (running averages) at
every record, and for every network the relative gradient change along one step
of the learning rate on a fixed batch (the last 500 training images) at about
``--measure-points`` log-spaced record steps (notebook 05's exercise). Both are
off by default, so that ``make reproduce-figure1`` times the same work as its
PyTorch baseline.

Training data: the 4,000 training images shipped with bnutils (the paper used
all 60,000), so the accuracies are lower than the paper's; what to compare is the
shape of the curves.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

#: BLAS threads used unless --threads says otherwise: the matrices here are
#: small (100 x 784 times 784 x 60), where one thread is fastest and extra
#: threads mostly wait for each other, badly so on a shared machine.
DEFAULT_THREADS = 1
#: The repository (this file is scripts/reproduce_figure1.py).
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Reproduce Figure 1 of Ioffe & Szegedy (2015) on MNIST."
    )
    parser.add_argument(
        "--steps", type=int, default=50_000, help="training steps (paper: 50,000)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of weights and mini-batches"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "figures",
        help="output folder, created if needed (default: figures/ in the repository)",
    )
    parser.add_argument(
        "--lr", type=float, default=1.0, help="learning rate of gradient descent"
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="record every this many steps (default: steps / 500)",
    )
    parser.add_argument(
        "--kinds",
        default="plain,bn",
        help="networks to train, comma-separated: plain, bn, noisy, xavier "
        "(default: plain,bn)",
    )
    parser.add_argument(
        "--extras",
        action="store_true",
        help="also record the BN probe in inference mode and the gradient change",
    )
    parser.add_argument(
        "--measure-points",
        type=int,
        default=16,
        help="with --extras: how many record steps (log-spaced, plus step 0) get a "
        "gradient-change measurement (default 16)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="BLAS threads (default 1: fastest for these small matrices)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.eval_every is None:
        args.eval_every = max(args.steps // 500, 1)
    if args.eval_every < 1:
        parser.error("--eval-every must be at least 1")
    if not args.lr > 0:
        parser.error("--lr must be positive")
    if args.seed < 0:
        parser.error("--seed must be a non-negative integer")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    args.kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    known = ("plain", "bn", "noisy", "xavier")
    if not args.kinds or any(k not in known for k in args.kinds):
        parser.error(f"--kinds must be a comma-separated subset of {', '.join(known)}")
    if "plain" not in args.kinds or "bn" not in args.kinds:
        parser.error("--kinds must include plain and bn (the figure needs both)")
    if args.measure_points < 1:
        parser.error("--measure-points must be at least 1")
    return args


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TextProgress:
    """A one-line progress bar on stdout (a new line every 10 % when stdout is
    not a terminal, e.g. in a log file)."""

    def __init__(self, total: int, label: str, width: int = 30):
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.t0 = time.perf_counter()
        self.tty = sys.stdout.isatty()
        self.next_pct = 10

    def __call__(self, done: int) -> None:
        frac = min(done / self.total, 1.0)
        elapsed = time.perf_counter() - self.t0
        left = elapsed / frac - elapsed if frac > 0 else float("nan")
        filled = round(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        text = (
            f"{self.label:>10s} [{bar}] {done:>7,}/{self.total:,} steps  "
            f"{_clock(elapsed)} elapsed"
            + (f", ~{_clock(left)} left" if frac < 1 and frac > 0 else "")
        )
        if self.tty:
            sys.stdout.write("\r" + text)
            sys.stdout.flush()
        elif 100 * frac >= self.next_pct or frac >= 1:
            print(text, flush=True)
            while self.next_pct <= 100 * frac:
                self.next_pct += 10

    def close(self) -> None:
        if self.tty:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _finite(values) -> list:
    """A list for JSON: NaN (a diverged run's last record) becomes null."""
    return [v if v == v else None for v in (float(x) for x in values)]


def _clean(value):
    """A structure for JSON: non-finite floats become null, tuples lists."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def first_step_reaching(step, acc, level: float):
    """The first recorded step with accuracy >= level, or None."""
    hits = [int(s) for s, a in zip(step, acc, strict=True) if a >= level]
    return hits[0] if hits else None


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    # numpy (and with it BLAS) is imported only now, after the thread setting.
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from bnutils.data import load_mnist
    from bnutils.demos import covariate as demo
    from bnutils.optim import GD
    from bnutils.solutions import gradient_change
    from bnutils.train import train

    kinds = args.kinds
    print(
        f"Ioffe & Szegedy (2015), Figure 1: 784-100-100-100-10 sigmoid network, "
        f"weights N(0, {demo.FIGURE1_WEIGHT_SCALE}^2), batch {demo.FIGURE1_BATCH}, "
        f"gradient descent lr {args.lr}, {args.steps:,} steps, seed {args.seed}, "
        f"records every {args.eval_every:,} steps; networks: "
        + ", ".join(demo.KIND_LABELS[k] for k in kinds)
        + "."
    )
    data = load_mnist()
    X_train, y_train, X_test, y_test = data
    print(
        f"Data: the shipped MNIST subset, {X_train.shape[1]:,} training and "
        f"{X_test.shape[1]:,} test images."
    )
    probe = X_test[:, :500]
    X_fixed, y_fixed = X_train[:, -500:], y_train[-500:]
    layer = demo.PROBE_LAYER
    # Gradient change at log-spaced record steps: the interesting part of the
    # run is its beginning, and late in training every landscape is flat.
    rec = np.unique(
        np.r_[
            0, np.arange(args.eval_every, args.steps + 1, args.eval_every), args.steps
        ]
    )
    want = np.geomspace(max(args.eval_every, 1), args.steps, args.measure_points)
    measure_at = set(rec[np.unique(np.searchsorted(rec, want).clip(0, rec.size - 1))])
    measure_at.add(0)
    runs, seconds, inference, changes = {}, {}, {}, {}
    t_all = time.perf_counter()
    for kind in kinds:
        bar = TextProgress(args.steps, demo.KIND_LABELS[kind])
        net = demo.figure1_network(kind, seed=args.seed)
        inference[kind], changes[kind] = [], []

        def record(step, _h, net=net, kind=kind, bar=bar):
            bar(step)
            if not args.extras:
                return
            if net.batchnorm:
                z = net.inspect(probe, training=False)[f"Zt{layer}"][0]
                inference[kind].append(np.percentile(z, (15, 50, 85)))
            if step in measure_at:
                w, grad_fn = demo.flat_gradient(net, X_fixed, y_fixed)
                changes[kind].append((step, gradient_change(grad_fn, w, args.lr)))

        t0 = time.perf_counter()
        runs[kind] = train(
            net,
            GD(args.lr),
            X_train,
            y_train,
            X_test,
            y_test,
            batch_size=demo.FIGURE1_BATCH,
            steps=args.steps,
            eval_every=args.eval_every,
            seed=args.seed,
            progress=False,
            callback=record,
        )
        bar.close()
        seconds[kind] = time.perf_counter() - t0
    total = time.perf_counter() - t_all

    print(f"\nRun time: {_clock(total)} ({total:.0f} s) for {len(kinds)} networks.")
    summary = {}
    for kind in kinds:
        h = runs[kind]
        reach = {
            f"{level:.2f}": first_step_reaching(h.step, h.test_acc, level)
            for level in (0.5, 0.8, 0.9, 0.95)
        }
        summary[kind] = {"first_step_reaching": reach}
        label = demo.KIND_LABELS[kind]
        diverged = f"  DIVERGED at step {h.diverged_at}" if h.diverged else ""
        print(
            f"{label:>24s}: final test accuracy {100 * h.test_acc[-1]:.2f} % "
            f"(best {100 * np.nanmax(h.test_acc):.2f} %), {seconds[kind]:.0f} s"
            f"{diverged}"
        )
        reached = ", ".join(
            f"{float(k):.0%} " + ("never" if v is None else f"at step {v:,}")
            for k, v in reach.items()
        )
        print(f"{'':>24s}  test accuracy first reached: {reached}")

    print(
        f"\nInput of the layer-{layer} sigmoid (unit 0, 500 test images): "
        "15th / 50th / 85th percentiles; 'move/spread' is the mean move of the "
        "three\npercentiles between two records divided by the 15th-to-85th "
        "spread at the time."
    )
    curves = {
        kind: (demo.KIND_LABELS[kind], runs[kind].percentiles[layer]) for kind in kinds
    }
    for kind in kinds:
        if inference[kind]:
            curves[f"{kind}_inference"] = (
                f"{demo.KIND_LABELS[kind]}, inference mode",
                np.array(inference[kind]),
            )
    for key, (label, p) in curves.items():
        step = runs[key.split("_")[0]].step
        first = " / ".join(f"{v:+.2f}" for v in p[0])
        last = " / ".join(f"{v:+.2f}" for v in p[-1])
        print(f"{label:>34s}: step 0: {first}   step {int(step[-1]):,}: {last}")
        drifts = {}
        for since in (0, 200):
            if np.count_nonzero(step >= since) < 2:
                continue
            d = demo.percentile_drift(p, steps=step, since=since)
            drifts[str(since)] = d
            print(
                f"{'':>34s}  from step {since:>3}: median moved "
                f"{d['median_shift']:+.2f}, spread {d['spread_first']:.3f} -> "
                f"{d['spread_last']:.2f} (x{d['spread_ratio']:.1f}), move/spread "
                f"{d['mean_relative_change']:.4f}"
            )
        summary.setdefault(key, {})["drift"] = _clean(drifts)

    if args.extras:
        print(
            f"\nGradient change along one step of {args.lr} on the last 500 training "
            "images (relative to the gradient's length), and test accuracy (%):"
        )
        header = f"{'step':>8}" + "".join(f"{demo.KIND_LABELS[k]:>26s}" for k in kinds)
        print(header)
        steps_measured = [st for st, _ in changes[kinds[0]]]
        for j, st in enumerate(steps_measured):
            cells = []
            for kind in kinds:
                h = runs[kind]
                acc = h.test_acc[int(np.searchsorted(h.step, st))]
                cells.append(f"{changes[kind][j][1]:>16.3f} ({100 * acc:5.1f} %)")
            print(f"{st:>8,}" + "".join(f"{c:>26s}" for c in cells))
        for kind in kinds:
            at, values = (np.array(v) for v in zip(*changes[kind], strict=True))
            summary[kind]["gradient_change"] = {
                "step": at.tolist(),
                "change": values.tolist(),
            }

    args.out.mkdir(parents=True, exist_ok=True)
    # A log step axis for (a): over 50,000 steps the difference in speed is
    # in the first few thousand, invisible on a linear axis.
    fig, _ = demo.plot_figure1(
        runs,
        layer=layer,
        accuracy_xscale="log",
        bn_inference=np.array(inference["bn"]) if inference["bn"] else None,
    )
    fig.suptitle(
        f"Ioffe & Szegedy (2015), Figure 1, on 4,000 MNIST images: "
        f"{args.steps:,} steps, gradient descent lr {args.lr}"
    )
    png = args.out / "figure1.png"
    fig.savefig(png, dpi=120)
    record = {
        "settings": {
            "layer_sizes": list(demo.FIGURE1_SIZES),
            "activation": "sigmoid",
            "weight_scale": demo.FIGURE1_WEIGHT_SCALE,
            "batch_size": demo.FIGURE1_BATCH,
            "optimizer": "gd",
            "lr": args.lr,
            "steps": args.steps,
            "eval_every": args.eval_every,
            "seed": args.seed,
            "kinds": list(kinds),
            "extras": args.extras,
            "measure_points": args.measure_points,
            "blas_threads": args.threads,
            "probe": f"unit 0 of hidden layer {layer}, first 500 test images",
            "train_images": int(data[0].shape[1]),
            "test_images": int(data[2].shape[1]),
        },
        "seconds_total": total,
        "inference_drift": {
            k: v["drift"] for k, v in summary.items() if k.endswith("_inference")
        },
        "runs": {
            kind: {
                "seconds": seconds[kind],
                "diverged": bool(runs[kind].diverged),
                "final_test_acc": float(runs[kind].test_acc[-1]),
                "step": runs[kind].step.tolist(),
                "test_acc": _finite(runs[kind].test_acc),
                "train_acc": _finite(runs[kind].train_acc),
                "loss": _finite(runs[kind].loss),
                "percentiles": {
                    str(lay): [_finite(row) for row in p]
                    for lay, p in runs[kind].percentiles.items()
                },
                "inference_percentiles": [_finite(row) for row in inference[kind]],
                **summary[kind],
            }
            for kind in kinds
        },
    }
    js = args.out / "figure1.json"
    js.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    print(f"\nWrote {png} and {js}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
