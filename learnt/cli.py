"""The command line: thin front door over the same functions as the Python API.

    learnt train DATA --label COL      learnt evaluate PROGRAM DATA
    learnt predict PROGRAM DATA        learnt inspect PROGRAM        learnt quickstart

Only typer is imported at start-up; each command imports what it needs, so `learnt --help` is
instant and `learnt predict` (ONNX runtime) never imports torch or pandas.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from learnt.console import say, set_quiet

app = typer.Typer(
    name="learnt",
    help="Labelled data in, a program out: train, evaluate and use deep-learning programs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only errors (and --json output).")
]
Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout; human output goes to stderr."),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


class Runtime(StrEnum):
    onnx = "onnx"
    torch = "torch"


class Augment(StrEnum):
    none = "none"
    crop = "crop"
    crop_flip = "crop+flip"


class TaskChoice(StrEnum):
    classification = "classification"
    regression = "regression"


@app.command()
def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="Labelled table (.csv, .parquet, .jsonl), or a folder with one sub-folder of images per class.",
            show_default=False,
        ),
    ],
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="The column to predict.", show_default=False)
    ] = None,
    task: Annotated[
        TaskChoice | None, typer.Option(help="Override the inferred task.", show_default="inferred")
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Column to leave out (repeatable).", show_default=False),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            help="The text column, if detection should not decide.", show_default="detected"
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of CSV and JSONL files, e.g. latin-1.")
    ] = "utf-8",
    arch: Annotated[
        str | None,
        typer.Option(
            help="Architecture: mlp, or mlp:DEPTHxWIDTH such as mlp:3x256.",
            show_default="sized by data",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for the split, initial parameters and batch order.")
    ] = 0,
    test_size: Annotated[float, typer.Option(help="Fraction held out for the final test.")] = 0.2,
    val_size: Annotated[
        float, typer.Option(help="Fraction of the training part used for validation.")
    ] = 0.1,
    epochs: Annotated[
        int | None, typer.Option(help="Maximum epochs.", show_default="about 5,000 steps, 20–200")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Maximum optimiser steps.", show_default="none")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Rows per batch.", show_default="rows/100, 32–512")
    ] = None,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-4,
    patience: Annotated[
        int,
        typer.Option(
            help="Stop after this many epochs without a better validation loss (0: never)."
        ),
    ] = 10,
    target_loss: Annotated[
        float | None,
        typer.Option(help="Stop when validation loss is at most this.", show_default=False),
    ] = None,
    target_accuracy: Annotated[
        float | None,
        typer.Option(help="Stop when validation accuracy is at least this.", show_default=False),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds of training.", show_default=False),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(
            help="Images: side of the square input.", show_default="median shorter side, 16–64"
        ),
    ] = None,
    augment: Annotated[
        Augment,
        typer.Option(
            help="Images: training augmentation — random crops, and horizontal flips; worth it for long training.",
        ),
    ] = Augment.none,
    skip_bad: Annotated[
        bool, typer.Option(help="Images: leave unreadable files out (counted) instead of stopping.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory (holds program/ and metrics.jsonl).",
            show_default="runs/<data name>",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace an existing program in the run directory.")
    ] = False,
    json_output: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Train on a labelled table: infer the schema, split, size a network, train, freeze, evaluate."""
    set_quiet(quiet)
    from learnt.config import make_settings
    from learnt.lifecycle import run

    settings = make_settings(
        label=label,
        task=task.value if task else None,
        ignore=ignore or [],
        text=text,
        encoding=encoding,
        arch=arch,
        seed=seed,
        test_size=test_size,
        val_size=val_size,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=lr,
        weight_decay=weight_decay,
        patience=patience or None,
        target_loss=target_loss,
        target_accuracy=target_accuracy,
        time_budget=time_budget,
        image_size=image_size,
        augment=augment.value,
        skip_bad=skip_bad,
        out=out,
        force=force,
    )
    result = run(data, settings)
    if json_output:
        print_json(result.as_json())


