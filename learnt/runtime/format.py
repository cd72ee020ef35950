"""The program format: every model of `program.json`, and the rule for changing it.

A program is a directory: `program.json` (the `Manifest` below), `weights.safetensors`,
`model.onnx`, and for text programs `tokenizer.json`. This module holds all the models of
the manifest — input schema, fitted preprocessing, label encoding, the architecture (a union
discriminated by `family`), provenance — as plain data with no torch, so the runtime can read any
program and `learnt inspect` can describe it.

Versioning policy. `format_version` is an integer, written as `FORMAT_VERSION` and read when it is
in `READABLE_VERSIONS`; a newer one is refused with a message to upgrade learnt.

* **No new version** for additive changes an older reader may safely ignore or refuse by name:
  a new optional field with a default that means "as before" (provenance, metrics, notes), a new
  architecture family (an older learnt says it does not know that family), a new optional file.
  Readers ignore fields they do not know, so such an addition must never change what the fields
  they do know mean.
* **A new version** for anything an older reader would misread: renaming or removing a field,
  changing a field's meaning or units, changing how inputs are encoded or what the graph takes or
  returns. The reader then keeps loading the older version (upgrading it in memory), and programs
  written by every earlier release are kept as test fixtures (`tests/data/programs/`).
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, Literal

from learnt.kinds import DataKind, Task
from learnt.runtime.models import Limits, Model, convert

# Version 2 (after learnt 0.1.0): an MLP may be an ensemble (`members`) and read periodic embeddings of
# its numeric inputs (`frequencies`); dates gain a day-of-year part. A version 1 program is a
# version 2 program with none of these, so it is read as it is.
FORMAT_VERSION = 2
READABLE_VERSIONS = frozenset({1, 2})
MANIFEST = "program.json"
WEIGHTS = "weights.safetensors"
ONNX = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"

# Categorical codes: 0 = unknown (unseen or rare in training), 1 = missing, 2… = the categories.
UNKNOWN, MISSING_SLOT, FIRST_CATEGORY = 0, 1, 2

Kind = Literal["numeric", "boolean", "categorical", "datetime", "image", "text"]
Transform = Literal["number", "boolean", "year", "month", "day", "dayofyear", "weekday", "hour"]


# --- input schema -------------------------------------------------------------------------------


class Column(Model):
    name: str
    kind: Kind


class DroppedColumn(Model):
    name: str
    reason: str


class Schema(Model):
    """The input schema of a program: its feature columns, what was dropped, the label and task."""

    label: str
    task: Task
    features: list[Column]
    dropped: list[DroppedColumn] = field(default_factory=list)

    def of_kind(self, kind: Kind) -> list[str]:
        return [c.name for c in self.features if c.kind == kind]

    @property
    def data_kind(self) -> DataKind:
        """What the program reads: a table, an image column or a text column."""
        kinds = {c.kind for c in self.features}
        return "images" if "image" in kinds else "text" if "text" in kinds else "table"

    def describe(self) -> str:
        """'7 features — numeric: age, fare; boolean: sex …' plus a line for dropped columns."""
        kinds = ("numeric", "boolean", "categorical", "datetime", "image", "text")
        parts = [f"{kind}: {abbreviate(names)}" for kind in kinds if (names := self.of_kind(kind))]
        count = f"{len(self.features)} feature{'s' if len(self.features) != 1 else ''}"
        text = f"{count} — " + "; ".join(parts)
        if self.dropped:
            shown = [f"{d.name} ({d.reason})" for d in self.dropped[:8]]
            more = f"; … {len(self.dropped) - 8} more" if len(self.dropped) > 8 else ""
            text += "\n" + " " * 14 + "dropped: " + "; ".join(shown) + more
        return text


def abbreviate(names: list[str], limit: int = 8) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{len(names)} columns ({', '.join(names[:3])}, …, {names[-1]})"


# --- preprocessing fitted on the training rows --------------------------------------------------


class NumericInput(Model):
    """One standardised input: `(clip(transform(column), low, high) or median - mean) / std`.

    Values are clipped to the range seen in training: a network extrapolates linearly, so one data
    error far outside that range (a diamond 58.9 mm wide) would otherwise give an absurd prediction.
    """

    column: str
    transform: Transform
    true_value: str | None = None  # boolean: the canonical value read as 1
    false_value: str | None = None  # boolean: the one read as 0 (others: missing)
    median: float
    mean: float
    std: float
    low: float | None = None  # the training range (None: no clipping)
    high: float | None = None
    indicator: bool  # add a 0/1 "was missing" input


class CategoricalInput(Model):
    column: str
    categories: list[str]  # canonical values; category i is encoded as i + FIRST_CATEGORY

    @property
    def cardinality(self) -> int:
        return len(self.categories) + FIRST_CATEGORY


class ImageInput(Model):
    """How an image column becomes the network input `image` float32 [B, C, S, S]."""

    column: str
    size: Annotated[int, Limits(ge=1, le=4096)]
    channels: Literal[1, 3]
    mean: Annotated[list[float], Limits(min_length=1, max_length=3)]  # per channel, of pixel/255
    std: Annotated[list[float], Limits(min_length=1, max_length=3)]  # over the training images
    resize: Literal["shorter-side-then-centre-crop"] = "shorter-side-then-centre-crop"


class TextInput(Model):
    """How a text column becomes the network inputs `tokens` and `mask`, int64 [B, T]."""

    column: str
    tokenizer: str = TOKENIZER_FILE  # inside the program directory
    vocabulary_size: Annotated[int, Limits(ge=1, le=1_000_000)]
    max_length: Annotated[int, Limits(ge=1, le=65536)]
    truncated_fraction: Annotated[float, Limits(ge=0.0, le=1.0)]  # of the training texts


class Preprocessing(Model):
    """Everything fitted on the training rows that turns a table into network inputs."""

    numeric: list[NumericInput] = field(default_factory=list)
    categorical: list[CategoricalInput] = field(default_factory=list)
    image: ImageInput | None = None
    text: TextInput | None = None

    @property
    def n_numeric(self) -> int:
        return len(self.numeric) + sum(n.indicator for n in self.numeric)

    @property
    def cardinalities(self) -> list[int]:
        return [c.cardinality for c in self.categorical]

    @property
    def columns(self) -> list[str]:
        names = [n.column for n in self.numeric] + [c.column for c in self.categorical]
        if self.image is not None:
            names.append(self.image.column)
        if self.text is not None:
            names.append(self.text.column)
        return list(dict.fromkeys(names))


class LabelEncoding(Model):
    """How labels become targets: class indices, or a standardised number."""

    task: Task
    # original label values, JSON-typed (str, int, float, bool)
    classes: list[Any] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0


# --- architecture: one config per family, a union discriminated by `family` ---------------------

Width = Annotated[int, Limits(ge=1, le=16384)]
Depth = Annotated[int, Limits(ge=1, le=64)]
Outputs = Annotated[int, Limits(ge=1, le=1_000_000)]
Dropout = Annotated[float, Limits(ge=0.0, lt=1.0)]
Count = Annotated[int, Limits(ge=1, le=1_000_000)]  # categories of one embedding


class MLPConfig(Model):
    """Tables: embeddings of the categorical columns beside the numeric inputs, then an MLP."""

    family: Literal["mlp"] = "mlp"
    width: Width
    depth: Depth
    dropout: Dropout = 0.1
    n_numeric: Annotated[int, Limits(ge=0, le=1_000_000)]
    cardinalities: list[Count]
    embedding_dims: list[Width]
    n_outputs: Outputs
    members: Annotated[int, Limits(ge=1, le=64)] = 1  # an ensemble sharing one network (TabM)
    # numeric inputs also as periodic embeddings (0: as they are only): per input, `frequencies`
    # trained frequencies → cos, sin → a linear layer shared by the inputs → `periodic_width`, ReLU
    frequencies: Annotated[int, Limits(ge=0, le=1024)] = 0
    periodic_width: Annotated[int, Limits(ge=1, le=1024)] = 16

    @property
    def n_inputs(self) -> int:
        """The width of the concatenated inputs the first layer reads."""
        periodic = self.n_numeric * self.periodic_width if self.frequencies else 0
        return self.n_numeric + periodic + sum(self.embedding_dims)

    def parameter_floor(self) -> int:
        """At least this many parameters: the embeddings, weight matrices and periodic terms."""
        pairs = zip(self.cardinalities, self.embedding_dims, strict=False)  # checked on load
        embeddings = sum(n * d for n, d in pairs)
        periodic = (
            self.n_numeric * self.frequencies + 2 * self.frequencies * self.periodic_width
            if self.frequencies and self.n_numeric
            else 0
        )
        layers = self.n_inputs * self.width + (self.depth - 1) * self.width**2
        return embeddings + periodic + layers + self.width * self.n_outputs

    def describe(self) -> str:
        ensemble = f", {self.members} members" if self.members > 1 else ""
        return f"mlp {self.depth}×{self.width}{ensemble}"

    def shape(self) -> str:
        """The network layer by layer: inputs → hidden widths → outputs."""
        periodic = f" + {self.n_numeric * self.periodic_width} periodic" if self.frequencies else ""
        embeddings = (
            f" + {sum(self.embedding_dims)} from {len(self.cardinalities)} embeddings"
            if self.cardinalities
            else ""
        )
        hidden = " → ".join([str(self.width)] * self.depth)
        ensemble = (
            f"; {self.members} members share the layers, each with its own input scales and "
            "output layer, their predictions averaged"
            if self.members > 1
            else ""
        )
        return (
            f"mlp {self.depth}×{self.width}: {self.n_inputs} inputs "
            f"({self.n_numeric} numeric{periodic}{embeddings})"
            f" → {hidden} → {self.n_outputs} outputs, ReLU, dropout {self.dropout:g}{ensemble}"
        )


class CNNConfig(Model):
    """Images: a stem convolution and residual stages that halve the resolution."""

    family: Literal["cnn"] = "cnn"
    channels: Literal[1, 3]
    size: Annotated[int, Limits(ge=1, le=4096)]
    base_width: Width
    stages: Annotated[int, Limits(ge=1, le=16)]
    blocks: Annotated[int, Limits(ge=1, le=16)]
    dropout: Dropout = 0.1
    n_outputs: Outputs

    @property
    def widths(self) -> list[int]:
        return [self.base_width * 2 ** (i + 1) for i in range(self.stages)]

    def parameter_floor(self) -> int:
        """At least this many parameters: the 3×3 convolutions and the head."""
        total, width = 9 * self.channels * self.base_width, self.base_width
        for stage in self.widths:
            total += 9 * (width * stage + (2 * self.blocks - 1) * stage**2)
            width = stage
        return total + width * self.n_outputs

    def describe(self) -> str:
        widths = "-".join(str(w) for w in [self.base_width, *self.widths])
        return f"cnn {self.stages}×{self.blocks} residual ({widths} channels, {self.size}px)"

    def shape(self) -> str:
        stages = ", ".join(f"{w} channels" for w in self.widths)
        return (
            f"cnn: {self.channels}×{self.size}×{self.size} image → stem {self.base_width} channels → "
            f"{self.stages} stage{'s' if self.stages > 1 else ''} of {self.blocks} residual "
            f"block{'s' if self.blocks > 1 else ''} ({stages}) → pooled → {self.n_outputs} outputs, "
            f"dropout {self.dropout:g}"
        )


class TransformerConfig(Model):
    """Text: a pre-norm Transformer encoder with learned positions."""

    family: Literal["transformer"] = "transformer"
    vocabulary_size: Annotated[int, Limits(ge=1, le=1_000_000)]
    max_length: Annotated[int, Limits(ge=1, le=65536)]
    width: Width
    depth: Depth
    heads: Annotated[int, Limits(ge=1, le=256)]
    dropout: Dropout = 0.1
    n_outputs: Outputs

    def parameter_floor(self) -> int:
        """At least this many parameters: the embeddings, weight matrices and head."""
        embeddings = (self.vocabulary_size + self.max_length) * self.width
        return embeddings + self.depth * 8 * self.width**2 + self.width * self.n_outputs

    def describe(self) -> str:
        return (
            f"transformer {self.depth}×{self.width} ({self.heads} heads, {self.max_length} tokens)"
        )

    def shape(self) -> str:
        return (
            f"transformer {self.depth}×{self.width}: {self.heads} heads, feed-forward "
            f"{2 * self.width}, vocabulary {self.vocabulary_size:,}, at most {self.max_length} "
            f"tokens → mean-pooled → {self.n_outputs} outputs, dropout {self.dropout:g}"
        )


class BagConfig(Model):
    """Small text: a bag of token and hashed token-pair embeddings, mean-pooled (fastText-style)."""

    family: Literal["bag"] = "bag"
    vocabulary_size: Annotated[int, Limits(ge=1, le=1_000_000)]
    width: Width = 64
    buckets: Annotated[int, Limits(ge=1, le=4_194_304)] = 32768  # token-pair hash slots
    dropout: Dropout = 0.1
    n_outputs: Outputs

    def parameter_floor(self) -> int:
        """At least this many parameters: the token and pair embeddings and the head."""
        return (self.vocabulary_size + self.buckets + self.n_outputs) * self.width

    def describe(self) -> str:
        return f"bag of words and word pairs ×{self.width}"

    def shape(self) -> str:
        return (
            f"bag: {self.vocabulary_size:,} token and {self.buckets:,} hashed pair embeddings "
            f"of {self.width} → mean over the text → {self.n_outputs} outputs, dropout {self.dropout:g}"
        )


# EfficientNet-Lite0's stages: (repeats, kernel, stride, expansion, output channels).
EFFICIENTNET_LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class EfficientNetConfig(Model):
    """Images, from a pretrained backbone: EfficientNet-Lite0 (MBConv stages, ReLU6, no SE)."""

    family: Literal["efficientnet"] = "efficientnet"
    variant: Literal["lite0"] = "lite0"
    size: Annotated[int, Limits(ge=32, le=1024)]  # input side; the padding is fixed for it
    dropout: Dropout = 0.2
    n_outputs: Outputs

    def parameter_floor(self) -> int:
        """At least this many parameters: the last stage's 1×1 convolution and the head."""
        return 1280 * (EFFICIENTNET_LITE0_STAGES[-1][-1] + self.n_outputs)

    def describe(self) -> str:
        return f"efficientnet-{self.variant} ({self.size}px, 16 MBConv blocks, 1280 features)"

    def shape(self) -> str:
        stages = "-".join(str(s[-1]) for s in EFFICIENTNET_LITE0_STAGES)
        return (
            f"efficientnet-{self.variant}: 3×{self.size}×{self.size} image → stem 32 channels → "
            f"16 MBConv blocks in 7 stages ({stages} channels) → 1×1 conv 1280 → pooled → "
            f"{self.n_outputs} outputs, dropout {self.dropout:g}"
        )


class BertConfig(Model):
    """Text, from a pretrained backbone: a BERT encoder (MiniLM-L6 by default), mean-pooled."""

    family: Literal["bert"] = "bert"
    vocabulary_size: Annotated[int, Limits(ge=1, le=1_000_000)] = 30522
    positions: Annotated[int, Limits(ge=1, le=65536)] = 512  # rows of the position table
    width: Width = 384
    depth: Depth = 6
    heads: Annotated[int, Limits(ge=1, le=256)] = 12
    feed_forward: Width = 1536
    layer_norm_eps: float = 1e-12
    dropout: Dropout = 0.1
    n_outputs: Outputs

    def parameter_floor(self) -> int:
        """At least this many parameters: the embeddings, weight matrices and head."""
        embeddings = (self.vocabulary_size + self.positions + 2) * self.width
        layer = 4 * self.width**2 + 2 * self.width * self.feed_forward
        return embeddings + self.depth * layer + self.width * self.n_outputs

    def describe(self) -> str:
        return f"bert {self.depth}×{self.width} ({self.heads} heads, pretrained encoder)"

    def shape(self) -> str:
        return (
            f"bert {self.depth}×{self.width}: {self.heads} heads, feed-forward {self.feed_forward}, "
            f"vocabulary {self.vocabulary_size:,}, {self.positions} positions → mean-pooled → "
            f"{self.n_outputs} outputs, dropout {self.dropout:g}"
        )


# one config per family, told apart by `family`
Architecture = (
    MLPConfig | CNNConfig | TransformerConfig | BagConfig | EfficientNetConfig | BertConfig
)


def read_architecture(data: Any) -> Architecture:
    """The architecture config that `data` (a JSON object with a `family`) describes, checked."""
    return convert(data, Architecture, ())


# --- the manifest -------------------------------------------------------------------------------


class InitSource(Model):
    """Where the initial parameters came from, beyond a seed."""

    kind: Literal["random", "backbone", "program"]
    name: str | None = None  # a backbone's name
    package: str | None = None  # the package that shipped it, as name==version
    path: str | None = None  # an earlier program
    manifest_sha256: str | None = None  # of that program's program.json
    copied: int = 0  # tensors taken from the source
    # layers made afresh (a new head), with why in `note`
    recreated: list[str] = field(default_factory=list)
    note: str = ""
    phases: list[str] = field(default_factory=list)  # fine-tuning phases that ran: "head", "whole"


class RowFingerprints(Model):
    """The training and validation rows, as sorted 8-byte hashes of their canonical values.

    `values` is base64 of big-endian uint64s; when `stored` < `rows` it holds a random sample.
    """

    hash: Literal["blake2b-8"] = "blake2b-8"  # of the canonical values of `columns`, in order
    columns: list[str]  # every column of the training data, the label included
    rows: Annotated[int, Limits(ge=0)]  # rows fingerprinted
    stored: Annotated[int, Limits(ge=0)]  # fingerprints kept (a sample when fewer than `rows`)
    values: str


