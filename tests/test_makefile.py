"""Makefile recipes that branch on the machine: run with stand-ins for the
programs they call (no Jupyter is started)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _make_lab(tmp_path: Path, uid: int) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:  # pragma: no cover - make runs these tests
        pytest.skip("make is not installed")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "jupyter").write_text('#!/bin/sh\necho "jupyter called with: $*"\n')
    (fake / "id").write_text(
        f'#!/bin/sh\n[ "$1" = -u ] && echo {uid} || exec /usr/bin/id "$@"\n'
    )
    for f in fake.iterdir():
        f.chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()
    os.utime(stamp, (2**31, 2**31))  # newer than pyproject.toml: no install
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "--no-print-directory", "lab", f"BIN={fake}", f"STAMP={stamp}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_lab_as_root_passes_allow_root_and_says_so(tmp_path):
    proc = _make_lab(tmp_path, uid=0)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    said = [line for line in lines if "running as root" in line]
    assert len(said) == 1 and "--allow-root" in said[0]
    called = lines[-1]
    assert called.startswith("jupyter called with: lab")
    assert "--ip=127.0.0.1" in called and "--allow-root" in called
    assert "token" not in called.lower(), "Jupyter's token stays on"


def test_make_lab_as_a_user_does_not_allow_root(tmp_path):
    proc = _make_lab(tmp_path, uid=1000)
    assert proc.returncode == 0, proc.stderr
    assert "running as root" not in proc.stdout and "allow-root" not in proc.stdout
    assert proc.stdout.splitlines()[-1] == (
        "jupyter called with: lab --ip=127.0.0.1 --notebook-dir=notebooks"
    )
