"""Data-parallel training: samples/s on 1 and 2 processes, and the program 2 ranks make.

    .venv/bin/python bench/distributed.py [--quick] [--device cpu|cuda] [--part speed|quality|all]

1. speed — samples per second of `learnt.training.loop.fit` (the global batch × steps ÷ seconds,
   warm-up steps untimed, no validation), with learnt's default network and batch for diamonds
   (price; the MLP for 38,836 rows, batch 512) and Fashion-MNIST (the CNN for 48,000 images,
   batch 128), prepared as `learnt train` prepares them. On the CPU: one process with every core
   as threads against one process per core with one thread each (torchrun, gloo), so the two never
   fight over cores. With `--device cuda`: also one process on the GPU (the GPU against its CPU
   cores); one process per GPU when there are several. Each configuration runs in fresh processes
   (`torch.distributed.run` for the ranks), alternating, `ROUNDS` times; the median is shown.
2. quality — `learnt train` with the shipped defaults on one process and on 2 (`--nproc 2`):
   diamonds (test R² on learnt's held-out fifth) and Fashion-MNIST (the 60,000 training images as
   PNG class folders; accuracy on the official 10,000 test images). Same settings, so the same
   epochs and steps — not the same wall clock; early stopping may end the two at different epochs.
   The batch is the same global batch on both, so the two programs differ only by float rounding
   and by their random draws (dropout, augmentation: each rank draws its own). `--quick`: 3 epochs
   of diamonds, 3,000 images and 2 epochs of Fashion-MNIST.

Goal: each 2-rank program within 0.01 of the one-process program (R², accuracy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    data_file,
    goal,
    heading,
    machine_load,
    median,
    others_watched,
    parse_args,
    require_modules,
)

HERE = Path(__file__).resolve()
GOAL_DIFFERENCE = 0.01
LAUNCH = (
    "import sys; from learnt.training.distributed import launch; "
    "sys.exit(launch(sys.argv[2:], int(sys.argv[1])))"
)
WARMUP_STEPS = 10
STEPS = {"diamonds": 150, "fashion": 40}
QUICK_STEPS = {"diamonds": 40, "fashion": 15}
ROUNDS, QUICK_ROUNDS = 3, 1
FASHION_TRAIN, FASHION_EPOCHS = 60_000, None  # None: learnt's default
QUICK_FASHION_TRAIN, QUICK_FASHION_EPOCHS = 3_000, 2


# --- part 1: one configuration's ranks (a child process; rank 0 prints one JSON line) ----------


def child(data_set: str, steps: int, device: str) -> None:
    """Train `steps` steps of the default network on `data_set`; rank 0 prints samples/s."""
    import torch

    from learnt.console import set_quiet
    from learnt.training.distributed import session
    from learnt.training.families import count_parameters
    from learnt.training.hooks import Hooks
    from learnt.training.init import initialise
    from learnt.training.loop import fit
    from learnt.training.state import LoopState, TrainState

    set_quiet(True)
    config, settings, train, validation = prepared(data_set, steps)

    class Clock(Hooks):
        """Seconds between the end of the warm-up and the last step."""

        def __init__(self) -> None:
            self.started = self.ended = 0.0

        def on_batch_end(self, state: TrainState) -> None:
            if state.step in (WARMUP_STEPS, steps):
                if device == "cuda":
                    torch.cuda.synchronize()
                now = time.perf_counter()
                self.started, self.ended = (
                    (now, 0.0)
                    if state.step == WARMUP_STEPS
                    else (
                        self.started,
                        now,
                    )
                )

    with session(device) as context:  # type: ignore[arg-type]
        model = initialise(config, settings.seed).to(context.device)
        if data_set == "fashion":
            model = model.to(memory_format=torch.channels_last)
        if context.device.type != "cpu":
            from dataclasses import replace

            train = replace(train, device=context.device)
        clock = Clock()
        fit(LoopState.start(model, settings, len(train)), train, validation, clock)
        if context.is_main:
            seconds = clock.ended - clock.started
            samples = (steps - WARMUP_STEPS) * settings.batch_size
            parameters = count_parameters(model)
            print(
                json.dumps(
                    {
                        "samples_per_second": samples / seconds,
                        "step_ms": 1000 * seconds / (steps - WARMUP_STEPS),
                        "batch": settings.batch_size,
                        "parameters": parameters,
                        "threads": torch.get_num_threads(),
                        "ranks": context.world_size,
                    }
                )
            )


def prepared(data_set: str, steps: int) -> tuple[Any, Any, Any, Any]:
    """(network config, loop settings, train, empty validation) as `learnt train` makes them."""
    import dataclasses

    from learnt.settings import make_settings
    from learnt.training.families import choose_architecture
    from learnt.training.lifecycle import make_loop_settings
    from learnt.training.prepare import prepare

    if data_set == "diamonds":
        settings = make_settings(label="price", max_steps=steps, patience=0, init="random")
        with tempfile.TemporaryDirectory() as run_dir:
            labelled, _, ready = prepare(data_file("diamonds.csv"), settings, Path(run_dir))
        train, kind, task = ready.train, "table", labelled.task
        sizes = ready.sizes
    else:
        train, sizes = fashion_loop_data()
        settings = make_settings(max_steps=steps, patience=0, init="random")
        kind, task = "images", "classification"
    config = choose_architecture(None, kind, sizes)
    loop_settings = make_loop_settings(settings, task, len(train), kind)
    empty = dataclasses.replace(train, rows=train.rows[:0]) if train.rows is not None else None
    if empty is None:
        empty = dataclasses.replace(
            train, inputs=tuple(x[:0] for x in train.inputs), targets=train.targets[:0]
        )
    return config, loop_settings, train, empty


def fashion_loop_data() -> tuple[Any, dict[str, Any]]:
    """The first 48,000 Fashion-MNIST training images as the loop reads them (a uint8 store)."""
    import numpy as np
    import torch
    from images import fashion_dir, read_part

    from learnt.data.images import fit_image_input
    from learnt.training.augment import ImageBatches
    from learnt.training.loop import LoopData

    images, labels = read_part(fashion_dir(), "train", 48_000)
    pixels = np.ascontiguousarray(images[:, None])  # [N, 1, 28, 28]
    spec = fit_image_input("image", pixels, 28, 1)
    rows = torch.arange(len(pixels))
    data = LoopData(
        (torch.from_numpy(pixels),),
        torch.from_numpy(labels.astype(np.int64)),
        rows,
        ImageBatches(spec, "none"),
        chunk_rows=512,
    )
    return data, {"images": len(pixels), "size": 28, "channels": 1, "n_outputs": 10}


# --- part 1: the configurations, alternated ----------------------------------------------------


def configurations(device: str) -> list[tuple[str, int, int, str]]:
    """(name, processes, threads per process, device) to compare."""
    cores = os.cpu_count() or 1
    found = [
        (f"1 process × {cores} threads (cpu)", 1, cores, "cpu"),
        (f"{cores} processes × 1 thread (cpu, gloo)", cores, 1, "cpu"),
    ]
    if cores > 2:
        found.insert(1, (f"2 processes × {cores // 2} threads (cpu, gloo)", 2, cores // 2, "cpu"))
    if device == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        found.append((f"1 process, GPU ({cores} CPU threads)", 1, cores, "cuda"))
        if gpus > 1:
            found.append((f"{gpus} processes × 1 GPU (nccl)", gpus, max(1, cores // gpus), "cuda"))
    return found


def measure(data_set: str, steps: int, processes: int, threads: int, device: str) -> dict:
    """One run of `child` on `processes` ranks; rank 0's JSON line."""
    arguments = [str(HERE), "--child", data_set, "--steps", str(steps), "--device", device]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, "--nproc-per-node", str(processes), *arguments]
    else:
        command = [sys.executable, *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("{"))
    return json.loads(line)


