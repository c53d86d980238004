"""A small protocol-buffers codec driven by a schema table: enough of proto3 for Upstox's market feed.

Why not the ``protobuf`` package: the feed needs five scalar types, nested and repeated messages and one map,
and kitekit's decoder must not need the SDK's generated module (nor its exact ``protobuf`` version) at run
time. The encoder follows the reference serializer's choices (fields in number order; proto3 defaults left
out, except inside map entries; nothing packed, since the schema repeats only messages; map entries sorted by
key), so its bytes equal ``SerializeToString(deterministic=True)``'s (``tests/test_upstox_wire.py`` checks
them against the SDK's ``MarketDataFeedV3_pb2``).

Messages are plain dicts keyed by the ``.proto`` field names; enums are their value names; a map is a dict;
``google.protobuf.DoubleValue`` is a float (absent when unset).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "ProtoError", "Schema", "decode", "encode"]

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_SCALAR_WIRE = {"double": _FIXED64, "int64": _VARINT, "bool": _VARINT, "enum": _VARINT, "string": _LEN}
_MAX_DEPTH = 32


class ProtoError(ValueError):
    """The bytes are not a message of the schema: truncated, a wrong wire type, bad UTF-8, nested too deep."""


@dataclass(frozen=True)
class Field:
    """One field: its number, name and type (a scalar, ``enum:<Enum>``, ``message:<Msg>``, ``double_value``).

    ``repeated`` fields are lists; ``map_of`` names the map-entry message (key 1, value 2) of a map field.
    """

    number: int
    name: str
    type: str
    repeated: bool = False
    map_of: str | None = None


@dataclass(frozen=True)
class Schema:
    """Messages (name to fields) and enums (name to value names by number)."""

    messages: Mapping[str, tuple[Field, ...]]
    enums: Mapping[str, Mapping[int, str]]

    def fields_by_number(self, message: str) -> dict[int, Field]:
        """Return a message's fields keyed by number."""
        return {f.number: f for f in self.messages[message]}


# -- encoding ---------------------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s go out as ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _enum_number(schema: Schema, enum: str, value: Any) -> int:
    if isinstance(value, int):
        return value
    for number, name in schema.enums[enum].items():
        if name == value:
            return number
    raise ProtoError(f"{value!r} is not a value of enum {enum}")


def _scalar(schema: Schema, f: Field, value: Any, keep: bool = False) -> bytes | None:
    # proto3 leaves defaults off the wire, except in a map entry (``keep``), whose key and value always go out.
    kind, _, ref = f.type.partition(":")
    if kind == "double":
        return None if value == 0 and not keep else _tag(f.number, _FIXED64) + struct.pack("<d", float(value))
    if kind in ("int64", "bool"):
        return None if not value and not keep else _tag(f.number, _VARINT) + _varint(int(value))
    if kind == "enum":
        n = _enum_number(schema, ref, value)
        return None if n == 0 and not keep else _tag(f.number, _VARINT) + _varint(n)
    if kind == "string":
        raw = str(value).encode()
        return None if not raw and not keep else _tag(f.number, _LEN) + _varint(len(raw)) + raw
    if kind == "double_value":  # a wrapper message: present even when its value is 0
        inner = b"" if value == 0 else _tag(1, _FIXED64) + struct.pack("<d", float(value))
        return _tag(f.number, _LEN) + _varint(len(inner)) + inner
    raise AssertionError(f"unknown field type {f.type}")


def _message(schema: Schema, f: Field, value: Mapping[str, Any], entry: bool = False) -> bytes:
    body = encode(schema, f.type.partition(":")[2], value, entry)
    return _tag(f.number, _LEN) + _varint(len(body)) + body


