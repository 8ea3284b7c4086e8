"""Fixtures for the real-browser tests: one Jupyter server and one Chromium for
the session, a new page per notebook.

Without /usr/bin/chromium the tests are skipped, unless BNUTILS_REQUIRE_BROWSER=1
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# harness.py sits next to this file; make it importable whatever pytest's
# import mode (prepend mode already does this).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import harness


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives a real browser (Chromium) against JupyterLab"
    )


def _unavailable(reason: str):
    if os.environ.get("BNUTILS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (BNUTILS_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium executable (skip or fail when missing)."""
    path = harness.chromium_path()
    if path is None:
        _unavailable(
            f"no browser: {harness.chromium_wanted()} is missing"
            " (apt-get install chromium)"
        )
    return path


@pytest.fixture(scope="session")
def jupyter_server(chromium, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of notebooks/
    plus the harness's fixture notebooks; stopped (whole process group) at the
    end of the session, at exit, or on SIGTERM. Started before the browser, so
    no driver threads exist when it forks."""
    root = harness.prepare_root(tmp_path_factory.mktemp("jupyter-root"))
    log = harness.ARTIFACT_DIR / "jupyter-server.log"
    server = harness.JupyterServer(root, log_path=log)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    pw = sync_playwright().start()
    try:
        b = harness.launch_browser(pw)
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="session")
def browser_context(browser):
    """One browser context for the session, so JupyterLab's static files come
    from the HTTP cache after the first page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def open_notebook(jupyter_server, browser_context):
    """``open_notebook(path, ui)`` -> a :class:`harness.NotebookPage` (not yet
    opened) that gets a new page; after the test its kernel is shut down and
    its page closed."""
    pages = []

    def make(path: str, ui: str = "lab") -> harness.NotebookPage:
        nb = harness.NotebookPage(browser_context, jupyter_server, path, ui=ui)
        pages.append(nb)
        return nb

    yield make
    for nb in pages:
        nb.close()
