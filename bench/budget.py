"""Sizing by compute: Fashion-MNIST with a time budget, planned by the probe vs by rows alone.

    .venv/bin/python bench/budget.py [--quick] [--budget SECONDS ...]

`learnt train` on the 60,000 official training images (written as PNG class folders) with
`--time-budget B` and every other setting at its default — the probe plans the network and its
epochs — then the program is scored on the official 10,000 test images. For comparison, the same
budget with the network the data-only rule picks (`--arch cnn`, which keeps the budget as a stop
criterion but not as a planner). Wall time of the whole `learnt train` is printed beside each.

Goals (2 CPU cores): `--time-budget 600` ≥ 0.93 and `--time-budget 120` ≥ 0.90.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import goal, heading, require_modules
from images import fashion_dir, read_part, write_folder

GOALS = {600: 0.93, 120: 0.90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12,000 training images, 60 s")
    parser.add_argument("--budget", type=float, action="append", help="seconds (repeatable)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the rows-only runs")
    args = parser.parse_args()
    require_modules("torch")
    import learnt
    from learnt.console import set_quiet

    set_quiet(True)
    folder = fashion_dir()
    train_count = 12_000 if args.quick else 60_000
    budgets = args.budget or ([60.0] if args.quick else [120.0, 600.0])
    work = Path(tempfile.mkdtemp(prefix="learnt-budget-"))
    try:
        train = write_folder(work / "train", *read_part(folder, "train", train_count))
        test = write_folder(work / "test", *read_part(folder, "test", 10_000))
        heading(f"Fashion-MNIST: {train_count:,} training images, official 10,000 test images")
        for budget in budgets:
            sides = [("planned by the probe", {})]
            if not args.no_baseline:
                sides.append(("rows-only network", {"arch": "cnn"}))
            for side, extra in sides:
                started = time.perf_counter()
                program = learnt.train(
                    train, time_budget=budget, out=work / "run", force=True, **extra
                )
                seconds = time.perf_counter() - started
                accuracy = program.evaluate(test)["accuracy"]
                training = program.manifest.training
                print(
                    f"  budget {budget:5.0f} s  {side:<22} {program.manifest.architecture.describe():<48}"
                    f" {training.epochs:>3} epochs  accuracy {accuracy:.4f}  ({seconds:.0f} s in all)",
                    flush=True,
                )
                if not extra and int(budget) in GOALS and not args.quick:
                    target = GOALS[int(budget)]
                    goal(
                        f"Fashion-MNIST --time-budget {budget:g} ≥ {target} (got {accuracy:.4f})",
                        accuracy >= target,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
