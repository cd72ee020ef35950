"""The frozen program: reproducible, self-describing, loadable in another process, tamper-evident."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

import learnt
from learnt.errors import ProgramError
from learnt.runtime.format import FORMAT_VERSION

from .conftest import TITANIC


def test_a_program_is_the_three_files_with_their_hashes(titanic_program: learnt.Program) -> None:
    names = sorted(p.name for p in titanic_program.path.iterdir())
    assert names == ["model.onnx", "program.json", "weights.safetensors"]
    manifest = json.loads((titanic_program.path / "program.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["files"]) == {"model.onnx", "weights.safetensors"}
    assert manifest["training"]["stop_reason"] == "max_epochs"
    assert manifest["metrics"]["n"] == 178
    assert manifest["labels"]["classes"] == [0, 1]
    assert {c["name"] for c in manifest["input_schema"]["features"]} == {
        "pclass",
        "sex",
        "age",
        "sibsp",
        "parch",
        "fare",
        "embarked",
    }


def test_no_partial_files_are_left_beside_the_program(titanic_program: learnt.Program) -> None:
    leftovers = [p.name for p in titanic_program.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_same_seed_gives_bit_identical_weights_and_predictions(
    tmp_path: Path, titanic: pd.DataFrame
) -> None:
    first = learnt.train(titanic, label="survived", epochs=2, out=tmp_path / "a")
    second = learnt.train(titanic, label="survived", epochs=2, out=tmp_path / "b")
    other_seed = learnt.train(titanic, label="survived", epochs=2, seed=1, out=tmp_path / "c")
    weights = [load_file(p.path / "weights.safetensors") for p in (first, second, other_seed)]
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(np.array_equal(weights[0][k], weights[2][k]) for k in weights[0])
    pd.testing.assert_frame_equal(first.predict(titanic), second.predict(titanic))


def test_saved_weights_load_strictly_into_a_fresh_network(titanic_program: learnt.Program) -> None:
    from learnt.training.torch_runtime import load_program_weights

    model = load_program_weights(titanic_program)  # load_state_dict(strict=True) inside
    assert not model.training


ROUND_TRIP = """
import sys, learnt
program = learnt.load(sys.argv[1])
print(program.predict(sys.argv[2]).to_json(orient="split", double_precision=15))
"""


def test_a_separate_process_loads_the_program_and_predicts_the_same(
    titanic_program: learnt.Program,
) -> None:
    here = titanic_program.predict(TITANIC)
    result = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, str(titanic_program.path), str(TITANIC)],
        capture_output=True,
        text=True,
        check=True,
    )
    there = pd.read_json(__import__("io").StringIO(result.stdout), orient="split")
    assert list(there.columns) == list(here.columns)
    assert (there["prediction"].to_numpy() == here["prediction"].to_numpy()).all()
    np.testing.assert_allclose(there["proba_1"].to_numpy(), here["proba_1"].to_numpy(), atol=1e-12)


def copy_program(program: learnt.Program, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(program.path, tmp_path / "program"))


@pytest.mark.parametrize("name", ["weights.safetensors", "model.onnx"])
def test_a_modified_file_is_refused(
    titanic_program: learnt.Program, tmp_path: Path, name: str
) -> None:
    path = copy_program(titanic_program, tmp_path)
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / name).write_bytes(bytes(data))
    with pytest.raises(ProgramError, match=f"{name}: modified since the program was written"):
        learnt.load(path)


def test_an_unknown_format_version_is_refused(
    titanic_program: learnt.Program, tmp_path: Path
) -> None:
    path = copy_program(titanic_program, tmp_path)
    manifest = json.loads((path / "program.json").read_text())
    manifest["format_version"] = 999
    (path / "program.json").write_text(json.dumps(manifest))
    with pytest.raises(ProgramError, match="format version 999 is not supported"):
        learnt.load(path)


def test_a_file_name_pointing_outside_the_program_is_refused(
    titanic_program: learnt.Program, tmp_path: Path
) -> None:
    path = copy_program(titanic_program, tmp_path)
    manifest = json.loads((path / "program.json").read_text())
    manifest["files"]["../secret"] = "0" * 64
    (path / "program.json").write_text(json.dumps(manifest))
    with pytest.raises(ProgramError, match="points outside the program"):
        learnt.load(path)


def test_loading_never_unpickles(titanic_program: learnt.Program) -> None:
    """Programs and checkpoints are safetensors + JSON; the one `torch.load` reads a backbone's
    file from its installed package, restricted to tensors (`weights_only=True`)."""
    import re

    files = list(Path(learnt.__file__).parent.rglob("*.py"))
    source = "\n".join(p.read_text() for p in files)
    assert "import pickle" not in source
    loads = [(p, m) for p in files for m in re.findall(r"torch\.load\([^)]*\)", p.read_text())]
    assert [(p.name, "weights_only=True" in m) for p, m in loads] == [("efficientnet.py", True)]
