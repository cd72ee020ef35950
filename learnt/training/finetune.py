"""Fine-tuning a pretrained backbone so that it fits a CPU: the head first, then the whole network.

    learnt train photos/ --init efficientnet-lite0

1. **head** — the backbone frozen: its features for every training and validation row are computed
   once (eval mode, no augmentation) and cached; only the head trains, on the cached features, with
   the run's settings and stop criteria. Seconds, not minutes.
2. **whole** — then the whole network from there, for up to `WHOLE_EPOCHS` epochs at a tenth of the
   learning rate, falling by `LAYER_DECAY` per layer group from the head down to the embeddings or
   stem (early layers hold general features and move least) — when the time allows: the feature
   pass of phase 1 is timed, an epoch of the whole network is estimated at three times a forward
   pass, and the phase runs only if it fits the time left of `--time-budget` (default
   `WHOLE_SECONDS`). It keeps the head phase's parameters unless it beats them on validation loss.

A stop in phase 1 by Ctrl-C, a target or a NaN loss ends the run there; every stop criterion holds
in phase 2 as well.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from learnt.console import say, step
from learnt.training.hooks import Hooks
from learnt.training.loop import LoopData, LoopSettings, fit
from learnt.training.state import LoopState, TrainState

WHOLE_EPOCHS = 3
WHOLE_LEARNING_RATE_FACTOR = 0.1
LAYER_DECAY = 0.8
WHOLE_SECONDS = 600.0  # the whole phase's time when there is no --time-budget
WHOLE_BATCH = 32
FEATURE_CHUNK = 256
FINAL_STOPS = ("interrupted", "non_finite", "target_loss", "target_accuracy")


class Head(nn.Module):
    """The network's dropout and head, trained alone on cached features; shares their parameters."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.dropout, self.head = model.dropout, model.head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))


@dataclass
class Phases:
    """What ran: each phase's state, and why the whole phase ran or not."""

    head: TrainState
    whole: TrainState | None
    reason: str

    @property
    def names(self) -> list[str]:
        return ["head", "whole"] if self.whole is not None else ["head"]

    def combined(self) -> TrainState:
        """One state for the program's provenance: counts summed, the last phase's outcome."""
        last = self.whole or self.head
        if self.whole is None:
            return last
        return dataclasses.replace(
            last,
            epoch=self.head.epoch + last.epoch,
            step=self.head.step + last.step,
            best_epoch=self.head.epoch + last.best_epoch
            if last.best_epoch
            else self.head.best_epoch,
            seconds=self.head.elapsed() + last.elapsed(),
            clock=time.perf_counter(),
            epoch_seconds=self.head.epoch_seconds + last.epoch_seconds,
        )


def describe_phases(settings: LoopSettings) -> str:
    budget = settings.criteria.time_budget
    fits = f"the {budget:g} s budget" if budget else f"{WHOLE_SECONDS:.0f} s"
    return (
        "phases: head on cached features (backbone frozen), then the whole network for up to "
        f"{WHOLE_EPOCHS} epochs at lr × {WHOLE_LEARNING_RATE_FACTOR:g} falling × {LAYER_DECAY:g} "
        f"per layer if it fits {fits} (estimated from the feature pass)"
    )


def fine_tune(
    model: nn.Module,
    train: LoopData,
    validation: LoopData,
    settings: LoopSettings,
    hooks_for: Callable[[str, LoopSettings, int], Hooks],
) -> Phases:
    """Phase 1 on cached features, then phase 2 when it fits; `model` ends with the best."""
    started = time.perf_counter()
    cached_train, seconds = cached_features(model, train)
    cached_validation, _ = cached_features(model, validation)
    per_row = seconds / max(len(train), 1)
    say(
        step(
            "features",
            f"{len(train):,} + {len(validation):,} rows through the frozen backbone "
            f"once: {len(train) / max(seconds, 1e-9):,.0f} rows/s",
        )
    )

    head = Head(model)
    head_settings = within_budget(settings, time.perf_counter() - started)
    head_loop = LoopState.start(head, head_settings, len(cached_train))
    head_state = fit(
        head_loop,
        cached_train,
        cached_validation,
        hooks_for("head", head_settings, len(cached_train)),
    )
    if head_state.stop_reason in FINAL_STOPS:
        return Phases(head_state, None, f"stopped in the head phase ({head_state.stop_reason})")

    spent = time.perf_counter() - started
    whole_settings, reason = plan_whole(settings, per_row, len(train), spent, head_state.step)
    say(step("whole", reason))
    if whole_settings is None:
        return Phases(head_state, None, reason)
    model.keep_norm_statistics = True  # BatchNorm keeps the backbone's statistics (small batches)
    loop = LoopState.start(
        model, whole_settings, len(train), layer_learning_rates(model, whole_settings)
    )
    loop.state.best_val_loss = head_state.best_val_loss  # to beat, or the head phase's stays
    loop.state.best_epoch = 0
    whole_state = fit(loop, train, validation, hooks_for("whole", whole_settings, len(train)))
    return Phases(head_state, whole_state, reason)


