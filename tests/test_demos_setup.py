"""Tests for bnutils.demos.setup: the environment check and the widget check."""

import sys
import types

import ipywidgets
import matplotlib
import numpy as np
import pytest

from bnutils.demos import setup


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.26.4", (1, 26, 4)),
        ("2.0.0rc1", (2, 0, 0)),
        ("8.1.5.dev0", (8, 1, 5)),
        ("3.10", (3, 10)),
        ("7.7.0+local", (7, 7, 0)),
        ("1.23rc2", (1, 23)),
    ],
)
def test_parse_version(text, expected):
    assert setup.parse_version(text) == expected


def test_parse_version_rejects_garbage():
    with pytest.raises(ValueError, match="version"):
        setup.parse_version("unknown")


def test_current_environment_passes_and_prints_versions(capsys):
    report = setup.check_environment()
    out = capsys.readouterr().out
    assert report.ok, report.problems
    for name in ("python", "numpy", "matplotlib", "ipywidgets", "bnutils"):
        assert name in report.versions and name in out
    assert report.versions["numpy"] == np.__version__
    assert "Environment OK" in out


@pytest.mark.parametrize(
    ("module", "old", "minimum"),
    [
        (np, "1.21.6", "1.23"),
        (matplotlib, "3.5.3", "3.6"),
        (ipywidgets, "7.6.5", "7.7"),
    ],
)
def test_old_package_is_flagged_with_a_fix(monkeypatch, capsys, module, old, minimum):
    monkeypatch.setattr(module, "__version__", old)
    report = setup.check_environment()
    out = capsys.readouterr().out
    assert not report.ok and len(report.problems) == 1
    problem = report.problems[0]
    assert module.__name__ in problem and old in problem and minimum in problem
    assert "pip install --upgrade" in problem and "restart the kernel" in problem
    assert "PROBLEM" in out and "1 problem(s)" in out


def test_exactly_the_minimum_is_accepted(monkeypatch):
    monkeypatch.setattr(ipywidgets, "__version__", "7.7.0")
    monkeypatch.setattr(np, "__version__", "1.23.0")
    assert setup.check_environment(verbose=False).ok


def test_old_python_is_flagged(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    report = setup.check_environment(verbose=False)
    assert not report.ok
    assert "Python 3.9.18" in report.problems[0]
    assert "environment.yml" in report.problems[0]


def test_missing_package_is_flagged(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import now fails
    report = setup.check_environment(verbose=False)
    assert report.versions["ipywidgets"] == "missing"
    assert any("not installed" in p and "ipywidgets" in p for p in report.problems)


def test_colab_gets_the_widget_manager_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    report = setup.check_environment(verbose=False)
    assert report.ok
    assert any("enable_custom_widget_manager" in n for n in report.notes)


def test_widget_check_panel_redraws():
    panel = setup.widget_check_panel()
    line = panel.fig.axes[0].get_lines()[0]
    before = np.array(line.get_ydata(), copy=True)
    slider = panel.controls["frequency"]
    slider.value = 3.0
    assert panel.error is None
    assert not np.allclose(line.get_ydata(), before)
    assert "Redrawn 2 time" in panel.readout.value
    for value in (slider.min, slider.max):
        slider.value = value
        y = np.asarray(line.get_ydata())
        assert panel.error is None and y.size > 0 and np.all(np.isfinite(y))
        assert np.all(np.abs(y) <= 1.0)


def _no_vscode(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("VSCODE_"):
            monkeypatch.delenv(name)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def test_ipywidgets_8_1_9_in_vscode_is_a_problem_with_the_fix(monkeypatch, capsys):
    _no_vscode(monkeypatch)
    monkeypatch.setenv("VSCODE_PID", "1234")
    monkeypatch.setattr(ipywidgets, "__version__", "8.1.9")
    assert setup.front_end() == "VS Code"
    report = setup.check_environment()
    out = capsys.readouterr().out
    assert not report.ok and len(report.problems) == 1
    problem = report.problems[0]
    assert "ipywidgets 8.1.9" in problem and "17504" in problem
    assert '%pip install "ipywidgets>=7.7,!=8.1.9"' in problem
    assert "restart the kernel" in problem and "PROBLEM" in out


def test_ipywidgets_8_1_9_elsewhere_is_a_note_for_vscode(monkeypatch):
    _no_vscode(monkeypatch)
    monkeypatch.setattr(ipywidgets, "__version__", "8.1.9")
    assert setup.front_end() == "Jupyter"
    report = setup.check_environment(verbose=False)
    assert report.ok, "it works in JupyterLab"
    (note,) = report.notes
    assert "ipywidgets 8.1.9 is fine here" in note and "VS Code" in note
    assert "!=8.1.9" in note


@pytest.mark.parametrize("version", ["8.1.8", "8.1.10", "7.7.1", "8.1.9.1"])
def test_other_ipywidgets_releases_are_fine_in_vscode(monkeypatch, version):
    _no_vscode(monkeypatch)
    monkeypatch.setenv("VSCODE_CWD", "/x")
    monkeypatch.setattr(ipywidgets, "__version__", version)
    report = setup.check_environment(verbose=False)
    assert report.ok and not report.notes, (version, report.problems, report.notes)


def test_known_broken_releases_are_also_excluded_by_pyproject():
    from importlib.metadata import requires

    reqs = {r.split(";")[0].replace(" ", "") for r in requires("bnutils") or []}
    for name, version, _where, _what in setup.KNOWN_BROKEN:
        assert any(r.startswith(name) and f"!={version}" in r for r in reqs), (
            f"pyproject.toml should exclude {name} {version} too"
        )
