"""Notebook 00: check that the environment can run the series.

:func:`check_environment` prints the versions of Python and of the packages the
notebooks use, flags anything older than the series needs and says how to fix
it. :func:`widget_check_panel` is a one-slider panel: if moving the slider
redraws the curve, interactive widgets work in this front end.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np

from bnutils import plots, widgets

__all__ = [
    "KNOWN_BROKEN",
    "MINIMUM_VERSIONS",
    "EnvironmentReport",
    "check_environment",
    "front_end",
    "parse_version",
    "widget_check_panel",
]

#: The oldest versions the series is tested with (pyproject.toml says the same).
MINIMUM_VERSIONS = {
    "python": "3.10",
    "numpy": "1.23",
    "matplotlib": "3.6",
    "ipywidgets": "7.7",
}

#: Releases known to break a front end: (package, version, front end, what
#: happens). pyproject.toml excludes them too; this catches an environment made
#: some other way. Front ends: "VS Code", "Colab" or "any".
KNOWN_BROKEN = [
    (
        "ipywidgets",
        "8.1.9",
        "VS Code",
        "renders no widget at all in VS Code's Jupyter extension (vscode-jupyter "
        "issue 17504; 8.1.8 works), so the sliders of this course won't show",
    ),
]

_UPGRADE = (
    'Upgrade it with  %pip install --upgrade "{name}>={minimum}"  in a notebook '
    'cell (or  conda install "{name}>={minimum}"  in a conda environment), then '
    "restart the kernel and run this notebook again."
)
_PYTHON = (
    "Create the environment again with a newer Python: "
    "conda env create -f environment.yml  (then  conda activate bn-course), or "
    "make lab PYTHON=python3.11  with a local Python 3.10 or newer."
)


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.26.4" -> (1, 26, 4)``; a suffix such as ``rc1`` or ``.dev0`` is
    ignored (``"2.0.0rc1" -> (2, 0, 0)``). Raises ValueError when ``text`` does
    not start with a number."""
    parts = []
    for piece in str(text).strip().split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() < len(piece):  # "0rc1": the rest is a pre-release tag
            break
    if not parts:
        raise ValueError(f"Cannot read a version number from {text!r}.")
    return tuple(parts)


def _at_least(version: str, minimum: str) -> bool:
    v, m = parse_version(version), parse_version(minimum)
    width = max(len(v), len(m))
    return v + (0,) * (width - len(v)) >= m + (0,) * (width - len(m))


@dataclass
class EnvironmentReport:
    """What :func:`check_environment` found.

    versions : name -> installed version (``"missing"`` if not importable).
    problems : one message per problem, each saying what to do.
    notes : hints that are not problems (e.g. how to enable widgets in Colab).
    """

    versions: dict[str, str]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is too old or missing."""
        return not self.problems

    def __str__(self) -> str:
        lines = [f"{name:<11} {version}" for name, version in self.versions.items()]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        verdict = (
            "Environment OK: every version is new enough."
            if self.ok
            else f"{len(self.problems)} problem(s): fix them before going on."
        )
        return "\n".join([*lines, verdict])


def _module_version(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "missing"
    return str(getattr(module, "__version__", "unknown"))


def front_end() -> str:
    """Where the kernel runs, as far as it can tell: "Colab", "VS Code" (its
    Jupyter extension starts kernels with VSCODE_* variables) or "Jupyter"."""
    if "google.colab" in sys.modules:
        return "Colab"
    if any(name.startswith("VSCODE_") for name in os.environ):
        return "VS Code"
    return "Jupyter"


def _known_broken(versions: dict[str, str], where: str):
    """(problems, notes) for the installed releases in :data:`KNOWN_BROKEN`."""
    problems, notes = [], []
    for name, bad, broken_in, what in KNOWN_BROKEN:
        version = versions.get(name, "missing")
        try:
            same = parse_version(version) == parse_version(bad)
        except ValueError:  # "missing", "unknown": reported elsewhere
            same = False
        if not same:
            continue
        fix = (
            f'Install another release with  %pip install "{name}>='
            f'{MINIMUM_VERSIONS.get(name, "0")},!={bad}"  and restart the kernel.'
        )
        if broken_in in ("any", where):
            problems.append(f"{name} {version} {what}. {fix}")
        else:
            notes.append(
                f"{name} {version} is fine here, but it {what}. If you open the "
                f"notebooks in {broken_in}: {fix}"
            )
    return problems, notes


def check_environment(verbose: bool = True) -> EnvironmentReport:
    """Check Python and the packages the series needs.

    Prints (when ``verbose``) one line per package with its version, then one
    line per problem with the fix (a release too old, missing, or known to break
    the front end in use: :data:`KNOWN_BROKEN`), then a verdict; returns the
    :class:`EnvironmentReport` (``report.ok`` is True when all is well).
    """
    py = ".".join(str(p) for p in sys.version_info[:3])
    versions = {"python": py}
    for name in ("numpy", "matplotlib", "ipywidgets", "bnutils"):
        versions[name] = _module_version(name)
    problems = []
    if not _at_least(py, MINIMUM_VERSIONS["python"]):
        problems.append(
            f"Python {py} is older than {MINIMUM_VERSIONS['python']}. {_PYTHON}"
        )
    for name in ("numpy", "matplotlib", "ipywidgets"):
        version, minimum = versions[name], MINIMUM_VERSIONS[name]
        if version == "missing":
            problems.append(
                f"{name} is not installed. Install it with  %pip install "
                f'"{name}>={minimum}"  and restart the kernel.'
            )
        elif version == "unknown" or not _at_least(version, minimum):
            problems.append(
                f"{name} {version} is older than {minimum}, the oldest version "
                "this course works with. " + _UPGRADE.format(name=name, minimum=minimum)
            )
    if versions["bnutils"] == "missing":  # pragma: no cover - we are inside bnutils
        problems.append(
            "bnutils is not installed: run  pip install -e .  in the repository's "
            "folder, then restart the kernel."
        )
    broken, notes = _known_broken(versions, front_end())
    problems += broken
    if "google.colab" in sys.modules:
        notes.append(
            "Colab: run  from google.colab import output; "
            "output.enable_custom_widget_manager()  once so that sliders show."
        )
    report = EnvironmentReport(versions, problems, notes)
    if verbose:
        print(report)
    return report


def widget_check_panel() -> widgets.Panel:
    """One slider (the frequency of a sine wave) and the curve it controls.

    If the slider shows and moving it redraws the curve, widgets work. The
    readout counts the redraws.
    """
    fig, ax = plots.panel_figure(figsize=(6.0, 2.6))
    t = np.linspace(0.0, 1.0, 400)
    (curve,) = ax.plot(t, np.sin(2 * np.pi * t), color=plots.BN_COLOR)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-1.15, 1.15)
    ax.set_xlabel("time t (s)")
    ax.set_ylabel("sin(2π f t)")  # plain text: no mathtext parse on first draw
    state = {"redraws": 0}

    def update(frequency: float) -> str:
        curve.set_ydata(np.sin(2 * np.pi * frequency * t))
        ax.set_title(f"A sine wave with f = {frequency:.1f} cycles per second")
        state["redraws"] += 1
        return (
            f"Redrawn {state['redraws']} time(s). Move the slider: if the wave "
            "changes, widgets work here."
        )

    slider = widgets.float_slider(
        "frequency f (cycles per second)", 1.0, 0.5, 6.0, 0.5, readout_format=".1f"
    )
    return widgets.Panel({"frequency": slider}, fig, update, title="Widget check")
