"""`learnt ARGS` in-process, with stdout and stderr kept apart (the tests' command line)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from learnt.cli import run


@dataclass
class Outcome:
    """What a command printed, its exit code, and the error it raised (if any)."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: object) -> Outcome:
    """Run `learnt ARGS`; a `LearntError` is kept in `exception` (as `--debug` would raise it)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    exception: BaseException | None = None
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = run([str(a) for a in args], debug=True)
        except SystemExit as stopped:  # --help, --version and usage errors
            code = (
                stopped.code if isinstance(stopped.code, int) else 0 if stopped.code is None else 2
            )
        except Exception as error:
            code, exception = getattr(error, "exit_code", 1), error
    return Outcome(code, stdout.getvalue(), stderr.getvalue(), exception)
