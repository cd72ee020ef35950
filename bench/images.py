"""Images end to end on Fashion-MNIST: quality and wall time, loop speed, prediction throughput.

    .venv/bin/python bench/images.py [--quick]

1. quality — the 60,000 training images are written as PNG files into class folders
   (`train/<class>/<index>.png`, class names from the data README with `/` and spaces as
   `_`: T-shirt_top, Trouser, …, Ankle_boot), the 10,000 test images likewise (`test/…`).
   `learnt train train/ --out run --quiet --json` runs as a child process; its wall time is the
   whole command (decoding, training, freezing, and evaluating on its own held-out fifth of the
   training images). `learnt evaluate run/program test/ --json` then gives the official test
   accuracy.
2. loop speed — seconds per epoch of `learnt.training.loop.fit` (with the hooks `learnt train --quiet`
   installs) against a hand-written PyTorch loop, on a subset of the training images prepared once
   by `learnt.training.prepare.prepare` (the same uint8 store, split and per-channel statistics): the
   same `ImageCNN` config and seed (the network part 1 trains), batch size, AdamW, warm-up +
   cosine schedule, clipping at 1.0, channels_last model, a fresh `ImageBatches` transform
   (augmentation and normalisation) per run, and one validation pass per epoch. Runs alternate
   after one untimed warm-up each; both sides do the same arithmetic in the same order, so their
   final validation losses must be identical.
3. prediction — images per second of the program from part 1 on the ONNX and torch runtimes, for
   batches of 1 and 256 inputs already decoded and normalised (the model alone), and of the
   end-to-end `learnt.runtime.predict.predict_table` over 1,000 PNG files (decoding included).

Goals: official test accuracy ≥ 0.91 within 10 minutes of `learnt train` (2 cores); learnt's loop
≤ 1.05 × the hand-written loop. `--quick`: 6,000 / 1,000 images and `--epochs 3` for part 1 (no
goal checked), a 3,000-image subset for part 2.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import (
    data_dir,
    goal,
    heading,
    machine_load,
    median,
    others_watched,
    parse_args,
    require_modules,
    run_child,
    skip,
)

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from learnt.runtime.format import CNNConfig, ImageInput
    from learnt.training.augment import ImageBatches
    from learnt.training.loop import LoopData, LoopSettings
    from learnt.training.state import TrainState

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = (
    "T-shirt_top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle_boot",
)
GOAL_ACCURACY, GOAL_SECONDS, GOAL_RATIO = 0.91, 600.0, 1.05


@dataclass(frozen=True)
class Sizes:
    """How much of Fashion-MNIST each part uses."""

    train: int  # images in train/ (part 1)
    test: int  # images in test/
    epochs: int | None  # part 1: --epochs, or None for learnt's default
    speed_images: int  # images in the part 2 folder (before learnt's split)
    speed_epochs: int
    speed_rounds: int  # timed runs per side
    predict_files: int  # files for the end-to-end prediction line
    predict_seconds: float  # per runtime, batch size and round


FULL = Sizes(60_000, 10_000, None, 12_000, 2, 4, 1_000, 2.0)
QUICK = Sizes(6_000, 1_000, 3, 3_000, 2, 2, 1_000, 0.5)


# --- data -------------------------------------------------------------------------------------


def fashion_dir() -> Path:
    """The folder holding the four IDX files; skip the benchmark when it is not installed."""
    candidates = [data_dir() / "fashion-mnist", SYSTEM_FASHION]
    for folder in candidates:
        if all((folder / name).is_file() for pair in FILES.values() for name in pair):
            return folder
    skip(
        f"Fashion-MNIST not found in {' or '.join(map(str, candidates))}; install it with "
        "`sudo apt-get install dataset-fashion-mnist`"
    )


def read_idx(path: Path) -> np.ndarray:
    """One gzip-compressed IDX file (the MNIST format) as a uint8 array."""
    import numpy as np

    with gzip.open(path) as file:
        raw = file.read()
    shape = np.frombuffer(raw, ">u4", count=raw[3], offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(shape)


def read_part(folder: Path, part: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` images [N, 28, 28] and labels [N] of the train or test part."""
    images, labels = (read_idx(folder / name) for name in FILES[part])
    return images[:count], labels[:count]


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write `root/<class name>/<index>.png`, one PNG per image (threads: zlib frees the GIL)."""
    from PIL import Image

    for name in CLASS_NAMES:
        (root / name).mkdir(parents=True, exist_ok=True)

    def save(i: int) -> None:
        Image.fromarray(images[i]).save(root / CLASS_NAMES[labels[i]] / f"{i:05d}.png")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(save, range(len(images)), chunksize=256))
    return root


def write_data(folder: Path, root: Path, sizes: Sizes) -> None:
    """train/, test/ and the part 2 subset speed/, timed."""
    started = time.perf_counter()
    train_images, train_labels = read_part(folder, "train", sizes.train)
    write_folder(root / "train", train_images, train_labels)
    write_folder(root / "test", *read_part(folder, "test", sizes.test))
    subset = slice(0, sizes.speed_images)
    write_folder(root / "speed", train_images[subset], train_labels[subset])
    print(
        f"wrote {sizes.train:,} train, {sizes.test:,} test and {sizes.speed_images:,} subset PNG "
        f"files (class folders named {', '.join(CLASS_NAMES[:3])}, …) in "
        f"{time.perf_counter() - started:.1f} s"
    )


# --- part 1: learnt train and learnt evaluate, as child processes ------------------------------


def learnt_command() -> list[str]:
    """The `learnt` script beside this interpreter, or `python -m learnt`."""
    script = Path(sys.executable).with_name("learnt")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "learnt"]


def run_json(argv: list[str], root: Path, name: str) -> tuple[dict[str, Any], float, float]:
    """Run a learnt command that prints one JSON object: (that object, wall s, peak MiB)."""
    stdout, stderr = root / f"{name}.json", root / f"{name}.err"
    child = run_child(argv, stdout, stderr)
    if child.exit_code != 0:
        sys.exit(
            f"`{' '.join(argv)}` failed (exit {child.exit_code}):\n{stderr.read_text()[-4000:]}"
        )
    return json.loads(stdout.read_text()), child.seconds, child.peak_mib


def quality(root: Path, sizes: Sizes) -> None:
    """Train with defaults, evaluate on the official test images, report and check the goal."""
    epochs = [] if sizes.epochs is None else ["--epochs", str(sizes.epochs)]
    train_argv = [*learnt_command(), "train", str(root / "train"), "--out", str(root / "run")]
    train_argv += ["--quiet", "--json", *epochs]
    shown = " ".join(["learnt", *train_argv[len(learnt_command()) :]])
    heading(f"quality: learnt train on {sizes.train:,} PNG files, defaults")
    print(f"  {shown}")
    with others_watched():
        trained, seconds, peak = run_json(train_argv, root, "train")
    evaluate_argv = [*learnt_command(), "evaluate", trained["program"], str(root / "test")]
    official, evaluate_seconds, _ = run_json([*evaluate_argv, "--json", "--quiet"], root, "test")
    report_training(trained, seconds, peak)
    print(
        f"  official test set ({official['n']:,} images, learnt evaluate, "
        f"{evaluate_seconds:.1f} s): accuracy {official['accuracy']:.4f}, "
        f"macro-F1 {official['macro_f1']:.4f}, loss {official['loss']:.4f}"
    )
    if sizes.epochs is not None:
        print("  (--quick: the accuracy and time goal is checked only on the full run)")
        return
    met = official["accuracy"] >= GOAL_ACCURACY and seconds <= GOAL_SECONDS
    goal(
        f"Fashion-MNIST: test accuracy ≥ {GOAL_ACCURACY} within {GOAL_SECONDS / 60:.0f} min "
        f"(got {official['accuracy']:.4f} in {seconds / 60:.1f} min)",
        met,
    )


def report_training(trained: dict[str, Any], seconds: float, peak: float) -> None:
    """The figures `learnt train --json` gives, next to the measured wall time."""
    held_out = trained["test"]
    print(f"  wall time {seconds:.1f} s (decode + train + freeze + evaluate), peak {peak:.0f} MiB")
    print(
        f"  training loop {trained['seconds']:.1f} s = {trained['seconds'] / seconds:.0%} of the "
        f"wall time; stop_reason {trained['stop_reason']}, {trained['epochs']} epochs "
        f"(best {trained['best_epoch']}, {trained['steps']} steps), "
        f"{trained['seconds_per_epoch']:.2f} s/epoch"
    )
    print(
        f"  learnt's own held-out test ({held_out['n']:,} training images): "
        f"accuracy {held_out['accuracy']:.4f}, macro-F1 {held_out['macro_f1']:.4f}"
    )


# --- part 2: learnt's loop against a hand-written one -------------------------------------------


@dataclass
class SpeedJob:
    """The prepared subset, the network and loop settings both sides use."""

    config: CNNConfig
    settings: LoopSettings
    spec: ImageInput
    augment: str
    train: LoopData
    validation: LoopData


@dataclass
class Timing:
    """One training run: seconds per epoch and the last validation loss."""

    epoch_seconds: list[float]
    final_val_loss: float


def speed_job(root: Path, sizes: Sizes) -> SpeedJob:
    """Prepare the subset as `learnt train` does; size the network and batch as for part 1."""
    from learnt.settings import make_settings
    from learnt.training.families import choose_architecture
    from learnt.training.lifecycle import make_loop_settings, prepare

    full_rows = part_one_train_rows(sizes.train)
    settings = make_settings(epochs=sizes.speed_epochs, patience=0, init="random")  # the CNN
    with tempfile.TemporaryDirectory() as run_dir:
        labelled, _, prepared = prepare(root / "speed", settings, Path(run_dir))
    config = choose_architecture(None, "images", {**prepared.sizes, "images": full_rows})
    loop = make_loop_settings(settings, labelled.task, full_rows, prepared.data_kind)
    assert prepared.fitted.preprocessing.image is not None
    return SpeedJob(
        config,
        replace(loop, criteria=replace(loop.criteria, max_epochs=sizes.speed_epochs)),
        prepared.fitted.preprocessing.image,
        settings.augment,
        prepared.train,
        prepared.validation,
    )


def part_one_train_rows(images: int) -> int:
    """Training rows of part 1: learnt's default split of `images` images, 10 per class."""
    import numpy as np

    from learnt.data.split import split_rows
    from learnt.settings import TrainSettings

    defaults = TrainSettings()
    classes = np.arange(images) % len(CLASS_NAMES)
    split = split_rows(
        classes, images, test_size=defaults.test_size, val_size=defaults.val_size, seed=0
    )
    return len(split.train)


