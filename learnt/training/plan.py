"""Step 1 by compute: with a time budget, a short measured probe sizes the network and its epochs.

    learnt train photos/ --time-budget 600
      plan  cpu, 2 threads, 600 s budget, 48,000 images → cnn 2×2 (32-64-128), 14 epochs of ~38 s

Without `--time-budget` the data-only rule of each family stands. With one (and a network trained
from random parameters, no `--arch`, no `--epochs`), each candidate of the family's ladder — small
to large — is built and timed for a few real training steps (forward, backward, AdamW) on real
batches; an epoch is estimated as its steps plus a validation pass (a forward costs about a third of
a step). The plan is the largest candidate that still fits `MIN_EPOCHS` epochs into the budget left
after the probe, trained for as many epochs as fit (at most `MAX_EPOCHS`): the learning-rate
schedule is then planned for the budget and ends when it ends, instead of being cut off. The probe
stops early once a candidate cannot fit, and its time is counted in the budget.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from learnt.console import escape
from learnt.runtime.format import Architecture
from learnt.training.init import initialise
from learnt.training.loop import LoopData, LoopSettings, training_loss

MIN_EPOCHS = 12
MAX_EPOCHS = 200
PROBE_STEPS, WARMUP_STEPS = 5, 2
PROBE_SHARE = 0.15  # of the budget, at most, spent probing
VALIDATION_COST = 1 / 3  # a forward pass, relative to a training step


@dataclass(frozen=True)
class Probe:
    config: Architecture
    step_seconds: float
    epoch_seconds: float


@dataclass(frozen=True)
class BudgetPlan:
    config: Architecture
    epochs: int
    epoch_seconds: float
    probes: tuple[Probe, ...]
    probe_seconds: float
    budget: float

    def describe(self, rows: int, noun: str) -> str:
        threads = torch.get_num_threads()
        tried = ", ".join(p.config.describe().split(" (")[0] for p in self.probes)
        return escape(
            f"cpu, {threads} thread{'s' if threads != 1 else ''}, {self.budget:g} s budget, "
            f"{rows:,} {noun} → {self.config.describe()}, {self.epochs} epochs of "
            f"~{duration(self.epoch_seconds)} (probed {tried} in {self.probe_seconds:.1f} s)"
        )


def plan_for_budget(
    ladder: Sequence[Architecture],
    train: LoopData,
    settings: LoopSettings,
    validation_rows: int,
    budget: float,
    seed: int,
    clock: Callable[[], float] = time.perf_counter,
    step_time: Callable[[Architecture], float] | None = None,
    ranks: int = 1,
) -> BudgetPlan:
    """The largest network of `ladder` (small to large) that fits MIN_EPOCHS into `budget`.

    `step_time` measures one candidate's seconds per training step (by default: real steps on
    `train`); tests hand in a fake one, and a fake `clock`. With several `ranks` (rank 0 probes
    alone), a step is timed on one rank's share of the batch, and validation is shared out too;
    the gradients' all-reduce is not timed.
    """
    share = dataclasses.replace(settings, batch_size=math.ceil(settings.batch_size / ranks))
    measure = step_time or (lambda config: measured_step_seconds(config, train, share, seed))
    started = clock()
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    validation_steps = math.ceil(validation_rows / ranks / settings.batch_size)
    probes: list[Probe] = []
    for config in ladder:
        step = measure(config)
        epoch = step * (steps_per_epoch + VALIDATION_COST * validation_steps)
        probes.append(Probe(config, step, epoch))
        left = budget - (clock() - started)
        if left < MIN_EPOCHS * epoch or clock() - started > PROBE_SHARE * budget:
            break
    spent = clock() - started
    left = max(budget - spent, 0.0)
    fitting = [p for p in probes if MIN_EPOCHS * p.epoch_seconds <= left]
    chosen = fitting[-1] if fitting else probes[0]
    epochs = int(min(MAX_EPOCHS, max(1, left // max(chosen.epoch_seconds, 1e-9))))
    return BudgetPlan(chosen.config, epochs, chosen.epoch_seconds, tuple(probes), spent, budget)


def measured_step_seconds(
    config: Architecture, train: LoopData, settings: LoopSettings, seed: int
) -> float:
    """Seconds per training step of `config`: warm-up steps, then the median of a few timed ones
    (the first steps of a new network are slower than the rest: allocation, caches)."""
    model = initialise(config, seed).to(train.device or "cpu")
    if next(iter(train.inputs)).dim() == 4:  # images train channels-last, as the loop runs them
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    loss_function = training_loss(settings.task)
    generator = torch.Generator().manual_seed(seed)
    batches = train.plan(settings.batch_size, generator)
    timings = []
    for index in range(WARMUP_STEPS + PROBE_STEPS):
        rows = batches[index % len(batches)]
        started = time.perf_counter()
        inputs, targets = train.batch(rows, generator)
        loss = loss_function(model(*inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if train.device is not None and train.device.type == "cuda":
            torch.cuda.synchronize(train.device)  # the step has run, not only been queued
        if index >= WARMUP_STEPS:
            timings.append(time.perf_counter() - started)
    return sorted(timings)[len(timings) // 2]


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"
