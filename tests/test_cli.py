"""The command line on good input: help, train --json, --force, evaluate, inspect and predict.

Commands run in-process (`tests.cli_runner.invoke`); exit codes of user
errors come from `learnt.cli.main` and are covered in test_errors.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from learnt.cli import main
from learnt.errors import UsageError
from learnt.runtime.format import FORMAT_VERSION
from tests.cli_runner import invoke as run_cli

TITANIC = Path(__file__).parent / "data" / "titanic.csv"
STOP_REASONS = {
    "max_epochs",
    "max_steps",
    "target_loss",
    "target_accuracy",
    "patience",
    "time_budget",
    "interrupted",
    "non_finite",
}
COMMANDS = ("train", "evaluate", "predict", "inspect", "quickstart")
PROGRAM_FILES = {"program.json", "weights.safetensors", "model.onnx"}
RUN_FILES = {
    "program",
    "metrics.jsonl",
    "settings.json",
    "report.html",
    "run.json",
    "evaluation.json",
}


def invoke(*args: object) -> Any:
    """`learnt ARGS` in-process; returns its Outcome (stdout and stderr kept apart)."""
    return run_cli(*args)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.exception, result.output)
    return result


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- help -----------------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = ok(invoke("--help"))
    for command in COMMANDS:
        assert command in result.stdout
    assert "Labelled data in, a program out" in result.stdout


def test_train_help_lists_the_flags() -> None:
    result = ok(invoke("train", "--help"))
    text = " ".join(result.stdout.split())
    for flag in ("--label", "--epochs", "--max-steps", "--test-size", "--out", "--force", "--json"):
        assert flag in text


# --- train ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """`learnt train titanic.csv --label survived --max-steps 5 --json`, run once for this module."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = invoke(
        "train", TITANIC, "--label", "survived", "--max-steps", "5", "--out", run_dir, "--json"
    )
    return ok(result), run_dir


def test_train_json_is_one_object_on_stdout(trained: tuple[Any, Path]) -> None:
    result, run_dir = trained
    report = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(report, dict)
    assert {"program", "stop_reason", "epochs", "seconds_per_epoch", "test"} <= report.keys()
    assert report["program"] == str(run_dir / "program")
    assert report["stop_reason"] in STOP_REASONS
    assert report["stop_reason"] == "max_steps"
    assert report["epochs"] == 1
    assert report["steps"] == 5
    assert isinstance(report["seconds_per_epoch"], float)
    assert report["seconds_per_epoch"] >= 0
    test = report["test"]
    assert test["task"] == "classification"
    assert test["n"] == 178  # the 20 % hold-out of 891 rows
    assert 0 <= test["accuracy"] <= 1
    # the human report goes to stderr
    for step in ("data", "split", "schema", "architecture", "stopped", "program", "test"):
        assert step in result.stderr
    assert "{" not in result.stderr.splitlines()[0]


def test_train_writes_the_run_directory(trained: tuple[Any, Path]) -> None:
    _, run_dir = trained
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    assert {p.name for p in (run_dir / "program").iterdir()} == PROGRAM_FILES
    settings = json.loads((run_dir / "settings.json").read_text())
    assert (settings["label"], settings["max_steps"], settings["patience"]) == ("survived", 5, 10)
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(epochs) == 1