class Training(Model):
    """How the program was made: enough to reproduce it on the same machine and versions."""

    init: str  # "random", "backbone efficientnet-lite0", "program runs/old/program"
    init_source: InitSource | None = None  # added in 0.2; absent in programs of 0.1.0
    seed: int
    epochs: int
    steps: int
    best_epoch: int
    stop_reason: str
    seconds: float
    seconds_per_epoch: float
    rows: dict[str, int]  # train / validation / test
    stratified: bool
    data: str  # where the data came from
    data_sha256: str
    # unreadable inputs left out with --skip-bad: file, reason
    skipped: list[dict[str, str]] = field(default_factory=list)
    class_counts: list[int] | None = None  # training rows per class, as in labels; None: unknown
    row_fingerprints: RowFingerprints | None = None  # None: not recorded
    settings: dict[str, Any]
    versions: dict[str, str]
    created: str


Sha256 = Annotated[str, Limits(pattern=r"^[0-9a-f]{64}$")]


class Manifest(Model):
    """`program.json`: everything about a program except its tensors and graph."""

    format_version: int
    task: Task
    input_schema: Schema
    preprocessing: Preprocessing
    labels: LabelEncoding
    architecture: Architecture
    model_inputs: list[str]  # names of the network's inputs, in the order it takes them
    training: Training
    metrics: dict[str, Any] = field(default_factory=dict)  # on the held-out test rows
    # sha256 of every other file in the program
    files: dict[str, Sha256] = field(default_factory=dict)
