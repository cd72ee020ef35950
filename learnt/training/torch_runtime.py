"""Running a program's network in torch instead of ONNX Runtime: `--runtime torch`.

    learnt predict runs/titanic/program new.csv --runtime torch
    program.predict(frame, runner=torch_runner)

The network is rebuilt from the manifest's architecture and loaded, strictly, from
`weights.safetensors` (safetensors only: no code runs). Any unreadable or mismatched weights file is
a `ProgramError` naming it. Used for parity checks with the ONNX graph (both agree to 1e-5).
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from learnt.data.encode import Encoded
from learnt.errors import ProgramError, first_line
from learnt.runtime.format import WEIGHTS
from learnt.runtime.predict import Run
from learnt.runtime.program import Program
from learnt.training.families import build


def torch_runner(program: Program) -> Run:
    """A `Runner` for `learnt.runtime.predict`: the network in torch, in inference mode."""
    model = program.cached("torch", lambda: load_program_weights(program))
    names = list(program.manifest.model_inputs)

    def run(encoded: Encoded) -> np.ndarray:
        with torch.inference_mode():
            return model(*(torch.from_numpy(encoded.arrays[name]) for name in names)).numpy()

    return run


def load_program_weights(program: Program) -> nn.Module:
    """The program's network, rebuilt from its manifest, with its weights (strict), in eval mode."""
    path = program.path / WEIGHTS
    model = build(program.manifest.architecture)
    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ProgramError(
            f"{path}: not a readable safetensors file ({error}); restore it or retrain", file=path
        ) from error
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise ProgramError(
            f"{path}: weights do not fit the architecture in program.json: {first_line(error, 300)}",
            file=path,
        ) from error
    return model.eval()
