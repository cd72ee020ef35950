"""The HTML report: written by every run, rebuilt from the run's files alone (without torch),
self-contained, escaped, and drawn by a real browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnt
from learnt.errors import DataError, MissingDependencyError, UsageError
from learnt.runtime.report import (
    EVALUATION,
    REPORT,
    RUN_FACTS,
    epoch_axis,
    epoch_lines,
    write_evaluation_report,
    write_run_report,
)
from learnt.training.loop import Hooks, TrainState

from .conftest import TITANIC, write_digit_folder

SECTIONS = ("data", "architecture", "init", "training", "program", "evaluation", "worst")
INLINE_PNG = 'src="data:image/png;base64,'


def report_of(program: learnt.Program) -> str:
    return (program.path.parent / REPORT).read_text(encoding="utf-8")


@pytest.fixture
def titanic_run(titanic_program: learnt.Program, tmp_path: Path) -> Path:
    """A copy of the session's titanic run directory, free to change."""
    run_dir = titanic_program.path.parent
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def test_a_run_writes_a_report_with_every_section(titanic_program: learnt.Program) -> None:
    run_dir = titanic_program.path.parent
    page = report_of(titanic_program)
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    manifest = titanic_program.manifest
    # data: source, dropped columns and why, split sizes, class balance
    assert "titanic.csv" in page and "ticket" in page and "id-like" in page
    assert "642 train / 71 validation / 178 test" in page and "Class balance" in page
    # architecture, init, training curves, the program's hashes and commands
    assert f"{manifest.architecture.shape()}" in page and "sizing rule read" in page
    assert "random" in page and f"{manifest.training.stop_reason} after 3 epochs" in page
    assert manifest.files["weights.safetensors"] in page and "learnt predict" in page
    # evaluation beside its baseline, per class, calibration; worst rows with their inputs
    assert "baseline: majority class" in page and "Per class" in page
    assert "Calibration" in page and "Confusion matrix" in page
    assert page.count(INLINE_PNG) >= 4  # class balance, curves, confusion matrix, calibration
    worst = json.loads((run_dir / EVALUATION).read_text())["worst"]
    assert len(worst) == 12 and set(worst[0]["inputs"]) == {
        c.name for c in manifest.input_schema.features
    }
    facts = json.loads((run_dir / RUN_FACTS).read_text())
    assert [sum(counts) for counts in facts["class_counts"].values()] == [642, 71, 178]


def test_the_report_is_self_contained(titanic_program: learnt.Program) -> None:
    page = report_of(titanic_program)
    assert "http://" not in page and "https://" not in page and 'src="//' not in page
    assert not re.search(r'(?:src|href)="(?!data:image/png;base64,|#)', page)
    assert "<script" not in page and "<link" not in page and "@import" not in page


REBUILD_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # importing torch now fails
from pathlib import Path
from learnt.runtime.report import write_run_report
print(write_run_report(Path(sys.argv[1])))
print(sorted(m for m in ("torch", "learnt.training") if sys.modules.get(m) is not None))
"""


def test_the_report_is_rebuilt_from_the_run_files_without_torch(
    titanic_program: learnt.Program, titanic_run: Path
) -> None:
    written = (titanic_run / REPORT).read_text(encoding="utf-8")
    (titanic_run / REPORT).unlink()
    result = subprocess.run(
        [sys.executable, "-c", REBUILD_WITHOUT_TORCH, str(titanic_run)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [str(titanic_run / REPORT), "[]"]
    rebuilt = (titanic_run / REPORT).read_text(encoding="utf-8")
    assert rebuilt.replace(str(titanic_run), "RUN") == written.replace(
        str(titanic_program.path.parent), "RUN"
    )


def test_the_report_can_be_written_elsewhere(titanic_run: Path, tmp_path: Path) -> None:
    out = write_run_report(titanic_run, tmp_path / "elsewhere.html")
    assert out == tmp_path / "elsewhere.html" and out.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(UsageError, match="is a folder; expected the report's file name"):
        write_run_report(titanic_run, tmp_path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UsageError, match="cannot be written"):
        write_run_report(titanic_run, tmp_path / "a-file" / "report.html")


def test_within_epoch_lines_are_left_out_of_the_curves(titanic_run: Path) -> None:
    metrics = titanic_run / "metrics.jsonl"
    step_line = {"epoch": 1, "step": 5, "train_loss": 9.0, "within_epoch": True}
    metrics.write_text(json.dumps(step_line) + "\n" + metrics.read_text())
    assert [line["epoch"] for line in epoch_lines(metrics)] == [1, 2, 3]
    write_run_report(titanic_run)
    assert "9.0000" not in (titanic_run / REPORT).read_text()


def test_a_two_phase_run_counts_its_epochs_across_the_phases() -> None:
    lines = [{"phase": phase, "epoch": epoch} for phase in ("head", "whole") for epoch in (1, 2)]
    assert epoch_axis(lines) == ([1, 2, 3, 4], [(1, "head"), (3, "whole")])
    assert epoch_axis([{"epoch": 1}, {"epoch": 2}]) == ([1, 2], [])


def test_a_missing_or_broken_run_is_a_clear_error(titanic_run: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such run directory"):
        write_run_report(tmp_path / "nowhere")
    with pytest.raises(UsageError, match=r"not a run directory \(no program/program.json\)"):
        write_run_report(tmp_path)
    (titanic_run / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(DataError, match=r"metrics.jsonl, line 2: not valid JSON") as error:
        write_run_report(titanic_run)
    assert error.value.file == str(titanic_run / "metrics.jsonl") and error.value.row == 2
    (titanic_run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "tra')  # killed
    assert [line["epoch"] for line in epoch_lines(titanic_run / "metrics.jsonl")] == [1]
    (titanic_run / EVALUATION).write_text("[1, 2]")
    with pytest.raises(DataError, match=r"evaluation.json: expected a JSON object"):
        write_run_report(titanic_run)


def test_a_run_from_before_the_report_files_still_gets_a_report(titanic_run: Path) -> None:
    (titanic_run / EVALUATION).unlink()
    (titanic_run / RUN_FACTS).unlink()
    page = (write_run_report(titanic_run)).read_text()
    assert "evaluation.json is missing" in page and "Confusion matrix" in page


MISSING_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None
from pathlib import Path
from learnt.errors import MissingDependencyError
from learnt.runtime.report import write_run_report
try:
    write_run_report(Path(sys.argv[1]))
except MissingDependencyError as error:
    print(error)
"""


