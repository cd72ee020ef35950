"""Data-parallel training (DDP, gloo, 2 processes on the CPU): 2 ranks equal one process on the
same global batches; stop decisions are agreed; only rank 0 writes; a killed 2-rank run resumes
to the weights of one never stopped."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from learnt.training.distributed import Context, derived_seed, torchrun_command

from .conftest import TITANIC

# One rank of a loop on digits: started by `ranks` (RANK, WORLD_SIZE … set) or alone.
LOOP = """
import json, os, signal, sys
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from learnt.training.distributed import session
from learnt.training.families.mlp import size_mlp
from learnt.training.hooks import Hooks
from learnt.training.init import initialise
from learnt.training.loop import LoopData, LoopSettings, fit
from learnt.training.state import LoopState
from learnt.training.stopping import StopCriteria

mode, out, dtype = sys.argv[1], sys.argv[2], getattr(torch, sys.argv[3])
digits = load_digits()
numeric = torch.tensor((digits.data - 8) / 8, dtype=dtype)
categorical = torch.zeros((len(numeric), 0), dtype=torch.int64)
targets = torch.tensor(digits.target, dtype=torch.int64)
train, validation = slice(0, 1399), slice(1399, None)  # 21 batches of 64, then one of 55
train = LoopData((numeric[train], categorical[train]), targets[train])
validation = LoopData((numeric[validation], categorical[validation]), targets[validation])
criteria = {
    "equivalence": {"max_epochs": 50, "max_steps": 30},
    "patience": {"max_epochs": 50, "patience": 1},
    "interrupt": {"max_epochs": 50},
    "budget": {"max_epochs": 50, "time_budget": 3600.0},
}[mode]
settings = LoopSettings(
    task="classification", batch_size=64, learning_rate=1e-12 if mode == "patience" else 1e-3,
    weight_decay=1e-4, grad_clip=1.0, seed=0, criteria=StopCriteria(**criteria),
)


class OnOneRank(Hooks):
    # rank 1 alone is told to stop at step 5: a Ctrl-C, or its clock past the budget
    def __init__(self, rank):
        self.rank = rank

    def on_batch_end(self, state):
        if self.rank == 1 and state.step == 5:
            if mode == "interrupt":
                os.kill(os.getpid(), signal.SIGINT)
            elif mode == "budget":
                state.seconds += 7200.0


with session("cpu") as context:
    config = size_mlp(1399, 64, [], 10).model_copy(update={"dropout": 0.0})
    model = initialise(config, 0).to(dtype)
    state = fit(LoopState.start(model, settings, len(train)), train, validation, OnOneRank(context.rank))
    if mode == "equivalence" and context.is_main:
        save_file(model.state_dict(), out)
    if mode != "equivalence":
        outcome = {"step": state.step, "epoch": state.epoch, "reason": state.stop_reason}
        with open(f"{out}.{context.rank}.json", "w") as handle:
            json.dump(outcome, handle)
"""

# One rank of `learnt train` under torchrun; rank 0 kills torchrun (SIGKILL) after step AT.
KILLED = """
import os, signal, sys, time
import learnt.training.hooks as hooks

at = int(os.environ["KILL_AT_STEP"])
original = hooks.ProgressBar.on_batch_end  # rank 0's hook


def on_batch_end(self, state):
    original(self, state)
    if state.step == at:
        os.kill(os.getppid(), signal.SIGKILL)  # torchrun; its death kills every rank
        time.sleep(60)


hooks.ProgressBar.on_batch_end = on_batch_end
sys.argv = ["learnt", *sys.argv[1:]]
from learnt.cli import main

main()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ranks(world: int, *args: str | Path) -> None:
    """Run `LOOP` on `world` processes, as torchrun would start them; each must succeed."""
    port = free_port()
    processes = []
    for rank in range(world):
        environment = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            **(
                {
                    "RANK": str(rank),
                    "LOCAL_RANK": str(rank),
                    "WORLD_SIZE": str(world),
                    "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": str(port),
                }
                if world > 1
                else {}
            ),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", LOOP, *map(str, args)],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=300)[0])
    finally:
        for process in processes:  # none left running, no pipe left open, whatever failed
            process.kill()
            process.communicate()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output


@pytest.mark.parametrize(("dtype", "tolerance"), [("float64", 1e-6), ("float32", 1e-5)])
def test_two_ranks_equal_one_process_on_the_same_global_batches(
    tmp_path: Path, dtype: str, tolerance: float
) -> None:
    """30 steps at a global batch of 64 (32 rows a rank; the odd last batch 28 + 27), one
    validation and the best epoch restored: the same weights as one process.

    The arithmetic differs only in the order of sums (a mean of two means of 32, not one of 64);
    AdamW divides each gradient by its own running scale, so where a gradient is nearly zero
    float32's rounding can move a weight by a few 1e-6 in 30 steps (2 of 139,264 in the first
    layer here); in float64 the two agree to ~1e-14.
    """
    ranks(1, "equivalence", tmp_path / "one.safetensors", dtype)
    ranks(2, "equivalence", tmp_path / "two.safetensors", dtype)
    one, two = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        assert torch.allclose(one[name], two[name], rtol=0, atol=tolerance), name


@pytest.mark.parametrize(
    ("mode", "reason", "step"),
    [("patience", "patience", None), ("interrupt", "interrupted", 6), ("budget", "time_budget", 5)],
)
def test_both_ranks_stop_together_for_the_same_reason(
    tmp_path: Path, mode: str, reason: str, step: int | None
) -> None:
    """Patience (decided on reduced validation), and a Ctrl-C or a clock past the budget on
    rank 1 alone: both ranks stop at the same step. (A Ctrl-C during step 5's hooks is taken
    with step 6's outcome, so that both ranks checkpoint and stop on the same answer.)"""
    ranks(2, mode, tmp_path / "outcome", "float32")
    outcomes = [json.loads((tmp_path / f"outcome.{rank}.json").read_text()) for rank in (0, 1)]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["reason"] == reason
    assert step is None or outcomes[0]["step"] == step


def test_shards_cover_each_global_batch_once() -> None:
    batch = torch.arange(7)
    parts = [Context(rank, 3).shard(batch) for rank in range(3)]
    rows = torch.cat([rows for rows, _ in parts])
    assert sorted(rows.tolist()) == list(range(7))
    assert sum(share for _, share in parts) / 3 == pytest.approx(1.0)  # DDP's mean: the batch's
    rows, share = Context(3, 8).shard(torch.arange(2))
    assert share == 0.0 and len(rows) == 1  # no row left for rank 3: one row at weight 0
    spans = [Context(rank, 3).part(10) for rank in range(3)]
    assert [len(range(10)[span]) for span in spans] == [3, 3, 4]
    assert derived_seed(0, 1, 0, "dropout") != derived_seed(0, 1, 1, "dropout")


def test_torchrun_command_drops_nproc_and_uses_this_python() -> None:
    command = torchrun_command(["train", "d.csv", "--nproc", "2", "--label", "y", "--nproc=2"], 2)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[-5:] == ["learnt", "train", "d.csv", "--label", "y"]
    assert "--standalone" in command


# --- learnt train on 2 ranks under torchrun -------------------------------------------------------

ARGUMENTS = ("train", TITANIC, "--label", "survived", "--epochs", "3", "--checkpoint-steps", "5")


def launched(*args: str | Path) -> subprocess.CompletedProcess:
    """`learnt ARGS --nproc 2`: the command line starts torchrun (`distributed.launch`)."""
    return subprocess.run(
        [sys.executable, "-m", "learnt", *map(str, args), "--nproc", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run_dir = tmp_path_factory.mktemp("ddp") / "whole"
    result = launched(*ARGUMENTS, "--out", run_dir)
    assert result.returncode == 0, result.stdout
    return run_dir, result.stdout


def test_only_rank_0_prints_and_writes(uninterrupted: tuple[Path, str]) -> None:
    run_dir, output = uninterrupted
    assert output.count("stopped  max_epochs") == 1
    assert "2 processes (gloo, CPU)" in output
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines if "within_epoch" not in line] == [1, 2, 3]
    assert (run_dir / "program" / "program.json").is_file()
    assert not (run_dir / ".shared").exists()
    assert not (run_dir / "checkpoints").exists()  # a whole run leaves its program only


def test_a_killed_two_rank_run_resumes_to_the_same_weights(
    tmp_path: Path, uninterrupted: tuple[Path, str]
) -> None:
    run_dir = tmp_path / "killed"
    torchrun = torchrun_command([*map(str, ARGUMENTS), "--out", str(run_dir)], 2)
    module = torchrun.index("-m", 3)  # `-m learnt` → the script that kills torchrun at step 12
    (tmp_path / "killed.py").write_text(KILLED)
    torchrun[module : module + 2] = [str(tmp_path / "killed.py")]
    killed = subprocess.run(
        torchrun,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "KILL_AT_STEP": "12"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout
    wait_until_unlocked(run_dir)  # the ranks died with torchrun
    assert [p.name for p in (run_dir / "checkpoints").glob("step-*")][-1:] == ["step-000000010"]
    assert not (run_dir / "program").exists()
    alone = tmp_path / "alone"  # the same checkpoint, continued on one process: allowed
    shutil.copytree(run_dir, alone)
    one = subprocess.run(
        [sys.executable, "-m", "learnt", "train", TITANIC, "--resume", alone],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stdout
    assert (alone / "program" / "program.json").is_file()

    resumed = launched("train", TITANIC, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert "resume" in resumed.stdout
    whole, _ = uninterrupted
    weights = load_file(run_dir / "program" / "weights.safetensors")
    expected = load_file(whole / "program" / "weights.safetensors")
    for name, tensor in expected.items():
        assert torch.equal(weights[name], tensor), name


def wait_until_unlocked(run_dir: Path, seconds: float = 30.0) -> None:
    """Until no process holds the run directory's lock (the kernel frees it when rank 0 dies)."""
    deadline = time.monotonic() + seconds
    handle = os.open(run_dir / ".lock", os.O_RDWR)
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "a rank outlived torchrun"
                time.sleep(0.1)
    finally:
        os.close(handle)


def test_ctrl_c_stops_every_rank_and_rank_0_freezes_the_program(tmp_path: Path) -> None:
    """Ctrl-C to `learnt train --nproc 2`: torchrun passes it to each rank; they stop after the
    step, rank 0 keeps a checkpoint and freezes the best parameters; exit 130."""
    run_dir = tmp_path / "run"
    arguments = ["train", TITANIC, "--label", "survived", "--epochs", "300", "--patience", "0"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "learnt", *map(str, arguments), "--out", run_dir, "--nproc", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    try:
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
            assert launcher.poll() is None and time.monotonic() < deadline, "no epoch ended"
            time.sleep(0.1)
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)  # the launcher's group: torchrun and ranks
            launcher.wait()
        assert launcher.stdout is not None
        launcher.stdout.close()
    assert launcher.returncode == 130, output
    assert output.count("stopped  interrupted") == 1
    assert (run_dir / "program" / "program.json").is_file()
    assert [p.name for p in (run_dir / "checkpoints").glob("step-*")], output
    epochs = len([line for line in metrics.read_text().splitlines() if "within_epoch" not in line])
    assert epochs < 300
