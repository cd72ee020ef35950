"""Step 3 (encode): turn table columns into the two arrays a network reads, with numpy only.

`fit_preprocessing` learns everything from the **training rows only**: medians, means and
standard deviations of numeric inputs, the category vocabulary of categorical columns. The result
is plain data (`learnt.runtime.format.Preprocessing`, stored in `program.json`); `encode` applies it at training and at
prediction time alike, so the program needs no torch and no pandas to prepare its inputs.

Every value is first canonicalised (`canonical_strings`): `1`, `1.0` and `"1"` are the same
category, `""`, `NA` and `null` are missing, and `true`/`True` are one boolean — so a value reads
the same whether it came from pandas, the CSV module, JSON or Parquet.

Encoded layout:
  numeric      float32 [rows, n_numeric]: standardised numbers, booleans and date parts, then one
               0/1 indicator per column that had missing values in training (missing → median)
  categorical  int64   [rows, n_categorical]: 0 = unknown (unseen or rare), 1 = missing, 2… = category
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnt.data.tables import Table, python_value
from learnt.errors import DataError
from learnt.kinds import Task
from learnt.runtime.format import (
    FIRST_CATEGORY,
    MISSING_SLOT,
    UNKNOWN,
    CategoricalInput,
    ImageInput,
    LabelEncoding,
    NumericInput,
    Preprocessing,
    Schema,
    Transform,
    abbreviate,
)

MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "<na>", "nat", "#n/a"})
MAX_CATEGORIES = 1000
MIN_CATEGORY_COUNT = 2  # rarer training values share the "unknown" slot, so that slot is trained
DATE_PARTS = ("year", "month", "day", "dayofyear", "weekday", "hour")
INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass
class Encoded:
    """Network inputs for a set of rows, by name (the names of the ONNX graph's inputs).

    Tables: `numeric` float32 [rows, n_numeric] and `categorical` int64 [rows, n_categorical];
    images: `image` float32 [rows, C, S, S] (uint8 before normalisation, during training);
    text: `tokens` and `mask` int64 [rows, T].
    """

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def take(self, rows: np.ndarray) -> Encoded:
        return Encoded({name: array[rows] for name, array in self.arrays.items()})


# --- canonical values ---------------------------------------------------------------------------


def canonical_strings(column: np.ndarray) -> np.ndarray:
    """Each value as a canonical string (object array), None where missing."""
    uniques, inverse = distinct_values(column)
    return np.array([*uniques, None], dtype=object)[inverse]


def distinct_values(column: np.ndarray) -> tuple[list[str | None], np.ndarray]:
    """(canonical distinct values, index of each row's value): per distinct value, not per row.

    `np.unique` finds the distinct texts in C; only those few are canonicalised in Python.
    """
    if column.dtype.kind == "b":
        return ["False", "True"], column.astype(np.int64)
    uniques, inverse = np.unique(column.astype(str), return_inverse=True)
    return [_canonical(u) for u in uniques.tolist()], inverse.reshape(-1)


def _canonical(text: str) -> str | None:
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in MISSING:
        return None
    if lowered in ("true", "false"):
        return lowered.capitalize()
    if INTEGER.match(stripped):
        return str(int(stripped))
    try:
        number = float(stripped)
    except ValueError:
        return stripped
    if np.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def parse_numbers(column: np.ndarray, table: Table, name: str) -> np.ndarray:
    """float64 values with NaN where missing; a clear error naming the first unparsable cell.

    Infinity (`inf`, `1e999`) is refused like text: no standardisation or clipping can place it.
    """
    numbers = _parse_floats(column, table, name)
    infinite = np.flatnonzero(np.isinf(numbers))
    if len(infinite):
        row = int(infinite[0])
        raise DataError(
            f"{table.where(row, name)}: expected a finite number, got {python_value(column[row])!r}; "
            "leave the cell empty if the value is missing",
            **table.place(row, name),
        )
    return numbers


def holds_nul(column: np.ndarray) -> bool:
    """Whether any cell of a text column holds a NUL byte (which no number or text file has)."""
    return "\x00" in "".join(map(str, column.tolist()))


def missing_texts(stripped: np.ndarray) -> np.ndarray:
    """True where a stripped text spells a missing value (`NA`, `null`, …), in any case.

    One comparison per spelling, not `np.isin`: its `np.unique` imports `numpy.ma`, about 9 ms of
    a cold `learnt predict`.
    """
    lowered = np.char.lower(stripped)
    missing = np.zeros(lowered.shape, dtype=bool)
    for spelling in MISSING:
        missing |= lowered == spelling
    return missing


def _parse_floats(column: np.ndarray, table: Table, name: str) -> np.ndarray:
    if column.dtype.kind in "fiub":
        return column.astype(np.float64)
    text = column.astype(str)
    stripped = np.char.strip(text)
    missing = missing_texts(stripped)
    try:
        if holds_nul(column):  # numpy drops trailing NULs: '1\x00' would read as 1
            raise ValueError("a NUL byte")
        return np.where(missing, "nan", stripped).astype(np.float64)
    except ValueError:
        for row, (value, is_missing) in enumerate(
            zip(column.tolist(), missing.tolist(), strict=True)
        ):
            if not is_missing or "\x00" in str(value):
                try:
                    float(str(value))
                except ValueError:
                    raise DataError(
                        f"{table.where(row, name)}: expected a number, got {value!r}; "
                        "leave the cell empty if the value is missing",
                        **table.place(row, name),
                    ) from None
        raise


def parse_datetimes(column: np.ndarray, table: Table, name: str) -> np.ndarray:
    """datetime64[s] values with NaT where missing; a clear error naming the first bad cell."""
    if column.dtype.kind == "M":
        return column.astype("datetime64[s]")
    text = column.astype(str)
    stripped = np.char.strip(text)
    missing = missing_texts(stripped)
    try:
        return np.where(missing, "NaT", stripped).astype("datetime64[s]")
    except ValueError:
        for row, value in enumerate(stripped.tolist()):
            if not missing[row]:
                try:
                    np.datetime64(value, "s")
                except ValueError:
                    raise DataError(
                        f"{table.where(row, name)}: expected a date like 2024-05-01 or 2024-05-01 12:30, got {value!r}",
                        **table.place(row, name),
                    ) from None
        raise


def date_part(moments: np.ndarray, part: str) -> np.ndarray:
    """One numeric part of datetime64 values (NaN where missing)."""
    missing = np.isnat(moments)
    safe = np.where(missing, np.datetime64(0, "s"), moments)
    years = safe.astype("datetime64[Y]")
    months = safe.astype("datetime64[M]")
    days = safe.astype("datetime64[D]")
    values = {
        "year": lambda: years.astype(np.int64) + 1970,
        "month": lambda: (months - years).astype(np.int64) + 1,
        "day": lambda: (days - months).astype(np.int64) + 1,
        "dayofyear": lambda: (days - years).astype(np.int64) + 1,  # the season, in one number
        "weekday": lambda: (days.astype(np.int64) + 3) % 7,  # Monday = 0; 1970-01-01 was a Thursday
        "hour": lambda: (safe - days).astype(np.int64) // 3600,
    }[part]()
    return np.where(missing, np.nan, values.astype(np.float64))


# --- fitting (training rows only) ---------------------------------------------------------------


def fit_preprocessing(table: Table, schema: Schema) -> Preprocessing:
    """Learn the preprocessing from the training rows `table`."""
    numeric: list[NumericInput] = []
    categorical: list[CategoricalInput] = []
    for feature in schema.features:
        column = table.columns[feature.name]
        if feature.kind == "categorical":
            categorical.append(_fit_categories(feature.name, column))
        elif feature.kind == "numeric":
            numeric.append(
                _fit_numeric(feature.name, "number", parse_numbers(column, table, feature.name))
            )
        elif feature.kind == "boolean":
            true_value, false_value = _boolean_values(canonical_strings(column))
            spec = NumericInput(
                column=feature.name,
                transform="boolean",
                true_value=true_value,
                false_value=false_value,
                median=0,
                mean=0,
                std=1,
                indicator=False,
            )
            values = _raw_values(spec, column, table)
            numeric.append(_fit_numeric(feature.name, "boolean", values, true_value, false_value))
        else:
            moments = parse_datetimes(column, table, feature.name)
            for part in DATE_PARTS:
                values = date_part(moments, part)
                if np.nanstd(values) > 0:
                    numeric.append(_fit_numeric(feature.name, part, values))
    return Preprocessing(numeric=numeric, categorical=categorical)


def _fit_numeric(
    column: str,
    transform: Transform,
    values: np.ndarray,
    true_value: str | None = None,
    false_value: str | None = None,
) -> NumericInput:
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if len(finite) else 0.0
    filled = np.where(np.isfinite(values), values, median)
    std = float(filled.std())
    return NumericInput(
        column=column,
        transform=transform,
        true_value=true_value,
        false_value=false_value,
        median=median,
        mean=float(filled.mean()),
        std=std if std > 0 else 1.0,
        low=float(finite.min()) if len(finite) else None,
        high=float(finite.max()) if len(finite) else None,
        indicator=bool(len(finite) < len(values)),
    )


def _boolean_values(canonical: np.ndarray) -> tuple[str, str | None]:
    """(the value read as 1, the value read as 0) of a two-valued column: 1 is True, yes, 1 … or
    else the later one in order."""
    present = sorted({v for v in canonical.tolist() if v is not None})
    true_value = next(
        (v for v in present if v.lower() in ("true", "yes", "y", "t", "1")), present[-1]
    )
    others = [v for v in present if v != true_value]
    return true_value, others[0] if others else None


def _fit_categories(name: str, column: np.ndarray) -> CategoricalInput:
    values = canonical_strings(column)
    present = values[values != None]  # noqa: E711 - elementwise comparison with None
    uniques, counts = np.unique(present.astype(str), return_counts=True)
    order = np.lexsort((uniques, -counts))  # most frequent first, ties by name
    kept = [str(uniques[i]) for i in order if counts[i] >= MIN_CATEGORY_COUNT][:MAX_CATEGORIES]
    return CategoricalInput(column=name, categories=kept)


def fit_labels(labels: np.ndarray, task: Task) -> LabelEncoding:
    """Classes (sorted) for classification; mean and std for regression. Missing labels excluded."""
    if task == "classification":
        canonical = canonical_strings(labels)
        first_raw: dict[str, Any] = {}
        for raw, key in zip(labels.tolist(), canonical.tolist(), strict=True):
            if key is not None and key not in first_raw:
                first_raw[key] = _json_value(raw)
        classes = [first_raw[k] for k in sorted(first_raw, key=_class_order)]
        return LabelEncoding(task=task, classes=classes)
    numbers = _floats_or_nan(labels)
    numbers = numbers[np.isfinite(numbers)]
    if not len(numbers):  # no number at all: `encode_labels` names the first bad cell
        return LabelEncoding(task=task, mean=0.0, std=1.0)
    std = float(numbers.std())
    return LabelEncoding(task=task, mean=float(numbers.mean()), std=std if std > 0 else 1.0)


def _floats_or_nan(values: np.ndarray) -> np.ndarray:
    """float64 values, NaN for any that is not a number (`encode_labels` names those)."""
    try:
        return values.astype(np.float64)
    except (ValueError, TypeError):
        return np.array([_float_or_nan(v) for v in values.tolist()], dtype=np.float64)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (ValueError, TypeError):
        return float("nan")


def _class_order(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isfinite(value) and value == int(value):
        return int(value)
    return value


# --- applying (training and prediction) ---------------------------------------------------------


def check_columns(table: Table, preprocessing: Preprocessing) -> None:
    """A clear error when a feature column the program reads is absent from `table`."""
    missing = [c for c in preprocessing.columns if c not in table.columns]
    if missing:
        listed = ", ".join(f"'{c}'" for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        reads = abbreviate(preprocessing.columns, limit=10)
        raise DataError(
            f"{table.source}: missing feature column{'s' if len(missing) > 1 else ''} {listed}{more}; "
            f"the program reads {reads}"
        )


def encode(
    table: Table,
    preprocessing: Preprocessing,
    bad: dict[int, str] | None = None,
    *,
    tokenizer: Any = None,
) -> Encoded:
    """Network inputs for every row of `table` (extra columns are ignored).

    `bad`, when given, collects rows whose image cannot be decoded (their input is left blank);
    text programs need their `tokenizer` (a `tokenizers.Tokenizer`).
    """
    check_columns(table, preprocessing)
    if preprocessing.text is not None:
        from learnt.data.text import tokenize

        tokens, mask = tokenize(
            tokenizer, table.columns[preprocessing.text.column], preprocessing.text
        )
        return Encoded({"tokens": tokens, "mask": mask})
    if preprocessing.image is not None:
        return Encoded({"image": encode_images(table, preprocessing.image, bad)})
    rows = len(table)
    values, indicators = [], []
    parsed: dict[str, np.ndarray] = {}
    for spec in preprocessing.numeric:
        raw = _raw_values(spec, table.columns[spec.column], table, parsed)
        missing = ~np.isfinite(raw)
        known = np.clip(raw, spec.low, spec.high) if spec.low is not None else raw
        values.append((np.where(missing, spec.median, known) - spec.mean) / spec.std)
        if spec.indicator:
            indicators.append(missing.astype(np.float64))
    numeric = np.stack(values + indicators, axis=1) if values else np.zeros((rows, 0))
    categorical = np.zeros((rows, len(preprocessing.categorical)), dtype=np.int64)
    for j, spec in enumerate(preprocessing.categorical):
        categorical[:, j] = encode_categories(table.columns[spec.column], spec.categories)
    return Encoded({"numeric": numeric.astype(np.float32), "categorical": categorical})


def encode_images(table: Table, spec: ImageInput, bad: dict[int, str] | None = None) -> np.ndarray:
    """Decode, resize and normalise the images a table's path column names: float32 [rows, C, S, S].

    A file that cannot be decoded is an error naming it and its row — or, when `bad` is given,
    recorded there (row → reason) and left blank.
    """
    from concurrent.futures import ThreadPoolExecutor

    from learnt.data.images import BadImage, decode_image, normalise, resolve_paths

    paths = resolve_paths(table.columns[spec.column], table.base)
    pixels = np.zeros((len(paths), spec.channels, spec.size, spec.size), dtype=np.uint8)

    def decode(row: int) -> tuple[int, str | None]:
        try:
            pixels[row] = decode_image(paths[row], spec.size, spec.channels)
            return row, None
        except BadImage as error:
            return row, str(error)

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(paths) // 16))) as pool:
        problems = [(row, why) for row, why in pool.map(decode, range(len(paths))) if why]
    for row, why in problems:
        if bad is None:
            raise DataError(
                f"{table.where(row, spec.column)}: image {paths[row]}: {why}",
                **table.place(row, spec.column),
            )
        bad[row] = why
    return normalise(pixels, spec)


def _raw_values(
    spec: NumericInput, column: np.ndarray, table: Table, cache: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    if spec.transform == "number":
        return parse_numbers(column, table, spec.column)
    if spec.transform == "boolean":
        return _boolean_numbers(spec, canonical_strings(column))
    cache = {} if cache is None else cache
    if spec.column not in cache:
        cache[spec.column] = parse_datetimes(column, table, spec.column)
    return date_part(cache[spec.column], spec.transform)


def _boolean_numbers(spec: NumericInput, canonical: np.ndarray) -> np.ndarray:
    """1 for the true value, 0 for the false one, NaN (missing) for anything else.

    A value training never saw (a third value, e.g. 'other') is read as missing — the training
    median, with the missing indicator where training had one — like an unseen category, never as
    the false value. Programs that did not record their false value read any other value as 0.
    """
    ones = (canonical == spec.true_value).astype(np.float64)
    if spec.false_value is None:
        known = canonical != None  # noqa: E711 - elementwise comparison with None
    else:
        known = ones.astype(bool) | (canonical == spec.false_value)
    return np.where(known, ones, np.nan)


def encode_categories(column: np.ndarray, categories: list[str]) -> np.ndarray:
    index = {value: i + FIRST_CATEGORY for i, value in enumerate(categories)}
    uniques, inverse = distinct_values(column)
    codes = [MISSING_SLOT if u is None else index.get(u, UNKNOWN) for u in uniques]
    return np.array(codes or [UNKNOWN], dtype=np.int64)[inverse]


def encode_labels(
    table: Table, label: str, encoding: LabelEncoding
) -> tuple[np.ndarray, np.ndarray]:
    """(targets, rows that have a label). Classes → int64 indices; numbers → standardised float32."""
    column = table.columns[label]
    if encoding.task == "classification":
        class_keys = canonical_strings(np.array(encoding.classes, dtype=object)).tolist()
        index = {key: i for i, key in enumerate(class_keys)}
        uniques, inverse = distinct_values(column)
        unknown = [u for u in uniques if u is not None and u not in index]
        if unknown:
            row = int(np.flatnonzero(inverse == uniques.index(unknown[0]))[0])
            raise DataError(
                f"{table.where(row, label)}: label {python_value(column[row])!r} is not one of the program's classes "
                f"{encoding.classes}",
                **table.place(row, label),
            )
        refuse_infinite_labels(column, table, label)
        codes = np.array([-1 if u is None else index[u] for u in uniques] or [-1], dtype=np.int64)[
            inverse
        ]
        known = np.flatnonzero(codes >= 0)
        return codes[known], known
    numbers = parse_label_numbers(column, table, label)
    known = np.isfinite(numbers)
    return ((numbers[known] - encoding.mean) / encoding.std).astype(np.float32), np.flatnonzero(
        known
    )


def parse_label_numbers(column: np.ndarray, table: Table, label: str) -> np.ndarray:
    """A regression label as float64 (NaN where missing); text or infinity is an error."""
    try:
        return parse_numbers(column, table, label)
    except DataError as error:
        raise DataError(
            f"{error.message} (regression needs a number in every labelled row)",
            file=error.file,
            row=error.row,
            column=error.column,
        ) from None


def refuse_infinite_labels(column: np.ndarray, table: Table, label: str) -> None:
    """A clear error for a class label that is an infinite number (there is no such class)."""
    if column.dtype.kind == "f":
        infinite = np.isinf(column)
    elif column.dtype == object:
        infinite = np.array([isinstance(v, float) and np.isinf(v) for v in column.tolist()])
    else:
        return
    rows = np.flatnonzero(infinite)
    if len(rows):
        row = int(rows[0])
        raise DataError(
            f"{table.where(row, label)}: label {python_value(column[row])!r} is infinite; expected a class",
            **table.place(row, label),
        )