def encode(schema: Schema, message: str, value: Mapping[str, Any], _entry: bool = False) -> bytes:
    """Return the wire bytes of ``value`` as a ``message``; None values and unknown keys are left out.

    Raises:
        ProtoError: an enum value the schema does not name.
    """
    out = bytearray()
    for f in sorted(schema.messages[message], key=lambda f: f.number):
        item = value.get(f.name)
        if item is None:
            continue
        if f.map_of is not None:
            entry = Field(f.number, f.name, f"message:{f.map_of}")
            for k, v in sorted(item.items()):  # sorted: what deterministic serialization does
                out += _message(schema, entry, {"key": k, "value": v}, entry=True)
        elif f.repeated:
            for element in item:
                is_message = f.type.startswith("message:")
                out += _message(schema, f, element) if is_message else _scalar(schema, f, element) or b""
        elif f.type.startswith("message:"):
            out += _message(schema, f, item)
        else:
            out += _scalar(schema, f, item, keep=_entry) or b""
    return bytes(out)


# -- decoding ---------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise ProtoError("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result & ((1 << 64) - 1)
            shift += 7
            if shift >= 70:
                raise ProtoError("varint longer than ten bytes")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtoError(f"truncated field: {n} bytes wanted at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _skip(reader: _Reader, wire: int) -> None:
    if wire == _VARINT:
        reader.varint()
    elif wire == _FIXED64:
        reader.take(8)
    elif wire == _LEN:
        reader.take(reader.varint())
    elif wire == _FIXED32:
        reader.take(4)
    else:
        raise ProtoError(f"unsupported wire type {wire}")


def _default(schema: Schema, f: Field) -> Any:
    # What proto3 reads for a field the bytes leave out (a map entry's value at its default, say).
    kind, _, ref = f.type.partition(":")
    defaults: dict[str, Any] = {"double": 0.0, "int64": 0, "bool": False, "string": "", "double_value": 0.0}
    if kind == "enum":
        return schema.enums[ref].get(0, 0)
    return {} if kind == "message" else defaults[kind]


def decode(schema: Schema, message: str, data: bytes | memoryview, _depth: int = 0) -> dict[str, Any]:
    """Return the dict of a ``message`` read from ``data``; unknown fields are skipped, as protobuf does.

    Raises:
        ProtoError: the bytes are malformed for the schema.
    """
    if _depth > _MAX_DEPTH:
        raise ProtoError("message nested too deeply")
    fields = schema.fields_by_number(message)
    out: dict[str, Any] = {}
    reader = _Reader(data)
    while reader.pos < len(reader.data):
        key = reader.varint()
        number, wire = key >> 3, key & 7
        f = fields.get(number)
        if f is None or number == 0:
            _skip(reader, wire)
            continue
        kind, _, ref = f.type.partition(":")
        want = _LEN if kind in ("message", "double_value") or f.map_of else _SCALAR_WIRE[kind]
        if wire != want:
            raise ProtoError(f"{message}.{f.name}: wire type {wire}, expected {want}")
        if f.map_of is not None:
            entry = decode(schema, f.map_of, reader.take(reader.varint()), _depth + 1)
            value_field = schema.fields_by_number(f.map_of)[2]
            out.setdefault(f.name, {})[entry.get("key", "")] = entry.get("value", _default(schema, value_field))
            continue
        if kind == "message":
            value: Any = decode(schema, ref, reader.take(reader.varint()), _depth + 1)
        elif kind == "double_value":
            value = decode(schema, "DoubleValue", reader.take(reader.varint()), _depth + 1).get("value", 0.0)
        elif kind == "double":
            value = struct.unpack("<d", reader.take(8))[0]
        elif kind == "int64":
            value = _signed(reader.varint())
        elif kind == "bool":
            value = reader.varint() != 0
        elif kind == "enum":
            n = _signed(reader.varint())
            value = schema.enums[ref].get(n, n)  # an unknown enum value stays a number, as in proto3
        else:
            try:
                value = bytes(reader.take(reader.varint())).decode()
            except UnicodeDecodeError as exc:
                raise ProtoError(f"{message}.{f.name}: not UTF-8") from exc
        if f.repeated:
            out.setdefault(f.name, []).append(value)
        else:
            out[f.name] = value
    return out
