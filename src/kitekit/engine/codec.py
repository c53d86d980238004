"""Engine state to and from plain JSON-able values, driven by the dataclasses' type annotations.

Datetimes become ISO 8601 text with their offset, dates ``yyyy-mm-dd``, enums their wire value, dict keys
text, other sequences (an order's history) lists. Fields whose name starts with ``_`` are derived indexes: they
are skipped and rebuilt after loading.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union

__all__ = ["dump", "load"]

T = TypeVar("T")


#: Values that are already JSON (exact types: a StrEnum is a str but dumps as its value, which is the same).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def dump(value: Any) -> Any:
    """Return ``value`` (a dataclass tree) as dicts, lists, text, numbers, booleans and None."""
    # Plain values are most of a state by far (every order keeps a full order object per state it went
    # through), so they are passed through inline, without a call each: a save walks hundreds of thousands.
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k if type(k) is str else _key(k): v if type(v) in _PLAIN else dump(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else dump(v) for v in value]
    names = _field_names(kind)
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            out[name] = v if type(v) in _PLAIN else dump(v)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Sequence) and not isinstance(value, str):  # lists, tuples, an order's StateLog
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {_key(k): dump(v) for k, v in value.items()}
    return value


def load(kind: type[T], data: Any) -> T:
    """Rebuild a value of type ``kind`` from what :func:`dump` produced.

    Raises:
        ValueError, TypeError, KeyError: ``data`` does not fit ``kind``.
    """
    return typing.cast(T, _load(kind, data))


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """Return the persisted fields of a dataclass type (not those starting with ``_``), or None for others."""
    try:
        return _FIELDS[kind]
    except KeyError:
        names = None
        if dataclasses.is_dataclass(kind):
            names = tuple(f.name for f in dataclasses.fields(kind) if not f.name.startswith("_"))
        _FIELDS[kind] = names
        return names


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, Enum):
        return str(key.value)
    return repr(key) if isinstance(key, float) else str(key)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _load(kind: Any, data: Any) -> Any:
    if kind is Any:
        return data
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is Union or origin is types.UnionType:
        if data is None and type(None) in args:
            return None
        return _load(next(a for a in args if a is not type(None)), data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        values = {
            f.name: _load(hints[f.name], data[f.name])
            for f in dataclasses.fields(kind)
            if not f.name.startswith("_") and f.name in data
        }
        return kind(**values)
    if origin is list:
        return [_load(args[0], v) for v in data]
    if origin is tuple:
        return tuple(_load(args[0], v) for v in data)
    if origin is dict:
        return {_load(args[0], k): _load(args[1], v) for k, v in data.items()}
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is timedelta:
        return timedelta(seconds=data)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if kind in (int, float, str, bool):
        return kind(data)
    return data
