"""Step 7: evaluate a program on labelled rows it has never seen.

    learnt evaluate runs/titanic/program other.csv

The program itself is run (ONNX Runtime by default), not the training-time model, so the numbers
describe exactly what `learnt predict` will do. Metrics are computed with numpy:

* classification — accuracy, loss (mean cross-entropy, natural log), macro-F1 over the classes
  present in labels or predictions, confusion matrix (rows: true class, columns: predicted);
* regression — r2, rmse and mae in the label's own units, loss (mean squared error of the
  standardised label, as in training).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.data.encode import encode_labels
from learnt.data.tables import Table
from learnt.errors import DataError
from learnt.runtime.predict import network_outputs, softmax

if TYPE_CHECKING:
    from learnt.runtime.predict import Runner
    from learnt.runtime.program import Program


def evaluate_table(program: Program, table: Table, runner: Runner | None = None) -> dict[str, Any]:
    """Metrics of `program` on `table`; rows without a label are left out."""
    label = program.manifest.input_schema.label
    if label not in table.columns:
        raise DataError(
            f"{table.source}: no label column '{label}'; evaluation needs labelled rows",
            file=table.source,
            column=label,
        )
    targets, labelled = encode_labels(table, label, program.manifest.labels)
    if len(labelled) == 0:
        raise DataError(
            f"{table.source}, column '{label}': every label is empty; nothing to evaluate",
            file=table.source,
            column=label,
        )
    rows = table.take(labelled) if len(labelled) < len(table) else table
    outputs = network_outputs(program, rows, runner)
    if program.task == "classification":
        return classification_metrics(targets, outputs, program.classes)
    return regression_metrics(
        targets, outputs[:, 0], program.manifest.labels.mean, program.manifest.labels.std
    )


def classification_metrics(
    targets: np.ndarray, logits: np.ndarray, classes: list[Any]
) -> dict[str, Any]:
    probabilities = softmax(logits)
    predicted = probabilities.argmax(1)
    n_classes = len(classes)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    loss = -np.log(np.clip(probabilities[np.arange(len(targets)), targets], 1e-12, None)).mean()
    return {
        "task": "classification",
        "n": len(targets),
        "accuracy": float((predicted == targets).mean()),
        "loss": float(loss),
        "macro_f1": macro_f1(confusion),
        "classes": classes,
        "confusion_matrix": confusion.tolist(),
    }


def macro_f1(confusion: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the labels or the predictions."""
    true_positive = np.diag(confusion).astype(np.float64)
    actual, predicted = confusion.sum(1), confusion.sum(0)
    present = (actual + predicted) > 0
    f1 = np.divide(
        2 * true_positive, actual + predicted, out=np.zeros_like(true_positive), where=present
    )
    return float(f1[present].mean())


def regression_metrics(
    targets: np.ndarray, outputs: np.ndarray, mean: float, std: float
) -> dict[str, Any]:
    """`targets` and `outputs` are standardised; r2, rmse and mae are in the label's units."""
    actual = targets.astype(np.float64) * std + mean
    predicted = outputs.astype(np.float64) * std + mean
    error = predicted - actual
    variance = ((actual - actual.mean()) ** 2).sum()
    return {
        "task": "regression",
        "n": len(targets),
        "r2": float(1 - (error**2).sum() / variance) if variance > 0 else 0.0,
        "rmse": float(np.sqrt((error**2).mean())),
        "mae": float(np.abs(error).mean()),
        "loss": float(((outputs.astype(np.float64) - targets) ** 2).mean()),
    }


def summary(metrics: dict[str, Any]) -> str:
    """One line: 'accuracy 0.832 · macro-F1 0.821 · loss 0.412 (n=179)'."""
    if metrics["task"] == "classification":
        return f"accuracy {metrics['accuracy']:.3f} · macro-F1 {metrics['macro_f1']:.3f} · loss {metrics['loss']:.4f} (n={metrics['n']})"
    return f"r2 {metrics['r2']:.4f} · rmse {metrics['rmse']:.4g} · mae {metrics['mae']:.4g} · loss {metrics['loss']:.4f} (n={metrics['n']})"
