"""Step 3: decide what each column is — numeric, boolean, categorical, datetime — or drop it.

The rules, applied to the training table once and printed:

* a column that is empty or constant is dropped;
* two distinct values (True/False, yes/no, male/female, 0/1) make a **boolean**;
* numbers are **numeric**, except integers with at most 5 distinct values (codes such as a
  passenger class), which are **categorical**, and unique integers in a column named like an id;
* ISO dates (`2024-05-01`, `2024-05-01 12:30`) are **datetime**, expanded to numeric parts;
* paths ending in an image extension (`.png`, `.jpg`, …) are an **image** column, and free text
  (5+ words and 25+ characters on average, mostly distinct) a **text** column: either one is then
  the program's only input, and the other columns are listed as not read;
* a column of numbers with a few texts among them (at least 90 % numbers, more than 5 distinct) is
  **numeric**, and the first text in it is an error naming its row and column (a typo such as
  `twenty`; leave a missing value empty);
* strings are **categorical** unless they look like identifiers or free text (many distinct values
  relative to the rows), which are dropped with a notice: they would only memorise rows.

`--ignore COL` drops a column by hand; `--task` overrides the classification/regression choice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from learnt.data.images import IMAGE_SUFFIXES
from learnt.errors import DataError, UsageError, closest
from learnt.kinds import Task
from learnt.runtime.format import Column, DroppedColumn, Kind, Schema

if TYPE_CHECKING:
    import pandas as pd


MAX_CODE_LEVELS = 5  # integers with at most this many values are codes, not quantities
MAX_CLASSES_FOR_INTEGER_LABEL = 20
MOSTLY_NUMBERS = 0.9  # a text column whose values are at least this share numbers has typos
ISO_DATE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


def infer_schema(
    frame: pd.DataFrame,
    label: str,
    *,
    ignore: list[str] = (),  # type: ignore[assignment]
    task: Task | None = None,
    source: str = "data",
) -> Schema:
    """Choose the task and a kind for every column of `frame` except `label`."""
    names = [str(c) for c in frame.columns]
    if label not in names:
        raise DataError(
            f"{source}: no label column '{label}'.{closest(label, names)} Columns: {', '.join(names)}",
            file=source,
            column=label,
        )
    for name in ignore:
        if name == label:
            raise UsageError(
                f"--ignore {name}: that is the label column of {source}; a label cannot be left out "
                "(drop the --ignore, or choose another --label)",
                field="ignore",
                column=name,
            )
        if name not in names:
            raise UsageError(
                f"--ignore {name}: no such column in {source}.{closest(name, names)}",
                field="ignore",
                column=name,
            )
    labels = frame[label]
    if labels.isna().all():
        raise DataError(
            f"{source}, column '{label}': every label is empty; nothing to learn from",
            file=source,
            column=label,
        )
    task = task or infer_task(labels)
    if task == "regression" and not _is_numeric(labels):
        raise DataError(
            f"{source}, column '{label}': regression needs numeric labels, got text such as {labels.dropna().iloc[0]!r}",
            file=source,
            column=label,
        )
    features, dropped = [], []
    for name in names:
        if name == label:
            continue
        if name in ignore:
            dropped.append(DroppedColumn(name=name, reason="--ignore"))
            continue
        kind, reason = infer_kind(frame[name], name)
        if kind is None:
            dropped.append(DroppedColumn(name=name, reason=reason))
        else:
            features.append(Column(name=name, kind=kind))
    if not features:
        raise DataError(
            f"{source}: no usable feature columns besides '{label}' (dropped: {', '.join(d.name for d in dropped) or 'none'})"
        )
    return Schema(label=label, task=task, features=features, dropped=dropped)


def find_image_column(frame: pd.DataFrame, label: str) -> str | None:
    """The first text column (other than the label) whose values are image file paths."""
    for name in frame.columns:
        if name == label or (
            frame[name].dtype.kind not in "OSU" and str(frame[name].dtype) != "str"
        ):
            continue
        values = frame[name].dropna().astype(str)
        if len(values) and values.str.lower().str.endswith(tuple(IMAGE_SUFFIXES)).mean() >= 0.9:
            return str(name)
    return None


def find_text_column(frame: pd.DataFrame, label: str) -> str | None:
    """The text column with the longest texts among those that read as free text.

    Free text: strings of 5+ words and 25+ characters on average, mostly distinct (a passenger's
    name, four words on average, is not text but an identifier).
    """
    best, best_length = None, 0.0
    for name in frame.columns:
        if name == label or frame[name].dtype.kind in "biufcmM":
            continue
        values = frame[name].dropna().astype(str)
        if values.empty:
            continue
        words, length = values.str.split().str.len().mean(), values.str.len().mean()
        if (
            words >= 5
            and length >= 25
            and values.nunique() / len(values) >= 0.5
            and length > best_length
        ):
            best, best_length = str(name), length
    return best


def single_input_schema(
    frame: pd.DataFrame, label: str, task: Task, column: str, kind: Kind
) -> Schema:
    """An image or text column is the program's only input; other columns are left out, and said so."""
    others = [str(c) for c in frame.columns if c not in (label, column)]
    reason = f"not read beside a{'n' if kind == 'image' else ''} {kind} column (not supported yet)"
    dropped = [DroppedColumn(name=name, reason=reason) for name in others]
    return Schema(
        label=label, task=task, features=[Column(name=column, kind=kind)], dropped=dropped
    )


