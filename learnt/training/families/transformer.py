"""The Transformer family for text: a small pre-norm encoder with learned positions.

    tokens [B, T], mask [B, T] → token + position embeddings [B, T, D] → depth × (x + attention(LN(x)),
    x + feed-forward(LN(x))) → LN → mean over real tokens [B, D] → dropout → linear → [B, outputs]

Padding never takes part: attention gives padded keys zero weight and pooling averages only
real tokens. Sizing rule (`size_transformer`), from the number of training texts N:

    N           width  depth  heads
    < 2,000       64     2      2
    < 20,000     128     2      4
    < 200,000    256     4      4
    more         256     6      8

The feed-forward layers are twice the width; dropout 0.1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from learnt.runtime.format import TransformerConfig


def size_transformer(
    texts: int,
    vocabulary_size: int,
    max_length: int,
    n_outputs: int,
    *,
    depth: int | None = None,
    width: int | None = None,
) -> TransformerConfig:
    """The encoder for `texts` training texts, per the module's rule."""
    rule_width, rule_depth, heads = (
        (64, 2, 2)
        if texts < 2_000
        else (128, 2, 4)
        if texts < 20_000
        else (256, 4, 4)
        if texts < 200_000
        else (256, 6, 8)
    )
    width = width or rule_width
    while width % heads:
        heads //= 2
    return TransformerConfig(
        vocabulary_size=vocabulary_size,
        max_length=max_length,
        width=width,
        depth=depth or rule_depth,
        heads=heads,
        n_outputs=n_outputs,
    )


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape  # [B, T, D]
        q, k, v = (
            self.qkv(x)
            .view(batch, length, 3, self.heads, width // self.heads)
            .permute(2, 0, 3, 1, 4)
        )  # each [B, H, T, D/H]
        scores = q @ k.transpose(-2, -1) / math.sqrt(width // self.heads)  # [B, H, T, T]
        weights = self.dropout(torch.softmax(scores + padding, dim=-1))
        return self.out((weights @ v).transpose(1, 2).reshape(batch, length, width))  # [B, T, D]


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = SelfAttention(width, heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x), padding))
        return x + self.feed_forward(self.norm2(x))


class TextTransformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(config.vocabulary_size, config.width)
        self.positions = nn.Embedding(config.max_length, config.width)
        self.blocks = nn.ModuleList(
            Block(config.width, config.heads, config.dropout) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.width)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.width, config.n_outputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # tokens, mask: [B, T] int64 (mask 1 for real tokens) → [B, outputs]
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tokens(tokens) + self.positions(positions)  # [B, T, D]
        real = mask.unsqueeze(-1).to(x.dtype)  # [B, T, 1]
        padding = (
            1.0 - real.transpose(1, 2).unsqueeze(1)
        ) * -1e9  # [B, 1, 1, T]: no attention to padding
        for block in self.blocks:
            x = block(x, padding)
        pooled = (self.norm(x) * real).sum(1) / real.sum(1).clamp(min=1.0)  # [B, D]
        return self.head(self.dropout(pooled))


# Candidates for sizing by compute (`learnt.training.plan`), small to large: (depth, width).
LADDER = ((2, 64), (2, 128), (4, 128), (4, 256), (6, 256))


def ladder(sizes: dict) -> list[TransformerConfig]:
    """The candidates no larger than the texts support (the data rule's encoder is the largest)."""
    rule = size_transformer(**sizes)
    smaller = [
        size_transformer(**sizes, depth=depth, width=width)
        for depth, width in LADDER
        if depth <= rule.depth
        and width <= rule.width
        and (depth, width) != (rule.depth, rule.width)
    ]
    return [*smaller, rule]
