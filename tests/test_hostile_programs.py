"""Programs from strangers: every hostile program is refused on load — by `inspect`, by `predict` on
ONNX Runtime and on torch — with exit code 2, a message naming the file and the problem, no
traceback, and nothing of a planted payload run.

The cases and how each is made are in `tests/hostile/programs.py` (`HOSTILE_PROGRAMS`, one line
each); `tests/hostile/make.py` writes them out as a corpus.
"""

from __future__ import annotations

import json
import pickle  # noqa: TID251 (the payload is checked to be live, never read from a program)
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.programs import (
    COMMANDS,
    HOSTILE_PROGRAMS,
    MARKER,
    Hostile,
    Payload,
    write_inputs,
)
from tests.test_errors import (  # the fixtures are taken with request.getfixturevalue
    Outcome,
    assert_user_error,
    cli,  # noqa: F401
    edit_manifest,
    in_tmp,  # noqa: F401
    program_copy,  # noqa: F401
)


@pytest.fixture
def text_copy(tmp_path: Path, text_program) -> Path:
    return Path(shutil.copytree(text_program.path, tmp_path / "program"))


@pytest.mark.parametrize("case", HOSTILE_PROGRAMS, ids=[case.id for case in HOSTILE_PROGRAMS])
def test_hostile_program_is_refused(
    case: Hostile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run: Callable[..., Outcome] = request.getfixturevalue("cli")
    program = request.getfixturevalue("text_copy" if case.text else "program_copy")
    write_inputs(tmp_path, case.text)
    case.make(program, tmp_path)
    for command, args in COMMANDS.items():
        outcome = run(*args)
        assert_user_error(outcome, *case.fragments)
        assert not (tmp_path / MARKER).exists(), f"{command}: a payload ran"


def test_the_payload_is_live(tmp_path: Path) -> None:
    """The pickle cases mean something: unpickling their payload does create the marker."""
    pickle.loads(pickle.dumps(Payload(tmp_path / MARKER)))
    assert (tmp_path / MARKER).exists()


def test_unknown_fields_are_ignored(request: pytest.FixtureRequest) -> None:
    """By the format's policy an older reader ignores fields it does not know: they change nothing."""
    run: Callable[..., Outcome] = request.getfixturevalue("cli")
    program: Path = request.getfixturevalue("program_copy")

    def add_fields(manifest: dict) -> None:
        manifest["exec"] = "import os; os.system('touch payload-ran')"
        manifest["architecture"]["activation"] = "eval"

    edit_manifest(program, add_fields)
    outcome = run("inspect", "program", "--json")
    assert outcome.code == 0
    shown = json.loads(outcome.out)
    assert "exec" not in shown and "activation" not in shown["architecture"]
    assert not Path(MARKER).exists()
