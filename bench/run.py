"""Run every benchmark, one after another, and summarise their goals.

    .venv/bin/python bench/run.py [--quick] [NAME ...]

Each benchmark runs as its own process with this interpreter (so one cannot slow another through
leftover threads or memory); their output is shown as it comes, then the `goal:` lines and any
skips are gathered at the end. Exit status 1 if a benchmark crashed; a missed goal is reported,
not an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "cli_speed",
    "predict_cold",
    "serve",
    "train_speed",
    "checkpoint",
    "quality",
    "images",
    "text",
    "transfer",
    "distributed",
)


@dataclass
class Report:
    name: str
    exit_code: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # goal and skip lines


def run_one(name: str, quick: bool) -> Report:
    """Run bench/NAME.py, echo its output, and keep its goal and skip lines."""
    print(f"\n######## {name}", flush=True)
    command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    report, started = Report(name), time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=HERE.parent) as child:
        assert child.stdout is not None
        for line in child.stdout:
            print(line, end="", flush=True)
            if line.startswith(("goal:", "SKIPPED:")):
                report.notes.append(line.strip())
    report.exit_code, report.seconds = child.returncode, time.perf_counter() - started
    return report


def summary(reports: list[Report]) -> int:
    """Print the summary; return the exit status (1 if any benchmark crashed)."""
    print("\n######## summary")
    for report in reports:
        skipped = any(note.startswith("SKIPPED") for note in report.notes)
        status = "ok" if report.exit_code == 0 else f"FAILED (exit {report.exit_code})"
        status += " (skipped in part or whole)" if skipped else ""
        print(f"{report.name:<13} {status}, {report.seconds:.0f} s")
        for note in report.notes:
            print(f"    {note}")
    return int(any(report.exit_code != 0 for report in reports))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("--quick", action="store_true", help="smaller runs (passed on to each)")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})",
    )
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    reports = [run_one(name, args.quick) for name in args.names or BENCHMARKS]
    sys.exit(summary(reports))


if __name__ == "__main__":
    main()
