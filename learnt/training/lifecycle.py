"""The lifecycle, top to bottom: labelled data in, an evaluated program out.

    learnt train titanic.csv --label survived

3 read the data and infer its schema → 4 hold out test and validation rows → 1 size an
architecture → 2 initialise its parameters → 5 run the loop → 6 freeze a program → 7 evaluate it
on the held-out rows → 8 say how to use it. Each step is one call into its own module; this file
only wires them together and tells the user what was decided.
"""

from __future__ import annotations

import dataclasses
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
from learnt.console import say, step
from learnt.data.split import Split
from learnt.kinds import DataKind, Task
from learnt.runtime.evaluate import evaluate_table, summary
from learnt.runtime.format import FORMAT_VERSION, Architecture, Manifest, Training
from learnt.runtime.program import Program
from learnt.settings import (
    TrainSettings,
    default_batch_size,
    default_epochs,
    make_settings,
    write_settings,
)
from learnt.training.families import (
    choose_architecture,
    count_parameters,
    describe,
    scratch_family,
)
from learnt.training.finetune import describe_phases, fine_tune
from learnt.training.freeze import check_output, export_onnx, staging, write_manifest, write_weights
from learnt.training.hooks import HookList, Hooks, MetricsLog, ProgressBar
from learnt.training.init import InitPlan, initial_network
from learnt.training.loop import LoopSettings, fit, planned_steps
from learnt.training.plan import BudgetPlan, plan_for_budget
from learnt.training.prepare import Labelled, Prepared, prepare
from learnt.training.state import LoopState, TrainState
from learnt.training.stopping import EXPLANATIONS, StopCriteria

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
    data: str | Path | pd.DataFrame,
    label: str | None = None,
    *,
    hooks: Sequence[Hooks] = (),
    **settings: Any,
) -> Program:
    """Train on labelled `data` and return the evaluated program.

    Args:
        data: a CSV / Parquet / JSONL path, or a pandas DataFrame.
        label: the column to predict.
        hooks: extra `learnt.training.hooks.Hooks` to watch training.
        **settings: any `learnt.settings.TrainSettings` field (epochs, seed, out, …).

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
    run_dir = settings.out or next_run_dir(Path("runs"), run_name(data))
    program_dir = run_dir / "program"
    check_output(program_dir, settings.force)  # before any expensive work
    labelled, split, prepared = prepare(data, settings, run_dir)

    # 1. architecture (by data, or by data and compute), 2. initial parameters
    init = prepared.init
    assert init is not None
    loop_settings = make_loop_settings(
        settings, labelled.task, len(split.train), prepared.data_kind
    )
    config = architecture_for(settings, prepared, init)
    sized = sized_by(init, len(split.train))
    family = scratch_family(prepared.data_kind, prepared.sizes)
    if plans_by_compute(settings, init) and family.ladder is not None:
        budget_plan = plan_for_budget(
            family.ladder(prepared.sizes),
            prepared.train,
            loop_settings,
            len(split.validation),
            settings.time_budget,  # type: ignore[arg-type]
            settings.seed,
        )
        config, sized = budget_plan.config, "sized for the time budget"
        loop_settings = within_plan(loop_settings, budget_plan)
        noun = {"images": "images", "text": "texts"}.get(prepared.data_kind, "rows")
        say(step("plan", budget_plan.describe(len(split.train), noun)))
    model = initial_network(config, init, settings.seed)
    say(step("architecture", f"{describe(config, count_parameters(model))} ({sized})"))
    say(step("init", init.describe(settings.seed)))

    # 5. the loop
    say(step("loop", describe_loop(loop_settings)))
    if init.backbone is not None:
        say(step("", describe_phases(loop_settings)))
    write_settings(settings, run_dir)  # the plan is whole: bad input or flags have left nothing

    def hooks_for(phase: str | None, phase_settings: LoopSettings, rows: int) -> Hooks:
        return HookList(
            [
                ProgressBar(
                    planned_steps(rows, phase_settings), phase_settings.criteria.max_epochs
                ),
                MetricsLog(run_dir / "metrics.jsonl", phase, append=phase == "whole"),
                *hooks,
            ]
        )

    model = model.to(memory_format=prepared.memory_format)
    if init.backbone is not None:
        phases = fine_tune(model, prepared.train, prepared.validation, loop_settings, hooks_for)
        init.source.phases = phases.names
        state = phases.combined()
    else:
        loop = LoopState.start(model, loop_settings, len(split.train))
        state = fit(
            loop,
            prepared.train,
            prepared.validation,
            hooks_for(None, loop_settings, len(split.train)),
        )
    model = model.to(memory_format=torch.contiguous_format)
    reason = state.stop_reason or "max_epochs"
    say(
        step(
            "stopped",
            f"{reason} — {EXPLANATIONS[reason]}; best epoch {state.best_epoch} of {state.epoch} restored",
        )
    )

    # 6. freeze a program, 7. evaluate it on the test rows
    fitted = prepared.fitted
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        task=labelled.task,
        input_schema=fitted.schema,
        preprocessing=fitted.preprocessing,
        labels=fitted.labels,
        architecture=config,
        model_inputs=list(prepared.sample.arrays),
        training=provenance(settings, state, split, data, labelled, init),
    )
    with staging(program_dir, settings.force) as stage:
        write_weights(model, stage)
        fitted.write_files(stage)
        export_onnx(model, stage, prepared.sample)
        write_manifest(manifest, stage)
        if len(split.test):
            manifest.metrics = evaluate_table(Program(stage), labelled.table.take(split.test))
            write_manifest(manifest, stage)
    program = Program(program_dir)
    say(step("program", f"{program_dir} (program.json, weights.safetensors, model.onnx)"))
    if manifest.metrics:
        say(step("test", summary(manifest.metrics)))

    # 8. use
    if suggest_next:
        example = "new_photos/" if prepared.data_kind == "images" else "new.csv"
        say(step("next", f"learnt predict {program_dir} {example} --out predictions.csv"))
    return TrainResult(program, state, run_dir, split)


def architecture_for(settings: TrainSettings, prepared: Prepared, init: InitPlan) -> Architecture:
    """The data's family sized by its rule, the backbone's network, or the earlier program's
    architecture with a head for these labels."""
    if init.program is not None:
        source = init.program.manifest.architecture
        return source.model_copy(update={"n_outputs": prepared.sizes["n_outputs"]})
    backbone = init.backbone.name if init.backbone is not None else None
    return choose_architecture(settings.arch, prepared.data_kind, prepared.sizes, backbone)


def plans_by_compute(settings: TrainSettings, init: InitPlan) -> bool:
    """A time budget sizes the network when nothing else fixes it (no --arch, --epochs, transfer)."""
    return (
        settings.time_budget is not None
        and init.kind == "random"
        and not settings.arch
        and settings.epochs is None
    )


def within_plan(loop_settings: LoopSettings, plan: BudgetPlan) -> LoopSettings:
    """The loop planned for the budget: its epochs, and the time the probe left."""
    criteria = dataclasses.replace(
        loop_settings.criteria,
        max_epochs=plan.epochs,
        time_budget=max(plan.budget - plan.probe_seconds, 1e-3),
    )
    return dataclasses.replace(loop_settings, criteria=criteria)


def sized_by(init: InitPlan, rows: int) -> str:
    if init.backbone is not None:
        return f"the {init.backbone.name} backbone's, with a head for the task"
    if init.program is not None:
        return "the earlier program's"
    return f"sized for {rows} rows; --arch to override"


def run_name(data: str | Path | pd.DataFrame) -> str:
    """The default run directory's name: the data file's (or folder's) name."""
    return (Path(data).stem or "data") if isinstance(data, str | Path) else "dataframe"


def make_loop_settings(
    settings: TrainSettings, task: Task, rows: int, data_kind: DataKind = "table"
) -> LoopSettings:
    """The loop's settings: the run's, with what is "chosen from the data" chosen."""
    batch_size = settings.batch_size or default_batch_size(rows, data_kind)
    epochs = settings.epochs or default_epochs(math.ceil(rows / batch_size))
    return LoopSettings(
        task=task,
        batch_size=batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        grad_clip=settings.grad_clip or None,
        seed=settings.seed,
        criteria=StopCriteria(
            max_epochs=epochs,
            max_steps=settings.max_steps,
            target_loss=settings.target_loss,
            target_accuracy=settings.target_accuracy,
            patience=(settings.patience or None) if settings.val_size > 0 else None,
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
    settings: TrainSettings,
    state: TrainState,
    split: Split,
    data: Any,
    labelled: Labelled,
    init: InitPlan,
) -> Training:
    import onnxruntime

    return Training(
        init=init.provenance(),
        init_source=init.source,
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
        data=labelled.source,
        data_sha256=fingerprint(data),
        skipped=[{"file": path, "reason": why} for path, why in labelled.skipped],
        settings=settings.as_json(),
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
    """sha256 of the data file, of a folder's files (names and contents), or of a DataFrame."""
    if isinstance(data, str | Path) and Path(data).is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in Path(data).rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(data)).encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()
    if isinstance(data, str | Path):
        from learnt.runtime.program import sha256

        return sha256(Path(data))
    import pandas as pd

    hashed = pd.util.hash_pandas_object(data, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, data.columns)).encode()).hexdigest()
