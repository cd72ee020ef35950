"""Steps 3 and 4 for training: from labelled data to the tensors the loop reads.

    learnt train DATA …   →   read_labelled → (decode_images) → split_rows → prepare_table | prepare_images | prepare_text

Reads the data and keeps the labelled rows, splits them, then either **fits** everything a program
needs on the training rows only — schema, preprocessing, label encoding, tokenizer — or **reuses**
those of an earlier program (`Fitted.from_program`: transfer, or a resumed run), and only encodes.
It lays out the tensors the loop reads: copies per part for tables; one shared store with per-part
row indices for images (uint8, augmented per batch) and text (tokens padded once, bucketed by
length and trimmed per batch).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from learnt.console import say, step
from learnt.data.encode import (
    Encoded,
    encode,
    encode_labels,
    fit_labels,
    fit_preprocessing,
)
from learnt.data.schema import (
    find_image_column,
    find_text_column,
    infer_schema,
    infer_task,
    single_input_schema,
)
from learnt.data.split import Split, split_rows
from learnt.data.tables import Table, dataframe_to_table, read_dataframe
from learnt.errors import DataError, UsageError, closest
from learnt.files import write_text_atomically
from learnt.kinds import DataKind, Task
from learnt.runtime.format import (
    TOKENIZER_FILE,
    ImageInput,
    LabelEncoding,
    Preprocessing,
    Schema,
)
from learnt.settings import TrainSettings
from learnt.training.families.mlp import wide_warning
from learnt.training.loop import LoopData

if TYPE_CHECKING:
    import pandas as pd

    from learnt.backbones import Backbone
    from learnt.data.images import Survey
    from learnt.runtime.program import Program
    from learnt.training.init import InitPlan

FITTED_JSON = "fitted.json"
SHARED = ".shared"  # in the run directory, while ranks train: what rank 0 prepared for the others


@dataclass
class Fitted:
    """Everything fitted on training rows that a program keeps, to fit afresh or to reuse."""

    schema: Schema
    preprocessing: Preprocessing
    labels: LabelEncoding
    tokenizer: Any = None  # text programs: a `tokenizers.Tokenizer`

    @property
    def data_kind(self) -> DataKind:
        return self.schema.data_kind

    @classmethod
    def from_program(cls, program: Program) -> Fitted:
        """An earlier program's schema, preprocessing, label encoding and tokenizer."""
        manifest = program.manifest
        tokenizer = program.tokenizer() if manifest.preprocessing.text is not None else None
        return cls(manifest.input_schema, manifest.preprocessing, manifest.labels, tokenizer)

    def write_files(self, directory: Path) -> None:
        """The program files beside the manifest that preprocessing needs (the tokenizer)."""
        if self.tokenizer is not None:
            self.tokenizer.save(str(directory / TOKENIZER_FILE))

    def save(self, directory: Path) -> None:
        """`fitted.json` (and `tokenizer.json`) in `directory`, e.g. beside a checkpoint."""
        directory.mkdir(parents=True, exist_ok=True)
        self.write_files(directory)
        data = {
            "schema": self.schema.model_dump(mode="json"),
            "preprocessing": self.preprocessing.model_dump(mode="json"),
            "labels": self.labels.model_dump(mode="json"),
        }
        write_text_atomically(directory / FITTED_JSON, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Fitted:
        """What `save(directory)` wrote, validated as a program's manifest is."""
        from learnt.data.text import load_tokenizer

        data = json.loads((directory / FITTED_JSON).read_text(encoding="utf-8"))
        preprocessing = Preprocessing.model_validate(data["preprocessing"])
        tokenizer = None
        if preprocessing.text is not None:
            tokenizer = load_tokenizer(directory / preprocessing.text.tokenizer)
        return cls(
            Schema.model_validate(data["schema"]),
            preprocessing,
            LabelEncoding.model_validate(data["labels"]),
            tokenizer,
        )


def prepare(
    data: str | Path | pd.DataFrame,
    settings: TrainSettings,
    run_dir: Path,
    fitted: Fitted | None = None,
) -> tuple[Labelled, Split, Prepared]:
    """Steps 3 and 4 (with step 2's choice, which the kind of data decides): the labelled rows,
    their split, and the loop's tensors.

    Preprocessing is fitted on the training rows; or reused as it is — given `fitted` (from a
    checkpoint) or `--init PROGRAM`; or a pretrained backbone's own (input size and normalisation,
    its tokenizer). `run_dir` holds the image store when images are too many to keep in memory.
    """
    from learnt.training.init import choose_init, source_program

    program = source_program(settings.init)
    if program is not None and fitted is None:
        fitted = Fitted.from_program(program)
    labelled = read_labelled(data, settings, fitted)
    train_rows = int(len(labelled.targets) * (1 - settings.test_size) * (1 - settings.val_size))
    surveyed = survey_images(labelled, settings) if labelled.image_column else None
    init = choose_init(settings, labelled.data_kind, train_rows, program, surveyed)
    if surveyed is not None:
        size, channels = image_shape(surveyed, settings, fitted, init.backbone)
        labelled = decode_images(labelled, settings, run_dir, size, channels)

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
    prepared = fit(labelled, split, settings, fitted, init.backbone)
    prepared.init = init
    reused = " (reused from the program)" if fitted else ""
    say(step("schema", prepared.fitted.schema.describe() + reused))
    return labelled, split, prepared


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
    reused_labels: LabelEncoding | None = None  # a reused program's, when they fit these labels

    @property
    def data_kind(self) -> DataKind:
        return "images" if self.image_column else "text" if self.text_column else "table"

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

    fitted: Fitted
    train: LoopData
    validation: LoopData
    sample: Encoded  # a few encoded rows, to export and check the ONNX graph
    sizes: dict[str, Any]  # what the architecture's sizing rule reads
    memory_format: torch.memory_format = torch.contiguous_format
    init: InitPlan | None = None  # step 2's choice, made once the kind of data was known

    @property
    def data_kind(self) -> DataKind:
        return self.fitted.data_kind


def read_labelled(
    data: str | Path | pd.DataFrame, settings: TrainSettings, fitted: Fitted | None = None
) -> Labelled:
    """Read the data, choose the task, keep the labelled rows. A folder means images by class.

    With `fitted`, the label, task and input column are the earlier program's.
    """
    import pandas as pd

    label_setting = settings.label or (fitted.schema.label if fitted else None)
    if isinstance(data, str | Path) and Path(data).is_dir():
        from learnt.data.images import read_image_folder

        table = read_image_folder(Path(data))
        if settings.label not in (None, "label"):
            raise UsageError(
                f"--label {settings.label}: a folder of images is labelled by its sub-folder names; leave --label out",
                field="label",
            )
        frame, source, label = pd.DataFrame(table.columns), table.source, "label"
        image_column: str | None = "path"
        text_column: str | None = None
    else:
        frame, source = read_dataframe(data, encoding=settings.encoding)
        table = dataframe_to_table(frame, source)
        label = require_label(label_setting, frame, source)
        if fitted is not None:
            image_column, text_column = input_column(fitted, frame, source)
        else:
            image_column = find_image_column(frame, label)
            text_column = settings.text or (
                None if image_column else find_text_column(frame, label)
            )
        if settings.text is not None and settings.text not in frame.columns:
            names = [str(c) for c in frame.columns]
            raise UsageError(
                f"--text {settings.text}: no such column in {source}.{closest(settings.text, names)}",
                field="text",
                column=settings.text,
            )
    if frame[label].isna().all():
        raise DataError(
            f"{source}, column '{label}': every value is empty; there is nothing to learn from. Is this the right label column?",
            file=source,
            column=label,
        )
    reused = fitted.labels if fitted and labels_fit(fitted.labels, frame[label], settings) else None
    task = reused.task if reused else settings.task or infer_task(frame[label])
    targets, table, frame = labelled_rows(table, frame, label, task, reused)
    if image_column:
        what = f"images: {len(frame)} labelled images in column '{image_column}'"
    elif text_column:
        what = f"text: {len(frame)} labelled texts in column '{text_column}'"
    else:
        what = f"table: {len(frame)} labelled rows, {len(frame.columns) - 1} columns"
    say(step("data", f"{source} — {what}; label '{label}' → {task}"))
    return Labelled(
        table, frame, targets, label, task, source, image_column, text_column, reused_labels=reused
    )


def labels_fit(labels: LabelEncoding, column: pd.Series, settings: TrainSettings) -> bool:
    """Whether a reused program's label encoding covers this label column (then its head stays)."""
    from learnt.data.encode import canonical_strings

    if settings.task not in (None, labels.task):
        return False
    if labels.task == "regression":
        return infer_task(column) == "regression"
    known = set(canonical_strings(np.array(labels.classes, dtype=object)).tolist())
    present = set(canonical_strings(column.to_numpy(dtype=object)).tolist()) - {None}
    return present <= known


def input_column(fitted: Fitted, frame: pd.DataFrame, source: str) -> tuple[str | None, str | None]:
    """(image column, text column) of a reused program, checked to be in `frame`."""
    spec = fitted.preprocessing.image or fitted.preprocessing.text
    if spec is None:
        return None, None
    if spec.column not in frame.columns:
        names = [str(c) for c in frame.columns]
        raise DataError(
            f"{source}: no column '{spec.column}', which the program reads.{closest(spec.column, names)}",
            file=source,
            column=spec.column,
        )
    image = fitted.preprocessing.image is not None
    return (spec.column, None) if image else (None, spec.column)


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


def survey_images(labelled: Labelled, settings: TrainSettings) -> Survey:
    from learnt.data.images import resolve_paths, survey

    assert labelled.image_column is not None
    paths = resolve_paths(labelled.table.columns[labelled.image_column], labelled.table.base)
    return survey(paths, settings.seed)


def image_shape(
    surveyed: Survey, settings: TrainSettings, fitted: Fitted | None, backbone: Backbone | None
) -> tuple[int, Literal[1, 3]]:
    """(side, channels) to decode to: a reused program's; for a backbone, RGB at the median
    shorter side within 64–224 px; else learnt's own (median within 16–64, grey if all are)."""
    if fitted is not None and fitted.preprocessing.image is not None:
        return fitted.preprocessing.image.size, fitted.preprocessing.image.channels
    if backbone is not None:
        from learnt.training.families.efficientnet import input_size

        return settings.image_size or input_size(surveyed.side), 3
    return settings.image_size or surveyed.size(), surveyed.channels


def decode_images(
    labelled: Labelled, settings: TrainSettings, run_dir: Path, size: int, channels: Literal[1, 3]
) -> Labelled:
    """Decode every image once into a uint8 store; with --skip-bad, leave unreadable files out.

    On several ranks, rank 0 decodes (on every core, in threads) and leaves the store in the run
    directory; the others map that file (one copy in memory per machine) instead of decoding.
    """
    from learnt.data.images import decode_all, resolve_paths
    from learnt.training.distributed import current

    if not current().is_main:
        return decoded_by_main(labelled, run_dir)
    paths = resolve_paths(labelled.table.columns[labelled.image_column], labelled.table.base)
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
    if current().distributed:
        (run_dir / SHARED).mkdir(parents=True, exist_ok=True)
        np.save(run_dir / SHARED / "images.npy", decoded.pixels)
        np.save(run_dir / SHARED / "kept.npy", decoded.good)
    return replace(kept, pixels=decoded.pixels, skipped=decoded.bad)


def decoded_by_main(labelled: Labelled, run_dir: Path) -> Labelled:
    """The images rank 0 decoded (see `decode_images`), mapped copy-on-write from its store."""
    pixels = np.load(run_dir / SHARED / "images.npy", mmap_mode="c")
    good = np.load(run_dir / SHARED / "kept.npy")
    kept = labelled.take(good) if len(good) < len(labelled.targets) else labelled
    return replace(kept, pixels=pixels)


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


def prepare_table(
    labelled: Labelled,
    split: Split,
    settings: TrainSettings,
    fitted: Fitted | None,
    backbone: Backbone | None = None,
) -> Prepared:
    """Schema, preprocessing and tensors for a table (the MLP family)."""
    if fitted is None:
        schema = infer_schema(
            labelled.frame.iloc[split.train],
            labelled.label,
            ignore=settings.ignore,
            task=labelled.task,
            source=labelled.source,
        )
        preprocessing = fit_preprocessing(labelled.table.take(split.train), schema)
        fitted = Fitted(schema, preprocessing, fit_labels_on_train(labelled, split))
    else:
        fitted = own_labels(fitted, labelled, split)
    preprocessing = fitted.preprocessing
    targets = standardised_targets(labelled, fitted.labels)
    encoded = encode(labelled.table, preprocessing)
    sizes = {
        "rows": len(split.train),
        "n_numeric": preprocessing.n_numeric,
        "cardinalities": preprocessing.cardinalities,
        "n_outputs": n_outputs(fitted.labels),
    }
    if (warning := wide_warning(**sizes)) is not None:
        say(step("warning", warning))
    return Prepared(
        fitted,
        train=loop_data(encoded, targets, split.train),
        validation=loop_data(encoded, targets, split.validation),
        sample=encoded.take(export_rows(split)),
        sizes=sizes,
    )


def prepare_images(
    labelled: Labelled,
    split: Split,
    settings: TrainSettings,
    fitted: Fitted | None,
    backbone: Backbone | None = None,
) -> Prepared:
    """Schema, per-channel statistics (or a backbone's normalisation) and the shared uint8 store
    for images."""
    from learnt.data.images import fit_image_input, normalise
    from learnt.training.augment import ImageBatches

    assert labelled.pixels is not None and labelled.image_column is not None
    _, channels, size, _ = labelled.pixels.shape
    if fitted is None:
        schema = single_input_schema(
            labelled.frame, labelled.label, labelled.task, labelled.image_column, "image"
        )
        if backbone is not None:  # the backbone's own: x/255 scaled to [-1, 1]
            spec = ImageInput(
                column=labelled.image_column, size=size, channels=3, mean=[0.5] * 3, std=[0.5] * 3
            )
        else:
            spec = fit_image_input(
                labelled.image_column, labelled.pixels[split.train], size, channels
            )
        fitted = Fitted(schema, Preprocessing(image=spec), fit_labels_on_train(labelled, split))
    else:
        fitted = own_labels(fitted, labelled, split)
    spec = fitted.preprocessing.image
    assert spec is not None
    targets = torch.from_numpy(standardised_targets(labelled, fitted.labels))
    pixels = torch.from_numpy(labelled.pixels)
    batches = ImageBatches(spec, settings.augment)

    def part(rows: np.ndarray) -> LoopData:
        return LoopData((pixels,), targets, torch.from_numpy(rows), batches, chunk_rows=512)

    sizes = {
        "images": len(split.train),
        "size": size,
        "channels": channels,
        "n_outputs": n_outputs(fitted.labels),
    }
    sample = Encoded({"image": normalise(labelled.pixels[export_rows(split)], spec)})
    return Prepared(
        fitted,
        train=part(split.train),
        validation=part(split.validation),
        sample=sample,
        sizes=sizes,
        memory_format=torch.channels_last,
    )


def prepare_text(
    labelled: Labelled,
    split: Split,
    settings: TrainSettings,
    fitted: Fitted | None,
    backbone: Backbone | None = None,
) -> Prepared:
    """Schema, a tokenizer fitted on the training texts (or a backbone's), and padded token tensors."""
    from learnt.data.text import (
        fit_text_input,
        fit_tokenizer,
        load_tokenizer,
        texts,
        tokenize,
    )

    assert labelled.text_column is not None
    column = labelled.table.columns[labelled.text_column]
    if fitted is None:
        schema = single_input_schema(
            labelled.frame, labelled.label, labelled.task, labelled.text_column, "text"
        )
        training_texts = texts(column[split.train])
        if backbone is not None:
            tokenizer = load_tokenizer(backbone.folder() / TOKENIZER_FILE)
            origin = f"{backbone.name}'s own WordPiece, {tokenizer.get_vocab_size():,} tokens"
        else:
            tokenizer = fit_tokenizer(training_texts)
            origin = (
                f"WordPiece, {tokenizer.get_vocab_size()} tokens learnt from the training texts"
            )
        spec = fit_text_input(labelled.text_column, tokenizer, training_texts)
        labels = fit_labels_on_train(labelled, split)
        fitted = Fitted(schema, Preprocessing(text=spec), labels, tokenizer)
        say(
            step(
                "tokenizer",
                f"{origin}; at most {spec.max_length} tokens per text ({spec.truncated_fraction:.1%} of training texts truncated)",
            )
        )
    else:
        fitted = own_labels(fitted, labelled, split)
    spec = fitted.preprocessing.text
    assert spec is not None
    tokens, mask = tokenize(fitted.tokenizer, column, spec)  # [N, T] padded once; batches trimmed
    tensors = (torch.from_numpy(tokens), torch.from_numpy(mask))
    lengths = tensors[1].sum(1)
    targets = torch.from_numpy(standardised_targets(labelled, fitted.labels))

    def part(rows: np.ndarray) -> LoopData:
        return LoopData(
            tensors, targets, torch.from_numpy(rows), trim_padding, chunk_rows=1024, lengths=lengths
        )

    sizes = {
        "texts": len(split.train),
        "vocabulary_size": spec.vocabulary_size,
        "max_length": spec.max_length,
        "n_outputs": n_outputs(fitted.labels),
    }
    rows = export_rows(split)
    sample = Encoded({"tokens": tokens[rows], "mask": mask[rows]})
    return Prepared(
        fitted,
        train=part(split.train),
        validation=part(split.validation),
        sample=sample,
        sizes=sizes,
    )


def trim_padding(
    inputs: tuple[torch.Tensor, ...], augment: torch.Generator | None
) -> tuple[torch.Tensor, ...]:
    """Cut a batch of (tokens, mask) to its longest text: short texts don't pay for long ones."""
    tokens, mask = inputs
    width = int(mask.sum(1).max())
    return tokens[:, :width], mask[:, :width]


def own_labels(fitted: Fitted, labelled: Labelled, split: Split) -> Fitted:
    """A reused program's preprocessing keeps its labels only when they fit these rows (then its
    head stays); otherwise labels are fitted on them and the head is made afresh."""
    if labelled.reused_labels is not None:
        return fitted
    return replace(fitted, labels=fit_labels_on_train(labelled, split))


def fit_labels_on_train(labelled: Labelled, split: Split) -> LabelEncoding:
    """Classes from every label; a regression label's mean and std from the training rows only."""
    column = labelled.table.columns[labelled.label]
    if labelled.task == "classification":
        return fit_labels(column, "classification")
    return fit_labels(column[split.train], "regression")


def standardised_targets(labelled: Labelled, labels: LabelEncoding) -> np.ndarray:
    """Class codes as they are; regression targets standardised with the label encoding."""
    if labels.task == "classification":
        return labelled.targets
    return ((labelled.targets - labels.mean) / labels.std).astype(np.float32)


def n_outputs(labels: LabelEncoding) -> int:
    return len(labels.classes) if labels.task == "classification" else 1


def export_rows(split: Split) -> np.ndarray:
    return split.validation[:256] if len(split.validation) else split.train[:256]


def labelled_rows(
    table: Table,
    frame: pd.DataFrame,
    label: str,
    task: Task,
    encoding: LabelEncoding | None = None,
) -> tuple[np.ndarray, Table, pd.DataFrame]:
    """Targets for the rows that have a label (class codes or raw numbers); other rows are dropped.

    Class codes follow `encoding` when given (a reused program's classes), else the data's.
    """
    column = table.columns[label]
    if task == "classification":
        encoding = encoding or fit_labels(column, "classification")
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