def infer_task(labels: pd.Series) -> Task:
    """Classification for text, booleans and few distinct integers; regression for other numbers."""
    values = labels.dropna()
    if not _is_numeric(values) or values.dtype == bool:
        return "classification"
    integral = _integral(values.to_numpy(dtype=float))
    if integral and values.nunique() <= MAX_CLASSES_FOR_INTEGER_LABEL:
        return "classification"
    return "regression"


def infer_kind(column: pd.Series, name: str) -> tuple[Kind | None, str]:
    """The kind of one feature column, or (None, why it is dropped)."""
    import pandas as pd

    values = column.dropna()
    if values.empty:
        return None, "empty: every value is missing"
    distinct = values.nunique()
    if distinct == 1:
        first = values.iloc[0]
        return None, f"constant: always {first.item() if hasattr(first, 'item') else first!r}"
    if distinct == 2:
        return "boolean", ""
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime", ""
    if _is_numeric(values):
        integral = _integral(pd.to_numeric(values).to_numpy(dtype=float))
        if integral and distinct <= MAX_CODE_LEVELS:
            return "categorical", ""
        if integral and distinct == len(values) and re.search(r"(^|_|\b)id$", name, re.IGNORECASE):
            return None, f"id-like: {distinct} distinct integers in {len(values)} rows"
        return "numeric", ""
    if _mostly_numbers(values):
        return "numeric", ""  # fitting names the first cell that is not a number
    text = values.astype(str)
    if text.str.lower().str.endswith(tuple(IMAGE_SUFFIXES)).mean() >= 0.9:
        return "image", ""
    if text.str.match(ISO_DATE).mean() >= 0.95:
        return "datetime", ""
    ratio = distinct / len(values)
    if ratio > 0.5 and distinct > 20:
        words = text.str.split().str.len().mean()
        what = "free text" if words >= 3 else "id-like"
        return None, f"{what}: {distinct} distinct values in {len(values)} rows"
    return "categorical", ""


def _integral(numbers: np.ndarray) -> bool:
    """Whether every finite number is a whole number (infinity is refused when encoding)."""
    finite = numbers[np.isfinite(numbers)]
    return bool(np.all(np.mod(finite, 1) == 0))


def _mostly_numbers(values: pd.Series) -> bool:
    """Numbers with a few stray texts (a typo such as 'twenty'): a quantity to be fixed, not an id.

    At least MOSTLY_NUMBERS of the values read as numbers, and more distinct numbers than a code
    has (codes with a few text values are categories).
    """
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    share = float(numbers.notna().mean())
    return MOSTLY_NUMBERS <= share < 1 and numbers.nunique() > MAX_CODE_LEVELS


def _is_numeric(values: pd.Series) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return True
    if values.dtype == object:
        converted = pd.to_numeric(values.dropna(), errors="coerce")
        return bool(converted.notna().all())
    return False
