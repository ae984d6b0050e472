"""What stored JSON must look like before anything reads it.

The state store holds JSON that a person can edit with any SQLite client, and valid
JSON of the wrong type (a count that is text, a list where a table belongs) used to
fail far from where it was read. Each stored value is checked here, once, against the
type hints of what it becomes (``str``, ``int``, ``float``, ``bool``, ``None``,
``list[...]``, ``dict[str, ...]``, unions) or a :class:`Fields` table of them, with
bounds on numbers and text, and refused in one line that says where and what.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Seconds, distances, rates: 1e9 s is 31 years of footage, and a time that far from any
# date the tool accepts still lies inside Python's calendar.
MAX_NUMBER = 1e9
MAX_COUNT = 10**15
MAX_TEXT = 1_000_000

_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "text",
    type(None): "null",
    list: "a list",
    dict: "a table",
}


@dataclass(frozen=True)
class Fields:
    """A JSON object's fields and their hints; ``required`` ones must be there, and in a
    ``closed`` table no other field may be."""

    hints: Mapping[str, Any]
    required: frozenset[str] = frozenset()
    closed: bool = False


def record_fields(cls: type, **stored_as: Any) -> Fields:
    """The fields of a dataclass as its JSON holds them (``stored_as`` overrides a hint,
    for a time stored as text, say): those without a default are required, and no
    other field is allowed."""
    hints = {**typing.get_type_hints(cls), **stored_as}
    required = frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return Fields({f.name: hints[f.name] for f in dataclasses.fields(cls)}, required, closed=True)


def _describe(hint: Any) -> str:
    if isinstance(hint, Fields):
        return "a table"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in typing.get_args(hint))
    return _NAMES.get(origin or hint, "a value")


def problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` does not fit ``hint``, in words naming ``where`` it is; None if it fits."""
    if hint is Any:
        return None
    if isinstance(hint, Fields):
        return _fields_problem(value, hint, where)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        fits = any(problem(value, argument, where) is None for argument in arguments)
        return None if fits else f"{where} must be {_describe(hint)}"
    if origin is typing.Literal:
        return None if isinstance(value, str) and value in arguments else f"{where} must be {_describe(hint)}"
    if origin is list:
        if not isinstance(value, list):
            return f"{where} must be a list"
        return next(
            (
                found
                for index, item in enumerate(value)
                if (found := problem(item, arguments[0], f"{where}[{index}]"))
            ),
            None,
        )
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} must be a table"
        return next(
            (
                found
                for key, item in value.items()
                if (found := problem(item, arguments[1], f"{where}.{key}"))
            ),
            None,
        )
    return None if _fits(value, hint) else f"{where} must be {_describe(hint)}"


def _fits(value: Any, hint: Any) -> bool:
    if hint is bool or hint is type(None):
        return value is None if hint is type(None) else isinstance(value, bool)
    if hint is int:
        return type(value) is int and abs(value) <= MAX_COUNT
    if hint is float:
        return type(value) in (int, float) and math.isfinite(value) and abs(value) <= MAX_NUMBER
    if hint is str:
        return isinstance(value, str) and len(value) <= MAX_TEXT
    raise TypeError(f"no rule for {hint!r}")


def _fields_problem(value: Any, shape: Fields, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} must be a table"
    missing = sorted(shape.required - value.keys())
    if missing:
        return f"{where} lacks {', '.join(missing)}"
    if shape.closed:
        unknown = sorted(str(key) for key in value.keys() - shape.hints.keys())
        if unknown:
            return f"{where} holds unknown field(s) {', '.join(unknown)[:200]}"
    for key, hint in shape.hints.items():
        if key in value and (found := problem(value[key], hint, f"{where}.{key}")):
            return found
    return None
