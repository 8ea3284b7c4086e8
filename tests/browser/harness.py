"""Shared harness for the real-browser tests and ``scripts/bench_browser.py``.

A throw-away JupyterLab 4 server (which also serves the Notebook 7 UI) on a
loopback port, Debian's Chromium driven by Playwright, and the operations the
tests need on a notebook page: open it, wait for its kernel, run all cells, find
problems in the outputs, find the slider panels and move their sliders.

The page is driven through ``window.jupyterapp`` (exposed by the test server's
``expose_app_in_browser`` option) for what the DOM can't say reliably (kernel
state, execution counts, the outputs in the model), and through real clicks and
key presses for what a learner does (typing a value into a slider's readout).
"""

from __future__ import annotations

import atexit
import contextlib
import decimal
import http.cookiejar
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ARTIFACT_DIR",
    "BROKEN_NOTEBOOK",
    "CHROMIUM_ARGS",
    "FIXTURE_NOTEBOOK",
    "REPO",
    "JupyterServer",
    "NotebookPage",
    "NotebookReport",
    "SliderChange",
    "SliderInfo",
    "check_notebook",
    "chromium_path",
    "chromium_wanted",
    "expects_panels",
    "launch_browser",
    "measure_latency",
    "notebook_paths",
    "open_and_run",
    "prepare_root",
    "write_broken_notebook",
    "write_fixture_notebook",
]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACT_DIR = REPO / "build" / "browser"

#: Debian's Chromium; ``BNUTILS_CHROMIUM`` points elsewhere.
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# Course notebooks live in notebooks/ of the temporary root; the harness's own
# fixture notebooks in _selftest/ next to it.
SELFTEST_DIR = "_selftest"
FIXTURE_NOTEBOOK = f"{SELFTEST_DIR}/fixture_panels.ipynb"
BROKEN_NOTEBOOK = f"{SELFTEST_DIR}/fixture_broken.ipynb"


def chromium_wanted() -> str:
    """Where the Chromium executable should be (``BNUTILS_CHROMIUM`` or
    /usr/bin/chromium)."""
    return os.environ.get("BNUTILS_CHROMIUM", DEFAULT_CHROMIUM)


def chromium_path() -> str | None:
    """The Chromium executable to use, or None when it is not installed."""
    path = chromium_wanted()
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def notebook_paths() -> list[Path]:
    """The course notebooks, ``notebooks/*.ipynb`` of the repository, sorted."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def launch_browser(playwright, headless: bool = True):
    """Launch Debian's Chromium through Playwright (no downloaded browser)."""
    path = chromium_path()
    if path is None:
        raise FileNotFoundError(
            f"Chromium not found at {chromium_wanted()}; install it with "
            "`apt-get install chromium` or set BNUTILS_CHROMIUM"
        )
    args = list(CHROMIUM_ARGS)
    if not headless:
        args.remove("--headless")
    return playwright.chromium.launch(
        executable_path=path, args=args, headless=headless
    )


# --------------------------------------------------------------------------
# Notebooks for the server's root directory
# --------------------------------------------------------------------------


def prepare_root(root: Path) -> Path:
    """Fill ``root`` with a copy of the course notebooks and the fixtures.

    ``root/notebooks/*.ipynb`` mirrors the repository's notebooks (so the tests
    never write into the repository); ``root/_selftest/`` holds the harness's
    fixture notebooks. Returns ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    dest = root / "notebooks"
    dest.mkdir(exist_ok=True)
    for nb in notebook_paths():
        shutil.copy2(nb, dest / nb.name)
    write_fixture_notebook(root / FIXTURE_NOTEBOOK)
    write_broken_notebook(root / BROKEN_NOTEBOOK)
    return root


_KERNELSPEC = {
    "name": "python3",
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}


def _write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(_KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        make = (
            nbformat.v4.new_code_cell
            if kind == "code"
            else nbformat.v4.new_markdown_cell
        )
        nb.cells.append(make(src.strip("\n")))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def write_fixture_notebook(path: Path) -> Path:
    """A small notebook with the kinds of panel the series uses.

    Panel 0: a sine wave with a float slider (frequency) and an int slider
    (number of points); panel 1: a log slider (scale) and a SelectionSlider
    (shift) on one curve; panel 2: a :class:`bnutils.widgets.TrainPanel` with
    ToggleButtons, an int slider and a Train button. Together they exercise
    every slider helper of ``bnutils.widgets`` and every way the harness moves
    a slider.
    """
    return _write_notebook(
        path,
        [
            ("markdown", "# Harness self-test: slider panels"),
            (
                "code",
                """
