"""Data from strangers: every hostile or odd input gives a clear error naming the file, row and
column (exit code 2, no traceback, nothing half-written), or a documented handling.

The cases, how each input is made and what must come of it are in `tests/hostile/data.py`
(`HOSTILE_DATA`, one line each); `tests/hostile/make.py` writes them out as a corpus. Each runs
here in its own directory, in-process, as `tests/test_errors.py` does (its helpers are reused).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import learnt
from tests.hostile.data import (
    HOSTILE_DATA,
    IMAGE_PROGRAM,
    TEXT_PROGRAM,
    TITANIC_PROGRAM,
    DataCase,
    features,
    reordered_with_extra,
    train_image_program,
    train_text_program,
    values_as_strings,
    write_16_bit_png,
)
from tests.test_errors import (  # `cli` is taken with request.getfixturevalue
    Outcome,
    assert_user_error,
    cli,  # noqa: F401
    in_tmp,  # noqa: F401
    tree,
)

Cli = Callable[..., Outcome]
RUN_LOCK = {"run", "run/.lock"}  # the run directory's lock, which a failed training may leave
PROGRAM_FIXTURES = {
    TITANIC_PROGRAM: "titanic_program",
    TEXT_PROGRAM: "tiny_text_program",
    IMAGE_PROGRAM: "tiny_image_program",
}


def test_cases_are_named_once() -> None:
    names = [c.name for c in HOSTILE_DATA]
    assert len(names) == len(set(names))
    assert all(c.description and c.outcome for c in HOSTILE_DATA)
    assert all(c.fragments for c in HOSTILE_DATA if c.code == 2)


@pytest.fixture
def invoke(request: pytest.FixtureRequest) -> Cli:
    """`learnt ARGS` in-process: test_errors' `cli`."""
    return request.getfixturevalue("cli")


@pytest.fixture(scope="module")
def tiny_text_program(tmp_path_factory: pytest.TempPathFactory) -> learnt.Program:
    return train_text_program(tmp_path_factory.mktemp("tiny-text"))


@pytest.fixture(scope="module")
def tiny_image_program(tmp_path_factory: pytest.TempPathFactory) -> learnt.Program:
    return train_image_program(tmp_path_factory.mktemp("tiny-images"))


def resolve(args: tuple[str, ...], request: pytest.FixtureRequest) -> list[str]:
    """The case's arguments with `@titanic`, `@text`, `@images` replaced by a program's path."""
    return [
        str(request.getfixturevalue(PROGRAM_FIXTURES[a]).path) if a in PROGRAM_FIXTURES else a
        for a in args
    ]


def feed_stdin(monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
    data = io.BytesIO(file.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(data, encoding="utf-8"))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("case", HOSTILE_DATA, ids=[case.name for case in HOSTILE_DATA])
def test_hostile_data(
    case: DataCase,
    invoke: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if case.root_skips and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    case.make(tmp_path)
    args = resolve(case.args, request)
    if case.stdin:
        feed_stdin(monkeypatch, tmp_path / case.stdin)
    before = tree(tmp_path)
    outcome = invoke(*args)
    if case.code == 2:
        assert_user_error(outcome, *case.fragments)
        assert tree(tmp_path) - before <= RUN_LOCK  # no program, no partial files
    else:
        assert outcome.code == case.code, outcome.err[-500:]
        assert "Traceback" not in outcome.err
    if case.check:
        case.check(outcome, tmp_path)


# --- closer checks than the command's outcome shows -----------------------------------------------


def test_16_bit_png_is_scaled_not_white(tmp_path: Path) -> None:
    from PIL import Image

    from learnt.data.images import decode_image

    write_16_bit_png(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    pixels = decode_image(str(tmp_path / "deep.png"), 32, 1)
    assert pixels.min() == 0 and pixels.max() == 255
    assert abs(float(pixels.mean()) - 127.5) < 2


def test_columns_at_prediction_give_the_same_predictions(
    invoke: Cli, tmp_path: Path, titanic_program
) -> None:
    features().to_csv(tmp_path / "plain.csv", index=False)
    reordered_with_extra(tmp_path)
    values_as_strings(tmp_path)
    outputs = []
    for name in ("plain.csv", "reordered.csv", "strings.jsonl"):
        outcome = invoke("predict", titanic_program.path, name)
        assert outcome.code == 0, outcome
        outputs.append(pd.read_csv(io.StringIO(outcome.out)))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    pd.testing.assert_frame_equal(outputs[0], outputs[2])
