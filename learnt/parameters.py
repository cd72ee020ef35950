"""Step 2: set initial parameters — seeded random initialisation, or the weights of a program.

Random: `torch.manual_seed(seed)` then each layer's default initialisation, so the same seed,
data and machine give bit-identical weights. Weights are read with safetensors only (no pickle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file

from learnt.architectures import build, config_from_dict
from learnt.errors import ProgramError

if TYPE_CHECKING:
    from torch import nn

    from learnt.architectures.mlp import MLPConfig
    from learnt.program import Program


def initialise(config: MLPConfig, seed: int) -> nn.Module:
    """A network for `config` with seeded random parameters."""
    torch.manual_seed(seed)
    return build(config)


def load_program_weights(program: Program) -> nn.Module:
    """The program's network, rebuilt from its manifest, with its weights (strict), in eval mode."""
    model = build(config_from_dict(program.manifest.architecture))
    try:
        model.load_state_dict(load_file(program.path / "weights.safetensors"), strict=True)
    except (RuntimeError, OSError) as error:
        raise ProgramError(
            f"{program.path}: weights do not fit the architecture: {error}"
        ) from error
    return model.eval()
