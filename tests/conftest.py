"""Shared fixtures: small real data that a fresh clone has, and programs trained once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from learnt.console import set_quiet

DATA = Path(__file__).parent / "data"
TITANIC = DATA / "titanic.csv"


@pytest.fixture(autouse=True)
def quiet() -> None:
    set_quiet(True)


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    return pd.read_csv(TITANIC)


@pytest.fixture(scope="session")
def titanic_program(tmp_path_factory: pytest.TempPathFactory):
    """A small titanic program, trained once for the whole session (read-only for tests)."""
    import learnt

    set_quiet(True)
    run_dir = tmp_path_factory.mktemp("titanic-run")
    return learnt.train(TITANIC, label="survived", epochs=3, out=run_dir, force=True)


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame
