"""Step 1: decide on an architecture. One module per family; this registry picks and sizes one.

A family is a config (plain data in `learnt.runtime.format`, stored in `program.json`, enough to
rebuild the network), a sizing rule, and the `nn.Module` built from the config. The kind of data
picks the family:

    tables → mlp (mlp.py)      images → cnn (cnn.py)
    text → bag (bag.py) below 5,000 training texts, transformer (transformer.py) from there

and a pretrained backbone brings its own: images → efficientnet (efficientnet.py, EfficientNet-Lite0),
text → bert (bert.py, MiniLM-L6).

`--arch` names a family and optionally its size: `mlp:3x256` (depth × width), `cnn:2x32`
(stages × base width), `transformer:2x128` (depth × width). Adding a family = one module and one
entry in `FAMILIES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from learnt.errors import UsageError
from learnt.kinds import DataKind
from learnt.runtime.format import (
    Architecture,
    BagConfig,
    BertConfig,
    CNNConfig,
    EfficientNetConfig,
    MLPConfig,
    TransformerConfig,
)
from learnt.training.families import bag, bert, cnn, efficientnet, mlp, transformer
from learnt.training.families.cnn import ImageCNN, size_cnn
from learnt.training.families.mlp import TabularMLP, size_mlp
from learnt.training.families.transformer import TextTransformer, size_transformer

Sizes = dict[str, Any]  # what a sizing rule reads: rows or images or texts, and input shapes


@dataclass(frozen=True)
class Family:
    name: str
    data_kind: DataKind
    config: type[Any]
    # the sizing rule: (sizes from the data, the two numbers of --arch A×B or None) → config
    size: Callable[[Sizes, int | None, int | None], Any]
    module: Callable[[Any], nn.Module]
    arch_example: str
    # candidates for sizing by compute, small to large (families trained from scratch)
    ladder: Callable[[Sizes], list[Any]] | None = None
    backbone: str | None = None  # the pretrained backbone whose weights this family reads
    # the backbone's weights under the module's names, from the package's file
    pretrained_weights: Callable[[Any], dict[str, Any]] | None = None


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "mlp",
            "table",
            MLPConfig,
            lambda sizes, depth, width: size_mlp(**sizes, depth=depth, width=width),
            TabularMLP,
            "mlp:3x256 (depth × width)",
            ladder=mlp.ladder,
        ),
        Family(
            "cnn",
            "images",
            CNNConfig,
            lambda sizes, stages, width: size_cnn(**sizes, stages=stages, base_width=width),
            ImageCNN,
            "cnn:2x32 (stages × base width)",
            ladder=cnn.ladder,
        ),
        Family(
            "transformer",
            "text",
            TransformerConfig,
            lambda sizes, depth, width: size_transformer(**sizes, depth=depth, width=width),
            TextTransformer,
            "transformer:2x128 (depth × width)",
            ladder=transformer.ladder,
        ),
        Family(
            "bag",
            "text",
            BagConfig,
            lambda sizes, _, width: bag.size_bag(**sizes, width=width),
            bag.TextBag,
            "bag:1x64 (width 64)",
        ),
        Family(
            "efficientnet",
            "images",
            EfficientNetConfig,
            lambda sizes, _, __: efficientnet.size_efficientnet(**sizes),
            efficientnet.EfficientNetLite,
            "efficientnet (sized by the backbone)",
            backbone="efficientnet-lite0",
            pretrained_weights=efficientnet.pretrained_weights,
        ),
        Family(
            "bert",
            "text",
            BertConfig,
            lambda sizes, _, __: bert.size_bert(**sizes),
            bert.BertEncoder,
            "bert (sized by the backbone)",
            backbone="minilm",
            pretrained_weights=bert.pretrained_weights,
        ),
    )
}
# the families trained from random parameters, for each kind of data (the default first)
SCRATCH_FAMILIES: dict[DataKind, list[Family]] = {
    "table": [FAMILIES["mlp"]],
    "images": [FAMILIES["cnn"]],
    "text": [FAMILIES["transformer"], FAMILIES["bag"]],
}
FAMILY_FOR_BACKBONE: dict[str, Family] = {
    f.backbone: f for f in FAMILIES.values() if f.backbone is not None
}
ARCH_PATTERN = re.compile(r"^(?P<family>[a-z]+)?(?::?(?P<first>\d+)x(?P<second>\d+))?$")


def parse_arch(arch: str | None, data_kind: DataKind) -> tuple[str | None, int | None, int | None]:
    """(family, first size number, second) of `--arch`, each None when not given, checking the
    family fits the data."""
    families = SCRATCH_FAMILIES[data_kind]
    if not arch:
        return None, None, None
    match = ARCH_PATTERN.match(arch.strip().lower().replace("×", "x"))
    names = [f.name for f in families]
    if not match or match["family"] not in (None, *names):
        examples = " or ".join(f.arch_example for f in families)
        raise UsageError(
            f"--arch {arch}: this data needs the {' or '.join(names)} family; expected "
            f"{' or '.join(repr(n) for n in names)} or e.g. {examples}",
            field="arch",
        )
    if not match["first"]:
        return match["family"], None, None
    first, second = int(match["first"]), int(match["second"])
    if not (1 <= first <= 32 and 1 <= second <= 16384):
        raise UsageError(f"--arch {arch}: depth must be 1–32 and width 1–16384", field="arch")
    return match["family"], first, second


def scratch_family(data_kind: DataKind, sizes: Sizes, name: str | None = None) -> Family:
    """The family to train from random parameters: `--arch`'s, else the data's (small text: bag)."""
    if name is not None:
        return FAMILIES[name]
    if data_kind == "text" and sizes["texts"] < bag.BAG_MAX_TEXTS:
        return FAMILIES["bag"]
    return SCRATCH_FAMILIES[data_kind][0]


def choose_architecture(
    arch: str | None, data_kind: DataKind, sizes: Sizes, backbone: str | None = None
) -> Architecture:
    """The family for the data (or for the backbone), sized by its rule — or by `--arch`.

    Tables: rows, n_numeric, cardinalities, n_outputs. Images: images, size, channels, n_outputs.
    Text: texts, vocabulary_size, max_length, n_outputs.
    """
    if backbone is not None:
        return FAMILY_FOR_BACKBONE[backbone].size(sizes, None, None)
    name, first, second = parse_arch(arch, data_kind)
    return scratch_family(data_kind, sizes, name).size(sizes, first, second)


def build(config: Architecture) -> nn.Module:
    """A freshly initialised network for `config` (seed the RNG before calling)."""
    return FAMILIES[config.family].module(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(config: Architecture, parameters: int) -> str:
    """'mlp 3×256, 201k parameters'."""
    return f"{config.describe()}, {human_count(parameters)} parameters"


def human_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return str(n)
