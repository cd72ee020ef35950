"""Human output: one rich console on stderr, silenced by `--quiet`.

Results meant for programs (`--json`, predictions without `--out`) go to stdout; everything a
person reads goes here, so the two never mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_quiet = False
_console: Console | None = None


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
