"""The hostile corpus stays described: `docs/hostile-inputs.md` matches the case lists, and each
case's folder gets a `case.json` saying what to run and what must come of it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.data import HOSTILE_DATA
from tests.hostile.make import render_docs, write_data_case
from tests.hostile.programs import HOSTILE_PROGRAMS

DOCS = Path(__file__).parents[1] / "docs" / "hostile-inputs.md"
MINIMUM_CASES = 80


def test_the_doc_matches_the_case_lists() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_docs(), (
        "docs/hostile-inputs.md is out of date: run "
        "`.venv/bin/python tests/hostile/make.py --docs docs/hostile-inputs.md`"
    )


def test_there_are_enough_distinct_cases() -> None:
    names = [c.id for c in HOSTILE_PROGRAMS] + [c.name for c in HOSTILE_DATA]
    assert len(names) == len(set(names))
    assert len(names) >= MINIMUM_CASES


def test_a_data_case_is_written_with_its_case_json(tmp_path: Path) -> None:
    case = next(c for c in HOSTILE_DATA if c.name == "one-bad-of-300")
    write_data_case(tmp_path, case)
    written = json.loads((tmp_path / case.name / "case.json").read_text(encoding="utf-8"))
    assert written["exit_code"] == 2 and "not an image" in written["message"]
    assert written["commands"][0][:3] == ["learnt", "predict", "../_programs/images"]
    assert (tmp_path / case.name / "new" / "150.png").read_bytes() == b"not an image"
