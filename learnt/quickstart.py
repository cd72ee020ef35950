"""`learnt quickstart`: the whole lifecycle on data that ships with scikit-learn.

The digits set (1,797 handwritten digits, 8×8 pixels, 10 classes) is written as a 64-column
table to `runs/quickstart/digits.csv`, then trained on exactly as `learnt train` would, and the
program is used on a few rows it never saw.
"""

from __future__ import annotations

from pathlib import Path

from learnt.console import say


def digits_table(path: Path) -> Path:
    """Write scikit-learn's digits as CSV: pixel_0 … pixel_63 and a `digit` label."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def run_quickstart(run_dir: Path = Path("runs/quickstart")) -> None:
    from learnt.config import make_settings
    from learnt.data.tables import read_table
    from learnt.errors import require
    from learnt.predict import predict_table

    require("torch")
    require("sklearn")
    say(
        "[bold]learnt quickstart[/] — labelled data in, a program out, on scikit-learn's handwritten digits"
    )
    say("  (1,797 images of 8×8 pixels as a 64-column table; the label is the digit 0–9)\n")
    data = digits_table(run_dir / "digits.csv")

    from learnt.lifecycle import run

    result = run(data, make_settings(label="digit", out=run_dir, force=True), suggest_next=False)
    program = result.program
    rows = read_table(data).take(
        result.split.test[:5]
    )  # digits has no unlabelled rows to shift positions
    predictions = predict_table(program, rows)
    truth = rows.columns["digit"].tolist()
    shown = ", ".join(
        f"{p} (true {t})" for p, t in zip(predictions["prediction"].tolist(), truth, strict=True)
    )
    say(f"[bold cyan]{'use':>12}[/]  five held-out rows → {shown}")
    accuracy = program.manifest.metrics.get("accuracy", float("nan"))
    say(
        f"\n[bold]test accuracy {accuracy:.3f}[/] on {program.manifest.metrics.get('n', 0)} digits the program never saw."
    )
    say("Next, try:")
    say(f"  learnt inspect {program.path}")
    say(f"  learnt predict {program.path} {data} --out predictions.csv")
    say("  learnt train your.csv --label your_column")
