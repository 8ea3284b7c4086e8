"""PyTorch baseline for `make reproduce-figure1`: the same work, timed.

Trains the two networks of ``scripts/reproduce_figure1.py`` with PyTorch on the
CPU, with the same settings and the same evaluation cadence, and prints the
wall time, so that the project's numpy implementation can be compared with a
mainstream framework on this machine:

* 784 -> 100 -> 100 -> 100 sigmoid -> 10 softmax, weights N(0, 0.05^2), biases
  0 (none before Batch Norm), float32; once without and once with
  ``BatchNorm1d`` on every hidden layer (momentum 0.1, eps 1e-5);
* mini-batches of 60 from the shipped 4,000 MNIST training images, reshuffled
  every epoch (last incomplete batch dropped), plain SGD with lr 1.0;
* a record every ``steps / 500`` steps: test accuracy on the 1,000 test images
  and training accuracy on the first 1,000 training images (inference mode),
  and the probe: the input of unit 0 of each hidden layer's sigmoid over the
  first 500 test images (with BN, normalized with the probe's own statistics,
  the running statistics untouched) and its 15th/50th/85th percentiles.

PyTorch is *not* a dependency of the project. Run this from a throwaway
environment with numpy and torch, e.g.::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install numpy torch
    /tmp/torchenv/bin/python scripts/bench_figure1_torch.py --steps 50000

and, minutes apart on the same machine, ``make reproduce-figure1``. A benchmark:
it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "bnutils" / "datafiles" / "mnist_5k.npz"


def load():
    with np.load(DATA) as f:
        X = f["X_train"].astype(np.float32) / 255.0
        y = f["y_train"].astype(np.int64)
        Xt = f["X_test"].astype(np.float32) / 255.0
        yt = f["y_test"].astype(np.int64)
    return X, y, Xt, yt  # examples as rows: (m, 784)


def build(torch, batchnorm: bool, seed: int):
    nn = torch.nn
    gen = torch.Generator().manual_seed(seed)
    sizes = [784, 100, 100, 100, 10]
    layers = []
    for i in range(4):
        lin = nn.Linear(sizes[i], sizes[i + 1], bias=not (batchnorm and i < 3))
        with torch.no_grad():
            lin.weight.normal_(0.0, 0.05, generator=gen)
            if lin.bias is not None:
                lin.bias.zero_()
        layers.append(lin)
        if i < 3:
            if batchnorm:
                layers.append(nn.BatchNorm1d(sizes[i + 1], momentum=0.1, eps=1e-5))
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def probe_inputs(torch, model, P):
    """Inputs of every hidden sigmoid over the probe batch P, with BN using
    the probe's own statistics and leaving the running statistics alone."""
    F = torch.nn.functional
    out, h = [], P
    mods = list(model)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, torch.nn.Linear):
            h = m(h)
        elif isinstance(m, torch.nn.BatchNorm1d):
            h = F.batch_norm(h, None, None, m.weight, m.bias, True, 0.0, m.eps)
        elif isinstance(m, torch.nn.Sigmoid):
            out.append(h[:, 0])
            h = torch.sigmoid(h)
        i += 1
    return out


def run(torch, batchnorm: bool, steps: int, eval_every: int, seed: int, data):
    X, y, Xt, yt = (torch.from_numpy(a) for a in data)
    m = X.shape[0]
    model = build(torch, batchnorm, seed)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    order = torch.from_numpy(rng.permutation(m))
    pos = 0
    X_sub, y_sub, P = X[:1000], y[:1000], Xt[:500]
    q = torch.tensor([0.15, 0.50, 0.85])
    records = []

    def record():
        model.eval()
        with torch.no_grad():
            acc = (model(Xt).argmax(1) == yt).float().mean().item()
            tr = (model(X_sub).argmax(1) == y_sub).float().mean().item()
            pct = [torch.quantile(z, q) for z in probe_inputs(torch, model, P)]
        model.train()
        records.append((acc, tr, pct))

    t0 = time.perf_counter()
    record()
    for s in range(1, steps + 1):
        if pos + 60 > m:
            order = torch.from_numpy(rng.permutation(m))
            pos = 0
        idx = order[pos : pos + 60]
        pos += 60
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        if s % eval_every == 0 or s == steps:
            record()
    seconds = time.perf_counter() - t0
    return seconds, records[-1][0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = p.parse_args(argv)
    eval_every = args.eval_every or max(args.steps // 500, 1)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = load()
    print(
        f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads, float32: "
        f"Figure-1 networks, {args.steps:,} steps, records every {eval_every} steps"
    )
    total = 0.0
    for bn in (False, True):
        seconds, acc = run(torch, bn, args.steps, eval_every, args.seed, data)
        total += seconds
        name = "with BN" if bn else "without BN"
        print(f"{name:>11}: {seconds:8.1f} s, final test accuracy {100 * acc:.1f} %")
    print(f"{'both':>11}: {total:8.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
