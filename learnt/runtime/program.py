"""Loading a program safely: the manifest validated, the files verified, nothing executed.

A program is a directory: `program.json` (`learnt.runtime.format.Manifest`), `weights.safetensors`,
`model.onnx` (and `tokenizer.json` for text). Loading validates the manifest, refuses format
versions this learnt cannot read, checks the sha256 of every other file, then checks what each file
holds (`learnt.runtime.checks`); nothing in a program is executed (no pickle, no code). The runtimes
read a file's bytes once with `Program.read_verified`, so what they use is what was verified. This
module is part of the runtime: it never imports torch.

    program = learnt.load("runs/titanic/program")
    program.predict(frame)      # DataFrame of predictions
    program.evaluate(frame)     # dict of metrics
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from learnt.errors import LearntError, MissingDependencyError, ProgramError, require
from learnt.runtime.checks import (
    check_contents,
    check_file_name,
    check_regular_file,
    no_repeated_keys,
    open_regular,
    read_regular,
)
from learnt.runtime.format import (
    FORMAT_VERSION,
    MANIFEST,
    ONNX,
    READABLE_VERSIONS,
    WEIGHTS,
    Manifest,
)
from learnt.runtime.models import FormatError

if TYPE_CHECKING:
    import pandas as pd

    from learnt.data.tables import Table
    from learnt.runtime.predict import Runner

    Inputs = str | Path | list[str | Path] | pd.DataFrame

T = TypeVar("T")

MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def load(path: str | Path) -> Program:
    """Load and verify the program at `path`."""
    return Program(Path(path))


class Program:
    """A frozen program: architecture, parameters and preprocessing, ready to predict."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = read_manifest(path)
        verify_files(path, self.manifest)
        check_contents(path, self.manifest, self.read_verified)
        self._cache: dict[str, Any] = {}

    def read_verified(self, name: str) -> bytes:
        """The bytes of one of the program's files, read once and checked against its sha256."""
        file = self.path / name
        check_file_name(name, self.path / MANIFEST)
        data = read_regular(file)
        if hashlib.sha256(data).hexdigest() != self.manifest.files.get(name):
            raise modified(file)
        return data

    def cached(self, key: str, load: Callable[[], T]) -> T:
        """`load()` once per program: an ONNX session, a torch network, the tokenizer."""
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def tokenizer(self) -> Any:
        """The program's text tokenizer (`tokenizers.Tokenizer`), loaded once."""
        text = self.manifest.preprocessing.text
        if text is None:
            raise ProgramError(f"{self.path}: not a text program; it has no tokenizer")
        path = self.path / text.tokenizer

        def load() -> Any:
            require("tokenizers", "text")
            from tokenizers import Tokenizer

            data = self.read_verified(text.tokenizer)
            try:
                return Tokenizer.from_str(data.decode("utf-8"))
            except Exception as error:  # tokenizers raises a bare Exception for a bad file
                if isinstance(error, LearntError):
                    raise
                raise ProgramError(
                    f"{path}: not a readable tokenizer ({str(error).strip()[:300]}); restore it "
                    "or retrain",
                    file=path,
                ) from error

        return self.cached("tokenizer", load)

    def __repr__(self) -> str:
        return f"Program({str(self.path)!r}, task={self.manifest.task!r})"

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def classes(self) -> list[Any]:
        return self.manifest.labels.classes

    def predict(self, data: Inputs, runner: Runner | None = None) -> pd.DataFrame:
        """Predictions for every row of `data`, in order.

        `data` is a table (path or DataFrame) — or, for an image program, image files and folders.
        `runner` runs the network: ONNX Runtime by default, or
        `learnt.training.torch_runtime.torch_runner` to rebuild it in torch.
        """
        from learnt.runtime.predict import predict_table

        columns = predict_table(self, self._inputs(data, labelled=False), runner)
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError(
                "Program.predict returns a pandas DataFrame, and pandas is not installed: "
                "pip install pandas (or use `learnt predict`, which needs no pandas)"
            ) from None
        return pd.DataFrame(columns)

    def evaluate(self, data: Inputs, runner: Runner | None = None) -> dict[str, Any]:
        """Metrics on labelled `data`: a table with the label column, or a folder of images by class."""
        from learnt.runtime.evaluate import evaluate_table

        return evaluate_table(self, self._inputs(data, labelled=True), runner)

    def _inputs(self, data: Inputs, labelled: bool) -> Table:
        from learnt.data.tables import read_table
        from learnt.runtime.predict import read_inputs

        if isinstance(data, str | Path):
            return read_inputs(self, [Path(data)], labelled=labelled)
        if isinstance(data, list | tuple):
            return read_inputs(self, [Path(p) for p in data], labelled=labelled)
        return read_table(data)


