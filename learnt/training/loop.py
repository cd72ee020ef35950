"""Step 5: the training loop.

forward → loss → backward → clip → step → schedule → hooks → stop? — once per batch; at the end
of each epoch, validation (keeping the best parameters) and the epoch-level stop decision.
Everything the loop changes lives in one `LoopState` (model, optimiser, schedule, generators,
`TrainState`), so a stopped run can be saved and continued exactly; everything it may be told is in
`LoopSettings`; everything that watches it (progress bar, metrics log) is a `Hooks` object called at
six named events.

    loop = LoopState.start(model, settings, len(train))
    fit(loop, train, validation, hooks)      # the model ends with the best epoch's parameters

The loop works on any `nn.Module` taking the tensors of `LoopData.inputs`, so other families and a
DDP wrapper can reuse it unchanged. On several processes (`distributed.py`) the loop state's
`context` shares each global batch out between the ranks and makes them agree on when to stop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from learnt.kinds import Task
from learnt.training.distributed import Context
from learnt.training.hooks import Hooks
from learnt.training.state import LoopState, TrainState, copy_weights, drawing_dropout_from
from learnt.training.stopping import StopCriteria

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs, targets)
# (inputs, augmentation generator — None when not training) → the inputs the model takes
Transform = Callable[[tuple[torch.Tensor, ...], torch.Generator | None], tuple[torch.Tensor, ...]]


@dataclass
class LoopData:
    """Tensors held in memory (or memory-mapped): the inputs a model takes, and targets.

    `rows` selects this part's rows from shared tensors (an image store is not copied per split);
    `transform(inputs, augment)` runs on each batch — normalisation of images, and augmentation
    drawn from `augment` (the loop's generator) while training; `augment` is None otherwise.
    Batches go to `device` (a GPU) when it is given; the tensors stay in host memory.
    """

    inputs: tuple[torch.Tensor, ...]
    targets: torch.Tensor
    rows: torch.Tensor | None = None
    transform: Transform | None = None
    chunk_rows: int = 8192  # rows per evaluation chunk
    lengths: torch.Tensor | None = None  # text: tokens per row, to batch texts of similar length
    device: torch.device | None = None

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.targets)

    def plan(self, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """One epoch's batches, as row indices: one permutation, no Python per row."""
        order = torch.randperm(len(self), generator=generator)
        if self.rows is not None:
            order = self.rows[order]
        if self.lengths is None:
            return list(order.split(batch_size))
        return self._buckets(order, batch_size, generator)

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

    def batch(self, rows: torch.Tensor, augment: torch.Generator | None = None) -> Batch:
        """The inputs and targets of `rows`; `augment` is given while training (one gather)."""
        inputs = tuple(x[rows] for x in self.inputs)
        inputs = self.transform(inputs, augment) if self.transform else inputs
        return self.placed(inputs, self.targets[rows])

    def chunks(self) -> Iterator[Batch]:
        """Consecutive rows, for evaluation."""
        size = self.chunk_rows
        for start in range(0, len(self), size):
            if self.rows is None:
                inputs = tuple(x[start : start + size] for x in self.inputs)
                targets = self.targets[start : start + size]
                inputs = self.transform(inputs, None) if self.transform else inputs
                yield self.placed(inputs, targets)
            else:
                yield self.batch(self.rows[start : start + size])

    def placed(self, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor) -> Batch:
        if self.device is None:
            return inputs, targets
        return tuple(x.to(self.device) for x in inputs), targets.to(self.device)

    def part(self, span: slice) -> LoopData:
        """The rows in `span` (one rank's share of an evaluation), without copying."""
        if self.rows is not None:
            return dataclasses.replace(self, rows=self.rows[span])
        inputs = tuple(x[span] for x in self.inputs)
        return dataclasses.replace(self, inputs=inputs, targets=self.targets[span])


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

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fit(
    loop: LoopState, train: LoopData, validation: LoopData, hooks: Hooks | None = None
) -> TrainState:
    """Train from wherever `loop` stands until a stop criterion holds; keep the best parameters."""
    hooks = hooks or Hooks()
    run_until_stop(loop, train, validation, hooks)
    finish(loop, validation, hooks)
    return loop.state


def run_until_stop(loop: LoopState, train: LoopData, validation: LoopData, hooks: Hooks) -> None:
    """The loop proper. A stop between epoch ends (Ctrl-C, a step limit, the time budget, a NaN)
    leaves the epoch open, so `loop` can be saved here and continued exactly."""
    model, optimizer, scheduler, state = loop.model, loop.optimizer, loop.scheduler, loop.state
    settings, criteria, context = loop.settings, loop.settings.criteria, loop.context
    replica = context.replica(model)  # DDP on several ranks (gradients all-reduced); else the model
    loss_function = training_loss(settings.task)
    state.stop_reason, state.interrupted = None, False  # a continued run goes on
    hooks.on_fit_start(state)
    with stop_on_interrupt() as interrupt, drawing_dropout_from(loop.generators.dropout):
        while state.stop_reason is None:
            batches = epoch_batches(loop, train)  # global batches: the same on every rank
            if state.batch == 0:
                state.epoch_began = state.elapsed()
                hooks.on_epoch_start(state)
            model.train()
            for batch in batches[state.batch :]:
                rows, share = context.shard(batch)  # this rank's rows; one process: all, share 1
                context.reseed(loop.generators, settings.seed, state.step)  # ranks draw their own
                inputs, targets = train.batch(rows, loop.generators.augment)
                outputs = replica(*inputs)
                loss = loss_function(outputs, targets)  # mean over this rank's rows
                optimizer.zero_grad(set_to_none=True)
                (loss * share).backward()  # DDP averages the ranks' gradients: the batch's mean
                if settings.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                state.learning_rate = optimizer.param_groups[-1]["lr"]
                scheduler.step()
                state.step, state.batch = state.step + 1, state.batch + 1
                state.last_loss, interrupted = context.step_outcome(
                    loss.item() * share, interrupt.requested
                )  # the batch's mean loss; a Ctrl-C on any rank
                state.interrupted = interrupted  # taken here alone: the hooks (a checkpoint)
                # and the stop decision below see the same answer on every rank
                state.epoch_loss_sum += state.last_loss
                hooks.on_batch_end(state)
                if reason := context.agree(criteria.after_step(state)):  # every rank stops here
                    state.stop_reason = reason
                    break
            else:
                end_epoch(loop, validation, hooks)
                state.stop_reason = context.agree(criteria.after_epoch(state))


def finish(loop: LoopState, validation: LoopData, hooks: Hooks) -> None:
    """End the run: an epoch left open is validated too (its parameters may be the best), then
    the best parameters go back into the model."""
    if loop.state.batch > 0:
        end_epoch(loop, validation, hooks)
    hooks.on_fit_end(loop.state)
    loop.restore_best()


def epoch_batches(loop: LoopState, train: LoopData) -> list[torch.Tensor]:
    """The current epoch's batches: drawn afresh when it begins, replayed when it is continued."""
    generators = loop.generators
    if loop.state.batch == 0:
        generators.epoch_start = generators.order.get_state()
    else:
        generators.order.set_state(generators.epoch_start)
    return train.plan(loop.settings.batch_size, generators.order)


def end_epoch(loop: LoopState, validation: LoopData, hooks: Hooks) -> None:
    """Close the epoch: its mean loss, validation (and the best parameters so far), its time."""
    state = loop.state
    state.epoch += 1
    state.train_loss = state.epoch_loss_sum / max(state.batch, 1)
    state.batch, state.epoch_loss_sum = 0, 0.0
    validate(loop.model, validation, loop.settings.task, state, loop.context)
    hooks.on_validation_end(state)
    state.epoch_seconds.append(state.elapsed() - state.epoch_began)
    hooks.on_epoch_end(state)


@torch.inference_mode()
def validate(
    model: nn.Module,
    validation: LoopData,
    task: Task,
    state: TrainState,
    context: Context,
) -> None:
    """Validation loss (and accuracy); keep the weights of the best epoch so far. On several
    ranks each scores its own part of the rows, and the sums are added up."""
    if len(validation) == 0:  # nothing to choose with: the latest parameters are the best
        state.best_epoch, state.best_weights = state.epoch, copy_weights(model)
        return
    model.eval()
    context.share_buffers(model)  # rank 0's BatchNorm statistics everywhere
    loss_sum, correct = 0.0, 0
    for inputs, targets in validation.part(context.part(len(validation))).chunks():
        outputs = model(*inputs)
        if task == "classification":
            loss_sum += nn.functional.cross_entropy(outputs, targets, reduction="sum").item()
            correct += int((outputs.argmax(1) == targets).sum())
        else:
            loss_sum += nn.functional.mse_loss(outputs.squeeze(1), targets, reduction="sum").item()
    loss_sum, correct = context.sum(loss_sum, correct)
    state.val_loss = loss_sum / len(validation)
    state.val_accuracy = correct / len(validation) if task == "classification" else None
    if state.val_loss < state.best_val_loss:
        state.best_val_loss, state.best_epoch = state.val_loss, state.epoch
        state.best_weights = copy_weights(model)


def training_loss(task: Task) -> nn.Module:
    """Cross-entropy on logits [B, classes]; mean squared error on standardised values [B, 1].
    An ensemble's outputs in training, [B, members, …], train each member on its own loss."""
    return CrossEntropy() if task == "classification" else SquaredError()


class CrossEntropy(nn.Module):
    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if outputs.dim() == 3:  # [B, M, classes] → [B·M, classes]
            targets = targets.repeat_interleave(outputs.shape[1])
            outputs = outputs.flatten(0, 1)
        return nn.functional.cross_entropy(outputs, targets)


class SquaredError(nn.Module):
    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        values = outputs.squeeze(-1)  # [B, 1] → [B], or [B, M, 1] → [B, M]
        return nn.functional.mse_loss(
            values, targets.view(-1, *[1] * (values.dim() - 1)).expand_as(values)
        )


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


@dataclass
class Interrupt:
    """Whether Ctrl-C was pressed; the loop reads it once per step, after the step."""

    requested: bool = False


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[Interrupt]:
    """First Ctrl-C: finish the step, checkpoint and stop cleanly (best parameters kept).
    Second: abort."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def handle(signum: int, frame: object) -> None:
        if interrupt.requested:
            raise KeyboardInterrupt
        interrupt.requested = True

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
