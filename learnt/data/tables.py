"""Read and write tables: CSV, Parquet and JSON Lines, chosen by file extension.

Two readers share one result type, `Table` (named numpy columns plus where they came from):
`read_dataframe` uses pandas for training, where its type inference helps; `read_table` uses only
the standard library (and pyarrow for Parquet) so that `learnt predict` starts fast without pandas.
Both feed the same encoder (`learnt.data.encode`), which canonicalises values, so a program sees
the same numbers whichever reader produced them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.errors import DataError, first_line
from learnt.files import check_writable

if TYPE_CHECKING:
    import pandas as pd

# Leading bytes of compressed files, which a text reader would only call "not valid UTF-8".
COMPRESSED = {
    b"\x1f\x8b": ("gzip", "gunzip"),
    b"PK\x03\x04": ("zip", "unzip"),
    b"BZh": ("bzip2", "bunzip2"),
    b"\xfd7zXZ\x00": ("xz", "unxz"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
}
CSV_FIELD_LIMIT = 2**31 - 1  # the csv module's default (128 KiB) refuses long but valid texts

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@dataclass
class Table:
    """Named columns of equal length, and a description of their source for error messages."""

    columns: dict[str, np.ndarray]
    source: str
    row_names: np.ndarray | None = None  # DataFrame index labels; None means "row 1, 2, …"
    base: Path = Path()  # relative paths in the table (e.g. to images) start here

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def where(self, row: int, column: str | None = None) -> str:
        """'data.csv, row 5, column 'age'' for the row at position `row` (0-based)."""
        name = self.row_names[row] if self.row_names is not None else row + 1
        place = f"{self.source}, row {name}"
        return f"{place}, column '{column}'" if column else place

    def place(self, row: int, column: str | None = None) -> dict[str, Any]:
        """The same place as fields of an error: `DataError(message, **table.place(row, column))`."""
        name = self.row_names[row] if self.row_names is not None else row + 1
        return {"file": self.source, "row": python_value(name), "column": column}

    def take(self, rows: np.ndarray) -> Table:
        """The rows at positions `rows`, keeping their names for messages."""
        names = self.row_names[rows] if self.row_names is not None else rows + 1
        return Table({k: v[rows] for k, v in self.columns.items()}, self.source, names, self.base)


def table_format(path: Path) -> str:
    """'csv', 'parquet' or 'jsonl' from the file extension, or a clear error."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(
            f"{path}: unsupported file type '{path.suffix or '(none)'}'; expected one of {known}"
        )
    return fmt


def check_readable(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file", file=path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV, Parquet or JSONL file", file=path)
    if path.stat().st_size == 0:
        raise DataError(
            f"{path}: the file is empty; expected a header row and at least one data row"
        )
    refuse_compressed(path)


def refuse_compressed(path: Path) -> None:
    """A clear error for a compressed file (by its leading bytes), whatever its extension."""
    with open(path, "rb") as handle:
        start = handle.read(8)
    for magic, (kind, tool) in COMPRESSED.items():
        if start.startswith(magic):
            raise DataError(
                f"{path}: is a {kind}-compressed file, not a plain table; decompress it first "
                f"(e.g. {tool}) and train on the file inside",
                file=path,
            )


# --- training reader (pandas) -------------------------------------------------------------------


