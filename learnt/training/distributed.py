"""Data-parallel training on torchrun (DDP): the only module that touches `torch.distributed`.

    learnt train big.parquet --label y --nproc 2                        # launches torchrun
    torchrun --nproc-per-node 4 -m learnt train big.parquet --label y   # or torchrun yourself

Every rank runs the same lifecycle and the same loop; a `Context` (rank, world size, device) tells
them how to share the work:

* **batches** — each epoch's permutation is drawn from the shared seed, so every rank plans the
  same global batches of `--batch-size` rows; rank r takes rows r, r+W, r+2W … of each. The loss
  each rank backpropagates is weighted by its share of the batch, and DDP averages the gradients:
  the step is the one a single process takes on the whole batch (up to summation order), so the
  result does not depend on the number of processes, and a run may be resumed with another.
* **draws** — augmentation and dropout differ per rank: each step's are seeded from
  (seed, step, rank), so a checkpoint needs no rank's generators and resumes exactly.
* **decisions** — stop reasons are agreed after every step and epoch (the most urgent wins:
  a non-finite loss, then Ctrl-C on any rank, then the others), so all ranks stop together;
  validation is split into contiguous parts and its sums reduced, so exactly N rows count.
* **writing** — only rank 0 prints, writes checkpoints, metrics, the program and the report, and
  evaluates the test rows (through the program, as a user runs it); the others wait for it.

gloo on the CPU, NCCL on CUDA (each rank the GPU of its LOCAL_RANK).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

from learnt.console import is_quiet, set_quiet
from learnt.errors import TrainingError, UsageError

if TYPE_CHECKING:
    from learnt.kinds import Device
    from learnt.training.state import Generators
    from learnt.training.stopping import StopReason

# Ranks wait for rank 0 while it decodes images, probes a time budget or freezes the program.
TIMEOUT = timedelta(hours=2)
# Most urgent last: when ranks disagree (a Ctrl-C or a clock reached on one), the latest wins.
URGENCY: tuple[StopReason | None, ...] = (
    None,
    "max_epochs",
    "max_steps",
    "patience",
    "target_loss",
    "target_accuracy",
    "time_budget",
    "interrupted",
    "non_finite",
)
SHUTDOWN_SECONDS = "600"  # after a Ctrl-C, how long torchrun lets rank 0 freeze its program


@dataclass(frozen=True)
class Context:
    """Where this process stands among the ranks; one process is rank 0 of a world of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # --- training ------------------------------------------------------------------------------

    def replica(self, model: nn.Module) -> nn.Module:
        """The model to train with: wrapped in DDP (its gradients are all-reduced in backward,
        its buffers broadcast from rank 0) when there are ranks; else the model itself.
        Only the bare module is ever saved."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def shard(self, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's rows of a global batch (every W-th, from its rank), and the weight of its
        mean loss: rows here × W / rows in the batch, so that DDP's average of the weighted
        gradients is the gradient of the whole batch's mean loss. A rank left without rows (a
        last batch smaller than the world) computes one row at weight 0."""
        if not self.distributed:
            return batch, 1.0
        rows = batch[self.rank :: self.world_size]
        if len(rows) == 0:
            return batch[:1], 0.0
        return rows, len(rows) * self.world_size / len(batch)

    def reseed(self, generators: Generators, seed: int, step: int) -> None:
        """Ranks draw their own augmentation and dropout: seeded from (seed, step, rank) at each
        step, so a checkpoint resumes them exactly without saving every rank's generators.
        One process on the CPU keeps its continuing streams (saved in its checkpoints)."""
        if not self.distributed and self.device.type == "cpu":
            return
        generators.augment.manual_seed(derived_seed(seed, step, self.rank, "augment"))
        torch.manual_seed(derived_seed(seed, step, self.rank, "dropout"))  # dropout's generator

    def step_outcome(self, weighted_loss: float, interrupted: bool) -> tuple[float, bool]:
        """(the global batch's mean loss, whether any rank was interrupted), from this rank's
        weighted loss; one all-reduce."""
        if not self.distributed:
            return weighted_loss, interrupted
        loss, stopped = self.sum(weighted_loss / self.world_size, float(interrupted))
        return loss, stopped > 0

    def agree(self, reason: StopReason | None) -> StopReason | None:
        """One stop decision for every rank: the most urgent of theirs (see `URGENCY`)."""
        if not self.distributed:
            return reason
        code = torch.tensor([URGENCY.index(reason)], device=self.device)
        dist.all_reduce(code, op=dist.ReduceOp.MAX)
        return URGENCY[int(code.item())]

    def part(self, rows: int) -> slice:
        """This rank's contiguous part of `rows` evaluation rows: every row on exactly one rank."""
        start = rows * self.rank // self.world_size
        return slice(start, rows * (self.rank + 1) // self.world_size)

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the ranks (float64)."""
        if not self.distributed:
            return values
        totals = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(totals)
        return tuple(totals.tolist())

    def share_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm statistics) on every rank, before evaluating."""
        if self.distributed:
            for buffer in model.buffers():
                dist.broadcast(buffer.data, src=0)

    # --- decisions taken once ------------------------------------------------------------------

    def barrier(self) -> None:
        """Wait until every rank is here."""
        if self.distributed:
            dist.barrier(device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def broadcast_numbers(self, values: Sequence[float] | None, count: int) -> list[float]:
        """Rank 0's `count` numbers on every rank (others pass None)."""
        if not self.distributed:
            assert values is not None
            return list(values)
        numbers = torch.zeros(count, dtype=torch.float64, device=self.device)
        if self.is_main:
            assert values is not None and len(values) == count
            numbers[:] = torch.tensor(values, dtype=torch.float64)
        dist.broadcast(numbers, src=0)
        return numbers.tolist()

    def broadcast_text(self, text: str | None) -> str:
        """Rank 0's text on every rank (others pass None): its length, then its UTF-8 bytes."""
        if not self.distributed:
            assert text is not None
            return text
        encoded = (text or "").encode() if self.is_main else b""
        (length,) = self.broadcast_numbers([len(encoded)] if self.is_main else None, 1)
        data = torch.zeros(int(length), dtype=torch.uint8, device=self.device)
        if self.is_main and encoded:
            data[:] = torch.frombuffer(bytearray(encoded), dtype=torch.uint8)
        dist.broadcast(data, src=0)
        return bytes(data.cpu().tolist()).decode()

    def describe(self) -> str:
        """`2 processes (gloo, cpu)`, for the run's narration."""
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        where = "GPUs" if self.device.type == "cuda" else "CPU"
        return f"{self.world_size} processes ({backend}, {where}), the batch shared out"


def derived_seed(seed: int, step: int, rank: int, stream: str) -> int:
    """A 63-bit seed for one rank's draws at one step (a hash: no two (step, rank) collide)."""
    digest = hashlib.blake2b(f"{seed}/{step}/{rank}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


_current = Context()


def current() -> Context:
    """The context of the session in progress (one process on the CPU outside any)."""
    return _current


def launched_by_torchrun() -> bool:
    """Whether this process is one rank of a launched group (torchrun sets RANK, WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@contextlib.contextmanager
def session(device: Device = "auto") -> Iterator[Context]:
    """The context for one training: the process group joined (from torchrun's RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR and MASTER_PORT) and left again; other ranks than 0 quiet meanwhile.

    A group that the caller already joined is used and left as it is; a session inside a session
    is the same session.
    """
    global _current
    if _current.distributed:
        yield _current
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    context = Context(rank, world, local_rank, resolve_device(device, local_rank))
    joined = False
    if context.distributed and not dist.is_initialized():
        if context.device.type == "cuda":
            torch.cuda.set_device(context.device)
        backend = "nccl" if context.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
        joined = True
    if "TORCHELASTIC_RUN_ID" in os.environ:
        die_with_parent()  # torchrun starts ranks in sessions of their own
    quiet, previous = is_quiet(), _current
    set_quiet(quiet or not context.is_main)
    _current = context
    try:
        yield context
        if joined:  # leave together: a rank gone while a peer still reads its socket aborts it
            context.barrier()
    except RuntimeError as error:
        if context.distributed and peer_gone(error):  # its own error says why, on its rank
            raise TrainingError(f"rank {rank}: stopped, another rank ended the run") from None
        raise
    finally:
        _current = previous
        set_quiet(quiet)
        if joined:
            # DDP's reducer holds the group and sits in reference cycles: freed now, while the
            # group is alive, rather than by the collector at exit, where gloo's threads abort
            gc.collect()
            dist.destroy_process_group()


def peer_gone(error: RuntimeError) -> bool:
    """Whether a collective failed because another rank's process ended (gloo, NCCL)."""
    text = str(error)
    return any(sign in text for sign in ("Connection closed by peer", "Connection reset by peer"))


def resolve_device(device: Device, local_rank: int = 0) -> torch.device:
    """cpu; or this rank's GPU (LOCAL_RANK) for cuda, and for auto when CUDA is available."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError(
            "--device cuda: torch sees no CUDA GPU (torch.cuda.is_available() is False); "
            "train with --device cpu, or install a CUDA build of torch",
            field="device",
        )
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise UsageError(
            f"--device {device}: this rank (LOCAL_RANK {local_rank}) has no GPU of its own: "
            f"{count} visible; start at most {count} processes per machine, or --device cpu",
            field="device",
        )
    return torch.device("cuda", local_rank)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies: a killed launcher or torchrun leaves
    no rank training on (PR_SET_PDEATHSIG). Elsewhere, nothing."""
    if (prctl := parent_death_call()) is not None:
        prctl()


def parent_death_call() -> Callable[[], None] | None:
    """A call that sets PR_SET_PDEATHSIG to SIGKILL (Linux), looked up before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


# --- launching ----------------------------------------------------------------------------------


def torchrun_command(argv: Sequence[str], nproc: int) -> list[str]:
    """`python -m torch.distributed.run … -m learnt ARGV` on this interpreter, without --nproc."""
    kept: list[str] = []
    skip_next = False
    for argument in argv:
        if skip_next:
            skip_next = False
        elif argument == "--nproc":
            skip_next = True
        elif not argument.startswith("--nproc="):
            kept.append(argument)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--standalone",
        "-m",
        "learnt",
        *kept,
    ]


def launch(argv: Sequence[str], nproc: int) -> int:
    """Run `learnt ARGV` on `nproc` processes under torchrun (this Python), and wait.

    `argv` are the command-line arguments after the program name, e.g. `["train", "data.csv",
    "--label", "y", "--nproc", "2"]`. The CPU's threads are shared out between the ranks (unless
    OMP_NUM_THREADS is set). Ctrl-C: the first is passed to torchrun, which passes it to each rank
    once — they stop after the batch, rank 0 freezes the program — the second goes straight to
    the ranks, which abort. Returns the exit code (130 after Ctrl-C).
    """
    environment = dict(os.environ)
    environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    environment.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", SHUTDOWN_SECONDS)
    process = subprocess.Popen(
        torchrun_command(argv, nproc),
        env=environment,
        start_new_session=True,  # Ctrl-C reaches torchrun through us only, once
        preexec_fn=parent_death_call(),  # a killed launcher leaves no torchrun behind
    )
    interrupts = 0

    def forward(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if signum == signal.SIGINT and interrupts > 1:
            for pid in child_pids(process.pid):  # the ranks, straight
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
        else:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, forward) for number in handled}
    try:
        code = process.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 130 if interrupts and code != 0 else code


def child_pids(pid: int) -> list[int]:
    """The process ids of `pid`'s children (Linux /proc; none elsewhere)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []
