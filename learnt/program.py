"""Step 6 (the program as data): the manifest format, and loading a program safely.

A program is a directory: `program.json` (this module's `Manifest`), `weights.safetensors` and
`model.onnx`. Loading validates the manifest, refuses unknown format versions, and checks the
sha256 of every other file; nothing in a program is executed (no pickle, no code). This module is
part of the runtime: it never imports torch.

    program = learnt.load("runs/titanic/program")
    program.predict(frame)      # DataFrame of predictions
    program.evaluate(frame)     # dict of metrics
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from learnt.data.encode import LabelEncoding, Preprocessing
from learnt.data.schema import Schema
from learnt.errors import ProgramError

if TYPE_CHECKING:
    import pandas as pd

    from learnt.data.tables import Table

    Inputs = str | Path | list[str | Path] | pd.DataFrame

FORMAT_VERSION = 1
MANIFEST = "program.json"
WEIGHTS = "weights.safetensors"
ONNX = "model.onnx"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
Runtime = Literal["onnx", "torch"]


class Training(BaseModel):
    """How the program was made: enough to reproduce it on the same machine and versions."""

    init: str
    seed: int
    epochs: int
    steps: int
    best_epoch: int
    stop_reason: str
    seconds: float
    seconds_per_epoch: float
    rows: dict[str, int]  # train / validation / test
    stratified: bool
    data: str  # where the data came from
    data_sha256: str
    skipped: list[dict[str, str]] = []  # unreadable inputs left out with --skip-bad: file, reason
    settings: dict[str, Any]
    versions: dict[str, str]
    created: str


class Manifest(BaseModel):
    """`program.json`: everything about a program except its tensors and graph."""

    format_version: int
    task: Literal["classification", "regression"]
    input_schema: Schema
    preprocessing: Preprocessing
    labels: LabelEncoding
    architecture: dict[str, Any]  # the family's config, e.g. {"family": "mlp", "depth": 2, …}
    model_inputs: list[str]  # names of the network's inputs, in the order it takes them
    training: Training
    metrics: dict[str, Any] = {}  # on the held-out test rows
    files: dict[str, str] = {}  # sha256 of every other file in the program


def load(path: str | Path) -> Program:
    """Load and verify the program at `path`."""
    return Program(Path(path))


class Program:
    """A frozen program: architecture, parameters and preprocessing, ready to predict."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = read_manifest(path)
        verify_files(path, self.manifest)
        self._sessions: dict[str, Any] = {}

    def tokenizer(self) -> Any:
        """The program's text tokenizer (`tokenizers.Tokenizer`), loaded once."""
        from learnt.data.text import load_tokenizer

        if "tokenizer" not in self._sessions:
            text = self.manifest.preprocessing.text
            if text is None:
                raise ProgramError(f"{self.path}: not a text program; it has no tokenizer")
            self._sessions["tokenizer"] = load_tokenizer(self.path / text.tokenizer)
        return self._sessions["tokenizer"]

    def __repr__(self) -> str:
        return f"Program({str(self.path)!r}, task={self.manifest.task!r})"

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def classes(self) -> list[Any]:
        return self.manifest.labels.classes

    def predict(self, data: Inputs, runtime: Runtime = "onnx") -> pd.DataFrame:
        """Predictions for every row of `data`, in order.

        `data` is a table (path or DataFrame) — or, for an image program, image files and folders.
        """
        import pandas as pd

        from learnt.predict import predict_table

        return pd.DataFrame(predict_table(self, self._inputs(data, labelled=False), runtime))

    def evaluate(self, data: Inputs, runtime: Runtime = "onnx") -> dict[str, Any]:
        """Metrics on labelled `data`: a table with the label column, or a folder of images by class."""
        from learnt.evaluate import evaluate_table

        return evaluate_table(self, self._inputs(data, labelled=True), runtime)

    def _inputs(self, data: Inputs, labelled: bool) -> Table:
        from learnt.data.tables import read_table
        from learnt.predict import read_inputs

        if isinstance(data, str | Path):
            return read_inputs(self, [Path(data)], labelled=labelled)
        if isinstance(data, list | tuple):
            return read_inputs(self, [Path(p) for p in data], labelled=labelled)
        return read_table(data)


def read_manifest(path: Path) -> Manifest:
    """Parse and validate `program.json`, with messages that say how to fix the problem."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise ProgramError(f"{path}: no such program directory")
    if not manifest_path.is_file():
        raise ProgramError(f"{path}: not a learnt program (no {MANIFEST})")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ProgramError(
            f"{manifest_path}: larger than {MAX_MANIFEST_BYTES // 2**20} MiB; refusing to read it"
        )
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProgramError(f"{manifest_path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ProgramError(f"{manifest_path}: expected a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ProgramError(
            f"{manifest_path}: program format version {version!r} is not supported; this version of "
            f"learnt reads format {FORMAT_VERSION}. Use the learnt version that wrote it, or retrain."
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProgramError(
            f"{manifest_path}: invalid manifest at '{where}': {first['msg']}"
        ) from error


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every file listed in the manifest exists and has the recorded sha256."""
    required = [WEIGHTS, ONNX]
    if manifest.preprocessing.text is not None:
        required.append(manifest.preprocessing.text.tokenizer)
    for name in required:
        if name not in manifest.files:
            raise ProgramError(f"{path / MANIFEST}: lists no sha256 for {name}")
    for name, expected in manifest.files.items():
        if os.path.basename(name) != name:
            raise ProgramError(f"{path / MANIFEST}: file name {name!r} points outside the program")
        file = path / name
        if not file.is_file():
            raise ProgramError(f"{file}: missing from the program")
        if sha256(file) != expected:
            raise ProgramError(
                f"{file}: modified since the program was written (sha256 mismatch); "
                "the program cannot be trusted — restore the file or retrain"
            )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
