"""Settings are declared once: every `TrainSettings` field is a `learnt train` flag with the same
name, default and help; validation happens once, with errors naming the flag."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from learnt.cli import app
from learnt.errors import UsageError
from learnt.kinds import Augment, Task
from learnt.settings import TrainSettings, flag_name, make_settings, setting_flags


def train_options() -> dict[str, Any]:
    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params if p.param_type_name == "option"}


def test_every_setting_is_a_flag_with_its_default_and_help() -> None:
    options = train_options()
    for setting in dataclasses.fields(TrainSettings):
        option = options[setting.name]
        flag = setting_flags()[setting.name]
        assert flag_name(setting.name) in option.opts
        assert option.help == flag.help
        default = (
            setting.default_factory() if callable(setting.default_factory) else setting.default
        )
        assert option.default in (default, None if default == [] else default), setting.name
    assert set(options) - {f.name for f in dataclasses.fields(TrainSettings)} == {
        "json_output",
        "quiet",
    }


def test_choices_come_from_the_shared_vocabularies() -> None:
    options = train_options()
    assert options["task"].type_descriptor.annotation == Task
    assert options["augment"].type_descriptor.annotation == Augment


def test_defaults_are_those_of_the_python_api() -> None:
    settings = make_settings()
    assert (settings.patience, settings.learning_rate, settings.augment) == (10, 1e-3, "none")
    assert settings.as_json()["out"] is None


@pytest.mark.parametrize(
    ("given", "message", "field"),
    [
        ({"epochs": 0}, "--epochs: Input should be greater than or equal to 1", "epochs"),
        ({"learning_rate": -1.0}, "--lr: Input should be greater than 0", "learning_rate"),
        (
            {"task": "clustering"},
            "--task: Input should be 'classification' or 'regression'",
            "task",
        ),
        ({"epoch": 3}, "unknown setting 'epoch'. Did you mean 'epochs'?", "epoch"),
        (
            {"val_size": 0.0, "target_accuracy": 0.9},
            "checked on validation rows; set --val-size above 0",
            "val_size",
        ),
    ],
)
def test_invalid_settings_name_the_flag(given: dict, message: str, field: str) -> None:
    with pytest.raises(UsageError) as raised:
        make_settings(**given)
    assert message in str(raised.value)
    assert raised.value.field == field
