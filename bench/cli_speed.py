"""Start-up time of the command line: `learnt --help` against a bare `python -c pass`.

    .venv/bin/python bench/cli_speed.py [--quick]

Each command runs as a fresh process (the virtualenv's `learnt` console script, or
`python -m learnt` when there is none); the figure is the median wall time of several runs,
alternating with the baseline, after one untimed run of each to warm the file cache.

Goal: `learnt --help` ≤ 0.3 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import goal, heading, machine_load, median, others_watched, parse_args, run_child

GOAL_SECONDS = 0.3


def learnt_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m learnt`."""
    script = Path(sys.executable).parent / "learnt"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "learnt"]


def check_help(command: list[str]) -> None:
    """Stop unless `learnt --help` works here, so a broken install is not timed."""
    result = run_child([*command, "--help"])
    if result.exit_code != 0:
        sys.exit(f"`{' '.join(command)} --help` exited {result.exit_code}; is learnt installed?")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    runs = 5 if args.quick else 11
    command = learnt_command()
    check_help(command)
    baseline = [sys.executable, "-c", "pass"]
    machine_load()
    heading(f"start-up, median of {runs} runs each, alternating")
    help_s, bare_s = [], []
    run_child(baseline)  # warm-up, untimed
    with others_watched():
        for _ in range(runs):
            help_s.append(run_child([*command, "--help"]).seconds)
            bare_s.append(run_child(baseline).seconds)
    cli, bare = median(help_s), median(bare_s)
    print(
        f"  {' '.join(Path(c).name for c in command)} --help   {cli:.3f} s"
        f"  (min {min(help_s):.3f}, max {max(help_s):.3f})"
    )
    print(f"  python -c pass  {bare:.3f} s  (min {min(bare_s):.3f}, max {max(bare_s):.3f})")
    print(f"  ratio: {cli / bare:.1f}× the bare interpreter; learnt adds {cli - bare:.3f} s")
    goal(f"learnt --help ≤ {GOAL_SECONDS} s (got {cli:.3f} s)", cli <= GOAL_SECONDS)


if __name__ == "__main__":
    main()
