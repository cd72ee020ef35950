"""The small closed vocabularies every layer shares, defined once.

Plain `Literal` types, so the command line, the program format and the training side agree on
the same words without importing each other (or pydantic, or torch).
"""

from __future__ import annotations

from typing import Literal, get_args

Task = Literal["classification", "regression"]
DataKind = Literal["table", "images", "text"]  # what a program reads; it picks the family
Runtime = Literal[
    "onnx", "torch"
]  # what runs a program: ONNX Runtime, or the network rebuilt in torch
Augment = Literal["none", "crop", "crop+flip"]  # image augmentation while training
Logger = Literal["tensorboard", "mlflow"]  # tools that also receive the metrics (--log)
Device = Literal["cpu", "cuda", "auto"]  # where training runs; auto: a CUDA GPU when there is one

TASKS: tuple[Task, ...] = get_args(Task)
DATA_KINDS: tuple[DataKind, ...] = get_args(DataKind)
LOGGERS: tuple[Logger, ...] = get_args(Logger)