def fresh_batches(job: SpeedJob) -> ImageBatches:
    """The transform both sides use (augmentation draws from a generator handed in per batch)."""
    from learnt.training.augment import ImageBatches

    return ImageBatches(job.spec, job.augment)  # type: ignore[arg-type]


def fresh_model(job: SpeedJob) -> nn.Module:
    """The network both sides train: seeded and built as `learnt.training.init.initialise` does,
    then channels_last as `learnt.training.lifecycle.run` sets it."""
    import torch

    from learnt.training.families.cnn import ImageCNN

    torch.manual_seed(job.settings.seed)
    return ImageCNN(job.config).to(memory_format=torch.channels_last)


def run_learnt(job: SpeedJob) -> Timing:
    """`learnt.training.loop.fit` with the hooks `learnt train --quiet` installs, plus an epoch clock."""
    from learnt.training.hooks import HookList, Hooks, MetricsLog, ProgressBar
    from learnt.training.loop import fit, planned_steps
    from learnt.training.state import LoopState

    class EpochClock(Hooks):
        def on_fit_start(self, state: TrainState) -> None:
            self.marks = [time.perf_counter()]

        def on_epoch_end(self, state: TrainState) -> None:
            self.marks.append(time.perf_counter())

    batches, settings, clock = fresh_batches(job), job.settings, EpochClock()
    train = replace(job.train, transform=batches)
    validation = replace(job.validation, transform=batches)
    model = fresh_model(job)
    with tempfile.TemporaryDirectory() as run_dir:
        hooks = HookList(
            [
                ProgressBar(planned_steps(len(train), settings), settings.criteria.max_epochs),
                MetricsLog(Path(run_dir) / "metrics.jsonl"),
                clock,
            ]
        )
        state = fit(LoopState.start(model, settings, len(train)), train, validation, hooks)
    seconds = [b - a for a, b in itertools.pairwise(clock.marks)]
    return Timing(seconds, float(state.val_loss or math.nan))


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def validation_loss(model: nn.Module, job: SpeedJob, batches: ImageBatches) -> float:
    """Mean cross-entropy (and accuracy, as any loop reports it) over 512-image chunks."""
    import torch
    from torch.nn import functional

    model.eval()
    (pixels,), rows, targets = job.validation.inputs, job.validation.rows, job.validation.targets
    assert rows is not None
    loss_sum, correct = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(rows), job.validation.chunk_rows):
            take = rows[start : start + job.validation.chunk_rows]
            outputs = model(*batches((pixels[take],), None))
            loss_sum += functional.cross_entropy(outputs, targets[take], reduction="sum").item()
            correct += int((outputs.argmax(1) == targets[take]).sum())
    return loss_sum / len(rows)


