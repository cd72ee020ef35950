"""What `POST /predict` reads: request bodies turned into the `Table` that `learnt predict` reads.

* tables: JSON `{"rows": [{column: value, …}, …]}` or a CSV body (`text/csv`);
* text: JSON `{"texts": ["…", …]}`, or a CSV body with the text column;
* images: `multipart/form-data` with one or more files in the field `image`, or one image as the
  raw body (`image/*`, `application/octet-stream`).

The JSON body is validated by a pydantic model built from the program's input schema, so the
OpenAPI schema (and `/docs`) shows each column with its type. Typing rules, chosen to accept what
the CLI accepts:

* numeric columns are numbers, or strings read as the CLI reads a CSV cell ("3.5"; "" or "NA"
  for missing; "twenty" is the CLI's error); `null` is a missing value;
* categorical and two-valued (boolean) columns list their training values as an enum but accept
  any string, number or boolean: a value training never saw is read as "unknown" (categorical) or
  missing (boolean), as in `learnt predict`;
* date columns are strings (ISO 8601 is safest); `null` is missing;
* every feature column must be present in every row (`null` for missing); extra keys are ignored.

CSV bodies and image files go through the CLI's own readers via a temporary file, so they are read
exactly as `learnt predict` reads a file; messages name the request, not the temporary path.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from learnt.data.images import IMAGE_SUFFIXES
from learnt.data.tables import Table, read_table
from learnt.errors import DataError, LearntError
from learnt.runtime.format import Manifest, Preprocessing

SOURCE = "request"
IMAGE_FIELD = "image"
RAW_IMAGE_TYPES = ("image/", "application/octet-stream")


class UnsupportedMediaType(LearntError):
    """A request body of a content type this program cannot read (HTTP 415)."""


@dataclass
class Inputs:
    """A request's rows as the CLI's `Table`; for images, each temporary path → the upload's name."""

    table: Table
    names: dict[str, str]


# --- the request models (and the OpenAPI schema) ------------------------------------------------


def column_type(manifest: Manifest, name: str, kind: str) -> Any:
    """The pydantic type of one feature column (see the module's typing rules)."""
    preprocessing = manifest.preprocessing
    if kind == "numeric":
        return float | str | None
    if kind == "categorical":
        known = next(c.categories for c in preprocessing.categorical if c.column == name)
        return enum_or_any(known)
    if kind == "boolean":
        spec = next(n for n in preprocessing.numeric if n.column == name)
        known = [v for v in (spec.true_value, spec.false_value) if v is not None]
        return enum_or_any(known)
    return str | None  # datetime


def enum_or_any(known: list[str]) -> Any:
    """The known values as an enum (a drop-down in /docs), then any scalar."""
    scalars = str | int | float | bool | None
    return Literal[tuple(known)] | scalars if known else scalars


def row_model(manifest: Manifest) -> type[BaseModel]:
    """A pydantic model of one table row: each feature column a required, typed field."""
    fields: dict[str, Any] = {}
    for i, column in enumerate(manifest.input_schema.features):
        # Python names of their own: a column may be called 'json', '_id' or 'my column'.
        fields[f"column_{i}"] = (
            column_type(manifest, column.name, column.kind),
            Field(..., alias=column.name, title=column.name, description=f"{column.kind} column"),
        )
    return create_model(  # type: ignore[call-overload]
        "Row",
        __config__=ConfigDict(extra="ignore", title="Row"),
        **fields,
    )


def request_model(manifest: Manifest) -> type[BaseModel]:
    """The JSON body of `POST /predict`: `{"rows": [...]}` (tables) or `{"texts": [...]}` (text)."""
    config = ConfigDict(extra="forbid", title="PredictRequest")
    if manifest.preprocessing.text is not None:
        texts = list[str]
        return create_model(  # type: ignore[call-overload]
            "PredictRequest",
            __config__=config,
            texts=(texts, Field(..., min_length=1, description="One text per prediction.")),
        )
    return create_model(  # type: ignore[call-overload]
        "PredictRequest",
        __config__=config,
        rows=(
            list[row_model(manifest)],
            Field(..., min_length=1, description="One row per prediction."),
        ),
    )


