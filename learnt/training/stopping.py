"""Step 5 (when to stop): every stop criterion, decided in one place that returns a reason.

The loop asks `criteria.after_step(state)` after each optimiser step and
`criteria.after_epoch(state)` after each validation; the first reason returned ends training,
is printed, and is stored in the program. Reasons:

    max_epochs  max_steps  target_loss  target_accuracy  patience  time_budget  interrupted  non_finite
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from learnt.training.state import TrainState

StopReason = Literal[
    "max_epochs",
    "max_steps",
    "target_loss",
    "target_accuracy",
    "patience",
    "time_budget",
    "interrupted",
    "non_finite",
]

EXPLANATIONS: dict[str, str] = {
    "max_epochs": "reached the maximum number of epochs",
    "max_steps": "reached the maximum number of steps",
    "target_loss": "validation loss reached the target",
    "target_accuracy": "validation accuracy reached the target",
    "patience": "validation loss stopped improving",
    "time_budget": "the time budget ran out",
    "interrupted": "interrupted (Ctrl-C); kept the best parameters so far",
    "non_finite": "the loss became NaN or infinite; kept the best parameters so far",
}


@dataclass(frozen=True)
class StopCriteria:
    max_epochs: int
    max_steps: int | None = None
    target_loss: float | None = None
    target_accuracy: float | None = None
    patience: int | None = None
    time_budget: float | None = None  # seconds

    def after_step(self, state: TrainState) -> StopReason | None:
        if not math.isfinite(state.last_loss):
            return "non_finite"
        if state.interrupted:
            return "interrupted"
        if self.max_steps is not None and state.step >= self.max_steps:
            return "max_steps"
        if self.time_budget is not None and state.elapsed() >= self.time_budget:
            return "time_budget"
        return None

    def after_epoch(self, state: TrainState) -> StopReason | None:
        if (
            self.target_loss is not None
            and state.val_loss is not None
            and state.val_loss <= self.target_loss
        ):
            return "target_loss"
        if (
            self.target_accuracy is not None
            and state.val_accuracy is not None
            and state.val_accuracy >= self.target_accuracy
        ):
            return "target_accuracy"
        if (
            self.patience is not None
            and state.val_loss is not None
            and state.epoch - state.best_epoch >= self.patience
        ):
            return "patience"
        if state.epoch >= self.max_epochs:
            return "max_epochs"
        if self.time_budget is not None and state.elapsed() >= self.time_budget:
            return "time_budget"
        return None
