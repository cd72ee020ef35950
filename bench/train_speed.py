"""Seconds per training epoch: learnt's loop against a hand-written in-memory PyTorch loop.

    .venv/bin/python bench/train_speed.py [--quick]

Both sides get the same encoded tensors (prepared once, as `learnt train` prepares them), the same
network (`TabularMLP`, same config, same seed), batch size, AdamW settings, warm-up + cosine
schedule, gradient clipping at 1.0, randperm shuffling and one validation pass per epoch, for a
fixed number of epochs (patience off). learnt runs `learnt.training.loop.fit` with the hooks `learnt train
--quiet` installs (progress bar, metrics.jsonl). Runs alternate (A B A B …); the figure is the
median over all timed epochs (the minimum is shown too: it is what survives when other processes
share the CPU); after two runs per side, a time budget per data set may end the alternation
early, so a busy machine cannot stretch the benchmark for long. Both sides do the same arithmetic
in the same order, so their final validation losses must agree exactly; the script says whether.

Goal: learnt ≤ 1.05 × the hand-written loop on diamonds (regression) and digits (classification).
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import (
    data_file,
    goal,
    heading,
    machine_load,
    median,
    others_watched,
    parse_args,
    require_modules,
)

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from learnt.runtime.format import MLPConfig
    from learnt.training.loop import LoopData, LoopSettings
    from learnt.training.state import TrainState

GOAL_RATIO = 1.05
MIN_ROUNDS = 2  # runs per side before the time budget may end a comparison


@dataclass
class Prepared:
    """Everything the loop needs, built once per data set."""

    name: str
    config: MLPConfig
    settings: LoopSettings
    train: LoopData
    validation: LoopData


@dataclass
class Timing:
    """One training run: seconds per epoch and the last validation loss."""

    epoch_seconds: list[float]
    final_val_loss: float


# --- data, as `learnt.training.lifecycle.run` prepares it ----------------------------------------------


def prepare(name: str, data: pd.DataFrame | Path, label: str, epochs: int) -> Prepared:
    """Read, split, encode and size exactly as `learnt train` does, with patience off."""
    from learnt.settings import make_settings
    from learnt.training.families import choose_architecture
    from learnt.training.lifecycle import make_loop_settings
    from learnt.training.prepare import prepare as prepare_data

    settings = make_settings(label=label, epochs=epochs, patience=0)
    with tempfile.TemporaryDirectory() as run_dir:
        labelled, split, prepared = prepare_data(data, settings, Path(run_dir))
    config = choose_architecture(None, prepared.data_kind, prepared.sizes)
    loop_settings = make_loop_settings(settings, labelled.task, len(split.train))
    return Prepared(name, config, loop_settings, prepared.train, prepared.validation)


def fresh_model(config: MLPConfig, seed: int) -> nn.Module:
    """The network both sides train: seeded, then built (as `learnt.training.init.initialise`)."""
    import torch

    from learnt.training.families.mlp import TabularMLP

    torch.manual_seed(seed)
    return TabularMLP(config)


# --- side A: learnt's loop ------------------------------------------------------------------


def run_learnt(prepared: Prepared) -> Timing:
    """`learnt.training.loop.fit` with the hooks `learnt train --quiet` installs, plus an epoch clock."""
    from learnt.console import set_quiet
    from learnt.training.checkpoint import CheckpointPolicy, Checkpoints
    from learnt.training.hooks import HookList, Hooks, MetricsLog, ProgressBar
    from learnt.training.loop import fit, planned_steps
    from learnt.training.state import LoopState

    class EpochClock(Hooks):
        def on_fit_start(self, state: TrainState) -> None:
            self.marks = [time.perf_counter()]

        def on_epoch_end(self, state: TrainState) -> None:
            self.marks.append(time.perf_counter())

    set_quiet(True)
    settings = prepared.settings
    model = fresh_model(prepared.config, settings.seed)
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as run_dir:
        total = planned_steps(len(prepared.train), settings)
        loop = LoopState.start(model, settings, len(prepared.train))
        saver = Checkpoints(loop, Path(run_dir) / "checkpoints", CheckpointPolicy(1000, 600, 2), {})
        hooks = HookList(
            [
                ProgressBar(total, settings.criteria.max_epochs),
                MetricsLog(Path(run_dir) / "metrics.jsonl"),
                clock,
                saver,  # checkpoints at the defaults, as `learnt train` writes them
            ]
        )
        state = fit(loop, prepared.train, prepared.validation, hooks)
    seconds = [b - a for a, b in itertools.pairwise(clock.marks)]
    return Timing(seconds, float(state.val_loss or math.nan))


# --- side B: a hand-written loop ------------------------------------------------------------


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def loss_function(task: str) -> Callable[..., torch.Tensor]:
    """Cross-entropy on logits, or mean squared error on the single regression output; an
    ensemble's outputs [B, members, …] give each member its own loss (as learnt trains them)."""
    from torch.nn import functional

    def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, **kw: Any) -> torch.Tensor:
        if outputs.dim() == 3:
            members = outputs.shape[1]
            return functional.cross_entropy(
                outputs.flatten(0, 1), targets.repeat_interleave(members), **kw
            )
        return functional.cross_entropy(outputs, targets, **kw)

    def squared_error(outputs: torch.Tensor, targets: torch.Tensor, **kw: Any) -> torch.Tensor:
        values = outputs.squeeze(-1)
        if values.dim() == 2:
            targets = targets.unsqueeze(1).expand_as(values)
        return functional.mse_loss(values, targets, **kw)

    return cross_entropy if task == "classification" else squared_error


