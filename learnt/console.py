"""Human output: progress and notices on stderr, results on stdout, all silenced by `--quiet`.

Results (`learnt evaluate`'s scores, `learnt inspect`) go to stdout so they can be redirected to a
file; with `--json` stdout carries only the JSON, and the human form of the results joins the
progress on stderr, so the two never mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_quiet = False
_console: Console | None = None
_stdout: Console | None = None


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def console() -> Console:
    """The shared stderr console (created on first use so `learnt --help` stays fast)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _console


def results(json_output: bool = False) -> Console:
    """The console for results: stdout, or the stderr console when stdout carries JSON."""
    global _stdout
    if json_output:
        return console()
    if _stdout is None:
        from rich.console import Console

        _stdout = Console(highlight=False, soft_wrap=True)
    return _stdout


def show(message: str, json_output: bool = False) -> None:
    """Print one line of a result for a person, unless quiet. Accepts rich markup."""
    if not _quiet:
        results(json_output).print(message)


def warn(message: str) -> None:
    """Print a warning on stderr, unless quiet (shown verbatim)."""
    say(f"[bold yellow]warning:[/] {escape(message)}")


def escape(text: str) -> str:
    """`text` with rich markup disabled, for file and column names such as `data[v2].csv`."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def say(message: str) -> None:
    """Print one line for a person, unless quiet. Accepts rich markup."""
    if not _quiet:
        console().print(message)


def step(name: str, text: str) -> str:
    """One line of a run's narration: a step name, then what was decided (shown verbatim)."""
    return f"[bold cyan]{name:>12}[/]  {escape(text)}"
