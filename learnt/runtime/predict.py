"""Step 8: use a program on unlabelled rows.

    learnt predict runs/titanic/program new.csv --out predictions.csv

Rows are encoded with numpy (`learnt.data.encode`) and handed to a *runner*: by default
`onnx_runner`, which runs `model.onnx` with ONNX Runtime — no torch is imported on this path. A
runner is any `program → (encoded inputs → raw outputs)` function; the front doors hand in
`learnt.training.torch_runtime.torch_runner` for `--runtime torch`, so this module never names the
training side. Both runners give the same numbers to 1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.data.encode import Encoded, check_columns, encode
from learnt.data.tables import FORMATS, Table, read_stdin_lines, read_table
from learnt.errors import DataError, ProgramError, first_line

if TYPE_CHECKING:
    from learnt.runtime.program import Program

Run = Callable[[Encoded], np.ndarray]  # encoded inputs → raw outputs [rows, outputs]
Runner = Callable[["Program"], Run]  # what runs a program's network

TABLE_CHUNK_ROWS = 65536  # rows encoded and run at once: bounded memory for large inputs
IMAGE_CHUNK_ROWS = 256
TEXT_CHUNK_ROWS = 1024


def read_inputs(
    program: Program, sources: list[Path], *, labelled: bool = False, encoding: str = "utf-8"
) -> Table:
    """What to predict on: one table file; `-` (stdin, one text per line) for a text program;
    image files and folders for an image program.

    For evaluation (`labelled`), a folder of images is read as one sub-folder per class.
    """
    preprocessing = program.manifest.preprocessing
    if [str(s) for s in sources] == ["-"]:
        if preprocessing.text is None:
            raise DataError("-: reading stdin (one text per line) needs a text program")
        lines = np.array(read_stdin_lines(encoding), dtype=object)
        return Table({preprocessing.text.column: lines}, "stdin")
    if len(sources) == 1 and not sources[0].is_dir() and sources[0].suffix.lower() in FORMATS:
        return read_table(sources[0], encoding)
    image = preprocessing.image
    if image is None:
        listed = ", ".join(map(str, sources))
        raise DataError(
            f"{listed}: this program reads a table; expected one .csv, .parquet or .jsonl file"
        )
    from learnt.data.images import image_table, read_image_folder

    if labelled:
        if len(sources) != 1 or not sources[0].is_dir():
            raise DataError(
                "evaluating images needs one folder with a sub-folder of images per class"
            )
        found = read_image_folder(sources[0])
        label = program.manifest.input_schema.label
        return Table(
            {image.column: found.columns["path"], label: found.columns["label"]}, found.source
        )
    found = image_table(sources)
    return Table({image.column: found.columns["path"]}, found.source)


def predict_table(
    program: Program, table: Table, runner: Runner | None = None, *, skip_bad: bool = False
) -> dict[str, np.ndarray]:
    """`prediction` (+ `proba_<class>` for classification) for every row of `table`, in order.

    Image programs also return the image path first; with `skip_bad`, an unreadable image gives an
    empty prediction and its reason in an `error` column instead of stopping.
    """
    bad: dict[int, str] | None = {} if skip_bad else None
    columns = format_outputs(program, network_outputs(program, table, runner, bad))
    image = program.manifest.preprocessing.image
    if image is None:
        return columns
    if bad:
        rows = np.fromiter(bad, dtype=np.int64)
        columns["prediction"] = columns["prediction"].astype(object)
        columns["prediction"][rows] = None
        for name in columns:
            if name.startswith("proba_"):
                columns[name][rows] = np.nan
    if skip_bad:
        errors = np.full(len(table), "", dtype=object)
        errors[list(bad or {})] = list((bad or {}).values())
        columns["error"] = errors
    return {"path": table.columns[image.column], **columns}


def network_outputs(
    program: Program, table: Table, runner: Runner | None = None, bad: dict[int, str] | None = None
) -> np.ndarray:
    """Raw outputs [rows, outputs] (logits, or a standardised value), encoding chunk by chunk.

    `bad`, when given, collects unreadable images (row → reason) instead of stopping at the first.
    """
    model = (runner or onnx_runner)(program)
    preprocessing = program.manifest.preprocessing
    check_columns(table, preprocessing)
    chunk = TABLE_CHUNK_ROWS
    if preprocessing.image is not None:
        chunk = IMAGE_CHUNK_ROWS
    tokenizer = None
    if preprocessing.text is not None:
        chunk, tokenizer = TEXT_CHUNK_ROWS, program.tokenizer()
    parts = []
    for start in range(0, len(table), chunk):
        rows = table.take(np.arange(start, min(start + chunk, len(table))))
        chunk_bad: dict[int, str] | None = None if bad is None else {}
        parts.append(model(encode(rows, preprocessing, chunk_bad, tokenizer=tokenizer)))
        if bad is not None and chunk_bad:
            bad.update({start + row: why for row, why in chunk_bad.items()})
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def format_outputs(program: Program, outputs: np.ndarray) -> dict[str, np.ndarray]:
    labels = program.manifest.labels
    if labels.task == "regression":
        return {"prediction": outputs[:, 0].astype(np.float64) * labels.std + labels.mean}
    probabilities = softmax(outputs)
    classes = np.empty(len(labels.classes), dtype=object)
    classes[:] = labels.classes
    columns: dict[str, np.ndarray] = {"prediction": classes[probabilities.argmax(1)]}
    for i, name in enumerate(labels.classes):
        columns[f"proba_{name}"] = probabilities[:, i]
    return columns


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def onnx_runner(program: Program) -> Run:
    """Run `model.onnx` with ONNX Runtime on the CPU (one session per program, created once)."""
    session = program.cached("onnx", lambda: onnx_session(program))
    wanted = [i.name for i in session.get_inputs()]

    def run(encoded: Encoded) -> np.ndarray:
        return session.run(None, {name: encoded.arrays[name] for name in wanted})[0]

    return run


def onnx_session(program: Program) -> Any:
    """An ONNX Runtime session for the program's graph; an unloadable graph is a `ProgramError`.

    The graph is handed to ONNX Runtime as bytes, so it never opens a file itself; they have the
    sha256 of the bytes checked to hold all their tensors when the program was loaded
    (`learnt.runtime.checks.check_contents`).
    """
    import onnxruntime

    from learnt.runtime.format import ONNX

    path = program.path / ONNX
    graph = program.read_verified(ONNX)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a bad graph
        raise ProgramError(
            f"{path}: not a loadable ONNX graph ({first_line(error, 300)}); restore it or retrain",
            file=path,
        ) from error
