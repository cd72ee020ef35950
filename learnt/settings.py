"""The settings of a training run, declared once.

Each field of `TrainSettings` is one keyword of `learnt.train()` and one `learnt train` flag: its
type, default, limits and help live here and nowhere else — `learnt.cli` generates the flags from
these fields, and `make_settings` validates them once, at the boundary (pydantic, imported only
then). `None` means "chosen from the data"; the rules that choose are the functions at the end.
This module imports neither torch nor pydantic, so `learnt --help` stays instant.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_type_hints

from learnt.errors import UsageError, closest
from learnt.files import write_text_atomically
from learnt.kinds import Augment, DataKind, Device, Logger, Task


@dataclass(frozen=True)
class Flag:
    """How a setting appears on the command line."""

    help: str
    default_shown: str | bool = True  # what --help shows as the default; False: nothing
    name: str | None = None  # the flag, when it is not --field-name
    short: str | None = None
    ge: float | None = None  # limits, checked by `make_settings`
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def limits(self) -> dict[str, float]:
        return {k: v for k in ("ge", "gt", "le", "lt") if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class TrainSettings:
    """What `learnt train` / `learnt.train()` accept."""

    label: Annotated[
        str | None, Flag("The column to predict.", default_shown=False, short="-l")
    ] = None  # required for tables; a folder of class sub-folders needs none
    task: Annotated[Task | None, Flag("Override the inferred task.", "inferred")] = None
    ignore: Annotated[list[str], Flag("Column to leave out (repeatable).", default_shown=False)] = (
        field(default_factory=list)
    )
    text: Annotated[
        str | None, Flag("The text column, if detection should not decide.", "detected")
    ] = None
    encoding: Annotated[str, Flag("Text encoding of CSV and JSONL files, e.g. latin-1.")] = "utf-8"
    arch: Annotated[
        str | None,
        Flag(
            "Architecture: a family, or family:AxB — mlp:3x256 (depth × width), "
            "cnn:2x32 (stages × base width), transformer:2x128 (depth × width).",
            "sized by data",
        ),
    ] = None
    init: Annotated[
        str,
        Flag(
            "Initial parameters: auto (a pretrained backbone for images and text when installed, "
            "else random), random, a backbone by name (see `learnt backbones`), or the directory "
            "of an earlier program to continue from."
        ),
    ] = "auto"
    seed: Annotated[int, Flag("Seed for the split, initial parameters and every random draw.")] = 0
    test_size: Annotated[float, Flag("Fraction held out for the final test.", ge=0.0, lt=1.0)] = 0.2
    val_size: Annotated[
        float, Flag("Fraction of the training part used for validation.", ge=0.0, lt=1.0)
    ] = 0.1
    epochs: Annotated[int | None, Flag("Maximum epochs.", "about 5,000 steps, 20–200", ge=1)] = None
    max_steps: Annotated[int | None, Flag("Maximum optimiser steps.", "none", ge=1)] = None
    batch_size: Annotated[int | None, Flag("Rows per batch.", "rows/100, 32–512", ge=1)] = None
    learning_rate: Annotated[float, Flag("Peak learning rate (AdamW).", name="--lr", gt=0)] = 1e-3
    weight_decay: Annotated[float, Flag("AdamW weight decay.", ge=0)] = 1e-4
    grad_clip: Annotated[float, Flag("Clip the gradient norm to this (0: never).", ge=0)] = 1.0
    patience: Annotated[
        int, Flag("Stop after this many epochs without a better validation loss (0: never).", ge=0)
    ] = 10
    target_loss: Annotated[
        float | None, Flag("Stop when validation loss is at most this.", default_shown=False)
    ] = None
    target_accuracy: Annotated[
        float | None,
        Flag("Stop when validation accuracy is at least this.", default_shown=False, gt=0, le=1),
    ] = None
    time_budget: Annotated[
        float | None, Flag("Stop after this many seconds of training.", default_shown=False, gt=0)
    ] = None
    image_size: Annotated[
        int | None,
        Flag("Images: side of the square input.", "median shorter side, 16–64", ge=8, le=512),
    ] = None
    # Off by default: in the epochs two CPU cores allow, augmentation cost accuracy on
    # Fashion-MNIST (0.915 without, 0.897 with crops, 0.888 with crops and flips, 12 epochs).
    augment: Annotated[
        Augment,
        Flag(
            "Images: training augmentation — random crops, and horizontal flips; worth it for "
            "long training."
        ),
    ] = "none"
    skip_bad: Annotated[
        bool, Flag("Images: leave unreadable files out (counted) instead of stopping.")
    ] = False
    out: Annotated[
        Path | None, Flag("Run directory (holds program/ and metrics.jsonl).", "runs/<data name>")
    ] = None
    force: Annotated[bool, Flag("Replace an existing program in the run directory.")] = False
    resume: Annotated[
        Path | None,
        Flag("Continue the killed or interrupted run in this run directory.", default_shown=False),
    ] = None
    checkpoint_steps: Annotated[
        int, Flag("Save a checkpoint every this many steps (0: not by steps).", ge=0)
    ] = 1000
    checkpoint_seconds: Annotated[
        float, Flag("Save a checkpoint every this many seconds (0: not by time).", ge=0)
    ] = 600
    keep_checkpoints: Annotated[int, Flag("Checkpoints kept in the run directory.", ge=1)] = 2
    log: Annotated[
        list[Logger],
        Flag(
            "Also send the metrics to tensorboard (RUN_DIR/tensorboard/) or mlflow (a local store "
            "in RUN_DIR/mlruns, or MLFLOW_TRACKING_URI) (repeatable).",
            default_shown=False,
        ),
    ] = field(default_factory=list)
    nproc: Annotated[
        int,
        Flag(
            "Processes to train on: launches torchrun for you (data-parallel; the batch is "
            "shared out, so the result does not depend on it).",
            ge=1,
        ),
    ] = 1
    device: Annotated[
        Device,
        Flag("Where to train: cpu, cuda, or auto (a GPU when there is one; each rank its own)."),
    ] = "auto"

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON-ready data (paths as strings), for `settings.json` and provenance."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def flag_name(name: str) -> str:
    """The command-line flag of the setting `name`: `--lr` for learning_rate, else `--name`."""
    declared = setting_flags().get(name)
    return declared.name if declared and declared.name else "--" + name.replace("_", "-")


@functools.cache
def setting_flags() -> dict[str, Flag]:
    """Each setting's `Flag`, by field name, in declaration order."""
    hints = get_type_hints(TrainSettings, include_extras=True)
    return {
        f.name: next(m for m in hints[f.name].__metadata__ if isinstance(m, Flag))
        for f in dataclasses.fields(TrainSettings)
    }


