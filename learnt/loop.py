"""Step 5: the training loop.

forward → loss → backward → clip → step → schedule → hooks → stop? — once per batch; validation,
best-parameter keeping and the epoch-level stop decision once per epoch. Everything the loop knows
lives in `TrainState`, everything it may be told in `LoopSettings`, and everything that watches it
(progress bar, metrics log) is a `Hooks` object called at six named events.

The loop works on any `nn.Module` taking the tensors of `LoopData.inputs`, so other families and a
DDP wrapper can reuse it unchanged.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from learnt.stopping import StopCriteria, StopReason

Task = Literal["classification", "regression"]


Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs, targets)
Transform = Callable[[tuple[torch.Tensor, ...], bool], tuple[torch.Tensor, ...]]


@dataclass
class LoopData:
    """Tensors held in memory (or memory-mapped): the inputs a model takes, and targets.

    `rows` selects this part's rows from shared tensors (an image store is not copied per split);
    `transform(inputs, training)` runs on each batch — augmentation and normalisation of images.
    """

    inputs: tuple[torch.Tensor, ...]
    targets: torch.Tensor
    rows: torch.Tensor | None = None
    transform: Transform | None = None
    chunk_rows: int = 8192  # rows per evaluation chunk
    lengths: torch.Tensor | None = None  # text: tokens per row, to batch texts of similar length

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.targets)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Shuffled mini-batches: one permutation per epoch, one gather per batch, no Python per row."""
        order = torch.randperm(len(self), generator=generator)
        if self.rows is not None:
            order = self.rows[order]
        groups = (
            order.split(batch_size)
            if self.lengths is None
            else self._buckets(order, batch_size, generator)
        )
        for rows in groups:
            yield self._batch(rows, training=True)

    def _buckets(
        self, order: torch.Tensor, batch_size: int, generator: torch.Generator
    ) -> list[torch.Tensor]:
        """Batches of similar lengths (sorted within pools of 50 batches), in random order."""
        assert self.lengths is not None
        pool = batch_size * 50
        groups: list[torch.Tensor] = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            groups += chunk[torch.argsort(self.lengths[chunk], stable=True)].split(batch_size)
        return [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]

    def chunks(self) -> Iterator[Batch]:
        """Consecutive rows, for evaluation."""
        size = self.chunk_rows
        for start in range(0, len(self), size):
            if self.rows is None:
                inputs = tuple(x[start : start + size] for x in self.inputs)
                targets = self.targets[start : start + size]
                yield (self.transform(inputs, False) if self.transform else inputs), targets
            else:
                yield self._batch(self.rows[start : start + size], training=False)

    def _batch(self, rows: torch.Tensor, training: bool) -> Batch:
        inputs = tuple(x[rows] for x in self.inputs)
        return (self.transform(inputs, training) if self.transform else inputs), self.targets[rows]


@dataclass(frozen=True)
class LoopSettings:
    task: Task
    batch_size: int
    learning_rate: float
    weight_decay: float
    grad_clip: float | None
    seed: int
    criteria: StopCriteria
    warmup_fraction: float = 0.03


