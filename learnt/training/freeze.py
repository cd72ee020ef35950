"""Step 6: from model to program — freeze parameters, graph and preprocessing into a directory.

The program is assembled in a hidden staging directory beside its destination and renamed into
place only when complete (evaluated, hashed), so a crash or Ctrl-C never leaves half a program.
An existing destination is refused unless `force`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from learnt.data.encode import Encoded
from learnt.errors import FreezeError, UsageError
from learnt.files import check_writable, write_text_atomically
from learnt.runtime.format import MANIFEST, ONNX, WEIGHTS, Manifest
from learnt.runtime.program import sha256

ONNX_OPSET = 17
SEQUENCE_AXES = {"tokens": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}}
ONNX_TOLERANCE = 1e-4


def check_output(out: Path, force: bool) -> None:
    """Refuse an existing destination early, before any training time is spent."""
    if out.parent.exists() and not out.parent.is_dir():
        raise UsageError(
            f"{out.parent}: exists and is not a directory; --out names a run directory",
            field="out",
        )
    check_writable(out.parent)
    if out.exists() and not force:
        raise UsageError(
            f"{out}: already exists; pass --force to replace it or --out to choose another path",
            field="out",
        )
    if out.exists() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise UsageError(
            f"{out}: exists and is not a learnt program; refusing to replace it", field="out"
        )


@contextlib.contextmanager
def staging(out: Path, force: bool) -> Iterator[Path]:
    """A fresh directory to build the program in; moved to `out` only if the block succeeds."""
    check_output(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        publish(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, out: Path) -> None:
    """Rename `stage` to `out`, replacing an existing program as atomically as the OS allows."""
    if not out.exists():
        stage.rename(out)
        return
    trash = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(trash)
    stage.rename(out)
    shutil.rmtree(trash, ignore_errors=True)


def write_weights(model: nn.Module, directory: Path) -> None:
    tensors = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, directory / WEIGHTS, metadata={"format": "pt"})


def export_onnx(model: nn.Module, directory: Path, sample: Encoded) -> list[str]:
    """Write `model.onnx` (dynamic batch), check it against torch on `sample`; return its inputs."""
    import onnxruntime

    model.eval()
    names = list(sample.arrays)
    inputs = tuple(torch.from_numpy(sample.arrays[name]) for name in names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                model,
                inputs,
                str(directory / ONNX),
                input_names=names,
                output_names=["output"],
                dynamic_axes={
                    **{name: {0: "batch"} for name in [*names, "output"]},
                    **{n: a for n, a in SEQUENCE_AXES.items() if n in names},
                },
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    except Exception as error:  # the exporter raises many unrelated types
        raise FreezeError(
            f"could not export the trained network to ONNX ({type(error).__name__}: {error}); "
            "no program was written. This is a fault in learnt: please report it with --debug output"
        ) from error
    session = onnxruntime.InferenceSession(
        str(directory / ONNX), providers=["CPUExecutionProvider"]
    )
    kept = [i.name for i in session.get_inputs()]  # an input the graph never reads is dropped
    onnx_outputs = session.run(None, {name: sample.arrays[name] for name in kept})[0]
    with torch.inference_mode():
        torch_outputs = model(*inputs).numpy()
    difference = float(np.abs(onnx_outputs - torch_outputs).max(initial=0.0))
    if not difference <= ONNX_TOLERANCE:  # also catches NaN
        raise FreezeError(
            f"the exported ONNX graph differs from the trained network by {difference:.2e} "
            f"(tolerance {ONNX_TOLERANCE:g}); no program was written. This is a fault in learnt: "
            "please report it with --debug output"
        )
    return kept


def write_manifest(manifest: Manifest, directory: Path) -> None:
    """Hash the other files into the manifest and write `program.json` atomically."""
    names = sorted(
        p.name
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
    )
    manifest.files = {name: sha256(directory / name) for name in names}
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    write_text_atomically(directory / MANIFEST, text)
