"""Record PyTorch's Batch Norm on seeded inputs, for tests/test_layers.py.

The test suite does not need PyTorch: this script runs ``torch.nn.BatchNorm1d``
once, in float64, and stores what it computed in
``tests/data/torch_batchnorm_reference.npz``. The tests then check that
``bnutils.layers.BatchNorm`` gives the same numbers (to about 1e-12).

PyTorch is *not* a dependency of the project. Run this script from a throwaway
virtual environment, for example::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install numpy torch
    /tmp/torchenv/bin/python scripts/record_torch_reference.py

What is recorded, for every case (key prefix ``<case>__``):

* ``Z``, ``dZ_tilde`` : shape (k, n_l, m), the input of each of k training
  steps (each mini-batch with its own per-unit means and spreads) and a seeded
  upstream gradient dL/dZ_tilde.
* ``gamma``, ``beta`` : shape (k, n_l, 1), the parameters used at each step
  (non-trivial at the start, then moved by a plain gradient step).
* ``Z_tilde``, ``dZ`` : shape (k, n_l, m), PyTorch's output and dL/dZ.
* ``dgamma``, ``dbeta``, ``running_mean``, ``running_var`` : shape (k, n_l, 1),
  the parameter gradients and the running statistics *after* each step.
* ``Z_eval``, ``Z_tilde_eval`` : shape (n_l, m_eval), fresh data and the
  eval-mode output after the k steps (with the last gamma and beta).
* ``ema_beta``, ``eps`` : scalars; PyTorch's ``momentum`` is ``1 - ema_beta``.

PyTorch's layout is (examples, units); everything is transposed to the course's
(units, examples) = (n_l, m) before saving. Metadata: ``torch_version``,
``numpy_version``, ``cases`` (string arrays). The file loads with
``np.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["CASES", "main", "record_case"]

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "data"
    / "torch_batchnorm_reference.npz"
)

# name -> (seed, n_l, m, k steps, ema_beta, m_eval)
CASES = {
    "beta09": (0, 4, 8, 5, 0.9, 6),
    "beta099": (1, 3, 32, 4, 0.99, 5),
    "m2": (2, 3, 2, 6, 0.9, 1),
}
EPS = 1e-5
LR = 0.1  # gradient step on gamma and beta between training steps


def record_case(torch, seed: int, n: int, m: int, k: int, ema_beta: float, m_eval: int):
    """Run ``torch.nn.BatchNorm1d`` for ``k`` training steps and one eval pass.

    Returns a dict of float64 arrays in the (n_l, m) layout (see the module
    docstring for every key and shape).
    """
    rng = np.random.default_rng(seed)
    bn = torch.nn.BatchNorm1d(n, eps=EPS, momentum=1.0 - ema_beta, dtype=torch.float64)
    gamma0 = rng.uniform(0.5, 2.0, size=n) * rng.choice([-1.0, 1.0], size=n)
    beta0 = rng.uniform(-1.5, 1.5, size=n)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma0))
        bn.bias.copy_(torch.from_numpy(beta0))

    out = {
        key: []
        for key in (
            "Z",
            "dZ_tilde",
            "gamma",
            "beta",
            "Z_tilde",
            "dZ",
            "dgamma",
            "dbeta",
            "running_mean",
            "running_var",
        )
    }
    bn.train()
    for _ in range(k):
        # Each mini-batch has its own per-unit mean and spread.
        loc = rng.uniform(-3.0, 3.0, size=(n, 1))
        scale = rng.uniform(0.3, 4.0, size=(n, 1))
        Z = loc + scale * rng.standard_normal((n, m))
        dZ_tilde = rng.standard_normal((n, m))

        out["Z"].append(Z)
        out["dZ_tilde"].append(dZ_tilde)
        out["gamma"].append(bn.weight.detach().numpy().copy().reshape(n, 1))
        out["beta"].append(bn.bias.detach().numpy().copy().reshape(n, 1))

        x = torch.from_numpy(Z.T.copy()).requires_grad_(True)  # (m, n)
        bn.zero_grad()
        y = bn(x)
        # L = sum(Z_tilde * dZ_tilde), so dL/dZ_tilde is the seeded upstream gradient.
        (y * torch.from_numpy(dZ_tilde.T.copy())).sum().backward()

        out["Z_tilde"].append(y.detach().numpy().T.copy())
        out["dZ"].append(x.grad.numpy().T.copy())
        out["dgamma"].append(bn.weight.grad.numpy().copy().reshape(n, 1))
        out["dbeta"].append(bn.bias.grad.numpy().copy().reshape(n, 1))
        out["running_mean"].append(bn.running_mean.numpy().copy().reshape(n, 1))
        out["running_var"].append(bn.running_var.numpy().copy().reshape(n, 1))

        with torch.no_grad():
            bn.weight -= LR * bn.weight.grad
            bn.bias -= LR * bn.bias.grad

    result = {key: np.stack(value) for key, value in out.items()}

    bn.eval()
    Z_eval = rng.uniform(-3.0, 3.0, size=(n, 1)) + 2.0 * rng.standard_normal(
        (n, m_eval)
    )
    with torch.no_grad():
        y_eval = bn(torch.from_numpy(Z_eval.T.copy()))
    result["Z_eval"] = Z_eval
    result["Z_tilde_eval"] = y_eval.numpy().T.copy()
    # The parameters the eval pass used (after the last gradient step).
    result["gamma_eval"] = bn.weight.detach().numpy().copy().reshape(n, 1)
    result["beta_eval"] = bn.bias.detach().numpy().copy().reshape(n, 1)
    result["ema_beta"] = np.array(ema_beta)
    result["eps"] = np.array(EPS)
    for key, value in result.items():
        assert value.dtype == np.float64, (key, value.dtype)
    return result


def main(argv=None) -> None:
    """Record every case of :data:`CASES` into one ``.npz`` file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "This script needs PyTorch, which is not a project dependency. Install it "
            "in a throwaway venv (see the module docstring) and run it from there."
        ) from err

    torch.manual_seed(0)
    arrays = {
        "torch_version": np.array(torch.__version__),
        "numpy_version": np.array(np.__version__),
        "cases": np.array(list(CASES)),
    }
    for name, (seed, n, m, k, ema_beta, m_eval) in CASES.items():
        for key, value in record_case(torch, seed, n, m, k, ema_beta, m_eval).items():
            arrays[f"{name}__{key}"] = value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({len(arrays)} arrays, torch {torch.__version__})")


if __name__ == "__main__":
    main()
