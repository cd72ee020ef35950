"""Running a program's network in torch instead of ONNX Runtime: `--runtime torch`.

    learnt predict runs/titanic/program new.csv --runtime torch
    program.predict(frame, runner=torch_runner)

The network is rebuilt from the manifest's architecture and loaded, strictly, from
`weights.safetensors` (safetensors only: no code runs, nothing is unpickled). The file's bytes are
read once, checked against their sha256 and their header parsed and checked without torch
(`learnt.runtime.checks`) before the network is built, so a manifest cannot make torch allocate more
than its weights file holds. Any unreadable or mismatched weights file is a `ProgramError` naming
it. Used for parity checks with the ONNX graph (both agree to 1e-5).
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load
from torch import nn

from learnt.data.encode import Encoded
from learnt.errors import ProgramError, first_line
from learnt.runtime.checks import check_parameter_count, check_safetensors
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


def read_weights(program: Program) -> dict[str, torch.Tensor]:
    """The program's tensors, from verified bytes whose header was checked first."""
    path = program.path / WEIGHTS
    data = program.read_verified(WEIGHTS)
    check_parameter_count(program.manifest, check_safetensors(data, path), path)
    try:
        return load(data)
    except (SafetensorError, ValueError) as error:
        raise ProgramError(
            f"{path}: not a readable safetensors file ({error}); restore it or retrain", file=path
        ) from error


def load_program_weights(program: Program) -> nn.Module:
    """The program's network, rebuilt from its manifest, with its weights (strict), in eval mode."""
    path = program.path / WEIGHTS
    weights = read_weights(program)
    model = build(program.manifest.architecture)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise ProgramError(
            f"{path}: weights do not fit the architecture in program.json: {first_line(error, 300)}",
            file=path,
        ) from error
    return model.eval()
