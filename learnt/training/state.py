"""The loop's whole state — model, optimiser, schedule, every random generator, where training
stands — and how it is saved and restored (safetensors + JSON, never pickle).

    loop = LoopState.start(model, settings, train_rows)     # a fresh run
    fit(loop, train, validation)                             # … stops: Ctrl-C, a budget, a crash
    loop.save(path)                                          # state.safetensors + state.json
    loop = LoopState.start(fresh_model, settings, train_rows); loop.load(path); fit(loop, …)

A run continued from a saved state ends with bit-identical weights to one that never stopped (on
the same machine and versions): the batch order of the current epoch is replayed from the order
generator's state when the epoch began and the batches already taken are skipped; augmentation and
dropout continue from their own generators. Tensors go to `state.safetensors`; everything else —
`TrainState`, optimiser hyper-parameters, the schedule's counters, the settings — to `state.json`,
which also records the sha256 of the tensors file so that a torn pair is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from learnt.errors import UsageError
from learnt.files import write_text_atomically
from learnt.runtime.program import sha256
from learnt.training.distributed import Context, current

if TYPE_CHECKING:
    from learnt.training.loop import LoopSettings
    from learnt.training.stopping import StopReason

STATE_TENSORS, STATE_JSON = "state.safetensors", "state.json"
STATE_VERSION = 1


@dataclass
class TrainState:
    """Where training stands: plain numbers (plus the best weights), read by hooks and criteria."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimiser steps taken
    batch: int = 0  # batches taken in the current epoch (0: the epoch has not begun)
    last_loss: float = 0.0
    epoch_loss_sum: float = 0.0  # over the batches of the current epoch
    learning_rate: float = 0.0  # of the latest step (the head's, when layers have their own)
    train_loss: float | None = None  # mean over the last completed epoch
    val_loss: float | None = None
    val_accuracy: float | None = None
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stop_reason: StopReason | None = None
    interrupted: bool = False
    seconds: float = 0.0  # training time before this process took over (a resumed run)
    epoch_began: float = 0.0  # elapsed() when the current epoch began
    epoch_seconds: list[float] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    clock: float = field(default_factory=time.perf_counter, repr=False)  # this process's start

    def elapsed(self) -> float:
        """Seconds of training, across resumptions."""
        return self.seconds + time.perf_counter() - self.clock

    def as_json(self) -> dict[str, Any]:
        """Everything but the tensors and the process clock; `seconds` brought up to now."""
        skipped = ("best_weights", "clock")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values = {k: v for k, v in values.items() if k not in skipped}
        return {**values, "seconds": self.elapsed()}  # inf and NaN are written as JSON's extensions

    @classmethod
    def from_json(cls, data: dict[str, Any], best_weights: dict[str, torch.Tensor]) -> TrainState:
        names = {f.name for f in dataclasses.fields(cls)} - {"best_weights", "clock"}
        return cls(**{k: v for k, v in data.items() if k in names}, best_weights=best_weights)


@dataclass
class Generators:
    """Every source of randomness in the loop, each its own seeded `torch.Generator`.

    `order` shuffles the batches, `augment` crops and flips images, `dropout` draws dropout masks
    (through torch's default generator while `fit` runs: see `drawing_dropout_from`).
    `epoch_start` is the order generator's state when the current epoch began.
    """

    order: torch.Generator
    augment: torch.Generator
    dropout: torch.Generator
    epoch_start: torch.Tensor

    @classmethod
    def seeded(cls, seed: int) -> Generators:
        order = torch.Generator().manual_seed(seed)
        return cls(
            order=order,
            augment=torch.Generator().manual_seed(seed + 1),
            dropout=torch.Generator().manual_seed(seed + 2),
            epoch_start=order.get_state(),
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "generator/order": self.order.get_state(),
            "generator/augment": self.augment.get_state(),
            "generator/dropout": self.dropout.get_state(),
            "generator/epoch_start": self.epoch_start.clone(),
        }

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self.order.set_state(tensors["generator/order"])
        self.augment.set_state(tensors["generator/augment"])
        self.dropout.set_state(tensors["generator/dropout"])
        self.epoch_start = tensors["generator/epoch_start"].clone()


