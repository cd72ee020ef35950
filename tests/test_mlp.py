"""The table family: sizing, the ensemble of members sharing one MLP, and its export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import learnt
from learnt.runtime.format import MLPConfig
from learnt.training.families.mlp import MEMBERS, TabularMLP, average_members, size_mlp
from learnt.training.loop import training_loss


def config(members: int, outputs: int) -> MLPConfig:
    return MLPConfig(
        width=16,
        depth=2,
        n_numeric=3,
        cardinalities=[4],
        embedding_dims=[2],
        n_outputs=outputs,
        members=members,
    )


def inputs(rows: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    numeric = torch.randn(rows, 3, generator=generator)
    categorical = torch.randint(0, 4, (rows, 1), generator=generator)
    return numeric, categorical


def test_small_tables_get_an_ensemble_and_large_ones_a_single_mlp() -> None:
    assert size_mlp(891, 5, [3], 2).members == MEMBERS
    assert size_mlp(50_000, 5, [3], 2).members == 1


def test_members_train_on_their_own_outputs_and_predict_together() -> None:
    torch.manual_seed(0)
    model = TabularMLP(config(members=4, outputs=3).model_copy(update={"dropout": 0.0}))
    each = model.train()(*inputs())  # without dropout, training mode differs only in the shape
    together = model.eval()(*inputs())
    assert each.shape == (5, 4, 3) and together.shape == (5, 3)
    torch.testing.assert_close(torch.softmax(together, 1), torch.softmax(each, 2).mean(1))
    assert not torch.allclose(each[:, 0], each[:, 1])  # the members differ


def test_averaging_members_gives_the_mean_value_or_the_log_of_the_mean_probability() -> None:
    values = torch.tensor([[[1.0], [3.0]]])  # [B=1, M=2, 1]
    torch.testing.assert_close(average_members(values), torch.tensor([[2.0]]))
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
    expected = (torch.softmax(logits[0, 0], 0) + torch.softmax(logits[0, 1], 0)) / 2
    torch.testing.assert_close(torch.softmax(average_members(logits), 1)[0], expected)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_each_member_has_its_own_loss(task: str) -> None:
    loss = training_loss(task)  # type: ignore[arg-type]
    outputs = torch.randn(6, 3, 2 if task == "classification" else 1)
    targets = torch.tensor([0, 1, 1, 0, 1, 0]) if task == "classification" else torch.randn(6)
    per_member = [loss(outputs[:, m], targets) for m in range(3)]
    torch.testing.assert_close(loss(outputs, targets), torch.stack(per_member).mean())


def test_an_ensemble_regression_program_agrees_between_runtimes(
    tmp_path: Path, diabetes: pd.DataFrame
) -> None:
    from learnt.training.torch_runtime import torch_runner

    program = learnt.train(diabetes, label="target", epochs=3, out=tmp_path)
    assert program.manifest.architecture.members == MEMBERS
    onnx = program.predict(diabetes)["prediction"].to_numpy()
    torch_side = program.predict(diabetes, runner=torch_runner)["prediction"].to_numpy()
    np.testing.assert_allclose(onnx, torch_side, rtol=1e-5, atol=1e-5 * np.abs(onnx).max())
