"""Writing a file so that a crash or Ctrl-C never leaves half of one.

    write_text_atomically(run_dir / "settings.json", text)

The text goes to a hidden `.NAME.partial` beside the destination, is flushed to disk, and is renamed
into place: readers see the old file or the new one. Used for every JSON file learnt writes
(`program.json`, `settings.json`, a checkpoint's `state.json`, `fitted.json`).
`check_writable` tries a folder before any work is spent on what will be written there.
"""

from __future__ import annotations

import os
from pathlib import Path

from learnt.errors import UsageError


def write_text_atomically(path: Path, text: str) -> None:
    partial = path.parent / f".{path.name}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def check_writable(directory: Path, target: Path | None = None) -> None:
    """A clear error when `directory` cannot be created or written (under a file, in a read-only
    folder, under /proc): a probe folder is created and removed in its nearest existing ancestor,
    so nothing is left behind. Messages name `target` (what is to be written), else `directory`."""
    named = directory if target is None else target
    existing = Path(os.path.abspath(directory))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"{named}: cannot be written: {existing} is a file, not a folder",
            file=named,
            field="out",
        )
    try:
        import tempfile

        os.rmdir(tempfile.mkdtemp(prefix=".learnt-probe-", dir=existing))
    except OSError as error:
        raise UsageError(
            f"{named}: cannot be written: {existing}: {error.strerror or error}; choose another --out",
            file=named,
            field="out",
        ) from error
