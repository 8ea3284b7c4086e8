"""Build the reading copy of the series: ``make site`` -> build/site/.

Every notebook is executed from a fresh kernel (two at a time) with
``BNUTILS_STATIC_TWINS=1``, so each slider panel also carries its static twin
(``bnutils.widgets.Panel.static_twin``): the figure pre-rendered over a grid of
control values, with plain HTML inputs that swap the image and the readout.
Then each notebook becomes one HTML page (nbconvert, ``scripts/site_template``)
and the index page shows the series map of notebook 00 with links.

The site works opened straight from disk (``file://``) with no network: the
pages fetch nothing from a CDN. MathJax comes from the ``site`` extra of
pyproject.toml (the PyPI package django-static-mathjax, MathJax 3's own build;
only its single-file ``tex-svg-full.js`` is copied, which draws maths as SVG and
needs no web fonts, which Chromium won't load from ``file://`` pages).

The build fails, saying why, when a cell raises, when a panel's update raises
at a precomputed position, or when a page or the site exceeds its size budget.

Usage::

    python scripts/build_site.py                       # everything -> build/site
    python scripts/build_site.py --notebooks 00 03 --extra my.ipynb --out /tmp/s
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TEMPLATES = Path(__file__).resolve().parent / "site_template"
ASSETS = "assets"

#: Size budget (issue 12): each notebook page and the whole site, in MB.
MAX_PAGE_MB = 8.0
MAX_SITE_MB = 40.0

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TWINS_ENV = "BNUTILS_STATIC_TWINS"  # bnutils.widgets.STATIC_TWINS_ENV

MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  svg: {fontCache: "global"},
  options: {ignoreHtmlClass: "tex2jax_ignore", processHtmlClass: "tex2jax_process"}
};"""

# The rules nbconvert's lab template writes inline next to its stylesheet (the
# pages link the stylesheet instead of inlining it, so these come along).
LAB_EXTRA_CSS = """
* { -webkit-print-color-adjust: exact; }
a.anchor-link { display: none; }
.jp-InputArea, .jp-InputArea-editor { overflow: hidden; }
.cm-editor.cm-s-jupyter .highlight pre {
  padding: var(--jp-code-padding) 4px; margin: 0; font-family: inherit;
  font-size: inherit; line-height: inherit; color: inherit;
}
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre {
  color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size);
}
.jp-Collapser { display: none; }
@page { margin: 0.5in; }
@media print { .jp-Cell-inputWrapper, .jp-Cell-outputWrapper { display: block; } }
"""

SITE_CSS = """
body { max-width: 1100px; margin: 0 auto; padding: 0 16px 40px; }
.bn-nav { display: flex; gap: 18px; padding: 10px 0; font-family: sans-serif; }
.bn-nav a { text-decoration: none; }
.bn-banner { background: #f2f7fb; border-left: 4px solid #0072B2; padding: 8px 12px;
  font-family: sans-serif; font-size: 90%; }
.bn-index table { border-collapse: collapse; margin: 12px 0; }
.bn-index th, .bn-index td { border: 1px solid #ccc; padding: 6px 10px;
  vertical-align: top; text-align: left; }
.bn-index { font-family: sans-serif; line-height: 1.45; }
"""


class SiteError(RuntimeError):
    """The build cannot produce a correct site; the message says why."""


@dataclass
class Page:
    """One executed notebook on its way to a page."""

    source: Path
    nb: dict | None = None
    seconds: float = float("nan")
    title: str = ""
    twins: int = 0
    positions: int = 0
    dropped_widgets: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.stem + ".html"


# --------------------------------------------------------------------------
# Executing
# --------------------------------------------------------------------------


