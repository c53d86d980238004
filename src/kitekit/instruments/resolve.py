"""How names traders type resolve to rows of a dump: tokens, keys, index aliases, exchange preferences, search.

The rules (:func:`resolve`):

1. an ``int`` or a string of digits is an instrument token;
2. ``EXCHANGE:SYMBOL`` is exact (exchange and symbol also tried upper-cased);
3. index names and aliases: "NIFTY 50", "NIFTY", "NIFTY BANK", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY",
   "NIFTYNXT50", "INDIA VIX", "SENSEX" and "BANKEX" (BSE), spaces and case ignored (:data:`ALIASES`);
4. a bare symbol, as typed then upper-cased: its NSE listing if there is one, else its BSE listing (the
   same company on the cash market), else the only exchange listing it; listed on several other exchanges
   it is ambiguous.

Each rule tries today's dump first, then the previous day's, so a contract that expired overnight still
resolves.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

import numpy as np

from kitekit.errors import AmbiguousInstrumentError, UnknownInstrumentError
from kitekit.instruments.model import Dump

__all__ = ["ALIASES", "CASH_PREFERENCE", "EXCHANGE_ORDER", "resolve", "search", "suggest"]

#: Names traders type for indices (upper case, spaces removed) and the key Kite lists them under.
ALIASES: dict[str, str] = {
    "NIFTY": "NSE:NIFTY 50",
    "NIFTY50": "NSE:NIFTY 50",
    "BANKNIFTY": "NSE:NIFTY BANK",
    "NIFTYBANK": "NSE:NIFTY BANK",
    "FINNIFTY": "NSE:NIFTY FIN SERVICE",
    "NIFTYFINSERVICE": "NSE:NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
    "NIFTYMIDSELECT": "NSE:NIFTY MID SELECT",
    "NIFTYNXT50": "NSE:NIFTY NEXT 50",
    "NIFTYNEXT50": "NSE:NIFTY NEXT 50",
    "INDIAVIX": "NSE:INDIA VIX",
    "SENSEX": "BSE:SENSEX",
    "BANKEX": "BSE:BANKEX",
}
#: A bare symbol on both cash exchanges resolves to the first of these.
CASH_PREFERENCE = ("NSE", "BSE")
#: The order search results list exchanges in: the cash markets, then derivatives.
EXCHANGE_ORDER = (*CASH_PREFERENCE, "NFO", "BFO", "MCX", "CDS", "BCD", "NCO")

#: Yields today's dump, then the previous day's (opened only if asked for).
Dumps = Callable[[], Iterator[Dump]]


def resolve(query: str | int, dumps: Dumps) -> tuple[Dump, int]:
    """Return the dump and row ``query`` names (see the module docstring for the rules).

    Raises:
        TypeError: ``query`` is neither a str nor an int.
        UnknownInstrumentError: nothing matches (the message lists the closest names).
        AmbiguousInstrumentError: a bare symbol is listed on several exchanges, none of them NSE or BSE.
    """
    if isinstance(query, bool) or not isinstance(query, int | str):
        raise TypeError(f"an instrument is named by a str or an int token, not {type(query).__name__}")
    if isinstance(query, int):
        return _by_token(query, dumps)
    text = " ".join(query.split())
    if text.isascii() and text.isdigit():
        return _by_token(int(text), dumps)
    if ":" in text:
        exchange, _, symbol = text.partition(":")
        exchange, symbol = exchange.strip().upper(), symbol.strip()
        for dump in dumps():
            for sym in dict.fromkeys((symbol, symbol.upper())):
                row = dump.index.row_of_key(exchange, sym)
                if row >= 0:
                    return dump, row
        alias = ALIASES.get(symbol.upper().replace(" ", ""))
        if alias is not None and alias.startswith(f"{exchange}:") and alias != f"{exchange}:{symbol}":
            return resolve(alias, dumps)  # "NSE:BANKNIFTY" means the index
        raise UnknownInstrumentError(text, suggest(next(dumps()), symbol, exchange))
    if not text:
        raise UnknownInstrumentError(query, [])
    alias = ALIASES.get(text.upper().replace(" ", ""))
    if alias is not None:
        return resolve(alias, dumps)
    for dump in dumps():
        for sym in dict.fromkeys((text, text.upper())):
            listed = dump.index.rows_of_symbol(sym)
            if listed:
                return dump, _pick_listing(text, sym, listed)
    raise UnknownInstrumentError(text, suggest(next(dumps()), text))


def _pick_listing(query: str, symbol: str, listed: dict[str, int]) -> int:
    for exchange in CASH_PREFERENCE:
        if exchange in listed:
            return listed[exchange]
    if len(listed) == 1:
        return next(iter(listed.values()))
    raise AmbiguousInstrumentError(query, [f"{e}:{symbol}" for e in sorted(listed)])


def _by_token(token: int, dumps: Dumps) -> tuple[Dump, int]:
    for dump in dumps():
        row = dump.index.row_of_token(token)
        if row >= 0:
            return dump, row
    raise UnknownInstrumentError(str(token), [])


def suggest(dump: Dump, text: str, exchange: str | None = None, limit: int = 5) -> list[str]:
    """Return the keys closest to ``text``: an instrument of that name, then similar symbols and aliases."""
    if not text.strip():
        return []
    index, fno = dump.index, dump.fno
    upper = " ".join(text.split()).upper()
    found: list[str] = []

    def add(symbol: str) -> None:
        listed = index.rows_of_symbol(symbol)
        if not listed:
            return
        chosen = exchange if exchange in listed else next((e for e in CASH_PREFERENCE if e in listed), None)
        key = f"{chosen or sorted(listed)[0]}:{symbol}"
        if key not in found:
            found.append(key)

    code = fno.name_code_of(upper)  # "INFOSYS" is the name of NSE:INFY
    if code >= 0:
        cash = fno.type_codes("EQ")
        for row in np.flatnonzero((fno.name_code == code) & np.isin(fno.type_code, cash))[:limit].tolist():
            add(index.symbols[row].decode("utf-8", "replace"))
    symbols = index.symbols
    pool_mask = np.char.startswith(symbols, upper[:2].encode())
    if not any(ch.isdigit() for ch in upper):  # not an option: leave the ~100k options out of the pool
        pool_mask &= ~np.isin(fno.type_code, fno.type_codes("CE", "PE"))
    pool = sorted({s.decode("utf-8", "replace") for s in symbols[pool_mask][:20000].tolist()})
    for symbol in difflib.get_close_matches(upper, pool, n=limit, cutoff=0.6):
        add(symbol)
    for alias in difflib.get_close_matches(upper.replace(" ", ""), list(ALIASES), n=2, cutoff=0.75):
        if ALIASES[alias] not in found:
            found.append(ALIASES[alias])
    if not found:
        hits = np.flatnonzero(np.char.find(symbols, upper.encode()) >= 0)[:limit]
        for row in hits.tolist():
            add(symbols[row].decode("utf-8", "replace"))
    return found[:limit]


def search(dump: Dump, text: str, limit: int = 10) -> list[int]:
    """Return the rows whose symbol or name contains ``text`` (case-insensitive), best first.

    Exact symbols first, then symbols starting with the text, then symbols and names containing it; within
    each, cash-market listings before derivatives and NSE before BSE.
    """
    needle = " ".join(text.split()).upper().encode()
    if not needle:
        return []
    index, fno = dump.index, dump.fno
    symbols = dump.upper_symbols
    in_symbol = np.char.find(symbols, needle) >= 0
    names = np.flatnonzero(np.char.find(np.char.upper(fno.names), needle) >= 0)
    rows = np.flatnonzero(in_symbol | np.isin(fno.name_code, names))
    if not len(rows):
        return []
    found = symbols[rows]
    rank = np.where(found == needle, 0, np.where(np.char.startswith(found, needle), 1, 2))
    rank = np.where(in_symbol[rows], rank, 3)
    derivative = np.isin(fno.type_code[rows], fno.type_codes("FUT", "CE", "PE"))
    order = {e: i for i, e in enumerate(EXCHANGE_ORDER)}
    by_code = np.array([order.get(e, len(order)) for e in index.exchanges], dtype=np.int64)
    best = np.lexsort((found, by_code[index.exchange_code[rows]], derivative, rank))[:limit]
    return [int(r) for r in rows[best]]
