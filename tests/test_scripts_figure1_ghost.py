"""The full-size scripts of notebooks 04 and 05 run end to end (on tiny settings)
and write what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _run(args, tmp_path):
    out = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_reproduce_figure1_with_every_network_and_the_extras(tmp_path):
    stdout = _run(
        [
            "scripts/reproduce_figure1.py",
            "--steps",
            "40",
            "--eval-every",
            "20",
            "--kinds",
            "plain,bn,noisy,xavier",
            "--extras",
            "--measure-points",
            "3",
        ],
        tmp_path,
    )
    assert "from step 200" not in stdout  # only 40 steps: no record after 200
    assert "from step   0" in stdout and "move/spread" in stdout
    assert "with BN, inference mode" in stdout and "Gradient change" in stdout
    record = json.loads((tmp_path / "figure1.json").read_text())
    assert record["settings"]["kinds"] == ["plain", "bn", "noisy", "xavier"]
    runs = record["runs"]
    assert set(runs) == {"plain", "bn", "noisy", "xavier"}
    assert runs["bn"]["gradient_change"]["step"] == [0, 20, 40]
    assert len(runs["bn"]["inference_percentiles"]) == len(runs["bn"]["step"]) == 3
    assert runs["plain"]["inference_percentiles"] == []
    assert (tmp_path / "figure1.png").stat().st_size > 10_000


def test_reproduce_figure1_refuses_a_figure_without_both_networks(tmp_path):
    out = subprocess.run(
        [sys.executable, "scripts/reproduce_figure1.py", "--kinds", "bn,noisy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0 and "must include plain and bn" in out.stderr


def test_ghost_batch_script_quick_on_two_training_subsets(tmp_path):
    from bnutils.demos import minibatch as mb

    stdout = _run(["scripts/ghost_batch.py", "--quick", "--subsets", "0,2"], tmp_path)
    assert "ghost 64" in stdout and "gap minus whole set" in stdout
    assert "training subset 0:" in stdout and "training subset 2:" in stdout
    assert "Across training subsets" in stdout
    record = json.loads((tmp_path / "ghost_batch.json").read_text())
    assert [r["subset"] for r in record] == [0, 2]
    for r in record:
        assert r["configs"] == [
            "2", "4", "8", "16", "64", "whole", "whole_nograd", "frozen", "plain"
        ]  # fmt: skip
        assert len(r["seeds"]) == 5
        assert len(r["test_acc"]) == 9
        assert r["settings"]["n_train"] == 500
    # another subset is other training images: other accuracies, seed by seed
    assert record[0]["train_acc"] != record[1]["train_acc"]
    assert record[0]["test_acc"] != record[1]["test_acc"]
    # subset 0 is the notebook's data (float32 rounding may flip a test image or two)
    nb = mb.ghost_batch_experiment(
        **{**mb.GHOST_NOTEBOOK, "configs": (64, "whole"), "seeds": (0, 1)},
        progress=False,
    )
    rows = [record[0]["configs"].index("64"), record[0]["configs"].index("whole")]
    got = np.array(record[0]["test_acc"])[rows][:, :2]
    np.testing.assert_allclose(got, nb.test_acc, rtol=0, atol=0.0025)


def test_ghost_batch_script_rejects_bad_subsets(tmp_path):
    for bad in ("1,x", "-1", "1,1", ""):
        out = subprocess.run(
            [sys.executable, "scripts/ghost_batch.py", "--subsets", bad],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 2 and "--subsets takes distinct" in out.stderr, bad
