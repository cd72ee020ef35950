"""Training settings, validated once at the boundary. Every `learnt train` flag is one field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from learnt.errors import UsageError

Task = Literal["classification", "regression"]
FLAGS = {"learning_rate": "--lr"}  # fields whose CLI flag is not simply --field-name


class TrainSettings(BaseModel):
    """What `learnt train` / `learnt.train()` accept. `None` means "chosen from the data"."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = None  # required for tables; a folder of class sub-folders needs none
    task: Task | None = None
    ignore: list[str] = []
    text: str | None = None  # the text column, when detection should not decide
    encoding: str = "utf-8"
    arch: str | None = None
    seed: int = 0
    test_size: float = Field(0.2, ge=0.0, lt=1.0)
    val_size: float = Field(0.1, ge=0.0, lt=1.0)
    epochs: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    patience: int | None = Field(10, ge=1)
    target_loss: float | None = None
    target_accuracy: float | None = Field(None, gt=0, le=1)
    time_budget: float | None = Field(None, gt=0)
    image_size: int | None = Field(None, ge=8, le=512)
    # Off by default: in the epochs two CPU cores allow, augmentation cost accuracy on
    # Fashion-MNIST (0.915 without, 0.897 with crops, 0.888 with crops and flips, 12 epochs).
    augment: Literal["none", "crop", "crop+flip"] = "none"
    skip_bad: bool = False
    out: Path | None = None
    force: bool = False

    @model_validator(mode="after")
    def _targets_need_validation(self) -> TrainSettings:
        if self.val_size == 0 and (
            self.target_loss is not None or self.target_accuracy is not None
        ):
            raise ValueError(
                "--target-loss and --target-accuracy are checked on validation rows; set --val-size above 0"
            )
        return self


def make_settings(**fields: object) -> TrainSettings:
    """`TrainSettings` from keyword fields, with pydantic's errors turned into a usage error."""
    try:
        return TrainSettings(**fields)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            if not item["loc"]:  # a rule across fields: its message says it all
                problems.append(item["msg"].removeprefix("Value error, "))
                continue
            field = str(item["loc"][0])
            flag = FLAGS.get(field, "--" + field.replace("_", "-"))
            problems.append(f"{flag}: {item['msg']} (got {item.get('input')!r})")
        raise UsageError("; ".join(problems)) from None


def default_batch_size(rows: int, data_kind: str = "table") -> int:
    """A power of two near rows/100, between 32 and 512 (128 for images: more, smaller steps
    train a CNN better in the same time)."""
    largest = 128 if data_kind == "images" else 512
    return int(min(largest, max(32, 2 ** round(math.log2(max(rows, 1) / 100)))))


def default_epochs(steps_per_epoch: int) -> int:
    """About 5,000 optimiser steps, between 20 and 200 epochs (early stopping usually ends sooner)."""
    return int(min(200, max(20, math.ceil(5000 / steps_per_epoch))))