def speed(device: str, quick: bool) -> None:
    rounds = QUICK_ROUNDS if quick else ROUNDS
    for data_set in ("diamonds", "fashion"):
        steps = (QUICK_STEPS if quick else STEPS)[data_set]
        configs = configurations(device)
        heading(f"speed: {data_set}, {steps - WARMUP_STEPS} timed steps, {rounds} rounds each")
        results: dict[str, list[dict]] = {name: [] for name, *_ in configs}
        with others_watched():
            for _ in range(rounds):
                for name, processes, threads, where in configs:
                    results[name].append(measure(data_set, steps, processes, threads, where))
        first = results[configs[0][0]][0]
        weights_bytes = first["parameters"] * 4
        print(
            f"  network: {first['parameters']:,} parameters → an all-reduce of "
            f"{weights_bytes / 1e6:.2f} MB of float32 gradients per step; batch {first['batch']}"
        )
        baseline = median([r["samples_per_second"] for r in results[configs[0][0]]])
        for name, *_ in configs:
            rate = median([r["samples_per_second"] for r in results[name]])
            step_ms = median([r["step_ms"] for r in results[name]])
            print(
                f"  {name:<44} {rate:>10,.0f} samples/s  {step_ms:7.2f} ms/step  "
                f"×{rate / baseline:.2f}"
            )