def read_dataframe(
    source: str | Path | pd.DataFrame, encoding: str = "utf-8"
) -> tuple[pd.DataFrame, str]:
    """A pandas DataFrame and a name for messages, from a path or a DataFrame."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        if source.empty:
            raise DataError("the DataFrame is empty; expected at least one row")
        return source, "DataFrame"
    path = Path(source)
    check_readable(path)
    fmt = table_format(path)
    if fmt == "csv":
        _csv_records(
            path, encoding
        )  # the same checks (encoding, field counts) as prediction applies
    elif fmt == "jsonl":
        _read_jsonl(path, encoding)  # line numbers in errors, one value per cell, as at prediction
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, low_memory=False, encoding=_python_encoding(encoding))
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True, encoding=_python_encoding(encoding))
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise DataError(_decode_message(path, encoding), file=path) from error
    except ImportError as error:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow: pip install 'learnt[parquet]'"
        ) from error
    except (ValueError, pd.errors.ParserError, OSError) as error:
        raise DataError(
            f"{path}: cannot be read as {fmt.upper()}: {first_line(error)}", file=path
        ) from error
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows", file=path)
    return frame, str(path)


def dataframe_to_table(frame: pd.DataFrame, source: str) -> Table:
    """Columns of `frame` as numpy arrays; a DataFrame's own index names its rows in messages."""
    columns = {str(name): frame[name].to_numpy() for name in frame.columns}
    keeps_positions = source != "DataFrame" or frame.index.equals(range(len(frame)))
    base = Path(source).parent if source != "DataFrame" else Path()
    return Table(columns, source, None if keeps_positions else np.asarray(frame.index), base)


# --- runtime reader (standard library) ----------------------------------------------------------


def read_table(source: str | Path | Any, encoding: str = "utf-8") -> Table:
    """Read a file into a `Table` without pandas; DataFrames are converted as they are."""
    if not isinstance(source, str | Path):
        if hasattr(source, "columns") and hasattr(source, "to_numpy"):  # a pandas DataFrame
            if len(source) == 0:
                raise DataError("the DataFrame is empty; expected at least one row")
            return dataframe_to_table(source, "DataFrame")
        raise DataError(f"expected a file path or a pandas DataFrame, got {type(source).__name__}")
    path = Path(source)
    check_readable(path)
    fmt = table_format(path)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    table = reader(path, encoding)
    if len(table) == 0:
        raise DataError(f"{path}: has a header but no data rows", file=path)
    return table


def _read_csv(path: Path, encoding: str = "utf-8") -> Table:
    header, records = _csv_records(path, encoding)
    values = np.array(records, dtype=object).reshape(len(records), len(header))
    columns = {name: values[:, i] for i, name in enumerate(header)}
    return Table(columns, str(path), base=path.parent)


