"""Plain-data models: dataclasses whose fields are checked against their type hints.

    class Column(Model):
        name: str
        width: Annotated[int, Limits(ge=1, le=16384)] = 64

    Column.model_validate({"name": "age"})        # checked and converted, nested models too
    Column(name="age").model_dump(mode="json")    # {"name": "age", "width": 64}

The program format (`learnt.runtime.format`) is declared with these rather than with pydantic:
reading a manifest is on the path of every cold `learnt predict`, and importing pydantic and
building its validators took about 90 ms of a 0.23 s start. The method names are pydantic's, so the
models read the same; only what the format needs is supported — `bool`, `int`, `float`, `str`,
`None`, `Any`, `Literal`, `list`, `dict[str, …]`, unions (of models: told apart by a `Literal` field
all of them have, such as `family`), nested models, `Annotated[…, Limits(…)]`. Unknown keys are
ignored (the format's versioning policy: readers ignore fields they do not know); a wrong value
raises `FormatError` naming where it is.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
)


@dataclass(frozen=True)
class Limits:
    """Bounds on a number, or on the length of a list or string; a pattern a string must match."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def check(self, value: Any, where: tuple[str | int, ...]) -> None:
        bounds = (
            ("ge", "greater than or equal to", lambda v, b: v >= b),
            ("gt", "greater than", lambda v, b: v > b),
            ("le", "less than or equal to", lambda v, b: v <= b),
            ("lt", "less than", lambda v, b: v < b),
        )
        for name, words, holds in bounds:
            bound = getattr(self, name)
            if bound is not None and not holds(value, bound):
                raise FormatError(where, f"Input should be {words} {bound:g}", value)
        if self.min_length is not None and len(value) < self.min_length:
            raise FormatError(where, f"should have at least {self.min_length} items", value)
        if self.max_length is not None and len(value) > self.max_length:
            raise FormatError(where, f"should have at most {self.max_length} items", value)
        if self.pattern is not None and not re.match(self.pattern, value):
            raise FormatError(where, f"String should match pattern '{self.pattern}'", value)


class FormatError(ValueError):
    """A value that does not fit its field: `where` is the path to it (keys and list positions)."""

    def __init__(self, where: tuple[str | int, ...], message: str, value: Any = None) -> None:
        self.where, self.message, self.value = where, message, value
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        super().__init__(f"{'.'.join(map(str, where)) or 'input'}: {message} (got {shown})")

    @property
    def location(self) -> str:
        return ".".join(map(str, self.where))


@dataclass_transform(kw_only_default=True, field_specifiers=(dataclasses.field,))
class Model:
    """Base of the plain-data models: fields are declared as in a dataclass (keyword-only).

    Construction checks and converts every field (ints to floats where a float is declared, dicts
    to nested models). Classes are not made by `dataclasses.dataclass`, whose generated methods
    cost about half a millisecond a class at import; one generic `__init__` serves them all.
    """

    __defaults__: ClassVar[dict[str, Any]] = {}  # per field: its default, a Factory, or MISSING

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defaults = dict(cls.__defaults__)  # a base model's fields come first
        for name in inspect.get_annotations(cls):
            default = cls.__dict__.get(name, MISSING)
            if isinstance(default, dataclasses.Field):
                factory = default.default_factory
                default = default.default if factory is MISSING else Factory(factory)
            defaults[name] = default
            if name in cls.__dict__:
                delattr(cls, name)  # instances hold every field
        cls.__defaults__ = defaults

    def __init__(self, **values: Any) -> None:
        fields = field_types(type(self))
        unknown = values.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        for name, kind in fields.items():
            default = self.__defaults__[name]
            if name in values:
                value = values[name]
            elif default is MISSING:
                raise FormatError((name,), "Field required")
            else:
                value = default.make() if isinstance(default, Factory) else default
            setattr(self, name, convert(value, kind, (name,)))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__defaults__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__defaults__)
        return f"{type(self).__name__}({shown})"

    @classmethod
    def model_validate(cls, data: Any, where: tuple[str | int, ...] = ()) -> Self:
        """An instance from JSON-like `data`, checked; keys the model does not declare are ignored."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise FormatError(where, "Input should be an object", data)
        try:  # construction checks each field
            return cls(**{name: data[name] for name in cls.__defaults__ if name in data})
        except FormatError as error:
            if not where:
                raise
            raise FormatError((*where, *error.where), error.message, error.value) from None

    def model_dump(self, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """The fields as plain data (nested models as dicts): what `model_validate` reads back."""
        return {name: dump(getattr(self, name)) for name in self.__defaults__}

    def model_copy(self, update: dict[str, Any] | None = None) -> Self:
        """A copy with some fields replaced, checked like a new instance."""
        values = {name: getattr(self, name) for name in self.__defaults__}
        return type(self)(**(values | (update or {})))


@dataclass(frozen=True)
class Factory:
    """A field's default made afresh for each instance (a list or dict)."""

    make: Callable[[], Any]


