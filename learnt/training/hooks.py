"""The loop's events, and the hooks that watch them: a live progress bar and `metrics.jsonl`.

    on_fit_start → (on_epoch_start → on_batch_end × batches → on_validation_end → on_epoch_end)
    × epochs → on_fit_end

Hooks read the `TrainState`; they never change the model or the loop. A run continued from a
saved state begins with `on_fit_start` and, mid-epoch, goes on with `on_batch_end`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from learnt.console import console, is_quiet

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from learnt.training.state import TrainState


class Hooks:
    """The loop's events, in order; each default does nothing."""

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


class ProgressBar(Hooks):
    """`epoch 12/200 ━━━━━━━━╸━━━ loss 0.41 · val loss 0.39 · val acc 0.83 · 0:00:04`."""

    def __init__(self, total_steps: int, max_epochs: int) -> None:
        self.total_steps, self.max_epochs = total_steps, max_epochs
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def on_fit_start(self, state: TrainState) -> None:
        if is_quiet():
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[max_epochs]}"),
            BarColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            console=console(),
            transient=False,
        )
        self.task = self.progress.add_task(
            "train", total=self.total_steps, epoch=1, max_epochs=self.max_epochs, metrics=""
        )
        self.progress.start()

    def on_batch_end(self, state: TrainState) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.step)  # type: ignore[arg-type]

    def on_epoch_end(self, state: TrainState) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task, epoch=min(state.epoch + 1, self.max_epochs), metrics=epoch_metrics(state)
            )  # type: ignore[arg-type]

    def on_fit_end(self, state: TrainState) -> None:
        if self.progress is not None:
            self.progress.update(self.task, epoch=state.epoch, completed=self.total_steps)  # type: ignore[arg-type]
            self.progress.stop()


def epoch_metrics(state: TrainState) -> str:
    parts = [f"loss {state.train_loss:.4f}"] if state.train_loss is not None else []
    if state.val_loss is not None:
        parts.append(f"val loss {state.val_loss:.4f}")
    if state.val_accuracy is not None:
        parts.append(f"val acc {state.val_accuracy:.3f}")
    return " · ".join(parts)


# Long epochs also get lines within them: one every INTERIM_STEPS steps, on epochs of more than
# LONG_EPOCH steps (a 1,000-step epoch logs 9 of them, then its epoch line).
INTERIM_STEPS, LONG_EPOCH = 100, 200


class Mirror(Protocol):
    """Receives each line `MetricsLog` writes (TensorBoard, MLflow: `learnt.training.loggers`)."""

    def write(self, record: dict[str, Any]) -> None: ...


class MetricsLog(Hooks):
    """Appends one JSON line per epoch to `metrics.jsonl` in the run directory, and on long epochs
    a line every `INTERIM_STEPS` steps within them, marked `"within_epoch": true`.

    A within-epoch line has the epoch under way (`epoch`), the `step`, the mean training loss
    since the epoch's previous line (`train_loss`) and over the epoch so far (`epoch_train_loss`),
    the learning rate and the seconds. A run in phases (a backbone's head, then the whole network)
    names the phase in each line. Each line is also handed to the `mirrors`.
    """

    def __init__(
        self,
        path: Path,
        phase: str | None = None,
        append: bool = False,
        steps_per_epoch: int = 0,
        mirrors: Sequence[Mirror] = (),
    ) -> None:
        self.path, self.phase, self.mirrors = path, phase, list(mirrors)
        self.interim = steps_per_epoch > LONG_EPOCH
        self.steps_per_epoch = steps_per_epoch
        self.since = (0, 0.0)  # (batch, loss sum) of the current epoch's latest within-epoch line
        if not append:
            path.write_text("", encoding="utf-8")

    def on_fit_start(self, state: TrainState) -> None:
        """A run continued mid-epoch measures from the epoch's latest line that it kept."""
        self.since = (0, 0.0)
        if not (self.interim and state.batch > 0):
            return
        epoch_began = state.step - state.batch
        for record in read_metrics(self.path):
            ours = record.get("within_epoch") and record.get("phase") == self.phase
            if ours and record["epoch"] == state.epoch + 1 and record["step"] <= state.step:
                batch = record["step"] - epoch_began
                # from the line's own numbers, as the unbroken run computed it
                self.since = (batch, record["epoch_train_loss"] * batch)

    def on_epoch_start(self, state: TrainState) -> None:
        self.since = (0, 0.0)

    def on_batch_end(self, state: TrainState) -> None:
        due = state.batch % INTERIM_STEPS == 0 and state.batch < self.steps_per_epoch
        if not (self.interim and due):
            return
        batch, loss_sum = self.since
        epoch_mean = state.epoch_loss_sum / state.batch
        self.write(
            {
                **({"phase": self.phase} if self.phase else {}),
                "epoch": state.epoch + 1,  # under way
                "step": state.step,
                "within_epoch": True,
                "train_loss": (state.epoch_loss_sum - loss_sum) / (state.batch - batch),
                "epoch_train_loss": epoch_mean,
                "learning_rate": state.learning_rate,
                "seconds": round(state.elapsed(), 4),
            }
        )
        self.since = (state.batch, epoch_mean * state.batch)

    def on_epoch_end(self, state: TrainState) -> None:
        self.write(
            {
                **({"phase": self.phase} if self.phase else {}),
                "epoch": state.epoch,
                "step": state.step,
                "train_loss": state.train_loss,
                "val_loss": state.val_loss,
                "val_accuracy": state.val_accuracy,
                "learning_rate": state.learning_rate,
                "seconds": round(state.elapsed(), 4),
            }
        )

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        for mirror in self.mirrors:
            mirror.write(record)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of a `metrics.jsonl`; a last line torn by a killed process is left out."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records
