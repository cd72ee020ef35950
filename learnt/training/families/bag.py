"""The bag family for small text: a bag of word and word-pair embeddings (fastText-style).

    tokens [B, T], mask [B, T] → token embeddings [B, T, D] and hashed pair embeddings
    [B, T-1, D] (each pair of neighbouring tokens hashed into `buckets` slots) → mean over the real
    tokens and pairs [B, D] → dropout → linear → [B, outputs]

With few texts a Transformer has too little to learn order from, and a linear model over word and
word-pair features — what TF-IDF + logistic regression is — is hard to beat; this family is that
model, trained like the others and exported to the same ONNX inputs (the pair hashing is integer
arithmetic inside the graph). Sizing rule (`size_bag`): width 64, 2^15 pair buckets, dropout 0.1;
the text registry picks it below `BAG_MAX_TEXTS` training texts and the Transformer above.
"""

from __future__ import annotations

import torch
from torch import nn

from learnt.runtime.format import BagConfig

BAG_MAX_TEXTS = 5_000  # SMS: bag ahead of the Transformer at 300, 1,000 and 4,459 texts
PAIR_HASH = 1_000_003  # a prime: (first × PAIR_HASH + second) mod buckets


def size_bag(
    texts: int,
    vocabulary_size: int,
    max_length: int,
    n_outputs: int,
    *,
    width: int | None = None,
    **_: object,
) -> BagConfig:
    return BagConfig(vocabulary_size=vocabulary_size, width=width or 64, n_outputs=n_outputs)


class TextBag(nn.Module):
    def __init__(self, config: BagConfig) -> None:
        super().__init__()
        self.buckets = config.buckets
        self.tokens = nn.Embedding(config.vocabulary_size, config.width)
        self.pairs = nn.Embedding(config.buckets, config.width)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.width, config.n_outputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # tokens, mask: [B, T] int64 (mask 1 for real tokens) → [B, outputs]
        real = mask.unsqueeze(-1).to(torch.float32)  # [B, T, 1]
        pairs = (tokens[:, :-1] * PAIR_HASH + tokens[:, 1:]) % self.buckets  # [B, T-1]
        pair_real = real[:, :-1] * real[:, 1:]  # [B, T-1, 1]
        total = (self.tokens(tokens) * real).sum(1) + (self.pairs(pairs) * pair_real).sum(1)
        count = (real.sum(1) + pair_real.sum(1)).clamp(min=1.0)  # [B, 1]
        return self.head(self.dropout(total / count))