def make_settings(**fields: object) -> TrainSettings:
    """`TrainSettings` from keyword fields, validated; problems become one usage error."""
    from pydantic import ValidationError

    known = [f.name for f in dataclasses.fields(TrainSettings)]
    for name in fields:
        if name not in known:
            raise UsageError(f"unknown setting {name!r}.{closest(name, known)}", field=name)
    try:
        settings = TrainSettings(**dict(validator().model_validate(fields)))
    except ValidationError as error:
        problems, names = [], []
        for item in error.errors():
            name = str(item["loc"][0])
            problems.append(f"{flag_name(name)}: {item['msg']} (got {item.get('input')!r})")
            names.append(name)
        raise UsageError("; ".join(problems), field=names[0]) from None
    if settings.val_size == 0 and (
        settings.target_loss is not None or settings.target_accuracy is not None
    ):
        raise UsageError(
            "--target-loss and --target-accuracy are checked on validation rows; set --val-size above 0",
            field="val_size",
        )
    return settings


@functools.cache
def validator() -> Any:
    """A pydantic model of `TrainSettings`, each field with its flag's limits (built once)."""
    from pydantic import ConfigDict, Field, create_model

    hints = get_type_hints(TrainSettings, include_extras=True)
    fields: dict[str, Any] = {}
    for setting in dataclasses.fields(TrainSettings):
        kind = hints[setting.name].__origin__  # the type inside Annotated[…]
        limits = setting_flags()[setting.name].limits()
        if setting.default_factory is not dataclasses.MISSING:
            fields[setting.name] = (kind, Field(default_factory=setting.default_factory, **limits))
        else:
            fields[setting.name] = (kind, Field(setting.default, **limits))
    return create_model("TrainSettings", __config__=ConfigDict(extra="forbid"), **fields)


def write_settings(settings: TrainSettings, run_dir: Path) -> Path:
    """`settings.json` in the run directory (written atomically): what this run was asked to do."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "settings.json"
    write_text_atomically(path, json.dumps(settings.as_json(), indent=2) + "\n")
    return path


# --- the rules behind "chosen from the data" ----------------------------------------------------


def default_batch_size(rows: int, data_kind: DataKind = "table") -> int:
    """A power of two near rows/100, between 32 and 512 (128 for images: more, smaller steps
    train a CNN better in the same time)."""
    largest = 128 if data_kind == "images" else 512
    return int(min(largest, max(32, 2 ** round(math.log2(max(rows, 1) / 100)))))


def default_epochs(steps_per_epoch: int) -> int:
    """About 5,000 optimiser steps, between 20 and 200 epochs (early stopping usually ends sooner)."""
    return int(min(200, max(20, math.ceil(5000 / steps_per_epoch))))
