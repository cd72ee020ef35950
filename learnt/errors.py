"""Every error a user can cause, in one place.

Each error says what went wrong, where, what was expected and how to fix it. Beside the message it
carries the place as fields — `file`, `row`, `column`, `field` (a setting or a `program.json` path)
— so that a caller other than the command line can point at the culprit. The CLI prints the
message and exits with `exit_code` (2 for bad input or usage) without a traceback unless `--debug`.

    raise DataError("titanic.csv, row 5, column 'age': expected a number, got 'abc'",
                    file="titanic.csv", row=5, column="age")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


class LearntError(Exception):
    """Base class: a problem the user can fix. `str(error)` is the whole message."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | str | None = None,
        column: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: its kind, message, and whichever place fields are known."""
        places = {"file": self.file, "row": self.row, "column": self.column, "field": self.field}
        return {
            "error": type(self).__name__,
            "message": self.message,
            **{name: value for name, value in places.items() if value is not None},
        }


class UsageError(LearntError):
    """A command or argument that cannot work as given (bad flag value, existing output, …)."""


class DataError(LearntError):
    """Input data that cannot be read or does not fit: missing file, bad value, missing column."""


class ProgramError(LearntError):
    """A program directory that is missing, modified, malformed, or of an unknown format version."""


class MissingDependencyError(LearntError):
    """An optional dependency is needed for this step (e.g. torch for training)."""


class TrainingError(LearntError):
    """Training produced nothing worth freezing (the loss diverged before any epoch improved)."""

    exit_code = 1


class FreezeError(LearntError):
    """A trained network could not be frozen into a program (a fault in learnt, not in the input)."""

    exit_code = 1


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean …?' hint for `name` among `choices`, or '' when nothing is close."""
    import difflib  # only when an error is shown

    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not matches:
        lowered = {choice.lower(): choice for choice in choices}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def first_line(error: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (at most `limit` characters), or its type."""
    text = str(error).strip().splitlines()
    return text[0][:limit] if text else type(error).__name__


def require(module: str, extra: str = "train") -> None:
    """Raise a clear error when an optional `module` is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"this needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'learnt[{extra}]' -c constraints.txt"
        )
