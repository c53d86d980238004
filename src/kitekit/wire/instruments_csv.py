"""The instruments dump: Kite's exact 12-column CSV, its row type, and the rules for reading one cell."""

from __future__ import annotations

import csv
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

__all__ = [
    "COLUMNS",
    "HEADER",
    "Instrument",
    "InstrumentFields",
    "encode_fields",
    "encode_rows",
    "format_decimal",
    "parse_expiry",
    "parse_float",
    "parse_int",
    "split_fields",
]

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
    "instrument_type,segment,exchange"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of the dump with Kite's wire names and Python types (``expiry`` None when it has none).

    The same type is what the simulator writes and what the instrument store hands out.
    """

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``, the key Kite's quote APIs take."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> Instrument:
        """Return the instrument of one line's 12 text fields (see :func:`split_fields`).

        The cell rules are the vectorised columns' own: empty or malformed numbers read as 0, a malformed
        expiry as None.
        """
        return cls(
            instrument_token=parse_int(fields[0]),
            exchange_token=parse_int(fields[1]),
            tradingsymbol=fields[2],
            name=fields[3],
            last_price=parse_float(fields[4]),
            expiry=parse_expiry(fields[5]),
            strike=parse_float(fields[6]),
            tick_size=parse_float(fields[7]),
            lot_size=parse_int(fields[8]),
            instrument_type=fields[9],
            segment=fields[10],
            exchange=fields[11],
        )


#: One row's 12 fields in wire order (an :class:`Instrument`'s, as a plain tuple).
InstrumentFields = tuple[int, int, str, str, float, date | None, float, float, int, str, str, str]


def format_decimal(value: float) -> str:
    """Return a float as the dump writes it: shortest repr with a decimal point (``0.0``, ``0.05``)."""
    text = repr(float(value))
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def _text(value: str) -> str:
    # Names like "LARSEN & TOUBRO" are fine bare; a comma or quote needs CSV quoting.
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def encode_rows(rows: Iterable[Instrument]) -> bytes:
    """Return the CSV dump (header line first, ``\\n`` line ends) for ``rows``."""
    return encode_fields(map(_FIELDS, rows))


def encode_fields(rows: Iterable[InstrumentFields]) -> bytes:
    """Return the CSV dump of rows given as their 12 fields in wire order (what :func:`encode_rows` writes).

    A broker's dump read into 100,000 rows is written this way without building an :class:`Instrument` a row.
    """
    # One f-string a row with the cell rules inlined: repr of a float always has a point, an exponent or is
    # inf/nan, so it is format_decimal's text; a text cell is quoted as _text does. A dump has a few hundred
    # distinct expiries: each is written out once.
    lines = [HEADER]
    append = lines.append
    days: dict[date | None, str] = {None: ""}
    for token, exchange_token, symbol, name, last_price, expiry, strike, tick, lot, kind, segment, exchange in rows:
        if "," in symbol or '"' in symbol:
            symbol = _text(symbol)
        if "," in name or '"' in name:
            name = _text(name)
        day = days.get(expiry)
        if day is None:
            day = days[expiry] = expiry.isoformat() if expiry else ""
        append(
            f"{token},{exchange_token},{symbol},{name},{float(last_price)!r},{day},{float(strike)!r},"
            f"{float(tick)!r},{int(lot)},{kind},{segment},{exchange}"
        )
    append("")
    return "\n".join(lines).encode()


#: The dump's columns in wire order.
COLUMNS: tuple[str, ...] = tuple(HEADER.split(","))
_FIELDS = operator.attrgetter(*COLUMNS)  # an Instrument's fields in wire order, as a tuple


def split_fields(line: str) -> list[str]:
    """Return the 12 fields of one dump line: CSV quoting honoured, a short line padded with ``""``.

    Kite quotes a text field that holds a comma. Should a writer not, the line has surplus fields; they are
    taken to belong to ``name``, the only free text after the symbol, so the columns after it stay right.
    """
    fields = line.split(",") if '"' not in line else next(csv.reader([line]), [])
    extra = len(fields) - len(COLUMNS)
    if extra > 0:
        fields = [*fields[:3], ",".join(fields[3 : 4 + extra]), *fields[4 + extra :]]
    elif extra < 0:
        fields += [""] * -extra
    return fields


def parse_int(text: str, default: int = 0) -> int:
    """Return an integer cell (``"1.0"`` reads as 1); ``default`` if it is empty or not a number."""
    try:
        return int(text)
    except ValueError:
        pass
    value = parse_float(text, math.nan)
    return int(value) if math.isfinite(value) else default


def parse_float(text: str, default: float = 0.0) -> float:
    """Return a decimal cell; ``default`` if it is empty, not a number, or not finite."""
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def parse_expiry(text: str) -> date | None:
    """Return a ``yyyy-mm-dd`` cell as a date; None if it is empty or not a real date in that form."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text[:4] + text[5:7] + text[8:]).isdigit():
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
