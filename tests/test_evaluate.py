"""Evaluation that tells the truth: baselines, per-class scores, and warnings about the rows.

Every score is reported beside a naive baseline (the training majority class, or the training
mean); classifiers get per-class precision, recall, F1 and support; evaluating on rows the program
was trained on, or a classifier predicting one class for nearly every row, is warned about.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import learnt
from learnt.runtime.evaluate import classification_metrics, one_class_warning, summary
from tests.cli_runner import invoke as run_cli

DATA = Path(__file__).parent / "data"
TITANIC = DATA / "titanic.csv"
RELEASES = DATA / "programs"
OVERLAP = "were used in training: these scores are optimistic"
ONE_CLASS = "the program barely tells the classes apart"


def invoke(*args: object) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, (result.exception, result.output)
    return result


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def first_600(tmp_path_factory: pytest.TempPathFactory) -> learnt.Program:
    """A program trained on the first 600 titanic rows only (the rest are new to it)."""
    folder = tmp_path_factory.mktemp("first-600")
    pd.read_csv(TITANIC).head(600).to_csv(folder / "first.csv", index=False)
    return learnt.train(folder / "first.csv", label="survived", max_steps=20, out=folder / "run")


# --- baselines ------------------------------------------------------------------------------------


def test_majority_class_baseline_on_titanic(titanic_program) -> None:
    training = titanic_program.manifest.training
    assert sum(training.class_counts) == training.rows["train"]
    metrics = titanic_program.evaluate(TITANIC)
    baseline = metrics["baseline"]
    majority = titanic_program.classes[int(np.argmax(training.class_counts))]
    assert baseline["class"] == majority == 0
    truth = pd.read_csv(TITANIC)["survived"]
    assert baseline["accuracy"] == pytest.approx((truth == majority).mean())  # 549 / 891
    share = (truth == majority).mean()
    assert baseline["macro_f1"] == pytest.approx(2 * share / (1 + share) / 2)  # one F1, one 0
    assert f"(majority class: {baseline['accuracy']:.3f})" in summary(metrics)
    # the test metrics stored at training time carry their baseline too
    assert titanic_program.manifest.metrics["baseline"]["strategy"] == "majority class"


def test_training_mean_baseline_for_regression(diabetes: pd.DataFrame, tmp_path: Path) -> None:
    program = learnt.train(diabetes, label="target", max_steps=5, out=tmp_path / "run")
    metrics = program.evaluate(diabetes)
    baseline = metrics["baseline"]
    mean = program.manifest.labels.mean
    error = mean - diabetes["target"].to_numpy()
    assert baseline["mean"] == pytest.approx(mean)
    assert baseline["mae"] == pytest.approx(np.abs(error).mean())
    assert baseline["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert baseline["r2"] <= 1e-12
    assert "rmse" in summary(metrics) and "(training mean: " in summary(metrics)


# --- per-class scores -----------------------------------------------------------------------------


def test_per_class_agrees_with_sklearn(titanic_program) -> None:
    from sklearn.metrics import classification_report

    frame = pd.read_csv(TITANIC)
    predicted = titanic_program.predict(frame)["prediction"].astype(int)
    report = classification_report(frame["survived"], predicted, output_dict=True, zero_division=0)
    rows = titanic_program.evaluate(frame)["per_class"]
    assert [row["class"] for row in rows] == [0, 1]
    for row in rows:
        expected = report[str(row["class"])]
        assert row["precision"] == pytest.approx(expected["precision"])
        assert row["recall"] == pytest.approx(expected["recall"])
        assert row["f1"] == pytest.approx(expected["f1-score"])
        assert row["support"] == expected["support"]


def test_evaluate_prints_a_per_class_table(titanic_program) -> None:
    result = invoke("evaluate", titanic_program.path, TITANIC)
    assert "per class" in result.stdout
    assert "precision" in result.stdout and "support" in result.stdout
    assert "549" in result.stdout and "342" in result.stdout


# --- warnings: rows seen in training --------------------------------------------------------------


def test_overlap_warning_on_the_training_rows(first_600: learnt.Program) -> None:
    rows = first_600.manifest.training.rows
    seen = rows["train"] + rows["validation"]
    result = invoke("evaluate", first_600.path, first_600.manifest.training.data, "--json")
    warnings = json.loads(result.stdout)["warnings"]
    assert any(w.startswith(f"{seen} of 600 rows") and OVERLAP in w for w in warnings)
    assert OVERLAP in " ".join(result.stderr.split())


def test_overlap_is_the_same_from_a_dataframe(first_600: learnt.Program) -> None:
    frame = pd.read_csv(TITANIC).head(600)
    from_frame = first_600.evaluate(frame)["warnings"]
    from_csv = first_600.evaluate(first_600.manifest.training.data)["warnings"]
    assert [w for w in from_frame if OVERLAP in w] == [w for w in from_csv if OVERLAP in w] != []


def test_no_overlap_warning_on_new_rows(first_600: learnt.Program, tmp_path: Path) -> None:
    pd.read_csv(TITANIC).iloc[600:].to_csv(tmp_path / "new.csv", index=False)
    result = invoke("evaluate", first_600.path, "new.csv", "--json")
    assert not any(OVERLAP in w for w in json.loads(result.stdout)["warnings"])
    assert OVERLAP not in result.stderr
    # nor on the held-out test rows measured at training time
    assert not any(OVERLAP in w for w in first_600.manifest.metrics["warnings"])


# --- warnings: one class for nearly everything ----------------------------------------------------


def test_one_class_warning_from_the_confusion_matrix() -> None:
    targets = np.array([0] * 60 + [1] * 40)
    always_zero = np.tile([5.0, 0.0], (100, 1))
    metrics = classification_metrics(targets, always_zero, ["no", "yes"])
    assert "'no' is predicted for 100.0 % of rows but is 60.0 % of the labels" in (
        one_class_warning(metrics) or ""
    )
    honest = np.where(targets[:, None] == 0, [5.0, 0.0], [0.0, 5.0])
    assert one_class_warning(classification_metrics(targets, honest, ["no", "yes"])) is None
    mostly = classification_metrics(np.array([0] * 90 + [1] * 10), always_zero, ["no", "yes"])
    assert one_class_warning(mostly) is None  # that class is 90 % of the truth


def test_one_class_warning_on_a_degenerate_program(tmp_path: Path) -> None:
    frame = pd.read_csv(TITANIC)
    rng = np.random.default_rng(0)
    frame["survived"] = (rng.random(len(frame)) < 0.02).astype(int)  # 98 % class 0, noise
    frame.to_csv(tmp_path / "skewed.csv", index=False)
    program = learnt.train(tmp_path / "skewed.csv", label="survived", epochs=2, out=tmp_path / "r")
    result = invoke("evaluate", program.path, TITANIC, "--json")  # 38 % survived in truth
    warnings = json.loads(result.stdout)["warnings"]
    assert any(ONE_CLASS in w for w in warnings)
    assert ONE_CLASS in " ".join(result.stderr.split())


# --- the command line: stdout for results, stderr for notices -------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.stdout.strip() == f"learnt {learnt.__version__}"


def test_evaluate_results_on_stdout_notices_on_stderr(titanic_program) -> None:
    result = invoke("evaluate", titanic_program.path, TITANIC)
    assert result.stdout.startswith("accuracy ")
    assert "(majority class: " in result.stdout and "confusion matrix" in result.stdout
    assert "warning:" in result.stderr and "warning" not in result.stdout
    assert OVERLAP in " ".join(result.stderr.split())


def test_evaluate_json_keeps_stdout_to_the_json(titanic_program) -> None:
    result = invoke("evaluate", titanic_program.path, TITANIC, "--json")
    metrics = json.loads(result.stdout)
    assert {"baseline", "per_class", "warnings"} <= metrics.keys()
    assert "accuracy" in result.stderr and "per class" in result.stderr


def test_inspect_to_a_file_keeps_the_results(titanic_program) -> None:
    result = invoke("inspect", titanic_program.path)
    assert result.stderr == ""
    text = " ".join(result.stdout.split())
    assert "label survived" in text and "test accuracy" in text and "(majority class:" in text


# --- programs written before baselines and fingerprints -------------------------------------------


def test_mlp_of_0_1_0_still_evaluates() -> None:
    program = learnt.load(RELEASES / "0.1.0" / "mlp" / "program")
    assert program.manifest.training.row_fingerprints is None
    metrics = program.evaluate(TITANIC)
    assert metrics["baseline"] is None
    assert metrics["warnings"] == [] or not any(OVERLAP in w for w in metrics["warnings"])
    assert len(metrics["per_class"]) == 2
    result = invoke("evaluate", program.path, TITANIC)
    assert result.stdout.startswith("accuracy ") and "majority" not in result.stdout


def test_transformer_of_0_1_0_still_evaluates(tmp_path: Path) -> None:
    from learnt.datasets import write_sms_spam_sample

    sms = write_sms_spam_sample(tmp_path / "sms.csv")
    metrics = learnt.load(RELEASES / "0.1.0" / "transformer" / "program").evaluate(sms)
    assert metrics["baseline"] is None and metrics["n"] > 0
    assert {row["class"] for row in metrics["per_class"]} == {"ham", "spam"}


def test_cnn_of_0_1_0_still_evaluates(tmp_path: Path) -> None:
    inputs = RELEASES / "0.1.0" / "cnn" / "inputs"
    for image in inputs.glob("*.png"):
        label = image.stem.split("-")[0]
        (tmp_path / "digits" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, tmp_path / "digits" / label / image.name)
    result = invoke("evaluate", inputs.parent / "program", tmp_path / "digits", "--json")
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 12 and metrics["baseline"] is None
    assert sum(row["support"] for row in metrics["per_class"]) == 12
