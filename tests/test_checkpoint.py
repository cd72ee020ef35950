"""Checkpoints and exact resume: runs killed with SIGKILL (mid-epoch, at an epoch's end, while a
checkpoint is being written) and resumed end bit-identical to runs never stopped; Ctrl-C freezes a
program, leaves a checkpoint and exits 130; a changed run is refused; a run directory is locked."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from learnt.errors import UsageError
from learnt.training.checkpoint import CheckpointError, locked, saved_checkpoints

from .conftest import TITANIC

# A child process: train with `learnt train`'s arguments, and kill itself at a chosen moment.
CHILD = """
import os, signal, sys
import learnt.training.hooks as hooks
import learnt.training.state as state
from learnt.cli import main

where, at = sys.argv[1], int(sys.argv[2])
if os.environ.get("FIXED_TOKENIZER"):  # WordPiece training is not reproducible run to run
    import learnt.data.text as text
    from tokenizers import Tokenizer
    text.fit_tokenizer = lambda texts: Tokenizer.from_file(os.environ["FIXED_TOKENIZER"])
sys.argv = ["learnt", "train", *sys.argv[3:]]

def die(sig=signal.SIGKILL):
    os.kill(os.getpid(), sig)

if where == "step":  # after step `at`'s parameter update, mid-epoch or not
    original_batch = hooks.ProgressBar.on_batch_end
    def on_batch_end(self, s):
        original_batch(self, s)
        if s.step == at:
            die()
    hooks.ProgressBar.on_batch_end = on_batch_end
elif where == "epoch":  # right after epoch `at` was validated and logged
    original_epoch = hooks.MetricsLog.on_epoch_end
    def on_epoch_end(self, s):
        original_epoch(self, s)
        if s.epoch == at:
            die()
    hooks.MetricsLog.on_epoch_end = on_epoch_end
elif where == "write":  # the checkpoint of step `at` written to its hidden folder, not yet renamed
    original_save = state.LoopState.save
    def save(self, directory):
        original_save(self, directory)
        if self.state.step == at:
            die()
    state.LoopState.save = save
elif where in ("ctrl-c", "ctrl-c-twice"):  # one Ctrl-C after step `at`, or two at once
    original_batch = hooks.ProgressBar.on_batch_end
    def on_batch_end(self, s):
        original_batch(self, s)
        if s.step == at:
            die(signal.SIGINT)
            if where == "ctrl-c-twice":
                die(signal.SIGINT)
    hooks.ProgressBar.on_batch_end = on_batch_end
main()
"""


def learnt_train(
    *args: str | Path, kill: tuple[str, int] = ("never", 0), tokenizer: Path | None = None
) -> subprocess.CompletedProcess:
    where, at = kill
    environment = {**os.environ, **({"FIXED_TOKENIZER": str(tokenizer)} if tokenizer else {})}
    return subprocess.run(
        [sys.executable, "-c", CHILD, where, str(at), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # learnt reports on stderr; one stream keeps the order
        text=True,
        timeout=300,
        env=environment,
    )


def weights(run_dir: Path) -> bytes:
    return (run_dir / "program" / "weights.safetensors").read_bytes()


RUNS = {  # family: (data, arguments); a checkpoint every 3 steps
    "mlp": lambda data: (TITANIC, "--label", "survived", "--epochs", "4"),
    "cnn": lambda data: (data["images"], "--epochs", "3", "--augment", "crop+flip"),
    "transformer": lambda data: (
        data["text"],
        "--label",
        "label",
        "--arch",
        "transformer",
        "--epochs",
        "2",
    ),
}


def checkpointed(family: str, data: dict[str, Path], run_dir: Path) -> tuple:
    """`learnt train` arguments of a family's run into `run_dir`, a checkpoint every 3 steps."""
    return (*RUNS[family](data), "--checkpoint-steps", "3", "--out", run_dir)


TRIALS = [  # (family, where the run is killed, at which step or epoch)
    ("mlp", "step", 7),  # mid-epoch (titanic: 16 steps an epoch)
    ("mlp", "epoch", 2),  # at an epoch's end
    ("mlp", "write", 12),  # while writing a checkpoint
    ("cnn", "step", 5),
    ("cnn", "write", 9),
    ("transformer", "step", 4),
    ("transformer", "epoch", 1),
]


@pytest.fixture(scope="module")
def data(digit_folder: Path, sms_file: Path) -> dict[str, Path]:
    return {"images": digit_folder, "text": sms_file}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory, sms_file: Path) -> Path:
    """One tokenizer for every text run: the `tokenizers` WordPiece trainer breaks ties
    differently from run to run, so two fresh runs would not even share a vocabulary."""
    import pandas as pd

    from learnt.data.text import fit_tokenizer

    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    fit_tokenizer(pd.read_csv(sms_file)["text"].tolist()).save(str(path))
    return path


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Path], tokenizer: Path
) -> dict:
    """Each family's run, never stopped: the weights a resumed run must reproduce."""
    done = {}
    for family in {family for family, _, _ in TRIALS}:
        run_dir = tmp_path_factory.mktemp(f"{family}-whole")
        result = learnt_train(*checkpointed(family, data, run_dir), tokenizer=tokenizer)
        assert result.returncode == 0, result.stdout
        done[family] = weights(run_dir)
    return done


