"""All eight steps together, on real small data."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnt
from learnt.settings import make_settings
from learnt.training.lifecycle import run
from learnt.training.loop import Hooks, TrainState

from .conftest import TITANIC


def test_titanic_with_defaults(tmp_path: Path, titanic: pd.DataFrame) -> None:
    result = run(TITANIC, make_settings(label="survived", out=tmp_path))
    manifest = result.program.manifest
    assert manifest.metrics["accuracy"] > 0.75
    assert manifest.training.stop_reason in {"patience", "max_epochs"}
    assert result.state.best_epoch <= result.state.epoch
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == manifest.training.epochs
    assert set(json.loads(lines[0])) >= {"epoch", "train_loss", "val_loss", "val_accuracy"}

    # Preprocessing is fitted on the training rows only.
    age = manifest.preprocessing.numeric[
        [n.column for n in manifest.preprocessing.numeric].index("age")
    ]
    train_age = titanic["age"].iloc[result.split.train]
    assert age.median == train_age.median()
    assert age.mean == pytest.approx(train_age.fillna(train_age.median()).mean())
    everything = titanic["age"].fillna(titanic["age"].median())
    assert age.mean != pytest.approx(everything.mean())


def test_regression_reports_metrics_in_label_units(tmp_path: Path, diabetes: pd.DataFrame) -> None:
    program = learnt.train(diabetes, label="target", out=tmp_path)
    metrics = program.manifest.metrics
    assert program.task == "regression"
    assert metrics["r2"] > 0.3
    assert 30 < metrics["rmse"] < 80 and metrics["mae"] < metrics["rmse"]
    predictions = program.predict(diabetes)["prediction"]
    assert abs(predictions.mean() - diabetes["target"].mean()) < 20
    assert program.evaluate(diabetes)["n"] == len(diabetes)


def test_dates_missing_values_and_unlabelled_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 400
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2023-01-01", periods=rows, freq="13h").astype(str),
            "amount": np.where(rng.random(rows) < 0.1, np.nan, rng.gamma(2.0, 50.0, rows)),
            "channel": rng.choice(["web", "store", "phone", None], rows),
        }
    )
    weekend = pd.to_datetime(frame["when"]).dt.day_of_week >= 5
    frame["busy"] = np.where(weekend | (frame["amount"] > 150), "yes", "no")
    frame.loc[::50, "busy"] = None
    program = learnt.train(frame, label="busy", out=tmp_path)
    kinds = {c.name: c.kind for c in program.manifest.input_schema.features}
    assert kinds == {"when": "datetime", "amount": "numeric", "channel": "categorical"}
    assert (
        program.manifest.training.rows["train"]
        + program.manifest.training.rows["validation"]
        + program.manifest.training.rows["test"]
        == rows - 8
    )
    assert program.manifest.metrics["accuracy"] > 0.7
    new = frame.drop(columns="busy").assign(channel="fax")
    assert len(program.predict(new)) == rows


class InterruptAt(Hooks):
    """Ctrl-C during step 39's hooks: the loop takes it with step 40's outcome."""

    def on_batch_end(self, state: TrainState) -> None:
        if state.step == 39:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_still_freezes_and_evaluates_a_program(tmp_path: Path) -> None:
    result = run(TITANIC, make_settings(label="survived", out=tmp_path), hooks=[InterruptAt()])
    assert result.program.manifest.training.stop_reason == "interrupted"
    assert result.state.step == 40
    assert learnt.load(tmp_path / "program").manifest.metrics["n"] == 178


def test_quickstart_reaches_its_accuracy(tmp_path: Path) -> None:
    from learnt.quickstart import run_quickstart

    run_quickstart("tables", tmp_path)
    program = learnt.load(tmp_path / "program")
    assert program.manifest.metrics["accuracy"] >= 0.95
    assert (tmp_path / "digits.csv").is_file()