def example_row(preprocessing: Preprocessing) -> dict[str, Any]:
    """A plausible row: medians, the first category, the true value, a date."""
    row: dict[str, Any] = {}
    for spec in preprocessing.numeric:
        if spec.transform == "number":
            row[spec.column] = spec.median
        elif spec.transform == "boolean":
            row[spec.column] = spec.true_value
        else:
            row.setdefault(spec.column, "2024-01-01T12:00:00")
    for category in preprocessing.categorical:
        row[category.column] = category.categories[0] if category.categories else None
    return {name: row.get(name) for name in preprocessing.columns}


def example_request(manifest: Manifest) -> dict[str, Any]:
    if manifest.preprocessing.text is not None:
        return {"texts": ["an example text"]}
    return {"rows": [example_row(manifest.preprocessing)]}


# --- bodies → tables ----------------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_inputs(
    manifest: Manifest,
    model: type[BaseModel],
    body: bytes,
    content_type: str | None,
    max_rows: int,
    folder: ScratchFolder,
) -> Inputs:
    """The request's rows as a `Table`; `folder` holds any temporary files (CSV, images)."""
    kind = media_type(content_type)
    image = manifest.preprocessing.image
    if image is not None:
        if kind == "multipart/form-data":
            files = multipart_files(body, content_type or "", IMAGE_FIELD)
        elif kind.startswith(RAW_IMAGE_TYPES):
            files = [("image", body)]
        else:
            raise UnsupportedMediaType(
                f"{SOURCE}: this program reads images: send multipart/form-data with files in the "
                f"field '{IMAGE_FIELD}', or one image as the body (image/png, image/jpeg, …), not "
                f"{kind or 'a body without a Content-Type'}"
            )
        check_count(len(files), max_rows, "images")
        return image_inputs(files, image.column, folder)
    if kind in ("text/csv", "application/csv"):
        return Inputs(csv_table(body, folder, max_rows), {})
    if kind not in ("application/json", ""):
        raise UnsupportedMediaType(f"{SOURCE}: expected application/json or text/csv, not {kind}")
    return Inputs(json_table(manifest, model, body, max_rows), {})


def check_count(count: int, max_rows: int, what: str) -> None:
    if count > max_rows:
        raise DataError(
            f"{SOURCE}: {count:,} {what} in one request; at most {max_rows:,} are accepted "
            "(split the request, or start the server with a larger --max-rows)",
            field="rows",
        )
    if count == 0:
        raise DataError(f"{SOURCE}: no {what} to predict", field="rows")


def json_table(manifest: Manifest, model: type[BaseModel], body: bytes, max_rows: int) -> Table:
    """Validate a JSON body with the request model; its rows (or texts) as a `Table`."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as error:
        raise validation_error(error, manifest) from None
    text = manifest.preprocessing.text
    if text is not None:
        records = [{text.column: t} for t in parsed.texts]  # type: ignore[attr-defined]
    else:
        records = [row.model_dump(by_alias=True) for row in parsed.rows]  # type: ignore[attr-defined]
    check_count(len(records), max_rows, "texts" if text is not None else "rows")
    columns = {}
    for name in manifest.preprocessing.columns:
        column = np.empty(len(records), dtype=object)
        column[:] = [record.get(name) for record in records]
        columns[name] = column
    return Table(columns, SOURCE)


def validation_error(error: ValidationError, manifest: Manifest) -> DataError:
    """The first problem pydantic found, as a `DataError` naming the row and column."""
    first = error.errors(include_url=False)[0]
    kind, location, message = first["type"], first["loc"], first["msg"]
    if kind == "json_invalid":
        return DataError(f"{SOURCE}: the body is not valid JSON ({first['ctx']['error']})")
    if len(location) >= 2 and isinstance(location[1], int):
        row = location[1] + 1
        if location[0] == "texts":
            return DataError(
                f"{SOURCE}, text {row}: {lower_first(message)}", row=row, field="texts"
            )
        if len(location) >= 3:
            column = str(location[2])
            if kind == "missing":
                reads = ", ".join(f"'{c}'" for c in manifest.preprocessing.columns[:10])
                return DataError(
                    f"{SOURCE}, row {row}: missing feature column '{column}' (send null for a "
                    f"missing value); the program reads {reads}",
                    row=row,
                    column=column,
                )
            got = str(first.get("input"))[:40]
            return DataError(
                f"{SOURCE}, row {row}, column '{column}': {lower_first(message)}, got {got!r}",
                row=row,
                column=column,
            )
        return DataError(f"{SOURCE}, row {row}: {lower_first(message)}", row=row, field="rows")
    where = ".".join(str(p) for p in location)
    expected = "texts" if manifest.preprocessing.text is not None else "rows"
    if kind == "missing":
        message = f"expected a JSON object with '{expected}'"
    elif kind == "extra_forbidden":
        message = f"unexpected field; expected a JSON object with '{expected}'"
    return DataError(
        f"{SOURCE}: {where + ': ' if where else ''}{lower_first(message)}", field=where or None
    )


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def csv_table(body: bytes, folder: ScratchFolder, max_rows: int) -> Table:
    """A CSV body read by the CLI's own CSV reader (header, field counts, encoding)."""
    path = folder / "request.csv"
    path.write_bytes(body)
    with renamed({str(path): SOURCE}):
        table = read_table(path)
    table.source = SOURCE
    check_count(len(table), max_rows, "rows")
    return table


