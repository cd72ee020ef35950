"""The slim install — `learnt[serve,text]`, no torch — predicts and serves every kind of program.

Run by CI in a venv without torch, on programs made by `tests/slim/make_programs.py` with the full
install (`LEARNT_SLIM_PROGRAMS` names their folder); skipped otherwise.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

FOLDER = os.environ.get("LEARNT_SLIM_PROGRAMS")
pytestmark = pytest.mark.skipif(not FOLDER, reason="LEARNT_SLIM_PROGRAMS is not set")
KINDS = ("table", "images", "text")


def learnt(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "learnt", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


Rows = list[dict[str, str]]


def read_csv(path: Path) -> Rows:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def made(kind: str) -> tuple[Path, Path, Rows]:
    """(program, its input data, the full install's predictions)."""
    folder = Path(FOLDER) / kind  # type: ignore[arg-type]
    expected = read_csv(folder / "expected.csv")
    return folder / "run" / "program", Path((folder / "data").read_text()), expected


def assert_same(got: Rows, expected: Rows) -> None:
    assert list(got[0]) == list(expected[0])
    assert len(got) == len(expected)
    for column in expected[0]:
        if column.startswith("proba_"):
            np.testing.assert_allclose(
                [float(row[column]) for row in got],
                [float(row[column]) for row in expected],
                atol=1e-6,
            )
        else:
            assert [row[column] for row in got] == [row[column] for row in expected]


@pytest.mark.parametrize("package", ["torch", "pandas", "rich"])
def test_the_training_packages_are_not_installed(package: str) -> None:
    assert importlib.util.find_spec(package) is None


@pytest.mark.parametrize("kind", KINDS)
def test_predict_without_torch_matches_the_full_install(kind: str, tmp_path: Path) -> None:
    program, data, expected = made(kind)
    result = learnt("predict", program, data, "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    assert_same(read_csv(tmp_path / "p.csv"), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_serve_without_torch_matches_the_full_install(kind: str) -> None:
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from learnt.runtime.program import Program
    from learnt.serve import ServeSettings
    from learnt.serve.app import create_app

    program_dir, data, expected = made(kind)
    with TestClient(create_app(Program(program_dir), ServeSettings())) as client:
        for _ in range(300):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        if kind == "images":
            first = sorted(p for p in data.rglob("*.png"))[0]
            response = client.post("/predict", files={"image": (first.name, first.read_bytes())})
            wanted = [row for row in expected if row["path"] == str(first)]
        elif kind == "text":
            texts = [row["text"] for row in read_csv(data)[:5]]
            response = client.post("/predict", json={"texts": texts})
            wanted = expected[:5]
        else:
            records = [
                {name: value if value != "" else None for name, value in row.items()}
                for row in read_csv(data)[:5]
            ]
            response = client.post("/predict", json={"rows": records})
            wanted = expected[:5]
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == (1 if kind == "images" else 5)
    if wanted:
        got = [json.dumps(p["prediction"]).strip('"') for p in predictions]
        assert got == [row["prediction"] for row in wanted]
        for answer, row in zip(predictions, wanted, strict=True):
            for name, probability in (answer.get("probabilities") or {}).items():
                assert abs(probability - float(row[f"proba_{name}"])) <= 1e-6


def test_train_says_what_to_install() -> None:
    result = learnt("train", "data.csv", "--label", "y")
    assert result.returncode == 2
    assert "learnt[train]" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_report_says_what_to_install() -> None:
    result = learnt("report", Path(FOLDER) / "table" / "run", "--out", "report.html")  # type: ignore[arg-type]
    assert result.returncode == 2, result.stderr
    assert "learnt[report]" in result.stderr
    assert "Traceback" not in result.stderr
