"""The slim install — `learnt[serve,text]`, no torch — predicts and serves every kind of program.

Run by CI in a venv without torch, on programs made by `tests/slim/make_programs.py` with the full
install (`LEARNT_SLIM_PROGRAMS` names their folder); skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FOLDER = os.environ.get("LEARNT_SLIM_PROGRAMS")
pytestmark = pytest.mark.skipif(not FOLDER, reason="LEARNT_SLIM_PROGRAMS is not set")
KINDS = ("table", "images", "text")


def learnt(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "learnt", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def made(kind: str) -> tuple[Path, Path, pd.DataFrame]:
    """(program, its input data, the full install's predictions)."""
    folder = Path(FOLDER) / kind  # type: ignore[arg-type]
    expected = pd.read_csv(folder / "expected.csv")
    return folder / "run" / "program", Path((folder / "data").read_text()), expected


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        if column.startswith("proba_"):
            np.testing.assert_allclose(got[column], expected[column], atol=1e-6)
        else:
            assert got[column].astype(str).tolist() == expected[column].astype(str).tolist()


def test_torch_is_not_installed() -> None:
    assert importlib.util.find_spec("torch") is None


@pytest.mark.parametrize("kind", KINDS)
def test_predict_without_torch_matches_the_full_install(kind: str, tmp_path: Path) -> None:
    program, data, expected = made(kind)
    result = learnt("predict", program, data, "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    assert_same(pd.read_csv(tmp_path / "p.csv"), expected)


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
            import time

            time.sleep(0.1)
        if kind == "images":
            first = sorted(p for p in data.rglob("*.png"))[0]
            response = client.post("/predict", files={"image": (first.name, first.read_bytes())})
            row = (
                expected[expected["path"].str.endswith(first.name)] if "path" in expected else None
            )
        elif kind == "text":
            texts = pd.read_csv(data)["text"].head(5).tolist()
            response = client.post("/predict", json={"texts": texts})
            row = expected.head(5)
        else:
            rows = pd.read_csv(data).head(5)
            records = rows.astype(object).where(rows.notna(), None).to_dict("records")
            response = client.post("/predict", json={"rows": records})
            row = expected.head(5)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert predictions
    if row is not None and len(row):
        got = [str(p["prediction"]) for p in predictions]
        assert got == row["prediction"].astype(str).tolist()[: len(got)]


def test_train_says_what_to_install() -> None:
    result = learnt("train", "data.csv", "--label", "y")
    assert result.returncode == 2
    assert "learnt[train]" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
