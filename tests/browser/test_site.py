"""The reading copy (``make site``) in Chromium, opened from disk with every
non-``file:`` request blocked.

From ``index.html``: the series map of notebook 00 links every page; each link
is followed, and on each page the maths is rendered by the local MathJax (no
raw ``$...$`` left, no TeX error), every image has loaded, the console shows no
error, nothing was requested from the network, and moving each static slider
(range input, select, checkbox) swaps its image and its readouts for the
precomputed ones. A training panel shows its default run and says training
needs a live kernel.

By default the test builds a reduced site (notebook 00 and the fixture of
``site_fixture``, which holds every kind of panel and control) in a temporary
folder; ``BNUTILS_SITE=build/site`` (``make test-site``) checks the full site of
``make site`` instead, every notebook included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import harness
import pytest
import site_fixture

pytestmark = pytest.mark.browser

REPO = harness.REPO
FULL_SITE = os.environ.get("BNUTILS_SITE")


def _page_names() -> list[str]:
    if FULL_SITE:
        return [p.stem for p in harness.notebook_paths()]
    return ["00_start_here", Path(site_fixture.NAME).stem]


@pytest.fixture(scope="session")
def site_dir(chromium, tmp_path_factory) -> Path:
    """The site to check: BNUTILS_SITE, or a reduced one built here."""
    if FULL_SITE:
        path = Path(FULL_SITE).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"BNUTILS_SITE={FULL_SITE}: no index.html there; run make site")
        return path
    tmp = tmp_path_factory.mktemp("site")
    fixture = site_fixture.write(tmp)
    out = tmp / "site"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_site.py"),
            "--notebooks",
            "00",
            "--extra",
            str(fixture),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, f"build_site.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture
def offline_page(browser):
    """A page in a fresh context where any request that is not ``file:`` is
    aborted and recorded; console errors, page errors and failed requests are
    recorded too (``page.bn_problems``)."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(30_000)
    problems: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            problems.append(f"network request blocked: {r.request.url}")
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.on(
        "console",
        lambda m: m.type == "error" and problems.append(f"console error: {m.text}"),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "requestfailed",
        lambda r: problems.append(f"request failed: {r.url} ({r.failure})"),
    )
    page.bn_problems = problems
    yield page
    ctx.close()


# Maths typeset, images loaded, raw TeX left in the text (outside code).
_PAGE_REPORT = """async () => {
  const out = {mathjax: !!(window.MathJax && MathJax.startup), raw: [], texErrors: 0,
               math: 0, images: 0, broken: []};
  if (out.mathjax) { await MathJax.startup.promise; }
  out.math = document.querySelectorAll("mjx-container").length;
  out.texErrors = document.querySelectorAll("mjx-merror, [data-mjx-error]").length;
  const skip = new Set(["SCRIPT", "STYLE", "PRE", "CODE", "TEXTAREA", "MJX-CONTAINER"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  let text = "";
  while (walker.nextNode()) text += walker.currentNode.nodeValue + " ";
  const raw = text.match(/\\$\\$[^$]+\\$\\$|\\$[^$\\s][^$]*\\$|\\\\\\(|\\\\\\[/g) || [];
  out.raw = raw.slice(0, 5);
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.onload = r; i.onerror = r;
  })));
  out.images = imgs.length;
  out.broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                   .map(i => (i.alt || i.src).slice(0, 80));
  return out;
}"""

_TWINS = """() => Array.from(document.querySelectorAll(".bn-twin")).map((t, i) => {
  t.setAttribute("data-bn-test", i);
  const d = JSON.parse(t.querySelector("script.bn-twin-data").textContent);
  const title = t.querySelector(".bn-twin-title");
  return {index: i, mode: t.dataset.bnTwin, positions: +t.dataset.bnPositions,
          title: title ? title.textContent.trim() : "",
          note: t.querySelector(".bn-twin-note").textContent,
          kinds: d.axes.map(a => a.kind), data: d,
          inputs: Array.from(t.querySelectorAll("[data-bn-axis]"))
                       .map(el => +el.dataset.bnAxis)};
})"""

_TWIN_STATE = """(i) => {
  const t = document.querySelector(`[data-bn-test="${i}"]`);
  const ins = Array.from(t.querySelectorAll("[data-bn-axis]"));
  return {src: t.querySelector("img.bn-twin-image").src,
          readout: t.querySelector(".bn-twin-readout").innerHTML,
          values: ins.map(el => el.parentNode.querySelector("output").textContent),
          key: ins.map(el => el.type === "checkbox" ? +el.checked : +el.value)};
}"""


# The browser's serialization of an HTML string (what innerHTML gives back).
_AS_PARSED = """(h) => {
  const t = document.createElement("div"); t.innerHTML = h; return t.innerHTML;
}"""


def _report(page) -> dict:
    return page.evaluate(_PAGE_REPORT)


def _page_problems(page, rep: dict) -> list[str]:
    problems = list(page.bn_problems)
    if not rep["mathjax"]:
        problems.append("MathJax did not load (assets/mathjax/tex-svg-full.js)")
    if rep["raw"]:
        problems.append(f"maths left as raw TeX: {rep['raw']}")
    if rep["texErrors"]:
        problems.append(f"{rep['texErrors']} TeX errors shown by MathJax")
    if rep["broken"]:
        problems.append(f"images not loaded: {rep['broken']}")
    return problems


