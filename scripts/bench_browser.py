"""Slider-to-figure latency of every notebook's panels in a real browser.

For each slider of each figure panel: type a new value into the slider's
readout, press Enter, and time (in the page) until the panel shows the new
figure; repeated ``--changes`` times (at least 10). Prints one row per slider:
notebook, panel index, slider label, n, median and 95th percentile in ms.

Uses the harness of the browser tests (tests/browser/harness.py): a throw-away
JupyterLab server on 127.0.0.1 and Debian's Chromium (/usr/bin/chromium).

    .venv/bin/python scripts/bench_browser.py              # all notebooks
    .venv/bin/python scripts/bench_browser.py --changes 20 notebooks/02_*.ipynb
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_harness():
    """Import tests/browser/harness.py by path (tests/ is not a package)."""
    path = REPO / "tests" / "browser" / "harness.py"
    spec = importlib.util.spec_from_file_location("bnutils_browser_harness", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="notebooks to measure (default: notebooks/*.ipynb)",
    )
    p.add_argument("--changes", type=int, default=10, help="changes per slider (>= 10)")
    p.add_argument("--ui", choices=["lab", "notebook"], default="lab")
    p.add_argument(
        "--no-fixture",
        action="store_true",
        help="skip the harness's fixture notebook (measured by default)",
    )
    args = p.parse_args(argv)
    if args.changes < 10:
        p.error("--changes must be at least 10")
    for nb in args.notebooks:
        if nb.resolve().parent != (REPO / "notebooks").resolve():
            p.error(f"{nb}: only notebooks in notebooks/ can be measured")
        if not nb.is_file():
            p.error(f"{nb}: no such notebook")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    H = load_harness()
    if H.chromium_path() is None:
        print(
            f"no browser: {H.chromium_wanted()} is missing (apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    from playwright.sync_api import sync_playwright

    paths = [f"notebooks/{p.name}" for p in (args.notebooks or H.notebook_paths())]
    if not args.no_fixture:
        paths.insert(0, H.FIXTURE_NOTEBOOK)

    rows = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="bnutils-bench-") as tmp:
        root = H.prepare_root(Path(tmp) / "root")
        log = H.ARTIFACT_DIR / "bench-jupyter-server.log"
        with H.JupyterServer(root, log_path=log) as server, sync_playwright() as pw:
            browser = H.launch_browser(pw)
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in paths:
                nb = H.NotebookPage(ctx, server, path, ui=args.ui)
                t0 = time.perf_counter()
                try:
                    with nb.artifacts_on_failure(f"bench_{path}"):
                        H.open_and_run(nb)
                        problems = nb.problems()
                        if problems:
                            raise AssertionError("; ".join(problems))
                        results = H.measure_latency(nb, changes=args.changes)
                except AssertionError as exc:
                    failures.append(f"{path}: {exc}")
                    print(f"{path}: FAILED ({exc})", file=sys.stderr)
                    continue
                finally:
                    nb.close()
                    server.shutdown_kernels()
                print(
                    f"{path}: {len(results)} sliders measured in"
                    f" {time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                )
                for slider, secs in results:
                    ms = 1000.0 * np.asarray(secs)
                    rows.append(
                        (
                            path,
                            slider.panel,
                            slider.label,
                            len(ms),
                            float(np.median(ms)),
                            float(np.percentile(ms, 95)),
                        )
                    )
            browser.close()

    print_table(rows, args.ui)
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


def print_table(rows, ui: str) -> None:
    header = ("notebook", "panel", "slider", "n", "median ms", "p95 ms")
    cells = [header] + [
        (nb, str(panel), label, str(n), f"{med:.0f}", f"{p95:.0f}")
        for nb, panel, label, n, med, p95 in rows
    ]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]
    right = {1, 3, 4, 5}
    print(f"\nSlider change -> new figure, in Chromium ({ui} UI):")
    for k, r in enumerate(cells):
        print(
            "  ".join(
                _pad(c, w, right=i in right)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))
    if not rows:
        print("(no slider panels found)")


def _width(text: str) -> int:
    """Columns the text takes (combining accents such as in Z̃ take none)."""
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


if __name__ == "__main__":
    sys.exit(main())
