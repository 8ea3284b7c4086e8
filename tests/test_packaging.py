"""The project's own files install what it needs, and agree with each other."""

from __future__ import annotations

import re
from importlib.metadata import metadata, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


def _lower_bound(req: str) -> str | None:
    m = re.search(r">=\s*([0-9][0-9.]*)", req.split(";")[0])
    return m.group(1) if m else None


def _exclusions(req: str) -> set[str]:
    return set(re.findall(r"!=\s*([0-9][0-9.]*)", req.split(";")[0]))


def _pyproject_requirements() -> dict[str, str | None]:
    reqs = requires("bnutils") or []
    return {_name(r): _lower_bound(r) for r in reqs}


def _pyproject_exclusions() -> dict[str, set[str]]:
    return {_name(r): _exclusions(r) for r in requires("bnutils") or []}


def _environment_yml() -> tuple[dict[str, str | None], list[str]]:
    """(conda name -> lower bound, pip lines) of environment.yml."""
    conda, pip = {}, []
    section = None
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        item = line.strip()
        if section != "dependencies" or not item.startswith("- "):
            continue
        item = item[2:].strip()
        if raw.startswith("      "):
            pip.append(item)
        elif item != "pip:":
            conda[_name(item)] = _lower_bound(item) or item.partition("=")[2] or None
    return conda, pip


def test_every_python_requirement_has_only_a_lower_bound():
    for req in requires("bnutils") or []:
        spec = req.split(";")[0]
        assert "==" not in spec and "<" not in spec.replace("<=", ""), (
            f"{req}: pyproject.toml declares lower bounds only"
        )
        assert _lower_bound(req), f"{req}: give it a lower bound (>=)"


def _environment_yml_specs() -> dict[str, str]:
    """name -> the whole requirement, conda and pip sections alike."""
    specs = {}
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        item = raw.split("#", 1)[0].strip()
        if item.startswith("- ") and item[2:].strip() not in ("pip:", "-e ."):
            specs[_name(item[2:].strip())] = item[2:].strip()
    return specs


def test_environment_yml_matches_pyproject():
    conda, pip = _environment_yml()
    # a package that conda-forge lacks is installed by the pip section
    pip_reqs = {_name(r): _lower_bound(r) for r in pip if r != "-e ."}
    declared = {**conda, **pip_reqs}
    wanted = _pyproject_requirements()
    assert wanted, "bnutils is not installed: run `make test`"
    for name, bound in wanted.items():
        assert name in declared, f"environment.yml lacks {name} (declared in pyproject)"
        assert declared[name] == bound, (
            f"{name}: environment.yml has >={declared[name]}, pyproject has >={bound}"
        )
    extra = set(declared) - set(wanted) - {"python", "pip"}
    assert not extra, f"environment.yml has packages pyproject lacks: {sorted(extra)}"
    assert pip[-1:] == ["-e ."], "environment.yml installs the package itself with pip"
    assert not set(pip_reqs) & set(conda), "a package in both conda and pip sections"


def test_environment_yml_excludes_the_same_broken_releases():
    specs = _environment_yml_specs()
    for name, excluded in _pyproject_exclusions().items():
        assert _exclusions(specs[name]) == excluded, (
            f"{name}: environment.yml excludes {sorted(_exclusions(specs[name]))}, "
            f"pyproject.toml excludes {sorted(excluded)}"
        )


def test_ipywidgets_8_1_9_is_excluded_with_its_reason():
    """ipywidgets 8.1.9 renders nothing in VS Code (vscode-jupyter issue 17504)."""
    assert "8.1.9" in _pyproject_exclusions()["ipywidgets"]
    for path in ("pyproject.toml", "environment.yml"):
        text = (ROOT / path).read_text()
        line = next(i for i, t in enumerate(text.splitlines()) if "!=8.1.9" in t)
        near = "\n".join(text.splitlines()[max(0, line - 3) : line + 1])
        assert "17504" in near and "VS Code" in near, f"{path}: say why beside it"


def test_make_installs_the_site_extra():
    makefile = (ROOT / "Makefile").read_text()
    assert "'.[lab,test,site]'" in makefile, "make site needs MathJax and nbconvert"
    assert {"nbconvert", "django-static-mathjax"} <= set(_pyproject_requirements())


def test_environment_yml_python_satisfies_requires_python():
    conda, _ = _environment_yml()
    pinned = tuple(int(x) for x in conda["python"].split("."))
    minimum = metadata("bnutils")["Requires-Python"].replace(">=", "")
    assert pinned >= tuple(int(x) for x in minimum.split("."))


def test_gitignore_keeps_generated_files_out():
    ignored = (ROOT / ".gitignore").read_text().split()
    for pattern in (".venv/", "__pycache__/", ".ipynb_checkpoints/", "build/"):
        assert pattern in ignored, f".gitignore lacks {pattern}"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first = text[: text.find("\n## ", text.find("make test"))]
    assert "make lab" in first and "make test" in first
