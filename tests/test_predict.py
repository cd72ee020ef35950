"""Prediction: the ONNX runtime needs no torch, agrees with the torch runtime, keeps rows in order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import learnt

from .conftest import TITANIC

NO_TORCH = """
import sys
import learnt
from learnt.data.tables import read_table
from learnt.runtime.predict import predict_table
program = learnt.load(sys.argv[1])
columns = predict_table(program, read_table(sys.argv[2]))
assert len(columns["prediction"]) == 891
heavy = sorted(m for m in ("torch", "pandas", "sklearn", "safetensors") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_the_onnx_runtime_imports_neither_torch_nor_pandas(titanic_program: learnt.Program) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(titanic_program.path), str(TITANIC)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "none"


def test_onnx_and_torch_runtimes_agree(
    titanic_program: learnt.Program, titanic: pd.DataFrame
) -> None:
    from learnt.training.torch_runtime import torch_runner

    onnx = titanic_program.predict(titanic)
    torch = titanic_program.predict(titanic, runner=torch_runner)
    assert (onnx["prediction"] == torch["prediction"]).all()
    np.testing.assert_allclose(
        onnx[["proba_0", "proba_1"]], torch[["proba_0", "proba_1"]], atol=1e-5
    )


def test_predictions_keep_row_order_and_count(
    titanic_program: learnt.Program, titanic: pd.DataFrame
) -> None:
    forward = titanic_program.predict(titanic)
    shuffled = titanic.sample(frac=1.0, random_state=0)
    backward = titanic_program.predict(shuffled)
    assert len(forward) == len(titanic)
    np.testing.assert_allclose(
        backward["proba_1"].to_numpy(), forward["proba_1"].to_numpy()[shuffled.index], atol=1e-6
    )
    single = titanic_program.predict(titanic.iloc[[5]])
    np.testing.assert_allclose(
        single["proba_1"].to_numpy(), forward["proba_1"].to_numpy()[[5]], atol=1e-6
    )


def test_probabilities_are_a_distribution(
    titanic_program: learnt.Program, titanic: pd.DataFrame
) -> None:
    predictions = titanic_program.predict(titanic)
    np.testing.assert_allclose(predictions[["proba_0", "proba_1"]].sum(axis=1), 1.0, atol=1e-9)
    assert set(predictions["prediction"]) <= {0, 1}


def test_extra_and_label_columns_are_ignored_and_unseen_categories_are_fine(
    titanic_program: learnt.Program, titanic: pd.DataFrame
) -> None:
    changed = titanic.drop(columns=["survived", "name"]).assign(extra=1, embarked="Atlantis")
    predictions = titanic_program.predict(changed)
    assert len(predictions) == len(titanic)
    assert predictions["proba_1"].between(0, 1).all()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_file_format_gives_the_same_predictions(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path, suffix: str
) -> None:
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        titanic.to_csv(path, index=False)
    elif suffix == ".jsonl":
        titanic.to_json(path, orient="records", lines=True)
    else:
        titanic.to_parquet(path)
    expected = titanic_program.predict(titanic)
    np.testing.assert_allclose(
        titanic_program.predict(path)["proba_1"], expected["proba_1"], atol=1e-6
    )


WALK_RUNTIME = """
import importlib, pkgutil, sys
import learnt, learnt.data, learnt.runtime
names = ["learnt.cli", "learnt.console", "learnt.errors", "learnt.kinds", "learnt.settings"]
for package in (learnt.data, learnt.runtime):
    names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("learnt.training"))
print(len(names), ",".join(heavy) or "none")
"""


def test_every_runtime_module_imports_without_torch_or_the_training_side() -> None:
    """The lint rule (TID253) keeps module-level imports out; this checks what they pull in."""
    result = subprocess.run(
        [sys.executable, "-c", WALK_RUNTIME], capture_output=True, text=True, check=True
    )
    count, heavy = result.stdout.split()
    assert int(count) >= 14
    assert heavy == "none"
