"""The plain-data models of the program format: checked fields, conversions, paths in errors."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, Literal

import pytest

from learnt.runtime.models import FormatError, Limits, Model


class Cat(Model):
    kind: Literal["cat"] = "cat"
    lives: Annotated[int, Limits(ge=0, le=9)] = 9


class Dog(Model):
    kind: Literal["dog"] = "dog"
    colours: Literal[1, 3] = 1  # a multi-value Literal is not a tag
    weight: float


class Home(Model):
    name: str
    pet: Cat | Dog | None = None
    lodger: Dog | None = None  # one model, optional: no tag to look for
    sizes: list[Annotated[int, Limits(ge=1)]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def test_fields_are_checked_and_converted() -> None:
    home = Home.model_validate(
        {"name": "a", "pet": {"kind": "dog", "weight": 3}, "lodger": {"colours": 3, "weight": 1.5}}
    )
    assert isinstance(home.pet, Dog) and home.pet.weight == 3.0 and type(home.pet.weight) is float
    assert isinstance(home.lodger, Dog) and home.lodger.colours == 3
    assert Home.model_validate({"name": "b", "pet": {"kind": "cat"}}).pet == Cat(lives=9)


def test_a_round_trip_through_json_data_is_equal() -> None:
    home = Home(name="a", pet=Cat(lives=2), sizes=[1, 2], notes={"x": [1, {"y": None}]})
    assert Home.model_validate(home.model_dump(mode="json")) == home
    assert home.model_copy(update={"name": "b"}).name == "b" and home.name == "a"


def test_defaults_are_fresh_for_each_instance() -> None:
    first, second = Home(name="a"), Home(name="b")
    first.sizes.append(1)
    assert second.sizes == []


def test_unknown_keys_are_ignored() -> None:
    assert Home.model_validate({"name": "a", "added_later": 1}) == Home(name="a")


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({}, "name", "Field required"),
        ({"name": 1}, "name", "valid string"),
        ({"name": "a", "pet": {"kind": "bird"}}, "pet", "'kind' 'bird' is not one of"),
        (
            {"name": "a", "pet": {"kind": "cat", "lives": 10}},
            "pet.lives",
            "less than or equal to 9",
        ),
        ({"name": "a", "pet": {"kind": "dog", "weight": True}}, "pet.weight", "valid number"),
        ({"name": "a", "lodger": {"colours": 2, "weight": 1}}, "lodger.colours", "1 or 3"),
        ({"name": "a", "sizes": [1, 0]}, "sizes.1", "greater than or equal to 1"),
        ({"name": "a", "sizes": "12"}, "sizes", "valid list"),
        ({"name": "a", "notes": []}, "notes", "valid dictionary"),
    ],
)
def test_errors_name_where_the_value_is(data: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(FormatError) as raised:
        Home.model_validate(data)
    assert raised.value.location == where
    assert message in raised.value.message


def test_integers_stay_integers_and_bools_are_not_numbers() -> None:
    assert Cat.model_validate({"lives": 3.0}).lives == 3
    with pytest.raises(FormatError, match="valid integer"):
        Cat.model_validate({"lives": True})
    with pytest.raises(FormatError, match="valid integer"):
        Cat.model_validate({"lives": 2.5})
    with pytest.raises(TypeError, match="no field"):
        Cat(paws=4)  # type: ignore[call-arg]
