"""Checkpoints: the loop's whole state saved while it trains, so a killed run loses little.

    run_dir/
      .lock                      held (flock) by the training that writes here
      checkpoints/
        fitted/                  preprocessing, labels, tokenizer: reused as they are on resume
        step-000001200/          state.safetensors, state.json, fingerprint.json
        step-000002400/          the newest; the last `keep` are kept

A checkpoint is written every `every_steps` optimiser steps or `every_seconds` seconds, whichever
comes first, and when a run is interrupted. It is built in a hidden `.step-….partial` folder, every
file flushed to disk (fsync), then renamed into place, so a crash during a write leaves the
previous checkpoints as they were; a full disk or an unwritable folder is a `CheckpointError`
that names the folder and also leaves them. `--resume RUN_DIR` loads the newest checkpoint that
reads whole, after checking its fingerprint — settings, training data, architecture — against the
run being resumed, and names whatever differs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learnt.errors import LearntError, UsageError
from learnt.settings import flag_name
from learnt.training.hooks import Hooks
from learnt.training.state import STATE_JSON, LoopState, TrainState

CHECKPOINTS, FITTED, FINGERPRINT, LOCK = "checkpoints", "fitted", "fingerprint.json", ".lock"
# settings that say where and how to write, not what to train: they may change on resume; so may
# where it runs (the batch is shared out: a run continues on other processes or devices, exactly
# when they are the same)
NOT_FINGERPRINTED = frozenset(
    {"out", "force", "resume", "checkpoint_steps", "checkpoint_seconds", "keep_checkpoints", "log"}
    | {"nproc", "device"}
)


class CheckpointError(LearntError):
    """A checkpoint could not be written (full disk, unwritable folder); the previous ones stand."""


@dataclass(frozen=True)
class CheckpointPolicy:
    every_steps: int  # 0: never by steps
    every_seconds: float  # 0: never by time
    keep: int


class Checkpoints(Hooks):
    """Saves `loop` into `directory` by the policy; the loop calls it after every step."""

    def __init__(
        self, loop: LoopState, directory: Path, policy: CheckpointPolicy, fingerprint: dict
    ) -> None:
        self.loop, self.directory, self.policy, self.fingerprint = (
            loop,
            directory,
            policy,
            fingerprint,
        )
        self.saved_step, self.saved_at = loop.state.step, time.monotonic()

    def on_batch_end(self, state: TrainState) -> None:
        by_steps = (
            self.policy.every_steps and state.step - self.saved_step >= self.policy.every_steps
        )
        by_time = (
            self.policy.every_seconds
            and time.monotonic() - self.saved_at >= self.policy.every_seconds
        )
        if by_steps or by_time or state.interrupted:
            self.save()

    def save(self) -> Path:
        """Write the loop's state now (inside `fit`: the dropout stream is torch's default one)."""
        self.loop.generators.dropout.set_state(torch.get_rng_state())
        step = self.loop.state.step
        final = self.directory / f"step-{step:09d}"
        partial = self.directory / f".{final.name}.partial"
        try:
            shutil.rmtree(partial, ignore_errors=True)
            self.loop.save(partial)
            # the folder is made whole at once (fsynced, then renamed): no file needs its own rename
            (partial / FINGERPRINT).write_text(json.dumps(self.fingerprint, indent=1), "utf-8")
            sync_folder(partial)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
            sync_folder(self.directory)
        except OSError as error:
            shutil.rmtree(partial, ignore_errors=True)
            full = " (the disk is full)" if error.errno == errno.ENOSPC else ""
            raise CheckpointError(
                f"{self.directory}: cannot write a checkpoint{full}: {error.strerror or error}; "
                "the previous checkpoints are kept",
                file=self.directory,
            ) from None
        self.saved_step, self.saved_at = step, time.monotonic()
        for old in saved_checkpoints(self.directory)[: -self.policy.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final


def sync_folder(folder: Path) -> None:
    """fsync every file in `folder` and the folder itself, so a rename after it is durable."""
    for path in [*folder.iterdir(), folder]:
        if path.is_dir() and path != folder:
            continue
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def saved_checkpoints(directory: Path) -> list[Path]:
    """The complete checkpoints in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("step-*") if (p / STATE_JSON).is_file())


def resume_latest(loop: LoopState, directory: Path, fingerprint: dict) -> Path:
    """Load the newest checkpoint that reads whole into `loop`; refuse a different run."""
    found = saved_checkpoints(directory)
    if not found:
        raise UsageError(f"{directory}: no checkpoint to resume from", file=directory)
    check_fingerprint(found[-1], fingerprint)
    problems = []
    for checkpoint in reversed(found):
        try:
            loop.load(checkpoint)
            return checkpoint
        except (UsageError, OSError, ValueError, KeyError) as error:
            problems.append(f"{checkpoint.name}: {error}")
    raise UsageError(
        f"{directory}: no checkpoint reads whole ({'; '.join(problems[:3])})", file=directory
    )


def check_fingerprint(checkpoint: Path, fingerprint: dict) -> None:
    """A clear refusal naming each setting, the data or the architecture that changed."""
    saved = json.loads((checkpoint / FINGERPRINT).read_text(encoding="utf-8"))
    changed = []
    for name, value in fingerprint.get("settings", {}).items():
        before = saved.get("settings", {}).get(name)
        if before != value:
            changed.append(f"{flag_name(name)} was {before!r}, now {value!r}")
    if saved.get("data") != fingerprint.get("data"):
        changed.append("the training data differ")
    if saved.get("architecture") != fingerprint.get("architecture"):
        changed.append("the architecture differs")
    if changed:
        shown = "; ".join(changed[:4]) + (
            f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
        )
        raise UsageError(
            f"cannot resume {checkpoint.parent.parent}: {shown}. Resume with the run's data and "
            "settings, or train into a new --out",
            file=checkpoint,
        )


def make_fingerprint(settings: dict[str, Any], arrays: list[Any], architecture: dict) -> dict:
    """What a checkpoint must match to be continued: settings, data (sha256), architecture."""
    digest = hashlib.sha256()
    for array in arrays:
        values = np.ascontiguousarray(array.numpy() if isinstance(array, torch.Tensor) else array)
        digest.update(str((values.dtype, values.shape)).encode())
        digest.update(values.data)
    kept = {k: v for k, v in settings.items() if k not in NOT_FINGERPRINTED}
    return {"settings": kept, "data": digest.hexdigest(), "architecture": architecture}


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory for this training; a second one on it fails at once, naming us.

    The lock is an flock on `run_dir/.lock`, which the kernel releases if the process dies; the
    file is removed on the way out, and so are the folders the run made and left empty
    (bad input leaves nothing behind).
    """
    import fcntl

    made = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode(errors="replace").strip() or "another process"
            raise UsageError(
                f"{run_dir}: a training is already writing here ({holder}); wait for it, or "
                "train into another --out",
                file=run_dir,
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            for folder in made:  # deepest first
                if any(folder.iterdir()):
                    break
                folder.rmdir()
    finally:
        os.close(handle)  # releases the lock
