"""The loop: parity with a plain PyTorch loop, every stop criterion, hook order, best epoch."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from learnt.training.families.mlp import size_mlp
from learnt.training.hooks import Hooks
from learnt.training.init import initialise
from learnt.training.loop import LoopData, LoopSettings, fit
from learnt.training.state import LoopState, TrainState
from learnt.training.stopping import StopCriteria


def digits_data() -> tuple[LoopData, LoopData]:
    digits = load_digits()
    numeric = torch.tensor((digits.data - 8) / 8, dtype=torch.float32)
    categorical = torch.zeros((len(numeric), 0), dtype=torch.int64)
    targets = torch.tensor(digits.target, dtype=torch.int64)
    train, validation = slice(0, 1400), slice(1400, None)
    return (
        LoopData((numeric[train], categorical[train]), targets[train]),
        LoopData((numeric[validation], categorical[validation]), targets[validation]),
    )


def settings(**criteria: float | int | None) -> LoopSettings:
    learning_rate = criteria.pop("learning_rate", 1e-3)
    task = criteria.pop("task", "classification")
    return LoopSettings(
        task=task,  # type: ignore[arg-type]
        batch_size=64,
        learning_rate=learning_rate,  # type: ignore[arg-type]
        weight_decay=1e-4,
        grad_clip=1.0,
        seed=0,
        criteria=StopCriteria(**{"max_epochs": 50, **criteria}),  # type: ignore[arg-type]
    )


def digits_model(seed: int = 0) -> nn.Module:
    return initialise(size_mlp(1400, 64, [], 10), seed)


def fit_fresh(
    model: nn.Module,
    train: LoopData,
    validation: LoopData,
    settings: LoopSettings,
    hooks: Hooks | None = None,
) -> TrainState:
    """`fit` from a fresh loop state, as `learnt train` runs it."""
    return fit(LoopState.start(model, settings, len(train)), train, validation, hooks)


def test_fit_matches_a_plain_pytorch_loop_step_for_step() -> None:
    train, _ = digits_data()
    empty = LoopData(tuple(x[:0] for x in train.inputs), train.targets[:0])
    steps = 30
    ours = digits_model()
    fit_fresh(ours, train, empty, settings(max_steps=steps))

    reference = digits_model()
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-3, weight_decay=1e-4)
    total = min(50 * math.ceil(len(train) / 64), steps)
    warmup = max(1, int(total * 0.03))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warmup) / max(1, total - warmup))))
        ),
    )
    generator = torch.Generator().manual_seed(0)  # batch order: the seed
    # dropout draws from torch's default generator, which `fit` sets to the dropout stream: seed + 2
    torch.manual_seed(0 + 2)
    numeric, categorical = train.inputs
    taken = 0
    while taken < steps:
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), 64):
            rows = order[start : start + 64]
            outputs = reference(numeric[rows], categorical[rows])  # [B, members, classes]
            loss = nn.functional.cross_entropy(
                outputs.flatten(0, 1), train.targets[rows].repeat_interleave(outputs.shape[1])
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            taken += 1
            if taken == steps:
                break

    for (name, mine), theirs in zip(
        ours.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs), name


@pytest.mark.parametrize(
    ("criteria", "reason"),
    [
        ({"max_epochs": 2}, "max_epochs"),
        ({"max_steps": 5}, "max_steps"),
        ({"target_accuracy": 0.5}, "target_accuracy"),
        ({"target_loss": 10.0}, "target_loss"),
        ({"patience": 1, "learning_rate": 1e-12}, "patience"),
        ({"time_budget": 1e-9}, "time_budget"),
    ],
)
def test_each_stop_criterion_stops_with_its_reason(criteria: dict, reason: str) -> None:
    train, validation = digits_data()
    state = fit_fresh(digits_model(), train, validation, settings(**criteria))
    assert state.stop_reason == reason
    if reason == "max_epochs":
        assert state.epoch == 2
    if reason == "max_steps":
        assert state.step == 5
    if reason == "time_budget":
        assert state.step == 1


def test_non_finite_loss_stops_and_keeps_the_initial_parameters() -> None:
    train, validation = digits_data()
    nan_targets = LoopData(train.inputs, torch.full((len(train),), float("nan")))
    val = LoopData(validation.inputs, torch.zeros(len(validation)))
    model = initialise(size_mlp(1400, 64, [], 1), 0)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    state = fit_fresh(model, nan_targets, val, settings(task="regression"))
    assert state.stop_reason == "non_finite"
    assert state.step == 1
    assert all(torch.equal(initial[k], v) for k, v in model.state_dict().items())


class InterruptAt(Hooks):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, state: TrainState) -> None:
        if state.step == self.step:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_stops_cleanly_with_the_best_parameters() -> None:
    train, validation = digits_data()
    model = digits_model()
    state = fit_fresh(model, train, validation, settings(), InterruptAt(30))
    assert state.stop_reason == "interrupted"
    assert state.step == 31  # pressed during step 30's hooks: taken with step 31's outcome
    assert all(torch.equal(state.best_weights[k], v) for k, v in model.state_dict().items())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class Recorder(Hooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattribute__(self, name: str):  # type: ignore[no-untyped-def]
        if name.startswith("on_"):
            return lambda state: self.events.append(name)
        return super().__getattribute__(name)


def test_hooks_are_called_in_the_documented_order() -> None:
    train, validation = digits_data()
    small = LoopData(tuple(x[:128] for x in train.inputs), train.targets[:128])
    recorder = Recorder()
    fit_fresh(digits_model(), small, validation, settings(max_epochs=2), recorder)
    epoch = ["on_epoch_start", "on_batch_end", "on_batch_end", "on_validation_end", "on_epoch_end"]
    assert recorder.events == ["on_fit_start", *epoch, *epoch, "on_fit_end"]


def test_the_best_epoch_is_restored() -> None:
    train, validation = digits_data()
    model = digits_model()
    state = fit_fresh(model, train, validation, settings(max_epochs=6, learning_rate=0.05))
    assert 1 <= state.best_epoch <= state.epoch
    assert all(torch.equal(state.best_weights[k], v) for k, v in model.state_dict().items())
    assert state.best_val_loss == min(state.best_val_loss, state.val_loss or math.inf)


def test_training_learns_digits() -> None:
    train, validation = digits_data()
    state = fit_fresh(digits_model(), train, validation, settings(max_epochs=15))
    assert state.val_accuracy is not None and state.val_accuracy > 0.85
    assert np.isfinite(state.best_val_loss)
