"""The program format: programs written by earlier releases keep loading and predicting the same;
the architecture is typed by family; `learnt inspect` shows each family's real shape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnt
from learnt.runtime.format import CNNConfig, MLPConfig, TransformerConfig, read_architecture
from learnt.runtime.models import FormatError

RELEASES = Path(__file__).parent / "data" / "programs"
FIXTURES = sorted(RELEASES.glob("*/*/program"))


def inputs_of(program_dir: Path) -> Path | list[Path]:
    folder = program_dir.parent
    if (folder / "inputs.csv").is_file():
        return folder / "inputs.csv"
    return sorted((folder / "inputs").iterdir())


def test_there_is_a_program_of_each_family_from_each_release() -> None:
    families = {(p.parents[1].name, p.parent.name) for p in FIXTURES}
    assert {("0.1.0", "mlp"), ("0.1.0", "cnn"), ("0.1.0", "transformer")} <= families


@pytest.mark.parametrize(
    "program_dir", FIXTURES, ids=lambda p: f"{p.parents[1].name}-{p.parent.name}"
)
def test_programs_of_earlier_releases_predict_as_they_did(
    program_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnt.training.torch_runtime import torch_runner

    monkeypatch.chdir(program_dir.parent)  # image paths in expected.csv are relative to here
    expected = pd.read_csv(program_dir.parent / "expected.csv", dtype={"prediction": str})
    program = learnt.load(program_dir)
    inputs = inputs_of(program_dir)
    relative = (
        [p.relative_to(program_dir.parent) for p in inputs] if isinstance(inputs, list) else inputs
    )
    for runner in (None, torch_runner):
        got = program.predict(relative, runner=runner)
        assert got["prediction"].astype(str).tolist() == expected["prediction"].tolist()
        proba = [c for c in expected.columns if c.startswith("proba_")]
        np.testing.assert_allclose(got[proba].to_numpy(), expected[proba].to_numpy(), atol=1e-6)
        if "path" in expected:
            assert [Path(p).as_posix() for p in got["path"]] == expected["path"].tolist()


def test_the_architecture_is_a_union_discriminated_by_family() -> None:
    mlp = read_architecture(
        {
            "family": "mlp",
            "width": 64,
            "depth": 2,
            "n_numeric": 3,
            "cardinalities": [5],
            "embedding_dims": [4],
            "n_outputs": 2,
        }
    )
    assert isinstance(mlp, MLPConfig)
    cnn = {
        "family": "cnn",
        "channels": 1,
        "size": 16,
        "base_width": 8,
        "stages": 1,
        "blocks": 1,
        "n_outputs": 3,
    }
    assert isinstance(read_architecture(cnn), CNNConfig)
    with pytest.raises(FormatError, match="family"):
        read_architecture({**cnn, "family": "resnet"})
    with pytest.raises(FormatError, match="less than or equal to 16384"):
        read_architecture({**cnn, "base_width": 1_000_000})  # no terabyte allocations
    with pytest.raises(FormatError, match="vocabulary_size"):
        TransformerConfig.model_validate(
            {
                "vocabulary_size": 0,
                "max_length": 8,
                "width": 16,
                "depth": 1,
                "heads": 2,
                "n_outputs": 2,
            }
        )


@pytest.mark.parametrize(
    ("family", "shown"),
    [
        ("mlp", "mlp 2×64: 14 inputs (6 numeric + 8 from 2 embeddings) → 64 → 64 → 2 outputs"),
        ("cnn", "cnn: 1×16×16 image → stem 8 channels → 1 stage of 1 residual block (16 channels)"),
        (
            "transformer",
            "transformer 1×16: 2 heads, feed-forward 32, vocabulary 2,000, at most 58 tokens",
        ),
    ],
)
def test_inspect_shows_the_real_shape_of_each_family(family: str, shown: str) -> None:
    program = RELEASES / "0.1.0" / family / "program"
    result = subprocess.run(
        [sys.executable, "-m", "learnt", "inspect", str(program)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown in " ".join(result.stdout.split())  # results on stdout: `> info.txt` keeps them
    assert result.stderr == ""
