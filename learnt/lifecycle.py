"""The lifecycle, top to bottom: labelled data in, an evaluated program out.

    learnt train titanic.csv --label survived

3 read the data and infer its schema → 4 hold out test and validation rows → 1 size an
architecture → 2 initialise its parameters → 5 run the loop → 6 freeze a program → 7 evaluate it
on the held-out rows → 8 say how to use it. Each step is one call into its own module; this file
only wires them together and tells the user what was decided.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import platform
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from learnt import __version__
from learnt.architectures import choose_architecture, count_parameters, describe
from learnt.config import TrainSettings, default_batch_size, default_epochs, make_settings
from learnt.console import escape, say
from learnt.data.encode import (
    Encoded,
    LabelEncoding,
    Preprocessing,
    encode,
    fit_labels,
    fit_preprocessing,
)
from learnt.data.schema import (
    Schema,
    Task,
    find_image_column,
    find_text_column,
    infer_schema,
    infer_task,
    single_input_schema,
)
from learnt.data.split import Split, split_rows
from learnt.data.tables import Table, dataframe_to_table, read_dataframe
from learnt.errors import DataError, UsageError, closest
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
    run_dir = settings.out or next_run_dir(Path("runs"), run_name(data))
    program_dir = run_dir / "program"
    check_output(program_dir, settings.force)  # before any expensive work
    labelled, split, prepared = prepare(data, settings, run_dir)

    # 1. architecture, 2. initial parameters
    config = choose_architecture(settings.arch, prepared.data_kind, **prepared.sizes)
    model = initialise(config, settings.seed)
    say(
        step(
            "architecture",
            f"{describe(config, count_parameters(model))} (sized for {len(split.train)} rows; --arch to override)",
        )
    )
    say(step("init", f"random (seed {settings.seed})"))

    # 5. the loop
    loop_settings = make_loop_settings(settings, labelled.task, len(split.train))
    say(step("loop", describe_loop(loop_settings)))
    run_dir.mkdir(parents=True, exist_ok=True)
    total_steps = planned_steps(len(split.train), loop_settings)
    watchers = HookList(
        [
            ProgressBar(total_steps, loop_settings.criteria.max_epochs),
            MetricsLog(run_dir / "metrics.jsonl"),
            *hooks,
        ]
    )
    model = model.to(memory_format=prepared.memory_format)
    state = fit(model, prepared.train, prepared.validation, loop_settings, watchers)
    model = model.to(memory_format=torch.contiguous_format)
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
        task=labelled.task,
        input_schema=prepared.schema,
        preprocessing=prepared.preprocessing,
        labels=prepared.labels,
        architecture=config.model_dump(),
        model_inputs=list(prepared.sample.arrays),
        training=provenance(settings, state, split, data, labelled),
    )
    with staging(program_dir, settings.force) as stage:
        write_weights(model, stage)
        if prepared.write_files is not None:
            prepared.write_files(stage)
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


def prepare(
    data: str | Path | pd.DataFrame, settings: TrainSettings, run_dir: Path
) -> tuple[Labelled, Split, Prepared]:
    """Steps 3 and 4: the labelled rows, their split, and everything fitted on the training rows.

    `run_dir` holds the image store when images are too many to keep in memory.
    """
    labelled = read_labelled(data, settings)
    if labelled.image_column is not None:
        labelled = decode_images(labelled, settings, run_dir)

    # 4. keep data for testing
    classes = labelled.targets if labelled.task == "classification" else None
    split = split_rows(
        classes,
        len(labelled.targets),
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

    # 3. features, fitted on the training rows only
    fit = (
        prepare_images
        if labelled.pixels is not None
        else prepare_text
        if labelled.text_column
        else prepare_table
    )
    prepared = fit(labelled, split, settings)
    say(step("schema", prepared.schema.describe()))
    return labelled, split, prepared


def run_name(data: str | Path | pd.DataFrame) -> str:
    """The default run directory's name: the data file's (or folder's) name."""
    return (Path(data).stem or "data") if isinstance(data, str | Path) else "dataframe"


@dataclass
class Labelled:
    """The labelled rows (unlabelled and, with --skip-bad, unreadable ones removed) and their targets."""

    table: Table
    frame: pd.DataFrame  # the same rows, as pandas, for schema inference
    targets: np.ndarray  # class codes, or raw numbers for regression
    label: str
    task: Task
    source: str
    image_column: str | None = None
    text_column: str | None = None
    pixels: np.ndarray | None = None  # uint8 [rows, C, S, S], once decoded
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def take(self, rows: np.ndarray) -> Labelled:
        pixels = None if self.pixels is None else self.pixels[rows]
        return replace(
            self,
            table=self.table.take(rows),
            frame=self.frame.iloc[rows],
            targets=self.targets[rows],
            pixels=pixels,
        )


@dataclass
class Prepared:
    """What the loop and the program need from step 3, fitted on the training rows only."""

    data_kind: str  # "table", "images" or "text"
    schema: Schema
    preprocessing: Preprocessing
    labels: LabelEncoding
    train: LoopData
    validation: LoopData
    sample: Encoded  # a few encoded rows, to export and check the ONNX graph
    sizes: dict[str, Any]  # what the architecture's sizing rule reads
    memory_format: torch.memory_format = torch.contiguous_format
    write_files: Callable[[Path], None] | None = None  # extra program files (a tokenizer)


def read_labelled(data: str | Path | pd.DataFrame, settings: TrainSettings) -> Labelled:
    """Read the data, choose the task, keep the labelled rows. A folder means images by class."""
    import pandas as pd

    if isinstance(data, str | Path) and Path(data).is_dir():
        from learnt.data.images import read_image_folder

        table = read_image_folder(Path(data))
        if settings.label not in (None, "label"):
            raise UsageError(
                f"--label {settings.label}: a folder of images is labelled by its sub-folder names; leave --label out"
            )
        frame, source, label = pd.DataFrame(table.columns), table.source, "label"
        image_column: str | None = "path"
        text_column: str | None = None
    else:
        frame, source = read_dataframe(data, encoding=settings.encoding)
        table = dataframe_to_table(frame, source)
        label = require_label(settings.label, frame, source)
        image_column = find_image_column(frame, label)
        text_column = settings.text or (None if image_column else find_text_column(frame, label))
        if settings.text is not None and settings.text not in frame.columns:
            names = [str(c) for c in frame.columns]
            raise UsageError(
                f"--text {settings.text}: no such column in {source}.{closest(settings.text, names)}"
            )
    if frame[label].isna().all():
        raise DataError(
            f"{source}, column '{label}': every value is empty; there is nothing to learn from. Is this the right label column?"
        )
    task = settings.task or infer_task(frame[label])
    targets, table, frame = labelled_rows(table, frame, label, task)
    if image_column:
        what = f"images: {len(frame)} labelled images in column '{image_column}'"
    elif text_column:
        what = f"text: {len(frame)} labelled texts in column '{text_column}'"
    else:
        what = f"table: {len(frame)} labelled rows, {len(frame.columns) - 1} columns"
    say(step("data", f"{source} — {what}; label '{label}' → {task}"))
    return Labelled(table, frame, targets, label, task, source, image_column, text_column)


def require_label(label: str | None, frame: pd.DataFrame, source: str) -> str:
    names = [str(c) for c in frame.columns]
    if label is None:
        raise UsageError(
            f"--label is required: name the column to predict; columns in {source}: {', '.join(names)}"
        )
    if label not in names:
        raise DataError(
            f"{source}: no label column '{label}'.{closest(label, names)} Columns: {', '.join(names)}"
        )
    return label


def decode_images(labelled: Labelled, settings: TrainSettings, run_dir: Path) -> Labelled:
    """Decode every image once into a uint8 store; with --skip-bad, leave unreadable files out."""
    from learnt.data.images import decode_all, resolve_paths, survey

    paths = resolve_paths(labelled.table.columns[labelled.image_column], labelled.table.base)
    size, channels = survey(paths, settings.seed)
    size = settings.image_size or size
    with decoding_progress(len(paths)) as advance:
        decoded = decode_all(
            paths,
            size,
            channels,
            skip_bad=settings.skip_bad,
            source=labelled.source,
            store=run_dir / "images.npy",
            progress=advance,
        )
    mode = "grayscale" if channels == 1 else "RGB"
    say(
        step(
            "images",
            f"{len(decoded.good)} decoded once to {size}×{size} {mode} (shorter side resized, centre cropped); {len(decoded.bad)} skipped",
        )
    )
    for path, why in decoded.bad[:5]:
        say(f"{'':>14}skipped {path}: {why}")
    if len(decoded.good) < 10:
        raise DataError(
            f"{labelled.source}: only {len(decoded.good)} readable images; at least 10 are needed to train and test"
        )
    kept = labelled.take(decoded.good) if decoded.bad else labelled
    return replace(kept, pixels=decoded.pixels, skipped=decoded.bad)


@contextlib.contextmanager
def decoding_progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for decoding (images are the slow part of reading)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from learnt.console import console, is_quiet

    if is_quiet():
        yield lambda n: None
        return
    with Progress(
        TextColumn("[bold]decoding images"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
    ) as progress:
        task = progress.add_task("decode", total=total)
        yield lambda n: progress.advance(task, n)


def prepare_table(labelled: Labelled, split: Split, settings: TrainSettings) -> Prepared:
    """Schema, preprocessing and tensors for a table (the MLP family)."""
    schema = infer_schema(
        labelled.frame.iloc[split.train],
        labelled.label,
        ignore=settings.ignore,
        task=labelled.task,
        source=labelled.source,
    )
    preprocessing = fit_preprocessing(labelled.table.take(split.train), schema)
    labels, targets = fit_targets(labelled, split)
    encoded = encode(labelled.table, preprocessing)
    sizes = {
        "rows": len(split.train),
        "n_numeric": preprocessing.n_numeric,
        "cardinalities": preprocessing.cardinalities,
        "n_outputs": len(labels.classes) if labelled.task == "classification" else 1,
    }
    return Prepared(
        "table",
        schema,
        preprocessing,
        labels,
        train=loop_data(encoded, targets, split.train),
        validation=loop_data(encoded, targets, split.validation),
        sample=encoded.take(export_rows(split)),
        sizes=sizes,
    )


def prepare_images(labelled: Labelled, split: Split, settings: TrainSettings) -> Prepared:
    """Schema, per-channel statistics and the shared uint8 store for images (the CNN family)."""
    from learnt.augment import ImageBatches
    from learnt.data.images import fit_image_input, normalise

    assert labelled.pixels is not None and labelled.image_column is not None
    schema = single_input_schema(
        labelled.frame, labelled.label, labelled.task, labelled.image_column, "image"
    )
    _, channels, size, _ = labelled.pixels.shape
    spec = fit_image_input(labelled.image_column, labelled.pixels[split.train], size, channels)
    labels, targets = fit_targets(labelled, split)
    pixels, target_tensor = torch.from_numpy(labelled.pixels), torch.from_numpy(targets)
    batches = ImageBatches(spec, settings.augment, settings.seed)

    def part(rows: np.ndarray) -> LoopData:
        return LoopData((pixels,), target_tensor, torch.from_numpy(rows), batches, chunk_rows=512)

    sizes = {
        "images": len(split.train),
        "size": size,
        "channels": channels,
        "n_outputs": len(labels.classes) if labelled.task == "classification" else 1,
    }
    sample = Encoded({"image": normalise(labelled.pixels[export_rows(split)], spec)})
    return Prepared(
        "images",
        schema,
        Preprocessing(image=spec),
        labels,
        train=part(split.train),
        validation=part(split.validation),
        sample=sample,
        sizes=sizes,
        memory_format=torch.channels_last,
    )


def prepare_text(labelled: Labelled, split: Split, settings: TrainSettings) -> Prepared:
    """Schema, a tokenizer fitted on the training texts, and padded token tensors (the Transformer)."""
    from learnt.data.text import TOKENIZER_FILE, fit_text_input, fit_tokenizer, texts, tokenize

    assert labelled.text_column is not None
    schema = single_input_schema(
        labelled.frame, labelled.label, labelled.task, labelled.text_column, "text"
    )
    column = labelled.table.columns[labelled.text_column]
    training_texts = texts(column[split.train])
    tokenizer = fit_tokenizer(training_texts)
    spec = fit_text_input(labelled.text_column, tokenizer, training_texts)
    say(
        step(
            "tokenizer",
            f"WordPiece, {spec.vocabulary_size} tokens learnt from the training texts; at most {spec.max_length} tokens per text ({spec.truncated_fraction:.1%} of training texts truncated)",
        )
    )
    labels, targets = fit_targets(labelled, split)
    tokens, mask = tokenize(tokenizer, column, spec)  # [N, T] padded once; batches are trimmed
    tensors = (torch.from_numpy(tokens), torch.from_numpy(mask))
    lengths, target_tensor = tensors[1].sum(1), torch.from_numpy(targets)

    def part(rows: np.ndarray) -> LoopData:
        return LoopData(
            tensors,
            target_tensor,
            torch.from_numpy(rows),
            trim_padding,
            chunk_rows=1024,
            lengths=lengths,
        )

    sizes = {
        "texts": len(split.train),
        "vocabulary_size": spec.vocabulary_size,
        "max_length": spec.max_length,
        "n_outputs": len(labels.classes) if labelled.task == "classification" else 1,
    }
    rows = export_rows(split)
    sample = Encoded({"tokens": tokens[rows], "mask": mask[rows]})
    return Prepared(
        "text",
        schema,
        Preprocessing(text=spec),
        labels,
        train=part(split.train),
        validation=part(split.validation),
        sample=sample,
        sizes=sizes,
        write_files=lambda directory: tokenizer.save(str(directory / TOKENIZER_FILE)),
    )


def trim_padding(inputs: tuple[torch.Tensor, ...], training: bool) -> tuple[torch.Tensor, ...]:
    """Cut a batch of (tokens, mask) to its longest text: short texts don't pay for long ones."""
    tokens, mask = inputs
    width = int(mask.sum(1).max())
    return tokens[:, :width], mask[:, :width]


def fit_targets(labelled: Labelled, split: Split) -> tuple[LabelEncoding, np.ndarray]:
    """Classes from every label; a regression label's mean and std from the training rows only."""
    column = labelled.table.columns[labelled.label]
    if labelled.task == "classification":
        return fit_labels(column, "classification"), labelled.targets
    labels = fit_labels(column[split.train], "regression")
    return labels, ((labelled.targets - labels.mean) / labels.std).astype(np.float32)


def export_rows(split: Split) -> np.ndarray:
    return split.validation[:256] if len(split.validation) else split.train[:256]


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
    """The rows of one part as tensors of their own (contiguous, so batches gather fast)."""
    part = encoded.take(rows)
    return LoopData(
        tuple(torch.from_numpy(a) for a in part.arrays.values()), torch.from_numpy(targets[rows])
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
    settings: TrainSettings, state: TrainState, split: Split, data: Any, labelled: Labelled
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
        data=labelled.source,
        data_sha256=fingerprint(data),
        skipped=[{"file": path, "reason": why} for path, why in labelled.skipped],
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
    """sha256 of the data file, of a folder's files (names and contents), or of a DataFrame."""
    if isinstance(data, str | Path) and Path(data).is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in Path(data).rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(data)).encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()
    if isinstance(data, str | Path):
        from learnt.program import sha256

        return sha256(Path(data))
    import pandas as pd

    hashed = pd.util.hash_pandas_object(data, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, data.columns)).encode()).hexdigest()