@pytest.mark.parametrize(("family", "where", "at"), TRIALS)
def test_a_killed_run_resumes_bit_identical(
    tmp_path: Path,
    data: dict[str, Path],
    tokenizer: Path,
    uninterrupted: dict,
    family: str,
    where: str,
    at: int,
) -> None:
    run_dir = tmp_path / "run"
    arguments = checkpointed(family, data, run_dir)
    killed = learnt_train(*arguments, kill=(where, at), tokenizer=tokenizer)
    assert killed.returncode == -signal.SIGKILL
    assert not (run_dir / "program").exists()
    assert saved_checkpoints(run_dir / "checkpoints")
    resumed = learnt_train(*RUNS[family](data)[:1], "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert "resume" in resumed.stdout
    assert weights(run_dir) == uninterrupted[family]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [line["epoch"] for line in lines if not line.get("within_epoch")]
    assert epochs == sorted(set(epochs))  # each epoch logged once


def test_a_run_killed_within_a_long_epoch_resumes_with_the_same_metrics(tmp_path: Path) -> None:
    """Titanic in batches of 3: 214 steps an epoch, so a line every 100 steps within it; killed
    at step 140, resumed from step 135, the window of the line at step 200 began before it."""
    metrics = {}
    for name, kill in (("whole", ("never", 0)), ("resumed", ("step", 140))):
        run_dir = tmp_path / name
        arguments = ("--label", "survived", "--epochs", "2", "--batch-size", "3")
        first = learnt_train(
            TITANIC, *arguments, "--checkpoint-steps", "45", "--out", run_dir, kill=kill
        )
        assert first.returncode == (0 if name == "whole" else -signal.SIGKILL), first.stdout
        if name == "resumed":
            resumed = learnt_train(TITANIC, "--resume", run_dir)
            assert resumed.returncode == 0, resumed.stdout
        lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        metrics[name] = [{k: v for k, v in line.items() if k != "seconds"} for line in lines]
    assert metrics["resumed"] == metrics["whole"]
    within = [line["step"] for line in metrics["whole"] if line.get("within_epoch")]
    assert within == [100, 200, 314, 414]


def test_ctrl_c_freezes_a_program_leaves_a_checkpoint_and_exits_130(
    tmp_path: Path, data: dict[str, Path], uninterrupted: dict
) -> None:
    run_dir = tmp_path / "run"
    arguments = checkpointed("mlp", data, run_dir)
    stopped = learnt_train(*arguments, kill=("ctrl-c", 10))
    assert stopped.returncode == 130, stopped.stdout
    assert "interrupted" in stopped.stdout and "--resume" in stopped.stdout
    assert (run_dir / "program" / "program.json").is_file()
    # pressed during step 10's hooks: the step after it is checkpointed, and the run stops
    assert saved_checkpoints(run_dir / "checkpoints")[-1].name == "step-000000011"
    resumed = learnt_train(TITANIC, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert weights(run_dir) == uninterrupted["mlp"]


def test_resuming_with_other_settings_names_what_changed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = learnt_train(
        TITANIC,
        "--label",
        "survived",
        "--epochs",
        "1",
        "--checkpoint-steps",
        "3",
        "--out",
        run_dir,
        kill=("step", 5),
    )
    assert first.returncode == -signal.SIGKILL
    changed = learnt_train(TITANIC, "--resume", run_dir, "--lr", "0.01")
    assert changed.returncode == 2
    assert "--lr was 0.001, now 0.01" in changed.stdout
    assert "Traceback" not in changed.stdout
    other_data = tmp_path / "fewer.csv"
    other_data.write_text("".join(TITANIC.read_text().splitlines(keepends=True)[:600]))
    refused = learnt_train(other_data, "--resume", run_dir)
    assert refused.returncode == 2
    assert "the training data differ" in refused.stdout


def test_a_second_training_on_a_locked_run_directory_fails_at_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with locked(run_dir):
        second = learnt_train(TITANIC, "--label", "survived", "--epochs", "1", "--out", run_dir)
    assert second.returncode == 2
    assert "a training is already writing here" in second.stdout
    assert "pid" in second.stdout


def test_a_failed_checkpoint_write_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import learnt
    from learnt.training.state import LoopState

    run_dir = tmp_path / "run"
    original = LoopState.save
    calls = {"n": 0}

    def fill_the_disk(self: LoopState, directory: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, directory)

    monkeypatch.setattr(LoopState, "save", fill_the_disk)
    with pytest.raises(CheckpointError, match=r"the disk is full.*previous checkpoints are kept"):
        learnt.train(TITANIC, label="survived", epochs=2, checkpoint_steps=3, out=run_dir)
    kept = saved_checkpoints(run_dir / "checkpoints")
    assert [p.name for p in kept] == ["step-000000003", "step-000000006"]
    assert not list((run_dir / "checkpoints").glob(".*partial"))
    assert not (run_dir / "program").exists()


def test_resume_needs_a_run_directory(tmp_path: Path) -> None:
    import learnt

    with pytest.raises(UsageError, match="not a run directory to resume"):
        learnt.train(TITANIC, resume=tmp_path)


def test_a_loss_that_diverges_at_once_writes_no_program(tmp_path: Path) -> None:
    import learnt
    from learnt.errors import TrainingError

    with pytest.raises(TrainingError, match=r"at step \d+, before any epoch improved.*--lr 1e\+11"):
        learnt.train(TITANIC, label="survived", learning_rate=1e12, out=tmp_path / "run")
    assert not (tmp_path / "run" / "program").exists()
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_second_ctrl_c_exits_at_once_and_the_checkpoints_stay_whole(
    tmp_path: Path, data: dict[str, Path], uninterrupted: dict
) -> None:
    run_dir = tmp_path / "run"
    arguments = checkpointed("mlp", data, run_dir)
    stopped = learnt_train(*arguments, kill=("ctrl-c-twice", 10))
    assert stopped.returncode == 130, stopped.stdout
    assert "Traceback" not in stopped.stdout
    assert not (run_dir / "program").exists()
    assert saved_checkpoints(run_dir / "checkpoints")[-1].name == "step-000000009"
    resumed = learnt_train(TITANIC, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert weights(run_dir) == uninterrupted["mlp"]