def _csv_records(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    """Header and records of a CSV file, each record checked to have the header's width."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with _open_text(path, encoding) as handle:
        rows = csv.reader(handle)
        try:
            header = next(rows)
            records = list(rows)
        except csv.Error as error:
            raise DataError(
                f"{path}, line {rows.line_num}: malformed CSV ({error})",
                file=path,
                row=rows.line_num,
            ) from error
        except UnicodeDecodeError as error:
            raise DataError(_decode_message(path, encoding), file=path) from error
    records = [r for r in records if r]  # blank lines
    refuse_other_separator(path, header)
    width = len(header)
    for number, record in enumerate(records, start=1):
        if len(record) != width:
            raise DataError(
                f"{path}, row {number}: has {len(record)} fields, expected {width} like the header"
            )
    if len(set(header)) != width:
        duplicates = sorted({h for h in header if header.count(h) > 1})
        raise DataError(f"{path}: duplicate column names in the header: {duplicates}", file=path)
    return header, records


def refuse_other_separator(path: Path, header: list[str]) -> None:
    """A clear error for a file separated by semicolons or tabs (read as one column)."""
    if len(header) != 1:
        return
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if separator in header[0]:
            raise DataError(
                f"{path}: the header is one column, {header[0][:60]!r}: the file seems separated "
                f"by {name}; learnt reads comma-separated CSV: save it with commas",
                file=path,
            )


def _read_jsonl(path: Path, encoding: str = "utf-8") -> Table:
    records: list[dict[str, Any]] = []
    with _open_text(path, encoding) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(
                        f"{path}, line {number}: not valid JSON ({error.msg})",
                        file=path,
                        row=number,
                    ) from error
                if not isinstance(record, dict):
                    raise DataError(
                        f"{path}, line {number}: expected a JSON object per line",
                        file=path,
                        row=number,
                    )
                refuse_nested(record, path, number)
                records.append(record)
        except UnicodeDecodeError as error:
            raise DataError(_decode_message(path, encoding), file=path) from error
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {}
    for name in names:
        column = np.empty(len(records), dtype=object)
        column[:] = [record.get(name) for record in records]
        columns[name] = column
    return Table(columns, str(path), base=path.parent)


def refuse_nested(record: dict[str, Any], path: Path, number: int) -> None:
    """A clear error for a JSON list or object where a cell holds one value."""
    for name, value in record.items():
        if isinstance(value, list | dict):
            what = "a list" if isinstance(value, list) else "an object"
            raise DataError(
                f"{path}, line {number}, column '{name}': expected a single value, got {what} "
                f"({json.dumps(value)[:40]}); flatten it into columns",
                file=path,
                row=number,
                column=name,
            )


def read_stdin_lines(encoding: str = "utf-8") -> list[str]:
    """The lines of standard input, decoded with `encoding` (bytes, so `--encoding` applies)."""
    data = sys.stdin.buffer.read()
    try:
        text = data.decode(_python_encoding(encoding))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"stdin, line {line}: not valid {encoding.upper()} ({error.reason}); name the "
            "encoding with --encoding (e.g. --encoding latin-1)",
            file="stdin",
            row=line,
        ) from error
    return text.splitlines()


def _read_parquet(path: Path, encoding: str = "utf-8") -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise DataError("reading Parquet needs pyarrow: pip install 'learnt[parquet]'") from error
    try:
        arrow = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DataError(
            f"{path}: cannot be read as Parquet: {first_line(error)}", file=path
        ) from error
    columns = {}
    for name in arrow.column_names:
        values = arrow.column(name).to_numpy(zero_copy_only=False)
        columns[name] = values if values.dtype.kind in "fiub" else values.astype(object)
    return Table(columns, str(path), base=path.parent)


def _open_text(path: Path, encoding: str = "utf-8") -> io.TextIOWrapper:
    return open(path, newline="", encoding=_python_encoding(encoding))


def _python_encoding(encoding: str) -> str:
    """UTF-8 files may start with a byte-order mark; read past it."""
    try:
        return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    except LookupError:
        raise DataError(
            f"--encoding {encoding}: unknown text encoding; try utf-8, latin-1 or cp1252"
        ) from None


def _decode_message(path: Path, encoding: str) -> str:
    """Where the first undecodable byte is (decoders report offsets within a chunk)."""
    data = path.read_bytes()
    try:
        data.decode(_python_encoding(encoding))
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return (
            f"{path}, line {line}: not valid {encoding.upper()} ({error.reason}); save the file as "
            "UTF-8, or name its encoding with --encoding (e.g. --encoding latin-1)"
        )
    return f"{path}: not valid {encoding.upper()}; name the file's encoding with --encoding"


# --- writing ------------------------------------------------------------------------------------


def write_table(columns: dict[str, np.ndarray], out: str | Path | None) -> None:
    """Write columns to `out` (format by extension), or as CSV to stdout when `out` is None."""
    if out is None:
        _write_csv(columns, sys.stdout)
        return
    path = Path(out)
    fmt = table_format(path)
    if path.is_dir():
        raise DataError(
            f"{path}: is a directory; --out names a file such as predictions.csv", file=path
        )
    check_writable(path.parent, path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                _write_csv(columns, handle)
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as handle:
                names = list(columns)
                for row in zip(*(_python_values(c) for c in columns.values()), strict=True):
                    handle.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({k: _python_values(v) for k, v in columns.items()}), tmp)
        tmp.replace(path)
    except OSError as error:
        raise DataError(
            f"{path}: cannot be written ({error.strerror or first_line(error)}); "
            "--out names a file in a writable folder",
            file=path,
            field="out",
        ) from error
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _write_csv(columns: dict[str, np.ndarray], handle: Any) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(_python_values(c) for c in columns.values()), strict=True))


def _python_values(column: np.ndarray) -> list[Any]:
    if column.dtype.kind == "f":
        return [None if np.isnan(v) else float(v) for v in column.tolist()]
    return column.tolist()


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for JSON, and messages: `inf`, not
    `np.float64(inf)`); other values as they are."""
    return value.item() if isinstance(value, np.generic) else value