def run_plain(job: SpeedJob) -> Timing:
    """The loop a person would write in a notebook, with the same settings and transform."""
    import torch
    from torch.nn import functional

    settings, batches = job.settings, fresh_batches(job)
    epochs, batch = settings.criteria.max_epochs, settings.batch_size
    model = fresh_model(job)
    (pixels,), rows, targets = job.train.inputs, job.train.rows, job.train.targets
    assert rows is not None
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total = epochs * math.ceil(len(rows) / batch)
    warmup = max(1, int(total * settings.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, total)
    )
    generator = torch.Generator().manual_seed(settings.seed)
    augment = torch.Generator().manual_seed(settings.seed + 1)  # the streams learnt's loop uses
    torch.manual_seed(settings.seed + 2)  # dropout
    marks, val_loss = [time.perf_counter()], math.nan
    for _ in range(epochs):
        model.train()
        order, loss_sum = rows[torch.randperm(len(rows), generator=generator)], 0.0
        for start in range(0, len(order), batch):
            take = order[start : start + batch]
            images = batches((pixels[take],), augment)
            loss = functional.cross_entropy(model(*images), targets[take])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            loss_sum += loss.item()  # the epoch's training loss, as any loop reports it
        val_loss = validation_loss(model, job, batches)
        marks.append(time.perf_counter())
    return Timing([b - a for a, b in itertools.pairwise(marks)], val_loss)


