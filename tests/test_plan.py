"""Sizing by compute: with a fake clock and fake step times, the probe plans the expected network
and epochs; a real budget run plans, says so, and keeps to the budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import learnt
from learnt.training.families.mlp import size_mlp
from learnt.training.loop import LoopData, LoopSettings
from learnt.training.plan import MIN_EPOCHS, plan_for_budget
from learnt.training.stopping import StopCriteria

from .conftest import TITANIC

LADDER = [size_mlp(3200, 8, [], 2, depth=2, width=w) for w in (64, 256, 1024)]
STEP_SECONDS = {64: 0.01, 256: 0.1, 1024: 1.0}  # per training step, by width
TRAIN = LoopData((torch.zeros(3200, 8), torch.zeros(3200, 0, dtype=torch.int64)), torch.zeros(3200))
SETTINGS = LoopSettings("regression", 32, 1e-3, 0.0, 1.0, 0, StopCriteria(max_epochs=50))


class FakeMachine:
    """A clock that only moves when a candidate is probed: a second per probe."""

    def __init__(self) -> None:
        self.now, self.probed = 0.0, []

    def clock(self) -> float:
        return self.now

    def step_time(self, config) -> float:  # type: ignore[no-untyped-def]
        self.now += 1.0
        self.probed.append(config.width)
        return STEP_SECONDS[config.width]


def plan(budget: float) -> tuple[object, FakeMachine]:
    machine = FakeMachine()
    result = plan_for_budget(
        LADDER, TRAIN, SETTINGS, 320, budget, 0, clock=machine.clock, step_time=machine.step_time
    )
    return result, machine


def test_the_largest_network_that_fits_the_minimum_epochs_is_planned() -> None:
    result, machine = plan(600)
    # an epoch: 100 steps + 10 validation steps at a third → 103.3 × the step time
    assert result.config.width == 256
    assert result.epoch_seconds == pytest.approx(10.333, abs=0.01)
    assert result.epochs == int((600 - 3) // result.epoch_seconds)  # the probe's 3 s counted
    assert machine.probed == [64, 256, 1024]  # the largest did not fit: probing stopped there


def test_a_short_budget_plans_a_smaller_network_and_probes_less() -> None:
    result, machine = plan(100)
    assert result.config.width == 64
    assert machine.probed == [64, 256]  # 256 cannot fit 12 epochs in 100 s: no need to try 1024
    assert result.epochs >= MIN_EPOCHS


def test_a_budget_too_short_for_anything_still_trains_the_smallest() -> None:
    result, _ = plan(3)
    assert result.config.width == 64
    assert result.epochs == 1


def test_a_budget_plans_the_run_and_says_so(tmp_path: Path) -> None:
    result = learnt.train(TITANIC, label="survived", time_budget=8, out=tmp_path / "run")
    training = result.manifest.training
    assert training.seconds <= 8 + 1
    assert training.settings["time_budget"] == 8


def test_nothing_is_planned_when_the_network_or_epochs_are_given() -> None:
    from learnt.settings import make_settings
    from learnt.training.init import InitPlan
    from learnt.training.lifecycle import plans_by_compute

    random = InitPlan("random", "test")
    assert plans_by_compute(make_settings(time_budget=60), random)
    assert not plans_by_compute(make_settings(), random)
    assert not plans_by_compute(make_settings(time_budget=60, arch="mlp:2x64"), random)
    assert not plans_by_compute(make_settings(time_budget=60, epochs=5), random)
