"""Step 7: evaluate a program on labelled rows it has never seen.

    learnt evaluate runs/titanic/program other.csv

The program itself is run (ONNX Runtime by default), not the training-time model, so the numbers
describe exactly what `learnt predict` will do. Metrics are computed with numpy:

* classification — accuracy, loss (mean cross-entropy, natural log), macro-F1 over the classes
  present in labels or predictions, confusion matrix (rows: true class, columns: predicted);
* regression — r2, rmse and mae in the label's own units, loss (mean squared error of the
  standardised label, as in training).

Beside them: per-class precision, recall, F1 and support; a naive `baseline` (always the training
majority class, or always the training mean; None when the program does not record it); and
`warnings` — rows the program was trained on, or one class predicted for nearly every row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.data.encode import encode_labels
from learnt.data.tables import Table
from learnt.errors import DataError
from learnt.runtime.fingerprints import overlap_warning
from learnt.runtime.predict import network_outputs, softmax

if TYPE_CHECKING:
    from learnt.runtime.format import Manifest
    from learnt.runtime.predict import Runner
    from learnt.runtime.program import Program

ONE_CLASS_SHARE = 0.95  # of predictions: "nearly every row" …
ONE_CLASS_TRUTH = 0.80  # … when that class is less common than this among the labels


def evaluate_table(program: Program, table: Table, runner: Runner | None = None) -> dict[str, Any]:
    """Metrics of `program` on `table`; rows without a label are left out."""
    return metrics_of(program, *labelled_outputs(program, table, runner))


def labelled_outputs(
    program: Program, table: Table, runner: Runner | None = None
) -> tuple[np.ndarray, Table, np.ndarray]:
    """(targets, the labelled rows, the network's raw outputs on them) for `table`."""
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
    return targets, rows, network_outputs(program, rows, runner)


def metrics_of(
    program: Program, targets: np.ndarray, rows: Table, outputs: np.ndarray
) -> dict[str, Any]:
    """Metrics, baseline and warnings from `labelled_outputs`."""
    manifest = program.manifest
    if program.task == "classification":
        metrics = classification_metrics(
            targets, outputs, program.classes, manifest.training.class_counts
        )
    else:
        metrics = regression_metrics(
            targets, outputs[:, 0], manifest.labels.mean, manifest.labels.std
        )
    metrics["warnings"] = evaluation_warnings(manifest, rows, metrics)
    return metrics


def classification_metrics(
    targets: np.ndarray,
    logits: np.ndarray,
    classes: list[Any],
    class_counts: list[int] | None = None,
) -> dict[str, Any]:
    """Metrics of class `logits` against class-index `targets`; `class_counts`: of training rows."""
    probabilities = softmax(logits)
    predicted = probabilities.argmax(1)
    confusion = confusion_matrix(targets, predicted, len(classes))
    loss = -np.log(np.clip(probabilities[np.arange(len(targets)), targets], 1e-12, None)).mean()
    return {
        "task": "classification",
        "n": len(targets),
        "accuracy": float((predicted == targets).mean()),
        "loss": float(loss),
        "macro_f1": macro_f1(confusion),
        "classes": classes,
        "confusion_matrix": confusion.tolist(),
        "per_class": per_class(confusion, classes),
        "baseline": majority_baseline(targets, classes, class_counts),
    }


def confusion_matrix(targets: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    return confusion


def per_class(confusion: np.ndarray, classes: list[Any]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class (0 where undefined, as sklearn does)."""
    true_positive = np.diag(confusion).astype(np.float64)
    actual, predicted = confusion.sum(1), confusion.sum(0)
    precision = ratio(true_positive, predicted)
    recall = ratio(true_positive, actual)
    f1 = ratio(2 * true_positive, actual + predicted)
    return [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i, name in enumerate(classes)
    ]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def majority_baseline(
    targets: np.ndarray, classes: list[Any], class_counts: list[int] | None
) -> dict[str, Any] | None:
    """Accuracy and macro-F1 of always predicting the training majority class (None: unknown)."""
    if not class_counts or len(class_counts) != len(classes):
        return None
    majority = int(np.argmax(class_counts))
    constant = np.full(len(targets), majority)
    return {
        "strategy": "majority class",
        "class": classes[majority],
        "accuracy": float((targets == majority).mean()),
        "macro_f1": macro_f1(confusion_matrix(targets, constant, len(classes))),
    }


def macro_f1(confusion: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the labels or the predictions."""
    true_positive = np.diag(confusion).astype(np.float64)
    actual, predicted = confusion.sum(1), confusion.sum(0)
    present = (actual + predicted) > 0
    return float(ratio(2 * true_positive, actual + predicted)[present].mean())


def regression_metrics(
    targets: np.ndarray, outputs: np.ndarray, mean: float, std: float
) -> dict[str, Any]:
    """`targets` and `outputs` are standardised; r2, rmse and mae are in the label's units."""
    actual = targets.astype(np.float64) * std + mean
    predicted = outputs.astype(np.float64) * std + mean
    error = predicted - actual
    variance = ((actual - actual.mean()) ** 2).sum()
    baseline = mean - actual  # always predicting the training mean
    return {
        "task": "regression",
        "n": len(targets),
        "r2": float(1 - (error**2).sum() / variance) if variance > 0 else 0.0,
        "rmse": float(np.sqrt((error**2).mean())),
        "mae": float(np.abs(error).mean()),
        "loss": float(((outputs.astype(np.float64) - targets) ** 2).mean()),
        "baseline": {
            "strategy": "training mean",
            "mean": mean,
            "r2": float(1 - (baseline**2).sum() / variance) if variance > 0 else 0.0,
            "rmse": float(np.sqrt((baseline**2).mean())),
            "mae": float(np.abs(baseline).mean()),
        },
    }


def evaluation_warnings(manifest: Manifest, rows: Table, metrics: dict[str, Any]) -> list[str]:
    """What makes these scores misleading: rows seen in training, one class predicted for all."""
    warnings = [overlap_warning(manifest, rows)]
    if metrics["task"] == "classification":
        warnings.append(one_class_warning(metrics))
    return [w for w in warnings if w]


def one_class_warning(metrics: dict[str, Any]) -> str | None:
    """A warning when one class is predicted for nearly every row but is far rarer in truth."""
    confusion = np.array(metrics["confusion_matrix"])
    n = confusion.sum()
    if n == 0:
        return None
    top = int(confusion.sum(0).argmax())
    predicted_share, true_share = confusion[:, top].sum() / n, confusion[top].sum() / n
    if predicted_share < ONE_CLASS_SHARE or true_share >= ONE_CLASS_TRUTH:
        return None
    return (
        f"class {metrics['classes'][top]!r} is predicted for {100 * predicted_share:.1f} % of "
        f"rows but is {100 * true_share:.1f} % of the labels: the program barely tells the "
        "classes apart"
    )


def summary(metrics: dict[str, Any]) -> str:
    """One line: 'accuracy 0.832 (majority class: 0.616) · macro-F1 0.821 (…) · loss 0.412 (n=179)'."""
    base = metrics.get("baseline")
    if metrics["task"] == "classification":
        parts = [
            f"accuracy {metrics['accuracy']:.3f}" + beside(base, "accuracy", ".3f"),
            f"macro-F1 {metrics['macro_f1']:.3f}" + beside(base, "macro_f1", ".3f"),
        ]
    else:
        parts = [
            f"r2 {metrics['r2']:.4f}",
            f"rmse {metrics['rmse']:.4g}" + beside(base, "rmse", ".4g"),
            f"mae {metrics['mae']:.4g}" + beside(base, "mae", ".4g"),
        ]
    return " · ".join([*parts, f"loss {metrics['loss']:.4f}"]) + f" (n={metrics['n']})"


def beside(baseline: dict[str, Any] | None, name: str, spec: str) -> str:
    """' (majority class: 0.616)', or '' when there is no baseline."""
    if not baseline or name not in baseline:
        return ""
    return f" ({baseline['strategy']}: {baseline[name]:{spec}})"
