"""`learnt quickstart [tables|images|text]`: the whole lifecycle on data bundled with learnt.

The handwritten digits (1,797 images of 8×8 pixels, 10 classes) are written to
`runs/quickstart/` — as a 64-column table, or as PNG files in one folder per digit — or 1,200 SMS
messages labelled ham or spam; then trained on exactly as `learnt train` would, and the program is
used on a few rows it never saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from learnt.console import say

Kind = Literal["tables", "images", "text"]
NEXT = {
    "tables": "  learnt train your.csv --label your_column",
    "images": "  learnt train your_photos/   # one sub-folder per class",
    "text": '  echo "free entry to win a prize" | learnt predict runs/quickstart-text/program -',
}


def run_quickstart(kind: Kind = "tables", run_dir: Path | None = None) -> None:
    from learnt.datasets import write_digit_images, write_digits_table, write_sms_spam_sample
    from learnt.errors import require
    from learnt.runtime.predict import predict_table, read_inputs
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    require("torch")
    run_dir = run_dir or Path("runs") / ("quickstart" if kind == "tables" else f"quickstart-{kind}")
    subject = "SMS messages" if kind == "text" else "handwritten digits"
    say(f"[bold]learnt quickstart[/] — labelled data in, a program out, on {subject}")
    if kind == "text":
        say("  (1,200 SMS messages, each labelled ham or spam)\n")
        data = write_sms_spam_sample(run_dir / "sms.csv")
        settings = make_settings(label="label", out=run_dir, force=True)
    elif kind == "tables":
        say("  (1,797 images of 8×8 pixels as a 64-column table; the label is the digit 0–9)\n")
        data = write_digits_table(run_dir / "digits.csv")
        settings = make_settings(label="digit", out=run_dir, force=True)
    else:
        say("  (1,797 PNG images of 8×8 pixels in one folder per digit 0–9)\n")
        data = write_digit_images(run_dir / "digits")
        settings = make_settings(out=run_dir, force=True, augment="crop")  # a flipped 3 is no 3

    result = run(data, settings, suggest_next=False)
    program = result.program
    inputs = read_inputs(program, [data], labelled=kind == "images")
    shown_rows = np.random.default_rng(0).choice(result.split.test, 5, replace=False)
    held_out = inputs.take(np.sort(shown_rows))  # every digit is labelled: positions match
    predictions = predict_table(program, held_out)["prediction"].tolist()
    truth = held_out.columns[program.manifest.input_schema.label].tolist()
    shown = ", ".join(f"{p} (true {t})" for p, t in zip(predictions, truth, strict=True))
    say(f"[bold cyan]{'use':>12}[/]  five held-out rows → {shown}")

    metrics = program.manifest.metrics
    accuracy, count = metrics.get("accuracy", float("nan")), metrics.get("n", 0)
    what = "messages" if kind == "text" else "digits"
    say(f"\n[bold]test accuracy {accuracy:.3f}[/] on {count} {what} the program never saw.")
    say("Next, try:")
    say(f"  learnt inspect {program.path}")
    say(f"  learnt predict {program.path} {data} --out predictions.csv")
    say(NEXT[kind])