@dataclass
class LoopState:
    """One object with everything `fit` changes: restore it, and training continues exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generators: Generators
    state: TrainState
    settings: LoopSettings
    train_rows: int  # the schedule is planned for this many training rows per epoch
    context: Context = field(default_factory=current)  # this rank among the ranks; one: rank 0

    @classmethod
    def start(
        cls,
        model: nn.Module,
        settings: LoopSettings,
        train_rows: int,
        parameter_groups: list[dict[str, Any]] | None = None,
    ) -> LoopState:
        """A fresh run: AdamW, warm-up + cosine schedule, seeded generators, step 0.

        `parameter_groups` (AdamW's: params and their own lr) give layers learning rates of their
        own; by default every parameter of `model` trains at `settings.learning_rate`.
        """
        from learnt.training.loop import planned_steps, warmup_cosine

        optimizer = torch.optim.AdamW(
            parameter_groups or model.parameters(),
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
        )
        total_steps = planned_steps(train_rows, settings)
        scheduler = warmup_cosine(optimizer, total_steps, settings.warmup_fraction)
        state = TrainState(best_weights=copy_weights(model))
        return cls(
            model,
            optimizer,
            scheduler,
            Generators.seeded(settings.seed),
            state,
            settings,
            train_rows,
        )

    def restore_best(self) -> None:
        """Put the best epoch's parameters back into the model (the ones a program keeps)."""
        self.model.load_state_dict(self.state.best_weights)

    # --- saving and restoring ---------------------------------------------------------------

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON-ready data): together, everything needed to continue exactly."""
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        tensors |= {f"best/{k}": v for k, v in self.state.best_weights.items()}
        tensors |= self.generators.tensors()
        optimizer = self.optimizer.state_dict()
        for index, values in optimizer["state"].items():
            for key, value in values.items():
                tensors[f"optimizer/{index}/{key}"] = torch.as_tensor(value)
        data = {
            "version": STATE_VERSION,
            "settings": self.settings.as_json(),
            "train_rows": self.train_rows,
            "train_state": self.state.as_json(),
            "optimizer": {
                "param_groups": optimizer["param_groups"],
                "state_keys": {str(i): sorted(v) for i, v in optimizer["state"].items()},
            },
            "scheduler": self.scheduler.state_dict(),
        }
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, data

    def load_state_dict(self, tensors: dict[str, torch.Tensor], data: dict[str, Any]) -> None:
        """Restore a `state_dict()` into this loop, built for the same settings and network."""
        if data.get("version") != STATE_VERSION:
            raise UsageError(f"saved loop state version {data.get('version')!r} is not supported")
        if data["settings"] != self.settings.as_json() or data["train_rows"] != self.train_rows:
            raise UsageError(
                "the saved loop state was made with other settings or data; it cannot be continued "
                "with these"
            )
        self.model.load_state_dict(_part(tensors, "model/"), strict=True)
        best = _part(tensors, "best/")
        optimizer_state = {
            int(index): {key: tensors[f"optimizer/{index}/{key}"] for key in keys}
            for index, keys in data["optimizer"]["state_keys"].items()
        }
        self.optimizer.load_state_dict(
            {"state": optimizer_state, "param_groups": data["optimizer"]["param_groups"]}
        )
        self.scheduler.load_state_dict(data["scheduler"])
        self.generators.restore(tensors)
        self.state = TrainState.from_json(data["train_state"], best)

    def save(self, directory: Path) -> None:
        """Write `state.safetensors` and `state.json` into `directory`, each atomically."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tensors, data = self.state_dict()
        partial = directory / f".{STATE_TENSORS}.partial"
        save_file(tensors, partial)
        data["tensors_sha256"] = sha256(partial)
        partial.replace(directory / STATE_TENSORS)
        write_text_atomically(directory / STATE_JSON, json.dumps(data, indent=1))

    def load(self, directory: Path) -> None:
        """Restore what `save(directory)` wrote."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        tensors_path, json_path = directory / STATE_TENSORS, directory / STATE_JSON
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
            if data.get("tensors_sha256") != sha256(tensors_path):
                raise UsageError(
                    f"{tensors_path}: does not match {json_path} (sha256); the saved state is torn",
                    file=tensors_path,
                )
            tensors = load_file(tensors_path)
        except (OSError, ValueError, SafetensorError) as error:
            raise UsageError(
                f"{directory}: cannot read the saved loop state ({error})", file=directory
            ) from error
        self.load_state_dict(tensors, data)


def copy_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@contextlib.contextmanager
def drawing_dropout_from(generator: torch.Generator) -> Iterator[None]:
    """Torch's default generator continues `generator`'s stream for the block, then hands back.

    Dropout layers draw from torch's default CPU generator; inside `fit` that stream *is* the
    loop's dropout generator (set once on entry and read back on exit, not per batch), so neither
    the initialisation before nor a user's draws outside can shift it.
    """
    outside = torch.get_rng_state()
    torch.set_rng_state(generator.get_state())
    try:
        yield
    finally:
        generator.set_state(torch.get_rng_state())
        torch.set_rng_state(outside)


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
