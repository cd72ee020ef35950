"""Shared helpers for the benchmarks: where the data is, skipping, timing, printing results.

Not a benchmark itself; each `bench/NAME.py` imports it (the script's folder is on `sys.path`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside it


def data_dir() -> Path:
    """The shared data folder: $LEARNT_DATA if set, else ../shared/data beside the repository."""
    override = os.environ.get("LEARNT_DATA")
    return Path(override).expanduser() if override else DEFAULT_DATA


def skip(reason: str) -> NoReturn:
    """Say why the benchmark cannot run here, and exit 0 (a skip is not a failure)."""
    print(f"SKIPPED: {reason}")
    sys.exit(0)


def data_file(name: str) -> Path | None:
    """The named shared data file, or None after saying that it is missing and where."""
    path = data_dir() / name
    if path.is_file():
        return path
    print(f"SKIPPED: missing data file {path}; set LEARNT_DATA to a folder holding {name}")
    return None


def require_data(*names: str) -> list[Path]:
    """Paths of the named data files; if any is missing, say which and skip the benchmark."""
    paths = [data_file(name) for name in names]
    found = [p for p in paths if p is not None]
    if len(found) < len(paths):
        sys.exit(0)
    return found


def require_modules(*modules: str) -> None:
    """Skip when an optional package this benchmark needs is not installed."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if absent:
        skip(f"missing Python package(s) {', '.join(absent)}; pip install -e '.[train]'")


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """Command-line options every benchmark takes: --quick for a smaller, faster run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smaller run (fewer repeats)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def heading(text: str) -> None:
    print(f"\n== {text}")


def goal(description: str, met: bool) -> None:
    """One line `run.py` collects into its summary."""
    print(f"goal: {description} — {'met' if met else 'MISSED'}")


def machine_load(seconds: float = 0.5) -> None:
    """Before measuring: how busy the CPUs are while this process waits."""
    cores = os.cpu_count() or 1
    before = cpu_ticks()
    time.sleep(seconds)
    after = cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        print(f"load average {os.getloadavg()[0]:.2f} on {cores} cores")
        return
    busy = (after[0] - before[0]) / (after[1] - before[1])
    print(f"CPU busy with other work before starting: {busy:.0%} of {cores} cores{noisy(busy)}")


@contextlib.contextmanager
def others_watched(children: Sequence[int] = ()) -> Iterator[None]:
    """Around a measurement: print the share of CPU time other processes took meanwhile.

    `children`: process ids of running children (servers) counted as this benchmark's own.
    """
    before, own_before = cpu_ticks(), own_cpu_seconds(children)
    yield
    after, own_after = cpu_ticks(), own_cpu_seconds(children)
    if before is None or after is None or after[1] <= before[1]:
        return
    tick = os.sysconf("SC_CLK_TCK")
    busy = (after[0] - before[0]) / tick - (own_after - own_before)
    share = max(0.0, busy / ((after[1] - before[1]) / tick))
    print(f"  CPU used by other processes meanwhile: {share:.0%} of all cores{noisy(share)}")


def noisy(share: float) -> str:
    return " — other work competed for the CPU; rerun for clean figures" if share > 0.1 else ""


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks since boot over all cores (Linux /proc/stat), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def own_cpu_seconds(children: Sequence[int] = ()) -> float:
    """CPU seconds used by this process, its finished children and the running `children`."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(process_cpu_seconds(pid) for pid in children)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc), or 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ChildRun:
    """One finished child process."""

    seconds: float  # wall clock, spawn to exit
    peak_mib: float  # its peak resident memory (ru_maxrss)
    exit_code: int


def run_child(
    argv: Sequence[str], stdout: Path | None = None, stderr: Path | None = None
) -> ChildRun:
    """Spawn `argv` (argv[0] a path), wait for it, and read its own resource usage.

    `os.wait4` gives this one child's rusage (RUSAGE_CHILDREN would be a maximum over all of
    them). ru_maxrss also counts the spawning process's memory at exec time, so callers keep
    their own process small (standard library only) to measure the child alone.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, str(stdout or os.devnull), flags, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(stderr or os.devnull), flags, 0o644),
    ]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(os.environ), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    return ChildRun(seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