def _execute(path: str, timeout: int) -> tuple[dict, float]:
    """Run one notebook top to bottom in a fresh kernel (in a worker process)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        # the kernel's own start-up warnings (e.g. about its loopback TCP
        # transport) are not the notebook's: cells' stderr is still recorded
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        # widget state is recorded (nbclient's Output-widget capture needs it)
        # and dropped again by staticize(): the pages load no widget manager
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        raise SiteError(f"{Path(path).name}: a cell raised:\n{exc}") from None
    return nb, time.perf_counter() - t0


def execute_all(pages: list[Page], jobs: int, timeout: int) -> None:
    """Execute every page's notebook, ``jobs`` at a time, with twins on."""
    os.environ[TWINS_ENV] = "1"  # inherited by the kernels
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_execute, str(p.source), timeout) for p in pages]
        for page, fut in zip(pages, futures, strict=True):
            page.nb, page.seconds = fut.result()
            print(
                f"  executed {page.source.name:<36} {page.seconds:6.1f} s", flush=True
            )


# --------------------------------------------------------------------------
# Outputs for a static page
# --------------------------------------------------------------------------

_TWIN = re.compile(r'data-bn-twin="(\w+)" data-bn-positions="(\d+)"')


def staticize(page: Page) -> None:
    """Keep each panel's static twin instead of its widget view; drop widget
    outputs that have no static form (progress bars); collect stderr; fail on
    a twin position whose update raised."""
    for index, cell in enumerate(page.nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                page.stderr.append(f"cell {index}: {out.get('text', '')[:300]}")
            if WIDGET_VIEW in data:
                if "text/html" not in data:
                    plain = "".join(data.get("text/plain", "widget"))
                    page.dropped_widgets.append(plain.split("(", 1)[0].strip())
                    continue
                del data[WIDGET_VIEW]
                data.pop("text/plain", None)
                twin_html = data["text/html"]
                if isinstance(twin_html, list):
                    twin_html = "".join(twin_html)
                if "bn-panel-error" in twin_html:
                    raise SiteError(
                        f"{page.source.name}, cell {index}: a panel's update raised "
                        "at a precomputed position of its static twin (the error "
                        "is in the twin's readout); every position a control can "
                        "reach must work"
                    )
                for _mode, n in _TWIN.findall(twin_html):
                    page.twins += 1
                    page.positions += int(n)
            kept.append(out)
        cell["outputs"] = kept
    page.nb.get("metadata", {}).pop("widgets", None)
    for cell in page.nb["cells"]:
        if cell["cell_type"] == "markdown" and cell["source"].lstrip().startswith("# "):
            page.title = cell["source"].lstrip()[2:].splitlines()[0].strip()
            break
    page.title = page.title or page.source.stem


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def _nav(pages: list[Page], i: int | None) -> str:
    links = ['<a href="index.html">Index of the series</a>']
    if i is not None and i > 0:
        links.append(
            f'<a href="{pages[i - 1].name}">← {html.escape(pages[i - 1].title)}</a>'
        )
    if i is not None and i + 1 < len(pages):
        links.append(
            f'<a href="{pages[i + 1].name}">{html.escape(pages[i + 1].title)} →</a>'
        )
    return " ".join(links)


def _link_notebooks(text: str, pages: list[Page]) -> str:
    """Links to ``NN_name.ipynb`` of the site point at its pages."""
    names = {p.source.name: p.name for p in pages}

    def swap(m: re.Match) -> str:
        target = names.get(Path(m.group(2)).name)
        return f"{m.group(1)}{target}{m.group(3) or ''}" if target else m.group(0)

    return re.sub(r'(href=")([^"#]*?\.ipynb)(#[^"]*)?(?=")', swap, text)


def render_pages(pages: list[Page], out: Path, stamp: str) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="bnsite", extra_template_basedirs=[str(TEMPLATES)]
    )
    banner = (
        "Reading copy, executed from a fresh kernel by <code>make site</code> on "
        f"{stamp}. "
        "The slider panels here are static copies with precomputed positions; "
        "run the notebook (make lab, Binder or Colab) for the live panels, "
        "training included."
    )
    for i, page in enumerate(pages):
        nb = nbformat.from_dict(page.nb)
        resources = {
            "metadata": {"name": page.title},
            "bn": {
                "assets": ASSETS,
                "mathjax_config": MATHJAX_CONFIG,
                "nav": _nav(pages, i),
                "banner": banner,
            },
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        body = _link_notebooks(body, pages)
        (out / page.name).write_text(body, encoding="utf-8")


def _series_map(pages: list[Page]) -> str | None:
    """Notebook 00's map of the series (a markdown table with a 'notebook' and
    a 'time' column), each row linked to its page, as markdown."""
    start = next((p for p in pages if p.source.name.startswith("00")), None)
    if start is None:
        return None
    by_number = {p.source.name[:2]: p for p in pages}
    for cell in start.nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = cell["source"].splitlines()
        for k, line in enumerate(lines):
            head = line.lower()
            if line.startswith("|") and "notebook" in head and "time" in head:
                rows = []
                for row in lines[k:]:
                    if not row.startswith("|"):
                        break
                    rows.append(row)
                return _link_rows(rows, by_number)
    return None


def _link_rows(rows: list[str], by_number: dict[str, Page]) -> str:
    out = [rows[0], rows[1]]
    for row in rows[2:]:
        cells = row.split("|")
        first = cells[1]
        m = re.search(r"\b(\d\d)\b", first)
        if m and m.group(1) in by_number:
            cells[1] = f" [{first.strip()}]({by_number[m.group(1)].name}) "
        out.append("|".join(cells))
    return "\n".join(out)


def render_index(pages: list[Page], out: Path, stamp: str) -> None:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    table = _series_map(pages)
    if table is None:
        raise SiteError(
            "notebook 00 must be built and hold the series map: a markdown table "
            "whose header names a 'notebook' and a 'time' column"
        )
    mapped = set(re.findall(r"\]\(([^)]+\.html)\)", table))
    extra = [p for p in pages if p.name not in mapped]
    extra_html = ""
    if extra:
        items = "".join(
            f'<li><a href="{p.name}">{html.escape(p.title)}</a></li>' for p in extra
        )
        extra_html = f"<h2>Other pages</h2><ul>{items}</ul>"
    runs = "".join(
        f'<tr><td><a href="{p.name}">{html.escape(p.source.stem)}</a></td>'
        f"<td>{p.seconds:.1f} s</td><td>{p.twins}</td><td>{p.positions}</td></tr>"
        for p in pages
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Batch Normalization, interactively: reading copy</title>
<link rel="stylesheet" href="{ASSETS}/site.css">
<script>{MATHJAX_CONFIG}</script>
<script defer src="{ASSETS}/mathjax/tex-svg-full.js"></script>
</head>
<body class="bn-index">
<h1>Batch Normalization, interactively</h1>
<p class="bn-banner">A reading copy of the series, executed from a fresh kernel by
<code>make site</code> on {stamp}: every output, figure and number is the one the
notebook computes. Slider panels are static copies (their figure precomputed at a
grid of positions); training panels show their default run. For the live notebooks
see the repository's README (make lab, conda/Binder, Colab, VS Code).</p>
<h2>The map of the series</h2>
{markdown2html_mistune(table)}
<p>The times are notebook 00's estimates for reading, running and trying the sliders
and the exercise.</p>
{extra_html}
<h2>This copy</h2>
<table><tr><th>page</th><th>executed in</th><th>static panels</th>
<th>precomputed positions</th></tr>{runs}</table>
</body>
</html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")


# --------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------


def mathjax_dir() -> Path:
    """MathJax 3's es5 build from the installed ``site`` extra."""
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError:
        raise SiteError(
            "MathJax is not installed: install the site extra with "
            "pip install -e '.[site]' (make site does this)"
        ) from None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-svg-full.js").is_file():
        raise SiteError(
            f"no tex-svg-full.js under {es5}: reinstall django-static-mathjax"
        )
    return es5


def lab_css() -> str:
    """nbconvert's JupyterLab stylesheet (light theme), shared by the pages."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("nbconvert", "templates", "lab", "static"):
        index, light = Path(base) / "index.css", Path(base) / "theme-light.css"
        if index.is_file() and light.is_file():
            parts = [index, light]
            return "\n".join(
                [*(p.read_text(encoding="utf-8") for p in parts), LAB_EXTRA_CSS]
            )
    raise SiteError("nbconvert's lab template (static/index.css) was not found")


def write_assets(out: Path) -> None:
    assets = out / ASSETS
    (assets / "mathjax").mkdir(parents=True, exist_ok=True)
    es5 = mathjax_dir()
    shutil.copy2(es5 / "tex-svg-full.js", assets / "mathjax" / "tex-svg-full.js")
    license_file = es5.parent / "LICENSE"
    if license_file.is_file():
        shutil.copy2(license_file, assets / "mathjax" / "LICENSE")
    (assets / "lab.css").write_text(lab_css(), encoding="utf-8")
    (assets / "site.css").write_text(SITE_CSS, encoding="utf-8")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def select_notebooks(prefixes: list[str] | None, extra: list[str]) -> list[Path]:
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    if prefixes:
        chosen = [p for p in found if any(p.name.startswith(x) for x in prefixes)]
        missing = [x for x in prefixes if not any(p.name.startswith(x) for p in found)]
        if missing:
            raise SiteError(f"no notebook in notebooks/ starts with {missing}")
    else:
        chosen = found
    for e in extra:
        path = Path(e).resolve()
        if not path.is_file():
            raise SiteError(f"--extra {e}: no such notebook")
        chosen.append(path)
    if not chosen:
        raise SiteError("no notebooks to build")
    return chosen


def size_report(
    out: Path, pages: list[Page], max_page: float, max_site: float
) -> list[str]:
    mb = 1024 * 1024
    problems = []
    print(f"\n{'page':<40} {'MB':>6} {'twins':>6} {'positions':>9} {'run s':>6}")
    for p in pages:
        size = (out / p.name).stat().st_size / mb
        print(
            f"{p.name:<40} {size:6.2f} {p.twins:6d} {p.positions:9d} {p.seconds:6.1f}"
        )
        if size > max_page:
            problems.append(
                f"{p.name} is {size:.1f} MB, over the {max_page:g} MB page budget"
            )
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / mb
    assets = (
        sum(f.stat().st_size for f in (out / ASSETS).rglob("*") if f.is_file()) / mb
    )
    print(f"{'index.html':<40} {(out / 'index.html').stat().st_size / mb:6.2f}")
    print(f"{'assets/ (MathJax, CSS; shared)':<40} {assets:6.2f}")
    print(f"{'whole site':<40} {total:6.2f}")
    if total > max_site:
        problems.append(f"the site is {total:.1f} MB, over the {max_site:g} MB budget")
    return problems


def build(args) -> Path:
    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    sources = select_notebooks(args.notebooks, args.extra)
    pages = [Page(s) for s in sources]
    mathjax_dir()  # fail early, before minutes of execution
    print(f"Executing {len(pages)} notebooks ({args.jobs} at a time) with static twins")
    execute_all(pages, args.jobs, args.timeout)
    for page in pages:
        staticize(page)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    write_assets(out)
    render_pages(pages, out, stamp)
    render_index(pages, out, stamp)
    for page in pages:
        for line in page.stderr:
            print(
                f"warning: {page.source.name} wrote to stderr: {line}", file=sys.stderr
            )
        if page.dropped_widgets:
            kinds = ", ".join(sorted(set(page.dropped_widgets)))
            print(
                f"note: {page.source.name}: {len(page.dropped_widgets)} widget "
                f"output(s) without a static form left out ({kinds})"
            )
    problems = size_report(out, pages, args.max_page_mb, args.max_site_mb)
    print(f"\nBuilt {out / 'index.html'} in {time.perf_counter() - t0:.0f} s")
    if problems:
        raise SiteError("; ".join(problems))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    parser.add_argument(
        "--notebooks",
        nargs="*",
        metavar="PREFIX",
        help="only the notebooks whose names start with these (e.g. 00 03)",
    )
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        metavar="IPYNB",
        help="more notebooks to build (listed under 'Other pages')",
    )
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--max-page-mb", type=float, default=MAX_PAGE_MB)
    parser.add_argument("--max-site-mb", type=float, default=MAX_SITE_MB)
    args = parser.parse_args(argv)
    try:
        build(args)
    except SiteError as exc:
        print(f"make site failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
