"""The loop's whole state: stopped, saved, loaded in a new process and continued, a run ends with
bit-identical weights to one that never stopped — for every family, mid-epoch and at an epoch's end.

Each family trains on small seeded tensors with what makes resuming hard switched on: dropout
(the default 0.1), augmentation (images: crop+flip), length bucketing (text), a validation set
choosing the best epoch, and a schedule that is still warming up at the stop.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = r"""
import json, signal, sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from learnt.training.augment import ImageBatches
from learnt.runtime.format import ImageInput
from learnt.training.families.cnn import size_cnn
from learnt.training.families.mlp import size_mlp
from learnt.training.families.transformer import size_transformer
from learnt.training.hooks import Hooks
from learnt.training.init import initialise
from learnt.training.loop import LoopData, LoopSettings, finish, run_until_stop
from learnt.training.prepare import trim_padding
from learnt.training.state import LoopState
from learnt.training.stopping import StopCriteria

family, mode, directory, stop_at = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
data = torch.Generator().manual_seed(1)
rows = 128
# learnable targets, so that later epochs improve and the best epoch is not simply the first
if family == "mlp":
    config = size_mlp(rows, 5, [6], 3)
    inputs = (torch.randn(rows, 5, generator=data), torch.randint(0, 6, (rows, 1), generator=data))
    targets = (inputs[0][:, :3] + 0.3 * inputs[1]).argmax(1)
    part = lambda r: LoopData(tuple(x[r] for x in inputs), targets[r])
elif family == "cnn":
    config = size_cnn(rows, 8, 1, 3)
    pixels = torch.randint(0, 256, (rows, 1, 8, 8), dtype=torch.uint8, generator=data)
    targets = pixels.float().mean((1, 2, 3)).argsort().argsort() * 3 // rows  # brightness thirds
    spec = ImageInput(column="path", size=8, channels=1, mean=[0.5], std=[0.3])
    batches = ImageBatches(spec, "crop+flip")
    part = lambda r: LoopData((pixels,), targets, torch.arange(rows)[r], batches)
else:
    config = size_transformer(rows, 40, 12, 3)
    lengths = torch.randint(2, 13, (rows,), generator=data)
    mask = (torch.arange(12) < lengths[:, None]).long()
    tokens = torch.randint(4, 40, (rows, 12), generator=data) * mask
    targets = tokens[:, 0] % 3
    part = lambda r: LoopData(
        (tokens, mask), targets, torch.arange(rows)[r], trim_padding, lengths=lengths
    )
train, validation = part(slice(0, 96)), part(slice(96, None))  # 6 batches of 16 per epoch
settings = LoopSettings(
    "classification", 16, 3e-3, 1e-4, 1.0, 0, StopCriteria(max_epochs=4, patience=None)
)
loop = LoopState.start(initialise(config, seed=0), settings, len(train))


class InterruptAt(Hooks):  # Ctrl-C, as a user would press it: taken with the next step
    def on_batch_end(self, state):
        if state.step == stop_at - 1:
            signal.raise_signal(signal.SIGINT)


if mode == "stop":
    run_until_stop(loop, train, validation, InterruptAt())
    assert loop.state.stop_reason == "interrupted" and loop.state.step == stop_at
    loop.save(directory)
else:
    if mode == "continue":
        loop.load(directory)
    run_until_stop(loop, train, validation, Hooks())
    latest = {f"latest/{k}": v.clone() for k, v in loop.model.state_dict().items()}
    finish(loop, validation, Hooks())  # the best epoch's parameters, as a program keeps them
    best = {f"best/{k}": v for k, v in loop.model.state_dict().items()}
    save_file(latest | best, str(directory / f"{mode}.safetensors"))
    state = loop.state
    summary = {k: getattr(state, k) for k in ("epoch", "step", "best_epoch", "best_val_loss")}
    (directory / f"{mode}.json").write_text(json.dumps(summary))
"""


def run(family: str, mode: str, directory: Path, stop_at: int = 0) -> None:
    subprocess.run(
        [sys.executable, "-c", SCRIPT, family, mode, str(directory), str(stop_at)],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family trained once without a stop."""
    done = {}
    for family in ("mlp", "cnn", "transformer"):
        directory = tmp_path_factory.mktemp(f"whole-{family}")
        run(family, "whole", directory)
        done[family] = directory
    return done


@pytest.mark.parametrize(
    ("family", "stop_at"),
    [("mlp", 9), ("mlp", 12), ("cnn", 9), ("transformer", 9)],
    ids=["mlp-mid-epoch", "mlp-epoch-end", "cnn-mid-epoch", "transformer-mid-epoch"],
)
def test_a_continued_run_ends_bit_identical_to_an_uninterrupted_one(
    family: str, stop_at: int, tmp_path: Path, uninterrupted: dict[str, Path]
) -> None:
    run(family, "stop", tmp_path, stop_at)  # one process stops and saves …
    assert {p.name for p in tmp_path.iterdir()} == {"state.safetensors", "state.json"}
    run(family, "continue", tmp_path)  # … another loads into fresh objects and goes on
    continued = load_file(tmp_path / "continue.safetensors")
    whole = load_file(uninterrupted[family] / "whole.safetensors")
    assert continued.keys() == whole.keys()
    for name, tensor in whole.items():
        assert torch.equal(continued[name], tensor), name
    summary = (tmp_path / "continue.json").read_text()
    assert summary == (uninterrupted[family] / "whole.json").read_text()
    assert json.loads(summary)["best_epoch"] > 2  # the best parameters came after the stop


def small_loop(max_epochs: int = 2) -> tuple[object, object, object]:
    from learnt.training.families.mlp import size_mlp
    from learnt.training.init import initialise
    from learnt.training.loop import LoopData, LoopSettings
    from learnt.training.state import LoopState
    from learnt.training.stopping import StopCriteria

    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randn(64, 4, generator=generator), torch.zeros(64, 0, dtype=torch.int64))
    data = LoopData(inputs, torch.randint(0, 2, (64,), generator=generator))
    settings = LoopSettings(
        "classification", 16, 1e-3, 0.0, 1.0, 0, StopCriteria(max_epochs=max_epochs)
    )
    return (
        LoopState.start(initialise(size_mlp(64, 4, [], 2), 0), settings, len(data)),
        data,
        settings,
    )


def test_a_saved_state_is_json_and_safetensors_only(tmp_path: Path) -> None:
    from learnt.training.loop import fit

    loop, data, _ = small_loop()
    fit(loop, data, data)
    loop.save(tmp_path)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["train_state"]["epoch"] == 2 and saved["train_state"]["step"] == 8
    assert saved["scheduler"]["last_epoch"] == 8
    tensors = load_file(tmp_path / "state.safetensors")
    assert {k.split("/")[0] for k in tensors} == {"model", "best", "optimizer", "generator"}


def test_a_state_refuses_other_settings_and_a_torn_pair(tmp_path: Path) -> None:
    from learnt.errors import UsageError

    loop, _, _ = small_loop()
    loop.save(tmp_path)
    other, _, _ = small_loop(max_epochs=3)
    with pytest.raises(UsageError, match="other settings or data"):
        other.load(tmp_path)
    again, _, _ = small_loop()
    (tmp_path / "state.safetensors").write_bytes(b"torn")
    with pytest.raises(UsageError, match="does not match"):
        again.load(tmp_path)