%matplotlib inline
import ipywidgets as W
import numpy as np

from bnutils import plots, widgets
""",
            ),
            (
                "code",
                """
def sine_panel():
    fig, ax = plots.panel_figure(figsize=(5.0, 2.5))
    x = np.linspace(0.0, 1.0, 50)
    (ln,) = ax.plot(x, np.sin(x))
    ax.set(title="sine", xlabel="t (s)", ylabel="amplitude", ylim=(-1.1, 1.1))

    def update(freq, n):
        t = np.linspace(0.0, 1.0, n)
        ln.set_data(t, np.sin(2 * np.pi * freq * t))
        return f"frequency {freq:.2f} Hz, {n} points"

    controls = {
        "freq": widgets.float_slider("frequency (Hz)", 1.0, 0.5, 5.0, 0.05),
        "n": widgets.int_slider("points", 50, 10, 200, 5),
    }
    return widgets.Panel(controls, fig, update, title="Sine wave")


sine_panel()
""",
            ),
            (
                "code",
                """
def scale_panel():
    fig, ax = plots.panel_figure(figsize=(5.0, 2.5))
    x = np.linspace(-3.0, 3.0, 61)
    (ln,) = ax.plot(x, np.tanh(x))
    ax.set(title="tanh(s x) + c", xlabel="x", ylabel="tanh(s x) + c", ylim=(-2.1, 2.1))

    def update(scale, shift):
        ln.set_ydata(np.tanh(scale * x) + shift)

    controls = {
        "scale": widgets.log_slider("scale s (log)", 1.0, -2.0, 2.0),
        "shift": W.SelectionSlider(
            options=[-1.0, -0.5, 0.0, 0.5, 1.0], value=0.0, description="shift c"
        ),
    }
    return widgets.Panel(controls, fig, update)


scale_panel()
""",
            ),
            (
                "code",
                """
def fit_panel():
    fig, ax = plots.panel_figure(figsize=(5.0, 2.5))
    (ln,) = ax.plot([0.0], [1.0])
    ax.set(title="a fake training curve", xlabel="step", ylabel="loss", ylim=(0, 1.05))

    def update(shape, steps, progress):
        t = np.arange(steps + 1)
        loss = np.exp(-t / 20.0) if shape == "exp" else 1.0 / (1.0 + t / 10.0)
        for k in range(0, steps + 1, 10):
            progress(k, steps)
        ln.set_data(t, loss)
        ax.set_xlim(0, steps)

    controls = {
        "shape": W.ToggleButtons(options=["exp", "hyperbolic"], description="curve"),
        "steps": widgets.int_slider("steps", 100, 50, 300, 10),
    }
    return widgets.TrainPanel(controls, fig, update, title="Train on click")


fit_panel()
""",
            ),
            ("code", 'print("done")'),
        ],
    )


def write_broken_notebook(path: Path) -> Path:
    """A notebook with the faults the harness must catch.

    Panel 0 never redraws (its callback raises for every new value), panel 1
    stacks a new image under the old one on every change, and a cell writes to
    stderr.
    """
    return _write_notebook(
        path,
        [
            (
                "code",
                """
%matplotlib inline
import sys

import ipywidgets as W
import numpy as np
from IPython.display import display

from bnutils import plots, widgets
""",
            ),
            (
                "code",
                """
fig0, ax0 = plots.panel_figure(figsize=(3.0, 2.0))
(ln0,) = ax0.plot([0.0, 1.0], [0.0, 1.0])


def update0(a):
    if a != 1.0:
        raise ValueError("broken on purpose")
    ln0.set_ydata([0.0, a])


widgets.Panel({"a": widgets.float_slider("a", 1.0, 0.0, 2.0, 0.1)}, fig0, update0)
""",
            ),
            (
                "code",
                """
