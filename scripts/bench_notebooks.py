"""Each notebook from a fresh kernel: time, CPU and memory (`make bench-notebooks`).

For every notebook (or those named): start a fresh ``python3`` kernel, run all
cells top to bottom, and print

* **wall** the seconds the kernel spent on the cells (its own timestamps, from
  each cell's ``execute_input`` to its ``execute_reply``: what a learner waits for
  after "Run all"), and the slowest cell;
* **cpu** the kernel process's user + system CPU seconds (start-up included);
* **peak RSS** the kernel process's peak resident memory;

then the totals, each against the series' targets (notebook-standard.md and the
speed issue): at most 10 s per notebook, 45 s for the series, 200 MB per kernel,
and no cell over 3 s unless it shows a progress bar.

By default the kernel starts **without** any BLAS thread variable
(``OPENBLAS_NUM_THREADS`` and friends are removed from its environment, although
the Makefile exports them): a learner's kernel started by plain ``jupyter lab``,
VS Code or Colab has none. ``--threads-env`` keeps them, to compare.

A benchmark, not a test: it prints numbers and asserts nothing; its exit status
is 0 unless a notebook fails to run.

    .venv/bin/python scripts/bench_notebooks.py
    .venv/bin/python scripts/bench_notebooks.py notebooks/05_*.ipynb --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
TARGET_NOTEBOOK_S = 10.0
TARGET_SERIES_S = 45.0
TARGET_RSS_MB = 200.0
TARGET_CELL_S = 3.0

_PROBE = """\
import json as _j, resource as _r
_u = _r.getrusage(_r.RUSAGE_SELF)
_d = {"cpu": _u.ru_utime + _u.ru_stime, "rss_kb": _u.ru_maxrss}
print("__BENCH__" + _j.dumps(_d))
"""


def _cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", ""))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", ""))
    except (KeyError, ValueError):
        return float("nan")
    return max((end - start).total_seconds(), 0.0)


def _shows_progress(cell) -> bool:
    return any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for out in cell.get("outputs", [])
    )


def run_once(path: Path) -> dict:
    """Run one notebook from a fresh kernel; return its measurements."""
    from bnutils._nbclient import notebook_client

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    client = notebook_client(
        nb,
        timeout=600,
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    # The kernel's start-up chatter on stderr is not the notebook's output.
    client.execute(stderr=subprocess.DEVNULL)
    wall_total = time.perf_counter() - t0
    cells = [(i, c) for i, c in enumerate(nb.cells[:-1]) if c.cell_type == "code"]
    times = [(_cell_seconds(c), i, _shows_progress(c)) for i, c in cells]
    probe = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    stats = json.loads(probe.split("__BENCH__", 1)[1])
    slowest = max(times)
    slow_cells = [
        f"cell {i} {t:.1f} s" for t, i, bar in times if t > TARGET_CELL_S and not bar
    ]
    return {
        "wall": sum(t for t, _, _ in times),
        "with_startup": wall_total,
        "cpu": stats["cpu"],
        "rss_mb": stats["rss_kb"] / 1024,
        "slowest": slowest,
        "slow_cells": slow_cells,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--repeat", type=int, default=1, help="runs per notebook (median)")
    p.add_argument(
        "--threads-env",
        action="store_true",
        help="keep OPENBLAS_NUM_THREADS etc. in the kernel's environment",
    )
    args = p.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not args.threads_env:
        for var in THREAD_VARS:
            os.environ.pop(var, None)
    env = {v: os.environ[v] for v in THREAD_VARS if v in os.environ}
    print(
        f"kernel thread variables: {env or 'none set'}; {os.cpu_count()} CPUs; "
        f"median of {args.repeat} run(s) per notebook"
    )
    head = (
        f"{'notebook':<34} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} "
        f"{'slowest cell':>16}  verdict"
    )
    print(head)
    print("-" * len(head))
    total_wall = total_cpu = 0.0
    worst_rss = 0.0
    misses = []
    for path in paths:
        runs = [run_once(path) for _ in range(max(args.repeat, 1))]
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        t, i, _ = runs[0]["slowest"]
        total_wall += wall
        total_cpu += cpu
        worst_rss = max(worst_rss, rss)
        verdict = []
        if wall > TARGET_NOTEBOOK_S:
            verdict.append(f"over {TARGET_NOTEBOOK_S:.0f} s")
        if rss > TARGET_RSS_MB:
            verdict.append(f"over {TARGET_RSS_MB:.0f} MB")
        if runs[0]["slow_cells"]:
            verdict.append(
                "slow without progress bar: " + ", ".join(runs[0]["slow_cells"])
            )
        misses += [f"{path.stem}: {v}" for v in verdict]
        print(
            f"{path.stem:<34} {wall:>7.1f} {cpu:>7.1f} {rss:>8.0f} "
            f"{f'{t:.1f} s (cell {i})':>16}  {'; '.join(verdict) or 'ok'}"
        )
    print("-" * len(head))
    series_ok = total_wall <= TARGET_SERIES_S
    print(
        f"{'series':<34} {total_wall:>7.1f} {total_cpu:>7.1f} {worst_rss:>8.0f}"
        f"{'':>18}{'ok' if series_ok else f'over {TARGET_SERIES_S:.0f} s'}"
    )
    print(
        f"targets: each notebook <= {TARGET_NOTEBOOK_S:.0f} s, series <= "
        f"{TARGET_SERIES_S:.0f} s, peak RSS <= {TARGET_RSS_MB:.0f} MB, no cell over "
        f"{TARGET_CELL_S:.0f} s without a progress bar"
    )
    print(
        "all targets met"
        if not misses and total_wall <= TARGET_SERIES_S
        else f"{len(misses) + (total_wall > TARGET_SERIES_S)} target(s) missed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
