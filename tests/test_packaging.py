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


def _pyproject_requirements() -> dict[str, str | None]:
    reqs = requires("bnutils") or []
    return {_name(r): _lower_bound(r) for r in reqs}


def _environment_yml() -> tuple[dict[str, str | None], list[str]]:
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


def test_environment_yml_matches_pyproject():
    conda, pip = _environment_yml()
    wanted = _pyproject_requirements()
    assert wanted, "bnutils is not installed: run `make test`"
    for name, bound in wanted.items():
        assert name in conda, f"environment.yml lacks {name} (declared in pyproject)"
        assert conda[name] == bound, (
            f"{name}: environment.yml has >={conda[name]}, pyproject has >={bound}"
        )
    extra = set(conda) - set(wanted) - {"python", "pip"}
    assert not extra, f"environment.yml has packages pyproject lacks: {sorted(extra)}"
    assert pip == ["-e ."], "environment.yml installs the package itself with pip"


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
