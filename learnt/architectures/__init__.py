"""Step 1: decide on an architecture. One module per family; this registry picks and sizes one.

A family provides a pydantic config (stored in `program.json`, enough to rebuild the network), a
sizing rule, and an `nn.Module` built from the config. The kind of data picks the family:

    tables → mlp (mlp.py)      images → cnn (cnn.py)      text → transformer (transformer.py)

`--arch` names a family and optionally its size: `mlp:3x256` (depth × width), `cnn:2x32`
(stages × base width), `transformer:2x128` (depth × width).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from learnt.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

    from learnt.architectures.cnn import CNNConfig
    from learnt.architectures.mlp import MLPConfig
    from learnt.architectures.transformer import TransformerConfig

    ArchitectureConfig = MLPConfig | CNNConfig | TransformerConfig

FAMILY_FOR_DATA = {"table": "mlp", "images": "cnn", "text": "transformer"}
EXAMPLES = {
    "mlp": "mlp:3x256 (depth × width)",
    "cnn": "cnn:2x32 (stages × base width)",
    "transformer": "transformer:2x128 (depth × width)",
}
ARCH_PATTERN = re.compile(r"^(?P<family>[a-z]+)?(?::?(?P<first>\d+)x(?P<second>\d+))?$")


def parse_arch(arch: str | None, data_kind: str) -> tuple[int | None, int | None]:
    """The two size numbers of `--arch` (or None), checking the family fits the data."""
    family = FAMILY_FOR_DATA[data_kind]
    if not arch:
        return None, None
    match = ARCH_PATTERN.match(arch.strip().lower().replace("×", "x"))
    example = EXAMPLES[family]
    if not match or match["family"] not in (None, family):
        raise UsageError(
            f"--arch {arch}: this data needs the {family} family; expected '{family}' or e.g. {example}"
        )
    if not match["first"]:
        return None, None
    first, second = int(match["first"]), int(match["second"])
    if not (1 <= first <= 32 and 1 <= second <= 16384):
        raise UsageError(f"--arch {arch}: depth must be 1–32 and width 1–16384")
    return first, second


def choose_architecture(arch: str | None, data_kind: str, **sizes: Any) -> ArchitectureConfig:
    """The family for the data, sized by its rule — or by `--arch`.

    Tables: rows, n_numeric, cardinalities, n_outputs. Images: images, size, channels, n_outputs.
    Text: texts, vocabulary_size, max_length, n_outputs.
    """
    first, second = parse_arch(arch, data_kind)
    if data_kind == "text":
        from learnt.architectures.transformer import size_transformer

        return size_transformer(**sizes, depth=first, width=second)
    if data_kind == "images":
        from learnt.architectures.cnn import size_cnn

        return size_cnn(**sizes, stages=first, base_width=second)
    from learnt.architectures.mlp import size_mlp

    return size_mlp(**sizes, depth=first, width=second)


def config_from_dict(data: dict[str, Any]) -> ArchitectureConfig:
    """The family config stored in `program.json` (validated), e.g. to rebuild the network."""
    family = data.get("family")
    if family == "mlp":
        from learnt.architectures.mlp import MLPConfig

        return MLPConfig.model_validate(data)
    if family == "cnn":
        from learnt.architectures.cnn import CNNConfig

        return CNNConfig.model_validate(data)
    if family == "transformer":
        from learnt.architectures.transformer import TransformerConfig

        return TransformerConfig.model_validate(data)
    raise UsageError(
        f"unknown architecture family {family!r}; this version of learnt knows mlp, cnn and transformer"
    )


def build(config: ArchitectureConfig) -> nn.Module:
    """A freshly initialised network for `config` (seed the RNG before calling)."""
    if config.family == "cnn":
        from learnt.architectures.cnn import ImageCNN

        return ImageCNN(config)  # type: ignore[arg-type]
    if config.family == "transformer":
        from learnt.architectures.transformer import TextTransformer

        return TextTransformer(config)  # type: ignore[arg-type]
    from learnt.architectures.mlp import TabularMLP

    return TabularMLP(config)  # type: ignore[arg-type]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(config: ArchitectureConfig, parameters: int) -> str:
    """'mlp 3×256, 201k parameters'."""
    return f"{config.describe()}, {human_count(parameters)} parameters"


def human_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return str(n)
