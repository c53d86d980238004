"""Upstox's instruments dump: a gzipped JSON array (``complete.json.gz``), one object per instrument.

Fields as Upstox documents them: every row has ``segment``, ``name``, ``exchange``, ``instrument_type``,
``instrument_key``, ``exchange_token`` (text), ``trading_symbol``; tradable rows add ``lot_size``,
``tick_size`` (in paise: 5.0 is ₹0.05) and ``freeze_quantity``; equities add ``isin``; derivatives add
``expiry`` (epoch milliseconds, the last millisecond of the expiry day in IST), ``strike_price``,
``underlying_key``, ``underlying_symbol``, ``asset_*``, ``minimum_lot``, ``weekly``. Indices carry the
fewest. Nothing here is in the SDK (it does not download the dump).
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, time
from typing import Any, NotRequired, TypedDict

from kitekit.clock import IST

__all__ = ["DumpRow", "decode_dump", "encode_dump", "expiry_date", "expiry_millis"]


class DumpRow(TypedDict):
    """One instrument of the dump."""

    segment: str
    name: str
    exchange: str
    instrument_type: str
    instrument_key: str
    exchange_token: str
    trading_symbol: str
    isin: NotRequired[str]
    lot_size: NotRequired[int]
    tick_size: NotRequired[float]
    freeze_quantity: NotRequired[float]
    short_name: NotRequired[str]
    security_type: NotRequired[str]
    expiry: NotRequired[int]
    strike_price: NotRequired[float]
    weekly: NotRequired[bool]
    minimum_lot: NotRequired[int]
    underlying_key: NotRequired[str]
    underlying_symbol: NotRequired[str]
    underlying_type: NotRequired[str]
    asset_key: NotRequired[str]
    asset_symbol: NotRequired[str]
    asset_type: NotRequired[str]
    qty_multiplier: NotRequired[float]


def expiry_millis(day: date) -> int:
    """Return a dump's ``expiry`` for an expiry day: 23:59:59 IST that day, in epoch milliseconds."""
    moment = datetime.combine(day, time(23, 59, 59), IST)
    return int(moment.timestamp()) * 1000


def expiry_date(millis: int) -> date:
    """Return the expiry day of a dump's ``expiry``."""
    return datetime.fromtimestamp(millis / 1000, IST).date()


def encode_dump(rows: list[DumpRow]) -> bytes:
    """Return the gzipped JSON of ``rows`` (``mtime=0``: the same rows give the same bytes)."""
    raw = json.dumps(rows, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=6, mtime=0)


def decode_dump(data: bytes) -> list[dict[str, Any]]:
    """Return the rows of a downloaded dump (gzipped or not).

    Raises:
        ValueError: not gzip of a JSON array of objects (``gzip.BadGzipFile`` and ``EOFError`` are turned into it).
    """
    try:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        rows = json.loads(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"not an Upstox instruments dump: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("not an Upstox instruments dump: not a JSON array of objects")
    return rows
