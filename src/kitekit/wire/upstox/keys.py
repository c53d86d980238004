"""Upstox instrument keys (``NSE_EQ|<ISIN>``, ``NSE_FO|<token>``, ``NSE_INDEX|Nifty 50``), segments and ISINs.

An instrument key is ``SEGMENT|ID``: the ISIN for cash equities (the same ISIN on NSE and BSE), the exchange
token for derivatives, the index's name for indices. Quote answers are keyed differently, by
``SEGMENT:TRADING_SYMBOL`` (:func:`quote_key`), with the instrument key inside each item.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "InstrumentKey",
    "Segment",
    "isin_check_digit",
    "parse_instrument_key",
    "quote_key",
    "segment_for",
    "valid_isin",
]


class Segment(StrEnum):
    """Upstox's segments, the first half of every instrument key."""

    NSE_EQ = "NSE_EQ"
    BSE_EQ = "BSE_EQ"
    NSE_FO = "NSE_FO"
    BSE_FO = "BSE_FO"
    NCD_FO = "NCD_FO"
    BCD_FO = "BCD_FO"
    MCX_FO = "MCX_FO"
    NSE_INDEX = "NSE_INDEX"
    BSE_INDEX = "BSE_INDEX"
    MCX_INDEX = "MCX_INDEX"

    @property
    def exchange(self) -> str:
        """Return the ``exchange`` field Upstox shows for this segment (NSE, BSE or MCX; NCD_FO is NSE's)."""
        return {"NCD": "NSE", "BCD": "BSE"}.get(self.value[:3], self.value.split("_")[0])

    @property
    def is_index(self) -> bool:
        """Return True for the index segments (not tradable)."""
        return self.value.endswith("_INDEX")


# Kite's exchange names (and its pseudo-exchange for index rows) to Upstox's segments.
_FROM_KITE: dict[tuple[str, bool], Segment] = {
    ("NSE", False): Segment.NSE_EQ,
    ("BSE", False): Segment.BSE_EQ,
    ("NFO", False): Segment.NSE_FO,
    ("BFO", False): Segment.BSE_FO,
    ("CDS", False): Segment.NCD_FO,
    ("BCD", False): Segment.BCD_FO,
    ("MCX", False): Segment.MCX_FO,
    ("NSE", True): Segment.NSE_INDEX,
    ("BSE", True): Segment.BSE_INDEX,
    ("MCX", True): Segment.MCX_INDEX,
}


def segment_for(kite_exchange: str, index: bool = False) -> Segment | None:
    """Return the Upstox segment of a Kite exchange (``index`` for its index rows), or None if Upstox has none."""
    return _FROM_KITE.get((kite_exchange, index))


@dataclass(frozen=True)
class InstrumentKey:
    """A parsed instrument key."""

    segment: Segment
    ident: str

    def __str__(self) -> str:
        return f"{self.segment}|{self.ident}"


def parse_instrument_key(text: str) -> InstrumentKey | None:
    """Return the key ``text`` spells, or None when it is not ``SEGMENT|ID`` with a known segment and an ID.

    Cash-equity IDs must be well-formed ISINs and derivative IDs digits; index IDs are names (any text).
    """
    segment_text, sep, ident = text.partition("|")
    if not sep or not ident or ident != ident.strip():
        return None
    try:
        segment = Segment(segment_text)
    except ValueError:
        return None
    if segment in (Segment.NSE_EQ, Segment.BSE_EQ) and not valid_isin(ident):
        return None
    if segment.value.endswith("_FO") and not (ident.isascii() and ident.isdigit()):
        return None
    return InstrumentKey(segment, ident)


def quote_key(segment: str, trading_symbol: str) -> str:
    """Return the key a quote answer files an instrument under: ``NSE_EQ:RELIANCE``."""
    return f"{segment}:{trading_symbol}"


def _digits(body: str) -> str:
    # ISIN check digits run Luhn over the body with letters spelled as two digits (A=10 … Z=35).
    return "".join(str(int(ch, 36)) for ch in body)


def isin_check_digit(body: str) -> int:
    """Return the check digit of an 11-character ISIN body (country code and NSIN)."""
    total = 0
    for i, ch in enumerate(reversed(_digits(body))):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def valid_isin(text: str) -> bool:
    """Return True for a well-formed ISIN: two letters, nine letters or digits, one check digit that agrees."""
    if len(text) != 12 or not text.isascii() or not text.isalnum() or not text[:2].isalpha() or not text.isupper():
        return False
    if not text[-1].isdigit():
        return False
    return isin_check_digit(text[:11]) == int(text[-1])
