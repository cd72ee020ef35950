"""`learnt serve PROGRAM`: a program behind HTTP, on the runtime side (no torch).

    pip install "learnt[serve]"
    learnt serve runs/titanic/program --port 8000

`POST /predict` answers what `learnt predict` would, through the same functions
(`learnt.runtime.predict.predict_table`); `GET /metadata`, `/livez`, `/readyz`; `/docs` shows a
form built from the program's input schema. Limits (body size, rows, time, pending requests) turn
excess into 413, 422, 504 and 503 answers, never into a crash. Concurrent requests are merged into
one ONNX Runtime call (`learnt.serve.batching`). This module imports nothing beyond the standard
library, so the command line can name the missing extra before FastAPI is imported.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from learnt.errors import MissingDependencyError, UsageError

SERVE_MODULES = ("fastapi", "uvicorn")
INSTALL_HINT = 'pip install "learnt[serve]"'
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True)
class ServeSettings:
    """The server's limits; the CLI flags of `learnt serve` set them."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_body: int = 8 * 1024**2  # bytes of one request body (413 beyond)
    max_rows: int = 10_000  # rows, texts or images per request (422 beyond)
    timeout: float = 30.0  # seconds per request (504 beyond)
    max_queue: int = 64  # requests admitted and not yet answered (503 beyond)
    batch_wait_ms: float = 5.0  # how long a batch waits for more requests; 0: no batching
    batch_rows: int = 4096  # a batch stops waiting once it holds this many rows
    workers: int = 16  # threads reading and encoding requests

    def __post_init__(self) -> None:
        checks = {
            "--port": 0 <= self.port <= 65535,
            "--max-body": self.max_body >= 1,
            "--max-rows": self.max_rows >= 1,
            "--timeout": self.timeout > 0,
            "--max-queue": self.max_queue >= 1,
            "--batch-wait-ms": 0 <= self.batch_wait_ms <= 1000,
            "--batch-rows": self.batch_rows >= 1,
            "--workers": self.workers >= 1,
        }
        for flag, ok in checks.items():
            if not ok:
                value = getattr(self, flag[2:].replace("-", "_"))
                raise UsageError(f"{flag} {value}: out of range", field=flag[2:])

    @property
    def batching(self) -> bool:
        return self.batch_wait_ms > 0


def parse_size(text: str) -> int:
    """Bytes from '8MiB', '512k', '1048576' (binary units)."""
    match = SIZE.match(text)
    if match is None:
        raise UsageError(
            f"--max-body {text}: expected a size such as 8MiB, 512KiB or 1048576", field="max-body"
        )
    number, unit = match.groups()
    return int(float(number) * UNITS[(unit or "").lower()[:1]])


def require_serve() -> None:
    """A clear error, naming the extra to install, when FastAPI or uvicorn is missing."""
    missing = [name for name in SERVE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"learnt serve needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install them with: "
            f"{INSTALL_HINT}"
        )