def loop_speed(root: Path, sizes: Sizes) -> None:
    """Alternate learnt and hand-written runs; print medians, minima, the ratio, the goal."""
    job = speed_job(root, sizes)
    settings = job.settings
    heading(
        f"loop speed: {len(job.train):,} train / {len(job.validation):,} validation images of "
        f"{sizes.speed_images:,}, {job.config.describe()} (part 1's network), batch "
        f"{settings.batch_size}, augment {job.augment}, {settings.criteria.max_epochs} epochs × "
        f"{sizes.speed_rounds} runs per side"
    )
    warm = replace(settings, criteria=replace(settings.criteria, max_epochs=1))
    run_learnt(replace(job, settings=warm))  # warm-up, untimed
    run_plain(replace(job, settings=warm))
    learnt_runs, plain_runs = [], []
    with others_watched():
        for _ in range(sizes.speed_rounds):
            learnt_runs.append(run_learnt(job))
            plain_runs.append(run_plain(job))
    report_speed(learnt_runs, plain_runs)


def report_speed(learnt_runs: list[Timing], plain_runs: list[Timing]) -> None:
    learnt_s = [s for run in learnt_runs for s in run.epoch_seconds]
    plain_s = [s for run in plain_runs for s in run.epoch_seconds]
    ratio = median(learnt_s) / median(plain_s)
    print(f"  learnt loop        {median(learnt_s):7.2f} s/epoch median  {min(learnt_s):7.2f} min")
    print(f"  hand-written loop  {median(plain_s):7.2f} s/epoch median  {min(plain_s):7.2f} min")
    print(
        f"  ratio learnt / hand-written: {ratio:.3f}× (median)  "
        f"{min(learnt_s) / min(plain_s):.3f}× (min)"
    )
    pairs = zip(learnt_runs, plain_runs, strict=True)
    same = all(a.final_val_loss == b.final_val_loss for a, b in pairs)
    print(
        f"  identical final validation loss: {'yes' if same else 'NO'} "
        f"({learnt_runs[0].final_val_loss:.6g} vs {plain_runs[0].final_val_loss:.6g})"
    )
    goal(
        f"Fashion-MNIST: learnt loop ≤ {GOAL_RATIO}× hand-written (got {ratio:.3f}×)",
        ratio <= GOAL_RATIO,
    )