fig1, ax1 = plots.panel_figure(figsize=(3.0, 2.0))
(ln1,) = ax1.plot([0.0, 1.0], [0.0, 1.0])
out1 = W.Output()
slider1 = widgets.float_slider("b", 1.0, 0.0, 2.0, 0.1)


def stack(change):
    ln1.set_ydata([0.0, change["new"]])
    with out1:  # no clear_output: images pile up
        display(fig1)


slider1.observe(stack, names="value")
with out1:
    display(fig1)
W.VBox([slider1, out1])
""",
            ),
            ("code", 'print("something went wrong", file=sys.stderr)'),
        ],
    )


# --------------------------------------------------------------------------
# The Jupyter server
# --------------------------------------------------------------------------

_SERVER_CONFIG = """\
# Written by tests/browser/harness.py for a throw-away loopback test server.
c.ServerApp.open_browser = False
c.ServerApp.port_retries = 0
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = ""
c.PasswordIdentityProvider.password_required = False
c.LabApp.expose_app_in_browser = True
c.JupyterNotebookApp.expose_app_in_browser = True
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = (
    "jupyterlab.handlers.announcements.NeverCheckForUpdate"
)
c.ServerApp.terminals_enabled = False
"""

# JupyterLab user settings (also read by Notebook 7), as files in
# JUPYTERLAB_SETTINGS_DIR.
_USER_SETTINGS = {
    # No "would you like to receive news?" toast, no update check.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Keep every cell attached to the page, so counting outputs is exact.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
}

_LIVE_SERVERS: list[JupyterServer] = []
_previous_sigterm = None
_cleanup_installed = False


def _stop_all_servers() -> None:
    for server in list(_LIVE_SERVERS):
        server.stop()


def _on_sigterm(signum, frame) -> None:
    """Stop the servers, then die of SIGTERM as we would have."""
    _stop_all_servers()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_cleanup() -> None:
    """Stop servers at exit and on SIGTERM (a killed test run)."""
    global _previous_sigterm, _cleanup_installed
    if _cleanup_installed:
        return
    _cleanup_installed = True
    atexit.register(_stop_all_servers)
    with contextlib.suppress(ValueError):  # not in the main thread
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
        _previous_sigterm = signal.SIG_DFL if previous is None else previous


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the server process: get SIGTERM when the test process dies (Linux),
    even by SIGKILL, so the server shuts its kernels down."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """A JupyterLab server for tests, in its own process group.

    ``root`` is served as the root directory; everything else the server writes
    (settings, workspaces, runtime files, config) goes to a temporary directory
    removed by :meth:`stop`. Auth is off: the server listens on 127.0.0.1 only.
    """

    def __init__(self, root: Path, log_path: Path | None = None):
        self.root = Path(root)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._home = Path(tempfile.mkdtemp(prefix="bnutils-jupyter-"))
        self._log = None
        self._cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self._cookies)
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict:
        home = self._home
        settings = home / "lab-settings"
        for rel, value in _USER_SETTINGS.items():
            f = settings / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(value))
        for d in ("lab-workspaces", "config", "runtime", "ipython"):
            (home / d).mkdir(exist_ok=True)
        env = dict(os.environ)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            IPYTHONDIR=str(home / "ipython"),
            PYTHONUNBUFFERED="1",
        )
        # Warnings must show up as they would for a learner, not as errors.
        env.pop("PYTHONWARNINGS", None)
        return env

    def start(self, timeout: float = 90.0) -> JupyterServer:
        """Start the server and wait until it answers ``/api``."""
        _install_cleanup()
        env = self._environment()
        config = self._home / "test_server_config.py"
        config.write_text(_SERVER_CONFIG)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "w")
        out = self._log if self._log is not None else subprocess.DEVNULL
        last_error = ""
        for _attempt in range(3):
            self.port = _free_port()
            cmd = [
                sys.executable,
                "-m",
                "jupyterlab",
                f"--config={config}",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--ServerApp.root_dir={self.root}",
                "--IdentityProvider.token=",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                cmd.append("--allow-root")
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            _LIVE_SERVERS.append(self)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:  # port taken in between: try another
                last_error = str(exc)
                self.stop(remove_home=False)
        raise RuntimeError(f"Jupyter server did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with code {self.proc.returncode}"
                    f" (log: {self.log_path})"
                )
            with contextlib.suppress(OSError, ValueError):
                info = self.api("/api")
                if "version" in info:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"no answer from {self.url}/api in {timeout:.0f} s")

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        """Call the REST API; returns the decoded JSON (None when empty).

        Requests other than GET carry the server's XSRF cookie and header, as
        the browser's would.
        """
        headers = {}
        if method != "GET":
            headers["X-XSRFToken"] = self._xsrf_token()
        req = urllib.request.Request(self.url + path, method=method, headers=headers)
        with self._opener.open(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def _xsrf_token(self) -> str:
        for cookie in self._cookies:
            if cookie.name == "_xsrf":
                return cookie.value
        with self._opener.open(self.url + "/lab", timeout=15) as resp:
            resp.read()
        for cookie in self._cookies:
            if cookie.name == "_xsrf":
                return cookie.value
        raise RuntimeError("the server set no _xsrf cookie")

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Shut down the sessions (and their kernels) of the notebook at
        ``path``, or every session and kernel when ``path`` is None."""
        for s in self.api("/api/sessions"):
            if path is None or s.get("path") == path:
                self.api(f"/api/sessions/{s['id']}", method="DELETE", timeout=30)
        if path is None:
            for k in self.api("/api/kernels"):
                self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=30)

    def stop(self, remove_home: bool = True) -> None:
        """Stop the server's whole process group (server and kernels)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc is not None:
            # Kernels are in the same group; make sure none outlives the server.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)
        if self._log is not None and remove_home:
            self._log.close()
            self._log = None
        if remove_home:
            shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# A notebook in the browser
# --------------------------------------------------------------------------

# Page-side helpers (window.__bn.<name>), evaluated once per page.
_JS_HELPERS = (Path(__file__).with_name("page_helpers.js")).read_text(encoding="utf-8")


@dataclass
class SliderInfo:
    """One slider of a panel, as found on the page.

    ``min``/``max``/``now`` are the handle's position in slider space (for a
    log slider: exponents; for a SelectionSlider: option indices);
    ``readout`` is the value as shown. ``method`` is how the harness moves it:
    "type" (a value typed into the readout, then Enter), "click" (a click on
    the track: SelectionSlider, whose readout ignores typing) or "key" (an
    arrow key on the handle); it switches when one has no effect.
    """

    panel: int
    index: int
    cell: int
    label: str
    readout: str
    editable: bool
    min: float | None
    max: float | None
    now: float | None
    disabled: bool
    has_button: bool
    method: str = "type"

    @classmethod
    def from_js(cls, d: dict) -> SliderInfo:
        return cls(
            panel=d["panel"],
            index=d["index"],
            cell=d["cell"],
            label=d["label"],
            readout=d["readout"],
            editable=d["editable"],
            min=d["min"],
            max=d["max"],
            now=d["now"],
            disabled=d["disabled"],
            has_button=d["hasButton"],
        )

    @property
    def selector(self) -> str:
        return f'[data-bn-slider="{self.panel}-{self.index}"]'

    def _shown(self) -> float | None:
        try:
            return float(self.readout)
        except ValueError:
            return None

    @property
    def is_log(self) -> bool:
        """A log slider: the readout is not the handle's position (to the
        readout's precision)."""
        shown = self._shown()
        if shown is None or self.now is None:
            return False
        exponent = decimal.Decimal(self.readout).as_tuple().exponent
        tol = 0.51 * 10.0 ** int(exponent) + 1e-9 * max(1.0, abs(shown))
        return abs(shown - self.now) > tol

    @property
    def log_base(self) -> float:
        """The base of a log slider, estimated from readout = base ** position
        (10 or 2 when close to them)."""
        shown, now = self._shown(), self.now
        if not now or not shown or shown <= 0:
            return 10.0
        base = shown ** (1.0 / now)
        for b in (10.0, 2.0):
            if abs(base - b) < 0.05 * b:
                return b
        return base

    @property
    def is_int(self) -> bool:
        return (
            re.fullmatch(r"-?\d+", self.readout) is not None
            and None not in (self.min, self.max, self.now)
            and all(float(v).is_integer() for v in (self.min, self.max, self.now))
        )

    def candidate_positions(self, k: int) -> list[float]:
        """``k`` new handle positions (slider space), spread over the range;
        each differs from the one before it (the first from the current
        position) by at least a tenth of the range."""
        lo, hi, now = self.min, self.max, self.now
        if lo is None or hi is None or now is None or not hi > lo:
            raise ValueError(f"slider {self.label!r}: no usable range on the page")
        positions: list[float] = []
        prev = now
        for f in _FRACTIONS * (k + 1):
            pos = lo + f * (hi - lo)
            if self.is_int:
                pos = float(round(pos))
            if abs(pos - prev) < 0.1 * (hi - lo) or pos == prev:
                continue
            positions.append(pos)
            prev = pos
            if len(positions) == k:
                break
        if len(positions) < k:
            raise ValueError(f"slider {self.label!r}: range too small for {k} changes")
        return positions

    def value_at(self, pos: float) -> float:
        """The value to type for handle position ``pos``."""
        return self.log_base**pos if self.is_log else pos

    def candidate_values(self, k: int) -> list[float]:
        """``k`` new values to type into the readout (see
        :meth:`candidate_positions`)."""
        return [self.value_at(p) for p in self.candidate_positions(k)]


