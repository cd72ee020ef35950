"""Mapping a pretrained file's tensor names to a family's layers, by a table of patterns.

Each family with a backbone keeps a list of `(pattern, target)` pairs: a regular expression on the
file's names and its replacement in the family's names, or `None` for a tensor deliberately left
out (with the reason beside it). A name that matches no pattern is an error, so a test can check
that a mapping covers every tensor of the file.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")
Renames = list[tuple[str, str | None]]


def rename(name: str, renames: Renames) -> str | None:
    """The family's name for a tensor of the file (None: deliberately left out)."""
    for pattern, target in renames:
        if re.match(pattern, name):
            return None if target is None else re.sub(pattern, target, name)
    raise KeyError(f"no mapping for the backbone tensor {name!r}")


def mapped(source: dict[str, T], renames: Renames) -> dict[str, T]:
    """The file's tensors under the family's names, without those left out."""
    renamed = {rename(name, renames): tensor for name, tensor in source.items()}
    return {name: tensor for name, tensor in renamed.items() if name is not None}
