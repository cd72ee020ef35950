"""The HTML report of a run, from its files alone.

    learnt report runs/titanic                     # (re)writes runs/titanic/report.html
    learnt evaluate PROGRAM DATA --report eval.html

One self-contained page (pictures inline as PNG, CSS inline, nothing from the network, no
JavaScript) whose sections follow the lifecycle: the data and its split, the architecture, the
initial parameters, the training curves, the program, its evaluation on the test rows and its worst
test predictions. It is built from the run directory's files — `program/program.json`,
`metrics.jsonl`, `settings.json`, and two files the run saves for it: `run.json` (label counts per
part of the split, the sizing rule's inputs) and `evaluation.json` (the test predictions, and the
worst rows with their inputs) — so it can be rebuilt without the data and without torch.

Everything that came from the data (column and class names, texts, file names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from learnt import __version__
from learnt.errors import DataError, ProgramError, UsageError
from learnt.files import write_text_atomically
from learnt.runtime.format import MANIFEST, Manifest

if TYPE_CHECKING:
    from learnt.data.tables import Table
    from learnt.runtime.predict import Runner
    from learnt.runtime.program import Program

REPORT = "report.html"
EVALUATION = "evaluation.json"  # the test predictions (see `predictions_record`)
RUN_FACTS = "run.json"  # what the run saw and decided that the program does not hold
METRICS = "metrics.jsonl"
SETTINGS = "settings.json"
PROGRAM = "program"

STORED_ROWS = 5000  # test predictions kept for the plots (a seeded sample beyond this)
WORST_ROWS = 12
THUMBNAIL = 96  # pixels, at most, of a worst image's side
TEXT_LIMIT = 400  # characters of a worst text or a table cell
WIDE_TABLE = 8  # feature columns beyond which a worst row's inputs share one cell
HISTOGRAM_BINS = 20


# --- what a run saves for its report ------------------------------------------------------------


def evaluate_in_detail(
    program: Program, table: Table, runner: Runner | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics of `program` on labelled `table` (as `evaluate_table`), and its predictions record."""
    from learnt.runtime.evaluate import labelled_outputs, metrics_of

    targets, rows, outputs = labelled_outputs(program, table, runner)
    return metrics_of(program, targets, rows, outputs), predictions_record(
        program, targets, rows, outputs
    )


def predictions_record(
    program: Program, targets: np.ndarray, rows: Table, outputs: np.ndarray
) -> dict[str, Any]:
    """What the report's plots need of the predictions, as JSON-ready data.

    Classification: each row's `label` and `prediction` (class indices) and `confidence` (the
    predicted class's probability); regression: `actual` and `predicted` in the label's units. At
    most `STORED_ROWS` rows (a seeded sample), and the `worst` rows with their inputs.
    """
    from learnt.runtime.predict import softmax

    labels = program.manifest.labels
    if program.task == "classification":
        probabilities = softmax(outputs)
        predicted = probabilities.argmax(1)
        label_probability = probabilities[np.arange(len(targets)), targets]
        columns: dict[str, np.ndarray] = {
            "label": targets.astype(np.int64),
            "prediction": predicted,
            "confidence": probabilities.max(1).round(5),
        }
        badness = -label_probability
    else:
        actual = targets.astype(np.float64) * labels.std + labels.mean
        estimate = outputs[:, 0].astype(np.float64) * labels.std + labels.mean
        # float32 precision: enough for a plot, and 141.0 rather than 140.99999968 in the file
        columns = {"actual": actual.astype(np.float32), "predicted": estimate.astype(np.float32)}
        badness = np.abs(estimate - actual)
        label_probability = None
    kept = np.arange(len(targets))
    if len(kept) > STORED_ROWS:
        kept = np.sort(np.random.default_rng(0).choice(len(kept), STORED_ROWS, replace=False))
    worst = np.argsort(-badness, kind="stable")[:WORST_ROWS]
    return {
        "task": program.task,
        "rows": len(targets),
        "stored": len(kept),
        **{name: values[kept].tolist() for name, values in columns.items()},
        "worst": [
            worst_row(program, rows, int(i), columns, label_probability) for i in worst.tolist()
        ],
    }


