"""Step 8: use a program on unlabelled rows.

    learnt predict runs/titanic/program new.csv --out predictions.csv

Rows are encoded with numpy (`learnt.data.encode`) and run through `model.onnx` with ONNX
Runtime — no torch is imported on this path. `runtime="torch"` rebuilds the network from the
manifest and `weights.safetensors` instead (a lazy import); both give the same numbers to 1e-5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.data.encode import Encoded, encode
from learnt.data.tables import Table
from learnt.errors import UsageError

if TYPE_CHECKING:
    from learnt.program import Program, Runtime

CHUNK_ROWS = 65536  # bounded memory for large inputs


def predict_table(
    program: Program, table: Table, runtime: Runtime = "onnx"
) -> dict[str, np.ndarray]:
    """`prediction` (+ `proba_<class>` for classification) for every row of `table`, in order."""
    outputs = network_outputs(program, encode(table, program.manifest.preprocessing), runtime)
    return format_outputs(program, outputs)


def network_outputs(program: Program, encoded: Encoded, runtime: Runtime = "onnx") -> np.ndarray:
    """Raw outputs [rows, outputs]: logits, or a standardised value for regression."""
    run = {"onnx": _onnx_runner, "torch": _torch_runner}.get(runtime)
    if run is None:
        raise UsageError(f"--runtime {runtime}: expected 'onnx' or 'torch'")
    model = run(program)
    parts = [
        model(encoded.take(np.arange(s, min(s + CHUNK_ROWS, len(encoded)))))
        for s in range(0, len(encoded), CHUNK_ROWS)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def format_outputs(program: Program, outputs: np.ndarray) -> dict[str, np.ndarray]:
    labels = program.manifest.labels
    if labels.task == "regression":
        return {"prediction": outputs[:, 0].astype(np.float64) * labels.std + labels.mean}
    probabilities = softmax(outputs)
    classes = np.empty(len(labels.classes), dtype=object)
    classes[:] = labels.classes
    columns: dict[str, np.ndarray] = {"prediction": classes[probabilities.argmax(1)]}
    for i, name in enumerate(labels.classes):
        columns[f"proba_{name}"] = probabilities[:, i]
    return columns


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _onnx_runner(program: Program) -> Any:
    session = program._sessions.get("onnx")
    if session is None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(program.path / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        program._sessions["onnx"] = session
    wanted = [i.name for i in session.get_inputs()]

    def run(encoded: Encoded) -> np.ndarray:
        feeds = {"numeric": encoded.numeric, "categorical": encoded.categorical}
        return session.run(None, {name: feeds[name] for name in wanted})[0]

    return run


def _torch_runner(program: Program) -> Any:
    model = program._sessions.get("torch")
    if model is None:
        from learnt.errors import require

        require("torch")
        from learnt.parameters import load_program_weights

        model = program._sessions["torch"] = load_program_weights(program)
    import torch

    def run(encoded: Encoded) -> np.ndarray:
        with torch.inference_mode():
            return model(
                torch.from_numpy(encoded.numeric), torch.from_numpy(encoded.categorical)
            ).numpy()

    return run