_WORKSPACE_IDS = itertools.count(int(time.time() * 1000) % 1_000_000)

_FRACTIONS = [0.8, 0.2, 0.6, 0.35, 0.9, 0.1, 0.7, 0.3, 0.5, 0.15, 0.85, 0.45]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-2 * max(1.0, abs(a), abs(b))


def _fmt(v: float) -> str:
    return f"{v:.6g}"


@dataclass
class SliderChange:
    """One slider change and what the panel showed before and after it.

    ``target``: what was asked (a typed value, or a track position);
    ``before`` / ``after``: the image srcs of each Output widget of the panel;
    ``seconds``: browser-measured time from the last user action (Enter, a
    click on the track or on a training panel's button) to the first new
    image.
    """

    slider: SliderInfo
    target: str
    before: list[list[str]]
    after: list[list[str]]
    seconds: float

    def problems(self) -> list[str]:
        """No new figure, or more than one image in an Output (stacking)."""
        s = self.slider
        where = f"panel {s.panel} (slider {s.label!r} -> {self.target})"
        out = []
        old = {src for srcs in self.before for src in srcs}
        new = {src for srcs in self.after for src in srcs}
        if not new - old:
            out.append(f"{where}: the figure did not change")
        for i, srcs in enumerate(self.after):
            had_image = i < len(self.before) and len(self.before[i]) > 0
            if (had_image or srcs) and len(srcs) != 1:
                out.append(
                    f"{where}: output {i} shows {len(srcs)} images, expected exactly 1"
                    " (figures stacking up?)"
                )
        return out


