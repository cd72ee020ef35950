"""Step 1: decide on an architecture. One module per family; this registry picks and sizes one.

A family provides a pydantic config (stored in `program.json`, enough to rebuild the network) and
an `nn.Module` built from it. Today: `mlp` for tables.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from learnt.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

    from learnt.architectures.mlp import MLPConfig

ARCH_PATTERN = re.compile(r"^(?:(?P<family>[a-z]+))?(?::?(?P<depth>\d+)x(?P<width>\d+))?$")


def choose_architecture(
    arch: str | None, *, rows: int, n_numeric: int, cardinalities: list[int], n_outputs: int
) -> MLPConfig:
    """The architecture for this data: the sizing rule, or `--arch` (`mlp`, `mlp:3x256`, `3x256`)."""
    from learnt.architectures.mlp import size_mlp

    depth = width = None
    if arch:
        match = ARCH_PATTERN.match(arch.strip().lower().replace("×", "x"))
        if not match or (match["family"] not in (None, "mlp")):
            raise UsageError(
                f"--arch {arch}: expected 'mlp', 'mlp:DEPTHxWIDTH' or 'DEPTHxWIDTH' (e.g. mlp:3x256)"
            )
        if match["depth"]:
            depth, width = int(match["depth"]), int(match["width"])
            if not (1 <= depth <= 32 and 1 <= width <= 16384):
                raise UsageError(f"--arch {arch}: depth must be 1–32 and width 1–16384")
    return size_mlp(rows, n_numeric, cardinalities, n_outputs, depth=depth, width=width)


def config_from_dict(data: dict) -> MLPConfig:
    """The family config stored in `program.json` (validated), e.g. to rebuild the network."""
    from learnt.architectures.mlp import MLPConfig

    family = data.get("family")
    if family != "mlp":
        raise UsageError(
            f"unknown architecture family {family!r}; this version of learnt knows 'mlp'"
        )
    return MLPConfig.model_validate(data)


def build(config: MLPConfig) -> nn.Module:
    """A freshly initialised network for `config` (seed the RNG before calling)."""
    from learnt.architectures.mlp import TabularMLP

    return TabularMLP(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(config: MLPConfig, parameters: int) -> str:
    """'mlp 3×256, 201k parameters'."""
    return f"{config.describe()}, {human_count(parameters)} parameters"


def human_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return str(n)