def validation_loss(model: nn.Module, validation: LoopData, task: str) -> float:
    import torch

    model.eval()
    numeric, categorical = validation.inputs
    with torch.inference_mode():
        outputs = model(numeric, categorical)
        total = loss_function(task)(outputs, validation.targets, reduction="sum")
    return total.item() / len(validation)


def run_plain(prepared: Prepared) -> Timing:
    """The loop a person would write in a notebook, with the same settings."""
    import torch

    settings, task = prepared.settings, prepared.settings.task
    epochs, batch = settings.criteria.max_epochs, settings.batch_size
    model = fresh_model(prepared.config, settings.seed)
    numeric, categorical = prepared.train.inputs
    targets, rows = prepared.train.targets, len(prepared.train)
    loss_of = loss_function(task)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total = epochs * math.ceil(rows / batch)
    warmup = max(1, int(total * settings.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, total)
    )
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed + 2)  # dropout: the stream learnt's loop draws it from
    marks, val_loss = [time.perf_counter()], math.nan
    for _ in range(epochs):
        model.train()
        order, loss_sum = torch.randperm(rows, generator=generator), 0.0
        for start in range(0, rows, batch):
            take = order[start : start + batch]
            loss = loss_of(model(numeric[take], categorical[take]), targets[take])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            loss_sum += loss.item()  # the epoch's training loss, as any loop reports it
        val_loss = validation_loss(model, prepared.validation, task)
        marks.append(time.perf_counter())
    return Timing([b - a for a, b in itertools.pairwise(marks)], val_loss)


# --- the comparison -------------------------------------------------------------------------


def compare(prepared: Prepared, rounds: int, budget: float) -> None:
    """Alternate learnt and hand-written runs; print medians, minima and the ratio."""
    settings = prepared.settings
    heading(
        f"{prepared.name}: {len(prepared.train)} train / {len(prepared.validation)} validation "
        f"rows, {prepared.config.describe()}, batch {settings.batch_size}, "
        f"{settings.criteria.max_epochs} epochs × up to {rounds} runs per side"
    )
    run_learnt(replace_epochs(prepared, 1))  # warm-up, untimed
    run_plain(replace_epochs(prepared, 1))
    learnt_runs, plain_runs = [], []
    deadline = time.perf_counter() + budget
    with others_watched():
        while len(learnt_runs) < rounds:
            learnt_runs.append(run_learnt(prepared))
            plain_runs.append(run_plain(prepared))
            if len(learnt_runs) >= MIN_ROUNDS and time.perf_counter() > deadline:
                print(f"  stopped after {len(learnt_runs)} runs per side: {budget:.0f} s budget")
                break
    learnt_s = [s for run in learnt_runs for s in run.epoch_seconds]
    plain_s = [s for run in plain_runs for s in run.epoch_seconds]
    ratio = median(learnt_s) / median(plain_s)
    print(f"  learnt loop        {ms(median(learnt_s))} ms/epoch median  {ms(min(learnt_s))} min")
    print(f"  hand-written loop  {ms(median(plain_s))} ms/epoch median  {ms(min(plain_s))} min")
    print(
        f"  ratio learnt / hand-written: {ratio:.3f}× (median)  "
        f"{min(learnt_s) / min(plain_s):.3f}× (min)"
    )
    pairs = zip(learnt_runs, plain_runs, strict=True)
    same = all(a.final_val_loss == b.final_val_loss for a, b in pairs)
    print(
        f"  identical final validation loss: {'yes' if same else 'NO'} "
        f"({learnt_runs[0].final_val_loss:.6g} vs {plain_runs[0].final_val_loss:.6g})"
    )
    goal(
        f"{prepared.name}: learnt loop ≤ {GOAL_RATIO}× hand-written (got {ratio:.3f}×)",
        ratio <= GOAL_RATIO,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def replace_epochs(prepared: Prepared, epochs: int) -> Prepared:
    """The same data and settings with a different fixed number of epochs."""
    criteria = replace(prepared.settings.criteria, max_epochs=epochs)
    return replace(prepared, settings=replace(prepared.settings, criteria=criteria))


def digits_frame() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    require_modules("torch", "sklearn")
    import torch

    from learnt.console import set_quiet

    set_quiet(True)
    rounds, budget = (3, 30.0) if args.quick else (8, 120.0)  # budget: seconds per data set
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    machine_load()
    diamonds_epochs, digits_epochs = (2, 10) if args.quick else (5, 20)
    limits = (rounds, budget)
    diamonds = data_file("diamonds.csv")
    if diamonds is not None:
        compare(
            prepare("diamonds (price, regression)", diamonds, "price", diamonds_epochs), *limits
        )
    compare(
        prepare("digits (target, classification)", digits_frame(), "target", digits_epochs), *limits
    )


if __name__ == "__main__":
    main()