# --- part 3: prediction throughput ------------------------------------------------------------


def per_call_seconds(call: Callable[[], Any], seconds: float) -> float:
    """Mean seconds per call, calling repeatedly for at least `seconds`."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls == 0:
        call()
        calls += 1
    return elapsed / calls


def model_throughput(program: Any, image: np.ndarray, sizes: Sizes) -> None:
    """Images per second of each runtime's network on decoded, normalised inputs."""
    from learnt.data.encode import Encoded
    from learnt.runtime.predict import onnx_runner
    from learnt.training.torch_runtime import torch_runner

    runners = {"onnx": onnx_runner(program), "torch": torch_runner(program)}
    full = Encoded({"image": image})
    gap = float(abs(runners["onnx"](full) - runners["torch"](full)).max())
    print(f"  onnx and torch outputs differ by at most {gap:.2g} on {len(image)} images")
    for batch in (1, 256):
        inputs = Encoded({"image": image[:batch]})
        rounds: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(3):  # alternate runtimes, so load on the machine hits both alike
            for name, run in runners.items():
                call = functools.partial(run, inputs)
                rounds[name].append(per_call_seconds(call, sizes.predict_seconds))
        rate = {name: batch / median(times) for name, times in rounds.items()}
        print(
            f"  batch {batch:>3}: onnx {rate['onnx']:8.0f} images/s   torch "
            f"{rate['torch']:8.0f} images/s   onnx / torch {rate['onnx'] / rate['torch']:.2f}×"
        )


def end_to_end(program: Any, table: Any) -> None:
    """`predict_table` over image files: decoding, normalising and the network, per runtime."""
    from learnt.runtime.predict import onnx_runner, predict_table
    from learnt.training.torch_runtime import torch_runner

    for runtime, runner in (("onnx", onnx_runner), ("torch", torch_runner)):
        started = time.perf_counter()
        predict_table(program, table, runner)
        seconds = time.perf_counter() - started
        print(
            f"  predict_table, {len(table):,} PNG files, {runtime:<5}: {len(table) / seconds:6.0f} "
            f"images/s ({seconds:.2f} s, decoding included)"
        )


def prediction(root: Path, sizes: Sizes) -> None:
    import numpy as np

    from learnt.data.encode import encode
    from learnt.runtime.predict import read_inputs
    from learnt.runtime.program import load

    program = load(root / "run" / "program")
    heading(f"prediction: {program.manifest.architecture.get('family')} program from part 1")
    files = read_inputs(program, [root / "test"])
    step = max(1, len(files) // sizes.predict_files)
    table = files.take(np.arange(0, len(files), step)[: sizes.predict_files])
    image = encode(table.take(np.arange(256)), program.manifest.preprocessing).arrays["image"]
    with others_watched():
        model_throughput(program, image, sizes)
        end_to_end(program, table)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    require_modules("torch", "PIL", "onnxruntime")
    folder = fashion_dir()
    import torch

    from learnt.console import set_quiet

    set_quiet(True)
    sizes = QUICK if args.quick else FULL
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {folder}")
    machine_load()
    with tempfile.TemporaryDirectory(prefix="learnt-images-") as tmp:
        root = Path(tmp)
        write_data(folder, root, sizes)
        quality(root, sizes)
        loop_speed(root, sizes)
        prediction(root, sizes)


if __name__ == "__main__":
    main()
