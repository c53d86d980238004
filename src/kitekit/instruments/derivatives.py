"""Futures and options of an underlying in one dump: live contracts, nearest first, and option chains."""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from kitekit.errors import UnknownInstrumentError
from kitekit.instruments.index import FnoColumns
from kitekit.instruments.model import Dump, day_number, from_day_number
from kitekit.instruments.resolve import ALIASES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FNO_NAMES", "FNO_PREFERENCE", "expiries", "fno_name", "futures_rows", "live_rows", "option_chain"]

#: Index symbols -> the ``name`` their futures and options carry in the dump.
FNO_NAMES: dict[str, str] = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "NIFTY NEXT 50": "NIFTYNXT50",
}
#: Where an underlying's futures and options are taken from when several exchanges list them.
FNO_PREFERENCE = ("NFO", "BFO", "MCX", "CDS", "BCD", "NCO")


def fno_name(underlying: str) -> str:
    """Return the ``name`` the dump gives contracts on ``underlying`` ("NIFTY 50", "nifty", "NSE:NIFTY BANK"…)."""
    text = " ".join(underlying.split()).upper()
    if ":" in text:
        text = text.partition(":")[2].strip()
    if text in FNO_NAMES:
        return FNO_NAMES[text]
    alias = ALIASES.get(text.replace(" ", ""))
    if alias is not None:
        symbol = alias.partition(":")[2]
        return FNO_NAMES.get(symbol, symbol)
    return text


def live_rows(
    dump: Dump, underlying: str, kinds: tuple[str, ...], exchange: str | None, today: date, what: str
) -> np.ndarray:
    """Return the rows of unexpired ``kinds`` ("FUT", "CE", "PE") on ``underlying``, from one exchange.

    Args:
        dump: the day's dump.
        underlying: an index, alias or the contracts' ``name``.
        kinds: instrument types to keep.
        exchange: the exchange to take them from; None for the first of :data:`FNO_PREFERENCE` listing them.
        today: contracts expiring before this day are left out.
        what: how the error names the contracts ("futures", "options").

    Raises:
        UnknownInstrumentError: there are none (the message lists underlyings with such contracts).
    """
    fno = dump.fno
    name = fno_name(underlying)
    code = fno.name_code_of(name)
    mask = (fno.name_code == code) & np.isin(fno.type_code, fno.type_codes(*kinds))
    mask &= fno.expiry >= day_number(today)
    rows = np.flatnonzero(mask) if code >= 0 else np.zeros(0, dtype=np.int64)
    codes = dump.index.exchange_code[rows]
    listed = [dump.index.exchanges[c] for c in np.unique(codes).tolist()]
    if exchange is not None:
        chosen: str | None = exchange.upper()
    else:
        chosen = next((e for e in FNO_PREFERENCE if e in listed), min(listed, default=None))
    code_of = {e: i for i, e in enumerate(dump.index.exchanges)}
    rows = rows[codes == code_of[chosen]] if chosen in code_of else rows[:0]
    if not len(rows):
        where = f" on {chosen}" if exchange is not None else ""
        raise UnknownInstrumentError(f"{underlying} {what}{where}", _suggestions(fno, name, kinds))
    return rows


def _suggestions(fno: FnoColumns, name: str, kinds: tuple[str, ...]) -> list[str]:
    with_kind = np.unique(fno.name_code[np.isin(fno.type_code, fno.type_codes(*kinds))])
    names = [n.decode("utf-8", "replace") for n in fno.names[with_kind].tolist()]
    return difflib.get_close_matches(name, names, n=5, cutoff=0.5)


def futures_rows(dump: Dump, rows: np.ndarray) -> np.ndarray:
    """Return futures ``rows`` ordered by expiry, nearest first."""
    return rows[np.argsort(dump.fno.expiry[rows], kind="stable")]


def expiries(dump: Dump, rows: np.ndarray) -> list[date]:
    """Return the distinct expiries of ``rows``, nearest first."""
    return [from_day_number(d) for d in np.unique(dump.fno.expiry[rows]).tolist()]


def option_chain(dump: Dump, rows: np.ndarray, underlying: str, expiry: date | str | None) -> pd.DataFrame:
    """Return the chain of option ``rows`` for one expiry, one row per strike (see ``InstrumentStore.option_chain``).

    Raises:
        ValueError: ``expiry`` is not a date, or not one of the expiries (the message lists them).
    """
    import pandas as pd  # imported here: it costs ~0.3 s and only tables need it

    fno, index = dump.fno, dump.index
    available = expiries(dump, rows)
    if expiry is None:
        chosen = available[0]
    else:
        try:
            chosen = expiry if isinstance(expiry, date) else date.fromisoformat(str(expiry).strip())
        except ValueError:
            raise ValueError(f"expiry {expiry!r} is not a date (yyyy-mm-dd)") from None
        chosen = chosen.date() if isinstance(chosen, datetime) else chosen
        if chosen not in available:
            listed = ", ".join(d.isoformat() for d in available[:12])
            more = f" and {len(available) - 12} more" if len(available) > 12 else ""
            raise ValueError(f"{underlying} has no options expiring {chosen}; expiries: {listed}{more}")
    rows = rows[fno.expiry[rows] == day_number(chosen)]
    strikes = np.unique(fno.strike[rows])
    table: dict[str, Any] = {"strike": strikes}
    lots = np.zeros(len(strikes), dtype=np.int64)
    have_lot = np.zeros(len(strikes), dtype=bool)
    for side, kind in (("ce", "CE"), ("pe", "PE")):
        picked = rows[fno.type_code[rows] == fno.types.index(kind)] if kind in fno.types else rows[:0]
        picked = picked[::-1]  # assigned last-to-first: a repeated strike keeps its first row
        at = np.searchsorted(strikes, fno.strike[picked])
        tokens = pd.array([None] * len(strikes), dtype="Int64")
        tokens[at] = index.tokens[picked]
        symbols = np.full(len(strikes), None, dtype=object)
        symbols[at] = [s.decode("utf-8", "replace") for s in index.symbols[picked].tolist()]
        fill = ~have_lot[at]
        lots[at[fill]] = fno.lot_size[picked][fill]
        have_lot[at] = True
        table[f"{side}_token"], table[f"{side}_symbol"] = tokens, symbols
    table["lot_size"] = pd.array(lots, dtype="Int64")
    table["expiry"] = [chosen] * len(strikes)
    return pd.DataFrame(table)