# --- part 2: quality of the programs -------------------------------------------------------------


def train(arguments: list[str], nproc: int, root: Path, name: str) -> tuple[Path, float]:
    """`learnt train ARGUMENTS` on `nproc` processes (launched as `--nproc` does); the run dir."""
    run_dir = root / name
    argv = ["train", *arguments, "--out", str(run_dir), "--quiet"]
    if nproc > 1:  # what `learnt train … --nproc N` runs
        command = [sys.executable, "-c", LAUNCH, str(nproc), *argv, "--nproc", str(nproc)]
    else:
        command = [sys.executable, "-m", "learnt", *argv]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return run_dir, time.perf_counter() - started


def test_metric(run_dir: Path, metric: str) -> float:
    manifest = json.loads((run_dir / "program" / "program.json").read_text())
    return float(manifest["metrics"][metric])


def evaluated_accuracy(run_dir: Path, test_folder: Path) -> float:
    """`learnt evaluate PROGRAM TEST_FOLDER --json`'s accuracy."""
    command = [sys.executable, "-m", "learnt", "evaluate", str(run_dir / "program")]
    done = subprocess.run(
        [*command, str(test_folder), "--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        sys.exit(f"`learnt evaluate` failed:\n{done.stderr[-4000:]}")
    return float(json.loads(done.stdout)["accuracy"])


def quality(quick: bool) -> None:
    from images import fashion_dir, read_part, write_folder

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        heading("quality: diamonds, learnt train --label price (defaults), 1 vs 2 processes")
        diamonds = str(data_file("diamonds.csv"))
        arguments = [diamonds, "--label", "price"] + (["--epochs", "3"] if quick else [])
        scores = {}
        for nproc in (1, 2):
            run_dir, seconds = train(arguments, nproc, root, f"diamonds-{nproc}")
            scores[nproc] = test_metric(run_dir, "r2")
            print(
                f"  {nproc} process{'es' if nproc > 1 else ''}: test R² {scores[nproc]:.4f} in {seconds:.0f} s"
            )
        difference = abs(scores[2] - scores[1])
        goal(
            f"diamonds: 2-rank R² within {GOAL_DIFFERENCE} of one process (Δ {difference:.4f})",
            difference <= GOAL_DIFFERENCE,
        )

        count = QUICK_FASHION_TRAIN if quick else FASHION_TRAIN
        epochs = QUICK_FASHION_EPOCHS if quick else FASHION_EPOCHS
        shown = f"--epochs {epochs}" if epochs else "defaults"
        heading(
            f"quality: Fashion-MNIST, {count:,} training images, {shown}, "
            "official 10,000 test images, 1 vs 2 processes"
        )
        source = fashion_dir()
        train_folder = write_folder(root / "train", *read_part(source, "train", count))
        test_folder = write_folder(root / "test", *read_part(source, "test", 10_000))
        arguments = [str(train_folder), "--init", "random"]
        arguments += ["--epochs", str(epochs)] if epochs else []
        accuracy = {}
        for nproc in (1, 2):
            run_dir, seconds = train(arguments, nproc, root, f"fashion-{nproc}")
            accuracy[nproc] = evaluated_accuracy(run_dir, test_folder)
            print(
                f"  {nproc} process{'es' if nproc > 1 else ''}: test accuracy {accuracy[nproc]:.4f} in {seconds:.0f} s"
            )
        difference = abs(accuracy[2] - accuracy[1])
        goal(
            f"Fashion-MNIST: 2-rank accuracy within {GOAL_DIFFERENCE} of one process (Δ {difference:.4f})",
            difference <= GOAL_DIFFERENCE,
        )


def main() -> None:
    if "--child" in sys.argv:
        index = sys.argv.index("--child")
        steps = int(sys.argv[sys.argv.index("--steps") + 1])
        device = sys.argv[sys.argv.index("--device") + 1]
        child(sys.argv[index + 1], steps, device)
        return
    require_modules("torch")
    args = parse_args(
        "Data-parallel training: samples/s on 1 and 2 processes; quality of 2-rank programs.",
        lambda parser: (
            parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu"),
            parser.add_argument("--part", choices=["speed", "quality", "all"], default="all"),
        ),
    )
    if data_file("diamonds.csv") is None:
        sys.exit(0)
    machine_load()
    if args.part in ("speed", "all"):
        speed(args.device, args.quick)
    if args.part in ("quality", "all"):
        quality(args.quick)


if __name__ == "__main__":
    main()
