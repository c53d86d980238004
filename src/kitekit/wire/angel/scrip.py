"""Angel's scrip master (``OpenAPIScripMaster.json``): its fields and how numbers and dates are written in them.

Every field is a string. Strikes are written ×100 (``"2400000.000000"`` is the 24000 strike; ``"-1.000000"``
for a contract without one), tick sizes in paise (``"5.000000"`` is ₹0.05), expiries as ``26DEC2024``, and
indices carry ``instrumenttype`` ``AMXIDX``. Derivative symbols run name, expiry (``DDMMMYY``), strike and
type together: ``NIFTY26DEC2424000CE``, ``NIFTY26DEC24FUT``; NSE equities end in ``-EQ``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TypedDict

__all__ = [
    "INDEX_TYPE",
    "SCRIP_MASTER_PATH",
    "SCRIP_MASTER_URL",
    "ScripRow",
    "expiry_of",
    "expiry_text",
    "strike_of",
    "strike_text",
    "symbol_expiry",
    "tick_of",
    "tick_text",
]

SCRIP_MASTER_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"
SCRIP_MASTER_URL = f"https://margincalculator.angelbroking.com{SCRIP_MASTER_PATH}"

#: ``instrumenttype`` of an index.
INDEX_TYPE = "AMXIDX"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class ScripRow(TypedDict):
    """One instrument of the scrip master; every value is a string."""

    token: str
    symbol: str
    name: str
    expiry: str
    strike: str
    lotsize: str
    instrumenttype: str
    exch_seg: str
    tick_size: str


def strike_text(strike: float | None) -> str:
    """Return a strike as the master writes it: ×100 with six decimals; ``-1.000000`` for none."""
    return "-1.000000" if strike is None else f"{round(strike * 100, 4):.6f}"


def strike_of(text: str) -> float | None:
    """Return the strike in rupees of a master's ``strike`` field, None for a contract without one."""
    value = float(text)
    return None if value < 0 else value / 100


def tick_text(tick: float) -> str:
    """Return a tick size in rupees as the master writes it: in paise, six decimals (``0.05`` → ``5.000000``)."""
    return f"{round(tick * 100, 6):.6f}"


def tick_of(text: str) -> float:
    """Return the tick size in rupees of a master's ``tick_size`` field (in paise)."""
    return float(text) / 100


def expiry_text(day: date | None) -> str:
    """Return an expiry as the master writes it, ``26DEC2024`` ("" for none)."""
    return "" if day is None else f"{day.day:02d}{_MONTHS[day.month - 1]}{day.year}"


def expiry_of(text: str) -> date | None:
    """Return the date of a master's ``expiry`` field, None when empty.

    Raises:
        ValueError: not ``DDMMMYYYY``.
    """
    if not text:
        return None
    return datetime.strptime(text.title(), "%d%b%Y").date()  # noqa: DTZ007 - a bare date, no time of day


def symbol_expiry(day: date) -> str:
    """Return an expiry as derivative symbols carry it: ``26DEC24``."""
    return f"{day.day:02d}{_MONTHS[day.month - 1]}{day.year % 100:02d}"
