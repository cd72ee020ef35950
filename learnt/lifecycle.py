"""The lifecycle, top to bottom: labelled data in, an evaluated program out.

    learnt train titanic.csv --label survived

3 read the data and infer its schema → 4 hold out test and validation rows → 1 size an
architecture → 2 initialise its parameters → 5 run the loop → 6 freeze a program → 7 evaluate it
on the held-out rows → 8 say how to use it. Each step is one call into its own module; this file
only wires them together and tells the user what was decided.
"""

from __future__ import annotations

import hashlib
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from learnt import __version__
from learnt.architectures import choose_architecture, count_parameters, describe
from learnt.config import TrainSettings, default_batch_size, default_epochs, make_settings
from learnt.console import escape, say
from learnt.data.encode import Encoded, encode, fit_labels, fit_preprocessing
from learnt.data.schema import infer_schema, infer_task
from learnt.data.split import Split, split_rows
from learnt.data.tables import Table, dataframe_to_table, read_dataframe
from learnt.errors import DataError, closest
from learnt.evaluate import evaluate_table, summary
from learnt.freeze import check_output, export_onnx, staging, write_manifest, write_weights
from learnt.loop import HookList, Hooks, LoopData, LoopSettings, TrainState, fit, planned_steps
from learnt.parameters import initialise
from learnt.program import FORMAT_VERSION, Manifest, Program, Training
from learnt.progress import MetricsLog, ProgressBar
from learnt.stopping import EXPLANATIONS, StopCriteria

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TrainResult:
    program: Program
    state: TrainState
    run_dir: Path
    split: Split  # positions among the labelled rows

    def as_json(self) -> dict[str, Any]:
        training = self.program.manifest.training
        return {
            "program": str(self.program.path),
            "run": str(self.run_dir),
            "stop_reason": training.stop_reason,
            "epochs": training.epochs,
            "best_epoch": training.best_epoch,
            "steps": training.steps,
            "seconds": training.seconds,
            "seconds_per_epoch": training.seconds_per_epoch,
            "test": self.program.manifest.metrics,
        }


def train(
    data: str | Path | pd.DataFrame, label: str, *, hooks: Sequence[Hooks] = (), **settings: Any
) -> Program:
    """Train on labelled `data` and return the evaluated program.

    Args:
        data: a CSV / Parquet / JSONL path, or a pandas DataFrame.
        label: the column to predict.
        hooks: extra `learnt.loop.Hooks` to watch training.
        **settings: any `learnt.config.TrainSettings` field (epochs, seed, out, …).

    Example:
        >>> program = learnt.train(frame, label="survived", epochs=5)  # doctest: +SKIP
        >>> program.predict(frame)["prediction"]  # doctest: +SKIP
    """
    return run(data, make_settings(label=label, **settings), hooks).program


