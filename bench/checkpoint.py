"""What checkpoints cost: one save against the training time between two saves, at the defaults.

    .venv/bin/python bench/checkpoint.py [--quick]

For three networks of the sizes learnt plans — the MLP for 43,000 table rows (diamonds), the CNN
the 600 s budget plans for Fashion-MNIST (28 px, base width 32, 2 blocks a stage) and the text
Transformer for 10,000 texts — the script trains on synthetic inputs of the right shapes with
`learnt.training.loop.fit` (batch size as `learnt train` chooses it) and times:

* a training step (median over the steps of a short run after warm-up), and
* one checkpoint (`Checkpoints.save`: the whole loop state — weights, best weights, AdamW moments,
  generators — written to a hidden folder, fsynced and renamed; median of 5).

At the defaults a checkpoint comes every 1,000 steps or 600 s, whichever is first, so the overhead
is save / min(1,000 × step, 600 s). Goal: ≤ 3 % for each network.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import goal, heading, machine_load, others_watched, parse_args

GOAL = 0.03
EVERY_STEPS, EVERY_SECONDS = 1000, 600.0


def networks() -> dict[str, tuple]:
    """name → (config, inputs of one sample batch maker, classes)."""
    import torch

    from learnt.training.families.cnn import size_cnn
    from learnt.training.families.mlp import size_mlp
    from learnt.training.families.transformer import size_transformer

    def table(rows: int) -> tuple[torch.Tensor, ...]:
        return torch.randn(rows, 6), torch.randint(0, 5, (rows, 3))

    def images(rows: int) -> tuple[torch.Tensor, ...]:
        return (torch.randn(rows, 1, 28, 28),)

    def text(rows: int) -> tuple[torch.Tensor, ...]:
        tokens = torch.randint(5, 8000, (rows, 64))
        return tokens, torch.ones_like(tokens)

    return {
        "mlp (diamonds, 43,000 rows)": (size_mlp(43_000, 6, [5, 7, 8], 1), table, 1),
        "cnn (Fashion-MNIST, 600 s plan)": (
            size_cnn(48_000, 28, 1, 10, base_width=32, blocks=2),
            images,
            10,
        ),
        "transformer (10,000 texts)": (size_transformer(10_000, 8000, 64, 2), text, 2),
    }


def measure(name: str, config, make_inputs, classes: int, steps: int, work: Path) -> float:
    import torch

    from learnt.settings import default_batch_size
    from learnt.training.checkpoint import CheckpointPolicy, Checkpoints
    from learnt.training.families import build
    from learnt.training.hooks import Hooks
    from learnt.training.loop import LoopData, LoopSettings, fit
    from learnt.training.state import LoopState
    from learnt.training.stopping import StopCriteria

    rows = 4096
    task = "regression" if classes == 1 else "classification"
    targets = torch.randn(rows) if classes == 1 else torch.randint(0, classes, (rows,))
    train = LoopData(make_inputs(rows), targets)
    empty = LoopData(tuple(x[:0] for x in train.inputs), targets[:0])
    batch = default_batch_size(
        43_000 if classes == 1 else 48_000, "table" if classes == 1 else "images"
    )
    settings = LoopSettings(
        task, batch, 1e-3, 1e-4, 1.0, 0, StopCriteria(max_epochs=1000, max_steps=steps)
    )
    loop = LoopState.start(build(config), settings, rows)

    class StepTimes(Hooks):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.last = time.perf_counter()

        def on_batch_end(self, state) -> None:
            now = time.perf_counter()
            self.times.append(now - self.last)
            self.last = now

    timer = StepTimes()
    fit(loop, train, empty, timer)
    step = statistics.median(timer.times[3:])
    saver = Checkpoints(loop, work / name.split()[0], CheckpointPolicy(0, 0, 2), {})
    saves = []
    for _ in range(5):
        started = time.perf_counter()
        saver.save()
        saves.append(time.perf_counter() - started)
    save = statistics.median(saves)
    between = min(EVERY_STEPS * step, EVERY_SECONDS)
    overhead = save / between
    size = (
        sum(p.stat().st_size for p in saver.directory.glob("step-*/*"))
        / len(list(saver.directory.glob("step-*")))
        / 2**20
    )
    print(
        f"  {name:<34} step {step * 1000:7.1f} ms   checkpoint {save * 1000:7.1f} ms ({size:.1f} MiB)"
        f"   every {between:6.1f} s → overhead {overhead:.2%}"
    )
    return overhead


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    from learnt.console import set_quiet

    set_quiet(True)
    heading("checkpoint cost at the defaults (every 1,000 steps or 600 s)")
    machine_load()
    steps = 12 if args.quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, make_inputs, classes) in networks().items():
            with others_watched():
                overhead = measure(name, config, make_inputs, classes, steps, Path(tmp))
            goal(
                f"checkpoint overhead ≤ {GOAL:.0%} for {name} (got {overhead:.2%})",
                overhead <= GOAL,
            )


if __name__ == "__main__":
    main()