def test_without_matplotlib_the_error_says_what_to_install(titanic_run: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MISSING_MATPLOTLIB, str(titanic_run)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pip install 'learnt[report]'" in result.stdout
    assert issubclass(MissingDependencyError, learnt.errors.LearntError)


HOSTILE_COLUMN = '<script>alert("column")</script>'
HOSTILE_CLASSES = ['<img src=x onerror=alert("class")>', "$\\frac{1}{0}$ & co"]


def test_names_from_the_data_are_escaped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    size = rng.normal(size=240)
    frame = pd.DataFrame(
        {
            HOSTILE_COLUMN: size,
            "<b>colour</b>": rng.choice(["red", "</td><td>green"], 240),
            "kind": np.where(size > 0, *HOSTILE_CLASSES),
        }
    )
    program = learnt.train(frame, label="kind", epochs=2, out=tmp_path)
    page = report_of(program)
    for raw in [HOSTILE_COLUMN, "<b>colour</b>", "</td><td>green", *HOSTILE_CLASSES]:
        assert raw not in page
    assert "&lt;script&gt;alert(&quot;column&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&quot;class&quot;)&gt;" in page
    assert "$\\frac{1}{0}$ &amp; co" in page  # and the confusion matrix drew it as plain text
    assert "<script" not in page and "onerror=" not in page.replace("onerror=alert(&quot;", "")


def test_a_regression_report_shows_residuals(tmp_path: Path, diabetes: pd.DataFrame) -> None:
    program = learnt.train(diabetes, label="target", epochs=3, out=tmp_path)
    page = report_of(program)
    assert "Residuals" in page and "Label distribution" in page
    assert "baseline: training mean" in page and "predicted − actual" in page
    assert "Confusion matrix" not in page and "validation accuracy" not in page
    predictions = json.loads((tmp_path / EVALUATION).read_text())
    assert predictions["rows"] == len(predictions["actual"]) == 88


def test_an_image_report_shows_thumbnails_of_the_worst_images(tmp_path: Path) -> None:
    folder = write_digit_folder(tmp_path / "digits", per_class=12, classes=3)
    program = learnt.train(folder, epochs=2, init="random", out=tmp_path / "run")
    page = report_of(program)
    worst = json.loads((tmp_path / "run" / EVALUATION).read_text())["worst"]
    assert worst and all(w["image"].startswith("data:image/png;base64,") for w in worst)
    assert page.count('<img class="thumb" src="data:image/png;base64,') == len(worst)
    assert "Confusion matrix" in page and "digits" in page


def test_a_text_report_shows_the_worst_texts(tmp_path: Path, sms_file: Path) -> None:
    program = learnt.train(sms_file, label="label", epochs=1, init="random", out=tmp_path)
    page = report_of(program)
    worst = json.loads((tmp_path / EVALUATION).read_text())["worst"]
    assert worst and all(w["text"] for w in worst)
    assert html.escape(worst[0]["text"]) in page
    assert "tokens, at most" in page and "echo" in page


class InterruptAt(Hooks):
    def on_batch_end(self, state: TrainState) -> None:
        if state.step == 10:
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_and_then_resumed_run_gets_its_report(tmp_path: Path) -> None:
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    settings = make_settings(label="survived", epochs=3, out=tmp_path)
    run(TITANIC, settings, hooks=[InterruptAt()])
    assert "interrupted after" in (tmp_path / REPORT).read_text()
    learnt.train(TITANIC, resume=tmp_path)
    page = (tmp_path / REPORT).read_text()
    assert "max_epochs after 3 epochs" in page and '<section id="worst">' in page


def test_evaluate_writes_the_evaluation_part_for_any_labelled_data(
    titanic_program: learnt.Program, tmp_path: Path
) -> None:
    from learnt.data.tables import read_table
    from learnt.runtime.evaluate import evaluate_table

    table = read_table(TITANIC)
    metrics = write_evaluation_report(titanic_program, table, tmp_path / "evaluation.html")
    assert metrics == evaluate_table(titanic_program, table)
    page = (tmp_path / "evaluation.html").read_text()
    assert '<section id="evaluation">' in page and '<section id="worst">' in page
    assert '<section id="architecture">' not in page and "891 labelled rows of" in page
    assert "were used in training" in page  # the warning, beside the scores


def test_a_browser_draws_the_report(titanic_program: learnt.Program, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium) to render the report")
    from PIL import Image

    shot = tmp_path / "report.png"
    report = (titanic_program.path.parent / REPORT).resolve()
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (2000, 1280)
    distinct = len(np.unique(pixels.reshape(-1, 3), axis=0))
    not_white = (pixels.min(axis=2) < 240).mean()
    assert distinct > 100 and pixels.std() > 20 and not_white > 0.03
