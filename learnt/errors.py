"""Every error a user can cause, in one place.

Each error says what went wrong, where (file, row, column), what was expected and how to fix it.
The CLI prints the message and exits with `exit_code` (2 for bad input or usage) without a
traceback unless `--debug`; the HTTP server maps the same classes to 4xx with the same text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LearntError(Exception):
    """Base class: a problem the user can fix. `str(error)` is the whole message."""

    exit_code = 2


class UsageError(LearntError):
    """A command or argument that cannot work as given (bad flag value, existing output, …)."""


class DataError(LearntError):
    """Input data that cannot be read or does not fit: missing file, bad value, missing column."""


class ProgramError(LearntError):
    """A program directory that is missing, modified, or of a format this version cannot read."""


class MissingDependencyError(LearntError):
    """An optional dependency is needed for this step (e.g. torch for training)."""


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean …?' hint for `name` among `choices`, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not matches:
        lowered = {choice.lower(): choice for choice in choices}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def require(module: str, extra: str = "train") -> None:
    """Raise a clear error when an optional `module` is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"this needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'learnt[{extra}]' -c constraints.txt"
        )
