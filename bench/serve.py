"""`learnt serve` over real HTTP: requests/s and latency with and without micro-batching.

    .venv/bin/python bench/serve.py [--quick]

Two programs are trained first, in a temporary directory: titanic (`learnt train … --epochs 5
--quiet`, an MLP) and 400 small PNG digits from learnt's bundled digits (a CNN). For each, two
servers run as child processes on 127.0.0.1: `learnt serve PROGRAM` (batching at its default wait)
and `learnt serve PROGRAM --no-batching`; the time from spawning each to its first `/readyz` 200
is reported. Then 1, 8 and 32 concurrent clients send single-row `POST /predict` requests (JSON
`{"rows": [row]}` for titanic, a multipart `image` upload for digits), a fixed count per round or
until a time cap, the two servers alternating round by round (the baseline is the same server
with `--no-batching`, measured in the same run). Reported: requests/s, p50 and p99 latency,
errors, and the batching / no-batching ratios.

The load comes from this one process: asyncio with raw keep-alive HTTP/1.1 connections (one per
client), which costs far less CPU than an HTTP library would. Client and server still share the
machine's cores (2 here), so the figures are for that whole setup, not the server alone.

Goals: at 32 clients, throughput with batching ≥ 3× without; at 1 client, p99 with batching not
worse than without (up to 10 % allowed for noise: one client never batches, so any difference is
noise); no errors at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import goal, heading, machine_load, others_watched, parse_args, require_modules

ROOT = Path(__file__).resolve().parents[1]
TITANIC = ROOT / "tests" / "data" / "titanic.csv"
LABEL = "survived"
CLIENTS = (1, 8, 32)
GOAL_RATIO = 3.0
P99_NOISE = 1.10
BOUNDARY = "learntbenchboundary"


@dataclass(frozen=True)
class Load:
    """How much each round sends: requests per client count, and a time cap per round."""

    requests: dict[int, int]
    cap_s: float
    rounds: int


FULL = Load({1: 300, 8: 1000, 32: 2000}, cap_s=15.0, rounds=2)
QUICK = Load({1: 100, 8: 300, 32: 600}, cap_s=6.0, rounds=1)


@dataclass
class Result:
    """Requests answered in one or more rounds against one server."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


# --- programs -----------------------------------------------------------------------------------


def learnt_command() -> list[str]:
    script = Path(sys.executable).parent / "learnt"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "learnt"]


def train(source: Path, out: Path, *extra: str) -> Path:
    """`learnt train SOURCE --epochs 5 --quiet --out OUT …`; stop with its log if that fails."""
    argv = [*learnt_command(), "train", str(source), "--epochs", "5", "--quiet", "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run([*argv, *extra], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training on {source.name} failed (exit {done.returncode}):\n{done.stderr}")
    print(f"trained {source.name} in {time.perf_counter() - started:.1f} s")
    return out / "program"


def write_digits(folder: Path, per_class: int = 40) -> Path:
    """400 digit images (8×8 grey PNG) as class folders: folder/<digit>/<n>.png."""
    from PIL import Image

    from learnt.datasets import digits

    pixels, labels = digits()
    for label in range(10):
        for n, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            image = (pixels[index].astype(np.float64) * 255 / 16).round().astype(np.uint8)
            (folder / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / str(label) / f"{n:03d}.png")
    return folder


