"""Writing a file so that a crash or Ctrl-C never leaves half of one.

    write_text_atomically(run_dir / "settings.json", text)

The text goes to a hidden `.NAME.partial` beside the destination, is flushed to disk, and is renamed
into place: readers see the old file or the new one. Used for every JSON file learnt writes
(`program.json`, `settings.json`, a checkpoint's `state.json`, `fitted.json`).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    partial = path.parent / f".{path.name}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