@dataclass
class TrainState:
    """Where training stands. Plain numbers (plus the best weights), so it can be checkpointed."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimiser steps taken
    last_loss: float = 0.0
    train_loss: float | None = None  # mean over the last epoch
    val_loss: float | None = None
    val_accuracy: float | None = None
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stop_reason: StopReason | None = None
    interrupted: bool = False
    started: float = field(default_factory=time.perf_counter)
    epoch_seconds: list[float] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class Hooks:
    """The loop's events, in order. Hooks read the state; they never change the model or the loop.

    on_fit_start → (on_epoch_start → on_batch_end × batches → on_validation_end → on_epoch_end) × epochs → on_fit_end
    """

    def on_fit_start(self, state: TrainState) -> None: ...
    def on_epoch_start(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState) -> None: ...
    def on_validation_end(self, state: TrainState) -> None: ...
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_fit_end(self, state: TrainState) -> None: ...


class HookList(Hooks):
    """Several hooks, called in the order given."""

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self.hooks = list(hooks)

    def on_fit_start(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_fit_start(state)

    def on_epoch_start(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_epoch_start(state)

    def on_batch_end(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_batch_end(state)

    def on_validation_end(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_validation_end(state)

    def on_epoch_end(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_epoch_end(state)

    def on_fit_end(self, state: TrainState) -> None:
        for hook in self.hooks:
            hook.on_fit_end(state)


def fit(
    model: nn.Module,
    train: LoopData,
    validation: LoopData,
    settings: LoopSettings,
    hooks: Hooks | None = None,
) -> TrainState:
    """Train `model` in place until a stop criterion holds; leave it with the best parameters."""
    hooks = hooks or Hooks()
    criteria = settings.criteria
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total_steps = planned_steps(len(train), settings)
    scheduler = warmup_cosine(optimizer, total_steps, settings.warmup_fraction)
    loss_function = training_loss(settings.task)
    generator = torch.Generator().manual_seed(settings.seed)
    state = TrainState(best_weights=copy_weights(model))

    hooks.on_fit_start(state)
    with stop_on_interrupt(state):
        while state.stop_reason is None:
            model.train()
            epoch_started, loss_sum, batches = time.perf_counter(), 0.0, 0
            hooks.on_epoch_start(state)
            for inputs, targets in train.batches(settings.batch_size, generator):
                outputs = model(*inputs)
                loss = loss_function(outputs, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if settings.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                state.step += 1
                state.last_loss = loss.item()
                loss_sum, batches = loss_sum + state.last_loss, batches + 1
                hooks.on_batch_end(state)
                if reason := criteria.after_step(state):
                    state.stop_reason = reason
                    break
            state.epoch += 1
            state.train_loss = loss_sum / max(batches, 1)
            validate(model, validation, settings.task, state)
            hooks.on_validation_end(state)
            state.epoch_seconds.append(time.perf_counter() - epoch_started)
            state.stop_reason = state.stop_reason or criteria.after_epoch(state)
            hooks.on_epoch_end(state)
    model.load_state_dict(state.best_weights)
    hooks.on_fit_end(state)
    return state


@torch.inference_mode()
def validate(model: nn.Module, validation: LoopData, task: Task, state: TrainState) -> None:
    """Validation loss (and accuracy); keep the weights of the best epoch so far."""
    if len(validation) == 0:  # nothing to choose with: the latest parameters are the best
        state.best_epoch, state.best_weights = state.epoch, copy_weights(model)
        return
    model.eval()
    loss_sum, correct = 0.0, 0
    for inputs, targets in validation.chunks():
        outputs = model(*inputs)
        if task == "classification":
            loss_sum += nn.functional.cross_entropy(outputs, targets, reduction="sum").item()
            correct += int((outputs.argmax(1) == targets).sum())
        else:
            loss_sum += nn.functional.mse_loss(outputs.squeeze(1), targets, reduction="sum").item()
    state.val_loss = loss_sum / len(validation)
    state.val_accuracy = correct / len(validation) if task == "classification" else None
    if state.val_loss < state.best_val_loss:
        state.best_val_loss, state.best_epoch = state.val_loss, state.epoch
        state.best_weights = copy_weights(model)


def training_loss(task: Task) -> nn.Module:
    """Cross-entropy on logits [B, classes]; mean squared error on standardised values [B, 1]."""
    return nn.CrossEntropyLoss() if task == "classification" else SquaredError()


class SquaredError(nn.Module):
    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(outputs.squeeze(1), targets)  # [B, 1] → [B]


def planned_steps(rows: int, settings: LoopSettings) -> int:
    """Steps the schedule is planned for: max epochs × steps per epoch, or max steps if sooner."""
    per_epoch = math.ceil(rows / settings.batch_size)
    epochs_steps = settings.criteria.max_epochs * per_epoch
    return min(epochs_steps, settings.criteria.max_steps or epochs_steps)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first few steps, then cosine decay to zero at `total_steps`."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def copy_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@contextlib.contextmanager
def stop_on_interrupt(state: TrainState) -> Iterator[None]:
    """First Ctrl-C: finish the batch and stop cleanly (best parameters kept). Second: abort."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if state.interrupted:
            raise KeyboardInterrupt
        state.interrupted = True

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