@functools.cache
def field_types(cls: type[Model]) -> dict[str, Any]:
    """Each field's type hint, by name, in declaration order (resolved once per model)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: hints[name] for name in cls.__defaults__}


def dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.model_dump()
    if isinstance(value, list):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    return value


def convert(value: Any, kind: Any, where: tuple[str | int, ...]) -> Any:
    """`value` checked against the type hint `kind` (and converted: int → float, dict → model)."""
    origin = get_origin(kind)
    if origin is Annotated:
        base, *metadata = get_args(kind)
        value = convert(value, base, where)
        for limits in metadata:
            if isinstance(limits, Limits):
                limits.check(value, where)
        return value
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        return convert_union(value, get_args(kind), where)
    if origin is Literal:
        choices = get_args(kind)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise FormatError(where, f"Input should be {' or '.join(map(repr, choices))}", value)
    if origin is list:
        if not isinstance(value, list):
            raise FormatError(where, "Input should be a valid list", value)
        (item,) = get_args(kind)
        return [convert(v, item, (*where, i)) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise FormatError(where, "Input should be a valid dictionary", value)
        _, item = get_args(kind)
        for key in value:
            if not isinstance(key, str):
                raise FormatError(where, "Keys should be strings", key)
        return {k: convert(v, item, (*where, k)) for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, Model):
        return kind.model_validate(value, where)
    return convert_scalar(value, kind, where)


def convert_scalar(value: Any, kind: type, where: tuple[str | int, ...]) -> Any:
    if kind is type(None):
        if value is None:
            return None
        raise FormatError(where, "Input should be None", value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise FormatError(where, "Input should be a valid boolean", value)
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise FormatError(where, "Input should be a valid integer", value)
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise FormatError(where, "Input should be a valid number", value)
    if kind is str:
        if isinstance(value, str):
            return value
        raise FormatError(where, "Input should be a valid string", value)
    raise TypeError(f"{where}: the models do not support fields of type {kind!r}")


def convert_union(value: Any, kinds: tuple[Any, ...], where: tuple[str | int, ...]) -> Any:
    """The first member of the union `value` fits; models are told apart by their tag field."""
    if value is None and type(None) in kinds:
        return None
    options = [k for k in kinds if k is not type(None)]
    tag = shared_tag(tuple(options))
    if tag is not None and isinstance(value, dict):
        tags = {get_args(field_types(model)[tag])[0]: model for model in options}
        if value.get(tag) not in tags:
            expected = ", ".join(map(repr, tags))
            raise FormatError(
                where, f"'{tag}' {value.get(tag)!r} is not one of the known ones: {expected}", value
            )
        return tags[value[tag]].model_validate(value, where)
    failure: FormatError | None = None
    for kind in options:
        try:
            return convert(value, kind, where)
        except FormatError as error:
            failure = failure or error
    assert failure is not None
    raise failure


@functools.cache
def shared_tag(kinds: tuple[Any, ...]) -> str | None:
    """The field that tells the models of a union apart: a one-value `Literal` in each of them."""
    if len(kinds) < 2 or not all(isinstance(k, type) and issubclass(k, Model) for k in kinds):
        return None

    def is_tag(hint: Any) -> bool:
        return get_origin(hint) is Literal and len(get_args(hint)) == 1

    first, *others = kinds
    for name, hint in field_types(first).items():
        if is_tag(hint) and all(is_tag(field_types(k).get(name)) for k in others):
            return name
    return None
