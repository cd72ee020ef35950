"""A cold `learnt predict` of one row on the ONNX runtime: wall time and peak memory.

    .venv/bin/python bench/predict_cold.py [--quick]

A small program is trained on titanic first (`learnt train … --epochs 5 --quiet`, in a temporary
directory). Then `learnt predict PROGRAM one_row.csv` runs as a fresh process several times,
alternating with the baseline `python -c "import numpy, onnxruntime"` (the least any ONNX
prediction in Python must load); each child's wall time and peak resident memory are read with
`os.wait4`, and medians reported. One more run reports which heavy packages the predict path
imported (torch and pandas should not be among them) and its slowest imports (`-X importtime`).
This process imports only the standard library, so it does not inflate the children's peak memory.

Goals: ≤ 1.5× the baseline's wall time (median of 9, or 5 with --quick), ≤ 0.3 s and ≤ 150 MiB;
the predict path imports none of the packages a slim install lacks (torch, pandas, rich) nor
pydantic (the program format is read without it).
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

from common import (
    ChildRun,
    goal,
    heading,
    machine_load,
    median,
    others_watched,
    parse_args,
    require_data,
    require_modules,
    run_child,
)

GOAL_SECONDS = 0.3
GOAL_MIB = 150.0
HEAVY = ("torch", "pandas", "sklearn", "pyarrow", "scipy", "rich", "pydantic", "typer", "PIL")
GOAL_RATIO = 1.5
LABEL = "survived"


def learnt_command() -> list[str]:
    script = Path(sys.executable).parent / "learnt"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "learnt"]


def train_program(titanic: Path, work: Path) -> Path:
    """Train the small titanic program the timed runs use; stop with its log if that fails."""
    log = work / "train.log"
    args = ["train", str(titanic), "--label", LABEL, "--out", str(work / "run"), "--epochs", "5"]
    result = run_child([*learnt_command(), *args, "--quiet"], stderr=log)
    if result.exit_code != 0:
        sys.exit(
            f"training the titanic program failed (exit {result.exit_code}):\n{log.read_text()}"
        )
    print(f"trained a titanic program in {result.seconds:.1f} s")
    return work / "run" / "program"


def one_row(titanic: Path, out: Path) -> Path:
    """The header and first row of titanic, without the label: what a caller would send."""
    with open(titanic, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        row = next(reader)
        names = [n for n in reader.fieldnames or [] if n != LABEL]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, names, extrasaction="ignore")
        writer.writeheader()
        writer.writerow(row)
    return out


def predict_once(program: Path, rows: Path, work: Path) -> ChildRun:
    """One cold prediction; stop with its error if it fails or prints no prediction."""
    out, err = work / "predict.out", work / "predict.err"
    result = run_child([*learnt_command(), "predict", str(program), str(rows), "--quiet"], out, err)
    if result.exit_code != 0 or not out.read_text().startswith("prediction"):
        sys.exit(f"learnt predict failed (exit {result.exit_code}):\n{err.read_text()}")
    return result


WRAPPER = """
import atexit, json, sys
def report():
    with open({report!r}, "w") as handle:
        json.dump(sorted(m for m in sys.modules if "." not in m), handle)
atexit.register(report)
sys.argv = ["learnt", "predict", {program!r}, {rows!r}, "--quiet"]
from learnt.cli import main
main()
"""


def imports_of_predict(program: Path, rows: Path, work: Path) -> tuple[list[str], list[str]]:
    """(heavy top-level packages imported, slowest top-level imports) of one predict run."""
    report, timing = work / "modules.json", work / "importtime.txt"
    code = WRAPPER.format(report=str(report), program=str(program), rows=str(rows))
    result = run_child([sys.executable, "-X", "importtime", "-c", code], stderr=timing)
    if result.exit_code != 0:
        sys.exit(f"the import check failed (exit {result.exit_code}):\n{timing.read_text()}")
    modules = json.loads(report.read_text())
    return [m for m in HEAVY if m in modules], slowest_imports(timing.read_text())


def slowest_imports(importtime: str, count: int = 6) -> list[str]:
    """'name 0.041 s' for the top-level imports with the largest cumulative time."""
    found = []
    for line in importtime.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2].rstrip()
        if name.startswith(" ") and not name.startswith("  "):  # nesting level 0
            found.append((int(parts[1]) / 1e6, name.strip()))
    found.sort(reverse=True)
    return [f"{name} {seconds:.3f} s" for seconds, name in found[:count]]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    require_modules("onnxruntime", "numpy", "torch")
    (titanic,) = require_data("titanic.csv")
    runs = 5 if args.quick else 9
    baseline = [sys.executable, "-c", "import numpy, onnxruntime"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        program = train_program(titanic, work)
        rows = one_row(titanic, work / "one_row.csv")
        machine_load()
        heading(f"cold predict of one row, median of {runs} runs each, alternating")
        predict_once(program, rows, work)  # warm-up, untimed
        run_child(baseline)
        ours, base = [], []
        with others_watched():
            for _ in range(runs):
                ours.append(predict_once(program, rows, work))
                base.append(run_child(baseline))
        heavy, slowest = imports_of_predict(program, rows, work)
    report(ours, base, heavy, slowest)


def report(
    ours: list[ChildRun], base: list[ChildRun], heavy: list[str], slowest: list[str]
) -> None:
    """Print medians, ratios, the import check and the goals."""
    seconds, mib = median([r.seconds for r in ours]), median([r.peak_mib for r in ours])
    base_s, base_mib = median([r.seconds for r in base]), median([r.peak_mib for r in base])
    print(f"  learnt predict               {seconds:.3f} s  {mib:6.1f} MiB peak")
    print(f"  import numpy, onnxruntime    {base_s:.3f} s  {base_mib:6.1f} MiB peak")
    print(f"  ratio: {seconds / base_s:.2f}× the time, {mib / base_mib:.2f}× the memory")
    print(f"  heavy packages imported: {', '.join(heavy) or 'none'} (checked: {', '.join(HEAVY)})")
    print(f"  slowest top-level imports: {'; '.join(slowest)}")
    ratio = seconds / base_s
    goal(f"cold predict ≤ {GOAL_RATIO}× the baseline (got {ratio:.2f}×)", ratio <= GOAL_RATIO)
    goal(f"cold predict ≤ {GOAL_SECONDS} s (got {seconds:.3f} s)", seconds <= GOAL_SECONDS)
    goal(f"cold predict ≤ {GOAL_MIB:.0f} MiB (got {mib:.1f} MiB)", mib <= GOAL_MIB)
    goal("cold predict imports none of: " + ", ".join(HEAVY), not heavy)


if __name__ == "__main__":
    main()
