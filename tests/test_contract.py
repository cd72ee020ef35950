"""The contract every architecture family passes (one entry per family; add yours to FAMILIES).

Builds from its config; right shapes on batches of 1 and 7; overfits 16 examples; same seed →
same weights; predictions do not depend on the order of rows; the program round trip gives the
same predictions in both runtimes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import learnt
from learnt.runtime.format import read_architecture
from learnt.training.families import build
from learnt.training.families.bag import size_bag
from learnt.training.families.cnn import size_cnn
from learnt.training.families.mlp import size_mlp
from learnt.training.families.transformer import size_transformer
from learnt.training.init import initialise
from learnt.training.loop import LoopData, LoopSettings, fit
from learnt.training.state import LoopState
from learnt.training.stopping import StopCriteria

from .conftest import write_digit_folder


@dataclass
class Family:
    name: str
    make_config: Callable[[], object]
    make_inputs: Callable[[int, torch.Generator], tuple[torch.Tensor, ...]]
    make_data: Callable[[Path], tuple[object, str | None]]


def mlp_inputs(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    numeric = torch.randn(rows, 5, generator=generator)  # [B, F]
    categorical = torch.randint(0, 4, (rows, 2), generator=generator)  # [B, C]
    return numeric, categorical


def mlp_table(tmp_path: Path) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=120), "colour": rng.choice(["red", "green", "blue"], 120)}
    )
    frame["y"] = np.where(frame["x"] + (frame["colour"] == "red") > 0.3, "yes", "no")
    return frame, "y"


def cnn_inputs(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (torch.randn(rows, 1, 16, 16, generator=generator),)  # [B, C, S, S]


def cnn_folder(tmp_path: Path) -> tuple[Path, None]:
    return write_digit_folder(tmp_path / "digits", per_class=15, classes=3), None


def transformer_inputs(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    tokens = torch.randint(4, 50, (rows, 12), generator=generator)  # [B, T]
    lengths = torch.randint(2, 13, (rows, 1), generator=generator)
    mask = (torch.arange(12) < lengths).long()  # [B, T], padding at the end
    return tokens * mask, mask


def sms_table(tmp_path: Path) -> tuple[Path, str]:
    from learnt.datasets import write_sms_spam_sample

    return write_sms_spam_sample(tmp_path / "sms.csv"), "label"


FAMILIES = [
    Family("mlp", lambda: size_mlp(100, 5, [4, 4], 3), mlp_inputs, mlp_table),
    Family("cnn", lambda: size_cnn(100, 16, 1, 3), cnn_inputs, cnn_folder),
    Family("transformer", lambda: size_transformer(100, 50, 12, 3), transformer_inputs, sms_table),
    Family("bag", lambda: size_bag(100, 50, 12, 3), transformer_inputs, sms_table),
]


@pytest.fixture(params=FAMILIES, ids=lambda f: f.name)
def family(request: pytest.FixtureRequest) -> Family:
    return request.param


def test_builds_from_its_stored_config(family: Family) -> None:
    config = family.make_config()
    stored = config.model_dump(mode="json")  # type: ignore[attr-defined]
    rebuilt = read_architecture(stored)
    assert rebuilt == config
    assert isinstance(build(rebuilt), torch.nn.Module)


@pytest.mark.parametrize("rows", [1, 7])
def test_output_shape(family: Family, rows: int) -> None:
    model = initialise(family.make_config(), seed=0).eval()  # type: ignore[arg-type]
    outputs = model(*family.make_inputs(rows, torch.Generator().manual_seed(0)))
    assert outputs.shape == (rows, 3)


def test_overfits_sixteen_examples(family: Family) -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = family.make_inputs(16, generator)
    targets = torch.randint(0, 3, (16,), generator=generator)
    data = LoopData(inputs, targets)
    model = initialise(family.make_config(), seed=0)  # type: ignore[arg-type]
    settings = LoopSettings(
        "classification", 16, 1e-2, 0.0, None, 0, StopCriteria(max_epochs=300, patience=None)
    )
    fit(LoopState.start(model, settings, len(data)), data, data)
    with torch.inference_mode():
        accuracy = (model.eval()(*inputs).argmax(1) == targets).float().mean().item()
    assert accuracy == 1.0


def test_same_seed_same_weights(family: Family) -> None:
    first = initialise(family.make_config(), seed=7).state_dict()  # type: ignore[arg-type]
    second = initialise(family.make_config(), seed=7).state_dict()  # type: ignore[arg-type]
    other = initialise(family.make_config(), seed=8).state_dict()  # type: ignore[arg-type]
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_predictions_do_not_depend_on_row_order(family: Family) -> None:
    model = initialise(family.make_config(), seed=0).eval()  # type: ignore[arg-type]
    inputs = family.make_inputs(7, torch.Generator().manual_seed(1))
    order = torch.randperm(7, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        together = model(*inputs)
        shuffled = model(*(x[order] for x in inputs))
    torch.testing.assert_close(shuffled, together[order])


def test_program_round_trip_gives_the_same_predictions(family: Family, tmp_path: Path) -> None:
    data, label = family.make_data(tmp_path)
    program = learnt.train(
        data, label=label, epochs=3, init="random", arch=family.name, out=tmp_path / "run"
    )
    assert program.manifest.architecture.family == family.name
    reloaded = learnt.load(program.path)
    expected = program.predict(data)
    pd.testing.assert_frame_equal(reloaded.predict(data), expected)
    from learnt.training.torch_runtime import torch_runner

    torch_runtime = reloaded.predict(data, runner=torch_runner)
    proba = [c for c in expected.columns if c.startswith("proba_")]
    np.testing.assert_allclose(torch_runtime[proba], expected[proba], atol=1e-5)


def test_a_wrong_architecture_is_refused_before_training(family: Family, tmp_path: Path) -> None:
    from learnt.errors import UsageError

    data, label = family.make_data(tmp_path)
    other = "cnn" if family.name != "cnn" else "mlp"
    with pytest.raises(UsageError, match=f"--arch {other}: this data needs the .*{family.name}"):
        learnt.train(data, label=label, arch=other, out=tmp_path / "run")
    assert not (tmp_path / "run" / "program").exists()