def within_budget(settings: LoopSettings, spent: float) -> LoopSettings:
    """`settings` with the time budget less the seconds already `spent` (at least a moment)."""
    budget = settings.criteria.time_budget
    if budget is None:
        return settings
    left = max(budget - spent, 1e-3)
    return dataclasses.replace(
        settings, criteria=dataclasses.replace(settings.criteria, time_budget=left)
    )


@torch.inference_mode()
def cached_features(model: nn.Module, data: LoopData) -> tuple[LoopData, float]:
    """The backbone's features of every row of `data` (in its order), and the seconds it took.

    Texts go through in order of length, so that a chunk is padded only to its own longest text.
    """
    model.eval()
    started = time.perf_counter()
    rows = data.rows if data.rows is not None else torch.arange(len(data))
    order = torch.argsort(data.lengths[rows], stable=True) if data.lengths is not None else None
    ordered = rows[order] if order is not None else rows
    features = [
        model.features(*data.batch(ordered[start : start + FEATURE_CHUNK])[0])  # [chunk, F]
        for start in range(0, len(ordered), FEATURE_CHUNK)
    ]
    seconds = time.perf_counter() - started
    width = model.head.in_features
    stacked = torch.cat(features) if features else torch.zeros(0, width)
    if order is not None:
        stacked = stacked[torch.argsort(order)]  # back to the rows' own order
    return LoopData((stacked,), data.targets[rows], device=data.device), seconds


def plan_whole(
    settings: LoopSettings, seconds_per_row: float, rows: int, spent: float, head_steps: int
) -> tuple[LoopSettings | None, str]:
    """The whole phase's settings, or None — with the reason, printed on the plan."""
    criteria = settings.criteria
    budget = criteria.time_budget
    left = (budget - spent) if budget is not None else WHOLE_SECONDS
    epoch_seconds = 3 * seconds_per_row * rows
    epochs = min(WHOLE_EPOCHS, criteria.max_epochs, int(left // max(epoch_seconds, 1e-9)))
    steps_left = None if criteria.max_steps is None else criteria.max_steps - head_steps
    if steps_left is not None and steps_left < 1:
        return None, f"skipped: --max-steps {criteria.max_steps} taken by the head phase"
    if epochs < 1:
        return None, (
            f"skipped: an epoch of the whole network would take about {epoch_seconds:.0f} s, "
            f"more than the {left:.0f} s left"
        )
    criteria = dataclasses.replace(
        criteria,
        max_epochs=epochs,
        max_steps=steps_left,
        time_budget=left if budget is not None else None,
    )
    whole = dataclasses.replace(
        settings,
        batch_size=min(settings.batch_size, WHOLE_BATCH),
        learning_rate=settings.learning_rate * WHOLE_LEARNING_RATE_FACTOR,
        criteria=criteria,
    )
    return whole, (
        f"{epochs} epoch{'s' if epochs > 1 else ''} of the whole network, about "
        f"{epoch_seconds:.0f} s each (estimated), lr {whole.learning_rate:g} at the head"
    )


def layer_learning_rates(model: nn.Module, settings: LoopSettings) -> list[dict[str, Any]]:
    """AdamW parameter groups: the head at the learning rate, each group below × LAYER_DECAY."""
    groups = model.layer_groups()
    depth = len(groups)
    return [
        {"params": params, "lr": settings.learning_rate * LAYER_DECAY ** (depth - 1 - index)}
        for index, params in enumerate(groups)
        if params
    ]