def image_inputs(files: list[tuple[str, bytes]], column: str, folder: ScratchFolder) -> Inputs:
    """Uploaded images written to `folder` and listed in a one-column table, as the CLI lists files."""
    names = {}
    for i, (name, data) in enumerate(files):
        suffix = Path(name).suffix.lower()
        path = folder / f"{i + 1}{suffix if suffix in IMAGE_SUFFIXES else '.image'}"
        path.write_bytes(data)
        names[str(path)] = name
    paths = np.array(list(names), dtype=object)
    return Inputs(Table({column: paths}, SOURCE), names)


@contextlib.contextmanager
def renamed(names: dict[str, str]) -> Iterator[None]:
    """Errors raised inside name each upload where they would name its temporary file."""
    try:
        yield
    except LearntError as error:
        for temporary, name in names.items():
            error.message = error.message.replace(temporary, name)
            if error.file == temporary:
                error.file = name
        error.args = (error.message,)
        raise


@contextlib.contextmanager
def temporary_folder() -> Iterator[ScratchFolder]:
    """A folder for a request's files, made only if one is written (JSON bodies need none)."""
    folder = ScratchFolder()
    try:
        yield folder
    finally:
        folder.remove()


class ScratchFolder:
    """`folder / name` is a path in a temporary directory created on first use."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def __truediv__(self, name: str) -> Path:
        if self.path is None:
            self.path = Path(tempfile.mkdtemp(prefix="learnt-serve-"))
        return self.path / name

    def remove(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


# --- multipart/form-data (the standard library is enough for uploads) ---------------------------


def multipart_files(body: bytes, content_type: str, field: str) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every part of a multipart/form-data body named `field`, in order."""
    boundary = header_param(content_type, "content-type", "boundary")
    if not boundary:
        raise DataError(f"{SOURCE}: multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise DataError(f"{SOURCE}: malformed multipart/form-data (no closing boundary)")
    files = []
    for number, section in enumerate(sections[1:-1], start=1):
        head, separator, content = section.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n") or not content.endswith(b"\r\n"):
            raise DataError(f"{SOURCE}: malformed multipart/form-data (part {number})")
        disposition = part_header(head, "content-disposition")
        if header_param(disposition, "content-disposition", "name") != field:
            continue
        filename = header_param(disposition, "content-disposition", "filename")
        files.append((filename or f"{field} {len(files) + 1}", content[:-2]))
    if not files:
        raise DataError(
            f"{SOURCE}: no files in the form field '{field}'; upload images as "
            f"-F {field}=@photo.jpg",
            field=field,
        )
    return files


def part_header(head: bytes, name: str) -> str:
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def header_param(value: str, header: str, param: str) -> str | None:
    """A parameter of a header value (`boundary`, `name`, `filename`), unquoted."""
    message = Message()
    message[header] = value
    found = message.get_param(param, header=header)
    if isinstance(found, tuple):  # RFC 2231: (charset, language, value)
        found = found[2]
    return None if found is None else str(found)