def read_manifest(path: Path) -> Manifest:
    """Parse and validate `program.json`, with messages that say how to fix the problem."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise ProgramError(f"{path}: no such program directory", file=path)
    if not manifest_path.is_file() and not manifest_path.is_symlink():
        raise ProgramError(f"{path}: not a learnt program (no {MANIFEST})", file=path)
    check_regular_file(manifest_path)
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ProgramError(
            f"{manifest_path}: larger than {MAX_MANIFEST_BYTES // 2**20} MiB; refusing to read it",
            file=manifest_path,
        )
    try:
        data = json.loads(
            read_regular(manifest_path).decode("utf-8"), object_pairs_hook=no_repeated_keys
        )
    except (UnicodeDecodeError, ValueError) as error:  # JSON, a repeated key, a long number
        raise ProgramError(
            f"{manifest_path}: not valid JSON ({error})", file=manifest_path
        ) from error
    except RecursionError:
        raise ProgramError(
            f"{manifest_path}: not valid JSON (nested too deeply)", file=manifest_path
        ) from None
    if not isinstance(data, dict):
        raise ProgramError(f"{manifest_path}: expected a JSON object", file=manifest_path)
    check_version(data.get("format_version"), manifest_path)
    try:
        return Manifest.model_validate(data)
    except FormatError as error:
        raise ProgramError(
            f"{manifest_path}: invalid manifest at '{error.location}': {error.message}",
            file=manifest_path,
            field=error.location,
        ) from error


def check_version(version: Any, manifest_path: Path) -> None:
    """Refuse a format this learnt cannot read, saying which learnt can (see the format's policy)."""
    if type(version) is int and version in READABLE_VERSIONS:  # not True, not 1.0
        return
    readable = ", ".join(map(str, sorted(READABLE_VERSIONS)))
    newer = isinstance(version, int) and version > FORMAT_VERSION
    advice = (
        "It was written by a newer learnt: upgrade learnt (pip install -U learnt) to use it."
        if newer
        else "Use the learnt version that wrote it, or retrain."
    )
    raise ProgramError(
        f"{manifest_path}: program format version {version!r} is not supported; this version of "
        f"learnt reads format {readable}. {advice}",
        file=manifest_path,
        field="format_version",
    )


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every file listed in the manifest is a regular file inside the program with its sha256."""
    required = [WEIGHTS, ONNX]
    if manifest.preprocessing.text is not None:
        required.append(manifest.preprocessing.text.tokenizer)
    for name in required:
        if name not in manifest.files:
            raise ProgramError(
                f"{path / MANIFEST}: lists no sha256 for {name}",
                file=path / MANIFEST,
                field="files",
            )
    for name in manifest.files:
        check_file_name(name, path / MANIFEST)
    for name, expected in manifest.files.items():
        file = path / name
        if program_file_sha256(file) != expected:
            raise modified(file)


def modified(file: Path) -> ProgramError:
    return ProgramError(
        f"{file}: modified since the program was written (sha256 mismatch); "
        "the program cannot be trusted — restore the file or retrain",
        file=file,
    )


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return digest_of(handle)


def program_file_sha256(path: Path) -> str:
    """The sha256 of a regular file of a program (a symbolic link is refused)."""
    with open_regular(path) as handle:
        return digest_of(handle)


def digest_of(handle: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
