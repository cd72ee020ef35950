"""The MLP family for tables: categorical embeddings beside normalised numerics, then an MLP.

    numeric [B, F] ─────────────────────────────┐
    categorical [B, C] → one embedding per column ┴→ concat [B, F + ΣE] → (Linear → ReLU → Dropout) × depth → Linear → [B, outputs]

Sizing rule (`size_mlp`), from the number of training rows:

    rows        width  depth
    < 1,000       64     2
    < 10,000     128     2
    < 100,000    256     3
    more         512     3

The width is then raised to the input width (rounded up to a power of two, at most 1024) so the
first layer never compresses. Embedding width per categorical column: min(32, round(1.6 · n^0.56))
for n categories (the rule of thumb fastai uses). Dropout 0.1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from learnt.runtime.format import MLPConfig


def embedding_dim(cardinality: int) -> int:
    return max(1, min(32, round(1.6 * cardinality**0.56)))


def size_mlp(
    rows: int,
    n_numeric: int,
    cardinalities: list[int],
    n_outputs: int,
    *,
    depth: int | None = None,
    width: int | None = None,
) -> MLPConfig:
    """The MLP for `rows` training rows, per the rule in this module's docstring."""
    embedding_dims = [embedding_dim(c) for c in cardinalities]
    if width is None:
        width = 64 if rows < 1_000 else 128 if rows < 10_000 else 256 if rows < 100_000 else 512
        inputs = n_numeric + sum(embedding_dims)
        width = max(width, min(1024, 2 ** math.ceil(math.log2(max(inputs, 1)))))
    if depth is None:
        depth = 2 if rows < 10_000 else 3
    return MLPConfig(
        width=width,
        depth=depth,
        n_numeric=n_numeric,
        cardinalities=cardinalities,
        embedding_dims=embedding_dims,
        n_outputs=n_outputs,
    )


class TabularMLP(nn.Module):
    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, d)
            for n, d in zip(config.cardinalities, config.embedding_dims, strict=True)
        )
        layers: list[nn.Module] = []
        inputs = config.n_numeric + sum(config.embedding_dims)
        for _ in range(config.depth):
            layers += [nn.Linear(inputs, config.width), nn.ReLU(), nn.Dropout(config.dropout)]
            inputs = config.width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(inputs, config.n_outputs)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        # numeric: [B, F] float32, categorical: [B, C] int64 → [B, outputs]
        parts = [numeric]
        parts += [
            embed(categorical[:, i]) for i, embed in enumerate(self.embeddings)
        ]  # each [B, E_i]
        return self.head(self.body(torch.cat(parts, dim=1)))


# Candidates for sizing by compute (`learnt.training.plan`), small to large: (depth, width).
LADDER = ((2, 64), (2, 128), (3, 256), (3, 512), (4, 512), (4, 1024))


def ladder(sizes: dict) -> list[MLPConfig]:
    """The candidates no larger than the rows support (the data rule's network is the largest):
    a time budget can shrink a table's network, never grow it past its data."""
    rule = size_mlp(**sizes)
    smaller = [
        size_mlp(**sizes, depth=depth, width=width)
        for depth, width in LADDER
        if depth <= rule.depth and width < rule.width
    ]
    return [*smaller, rule]
