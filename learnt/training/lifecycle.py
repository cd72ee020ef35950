"""The lifecycle, top to bottom: labelled data in, an evaluated program out.

    learnt train titanic.csv --label survived

3 read the data and infer its schema → 4 hold out test and validation rows → 1 size an
architecture → 2 initialise its parameters → 5 run the loop → 6 freeze a program → 7 evaluate it
on the held-out rows → 8 say how to use it. Each step is one call into its own module; this file
only wires them together and tells the user what was decided.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import platform
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from learnt import __version__
from learnt.backbones import BACKBONES
from learnt.console import say, step
from learnt.data.split import Split
from learnt.errors import TrainingError, UsageError
from learnt.files import check_writable, write_text_atomically
from learnt.kinds import DataKind, Task
from learnt.runtime.evaluate import summary
from learnt.runtime.format import (
    FORMAT_VERSION,
    Architecture,
    Manifest,
    Training,
    read_architecture,
)
from learnt.runtime.program import Program
from learnt.runtime.report import evaluate_in_detail
from learnt.settings import (
    TrainSettings,
    default_batch_size,
    default_epochs,
    make_settings,
    write_settings,
)
from learnt.training.checkpoint import (
    CHECKPOINTS,
    FINGERPRINT,
    FITTED,
    CheckpointPolicy,
    Checkpoints,
    locked,
    make_fingerprint,
    resume_latest,
    saved_checkpoints,
)
from learnt.training.distributed import Context, current
from learnt.training.families import (
    choose_architecture,
    count_parameters,
    describe,
    scratch_family,
)
from learnt.training.finetune import describe_phases, fine_tune
from learnt.training.freeze import check_output, export_onnx, staging, write_manifest, write_weights
from learnt.training.hooks import HookList, Hooks, MetricsLog, ProgressBar, read_metrics
from learnt.training.init import InitPlan, initial_network
from learnt.training.loggers import make_loggers
from learnt.training.loop import LoopData, LoopSettings, fit, planned_steps
from learnt.training.plan import BudgetPlan, plan_for_budget
from learnt.training.prepare import SHARED, Fitted, Labelled, Prepared, prepare
from learnt.training.state import STATE_JSON, LoopState, TrainState
from learnt.training.stopping import EXPLANATIONS, StopCriteria

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TrainResult:
    program: Program
    state: TrainState
    run_dir: Path
    split: Split  # positions among the labelled rows
    main: bool = True  # rank 0 (or one process): the one that prints the result, --json included

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
    """All eight steps; returns the program (already written to its run directory) and the state.

    Under torchrun every rank runs them (see `learnt.training.distributed`); rank 0 chooses the
    run directory, holds it and writes in it, and the `hooks` watch on rank 0 only.
    """
    from learnt.training.distributed import launched_by_torchrun, session

    if settings.nproc > 1 and not launched_by_torchrun():
        raise UsageError(
            f"nproc={settings.nproc}: `learnt train --nproc` starts torchrun; from Python, run "
            "the script itself under torchrun (torchrun --nproc-per-node N script.py)",
            field="nproc",
        )
    if settings.resume is not None:
        settings = settings_to_resume(settings)
    with session(settings.device) as context:
        run_dir = settings.out or next_run_dir(Path("runs"), run_name(data))
        if context.distributed:  # ranks count runs/<name>-2, -3 … at different moments
            run_dir = Path(context.broadcast_text(str(run_dir) if context.is_main else None))
        check_writable(run_dir)
        with locked(run_dir) if context.is_main else contextlib.nullcontext():
            return run_in(run_dir, data, settings, hooks, suggest_next)


def run_in(
    run_dir: Path,
    data: str | Path | pd.DataFrame,
    settings: TrainSettings,
    hooks: Sequence[Hooks],
    suggest_next: bool,
) -> TrainResult:
    """`run`, holding the run directory."""
    program_dir = run_dir / "program"
    checkpoints = run_dir / CHECKPOINTS
    resuming = settings.resume is not None
    # before any expensive work; a resumed run may replace what its interruption froze
    check_output(program_dir, settings.force or resuming)
    context = current()
    if context.distributed and settings.init in BACKBONES:  # before the data is read
        refuse_backbone_on_ranks(settings.init)
    # --log: a missing package is said before any work
    loggers = make_loggers(settings, run_dir) if context.is_main else []
    fitted = Fitted.load(checkpoints / FITTED) if resuming else None
    labelled, split, prepared = prepare_on_ranks(data, settings, run_dir, fitted, context)
    if context.device.type != "cpu":  # batches go to the GPU as they are taken
        prepared.train = dataclasses.replace(prepared.train, device=context.device)
        prepared.validation = dataclasses.replace(prepared.validation, device=context.device)

    # 1. architecture (by data, or by data and compute), 2. initial parameters
    init = prepared.init
    assert init is not None
    if context.distributed and init.backbone is not None:
        refuse_backbone_on_ranks(init.backbone.name)
    loop_settings = make_loop_settings(
        settings, labelled.task, len(split.train), prepared.data_kind
    )
    config = architecture_for(settings, prepared, init)
    sized = sized_by(init, len(split.train))
    family = scratch_family(prepared.data_kind, prepared.sizes)
    latest = saved_checkpoints(checkpoints)[-1:] if resuming else []
    if latest:  # the architecture and loop the run was planned with (a probe may plan otherwise)
        config, loop_settings = planned_in(latest[0])
        sized = "as planned when the run began"
    elif plans_by_compute(settings, init) and family.ladder is not None:
        ladder = family.ladder(prepared.sizes)
        budget_plan = planned_on_main(
            context,
            ladder,
            lambda: plan_for_budget(
                ladder,
                prepared.train,
                loop_settings,
                len(split.validation),
                settings.time_budget,  # type: ignore[arg-type]
                settings.seed,
                ranks=context.world_size,
            ),
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
    if context.distributed:
        say(step("ranks", context.describe()))
    if context.is_main:  # the plan is whole: bad input or flags have left nothing
        write_settings(settings, run_dir)

    def hooks_for(phase: str | None, phase_settings: LoopSettings, rows: int) -> Hooks:
        if not context.is_main:  # hooks watch (print, log) on rank 0
            return Hooks()
        return HookList(
            [
                ProgressBar(
                    planned_steps(rows, phase_settings), phase_settings.criteria.max_epochs
                ),
                MetricsLog(
                    run_dir / "metrics.jsonl",
                    phase,
                    append=phase == "whole" or resuming,
                    steps_per_epoch=math.ceil(rows / phase_settings.batch_size),
                    mirrors=loggers,
                ),
                *loggers,
                *hooks,
            ]
        )

    model = model.to(context.device, memory_format=prepared.memory_format)
    if init.backbone is not None:
        phases = fine_tune(model, prepared.train, prepared.validation, loop_settings, hooks_for)
        init.source.phases = phases.names
        state = phases.combined()
    else:
        state = fit_with_checkpoints(
            model,
            config,
            prepared,
            loop_settings,
            settings,
            run_dir,
            hooks_for(None, loop_settings, len(split.train)),
        )
    model = model.to("cpu", memory_format=torch.contiguous_format)
    reason = state.stop_reason or "max_epochs"
    if reason == "non_finite":
        refuse_if_never_improved(state, loop_settings.learning_rate, checkpoints)
    say(step("stopped", f"{reason} — {stop_explanation(state)}"))
    if not context.is_main:  # rank 0 freezes, evaluates and reports; the others wait for it
        context.barrier()
        return TrainResult(Program(program_dir), state, run_dir, split, main=False)

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
    record_training_rows(manifest, labelled, split)
    predictions = None
    with staging(program_dir, settings.force or resuming) as stage:
        write_weights(model, stage)
        fitted.write_files(stage)
        export_onnx(model, stage, prepared.sample)
        write_manifest(manifest, stage)
        if len(split.test):
            manifest.metrics, predictions = evaluate_in_detail(
                Program(stage), labelled.table.take(split.test)
            )
            write_manifest(manifest, stage)
    program = Program(program_dir)
    for logger in loggers:  # the test metrics, after the epochs' lines
        logger.finish(manifest.metrics, program)
    if state.stop_reason != "interrupted":  # the run is whole: the program is what it leaves
        shutil.rmtree(checkpoints, ignore_errors=True)
    say(step("program", f"{program_dir} (program.json, weights.safetensors, model.onnx)"))
    if manifest.metrics:
        say(step("test", summary(manifest.metrics)))
        for warning in manifest.metrics["warnings"]:
            say(step("warning", warning))

    write_report(run_dir, predictions, labelled, split, prepared, sized)

    # 8. use
    if suggest_next:
        example = "new_photos/" if prepared.data_kind == "images" else "new.csv"
        say(step("next", f"learnt predict {program_dir} {example} --out predictions.csv"))
    if context.distributed:
        shutil.rmtree(run_dir / SHARED, ignore_errors=True)
        context.barrier()  # the other ranks may read the program now
    return TrainResult(program, state, run_dir, split)


def write_report(
    run_dir: Path,
    predictions: dict[str, Any] | None,
    labelled: Labelled,
    split: Split,
    prepared: Prepared,
    sized: str,
) -> None:
    """Save what the report needs beyond the program (`run.json`, `evaluation.json`), then write
    `report.html`; without matplotlib the run still succeeds, and says how to get the report."""
    from learnt.errors import MissingDependencyError
    from learnt.runtime import report

    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    classes = len(prepared.fitted.labels.classes)
    facts = report.run_facts(labelled.task, labelled.targets, parts, classes, prepared.sizes, sized)
    report.save_json(run_dir / report.RUN_FACTS, facts)
    (run_dir / report.EVALUATION).unlink(missing_ok=True)  # an earlier run's, when --force
    if predictions is not None:
        report.save_json(run_dir / report.EVALUATION, predictions)
    try:
        say(step("report", str(report.write_run_report(run_dir))))
    except MissingDependencyError as error:
        say(step("report", f"not written: {error}"))


def fit_with_checkpoints(
    model: torch.nn.Module,
    config: Architecture,
    prepared: Prepared,
    loop_settings: LoopSettings,
    settings: TrainSettings,
    run_dir: Path,
    hooks: Hooks,
) -> TrainState:
    """Step 5 from a network's initial parameters: the loop, checkpointed as it goes, continued
    from the newest checkpoint when the run is resumed. Every rank resumes from the same
    checkpoint; rank 0 alone writes them."""
    checkpoints = run_dir / CHECKPOINTS
    loop = LoopState.start(model, loop_settings, len(prepared.train))
    main = loop.context.is_main
    fingerprint = (  # what a checkpoint was made from: rank 0 writes it, every rank checks it
        make_fingerprint(
            settings.as_json(), training_arrays(prepared.train), config.model_dump(mode="json")
        )
        if main or settings.resume is not None
        else {}
    )
    if settings.resume is not None:
        resumed = resume_latest(loop, checkpoints, fingerprint)
        if main:
            keep_metrics_until(run_dir / "metrics.jsonl", loop.state)
        where = f"step {loop.state.step:,}, epoch {loop.state.epoch}"
        say(step("resume", f"from {resumed} ({where})"))
    elif main:
        shutil.rmtree(checkpoints, ignore_errors=True)
        prepared.fitted.save(checkpoints / FITTED)
    saver = Checkpoints(loop, checkpoints, checkpoint_policy(settings), fingerprint)
    watchers = [hooks, saver] if main else [hooks]
    state = fit(loop, prepared.train, prepared.validation, HookList(watchers))
    if state.stop_reason == "interrupted" and (saved := saved_checkpoints(checkpoints)):
        say(step("resume", f"learnt train … --resume {run_dir} continues from {saved[-1]}"))
    return state


def prepare_on_ranks(
    data: str | Path | pd.DataFrame,
    settings: TrainSettings,
    run_dir: Path,
    fitted: Fitted | None,
    context: Context,
) -> tuple[Labelled, Split, Prepared]:
    """Steps 3–4 on every rank: rank 0 first — it fits the preprocessing and decodes the images —
    then the others, reusing what it fitted (as a resumed run does: a tokenizer trained twice
    may differ) and the images it decoded (`prepare.SHARED` in the run directory)."""
    if not context.distributed:
        return prepare(data, settings, run_dir, fitted)
    if context.is_main:
        prepared = prepare(data, settings, run_dir, fitted)
        prepared[2].fitted.save(run_dir / SHARED / FITTED)
    context.barrier()
    if not context.is_main:
        shared = run_dir / SHARED / FITTED
        if not shared.is_dir():
            raise UsageError(
                f"rank {context.rank}: {shared} is missing: rank 0 wrote it there. On several "
                "machines, --out must be a folder that every machine sees (shared storage)",
                file=shared,
            )
        prepared = prepare(data, settings, run_dir, Fitted.load(shared))
    return prepared


def refuse_backbone_on_ranks(name: str) -> None:
    """Fine-tuning a backbone stays on one process (see `finetune.py`)."""
    raise UsageError(
        f"a pretrained backbone ({name}) fine-tunes on one process: its head trains on cached "
        "features in seconds. Train it without --nproc (or torchrun), or from scratch on several "
        "processes with --init random",
        field="nproc",
    )


def planned_on_main(
    context: Context, ladder: Sequence[Architecture], plan: Callable[[], BudgetPlan]
) -> BudgetPlan:
    """Rank 0 probes the ladder and decides; every rank gets its plan (clocks differ by rank)."""
    if not context.distributed:
        return plan()
    chosen = plan() if context.is_main else None
    numbers = None
    if chosen is not None:
        index = list(ladder).index(chosen.config)
        numbers = [index, chosen.epochs, chosen.epoch_seconds, chosen.probe_seconds, chosen.budget]
    index, epochs, epoch_seconds, probe_seconds, budget = context.broadcast_numbers(numbers, 5)
    if chosen is not None:
        return chosen
    return BudgetPlan(ladder[int(index)], int(epochs), epoch_seconds, (), probe_seconds, budget)


def stop_explanation(state: TrainState) -> str:
    reason = state.stop_reason or "max_epochs"
    text = EXPLANATIONS[reason]
    if reason == "non_finite":
        text = text.replace("infinite", f"infinite at step {state.step:,}") + (
            " (a lower --lr may train further)"
        )
    return f"{text}; best epoch {state.best_epoch} of {state.epoch} restored"


def refuse_if_never_improved(state: TrainState, learning_rate: float, checkpoints: Path) -> None:
    """A loss that diverged before any epoch improved leaves nothing worth freezing (nor
    checkpoints worth resuming)."""
    if math.isfinite(state.best_val_loss):
        return
    shutil.rmtree(checkpoints, ignore_errors=True)
    raise TrainingError(
        f"the loss became NaN or infinite at step {state.step:,}, before any epoch improved on "
        f"the initial parameters; no program was written. Try --lr {learning_rate / 10:g}, "
        "and check the labels for extreme values"
    )


def training_arrays(train: LoopData) -> list[torch.Tensor]:
    """The tensors that define the training data (for a checkpoint's fingerprint)."""
    return [*train.inputs, train.targets, *([train.rows] if train.rows is not None else [])]


def keep_metrics_until(path: Path, state: TrainState) -> None:
    """Keep the lines a checkpoint's `state` had logged — its completed epochs, and the
    within-epoch lines up to its step: a killed or interrupted run may have logged later ones,
    which the resumed run logs again."""
    if not path.is_file():
        return

    def logged(record: dict[str, Any]) -> bool:
        if record.get("within_epoch"):
            return record["step"] <= state.step
        return record["epoch"] <= state.epoch

    kept = [record for record in read_metrics(path) if logged(record)]
    write_text_atomically(path, "".join(json.dumps(record) + "\n" for record in kept))


def checkpoint_policy(settings: TrainSettings) -> CheckpointPolicy:
    return CheckpointPolicy(
        settings.checkpoint_steps, settings.checkpoint_seconds, settings.keep_checkpoints
    )


def settings_to_resume(settings: TrainSettings) -> TrainSettings:
    """The run's own settings (its `settings.json`), with the ones given now that differ from the
    defaults laid over them — a checkpoint's fingerprint then refuses any that changed."""
    run_dir = Path(settings.resume)  # type: ignore[arg-type]
    path = run_dir / "settings.json"
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a run directory to resume (no settings.json)", file=path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    defaults = make_settings().as_json()
    given = settings.as_json()
    merged = {k: given[k] if given[k] != defaults.get(k) else v for k, v in saved.items()}
    merged |= {"out": str(run_dir), "resume": str(run_dir)}
    return make_settings(**merged)


def planned_in(checkpoint: Path) -> tuple[Architecture, LoopSettings]:
    """The architecture and loop settings a checkpoint was saved with."""
    fingerprint = json.loads((checkpoint / FINGERPRINT).read_text(encoding="utf-8"))
    state = json.loads((checkpoint / STATE_JSON).read_text(encoding="utf-8"))
    config = read_architecture(fingerprint["architecture"])
    loop = dict(state["settings"])
    loop["criteria"] = StopCriteria(**loop["criteria"])
    return config, LoopSettings(**loop)


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


def record_training_rows(manifest: Manifest, labelled: Labelled, split: Split) -> None:
    """Training class counts, and fingerprints of the training and validation rows."""
    from learnt.runtime.fingerprints import record

    if manifest.task == "classification":  # the targets are the class codes of the labels
        counts = np.bincount(labelled.targets[split.train], minlength=len(manifest.labels.classes))
        manifest.training.class_counts = counts.tolist()
    seen = labelled.table.take(np.concatenate([split.train, split.validation]))
    manifest.training.row_fingerprints = record(seen, manifest.training.seed)


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
