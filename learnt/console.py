"""Human output: progress and notices on stderr, results on stdout, all silenced by `--quiet`.

Results (`learnt evaluate`'s scores, `learnt inspect`) go to stdout so they can be redirected to a
file; with `--json` stdout carries only the JSON, and the human form of the results joins the
progress on stderr, so the two never mix.

Messages carry rich's markup (`[bold]…[/]`). The training install has rich and shows it in
colour, with progress bars; the slim runtime install has no rich, and the same messages are
printed as plain text (`PlainConsole`), so the runtime never needs it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from typing import Any, Protocol

# rich's markup tags ([bold], [/], [bold red]…) and its escape: a backslash before the bracket.
TAG = re.compile(r"(\\*)\[([a-z#/@][^[]*?)]")

_quiet = False
_console: Printer | None = None
_stdout: Printer | None = None


class Printer(Protocol):
    def print(self, *objects: Any, **options: Any) -> None: ...


class PlainConsole:
    """rich's `Console.print` for strings with markup, in plain text, when rich is not installed."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: Any, **options: Any) -> None:
        stream = sys.stderr if self.stderr else sys.stdout
        stream.write(" ".join(plain(str(item)) for item in objects) + "\n")
        stream.flush()


def plain(text: str) -> str:
    """`text` without its markup tags, and with escaped brackets restored."""

    def replace(match: re.Match[str]) -> str:
        backslashes, tag = match.groups()
        kept, escaped = divmod(len(backslashes), 2)  # an odd count escapes the bracket
        return "\\" * kept + (f"[{tag}]" if escaped else "")

    return TAG.sub(replace, text)


def has_rich() -> bool:
    return importlib.util.find_spec("rich") is not None


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def make_console(stderr: bool) -> Printer:
    if not has_rich():
        return PlainConsole(stderr=stderr)
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def console() -> Any:
    """The shared stderr console (created on first use so `learnt --help` stays fast).

    A rich `Console` where rich is installed (progress bars need one), else a `PlainConsole`.
    """
    global _console
    if _console is None:
        _console = make_console(stderr=True)
    return _console


def results(json_output: bool = False) -> Printer:
    """The console for results: stdout, or the stderr console when stdout carries JSON."""
    global _stdout
    if json_output:
        return console()
    if _stdout is None:
        _stdout = make_console(stderr=False)
    return _stdout


def show(message: str, json_output: bool = False) -> None:
    """Print one line of a result for a person, unless quiet. Accepts rich markup."""
    if not _quiet:
        results(json_output).print(message)


def show_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], json_output: bool = False
) -> None:
    """A result table in aligned columns: the first column left-aligned, the others right."""
    if _quiet:
        return
    cells = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first, *rest = (
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join([first, *rest]).rstrip()

    lines = [
        f"[bold]{escape(title)}[/]",
        escape(line(header)),
        *(escape(line(row)) for row in cells[1:]),
    ]
    for text in lines:
        results(json_output).print(text)


def warn(message: str) -> None:
    """Print a warning on stderr, unless quiet (shown verbatim)."""
    say(f"[bold yellow]warning:[/] {escape(message)}")


def escape(text: str) -> str:
    """`text` with markup disabled, for file and column names such as `data[v2].csv`."""
    escaped = TAG.sub(lambda match: f"{match.group(1) * 2}\\[{match.group(2)}]", text)
    return escaped + "\\" if escaped.endswith("\\") and not escaped.endswith("\\\\") else escaped


def say(message: str) -> None:
    """Print one line for a person, unless quiet. Accepts rich markup."""
    if not _quiet:
        console().print(message)


def error(message: str) -> None:
    """Print an error on stderr (even when quiet), the message shown verbatim."""
    console().print(f"[bold red]error:[/] {escape(message)}")


def step(name: str, text: str) -> str:
    """One line of a run's narration: a step name, then what was decided (shown verbatim)."""
    return f"[bold cyan]{name:>12}[/]  {escape(text)}"