def worst_row(
    program: Program,
    rows: Table,
    i: int,
    columns: dict[str, np.ndarray],
    label_probability: np.ndarray | None,
) -> dict[str, Any]:
    """One badly predicted row: its name, label, prediction and inputs (text, image thumbnail)."""
    preprocessing = program.manifest.preprocessing
    name = rows.row_names[i] if rows.row_names is not None else i + 1
    record: dict[str, Any] = {"row": cell(name)}
    record |= {key: values[i].item() for key, values in columns.items()}
    if label_probability is not None:
        record["label_probability"] = round(float(label_probability[i]), 5)
    if preprocessing.image is not None:
        from learnt.data.images import resolve_paths

        path = resolve_paths(rows.columns[preprocessing.image.column][[i]], rows.base)[0]
        record["file"] = path
        record["image"] = thumbnail(path, preprocessing.image.size, preprocessing.image.channels)
    elif preprocessing.text is not None:
        record["text"] = cell(rows.columns[preprocessing.text.column][i], TEXT_LIMIT)
    else:
        features = [c.name for c in program.manifest.input_schema.features]
        record["inputs"] = {f: cell(rows.columns[f][i]) for f in features if f in rows.columns}
    return record


def thumbnail(path: str, size: int, channels: int) -> str | None:
    """The image as the program saw it (at most `THUMBNAIL` px), a PNG data URI; None: unreadable."""
    from PIL import Image

    from learnt.data.images import BadImage, decode_image

    try:
        pixels = decode_image(path, min(size, THUMBNAIL), channels)
    except BadImage:
        return None
    image = Image.fromarray(pixels[0] if channels == 1 else pixels.transpose(1, 2, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def cell(value: Any, limit: int = 120) -> str:
    """A value as display text: '' for missing, long values shortened."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    text = format(value, ".6g") if isinstance(value, float) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_facts(
    task: str,
    targets: np.ndarray,
    parts: dict[str, np.ndarray],
    n_classes: int,
    sizes: dict[str, Any],
    sized: str,
) -> dict[str, Any]:
    """`run.json`: rows per class in each part of the split (or a regression label's histogram
    with shared bins), and the sizing rule's inputs and verdict."""
    facts: dict[str, Any] = {"sizes": sizes, "sized": sized}
    if task == "classification":
        facts["class_counts"] = {
            part: np.bincount(targets[rows], minlength=n_classes).tolist()
            for part, rows in parts.items()
        }
    else:
        values = targets.astype(np.float64)
        finite = values[np.isfinite(values)]
        edges = np.histogram_bin_edges(finite, bins=HISTOGRAM_BINS) if len(finite) else [0, 1]
        facts["label_histogram"] = {
            "edges": np.asarray(edges).tolist(),
            "counts": {
                part: np.histogram(values[rows], bins=edges)[0].tolist()
                for part, rows in parts.items()
            },
        }
    return facts


def save_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomically(path, json.dumps(data, separators=(",", ":")) + "\n")


# --- reading a run ------------------------------------------------------------------------------


@dataclass
class Run:
    """The files of a run directory that a report is built from."""

    path: Path
    manifest: Manifest
    epochs: list[dict[str, Any]]  # metrics.jsonl, one line per epoch
    settings: dict[str, Any] | None
    facts: dict[str, Any] | None
    predictions: dict[str, Any] | None


def read_run(run_dir: Path) -> Run:
    """A run's files; a missing or malformed one is a clear error naming it."""
    from learnt.runtime.program import read_manifest

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory", file=run_dir)
    if not (run_dir / PROGRAM / MANIFEST).is_file():
        raise UsageError(
            f"{run_dir}: not a run directory (no {PROGRAM}/{MANIFEST}); expected the folder "
            "`learnt train` wrote, e.g. runs/titanic",
            file=run_dir,
        )
    metrics = run_dir / METRICS
    if not metrics.is_file():
        raise DataError(
            f"{metrics}: missing; a run directory holds one JSON line per epoch there",
            file=metrics,
        )
    return Run(
        run_dir,
        read_manifest(run_dir / PROGRAM),
        epoch_lines(metrics),
        read_object(run_dir / SETTINGS),
        read_object(run_dir / RUN_FACTS),
        read_object(run_dir / EVALUATION),
    )


def epoch_lines(path: Path) -> list[dict[str, Any]]:
    """The per-epoch lines of `metrics.jsonl` (within-epoch step lines are left out; so is a last
    line torn by a killed run)."""
    lines = []
    text = read_text(path).splitlines()
    last = max((i for i, line in enumerate(text, start=1) if line.strip()), default=0)
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            if number == last and not text[-1].endswith("}"):
                continue
            raise DataError(
                f"{path}, line {number}: not valid JSON ({error}); expected one JSON object "
                "per epoch",
                file=path,
                row=number,
            ) from error
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise DataError(
                f"{path}, line {number}: expected a JSON object with an integer 'epoch'",
                file=path,
                row=number,
            )
        if not record.get("within_epoch"):
            lines.append(record)
    return lines


def read_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when the file is absent (a run from before it was saved)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(read_text(path))
    except ValueError as error:
        raise DataError(f"{path}: not valid JSON ({error})", file=path) from error
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object", file=path)
    return data


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read ({error})", file=path) from error


# --- the reports --------------------------------------------------------------------------------


def write_run_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report of the run in `run_dir` (to `run_dir/report.html` unless `out`).

    Returns the path written. Raises `UsageError` when `run_dir` is not a run directory,
    `DataError` or `ProgramError` when one of its files is malformed (naming it), and
    `MissingDependencyError` when matplotlib is not installed.

    Example:
        >>> write_run_report(Path("runs/titanic"))  # doctest: +SKIP
        PosixPath('runs/titanic/report.html')
    """
    run = read_run(run_dir)
    target = out or run_dir / REPORT
    check_report_path(target)
    write_text_atomically(target, run_report(run))
    return target


def write_evaluation_report(
    program: Program, table: Table, out: Path, runner: Runner | None = None
) -> dict[str, Any]:
    """Evaluate `program` on labelled `table` and write the evaluation part of a report to `out`.

    Returns the metrics (the same dict as `evaluate_table`). Raises `DataError` for rows without
    the label column, and `MissingDependencyError` when matplotlib is not installed.
    """
    from learnt.runtime.plots import pyplot

    check_report_path(out)
    pyplot()  # before the evaluation: a missing matplotlib fails fast
    metrics, predictions = evaluate_in_detail(program, table, runner)
    manifest = program.manifest
    title = f"Evaluation of {program.path} on {table.source}"
    lede = (
        f"{manifest.task} program ({manifest.architecture.describe()}) evaluated on "
        f"{metrics['n']:,} labelled rows of {table.source}"
    )
    sections = [
        evaluation_section(manifest, metrics, predictions, f"labelled rows of {table.source}."),
        worst_section(manifest, predictions),
    ]
    write_text_atomically(out, page(title, lede, sections, f"Written by learnt {__version__}."))
    return metrics


def check_report_path(out: Path) -> None:
    """A clear error, before any work, when `out` cannot be written as a file."""
    from learnt.files import check_writable

    if out.is_dir():
        raise UsageError(
            f"{out}: is a folder; expected the report's file name, e.g. {out / REPORT}",
            file=out,
            field="out",
        )
    check_writable(out.parent, out)


def run_report(run: Run) -> str:
    """The whole report of a run, as one HTML page."""
    manifest = run.manifest
    sections = [
        data_section(run),
        architecture_section(run),
        init_section(manifest),
        training_section(run),
        program_section(run),
        evaluation_section(
            manifest,
            manifest.metrics,
            run.predictions,
            "test rows, held out before training and never seen by it.",
        ),
        worst_section(manifest, run.predictions),
    ]
    footer = (
        f"Built by learnt {__version__} from the files of {run.path}; "
        f"the program was written {manifest.training.created}."
    )
    return page(f"Run {run.path.name}", at_a_glance(run), sections, footer)


# --- sections -----------------------------------------------------------------------------------


@dataclass
class Section:
    anchor: str
    title: str
    step: str  # the lifecycle step(s) it shows
    body: str


def at_a_glance(run: Run) -> str:
    """One line: task and data, the headline score beside its baseline, how training ended."""
    manifest, training = run.manifest, run.manifest.training
    parts = [
        f"{manifest.task} on {manifest.input_schema.data_kind}",
        f"label '{manifest.input_schema.label}'",
    ]
    if manifest.metrics:
        from learnt.runtime.evaluate import summary

        parts.append(summary(manifest.metrics))
    parts.append(
        f"{training.epochs} epochs in {training.seconds:.1f} s, stopped: {training.stop_reason}"
    )
    return " · ".join(parts)


def data_section(run: Run) -> Section:
    """Steps 3–4: where the data came from, its schema, the split and the label distribution."""
    manifest, training = run.manifest, run.manifest.training
    schema = manifest.input_schema
    total = sum(training.rows.values())
    facts = [
        ("source", training.data),
        ("sha256", code(training.data_sha256)),
        ("kind", f"{schema.data_kind}, {total:,} labelled rows"),
        ("label", f"{esc(schema.label)} → {manifest.task}"),
        (
            "split",
            " / ".join(f"{n:,} {part}" for part, n in training.rows.items())
            + (" (stratified by class" if training.stratified else " (random")
            + f", seed {training.seed})",
        ),
    ]
    if training.skipped:
        facts.append(("skipped", f"{len(training.skipped)} unreadable inputs (see below)"))
    body = key_values(facts, escaped={"sha256", "label"})
    body += "<h3>Schema</h3>" + schema_table(manifest)
    if schema.dropped:
        body += "<h3>Dropped columns</h3>" + table(
            ["column", "why"], [[d.name, d.reason] for d in schema.dropped]
        )
    if training.skipped:
        rows = [[s.get("file", ""), s.get("reason", "")] for s in training.skipped[:50]]
        body += "<h3>Skipped inputs</h3>" + table(["file", "why"], rows)
    body += label_distribution(run)
    return Section("data", "Data", "steps 3–4", body)


def schema_table(manifest: Manifest) -> str:
    """Each feature column, its kind and how the program encodes it."""
    encodings = column_encodings(manifest)
    rows = [[c.name, c.kind, encodings.get(c.name, "")] for c in manifest.input_schema.features]
    return table(["column", "kind", "encoding (fitted on the training rows)"], rows)


def column_encodings(manifest: Manifest) -> dict[str, str]:
    """'standardised: mean 29.7, std 13.0; missing → 28 (+ indicator)' and the like, by column."""
    preprocessing = manifest.preprocessing
    found: dict[str, list[str]] = {}
    for n in preprocessing.numeric:
        part = "" if n.transform in ("number", "boolean") else f"{n.transform}: "
        missing = f"; missing → {n.median:.4g}" + (" (+ indicator)" if n.indicator else "")
        found.setdefault(n.column, []).append(f"{part}mean {n.mean:.4g}, std {n.std:.4g}{missing}")
    for c in preprocessing.categorical:
        found.setdefault(c.column, []).append(
            f"{len(c.categories)} categories + unknown + missing, embedded"
        )
    if (image := preprocessing.image) is not None:
        mode = "grey" if image.channels == 1 else "RGB"
        stats = ", ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(image.mean, image.std, strict=False))
        found[image.column] = [f"{image.size}×{image.size} {mode}, pixel/255 normalised ({stats})"]
    if (text := preprocessing.text) is not None:
        found[text.column] = [
            f"{text.vocabulary_size:,} tokens, at most {text.max_length} per text "
            f"({text.truncated_fraction:.1%} of training texts truncated)"
        ]
    return {column: "; ".join(parts) for column, parts in found.items()}


def label_distribution(run: Run) -> str:
    """Class balance per part of the split, or the regression label's histogram."""
    from learnt.runtime import plots

    manifest, facts = run.manifest, run.facts or {}
    if manifest.task == "classification":
        classes = manifest.labels.classes
        counts = facts.get("class_counts") or (
            {"train": manifest.training.class_counts} if manifest.training.class_counts else {}
        )
        if not counts:
            return note(f"{RUN_FACTS} is missing: no class counts to show.")
        rows = [
            [name, *(f"{part[i]:,}" for part in counts.values())] for i, name in enumerate(classes)
        ]
        return (
            "<h3>Class balance</h3>"
            + figure(plots.class_balance(classes, counts), "rows per class in each part")
            + table(["class", *counts], rows, numeric_from=1)
        )
    histogram = facts.get("label_histogram")
    summary = f"training label mean {manifest.labels.mean:.4g}, std {manifest.labels.std:.4g}"
    if not histogram:
        return "<h3>Label</h3>" + paragraph(summary)
    return (
        "<h3>Label distribution</h3>"
        + paragraph(summary)
        + figure(plots.label_histogram(histogram["edges"], histogram["counts"]), "label histogram")
    )


def architecture_section(run: Run) -> Section:
    """Step 1: the network, its parameters layer by layer, and what sized it."""
    manifest, facts = run.manifest, run.facts or {}
    config = manifest.architecture
    layers, parameters = weight_groups(run.path / PROGRAM)
    facts_rows = [
        ("network", config.shape()),
        ("parameters", f"{parameters:,}" if parameters else "unknown (weights unreadable)"),
    ]
    if facts.get("sized"):
        facts_rows.append(("sized", facts["sized"]))
    if facts.get("sizes"):
        inputs = ", ".join(f"{k} = {short_value(v)}" for k, v in facts["sizes"].items())
        facts_rows.append(("sizing rule read", inputs))
    body = key_values(facts_rows)
    hyper = [(k, short_value(v)) for k, v in config.model_dump(mode="json").items()]
    body += "<h3>Hyper-parameters</h3>" + key_values(hyper)
    if layers:
        body += "<h3>Layers</h3>" + table(
            ["layer", "tensors", "shapes", "parameters"],
            [[name, str(n), shapes, f"{count:,}"] for name, n, shapes, count in layers],
            numeric_from=3,
        )
    return Section("architecture", "Architecture", "step 1", body)


def weight_groups(
    program_dir: Path, limit: int = 40
) -> tuple[list[tuple[str, int, str, int]], int]:
    """(layer, tensors, shapes, parameters) from the weights file's header, grouped coarser
    until at most `limit` rows remain; and the total parameter count. Reads no tensor data.

    Batch-norm running statistics are buffers, not parameters: they are left out."""
    from learnt.runtime.checks import read_safetensors_header
    from learnt.runtime.format import WEIGHTS

    try:
        tensors = read_safetensors_header(program_dir / WEIGHTS)
    except (ProgramError, OSError):
        return [], 0
    shapes = {
        name: tensor.shape
        for name, tensor in sorted(tensors.items(), key=lambda item: natural(item[0]))
        if not name.endswith(BUFFERS)
    }
    for depth in (None, 3, 2, 1):
        groups: dict[str, list[tuple[int, ...]]] = {}
        for name, shape in shapes.items():
            parts = name.split(".")[:-1] or [name]
            key = ".".join(parts if depth is None else parts[:depth])
            groups.setdefault(key, []).append(shape)
        if len(groups) <= limit:
            break
    rows = []
    for key, group in groups.items():
        shown = ", ".join("×".join(map(str, s)) or "scalar" for s in group[:3])
        shown += ", …" if len(group) > 3 else ""
        rows.append((key, len(group), shown, sum(math.prod(s) for s in group)))
    return rows, sum(math.prod(s) for s in shapes.values())


BUFFERS = (".running_mean", ".running_var", ".num_batches_tracked")


def natural(name: str) -> list[Any]:
    """'blocks.10.conv' after 'blocks.2.conv'."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in name.split(".")]


def init_section(manifest: Manifest) -> Section:
    """Step 2: a seed, or the program or backbone the parameters were copied from."""
    training, source = manifest.training, manifest.training.init_source
    rows = [("initialised", training.init), ("seed", str(training.seed))]
    if source is not None:
        for label, value in (
            ("backbone", source.name),
            ("package", source.package),
            ("earlier program", source.path),
            ("its program.json sha256", source.manifest_sha256),
        ):
            if value:
                rows.append((label, value))
        if source.kind != "random":
            rows.append(("tensors copied", f"{source.copied:,}"))
        if source.recreated:
            rows.append(("made afresh", ", ".join(source.recreated)))
        if source.note:
            rows.append(("note", source.note))
        if source.phases:
            rows.append(("fine-tuning phases", " → ".join(source.phases)))
    return Section("init", "Initial parameters", "step 2", key_values(rows))


def training_section(run: Run) -> Section:
    """Step 5: the loop's settings, and loss and accuracy per epoch with the best epoch marked."""
    from learnt.runtime import plots

    training, settings = run.manifest.training, run.settings or run.manifest.training.settings
    rows = [
        (
            "stopped",
            f"{training.stop_reason} after {training.epochs} epochs ({training.steps:,} steps)",
        ),
        ("best epoch", f"{training.best_epoch} (its parameters were kept)"),
        ("time", f"{training.seconds:.1f} s, {training.seconds_per_epoch:.3g} s per epoch"),
    ]
    chosen = ("learning_rate", "weight_decay", "batch_size", "epochs", "patience", "augment")
    shown = [
        f"{k} {short_value(settings[k])}" for k in chosen if settings.get(k) not in (None, "none")
    ]
    if shown:
        rows.append(("settings", ", ".join(shown)))
    body = key_values(rows)
    if run.epochs:
        epochs, phase_starts = epoch_axis(run.epochs)
        body += figure(
            plots.training_curves(
                epochs,
                [e.get("train_loss") for e in run.epochs],
                [e.get("val_loss") for e in run.epochs],
                [e.get("val_accuracy") for e in run.epochs],
                training.best_epoch,
                training.stop_reason,
                phase_starts,
            ),
            "training curves per epoch",
        )
        body += epoch_table(run.epochs, epochs, training.best_epoch)
    else:
        body += note(f"{METRICS} holds no epoch: the run stopped before its first epoch ended.")
    return Section("training", "Training", "step 5", body)


def epoch_axis(lines: list[dict[str, Any]]) -> tuple[list[float], list[tuple[float, str]]]:
    """Each line's epoch counted across phases (a phase restarts at 1), and where phases start."""
    epochs: list[float] = []
    starts: list[tuple[float, str]] = []
    offset, previous_phase, last = 0, None, 0
    for line in lines:
        phase = line.get("phase")
        if phase != previous_phase and epochs:
            offset = last
        if phase != previous_phase and phase is not None:
            starts.append((offset + line["epoch"], str(phase)))
        previous_phase, last = phase, offset + line["epoch"]
        epochs.append(last)
    return epochs, starts if len(starts) > 1 else []


def epoch_table(
    lines: list[dict[str, Any]], epochs: list[float], best: int, limit: int = 12
) -> str:
    """The first, best and last epochs' numbers (all of them when few)."""
    columns = [
        (key, name)
        for key, name in (
            ("train_loss", "train loss"),
            ("val_loss", "validation loss"),
            ("val_accuracy", "validation accuracy"),
        )
        if any(line.get(key) is not None for line in lines)
    ]
    keep = set(range(len(lines))) if len(lines) <= limit else {0, 1, len(lines) - 2, len(lines) - 1}
    keep |= {i for i, e in enumerate(epochs) if e == best}
    rows: list[list[str]] = []
    previous = -1
    for i in sorted(keep):
        if previous >= 0 and i > previous + 1:
            rows.append(["…"] + [""] * (len(columns) + 1))
        line = lines[i]
        mark = " (best)" if epochs[i] == best else ""
        values = [number(line.get(key)) for key, _ in columns]
        rows.append([f"{epochs[i]:g}{mark}", *values, number(line.get("seconds"), ".1f")])
        previous = i
    head = ["epoch", *(name for _, name in columns), "elapsed s"]
    return table(head, rows, numeric_from=1)


def program_section(run: Run) -> Section:
    """Step 6 and 8: the program's files with sizes and hashes, and how to use it."""
    manifest = run.manifest
    program_dir = run.path / PROGRAM
    rows = []
    manifest_path = program_dir / MANIFEST
    from learnt.runtime.program import sha256

    listed = {MANIFEST: sha256(manifest_path) if manifest_path.is_file() else "", **manifest.files}
    for name, digest in listed.items():
        file = program_dir / name
        size = human_bytes(file.stat().st_size) if file.is_file() else "missing"
        rows.append([name, size, code(digest)])
    body = table(["file", "size", "sha256"], rows, escaped={2}, numeric_from=1, numeric_to=2)
    example = {"images": "new_photos/", "text": "new.csv"}.get(
        manifest.input_schema.data_kind, "new.csv"
    )
    where = str(program_dir)
    commands = [
        f"learnt predict {where} {example} --out predictions.csv",
        f"learnt evaluate {where} labelled.csv --report evaluation.html",
        f"learnt serve {where}",
    ]
    if manifest.input_schema.data_kind == "text":
        commands.insert(1, f"echo 'a text to classify' | learnt predict {where} -")
    python = f'import learnt\nprogram = learnt.load("{where}")\nprogram.predict("{example}")'
    body += "<h3>Use it</h3>" + pre("\n".join(commands)) + pre(python)
    body += paragraph(
        "The program needs only numpy and ONNX Runtime to predict (no torch); "
        "<code>learnt.load</code> checks every hash above before it runs."
    )
    return Section("program", "The program", "steps 6 and 8", body)


def evaluation_section(
    manifest: Manifest,
    metrics: dict[str, Any],
    predictions: dict[str, Any] | None,
    rows: str,
) -> Section:
    """Step 7: each metric beside its naive baseline, warnings, and the plots of the predictions."""
    from learnt.runtime import plots

    if not metrics:
        return Section(
            "evaluation", "Evaluation", "step 7", note("No test rows were held out (test size 0).")
        )
    body = paragraph(esc(f"{metrics['n']:,} {rows}"))
    body += metric_table(metrics)
    for warning in metrics.get("warnings", []):
        body += f'<p class="warning">{esc(warning)}</p>'
    stored = predictions is not None and predictions.get("task") == metrics["task"]
    if metrics["task"] == "classification":
        classes = metrics.get("classes", manifest.labels.classes)
        body += "<h3>Confusion matrix</h3>" + figure(
            plots.confusion(metrics["confusion_matrix"], classes), "confusion matrix"
        )
        body += "<h3>Per class</h3>" + per_class_table(metrics["per_class"])
        if stored:
            assert predictions is not None
            confidence = np.asarray(predictions["confidence"], dtype=np.float64)
            correct = np.asarray(predictions["label"]) == np.asarray(predictions["prediction"])
            body += "<h3>Calibration</h3>" + figure(
                plots.reliability(confidence, correct), "reliability curve"
            )
            body += paragraph(
                "Points on the diagonal mean that a prediction made with confidence p is right "
                "p of the time; below it, the program is over-confident."
            )
    elif stored:
        assert predictions is not None
        body += "<h3>Residuals</h3>" + figure(
            plots.residuals(
                np.asarray(predictions["actual"], dtype=np.float64),
                np.asarray(predictions["predicted"], dtype=np.float64),
            ),
            "predicted against actual, and residuals",
        )
    if not stored:
        body += note(f"{EVALUATION} is missing: the plots of individual predictions are left out.")
    return Section("evaluation", "Evaluation", "step 7", body)


def metric_table(metrics: dict[str, Any]) -> str:
    """Each metric beside the naive baseline's value."""
    baseline = metrics.get("baseline") or {}
    names = (
        [("accuracy", ".3f"), ("macro_f1", ".3f"), ("loss", ".4f")]
        if metrics["task"] == "classification"
        else [("r2", ".4f"), ("rmse", ".4g"), ("mae", ".4g"), ("loss", ".4f")]
    )
    strategy = baseline.get("strategy", "baseline")
    if baseline.get("class") is not None:
        strategy += f" ({baseline['class']})"
    rows = [
        [name.replace("_", "-"), number(metrics.get(name), spec), number(baseline.get(name), spec)]
        for name, spec in names
    ]
    return table(["metric", "program", f"baseline: {strategy}"], rows, numeric_from=1)


def per_class_table(per_class: list[dict[str, Any]]) -> str:
    rows = [
        [
            c["class"],
            number(c["precision"], ".3f"),
            number(c["recall"], ".3f"),
            number(c["f1"], ".3f"),
            f"{c['support']:,}",
        ]
        for c in per_class
    ]
    return table(["class", "precision", "recall", "F1", "support"], rows, numeric_from=1)


def worst_section(manifest: Manifest, predictions: dict[str, Any] | None) -> Section:
    """The test rows the program got most wrong: inputs, label and prediction."""
    title, anchor = "Worst predictions", "worst"
    if not predictions or not predictions.get("worst"):
        return Section(anchor, title, "step 7", note("No predictions were saved."))
    worst = predictions["worst"]
    classes = manifest.labels.classes
    if manifest.task == "classification":
        intro = "Lowest probability given to the true class."
        head = ["row", "label", "prediction", "p(label)"]
        outcome = [
            [
                w["row"],
                class_name(classes, w["label"]),
                class_name(classes, w["prediction"]),
                number(w.get("label_probability"), ".3f"),
            ]
            for w in worst
        ]
    else:
        intro = "Largest absolute error."
        head = ["row", "actual", "predicted", "predicted − actual"]
        outcome = [
            [
                w["row"],
                number(w["actual"], ".4g"),
                number(w["predicted"], ".4g"),
                number(w["predicted"] - w["actual"], "+.4g"),
            ]
            for w in worst
        ]
    kind = manifest.input_schema.data_kind
    if kind == "images":
        head, rows = (
            ["image", *head, "file"],
            [
                [thumbnail_html(w.get("image")), *row, w.get("file", "")]
                for w, row in zip(worst, outcome, strict=True)
            ],
        )
        return Section(anchor, title, "step 7", paragraph(intro) + table(head, rows, escaped={0}))
    if kind == "text":
        rows = [[*row, w.get("text", "")] for w, row in zip(worst, outcome, strict=True)]
        body = table([*head, "text"], rows, classes={len(head): "text"})
        return Section(anchor, title, "step 7", paragraph(intro) + body)
    features = [c.name for c in manifest.input_schema.features]
    if len(features) <= WIDE_TABLE:
        rows = [
            [*row, *(w.get("inputs", {}).get(f, "") for f in features)]
            for w, row in zip(worst, outcome, strict=True)
        ]
        return Section(anchor, title, "step 7", paragraph(intro) + table([*head, *features], rows))
    rows = [
        [*row, " · ".join(f"{k} = {v}" for k, v in w.get("inputs", {}).items())]
        for w, row in zip(worst, outcome, strict=True)
    ]
    body = table([*head, "inputs"], rows, classes={len(head): "text"})
    return Section(anchor, title, "step 7", paragraph(intro) + body)


def class_name(classes: list[Any], index: Any) -> str:
    return cell(classes[index]) if isinstance(index, int) and 0 <= index < len(classes) else "?"


def thumbnail_html(uri: str | None) -> str:
    if not uri or not uri.startswith("data:image/png;base64,"):
        return '<span class="muted">unreadable</span>'
    return f'<img class="thumb" src="{esc(uri)}" alt="test image">'


# --- HTML ---------------------------------------------------------------------------------------


def esc(value: Any) -> str:
    """Any value as HTML text (quotes escaped too: it may land in an attribute)."""
    return html.escape(str(value), quote=True)


def code(text: str) -> str:
    return f"<code>{esc(text)}</code>"


def paragraph(inner_html: str) -> str:
    return f"<p>{inner_html}</p>"


def note(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def figure(uri: str, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{esc(caption)}"></figure>'


def number(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def short_value(value: Any, limit: int = 12) -> str:
    """A setting or hyper-parameter as text; long lists shortened."""
    if isinstance(value, list) and len(value) > limit:
        return f"[{', '.join(map(str, value[:limit]))}, … {len(value) - limit} more]"
    return str(value)


def human_bytes(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def key_values(rows: Iterable[tuple[str, str]], escaped: Iterable[str] = ()) -> str:
    """A two-column table of facts; values are escaped unless their key is in `escaped`."""
    already = set(escaped)
    body = "".join(
        f"<tr><th>{esc(key)}</th><td>{value if key in already else esc(value)}</td></tr>"
        for key, value in rows
    )
    return f'<table class="facts">{body}</table>'


def table(
    head: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    escaped: Iterable[int] = (),
    numeric_from: int | None = None,
    numeric_to: int | None = None,
    classes: dict[int, str] | None = None,
) -> str:
    """An HTML table; every cell is escaped except the columns in `escaped` (already HTML).

    Columns from `numeric_from` (up to `numeric_to`) are right-aligned; `classes` adds a CSS class
    to a column's cells.
    """
    already, extra = set(escaped), classes or {}

    def attributes(i: int) -> str:
        names = [extra[i]] if i in extra else []
        if (
            numeric_from is not None
            and i >= numeric_from
            and (numeric_to is None or i < numeric_to)
        ):
            names.append("num")
        return f' class="{" ".join(names)}"' if names else ""

    header = "".join(f"<th{attributes(i)}>{esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{attributes(i)}>{value if i in already else esc(value)}</td>"
            for i, value in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, lede: str, sections: Sequence[Section], footer: str) -> str:
    """The whole HTML document: title, a table of contents, the sections, a footer."""
    contents = "".join(
        f'<li><a href="#{s.anchor}">{esc(s.title)}</a> <span class="muted">{esc(s.step)}</span></li>'
        for s in sections
    )
    body = "".join(
        f'<section id="{s.anchor}"><h2>{esc(s.title)} <span class="step">{esc(s.step)}</span></h2>'
        f"{s.body}</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)} · learnt</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header><p class="brand">learnt report</p><h1>{esc(title)}</h1>'
        f'<p class="lede">{esc(lede)}</p><nav><ol>{contents}</ol></nav></header>\n'
        f"<main>{body}</main>\n<footer>{esc(footer)}</footer>\n</body>\n</html>\n"
    )


STYLE = """
:root { --ink: #1f2328; --muted: #5f6b76; --line: #d8dee4; --soft: #f4f6f8; --accent: #3b6ea8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 980px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
.brand { margin: 0; color: var(--accent); font-weight: 600; letter-spacing: .04em;
  text-transform: uppercase; font-size: 12px; }
h1 { margin: 4px 0 6px; font-size: 26px; overflow-wrap: anywhere; }
.lede { margin: 0 0 12px; color: var(--muted); }
nav ol { margin: 0 0 8px; padding-left: 20px; columns: 2; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; }
section { padding: 18px 0 8px; border-bottom: 1px solid var(--line); }
h2 { font-size: 20px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.step { font-size: 12px; font-weight: 500; color: var(--muted); background: var(--soft);
  border-radius: 10px; padding: 2px 8px; vertical-align: middle; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13.5px; max-width: 100%; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid var(--line); color: var(--muted); font-weight: 600; }
table.facts th { color: var(--muted); font-weight: 500; white-space: nowrap; padding-right: 18px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; padding-left: 10px; }
td.text { max-width: 560px; font-size: 12.5px; }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 12px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
figure { margin: 8px 0 12px; }
figure img { max-width: 100%; height: auto; }
img.thumb { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid var(--line); }
.muted { color: var(--muted); }
.warning { background: #fff4e5; border-left: 4px solid #e08a2c; padding: 6px 10px; }
footer { color: var(--muted); font-size: 12.5px; padding-top: 14px; padding-bottom: 28px; }
@media print {
  body { font-size: 11pt; }
  header, main, footer { max-width: none; padding: 0; }
  nav { display: none; }
  section, figure, table { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  pre { white-space: pre-wrap; }
}
"""
