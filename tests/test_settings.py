"""Settings are declared once: every `TrainSettings` field is a `learnt train` flag with the same
name, default and help; validation happens once, with errors naming the flag."""

from __future__ import annotations

import argparse
import dataclasses
from typing import get_args

import pytest

from learnt.cli import build_parser
from learnt.errors import UsageError
from learnt.kinds import Augment, Task
from learnt.settings import TrainSettings, flag_name, make_settings, setting_flags


def train_options() -> dict[str, argparse.Action]:
    """The flags of `learnt train`, by setting name."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in commands.choices["train"]._actions if a.option_strings}


def test_every_setting_is_a_flag_with_its_default_and_help() -> None:
    options = train_options()
    for setting in dataclasses.fields(TrainSettings):
        option = options[setting.name]
        flag = setting_flags()[setting.name]
        assert flag_name(setting.name) in option.option_strings
        assert option.help.startswith(flag.help)
        default = (
            setting.default_factory() if callable(setting.default_factory) else setting.default
        )
        if flag.default_shown is True and default not in (None, False, []):
            assert option.help.endswith(f"(default: {default})"), setting.name
        assert option.default is None, setting.name  # not given: the setting's own default
    assert set(options) - {f.name for f in dataclasses.fields(TrainSettings)} == {
        "help",
        "json_output",
        "quiet",
    }


def test_choices_come_from_the_shared_vocabularies() -> None:
    options = train_options()
    assert tuple(options["task"].choices) == get_args(Task)
    assert tuple(options["augment"].choices) == get_args(Augment)


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
        ({"epoch": 3}, "unknown setting 'epoch'. Did you mean 'epochs'", "epoch"),
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