def run(
    data: str | Path | pd.DataFrame,
    settings: TrainSettings,
    hooks: Sequence[Hooks] = (),
    *,
    suggest_next: bool = True,
) -> TrainResult:
    """All eight steps; returns the program (already written to its run directory) and the state."""
    # 3. labelled data
    frame, source = read_dataframe(data)
    label = settings.label
    if label not in frame.columns:
        names = [str(c) for c in frame.columns]
        raise DataError(
            f"{source}: no label column '{label}'.{closest(label, names)} Columns: {', '.join(names)}"
        )
    if frame[label].isna().all():
        raise DataError(
            f"{source}, column '{label}': every value is empty; there is nothing to learn from. "
            "Is this the right label column?"
        )
    task = settings.task or infer_task(frame[label])
    table = dataframe_to_table(frame, source)
    targets, table, frame = labelled_rows(table, frame, label, task)
    say(
        step(
            "data",
            f"{source} — {len(frame)} labelled rows, {len(frame.columns) - 1} columns; label '{label}' → {task}",
        )
    )

    # 4. keep data for testing
    classes = targets if task == "classification" else None
    split = split_rows(
        classes,
        len(targets),
        test_size=settings.test_size,
        val_size=settings.val_size,
        seed=settings.seed,
    )
    say(
        step(
            "split",
            f"{split.describe()}, seed {settings.seed}; test rows stay unseen until evaluation",
        )
    )

    schema = infer_schema(
        frame.iloc[split.train], label, ignore=settings.ignore, task=task, source=source
    )
    say(step("schema", schema.describe()))
    preprocessing = fit_preprocessing(table.take(split.train), schema)
    label_encoding = (
        fit_labels(table.columns[label][split.train], task)
        if task == "regression"
        else fit_labels(table.columns[label], task)
    )
    if task == "regression":
        targets = ((targets - label_encoding.mean) / label_encoding.std).astype(np.float32)
    encoded = encode(table, preprocessing)

    # 1. architecture, 2. initial parameters
    n_outputs = len(label_encoding.classes) if task == "classification" else 1
    config = choose_architecture(
        settings.arch,
        rows=len(split.train),
        n_numeric=preprocessing.n_numeric,
        cardinalities=preprocessing.cardinalities,
        n_outputs=n_outputs,
    )
    model = initialise(config, settings.seed)
    say(
        step(
            "architecture",
            f"{describe(config, count_parameters(model))} (sized for {len(split.train)} rows; --arch to override)",
        )
    )
    say(step("init", f"random (seed {settings.seed})"))

    # 5. the loop
    run_dir = settings.out or next_run_dir(
        Path("runs"), Path(source).stem if source != "DataFrame" else "dataframe"
    )
    program_dir = run_dir / "program"
    check_output(program_dir, settings.force)
    loop_settings = make_loop_settings(settings, task, len(split.train))
    total_steps = planned_steps(len(split.train), loop_settings)
    say(step("loop", describe_loop(loop_settings)))
    run_dir.mkdir(parents=True, exist_ok=True)
    watchers = HookList(
        [
            ProgressBar(total_steps, loop_settings.criteria.max_epochs),
            MetricsLog(run_dir / "metrics.jsonl"),
            *hooks,
        ]
    )
    state = fit(
        model,
        loop_data(encoded, targets, split.train),
        loop_data(encoded, targets, split.validation),
        loop_settings,
        watchers,
    )
    reason = state.stop_reason or "max_epochs"
    say(
        step(
            "stopped",
            f"{reason} — {EXPLANATIONS[reason]}; best epoch {state.best_epoch} of {state.epoch} restored",
        )
    )

    # 6. freeze a program, 7. evaluate it on the test rows
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        task=task,
        input_schema=schema,
        preprocessing=preprocessing,
        labels=label_encoding,
        architecture=config.model_dump(),
        onnx_inputs=[],
        training=provenance(settings, state, split, data, source),
    )
    with staging(program_dir, settings.force) as stage:
        write_weights(model, stage)
        manifest.onnx_inputs = export_onnx(
            model,
            stage,
            encoded.take(split.validation[:256] if len(split.validation) else split.train[:256]),
        )
        write_manifest(manifest, stage)
        if len(split.test):
            manifest.metrics = evaluate_table(Program(stage), table.take(split.test))
            write_manifest(manifest, stage)
    program = Program(program_dir)
    say(step("program", f"{program_dir} (program.json, weights.safetensors, model.onnx)"))
    if manifest.metrics:
        say(step("test", summary(manifest.metrics)))

    # 8. use
    if suggest_next:
        say(step("next", f"learnt predict {program_dir} new.csv --out predictions.csv"))
    return TrainResult(program, state, run_dir, split)


def step(name: str, text: str) -> str:
    """One line of the run's narration: a step name, then what was decided (shown verbatim)."""
    return f"[bold cyan]{name:>12}[/]  {escape(text)}"


