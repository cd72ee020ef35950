"""Every error a user can cause at the command line: a message naming the file, row and column and
what was expected, exit code 2, no traceback unless --debug, and nothing half-written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from learnt.cli import main
from learnt.errors import DataError, ProgramError
from learnt.runtime.format import FORMAT_VERSION

TITANIC = Path(__file__).parent / "data" / "titanic.csv"


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own directory, so a default `runs/` or a stray file shows up there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`learnt ARGS` in-process through the console entry point `learnt.cli.main`."""

    def invoke(*args: object) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["learnt", *map(str, args)])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        code = stopped.value.code
        return Outcome(0 if code is None else int(code), captured.out, captured.err)

    return invoke


def tree(root: Path) -> set[str]:
    """Every file and directory under `root` (hidden ones included), relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_user_error(outcome: Outcome, *fragments: str) -> None:
    """Exit code 2, one 'error:' message holding every fragment, no traceback, nothing on stdout."""
    assert outcome.code == 2, outcome
    message = " ".join(outcome.err.split())
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in outcome.err
    assert outcome.out == ""


# --- data files for the error cases -----------------------------------------------------------


def titanic_frame() -> pd.DataFrame:
    return pd.read_csv(TITANIC)


def write_copy(path: Path) -> None:
    shutil.copyfile(TITANIC, path)


def write_empty(path: Path) -> None:
    path.write_bytes(b"")


def write_header_only(path: Path) -> None:
    path.write_text(TITANIC.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")


def write_label_all_empty(path: Path) -> None:
    frame = titanic_frame()
    frame["survived"] = None
    frame.to_csv(path, index=False)


def write_one_class(path: Path) -> None:
    frame = titanic_frame()
    frame["survived"] = 1
    frame.to_csv(path, index=False)


def write_few_rows(path: Path) -> None:
    titanic_frame().head(5).to_csv(path, index=False)


def write_latin1(path: Path) -> None:
    path.write_bytes("city,y\nSão Paulo,0\nZürich,1\n".encode("latin-1"))


def write_short_row(path: Path) -> None:
    lines = TITANIC.read_text(encoding="utf-8").splitlines()[:30]
    path.write_text("\n".join([*lines, "1,2,3"]) + "\n", encoding="utf-8")


# --- train: bad data ------------------------------------------------------------------------------


TRAIN_DATA_ERRORS = [
    pytest.param(None, "missing.csv", [], ["missing.csv", "no such file"], id="missing-file"),
    pytest.param(
        write_copy,
        "titanic.txt",
        [],
        ["titanic.txt", "unsupported file type '.txt'", ".csv", ".jsonl", ".parquet"],
        id="unsupported-extension",
    ),
    pytest.param(
        write_empty, "empty.csv", [], ["empty.csv", "the file is empty", "header row"], id="empty"
    ),
    pytest.param(
        write_header_only, "header.csv", [], ["header.csv", "no data rows"], id="header-only"
    ),
    pytest.param(
        write_copy,
        "titanic.csv",
        ["--label", "survive"],
        [
            "titanic.csv",
            "no label column 'survive'",
            "Did you mean 'survived'?",
            "Columns: survived",
        ],
        id="label-missing",
    ),
    pytest.param(
        write_label_all_empty,
        "nolabels.csv",
        [],
        ["nolabels.csv", "'survived'", "empty"],
        id="label-all-empty",
    ),
    pytest.param(
        write_one_class,
        "oneclass.csv",
        [],
        ["oneclass.csv, column 'survived'", "only one class (1)", "at least two"],
        id="single-class",
    ),
    pytest.param(
        write_few_rows,
        "few.csv",
        [],
        ["few.csv", "only 5 labelled rows", "at least 10"],
        id="5-rows",
    ),
    pytest.param(write_latin1, "latin.csv", ["--label", "y"], ["latin.csv", "UTF-8"], id="latin-1"),
    pytest.param(
        write_short_row,
        "short.csv",
        ["--max-steps", "1"],
        ["short.csv", "row 30", "3 fields"],
        id="row-with-missing-fields",
    ),
    pytest.param(
        write_copy,
        "titanic.csv",
        ["--ignore", "nmae"],
        ["--ignore nmae", "no such column", "titanic.csv", "Did you mean 'name'"],
        id="ignore-unknown-column",
    ),
]


@pytest.mark.parametrize(("make", "name", "args", "fragments"), TRAIN_DATA_ERRORS)
def test_train_data_error(
    cli: Callable[..., Outcome],
    tmp_path: Path,
    make: Callable[[Path], None] | None,
    name: str,
    args: list[str],
    fragments: list[str],
) -> None:
    if make is not None:
        make(tmp_path / name)
    before = tree(tmp_path)
    label = [] if "--label" in args else ["--label", "survived"]
    outcome = cli("train", name, *label, *args)
    assert_user_error(outcome, *fragments)
    assert outcome.err.strip().splitlines()[-1].startswith("error: ")
    assert tree(tmp_path) == before  # no runs/, no program, no partial files


def test_train_a_folder_without_class_folders(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()  # a folder is read as images, one sub-folder per class
    outcome = cli("train", "data.csv")
    assert_user_error(outcome, "data.csv", "found 0 class folders", "one sub-folder per class")


def test_train_without_label_lists_the_columns(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    write_copy(tmp_path / "titanic.csv")
    outcome = cli("train", "titanic.csv")
    assert_user_error(outcome, "--label is required", "titanic.csv", "survived, pclass, name")
    assert tree(tmp_path) == {"titanic.csv"}


# --- train: bad flag values -----------------------------------------------------------------------


FLAG_ERRORS = [
    pytest.param(["--test-size", "1.5"], ["--test-size", "less than 1", "1.5"], id="test-size"),
    pytest.param(
        ["--val-size", "-0.1"], ["--val-size", "greater than or equal to 0"], id="val-size"
    ),
    pytest.param(
        ["--epochs", "0"], ["--epochs", "greater than or equal to 1", "(got 0)"], id="epochs"
    ),
    pytest.param(
        ["--max-steps", "0"], ["--max-steps", "greater than or equal to 1"], id="max-steps"
    ),
    pytest.param(["--batch-size", "0"], ["--batch-size", "greater than or equal to 1"], id="batch"),
    pytest.param(["--patience", "-1"], ["--patience", "greater than or equal to 0"], id="patience"),
    pytest.param(
        ["--target-accuracy", "1.5"],
        ["--target-accuracy", "less than or equal to 1"],
        id="target-acc",
    ),
    pytest.param(["--time-budget", "0"], ["--time-budget", "greater than 0"], id="time-budget"),
    pytest.param(
        ["--lr", "0"],
        ["--lr", "greater than 0"],
        id="lr",
    ),
    pytest.param(
        ["--val-size", "0", "--target-loss", "0.1"],
        ["--target-loss", "--val-size above 0"],
        id="target-without-validation",
    ),
    pytest.param(["--arch", "cnn"], ["--arch cnn", "mlp:3x256"], id="arch"),
    pytest.param(["--arch", "mlp:0x5"], ["--arch mlp:0x5", "depth must be"], id="arch-depth"),
    pytest.param(["--test-size", "abc"], ["--test-size", "invalid float value: 'abc'", "learnt train --help"], id="not-a-number"),
    pytest.param(["--task", "clustering"], ["--task", "invalid choice: 'clustering'", "regression"], id="task-choice"),
]


@pytest.mark.parametrize(("args", "fragments"), FLAG_ERRORS)
def test_train_bad_flag_value(
    cli: Callable[..., Outcome], tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    write_copy(tmp_path / "titanic.csv")
    outcome = cli("train", "titanic.csv", "--label", "survived", "--out", "run", *args)
    assert_user_error(outcome, *fragments)
    assert tree(tmp_path) == {"titanic.csv"}


def test_cross_field_flag_error_is_short(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    write_copy(tmp_path / "titanic.csv")
    outcome = cli(
        "train", "titanic.csv", "--label", "survived", "--val-size", "0", "--target-loss", "0.1"
    )
    assert outcome.code == 2
    assert "Value error" not in outcome.err
    assert "learning_rate" not in outcome.err


def test_train_out_is_a_file(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    write_copy(tmp_path / "titanic.csv")
    (tmp_path / "taken").write_text("not a directory\n", encoding="utf-8")
    outcome = cli(
        "train", "titanic.csv", "--label", "survived", "--out", "taken", "--max-steps", "1"
    )
    assert_user_error(outcome, "taken")
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "not a directory\n"


# --- user text in messages is printed as it is ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "fragments"),
    [
        ("data[v2].csv", ["--label", "survived"], ["data[v2].csv: no such file"]),
        ("data[/]x.csv", ["--label", "survived"], ["data[/]x.csv: no such file"]),
        ("units.csv", ["--label", "weight"], ["Did you mean 'weight[kg]'?"]),
    ],
    ids=["file-name", "closing-tag", "column-name"],
)
def test_brackets_in_names_survive(
    cli: Callable[..., Outcome], tmp_path: Path, name: str, args: list[str], fragments: list[str]
) -> None:
    frame = pd.DataFrame({"weight[kg]": [float(i) for i in range(20)], "x": range(20)})
    frame.to_csv(tmp_path / "units.csv", index=False)
    assert_user_error(cli("train", name, *args), *fragments)


# --- nothing half-written when training fails late -----------------------------------------------


def fail_export(*args: object, **kwargs: object) -> list[str]:
    raise RuntimeError("export failed")


def test_failure_while_freezing_leaves_no_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnt.settings import make_settings
    from learnt.training import lifecycle

    monkeypatch.setattr(lifecycle, "export_onnx", fail_export)
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="export failed"):
        lifecycle.run(TITANIC, make_settings(label="survived", max_steps=2, out=run_dir))
    assert not (run_dir / "program").exists()
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_failed_force_keeps_the_old_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, titanic_program
) -> None:
    import learnt as api
    from learnt.settings import make_settings
    from learnt.training import lifecycle

    run_dir = tmp_path / "run"
    shutil.copytree(titanic_program.path, run_dir / "program")
    before = {p.name: p.read_bytes() for p in (run_dir / "program").iterdir()}
    monkeypatch.setattr(lifecycle, "export_onnx", fail_export)
    with pytest.raises(RuntimeError, match="export failed"):
        lifecycle.run(
            TITANIC, make_settings(label="survived", max_steps=2, out=run_dir, force=True)
        )
    after = {p.name: p.read_bytes() for p in (run_dir / "program").iterdir()}
    assert after == before
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []
    api.load(run_dir / "program")  # still verifies


# --- predict and evaluate: bad data ---------------------------------------------------------------


def features(rows: int = 20) -> pd.DataFrame:
    return titanic_frame().head(rows).drop(columns="survived")


def test_predict_unparsable_number_names_row_and_column(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    frame = features().astype({"age": object})
    frame.loc[6, "age"] = "abc"  # the 7th data row
    frame.to_csv(tmp_path / "new.csv", index=False)
    before = tree(tmp_path)
    outcome = cli("predict", titanic_program.path, "new.csv", "--out", "preds.csv")
    assert_user_error(outcome, "new.csv, row 7, column 'age'", "expected a number", "'abc'")
    assert tree(tmp_path) == before  # no preds.csv, no .preds.csv.partial


def test_predict_unparsable_number_in_jsonl(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    frame = features(5).astype({"fare": object})
    frame.loc[3, "fare"] = "free"
    frame.to_json(tmp_path / "new.jsonl", orient="records", lines=True)
    outcome = cli("predict", titanic_program.path, "new.jsonl")
    assert_user_error(outcome, "new.jsonl, row 4, column 'fare'", "expected a number", "'free'")


@pytest.mark.parametrize(
    ("dropped", "fragment"),
    [
        (["age"], "missing feature column 'age'"),
        (["age", "fare"], "missing feature columns 'age', 'fare'"),
    ],
)
def test_predict_missing_feature_column(
    cli: Callable[..., Outcome],
    tmp_path: Path,
    titanic_program,
    dropped: list[str],
    fragment: str,
) -> None:
    features().drop(columns=dropped).to_csv(tmp_path / "new.csv", index=False)
    outcome = cli("predict", titanic_program.path, "new.csv")
    assert_user_error(outcome, "new.csv", fragment, "the program reads")
    with pytest.raises(DataError, match="missing feature column"):
        titanic_program.predict(tmp_path / "new.csv")


def test_predict_row_with_wrong_field_count(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    write_short_row(tmp_path / "short.csv")
    outcome = cli("predict", titanic_program.path, "short.csv")
    assert_user_error(outcome, "short.csv, row 30", "has 3 fields, expected 11")


def test_predict_invalid_json_line(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    (tmp_path / "new.jsonl").write_text('{"age": 3}\n{"age": \n', encoding="utf-8")
    assert_user_error(
        cli("predict", titanic_program.path, "new.jsonl"), "new.jsonl, line 2", "not valid JSON"
    )


def test_predict_keep_unknown_column(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    features().to_csv(tmp_path / "new.csv", index=False)
    outcome = cli("predict", titanic_program.path, "new.csv", "--keep", "nmae", "--out", "p.csv")
    assert_user_error(outcome, "--keep nmae", "no such column", "new.csv", "Did you mean 'name'")
    assert not (tmp_path / "p.csv").exists()


def test_predict_unsupported_output_type(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    features().to_csv(tmp_path / "new.csv", index=False)
    outcome = cli("predict", titanic_program.path, "new.csv", "--out", "preds.txt")
    assert_user_error(outcome, "preds.txt", "unsupported file type '.txt'")
    assert tree(tmp_path) == {"new.csv"}


def test_predict_out_in_missing_directory(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    features().to_csv(tmp_path / "new.csv", index=False)
    outcome = cli("predict", titanic_program.path, "new.csv", "--out", "later/preds.csv")
    # Either outcome is fine: a clear error naming the directory, or the directory is created.
    if outcome.code == 2:
        assert_user_error(outcome, "later")
    else:
        assert outcome.code == 0
        assert len(pd.read_csv(tmp_path / "later" / "preds.csv")) == 20


def test_evaluate_without_label_column(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    features().to_csv(tmp_path / "new.csv", index=False)
    outcome = cli("evaluate", titanic_program.path, "new.csv")
    assert_user_error(outcome, "new.csv", "no label column 'survived'")


def test_evaluate_unknown_class_names_row(
    cli: Callable[..., Outcome], tmp_path: Path, titanic_program
) -> None:
    frame = titanic_frame().head(10).astype({"survived": object})
    frame.loc[2, "survived"] = "maybe"
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    outcome = cli("evaluate", titanic_program.path, "labelled.csv", "--json")
    assert_user_error(
        outcome,
        "labelled.csv, row 3, column 'survived'",
        "'maybe'",
        "not one of the program's classes",
    )


# --- programs that are missing, modified or of another format -----------------------------------


@pytest.fixture
def program_copy(tmp_path: Path, titanic_program) -> Path:
    """A private copy of the session's program, free to tamper with."""
    return Path(shutil.copytree(titanic_program.path, tmp_path / "program"))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(program: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((program / "program.json").read_text(encoding="utf-8"))
    change(manifest)
    (program / "program.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("name", ["weights.safetensors", "model.onnx"])
def test_modified_file_is_refused(
    cli: Callable[..., Outcome], tmp_path: Path, program_copy: Path, name: str
) -> None:
    flip_byte(program_copy / name)
    write_copy(tmp_path / "titanic.csv")
    outcome = cli("predict", "program", "titanic.csv")
    assert_user_error(outcome, f"program/{name}", "modified", "sha256 mismatch")
    import learnt as api

    with pytest.raises(ProgramError, match="sha256 mismatch"):
        api.load(program_copy)


def test_missing_file_is_refused(cli: Callable[..., Outcome], program_copy: Path) -> None:
    (program_copy / "model.onnx").unlink()
    assert_user_error(cli("inspect", "program"), "program/model.onnx", "missing from the program")


def test_unknown_format_version(cli: Callable[..., Outcome], program_copy: Path) -> None:
    edit_manifest(program_copy, lambda m: m.update(format_version=999))
    outcome = cli("inspect", "program", "--json")
    assert_user_error(
        outcome, "program/program.json", "format version 999 is not supported", "reads format 1"
    )


def test_manifest_not_json(cli: Callable[..., Outcome], program_copy: Path) -> None:
    (program_copy / "program.json").write_text("{ not json", encoding="utf-8")
    assert_user_error(cli("inspect", "program"), "program/program.json", "not valid JSON")


def test_manifest_invalid_field(cli: Callable[..., Outcome], program_copy: Path) -> None:
    edit_manifest(program_copy, lambda m: m.update(task="clustering"))
    assert_user_error(
        cli("inspect", "program"), "program/program.json", "invalid manifest at 'task'"
    )


def test_manifest_file_outside_program(cli: Callable[..., Outcome], program_copy: Path) -> None:
    edit_manifest(program_copy, lambda m: m["files"].update({"../data.csv": "0" * 64}))
    assert_user_error(cli("inspect", "program"), "'../data.csv'", "points outside the program")


def test_directory_that_is_not_a_program(cli: Callable[..., Outcome], tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    write_copy(tmp_path / "runs" / "titanic.csv")
    outcome = cli("predict", "runs", "runs/titanic.csv")
    assert_user_error(outcome, "runs", "not a learnt program (no program.json)")


@pytest.mark.parametrize("command", ["inspect", "evaluate", "predict"])
def test_program_that_does_not_exist(
    cli: Callable[..., Outcome], tmp_path: Path, command: str
) -> None:
    write_copy(tmp_path / "titanic.csv")
    args = [] if command == "inspect" else ["titanic.csv"]
    assert_user_error(cli(command, "nowhere", *args), "nowhere", "no such program directory")


# --- the real entry point, in a fresh process -----------------------------------------------------


def run_learnt(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learnt", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def bad_age_csv(tmp_path: Path) -> Path:
    frame = features(10).astype({"age": object})
    frame.loc[4, "age"] = "twelve"
    frame.to_csv(tmp_path / "new.csv", index=False)
    return tmp_path / "new.csv"


def test_process_exits_2_without_traceback(
    tmp_path: Path, titanic_program, bad_age_csv: Path
) -> None:
    done = run_learnt("predict", titanic_program.path, bad_age_csv.name, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: new.csv, row 5, column 'age': expected a number")
    assert "Traceback" not in done.stderr


def test_process_debug_shows_traceback(tmp_path: Path, titanic_program, bad_age_csv: Path) -> None:
    done = run_learnt("predict", titanic_program.path, bad_age_csv.name, "--debug", cwd=tmp_path)
    assert done.returncode not in (0, 2)
    assert "Traceback (most recent call last)" in done.stderr
    assert "learnt.errors.DataError: new.csv, row 5, column 'age'" in done.stderr


# --- the torch runtime on malformed weights; structured fields; --debug ---------------------------


def replace_file(program: Path, name: str, data: bytes) -> None:
    """Swap in other bytes for a program file and re-record their sha256, as a careless tool might."""
    import hashlib

    (program / name).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    edit_manifest(program, lambda m: m["files"].update({name: digest}))


def safetensors_bytes(tensors: dict) -> bytes:
    from safetensors.numpy import save

    return save(tensors)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not a readable safetensors file"),
        (b"\x80\x04\x95 a pickle, not safetensors", "not a readable safetensors file"),
        ((2**62).to_bytes(8, "little") + b"{}", "not a readable safetensors file"),
        (
            safetensors_bytes({"head.weight": np.zeros((3, 3), np.float32)}),
            "weights do not fit the architecture",
        ),
    ],
    ids=["empty", "pickle", "huge-header", "wrong-tensors"],
)
def test_unreadable_weights_on_the_torch_runtime(
    cli: Callable[..., Outcome], tmp_path: Path, program_copy: Path, content: bytes, fragment: str
) -> None:
    replace_file(program_copy, "weights.safetensors", content)
    write_copy(tmp_path / "titanic.csv")
    outcome = cli("predict", "program", "titanic.csv", "--runtime", "torch")
    assert_user_error(outcome, "program/weights.safetensors", fragment)
    assert "Traceback" not in outcome.err


def test_a_newer_format_version_says_to_upgrade(
    cli: Callable[..., Outcome], program_copy: Path
) -> None:
    edit_manifest(program_copy, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    assert_user_error(
        cli("inspect", "program"), f"format version {FORMAT_VERSION + 1}", "upgrade learnt"
    )
    edit_manifest(program_copy, lambda m: m.update(format_version=True))
    assert_user_error(cli("inspect", "program"), "format version True is not supported")


def test_an_unknown_architecture_family_is_named(
    cli: Callable[..., Outcome], program_copy: Path
) -> None:
    edit_manifest(program_copy, lambda m: m["architecture"].update(family="gpt"))
    assert_user_error(cli("inspect", "program"), "invalid manifest at 'architecture'", "gpt")


def test_errors_carry_their_place_as_fields(program_copy: Path, tmp_path: Path) -> None:
    import learnt as api

    bad = tmp_path / "bad.csv"
    frame = features().astype({"age": object})
    frame.loc[6, "age"] = "abc"  # the 7th data row
    frame.to_csv(bad, index=False)
    with pytest.raises(DataError) as raised:
        api.load(program_copy).predict(bad)
    assert raised.value.as_dict() == {
        "error": "DataError",
        "message": str(raised.value),
        "file": str(bad),
        "row": 7,
        "column": "age",
    }
    edit_manifest(program_copy, lambda m: m["architecture"].update(width=-5))
    with pytest.raises(ProgramError) as invalid:
        api.load(program_copy)
    assert invalid.value.field == "architecture.width"
    assert invalid.value.file == str(program_copy / "program.json")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_shows_the_traceback(cli: Callable[..., Outcome], where: str) -> None:
    args = ["inspect", "no-such-program"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    with pytest.raises(ProgramError, match="no such program directory"):
        cli(*args)


@pytest.mark.parametrize("content", [b"", b"garbage, not a graph"], ids=["empty", "garbage"])
def test_an_unloadable_onnx_graph_is_a_program_error(
    cli: Callable[..., Outcome], tmp_path: Path, program_copy: Path, content: bytes
) -> None:
    replace_file(program_copy, "model.onnx", content)
    write_copy(tmp_path / "titanic.csv")
    outcome = cli("predict", "program", "titanic.csv")
    assert_user_error(outcome, "program/model.onnx", "not a loadable ONNX graph")


def test_a_malformed_tokenizer_is_a_program_error(
    cli: Callable[..., Outcome], tmp_path: Path, text_program
) -> None:
    program = Path(shutil.copytree(text_program.path, tmp_path / "program"))
    replace_file(program, "tokenizer.json", b'{"model": "not a tokenizer"}')
    (tmp_path / "texts.csv").write_text("text\nfree prize now\n", encoding="utf-8")
    outcome = cli("predict", "program", "texts.csv")
    assert_user_error(outcome, "program/tokenizer.json", "not a readable tokenizer")
