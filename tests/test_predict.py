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
from learnt.predict import predict_table
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
    onnx = titanic_program.predict(titanic, runtime="onnx")
    torch = titanic_program.predict(titanic, runtime="torch")
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


TRAINING_MODULES = {
    "learnt.lifecycle",
    "learnt.loop",
    "learnt.parameters",
    "learnt.freeze",
    "learnt.prepare",
    "learnt.augment",
    "learnt.architectures.mlp",
    "learnt.architectures.cnn",
    "learnt.architectures.transformer",
}
RUNTIME_MODULES = [
    "program.py",
    "predict.py",
    "evaluate.py",
    "errors.py",
    "console.py",
    "cli.py",
    "data",
]


def test_runtime_modules_never_import_torch_at_module_level() -> None:
    import ast
    from pathlib import Path

    root = Path(learnt.__file__).parent
    files = [
        p
        for name in RUNTIME_MODULES
        for p in ([root / name] if name.endswith(".py") else (root / name).glob("*.py"))
    ]
    for path in files:
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            heavy = [
                n
                for n in names
                if n.split(".")[0] in ("torch", "safetensors", "learnt.lifecycle", "learnt.loop")
            ]
            assert not heavy, f"{path.name} imports {heavy} at module level"