@dataclass
class NotebookPage:
    """A notebook opened in a new page of the test server.

    ``ui`` is ``"lab"`` (JupyterLab, /lab/tree/<path>) or ``"notebook"``
    (Notebook 7, /notebooks/<path>). ``console`` collects the page's console
    errors and warnings and uncaught exceptions.
    """

    context: object  # playwright BrowserContext
    server: JupyterServer
    path: str  # relative to the server root, "/"-separated
    ui: str = "lab"
    page: object = None
    console: list[str] = field(default_factory=list)
    command: str = ""

    def open(self, timeout: float = 60.0) -> NotebookPage:
        """Open the notebook in a new page and wait until its document is
        loaded."""
        if self.ui not in ("lab", "notebook"):
            raise ValueError(f"ui must be 'lab' or 'notebook', got {self.ui!r}")
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        if self.ui == "lab":
            # A new, empty workspace: nothing from earlier pages is restored.
            prefix = f"lab/workspaces/bn-{next(_WORKSPACE_IDS)}/tree"
        else:
            prefix = "notebooks"
        ms = timeout * 1000
        self.page.goto(f"{self.server.url}/{prefix}/{self.path}", timeout=ms)
        self.page.wait_for_function(
            "() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=ms
        )
        self.page.evaluate(_JS_HELPERS)
        self.page.wait_for_function(
            "(path) => { const s = window.__bn.kernelState(path);"
            " return s.panel && s.contextReady; }",
            arg=self.path,
            timeout=ms,
        )
        return self

    def _on_console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self.console.append(f"{msg.type}: {msg.text}")

    def js(self, name: str, *args):
        """Call ``window.__bn.<name>(*args)`` in the page."""
        return self.page.evaluate(
            "([name, args]) => window.__bn[name](...args)", [name, list(args)]
        )

    def wait_for_kernel(self, timeout: float = 60.0) -> dict:
        """Wait until a kernel is attached, connected and idle.

        The execution indicator reads "idle" before any kernel exists, so this
        also waits until the kernel's name replaces "No Kernel"; Run All does
        nothing before that.
        """
        try:
            self.page.wait_for_function(
                """(path) => {
                  const s = window.__bn.kernelState(path);
                  return s.panel && s.sessionReady && s.hasKernel
                    && s.kernelName && s.kernelName !== "No Kernel"
                    && s.connection === "connected" && s.status === "idle";
                }""",
                arg=self.path,
                timeout=timeout * 1000,
                polling=100,
            )
        except Exception as exc:
            state = self.js("kernelState", self.path)
            raise AssertionError(
                f"no idle kernel within {timeout:.0f} s: {state}"
            ) from exc
        return self.js("kernelState", self.path)

    def run_all(self, timeout: float = 300.0) -> float:
        """Run all cells (command ``runmenu:run-all``) and wait until done.

        Done: the command has returned, every non-empty code cell has an
        execution count, no cell is running and the kernel is idle.
        Returns the seconds it took.
        """
        t0 = time.perf_counter()
        self.command = self.js("runAll", self.path)
        try:
            self.page.wait_for_function(
                """(path) => {
                  const p = window.__bn.progress(path);
                  return p.run && p.run.done && p.todo === 0 && p.running === 0
                    && p.status === "idle";
                }""",
                arg=self.path,
                timeout=timeout * 1000,
                polling=200,
            )
        except Exception as exc:
            state = self.js("progress", self.path)
            raise AssertionError(
                f"Run all ({self.command}) did not finish in {timeout:.0f} s: {state}"
            ) from exc
        run = self.js("progress", self.path)["run"]
        if run.get("error"):
            raise AssertionError(f"{self.command} failed: {run['error']}")
        return time.perf_counter() - t0

    def problems(self) -> list[str]:
        """Errors, tracebacks and stderr in the outputs (model and page),
        "Error displaying widget" and errors shown by a panel."""
        return self.js("problems", self.path)

    def wait_for_widgets(self, timeout: float = 60.0) -> dict:
        """Wait until every widget output of the cells shows a widget view.

        Returns the last report: ``expected`` widget outputs in the model,
        ``rendered`` views, ``loading`` / ``failed`` ones with ``notRendered``
        saying which, ``anyLoading`` ("Loading widget..." anywhere, nested
        ones included), ``sliders`` and ``views`` counted on the page.
        """
        deadline = time.monotonic() + timeout
        while True:
            rep = self.js("widgetReport", self.path)
            done = rep["rendered"] == rep["expected"] and rep["anyLoading"] == 0
            if done or rep["failed"] or time.monotonic() > deadline:
                return rep
            self.page.wait_for_timeout(200)

    def sliders(self) -> list[SliderInfo]:
        """The sliders of every panel that shows a figure (tags them on the page)."""
        return [SliderInfo.from_js(d) for d in self.js("scanPanels", self.path)]

    def panel_outputs(self, panel: int) -> list[list[str]]:
        """The image srcs of each Output widget of a panel."""
        return self.js("panelOutputs", panel) or []

    def set_slider(
        self, slider: SliderInfo, pos: float, timeout: float = 60.0
    ) -> SliderChange:
        """Move a slider to handle position ``pos`` as a learner would, and
        wait for a new figure in its panel; then wait for the kernel to be
        idle, so ``after`` is what stays on screen.

        The value for ``pos`` is typed into the readout and Enter pressed;
        when the handle doesn't move (a SelectionSlider's readout ignores
        typing) the track is clicked at ``pos`` instead, and failing that an
        arrow key is pressed on the handle (``slider.method`` remembers what
        worked). In a panel with a button (a training panel) the button is
        clicked afterwards. Raises AssertionError when no new image appears
        within ``timeout``.
        """
        page = self.page
        before = self.panel_outputs(slider.panel)
        readout = page.locator(f"{slider.selector} .widget-readout")
        handle = page.locator(f"{slider.selector} .noUi-handle")
        now = handle.get_attribute("aria-valuenow")

        def moved() -> bool:
            return handle.get_attribute("aria-valuenow", timeout=2000) != now

        self.js("armTimer", slider.panel, [src for srcs in before for src in srcs])
        target = f"position {_fmt(pos)}"
        try:
            if slider.method == "type" and slider.editable:
                target = _fmt(slider.value_at(pos))
                readout.click()
                page.keyboard.press("ControlOrMeta+a")
                page.keyboard.type(target)
                readout.press("Enter")
                if not moved():
                    slider.method = "click"
            if slider.method in ("type", "click") and not slider.editable:
                slider.method = "click"
            if slider.method == "click" and not moved():
                target = f"track at {_fmt(pos)}"
                track = page.locator(f"{slider.selector} .noUi-base")
                box = track.bounding_box()
                frac = (pos - slider.min) / (slider.max - slider.min)
                track.click(position={"x": frac * box["width"], "y": box["height"] / 2})
                if not moved():
                    slider.method = "key"
            if slider.method == "key":
                key = "ArrowLeft" if pos < float(now) else "ArrowRight"
                target = key
                handle.press(key)
            if slider.has_button:
                page.locator(f'[data-bn-button="{slider.panel}"]').click()
            page.wait_for_function(
                "() => window.__bnTimer.t1 !== null",
                timeout=timeout * 1000,
                polling="raf",
            )
        except Exception as exc:
            shown = readout.text_content(timeout=2000)
            state = "moved" if moved() else "did not move"
            clicked = ", button clicked" if slider.has_button else ""
            raise AssertionError(
                f"panel {slider.panel} (slider {slider.label!r}): no new figure"
                f" within {timeout:.0f} s after setting {target} by {slider.method}"
                f" (readout shows {shown!r}, handle {state}{clicked})"
            ) from exc
        finally:
            self.js("stopTimer")
        timer = self.js("timer")
        self.wait_idle(timeout)
        after = self.panel_outputs(slider.panel)
        slider.now = float(handle.get_attribute("aria-valuenow"))
        slider.readout = (readout.text_content() or "").strip()
        seconds = (timer["t1"] - timer["t0"]) / 1000.0
        return SliderChange(slider, target, before, after, seconds)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the kernel is idle."""
        self.page.wait_for_function(
            """(path) => window.__bn.kernelState(path).status === "idle" """,
            arg=self.path,
            timeout=timeout * 1000,
            polling=50,
        )

    def save_artifacts(self, name: str) -> tuple[Path | None, Path]:
        """Save a full-page screenshot and the console messages under
        build/browser/; returns their paths (screenshot None if it failed)."""
        ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "page"
        shot: Path | None = ARTIFACT_DIR / f"{safe}.png"
        log = ARTIFACT_DIR / f"{safe}.console.txt"
        try:
            self.page.screenshot(path=str(shot), full_page=True, timeout=15000)
        except Exception as exc:  # the page may be gone; say so in the log
            self.console.append(f"(screenshot failed: {exc})")
            shot = None
        log.write_text("\n".join(self.console) + "\n")
        return shot, log

    @contextlib.contextmanager
    def artifacts_on_failure(self, name: str):
        """Turn any failure inside the block into an AssertionError that names
        the saved screenshot, console log and server log."""
        try:
            yield self
        except Exception as exc:
            if self.page is None:
                raise
            shot, log = self.save_artifacts(name)
            raise AssertionError(
                f"{exc}\n  screenshot: {shot}\n  console log: {log}"
                f"\n  server log: {self.server.log_path}"
            ) from exc

    def close(self) -> None:
        """Shut the notebook's kernel down and close the page."""
        if self.page is None:
            return
        with contextlib.suppress(Exception):
            self.page.evaluate(
                "(path) => window.__bn && window.__bn.shutdown(path)", self.path
            )
        with contextlib.suppress(Exception):
            self.page.close()
        # A page closed before its app was up leaves its session behind.
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self.server.shutdown_kernels(self.path)