def test_existing_program_refused_then_replaced_with_force(
    trained: tuple[Any, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = Path(shutil.copytree(trained[1], tmp_path / "run"))
    before = digest(run_dir / "program")

    refused = invoke("train", TITANIC, "--label", "survived", "--max-steps", "2", "--out", run_dir)
    assert isinstance(refused.exception, UsageError)
    assert "already exists" in str(refused.exception)
    assert "--force" in str(refused.exception)
    assert digest(run_dir / "program") == before

    # through the entry point: exit code 2 and the message on stderr
    monkeypatch.setattr(
        sys, "argv", ["learnt", "train", str(TITANIC), "-l", "survived", "--out", str(run_dir)]
    )
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert f"{run_dir / 'program'}: already exists; pass --force" in " ".join(
        capsys.readouterr().err.split()
    )
    assert digest(run_dir / "program") == before

    args = ("--max-steps", "2", "--seed", "3", "--out", run_dir, "--force", "--json", "--quiet")
    replaced = ok(invoke("train", TITANIC, "--label", "survived", *args))
    assert replaced.stderr == ""  # --quiet: only the JSON, on stdout
    assert json.loads(replaced.stdout)["steps"] == 2
    assert digest(run_dir / "program") != before
    manifest = json.loads((run_dir / "program" / "program.json").read_text(encoding="utf-8"))
    assert manifest["training"]["seed"] == 3
    assert {p.name for p in (run_dir / "program").iterdir()} == PROGRAM_FILES
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "evaluation.json",
        "metrics.jsonl",
        "program",
        "report.html",
        "run.json",
        "settings.json",
    ]  # no .old/.partial


# --- evaluate -------------------------------------------------------------------------------------


def test_evaluate_json(titanic_program) -> None:
    result = ok(invoke("evaluate", titanic_program.path, TITANIC, "--json"))
    metrics = json.loads(result.stdout)
    assert metrics["task"] == "classification"
    assert metrics["n"] == 891
    assert {"accuracy", "loss", "macro_f1", "confusion_matrix"} <= metrics.keys()
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (2, 2)
    assert confusion.sum() == 891
    assert confusion.sum(axis=1).tolist() == [549, 342]  # true classes of titanic.csv
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / 891)
    assert 0 <= metrics["macro_f1"] <= 1
    assert metrics["loss"] > 0
    assert "accuracy" in result.stderr
    assert "confusion matrix" in result.stderr


def test_evaluate_leaves_out_rows_without_label(titanic_program, tmp_path: Path) -> None:
    frame = pd.read_csv(TITANIC).head(100)
    frame.loc[:9, "survived"] = None
    frame.to_csv(tmp_path / "some.csv", index=False)
    metrics = json.loads(
        ok(invoke("evaluate", titanic_program.path, "some.csv", "--json", "-q")).stdout
    )
    assert metrics["n"] == 90
    direct = titanic_program.evaluate(frame.iloc[10:])
    assert metrics["confusion_matrix"] == direct["confusion_matrix"]
    assert metrics["loss"] == pytest.approx(direct["loss"], abs=1e-9)


def test_evaluate_report_writes_a_page_with_the_same_metrics(titanic_program) -> None:
    result = ok(
        invoke("evaluate", titanic_program.path, TITANIC, "--report", "eval.html", "--json")
    )
    metrics = json.loads(result.stdout)
    page = Path("eval.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Confusion matrix" in page
    assert f"{metrics['accuracy']:.3f}" in page
    assert "wrote the evaluation report to eval.html" in " ".join(result.stderr.split())


# --- report ---------------------------------------------------------------------------------------


def test_report_rebuilds_a_runs_page(titanic_program) -> None:
    run_dir = titanic_program.path.parent
    result = ok(invoke("report", run_dir, "--out", "again.html"))
    again = Path("again.html").read_text(encoding="utf-8")
    assert again == (run_dir / "report.html").read_text(encoding="utf-8")
    assert "again.html" in result.stderr


def test_report_of_a_folder_that_is_no_run_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("report", tmp_path)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, UsageError)


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_json_is_the_manifest(titanic_program) -> None:
    result = ok(invoke("inspect", titanic_program.path, "--json"))
    manifest = json.loads(result.stdout)
    assert manifest == json.loads(
        (titanic_program.path / "program.json").read_text(encoding="utf-8")
    )
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["task"] == "classification"
    assert manifest["input_schema"]["label"] == "survived"
    assert manifest["labels"]["classes"] == [0, 1]
    assert set(manifest["files"]) == {"weights.safetensors", "model.onnx"}
    assert manifest["training"]["stop_reason"] in STOP_REASONS
    assert {"accuracy", "loss", "macro_f1"} <= manifest["metrics"].keys()


def test_inspect_for_people(titanic_program) -> None:
    result = ok(invoke("inspect", titanic_program.path))
    assert result.stderr == ""  # results on stdout, so `learnt inspect p > info.txt` keeps them
    text = " ".join(result.stdout.split())
    for fragment in (
        f"format {FORMAT_VERSION}",
        "classification",
        "label survived",
        "architecture mlp",
        "test accuracy",
    ):
        assert fragment in text


# --- predict --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passengers() -> pd.DataFrame:
    """200 titanic rows in shuffled order, with an id, the label and an unrelated extra column."""
    frame = pd.read_csv(TITANIC)
    frame.insert(0, "passenger", np.arange(1, len(frame) + 1))
    frame["note"] = "extra"
    order = np.random.default_rng(7).permutation(len(frame))[:200]
    return frame.iloc[order].reset_index(drop=True)


