"""The MLP family for tables: categorical embeddings beside normalised numerics, then an MLP.

    numeric [B, F] ──────────────────────────────────┐
    numeric [B, F] → periodic embeddings [B, F · 16] ─┤
    categorical [B, C] → one embedding per column ────┴→ concat [B, F + 16F + ΣE]
        → (Linear → ReLU → Dropout) × depth → Linear → [B, outputs]

Periodic embeddings (PLR, Gorishniy et al. 2022, the "lite" form): each standardised numeric input
x_i becomes ReLU(Linear([cos 2πc_i·x, sin 2πc_i·x])) with 16 trained frequencies c_i per input
(initialised N(0, 0.1²)) and one linear layer shared by all inputs. They let the first layer cut a
number into ranges (a year, a season, a threshold) as a tree would; the raw values stay beside them.

Below 10,000 rows the MLP is an ensemble of 8 members sharing its layers (TabM-mini, Gorishniy
et al. 2024): each member scales the concatenated inputs by its own trained vector (initialised to
random ±1) and has its own output layer; each member is trained on its own loss, and the program
averages their predictions (probabilities for classes, values for regression). It costs 8× the
arithmetic of one MLP, which small tables can afford, and on them it is the technique that paid:
see the README's table section for what was measured and what was left out.

Sizing rule (`size_mlp`), from the number of training rows:

    rows        width  depth
    < 1,000       64     2
    < 10,000     128     2
    < 100,000    256     3
    more         512     3

The width is then raised to the input width (rounded up to a power of two, at most 1024; numbers
count once, not with their periodic embeddings) so the first layer never compresses the raw inputs —
except in a wide table, with more inputs than training rows (100,000 columns, 22 rows): there the
width stays the rows' and the periodic embeddings are left out, so the first layer holds about
inputs × width parameters instead of 17 × inputs × 1024 (gigabytes), and the plan warns.
Embedding width per categorical column: min(32, round(1.6 · n^0.56)) for n categories (the rule of
thumb fastai uses). Dropout 0.1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from learnt.runtime.format import MLPConfig

ENSEMBLE_BELOW_ROWS = 10_000
MEMBERS = 8
FREQUENCIES = 16
PERIODIC_WIDTH = 16
FREQUENCY_SCALE = 0.1  # standard deviation of the initial frequencies


def embedding_dim(cardinality: int) -> int:
    return max(1, min(32, round(1.6 * cardinality**0.56)))


def is_wide(inputs: int, rows: int) -> bool:
    """More inputs than training rows: the network is kept to the rows' size (see the rule)."""
    return inputs > rows


def wide_warning(rows: int, n_numeric: int, cardinalities: list[int], **_: object) -> str | None:
    """What the plan says about a wide table (more inputs than training rows), or None."""
    inputs = n_numeric + sum(embedding_dim(c) for c in cardinalities)
    if not is_wide(inputs, rows):
        return None
    return (
        f"{inputs:,} inputs but only {rows:,} training rows: the network is kept small (its width "
        "set by the rows, no periodic embeddings) and will mostly memorise; fewer columns "
        "(--ignore) or more rows would help"
    )


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
    inputs = n_numeric + sum(embedding_dims)
    wide = is_wide(inputs, rows)
    if width is None:
        width = 64 if rows < 1_000 else 128 if rows < 10_000 else 256 if rows < 100_000 else 512
        if not wide:
            width = max(width, min(1024, 2 ** math.ceil(math.log2(max(inputs, 1)))))
    if depth is None:
        depth = 2 if rows < 10_000 else 3
    return MLPConfig(
        members=MEMBERS if rows < ENSEMBLE_BELOW_ROWS else 1,
        width=width,
        depth=depth,
        n_numeric=n_numeric,
        cardinalities=cardinalities,
        embedding_dims=embedding_dims,
        n_outputs=n_outputs,
        frequencies=0 if wide else FREQUENCIES,
        periodic_width=PERIODIC_WIDTH,
    )


class PeriodicEmbeddings(nn.Module):
    """[B, F] → [B, F · width]: each input's cos and sin at its own trained frequencies, then one
    linear layer shared by the inputs and a ReLU."""

    def __init__(self, n_inputs: int, frequencies: int, width: int) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_inputs, frequencies) * FREQUENCY_SCALE)
        self.linear = nn.Linear(2 * frequencies, width)

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * numeric.unsqueeze(2) * self.frequencies  # [B, F, K]
        waves = torch.cat([torch.cos(angles), torch.sin(angles)], dim=2)  # [B, F, 2K]
        return torch.relu(self.linear(waves)).flatten(1)


class TabularMLP(nn.Module):
    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, d)
            for n, d in zip(config.cardinalities, config.embedding_dims, strict=True)
        )
        self.periodic = (
            PeriodicEmbeddings(config.n_numeric, config.frequencies, config.periodic_width)
            if config.frequencies and config.n_numeric
            else None
        )
        layers: list[nn.Module] = []
        inputs = config.n_inputs
        self.members = config.members
        if self.members > 1:
            signs = torch.randint(0, 2, (self.members, inputs)).float() * 2 - 1
            self.member_scales = nn.Parameter(signs)  # [M, inputs]
        for _ in range(config.depth):
            layers += [nn.Linear(inputs, config.width), nn.ReLU(), nn.Dropout(config.dropout)]
            inputs = config.width
        self.body = nn.Sequential(*layers)
        if self.members > 1:
            self.head = MemberHeads(self.members, inputs, config.n_outputs)
        else:
            self.head = nn.Linear(inputs, config.n_outputs)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """[B, outputs]; an ensemble in training mode gives each member's: [B, members, outputs]."""
        # numeric: [B, F] float32, categorical: [B, C] int64
        parts = [numeric] if self.periodic is None else [numeric, self.periodic(numeric)]
        parts += [
            embed(categorical[:, i]) for i, embed in enumerate(self.embeddings)
        ]  # each [B, E_i]
        inputs = torch.cat(parts, dim=1)  # [B, inputs]
        if self.members == 1:
            return self.head(self.body(inputs))
        outputs = self.head(self.body(inputs.unsqueeze(1) * self.member_scales))  # [B, M, outputs]
        return outputs if self.training else average_members(outputs)


class MemberHeads(nn.Module):
    """One output layer per ensemble member: [B, M, width] → [B, M, outputs]."""

    def __init__(self, members: int, width: int, outputs: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(width)  # nn.Linear's initialisation, per member
        self.weight = nn.Parameter(torch.empty(members, width, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, outputs).uniform_(-bound, bound))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bmw,mwo->bmo", hidden, self.weight) + self.bias


def average_members(outputs: torch.Tensor) -> torch.Tensor:
    """The ensemble's prediction from its members' [B, M, outputs]: the mean value (one output,
    regression), or the logarithm of the mean probability, which softmax turns back into it."""
    if outputs.shape[2] == 1:
        return outputs.mean(1)
    return torch.logsumexp(torch.log_softmax(outputs, 2), 1) - math.log(outputs.shape[1])


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