def labelled_rows(
    table: Table, frame: pd.DataFrame, label: str, task: str
) -> tuple[np.ndarray, Table, pd.DataFrame]:
    """Targets for the rows that have a label (class codes or raw numbers); other rows are dropped."""
    from learnt.data.encode import encode_labels

    column = table.columns[label]
    if task == "classification":
        encoding = fit_labels(column, "classification")
        if len(encoding.classes) < 2:
            raise DataError(
                f"{table.source}, column '{label}': only one class ({encoding.classes[0]!r}); "
                "classification needs at least two. Is this the right label column?"
            )
    else:
        encoding = fit_labels(column, "regression")
        encoding.mean, encoding.std = 0.0, 1.0  # raw numbers; standardised after the split
    targets, labelled = encode_labels(table, label, encoding)
    if len(labelled) < len(table):
        say(step("data", f"left out {len(table) - len(labelled)} rows with no label"))
    if len(labelled) < 10:
        raise DataError(
            f"{table.source}: only {len(labelled)} labelled rows; at least 10 are needed to train and test"
        )
    return targets, table.take(labelled), frame.iloc[labelled]


def loop_data(encoded: Encoded, targets: np.ndarray, rows: np.ndarray) -> LoopData:
    part = encoded.take(rows)
    return LoopData(
        (torch.from_numpy(part.numeric), torch.from_numpy(part.categorical)),
        torch.from_numpy(targets[rows]),
    )


def make_loop_settings(settings: TrainSettings, task: str, rows: int) -> LoopSettings:
    batch_size = settings.batch_size or default_batch_size(rows)
    epochs = settings.epochs or default_epochs(math.ceil(rows / batch_size))
    return LoopSettings(
        task=task,  # type: ignore[arg-type]
        batch_size=batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        grad_clip=settings.grad_clip,
        seed=settings.seed,
        criteria=StopCriteria(
            max_epochs=epochs,
            max_steps=settings.max_steps,
            target_loss=settings.target_loss,
            target_accuracy=settings.target_accuracy,
            patience=settings.patience if settings.val_size > 0 else None,
            time_budget=settings.time_budget,
        ),
    )


def describe_loop(settings: LoopSettings) -> str:
    criteria = settings.criteria
    stops = [f"up to {criteria.max_epochs} epochs"]
    if criteria.max_steps:
        stops.append(f"{criteria.max_steps} steps")
    if criteria.patience:
        stops.append(f"patience {criteria.patience} on validation loss")
    if criteria.target_loss is not None:
        stops.append(f"target loss {criteria.target_loss}")
    if criteria.target_accuracy is not None:
        stops.append(f"target accuracy {criteria.target_accuracy}")
    if criteria.time_budget:
        stops.append(f"time budget {criteria.time_budget:g} s")
    return (
        f"AdamW lr {settings.learning_rate:g}, weight decay {settings.weight_decay:g}, warm-up + cosine, "
        f"batch {settings.batch_size}; {', '.join(stops)}; best epoch restored; Ctrl-C stops cleanly"
    )


def next_run_dir(root: Path, name: str) -> Path:
    """runs/<name>, or runs/<name>-2, -3 … if taken."""
    candidate, number = root / name, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{name}-{number}"
    return candidate


def provenance(
    settings: TrainSettings, state: TrainState, split: Split, data: Any, source: str
) -> Training:
    import onnxruntime

    return Training(
        init="random",
        seed=settings.seed,
        epochs=state.epoch,
        steps=state.step,
        best_epoch=state.best_epoch,
        stop_reason=state.stop_reason or "max_epochs",
        seconds=round(state.elapsed(), 3),
        seconds_per_epoch=round(
            float(np.median(state.epoch_seconds)) if state.epoch_seconds else 0.0, 5
        ),
        rows={
            "train": len(split.train),
            "validation": len(split.validation),
            "test": len(split.test),
        },
        stratified=split.stratified,
        data=source,
        data_sha256=fingerprint(data),
        settings=settings.model_dump(mode="json"),
        versions={
            "learnt": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def fingerprint(data: Any) -> str:
    """sha256 of the data file, or of a DataFrame's contents."""
    if isinstance(data, str | Path):
        from learnt.program import sha256

        return sha256(Path(data))
    import pandas as pd

    hashed = pd.util.hash_pandas_object(data, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, data.columns)).encode()).hexdigest()
