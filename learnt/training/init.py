"""Step 2: set initial parameters — seeded random initialisation.

`torch.manual_seed(seed)` then each layer's default initialisation, so the same seed, data and
machine give bit-identical weights. (Transfer from a program or a shipped backbone comes here.)
"""

from __future__ import annotations

import torch
from torch import nn

from learnt.runtime.format import Architecture
from learnt.training.families import build


def initialise(config: Architecture, seed: int) -> nn.Module:
    """A network for `config` with seeded random parameters."""
    torch.manual_seed(seed)
    return build(config)