def titanic_request() -> tuple[str, bytes]:
    """(content type, body) of a one-row JSON request: titanic's first row without the label."""
    with open(TITANIC, newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    row.pop(LABEL)
    return "application/json", json.dumps({"rows": [row]}).encode()


def image_request(png: Path) -> tuple[str, bytes]:
    """(content type, body) of a multipart upload of one image in the field `image`."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{png.name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    body = head.encode() + png.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}", body


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    ready_s: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(program: Path, name: str, log: Path, *flags: str) -> Iterator[Server]:
    """A `learnt serve` child process, ready; killed on the way out, whatever happened."""
    port = free_port()
    argv = [*learnt_command(), "serve", str(program), "--port", str(port), "--quiet", *flags]
    with open(log, "w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, port, process)
    try:
        server.ready_s = wait_ready(server, log)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, log: Path, limit_s: float = 120.0) -> float:
    """Seconds from spawning the server to its first `/readyz` 200."""
    started = time.perf_counter()
    url = f"http://127.0.0.1:{server.port}/readyz"
    while time.perf_counter() - started < limit_s:
        if server.process.poll() is not None:
            sys.exit(
                f"{server.name} server exited ({server.process.returncode}):\n{log.read_text()}"
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as answer,
        ):
            if answer.status == 200:
                return time.perf_counter() - started
        time.sleep(0.02)
    sys.exit(f"{server.name} server not ready within {limit_s:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Terminate the server, then kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- load ---------------------------------------------------------------------------------------


async def post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request over a keep-alive connection: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")),
        0,
    )
    return status, await reader.readexactly(length)


async def client(
    port: int, request: bytes, budget: list[int], deadline: float, result: Result
) -> None:
    """Send requests one after another until the shared budget or the time is spent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            started = time.perf_counter()
            try:
                status, body = await post(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError) as error:
                record_error(result, repr(error))
                return
            if status == 200:
                result.latencies.append(time.perf_counter() - started)
            else:
                record_error(result, f"HTTP {status}: {body[:200]!r}")
    finally:
        writer.close()


def record_error(result: Result, message: str) -> None:
    result.errors += 1
    result.first_error = result.first_error or message


async def load(port: int, request: bytes, clients: int, count: int, cap_s: float) -> Result:
    """`count` requests (or as many as fit in `cap_s`) from `clients` concurrent connections."""
    result, budget = Result(), [count]
    started = time.perf_counter()
    deadline = started + cap_s
    await asyncio.gather(*(client(port, request, budget, deadline, result) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def http_request(port: int, content_type: str, body: bytes) -> bytes:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def measure(
    servers: list[Server], payload: tuple[str, bytes], clients: int, plan: Load
) -> dict[str, Result]:
    """Rounds at `clients` clients, alternating the servers (A B, then B A, …); untimed warm-up."""
    totals = {server.name: Result() for server in servers}
    requests = {server.port: http_request(server.port, *payload) for server in servers}
    for server in servers:
        asyncio.run(load(server.port, requests[server.port], clients, 4 * clients, plan.cap_s))
    for round_ in range(plan.rounds):
        for server in servers if round_ % 2 == 0 else servers[::-1]:
            done = asyncio.run(
                load(
                    server.port, requests[server.port], clients, plan.requests[clients], plan.cap_s
                )
            )
            add(totals[server.name], done)
    return totals


def add(total: Result, part: Result) -> None:
    total.latencies += part.latencies
    total.seconds += part.seconds
    total.errors += part.errors
    total.first_error = total.first_error or part.first_error


# --- the benchmark ------------------------------------------------------------------------------


def bench_program(
    name: str, program: Path, payload: tuple[str, bytes], work: Path, plan: Load
) -> None:
    """Both servers of one program, every client count; print the table and the goals."""
    heading(f"{name}: batching (default wait) vs --no-batching, single-row requests")
    with contextlib.ExitStack() as stack:
        batching = stack.enter_context(serving(program, "batching", work / f"{name}-b.log"))
        plain = stack.enter_context(
            serving(program, "no-batching", work / f"{name}-n.log", "--no-batching")
        )
        print(
            f"  ready after {batching.ready_s:.2f} s (batching), {plain.ready_s:.2f} s (no-batching)"
        )
        rows = {}
        with others_watched([batching.process.pid, plain.process.pid]):
            for clients in CLIENTS:
                rows[clients] = measure([batching, plain], payload, clients, plan)
                print_row(clients, rows[clients])
    report_goals(name, rows)


def print_row(clients: int, results: dict[str, Result]) -> None:
    b, n = results["batching"], results["no-batching"]
    for label, r in (("batching", b), ("no-batching", n)):
        print(
            f"  {clients:>2} clients  {label:<11} {r.rate:7.0f} req/s  p50 {r.percentile(50):6.1f} ms"
            f"  p99 {r.percentile(99):6.1f} ms  {len(r.latencies):5d} ok  {r.errors} errors"
        )
        if r.first_error:
            print(f"      first error: {r.first_error}")
    ratio = b.rate / n.rate if n.rate else float("nan")
    print(f"  {clients:>2} clients  ratio batching / no-batching: {ratio:.2f}× req/s")


def report_goals(name: str, rows: dict[int, dict[str, Result]]) -> None:
    top, one = rows[max(CLIENTS)], rows[1]
    ratio = top["batching"].rate / top["no-batching"].rate if top["no-batching"].rate else 0.0
    goal(
        f"{name}: req/s with batching ≥ {GOAL_RATIO:g}× without at {max(CLIENTS)} clients "
        f"(got {ratio:.2f}×)",
        ratio >= GOAL_RATIO,
    )
    p99_b, p99_n = one["batching"].percentile(99), one["no-batching"].percentile(99)
    goal(
        f"{name}: p99 at 1 client with batching ≤ {P99_NOISE:.2f}× without "
        f"(got {p99_b:.1f} vs {p99_n:.1f} ms)",
        p99_b <= P99_NOISE * p99_n,
    )
    errors = sum(r.errors for results in rows.values() for r in results.values())
    goal(f"{name}: no errors (got {errors})", errors == 0)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    require_modules("fastapi", "uvicorn", "onnxruntime", "torch", "PIL")
    plan = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        titanic = train(TITANIC, work / "titanic", "--label", LABEL)
        digits = write_digits(work / "digits")
        images = train(digits, work / "images", "--init", "random")
        machine_load()
        bench_program("titanic", titanic, titanic_request(), work, plan)
        png = next((digits / "3").glob("*.png"))
        bench_program("digits", images, image_request(png), work, plan)


if __name__ == "__main__":
    main()
