"""The instruments dump: Kite's exact 12-column CSV (API.md §13)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["HEADER", "InstrumentRow", "encode_rows", "format_decimal"]

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
    "instrument_type,segment,exchange"
)


class InstrumentRow(NamedTuple):
    """One line of the dump with wire types; ``expiry`` is ``yyyy-mm-dd`` or ``""``."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: str
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str


def format_decimal(value: float) -> str:
    """Return a float as the dump writes it: shortest repr with a decimal point (``0.0``, ``0.05``)."""
    text = repr(float(value))
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def _text(value: str) -> str:
    # Names like "LARSEN & TOUBRO" are fine bare; a comma or quote needs CSV quoting.
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def encode_rows(rows: Iterable[InstrumentRow]) -> bytes:
    """Return the CSV dump (header line first, ``\\n`` line ends) for ``rows``."""
    lines = [HEADER]
    for r in rows:
        lines.append(
            f"{r.instrument_token},{r.exchange_token},{_text(r.tradingsymbol)},{_text(r.name)},"
            f"{format_decimal(r.last_price)},{r.expiry},{format_decimal(r.strike)},"
            f"{format_decimal(r.tick_size)},{int(r.lot_size)},{r.instrument_type},{r.segment},{r.exchange}"
        )
    lines.append("")
    return "\n".join(lines).encode()
