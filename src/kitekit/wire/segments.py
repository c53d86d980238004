"""Segment codes carried in the low byte of every instrument token, and their price divisors."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Segment", "divisor", "exchange_token_of", "segment_of", "token_of"]


class Segment(IntEnum):
    """``instrument_token & 0xFF`` (``docs/protocol.md`` §15.5)."""

    NSE = 1
    NFO = 2
    CDS = 3
    BSE = 4
    BFO = 5
    BCD = 6
    MCX = 7
    MCXSX = 8
    INDICES = 9
    NCO = 12


# Currency segments quote to 4 or 7 decimals, so their integer wire prices use bigger divisors.
_DIVISOR: dict[int, float] = {Segment.CDS: 1e7, Segment.BCD: 1e4, Segment.NCO: 1e4}


def token_of(exchange_token: int, segment: Segment) -> int:
    """Return ``exchange_token * 256 + segment``, the Kite instrument token."""
    return exchange_token * 256 + int(segment)


def segment_of(instrument_token: int) -> int:
    """Return the segment code in the low byte of ``instrument_token``."""
    return instrument_token & 0xFF


def exchange_token_of(instrument_token: int) -> int:
    """Return the exchange token (the high 24 bits) of ``instrument_token``."""
    return instrument_token >> 8


def divisor(instrument_token: int) -> float:
    """Return the number wire prices of this token are divided by (100 for most segments)."""
    return _DIVISOR.get(segment_of(instrument_token), 100.0)
