"""The report's pictures: matplotlib figures (Agg, no display) as inline PNG data URIs.

    learnt report runs/titanic

Each function takes plain numbers and names (no program, no files) and returns
`data:image/png;base64,…`, ready for an `<img src>`. matplotlib is imported on first use, so a
slim install that never draws a report never needs it.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from learnt.errors import MissingDependencyError

TRAIN, VALIDATION, TEST = "#3b6ea8", "#e08a2c", "#4a9a5b"
BEST = "#b03a48"
WIDE, TALL = 7.2, 3.2  # inches; at DPI they fill the report's column
DPI = 110
LABEL_LIMIT = 24  # characters of a class name on an axis
NAMED_CLASSES = 40  # beyond this, axes show class positions, not names


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or a clear error when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "the HTML report needs the 'matplotlib' package, which is not installed. Install it "
            "with: pip install 'learnt[report]' -c constraints.txt"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "figure.dpi": DPI,
            "text.usetex": False,
        }
    )
    return plt


def data_uri(figure: Any) -> str:
    """The figure laid out, as a PNG data URI; the figure is closed.

    Drawing warnings (a glyph missing from the font for a name in the data) are not errors: the
    name is still written, in the page's HTML, beside the picture.
    """
    plt = pyplot()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure.tight_layout()
        figure.savefig(
            buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None}
        )
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plain(value: Any) -> str:
    """A name as matplotlib text: shortened, one line, `$` kept literal (not mathtext)."""
    text = " ".join(str(value).split())
    if len(text) > LABEL_LIMIT:
        text = text[: LABEL_LIMIT - 1] + "…"
    return text.replace("\\", "\\\\").replace("$", r"\$")


def training_curves(
    epochs: Sequence[float],
    train_loss: Sequence[float | None],
    val_loss: Sequence[float | None],
    val_accuracy: Sequence[float | None],
    best_epoch: int,
    stop_reason: str,
    phase_starts: Sequence[tuple[float, str]] = (),
) -> str:
    """Loss per epoch (train, validation) and validation accuracy, the best epoch marked."""
    plt = pyplot()
    with_accuracy = any(a is not None for a in val_accuracy)
    figure, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(WIDE, TALL), squeeze=False)
    loss_axis = axes[0][0]
    loss_axis.plot(epochs, nan_for_none(train_loss), "-o", color=TRAIN, ms=3, label="train loss")
    if any(v is not None for v in val_loss):
        loss_axis.plot(
            epochs, nan_for_none(val_loss), "-o", color=VALIDATION, ms=3, label="validation loss"
        )
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    panels = [loss_axis]
    if with_accuracy:
        accuracy_axis = axes[0][1]
        accuracy_axis.plot(epochs, nan_for_none(val_accuracy), "-o", color=VALIDATION, ms=3)
        accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
        panels.append(accuracy_axis)
    for axis in panels:
        for start, name in phase_starts:
            axis.axvline(start - 0.5, color="#888888", linestyle=":", linewidth=1)
            axis.annotate(plain(name), (start - 0.4, 0.02), xycoords=("data", "axes fraction"))
        if best_epoch:
            axis.axvline(best_epoch, color=BEST, linestyle="--", linewidth=1)
        axis.xaxis.get_major_locator().set_params(integer=True)
    if best_epoch:
        loss_axis.plot([], [], "--", color=BEST, label=f"best epoch {best_epoch} (kept)")
    figure.legend(
        *loss_axis.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        frameon=False,
        title=f"stopped: {plain(stop_reason)}",
    )
    return data_uri(figure)


def nan_for_none(values: Sequence[float | None]) -> list[float]:
    return [np.nan if v is None else float(v) for v in values]


def class_balance(classes: Sequence[Any], counts: dict[str, Sequence[int]]) -> str:
    """Rows per class in each part of the split, as stacked bars (one per class)."""
    plt = pyplot()
    n = len(classes)
    figure, axis = plt.subplots(figsize=(min(WIDE, 2.2 + 0.45 * n), TALL))
    positions = np.arange(n)
    below = np.zeros(n)
    colours = {"train": TRAIN, "validation": VALIDATION, "test": TEST}
    for part, values in counts.items():
        heights = np.asarray(values, dtype=np.float64)
        axis.bar(positions, heights, bottom=below, label=part, color=colours.get(part, "#777777"))
        below += heights
    name_axis(axis.xaxis, classes)
    axis.set(ylabel="rows", title="Class balance")
    axis.grid(axis="x", visible=False)
    axis.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return data_uri(figure)


def name_axis(axis: Any, classes: Sequence[Any]) -> None:
    """Class names as tick labels (slanted when long or many); only positions beyond
    `NAMED_CLASSES`, where names would overlap (the tables beside the plot name them)."""
    n = len(classes)
    if n > NAMED_CLASSES:
        axis.set_ticks(range(0, n, max(1, n // 10)))
        return
    names = [plain(c) for c in classes]
    slanted = axis.axis_name == "x" and (n > 6 or max(map(len, names)) > 8)
    axis.set_ticks(range(n), names)
    if slanted:
        for label in axis.get_ticklabels():
            label.set(rotation=45, ha="right", rotation_mode="anchor")


def label_histogram(edges: Sequence[float], counts: dict[str, Sequence[int]]) -> str:
    """A regression label's distribution in each part of the split (shared bins)."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(WIDE, TALL))
    colours = {"train": TRAIN, "validation": VALIDATION, "test": TEST}
    edges = np.asarray(edges, dtype=np.float64)
    for part, values in counts.items():
        shares = np.asarray(values, dtype=np.float64) / max(1, sum(values))
        colour = colours.get(part, "#777777")
        if part == "train":
            axis.stairs(shares, edges, fill=True, alpha=0.35, color=colour, label=part)
        else:
            axis.stairs(shares, edges, color=colour, linewidth=1.5, label=part)
    axis.set(xlabel="label", ylabel="share of rows", title="Label distribution")
    axis.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return data_uri(figure)


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[Any]) -> str:
    """The confusion matrix (rows: true class, columns: predicted), counts written in the cells."""
    plt = pyplot()
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(classes)
    side = min(max(3.2, 0.36 * n + 1.8), 7.0)
    figure, axis = plt.subplots(figsize=(side + 1.0, side))
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)  # each true class's row
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    name_axis(axis.xaxis, classes)
    name_axis(axis.yaxis, classes)
    axis.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    axis.grid(False)
    if n <= 20:
        for (row, column), value in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.6 else "#222222"
            axis.text(column, row, str(value), ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    return data_uri(figure)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> str:
    """Calibration: accuracy against confidence (the predicted class's probability), in bins,
    beside how many predictions fall in each."""
    plt = pyplot()
    figure, (curve, counts) = plt.subplots(1, 2, figsize=(WIDE, TALL))
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    filled = [b for b in range(bins) if (which == b).any()]
    mean_confidence = [float(confidence[which == b].mean()) for b in filled]
    accuracy = [float(correct[which == b].mean()) for b in filled]
    curve.plot([0, 1], [0, 1], ":", color="#888888", label="perfectly calibrated")
    curve.plot(mean_confidence, accuracy, "-o", color=TEST, ms=4, label="this program")
    curve.set(
        xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="accuracy", title="Reliability"
    )
    curve.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    counts.hist(confidence, bins=edges, color=TEST, alpha=0.8)
    counts.set(xlim=(0, 1), xlabel="confidence", ylabel="test rows", title="Confidence")
    return data_uri(figure)


def residuals(actual: np.ndarray, predicted: np.ndarray) -> str:
    """Regression: predicted against actual, and the residual against the prediction."""
    plt = pyplot()
    figure, (scatter, residual) = plt.subplots(1, 2, figsize=(WIDE, TALL))
    alpha = 0.7 if len(actual) < 500 else 0.3
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    scatter.plot([low, high], [low, high], ":", color="#888888")
    scatter.scatter(actual, predicted, s=9, alpha=alpha, color=TEST, linewidths=0)
    scatter.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
    residual.axhline(0, color="#888888", linestyle=":")
    residual.scatter(predicted, predicted - actual, s=9, alpha=alpha, color=TEST, linewidths=0)
    residual.set(xlabel="predicted", ylabel="predicted − actual", title="Errors")
    return data_uri(figure)