def expected_predictions(program: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """What the Python API predicts from the feature columns alone."""
    return program.predict(frame.drop(columns=["passenger", "survived", "note"]))


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def assert_same_predictions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    for column in ("proba_0", "proba_1"):
        np.testing.assert_allclose(
            got[column].to_numpy(float), expected[column].to_numpy(float), atol=1e-6
        )


def test_predict_to_stdout(titanic_program, passengers: pd.DataFrame, tmp_path: Path) -> None:
    passengers.to_csv(tmp_path / "new.csv", index=False)
    result = ok(invoke("predict", titanic_program.path, "new.csv"))
    assert result.stderr == ""
    got = pd.read_csv(io.StringIO(result.stdout))
    assert list(got.columns) == ["prediction", "proba_0", "proba_1"]
    assert len(got) == len(passengers)
    assert_same_predictions(got, expected_predictions(titanic_program, passengers))
    np.testing.assert_allclose(got["proba_0"] + got["proba_1"], 1.0, atol=1e-9)
    assert (got["prediction"] == (got["proba_1"] > got["proba_0"]).astype(int)).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_predict_output_format_by_extension(
    titanic_program, passengers: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    passengers.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / f"predictions{suffix}"
    result = ok(invoke("predict", titanic_program.path, "new.csv", "--out", out.name))
    assert result.stdout == ""
    assert f"wrote 200 predictions to {out.name}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["new.csv", out.name]
    )  # no .partial
    head = out.read_bytes()[:4]
    if suffix == ".parquet":
        assert head == b"PAR1"
    elif suffix == ".jsonl":
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 200
        assert list(json.loads(lines[0])) == ["prediction", "proba_0", "proba_1"]
    else:
        assert head == b"pred"
    got = read_output(out)
    assert list(got.columns) == ["prediction", "proba_0", "proba_1"]
    assert_same_predictions(got, expected_predictions(titanic_program, passengers))


def test_predict_keeps_row_order_and_ignores_extra_columns(
    titanic_program, passengers: pd.DataFrame, tmp_path: Path
) -> None:
    passengers.to_csv(tmp_path / "new.csv", index=False)
    ok(
        invoke(
            "predict",
            titanic_program.path,
            "new.csv",
            "--keep",
            "passenger",
            "--out",
            "a.csv",
            "-q",
        )
    )
    got = pd.read_csv(tmp_path / "a.csv")
    assert list(got.columns) == ["passenger", "prediction", "proba_0", "proba_1"]
    assert got["passenger"].tolist() == passengers["passenger"].tolist()

    # the same rows reversed, with a nonsense label and no extra columns: the reversed predictions
    reversed_rows = passengers.iloc[::-1].assign(survived="?").drop(columns=["note"])
    reversed_rows.to_csv(tmp_path / "reversed.csv", index=False)
    ok(
        invoke(
            "predict", titanic_program.path, "reversed.csv", "--keep", "passenger", "--out", "b.csv"
        )
    )
    back = pd.read_csv(tmp_path / "b.csv").iloc[::-1].reset_index(drop=True)
    assert back["passenger"].tolist() == got["passenger"].tolist()
    assert_same_predictions(back, got)


def test_predict_keep_copies_columns_in_order(
    titanic_program, passengers: pd.DataFrame, tmp_path: Path
) -> None:
    passengers.head(20).to_json(tmp_path / "new.jsonl", orient="records", lines=True)
    args = ("--keep", "name", "--keep", "passenger", "--out", "p.jsonl")
    ok(invoke("predict", titanic_program.path, "new.jsonl", *args))
    got = pd.read_json(tmp_path / "p.jsonl", lines=True)
    assert list(got.columns) == ["name", "passenger", "prediction", "proba_0", "proba_1"]
    assert got["name"].tolist() == passengers["name"].head(20).tolist()
    assert got["passenger"].tolist() == passengers["passenger"].head(20).tolist()


def test_predict_runtimes_agree(titanic_program, passengers: pd.DataFrame, tmp_path: Path) -> None:
    passengers.to_parquet(tmp_path / "new.parquet")
    onnx = pd.read_csv(
        io.StringIO(ok(invoke("predict", titanic_program.path, "new.parquet")).stdout)
    )
    torch = pd.read_csv(
        io.StringIO(
            ok(invoke("predict", titanic_program.path, "new.parquet", "--runtime", "torch")).stdout
        )
    )
    assert len(onnx) == 200
    np.testing.assert_allclose(onnx["proba_1"], torch["proba_1"], atol=1e-5)