def _move(page, twin: dict, axis: int) -> int:
    """Move input ``axis`` of a twin to another grid index; returns it."""
    spec = twin["data"]["axes"][axis]
    n, default = len(spec["labels"]), spec["default"]
    target = n - 1 if default != n - 1 else 0
    el = page.locator(f'[data-bn-test="{twin["index"]}"] [data-bn-axis="{axis}"]')
    if spec["kind"] == "range":
        el.fill(str(target))
    elif spec["kind"] == "select":
        el.select_option(str(target))
    elif spec["kind"] == "checkbox":
        el.click()
    else:  # pragma: no cover - fixed axes have no input
        raise AssertionError(f"axis {axis} of kind {spec['kind']} has an input")
    return target


def _check_twin(page, twin: dict) -> list[str]:
    """Every input of a twin swaps its image and readouts for the precomputed
    ones; a training twin has no input and says why."""
    name = f"twin {twin['index']} ({twin['title'] or 'untitled'}, {twin['mode']})"
    problems = []
    if f"{twin['positions']} precomputed position" not in twin["note"] and (
        twin["mode"] != "train"
    ):
        problems.append(f"{name}: the note does not give the number of positions")
    if twin["mode"] == "train":
        if twin["inputs"]:
            problems.append(f"{name}: a training twin with inputs")
        if "Training needs a live kernel" not in twin["note"]:
            problems.append(f"{name}: does not say that training needs a kernel")
        return problems
    if not twin["inputs"]:
        problems.append(f"{name}: no input to move")
    data = twin["data"]
    for axis in twin["inputs"]:
        before = page.evaluate(_TWIN_STATE, twin["index"])
        target = _move(page, twin, axis)
        after = page.evaluate(_TWIN_STATE, twin["index"])
        label = data["axes"][axis]["labels"][target]
        where = f"{name}, input {axis} -> {label!r}"
        pos = data["pos"].get(",".join(map(str, after["key"])))
        if pos is None:
            problems.append(f"{where}: position {after['key']} not precomputed")
            continue
        if after["src"] == before["src"]:
            problems.append(f"{where}: the image did not change")
        if after["src"] != "data:image/png;base64," + data["img"][pos[0]]:
            problems.append(f"{where}: not the precomputed image")
        if after["readout"] != page.evaluate(_AS_PARSED, data["txt"][pos[1]]):
            problems.append(f"{where}: not the precomputed readout")
        if after["values"] == before["values"]:
            problems.append(f"{where}: the value readout did not change")
        moved = twin["inputs"].index(axis)
        if after["values"][moved] != label:
            problems.append(f"{where}: value readout shows {after['values'][moved]!r}")
    return problems


# --------------------------------------------------------------------------


def test_index_maps_the_series_and_links_every_page(site_dir, offline_page):
    page = offline_page
    page.goto((site_dir / "index.html").as_uri())
    rep = _report(page)
    problems = _page_problems(page, rep)
    assert rep["math"] > 0, "the series map's maths was not typeset"
    assert page.locator("h2", has_text="The map of the series").count() == 1
    links = page.eval_on_selector_all("a[href$='.html']", "a => a.map(x => x.href)")
    for name in _page_names():
        assert any(h.endswith(f"/{name}.html") for h in links), f"no link to {name}"
    map_links = page.eval_on_selector_all(
        "table:first-of-type a", "a => a.map(x => x.getAttribute('href'))"
    )
    assert "00_start_here.html" in map_links, "the map links notebook 00"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", _page_names())
def test_page_renders_offline_and_its_static_sliders_move(site_dir, offline_page, name):
    page = offline_page
    page.goto((site_dir / "index.html").as_uri())
    with page.expect_navigation():
        page.locator(f'a[href="{name}.html"]').first.click()
    assert page.url.endswith(f"/{name}.html")
    rep = _report(page)
    problems = _page_problems(page, rep)
    assert rep["images"] > 0, "a page without a single figure"
    twins = page.evaluate(_TWINS)
    for twin in twins:
        problems += _check_twin(page, twin)
    problems += [p for p in page.bn_problems if p not in problems]
    if name == Path(site_fixture.NAME).stem:
        got = {t["title"]: tuple(t["kinds"]) for t in twins}
        assert got == site_fixture.EXPECTED_TWINS, got
        modes = sorted(t["mode"] for t in twins)
        assert modes == ["product", "star", "star", "train"], modes
        assert page.locator('a[href="00_start_here.html"]').count() >= 1, (
            "a link to a notebook .ipynb points at its page"
        )
    if name.startswith("00"):
        assert twins, "notebook 00's widget check has a static twin"
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_no_twin_data_reaches_outside_the_page(site_dir):
    """Static check of the files: nothing refers to http(s) resources."""
    import re

    bad = []
    for html_file in sorted(site_dir.glob("*.html")):
        text = html_file.read_text(encoding="utf-8")
        for m in re.finditer(r'(?:src|href)="(https?://[^"]+)"', text):
            if "href" in m.group(0):
                continue  # a link the reader may follow, not a resource
            bad.append(f"{html_file.name}: {m.group(1)}")
        for m in re.finditer(r'<link[^>]+href="(https?://[^"]+)"', text):
            bad.append(f"{html_file.name}: stylesheet {m.group(1)}")
    assert not bad, "resources fetched from the network:\n" + "\n".join(bad)