@app.command()
def evaluate(
    program: Annotated[Path, typer.Argument(help="A program directory.", show_default=False)],
    data: Annotated[
        Path,
        typer.Argument(
            help="Labelled table with the program's label column, or a folder of images by class.",
            show_default=False,
        ),
    ],
    encoding: Annotated[
        str, typer.Option(help="Text encoding of CSV and JSONL files, e.g. latin-1.")
    ] = "utf-8",
    runtime: Annotated[
        Runtime, typer.Option(help="Run the ONNX graph, or rebuild the network in torch.")
    ] = Runtime.onnx,
    json_output: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Evaluate a program on labelled data: accuracy, loss, macro-F1, confusion matrix (or r2, rmse, mae)."""
    set_quiet(quiet)
    from learnt.evaluate import evaluate_table, summary
    from learnt.predict import read_inputs
    from learnt.program import load

    loaded = load(program)
    inputs = read_inputs(loaded, [data], labelled=True, encoding=encoding)
    metrics = evaluate_table(loaded, inputs, runtime.value)
    say(summary(metrics))
    if metrics["task"] == "classification":
        show_confusion(metrics)
    if json_output:
        print_json(metrics)


@app.command()
def predict(
    program: Annotated[Path, typer.Argument(help="A program directory.", show_default=False)],
    data: Annotated[
        list[Path],
        typer.Argument(
            help="Table of inputs (.csv, .parquet, .jsonl; extra columns are ignored); image files and "
            "folders; or - for texts on stdin, one per line.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Output file (.csv, .parquet, .jsonl).", show_default="CSV on stdout"),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="Input column to copy into the output, e.g. an id (repeatable).",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of CSV and JSONL files, e.g. latin-1.")
    ] = "utf-8",
    runtime: Annotated[
        Runtime,
        typer.Option(help="Run the ONNX graph (no torch), or rebuild the network in torch."),
    ] = Runtime.onnx,
    skip_bad: Annotated[
        bool,
        typer.Option(
            help="Images: report unreadable files in an `error` column instead of stopping."
        ),
    ] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Predict every row (or image), in order: `prediction`, plus `proba_<class>` for classification."""
    set_quiet(quiet)
    from learnt.data.tables import write_table
    from learnt.errors import DataError, closest
    from learnt.predict import predict_table, read_inputs
    from learnt.program import load

    loaded = load(program)
    table = read_inputs(loaded, data, encoding=encoding)
    columns = predict_table(loaded, table, runtime.value, skip_bad=skip_bad)
    kept = {}
    for name in keep or []:
        if name not in table.columns:
            raise DataError(
                f"--keep {name}: no such column in {table.source}.{closest(name, table.columns)}"
            )
        kept[name] = table.columns[name]
    write_table({**kept, **columns}, out)
    if out is not None:
        from learnt.console import escape

        say(f"wrote {len(table)} predictions to {escape(str(out))}")


@app.command()
def inspect(
    program: Annotated[Path, typer.Argument(help="A program directory.", show_default=False)],
    json_output: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Show what a program is: task, inputs, architecture, how it was trained, test metrics."""
    set_quiet(quiet)
    from learnt.program import load

    manifest = load(program).manifest
    if json_output:
        print_json(manifest.model_dump(mode="json"))
        return
    from learnt.console import escape
    from learnt.evaluate import summary

    training, labels, rows = manifest.training, manifest.labels, manifest.training.rows
    architecture = ", ".join(
        f"{k} {v}" for k, v in manifest.architecture.items() if k in ("depth", "width", "dropout")
    )
    lines = [
        ("task", manifest.task + (f" — classes {labels.classes}" if labels.classes else "")),
        ("label", manifest.input_schema.label),
        ("inputs", manifest.input_schema.describe()),
        ("architecture", f"{manifest.architecture.get('family')} {architecture}"),
        (
            "training",
            f"{training.epochs} epochs, {training.steps} steps, stopped by {training.stop_reason}, "
            f"best epoch {training.best_epoch}, seed {training.seed}, {training.seconds:.1f} s",
        ),
        (
            "data",
            f"{training.data} ({rows['train']} train / {rows['validation']} validation / {rows['test']} test rows)",
        ),
    ]
    if manifest.metrics:
        lines.append(("test", summary(manifest.metrics)))
    say(f"[bold]{escape(str(program))}[/]  learnt program, format {manifest.format_version}")
    for name, value in lines:
        say(f"  {name:<13} {escape(value)}")


class QuickstartKind(StrEnum):
    tables = "tables"
    images = "images"
    text = "text"


@app.command()
def quickstart(
    kind: Annotated[
        QuickstartKind, typer.Argument(help="Which lifecycle to show.")
    ] = QuickstartKind.tables,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Run the whole lifecycle on bundled data: digits as a table (~10 s) or images (~30 s), or SMS text (~30 s)."""
    set_quiet(quiet)
    from learnt.quickstart import run_quickstart

    run_quickstart(kind.value)


def show_confusion(metrics: dict[str, Any]) -> None:
    from rich.table import Table

    from learnt.console import console, is_quiet

    classes = [str(c) for c in metrics["classes"]]
    if is_quiet() or len(classes) > 20:
        return
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for name in classes:
        table.add_column(name, justify="right")
    for name, row in zip(classes, metrics["confusion_matrix"], strict=True):
        table.add_row(name, *map(str, row))
    console().print(table)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Entry point: run the app; turn a `LearntError` into its message and exit code."""
    debug = "--debug" in sys.argv
    try:
        app()
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as error:
        from learnt.errors import LearntError

        if debug or not isinstance(error, LearntError):
            raise
        from learnt.console import console, escape

        console().print(f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False)
        sys.exit(error.exit_code)