# --------------------------------------------------------------------------
# Whole-notebook checks, shared by the tests and the benchmark
# --------------------------------------------------------------------------

_PANEL_HINT = re.compile(r"panel\w*\s*\(|\binteract\w*\s*\(|ipywidgets", re.IGNORECASE)


def expects_panels(notebook: Path) -> bool:
    """Whether a notebook's code builds widget panels (a textual hint: calls
    to ``...panel(...)``, ``Panel(...)``, ``interact(...)`` or ipywidgets)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    code = "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb.get("cells", [])
        if c.get("cell_type") == "code"
    )
    return _PANEL_HINT.search(code) is not None


@dataclass
class NotebookReport:
    """What :func:`check_notebook` found."""

    path: str
    ui: str
    command: str = ""
    run_seconds: float = float("nan")
    widgets: dict = field(default_factory=dict)
    sliders: list[SliderInfo] = field(default_factory=list)
    changes: list[SliderChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def panels(self) -> int:
        return len({s.panel for s in self.sliders})

    def summary(self) -> str:
        w = self.widgets
        return (
            f"{self.path} [{self.ui}]: run all {self.run_seconds:.1f} s, widget outputs"
            f" {w.get('rendered')}/{w.get('expected')} rendered, {self.panels} slider"
            f" panels, {len(self.changes)} slider changes"
        )


def open_and_run(nb: NotebookPage, run_timeout: float = 300.0) -> NotebookReport:
    """Open the notebook, wait for its kernel and run all cells."""
    report = NotebookReport(nb.path, nb.ui)
    nb.open()
    nb.wait_for_kernel()
    report.run_seconds = nb.run_all(timeout=run_timeout)
    report.command = nb.command
    return report


def check_notebook(
    nb: NotebookPage,
    expect_panels: bool,
    widget_timeout: float = 60.0,
    slider_timeout: float = 60.0,
    run_timeout: float = 300.0,
) -> NotebookReport:
    """Run a notebook in the browser and collect everything wrong with it.

    Opens it, waits for the kernel, runs all cells, then checks: no error,
    traceback or stderr output; every widget output rendered (no "Loading
    widget..." left after ``widget_timeout``, no "Error displaying widget");
    slider panels present when ``expect_panels``; for every slider of every
    panel with a figure, typing a new value shows a new figure and exactly one
    image per Output (no stacking); no panel shows an error afterwards.
    Returns the report; ``report.problems`` is empty when all is well.
    """
    report = open_and_run(nb, run_timeout)
    problems = report.problems
    problems += nb.problems()
    report.widgets = rep = nb.wait_for_widgets(widget_timeout)
    if rep["rendered"] != rep["expected"]:
        problems.append(
            f"{rep['rendered']} of {rep['expected']} widget outputs rendered: "
            + "; ".join(rep["notRendered"])
        )
    if rep["anyLoading"]:
        problems.append(f'{rep["anyLoading"]} outputs still show "Loading widget..."')
    report.sliders = sliders = nb.sliders()
    if expect_panels and (rep["expected"] == 0 or rep["sliders"] == 0 or not sliders):
        problems.append(
            "the notebook builds panels but the page shows"
            f" {rep['expected']} widget outputs, {rep['sliders']} sliders and"
            f" {report.panels} slider panels with a figure"
        )
    for slider in sliders:
        if slider.disabled:
            continue
        try:
            (pos,) = slider.candidate_positions(1)
            change = nb.set_slider(slider, pos, timeout=slider_timeout)
        except (AssertionError, ValueError) as exc:
            problems.append(str(exc))
            continue
        report.changes.append(change)
        problems += change.problems()
    problems += [p for p in nb.problems() if p not in problems]
    return report


def measure_latency(
    nb: NotebookPage, changes: int = 10, timeout: float = 30.0
) -> list[tuple[SliderInfo, list[float]]]:
    """For every slider of every panel: the seconds from setting a new value
    to the new figure, over ``changes`` changes. Call after :func:`open_and_run`."""
    nb.wait_for_widgets()
    results = []
    for slider in nb.sliders():
        if slider.disabled:
            continue
        times = []
        for pos in slider.candidate_positions(changes):
            change = nb.set_slider(slider, pos, timeout=timeout)
            bad = change.problems()
            if bad:
                raise AssertionError("; ".join(bad))
            times.append(change.seconds)
        results.append((slider, times))
    return results
