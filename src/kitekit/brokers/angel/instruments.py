"""Angel One's scrip master as neutral instruments: every row mapped to ``EXCHANGE:SYMBOL`` (Kite's spelling) and back.

The mapping, row by row (the master's fields are read by :mod:`kitekit.wire.angel.scrip`):

- an index (``AMXIDX``) is its exchange and its symbol upper-cased: ``Nifty 50`` is ``NSE:NIFTY 50``;
- an NSE equity drops Angel's ``-EQ`` series suffix: ``INFY-EQ`` is ``NSE:INFY`` (BSE's carry none);
- a contract is spelled from its facts by :func:`~kitekit.brokers.model.derivative_symbol`, monthly when it
  is its underlying's last expiry of the month: ``NIFTY29DEC26FUT`` is ``NFO:NIFTY26DECFUT``.

The broker's own key (``broker_key``) is ``EXCH|token``: Angel's tokens are unique per exchange only, and every
Angel call names both. ``token`` (the number the paper engine keys by) is the token with the exchange type in
front (``1_000_000_000 × type + token``), unique across exchanges.

The master is one public JSON file (no login), downloaded once a day into the cache (atomically).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.brokers.angel.capabilities import BROKER
from kitekit.brokers.instruments import CHAIN_COLUMNS, cache_records, cached_records, rule_facts, rule_fields
from kitekit.brokers.model import BrokerInstrument, InstrumentKind, derivative_symbol
from kitekit.clock import Clock
from kitekit.errors import InstrumentCacheError, UnknownInstrumentError
from kitekit.files import atomic_write
from kitekit.wire.angel.scrip import INDEX_TYPE, expiry_of, strike_of, tick_of
from kitekit.wire.angel.stream import EXCHANGE_TYPES
from kitekit.wire.instruments_csv import Instrument, encode_fields

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AngelInstruments", "AngelRuleFacts", "instruments_of", "neutral_token"]

log = logging.getLogger("kitekit.brokers.angel")

#: The order bare names are looked for in: cash before derivatives, NSE before BSE (as Kite's store does).
_EXCHANGE_ORDER = ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "NCDEX")
_DERIVATIVE_ORDER = ("NFO", "BFO", "MCX", "CDS", "NCDEX")
_TOKEN_BASE = 1_000_000_000
_DERIVATIVES = frozenset({InstrumentKind.FUTURE, InstrumentKind.CALL, InstrumentKind.PUT})


def neutral_token(exchange: str, token: str) -> int:
    """Return the number an Angel instrument is keyed by in kitekit (unique across exchanges)."""
    return int(EXCHANGE_TYPES[exchange]) * _TOKEN_BASE + int(token)


def _kind(row: dict[str, str]) -> InstrumentKind:
    kind = row.get("instrumenttype", "")
    if kind == INDEX_TYPE:
        return InstrumentKind.INDEX
    if kind.startswith("FUT"):
        return InstrumentKind.FUTURE
    if kind.startswith("OPT"):
        return InstrumentKind.CALL if row["symbol"].endswith("CE") else InstrumentKind.PUT
    return InstrumentKind.EQUITY


def _segment(exchange: str, kind: InstrumentKind) -> str:
    if kind is InstrumentKind.INDEX:
        return "INDICES"
    if kind is InstrumentKind.FUTURE:
        return f"{exchange}-FUT"
    if kind in (InstrumentKind.CALL, InstrumentKind.PUT):
        return f"{exchange}-OPT"
    return exchange


def instruments_of(rows: Iterable[dict[str, str]]) -> list[BrokerInstrument]:
    """Return the scrip master's rows as neutral instruments (rows of unknown exchanges or malformed are skipped)."""
    parsed: list[tuple[dict[str, str], InstrumentKind, date | None]] = []
    expiries: dict[str, date | None] = {}  # a few dozen distinct expiries among 100,000 contracts
    last_of_month: dict[tuple[str, str, int, int], date] = {}
    for row in rows:
        try:
            if row["exch_seg"] not in EXCHANGE_TYPES or not row["token"].isdigit():
                continue
            kind = _kind(row)
            expiry = None
            if kind in _DERIVATIVES:
                text = row.get("expiry", "")
                if text not in expiries:
                    expiries[text] = expiry_of(text)
                expiry = expiries[text]
        except (KeyError, ValueError, AttributeError):
            continue
        if kind in _DERIVATIVES and expiry is None:
            continue
        parsed.append((row, kind, expiry))
        if expiry is not None:
            month = (row["exch_seg"], row["name"], expiry.year, expiry.month)
            if expiry > last_of_month.get(month, date.min):
                last_of_month[month] = expiry
    # A few distinct strikes, ticks and lots among 100,000 rows: each text is read once (a malformed one raises
    # each time, as it would unread).
    strikes: dict[str, float] = {}
    ticks: dict[str, float] = {}
    lots: dict[str | int, int] = {}
    out: list[BrokerInstrument] = []
    for row, kind, expiry in parsed:
        exchange, angel_symbol = row["exch_seg"], row["symbol"]
        strike = 0.0
        if kind is InstrumentKind.INDEX:
            symbol = angel_symbol.upper()
        elif kind is InstrumentKind.EQUITY:
            symbol = angel_symbol[:-3] if exchange == "NSE" and angel_symbol.endswith("-EQ") else angel_symbol
        else:
            assert expiry is not None  # noqa: S101 - checked above
            if kind is not InstrumentKind.FUTURE:
                text = row.get("strike", "-1")
                found = strikes.get(text)
                if found is None:
                    found = strikes[text] = strike_of(text) or 0.0
                strike = found
            monthly = last_of_month[(exchange, row["name"], expiry.year, expiry.month)] == expiry
            symbol = derivative_symbol(row["name"], kind, expiry, strike, monthly=monthly)
        try:
            text = row.get("tick_size") or "5"
            tick = ticks.get(text)
            if tick is None:
                tick = ticks[text] = tick_of(text) or 0.05
            lot_text = row.get("lotsize") or 1
            lot = lots.get(lot_text)
            if lot is None:
                lot = lots[lot_text] = max(int(float(lot_text)), 1)
        except ValueError:
            continue
        token = row["token"]
        out.append(
            BrokerInstrument(
                exchange=exchange,
                symbol=symbol,
                name=row.get("name", "") or symbol,
                kind=kind,
                segment=_SEGMENTS[exchange, kind],
                tick_size=tick,
                lot_size=lot,
                broker=BROKER,
                broker_key=f"{exchange}|{token}",
                expiry=expiry,
                strike=strike,
                token=_TOKEN_BASES[exchange] + int(token),
            )
        )
    return out


# Each exchange's segment of each kind, and the first of its neutral tokens (see neutral_token).
_SEGMENTS = {(exchange, kind): _segment(exchange, kind) for exchange in EXCHANGE_TYPES for kind in InstrumentKind}
_TOKEN_BASES = {exchange: neutral_token(exchange, "0") for exchange in EXCHANGE_TYPES}
# Each kind by its text (the enum's own lookup by value is slow for 100,000 rows).
_KINDS = {kind.value: kind for kind in InstrumentKind}


class AngelRuleFacts:
    """The records the pre-trade rules and the paper broker read, from Angel's instruments."""

    def __init__(self, store: AngelInstruments) -> None:
        self.store = store

    def instrument(self, query: str | int) -> Instrument:
        """Return the rules' record of ``query`` (any query :meth:`AngelInstruments.instrument` takes)."""
        return rule_facts(self.store.instrument(query))


class AngelInstruments:
    """The neutral instrument store over Angel One's scrip master, cached per day.

    Args:
        download: returns the master's bytes (the public JSON file).
        cache_dir: where each day's master is kept (``angel-scrip-YYYY-MM-DD.json``).
        clock: today's date, and which expiries are still live.
    """

    broker = BROKER

    def __init__(self, download: Callable[[], bytes], cache_dir: Path, clock: Clock) -> None:
        self.download = download
        self.cache_dir = cache_dir
        self.clock = clock
        self._lock = threading.Lock()
        self._day: date | None = None
        self._ix = _Index([], [])

    def _path(self, day: date) -> Path:
        return self.cache_dir / f"angel-scrip-{day.isoformat()}.json"

    def sync(self, force: bool = False) -> bool:
        """Download the day's scrip master unless cached (always with ``force``); return True if it downloaded.

        Route: ``GET /OpenAPI_File/files/OpenAPIScripMaster.json`` (public).
        """
        return self._sync(self.clock.now().date(), force) is not None

    def _sync(self, day: date, force: bool) -> list[Any] | None:
        # The rows of what it downloaded, None if it did not: read once here, they are not read again by load().
        path = self._path(day)
        if path.exists() and not force:
            return None
        raw = self.download()
        try:
            rows = json.loads(raw)
        except ValueError as exc:
            raise InstrumentCacheError(f"Angel One's scrip master is not JSON: {exc}") from exc
        if not isinstance(rows, list):
            raise InstrumentCacheError("Angel One's scrip master is not a list of instruments")
        # The records parsed from the master being replaced go first: they must never outlive it.
        (self.cache_dir / f"{BROKER}-{day.isoformat()}.kkdump").unlink(missing_ok=True)
        atomic_write(path, raw, 0o644)
        for old in self.cache_dir.glob("angel-scrip-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
        with self._lock:
            self._day = None
        return rows

    def load(self) -> AngelInstruments:
        """Load the day's list (downloading it only when the cache lacks it); return self.

        The parsed list is shared by every store of this process reading the same cached file (it is large:
        every contract of every exchange), so a second broker or a new store costs nothing.
        """
        today = self.clock.now().date()
        with self._lock:
            if self._day == today:
                return self
        rows = self._sync(today, False)
        index = _parsed(self._path(today), today, self.clock, rows)
        with self._lock:
            self._ix = index
            self._day = today
        return self

    # -- lookups --------------------------------------------------------------------------------------
    def instrument(self, query: str | int) -> BrokerInstrument:
        """Return the instrument ``query`` names: ``EXCHANGE:SYMBOL``, a name, ``EXCH|token``, a token, Angel's symbol.

        Raises:
            UnknownInstrumentError: nothing matches (with the closest names).
        """
        self.load()
        found = self._find(query)
        if found is None:
            text = str(query)
            close = get_close_matches(text.upper(), list(self._ix.by_key), n=3, cutoff=0.8)
            raise UnknownInstrumentError(text, close)
        return found

    def _find(self, query: str | int) -> BrokerInstrument | None:
        if isinstance(query, int) or (isinstance(query, str) and query.strip().isdigit()):
            number = int(query)
            if number in self._ix.by_token:
                return self._ix.by_token[number]
            listed = self._ix.by_angel_token.get(str(number), [])
            return _preferred(listed)
        text = query.strip()
        if "|" in text:
            exchange, _, token = text.partition("|")
            return self._ix.by_broker.get(f"{exchange.upper()}|{token.strip()}")
        if ":" in text:
            exchange, _, symbol = text.partition(":")
            key = f"{exchange.strip().upper()}:{symbol.strip()}"
            return (
                self._ix.by_key.get(key) or self._ix.by_key.get(key.upper()) or self._ix.angel_symbols.get(key.upper())
            )
        listed = self._ix.by_symbol.get(text.upper(), [])
        return _preferred(listed) or self._ix.angel_symbols.get(text.upper())

    def key(self, query: str | int) -> str:
        """Return the neutral identity of ``query``."""
        return self.instrument(query).key

    def broker_key(self, query: str | int) -> str:
        """Return ``EXCH|token``: what Angel's calls name an instrument by."""
        return self.instrument(query).broker_key

    def angel_symbol(self, instrument: BrokerInstrument) -> str:
        """Return Angel's own trading symbol of ``instrument`` (``INFY-EQ``), as its order calls take it."""
        self.load()
        return self._ix.angel_symbol_of.get(instrument.broker_key, instrument.symbol)

    def search(self, text: str, limit: int = 10) -> list[BrokerInstrument]:
        """Return instruments whose symbol or name contains ``text``: exact symbols first, cash before contracts."""
        self.load()
        wanted = text.strip().upper()
        hits = [i for i in self._ix.all if wanted in i.symbol.upper() or wanted in i.name.upper()]
        hits.sort(key=lambda i: (i.symbol.upper() != wanted, i.kind.derivative, _rank(i.exchange), len(i.symbol)))
        return hits[:limit]

    def _contracts(self, underlying: str, exchange: str | None) -> list[BrokerInstrument]:
        self.load()
        listed = self._ix.derivatives.get(underlying.strip().upper(), [])
        if exchange is not None:
            return [i for i in listed if i.exchange == exchange.upper()]
        venues = {i.exchange for i in listed}
        venue = next((v for v in _DERIVATIVE_ORDER if v in venues), None)
        return [i for i in listed if i.exchange == venue]

    def futures(self, underlying: str, exchange: str | None = None) -> list[BrokerInstrument]:
        """Return the live futures of ``underlying``, nearest first."""
        today = self.clock.now().date()
        live = [
            i
            for i in self._contracts(underlying, exchange)
            if i.kind is InstrumentKind.FUTURE and i.expiry is not None and i.expiry >= today
        ]
        return sorted(live, key=lambda i: i.expiry or date.max)

    def nearest_future(self, underlying: str, n: int = 0, exchange: str | None = None) -> BrokerInstrument:
        """Return the ``n``-th nearest live future of ``underlying``.

        Raises:
            UnknownInstrumentError: fewer live futures than that.
        """
        listed = self.futures(underlying, exchange)
        if n >= len(listed):
            raise UnknownInstrumentError(f"future #{n} of {underlying}")
        return listed[n]

    def expiries(self, underlying: str, exchange: str | None = None) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first."""
        today = self.clock.now().date()
        return sorted(
            {
                i.expiry
                for i in self._contracts(underlying, exchange)
                if i.kind in (InstrumentKind.CALL, InstrumentKind.PUT) and i.expiry is not None and i.expiry >= today
            }
        )

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return one expiry's chain (the nearest by default), one row per strike, with :data:`CHAIN_COLUMNS`.

        Raises:
            UnknownInstrumentError: no options of ``underlying`` on that expiry.
        """
        import pandas as pd

        day = date.fromisoformat(expiry) if isinstance(expiry, str) else expiry
        if day is None:
            found = self.expiries(underlying, exchange)
            if not found:
                raise UnknownInstrumentError(f"options of {underlying}")
            day = found[0]
        rows: dict[float, dict[str, Any]] = {}
        for inst in self._contracts(underlying, exchange):
            if inst.expiry != day or inst.kind not in (InstrumentKind.CALL, InstrumentKind.PUT):
                continue
            side = "ce" if inst.kind is InstrumentKind.CALL else "pe"
            row = rows.setdefault(
                inst.strike,
                {"strike": inst.strike, "ce_key": None, "pe_key": None, "ce_broker_key": None, "pe_broker_key": None},
            )
            row[f"{side}_key"], row[f"{side}_broker_key"] = inst.key, inst.broker_key
            row["lot_size"], row["expiry"] = inst.lot_size, inst.expiry
        if not rows:
            raise UnknownInstrumentError(f"options of {underlying} expiring {day}")
        frame = pd.DataFrame([rows[s] for s in sorted(rows)])
        return frame.loc[:, list(CHAIN_COLUMNS)]

    def rule_facts(self) -> AngelRuleFacts:
        """Return the lookup the pre-trade rules and the paper broker read."""
        return AngelRuleFacts(self)


class _Index:
    """One parsed scrip master and its lookups.

    Each lookup table is built on its first use: a command names one or two instruments, and building every
    table over the whole master (six dictionaries of 100,000 entries) cost more than opening the cache.
    """

    def __init__(self, found: list[BrokerInstrument], symbols: list[tuple[str, str]]) -> None:
        self.all = found
        self._symbols = symbols

    @functools.cached_property
    def by_key(self) -> dict[str, BrokerInstrument]:
        out: dict[str, BrokerInstrument] = {}
        for inst in self.all:
            out.setdefault(inst.key, inst)
        return out

    @functools.cached_property
    def by_broker(self) -> dict[str, BrokerInstrument]:
        return {inst.broker_key: inst for inst in self.all}

    @functools.cached_property
    def by_token(self) -> dict[int, BrokerInstrument]:
        return {inst.token: inst for inst in self.all if inst.token is not None}

    @functools.cached_property
    def by_angel_token(self) -> dict[str, list[BrokerInstrument]]:
        out: dict[str, list[BrokerInstrument]] = defaultdict(list)
        for inst in self.all:
            out[inst.broker_key.partition("|")[2]].append(inst)
        return out

    @functools.cached_property
    def by_symbol(self) -> dict[str, list[BrokerInstrument]]:
        out: dict[str, list[BrokerInstrument]] = defaultdict(list)
        for inst in self.all:
            out[inst.symbol.upper()].append(inst)
        return out

    @functools.cached_property
    def derivatives(self) -> dict[str, list[BrokerInstrument]]:
        out: dict[str, list[BrokerInstrument]] = defaultdict(list)
        for inst in self.all:
            if inst.kind in _DERIVATIVES:
                out[inst.name.upper()].append(inst)
        return out

    @functools.cached_property
    def _angel(self) -> tuple[dict[str, BrokerInstrument], dict[str, str]]:
        # Angel's own symbols (INFY-EQ, Nifty 50, NIFTY29DEC26FUT) are found too, by exchange and token.
        by_broker = self.by_broker
        symbols: dict[str, BrokerInstrument] = {}
        symbol_of: dict[str, str] = {}
        for broker_key, symbol in self._symbols:
            listed = by_broker.get(broker_key)
            if listed is not None:
                symbol_of[listed.broker_key] = symbol
                symbols.setdefault(f"{broker_key.partition('|')[0]}:{symbol}".upper(), listed)
                symbols.setdefault(symbol.upper(), listed)
        return symbols, symbol_of

    @property
    def angel_symbols(self) -> dict[str, BrokerInstrument]:
        return self._angel[0]

    @property
    def angel_symbol_of(self) -> dict[str, str]:
        return self._angel[1]


_parsed_lock = threading.Lock()
_parsed_cache: dict[tuple[str, int, int], _Index] = {}


def _parsed(path: Path, day: date, clock: Clock, downloaded: list[Any] | None = None) -> _Index:
    """Return the parsed master in ``path``, parsed once per process for each version of the file.

    The parse is cached on disk too (``angel-YYYY-MM-DD.kkdump``, Kite's day-file format, with each row's
    ``EXCH|token`` and Angel symbol in its header): a later process opens that instead of the master.
    ``downloaded`` is the master's rows when it was just downloaded into ``path`` (so not read again).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _parsed_lock:
        found = _parsed_cache.get(key)
        if found is not None:
            return found
        parsed = path.parent / f"{BROKER}-{day.isoformat()}.kkdump"
        index = _from_cache(parsed, day, path, clock) if downloaded is None else None
        if index is None:
            rows: Any = json.loads(path.read_bytes()) if downloaded is None else downloaded
            rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
            listed = instruments_of(rows)
            symbols = [
                (f"{r.get('exch_seg')}|{r.get('token')}", r["symbol"]) for r in rows if isinstance(r.get("symbol"), str)
            ]
            index = _Index(listed, symbols)
            facts = {
                "keys": [i.broker_key for i in listed],
                "symbols": [index.angel_symbol_of.get(i.broker_key, "") for i in listed],
            }
            raw = encode_fields(map(rule_fields, listed))
            cache_records(parsed, day, BROKER, path, raw, facts, clock)
        for old in list(_parsed_cache)[:-1]:  # the last two versions are kept: yesterday's and today's
            del _parsed_cache[old]
        _parsed_cache[key] = index
        return index


def _from_cache(parsed: Path, day: date, master: Path, clock: Clock) -> _Index | None:
    """Return the index of the records cached at ``parsed`` for ``master``, or None to parse the master."""
    cached = cached_records(parsed, day, BROKER, master, clock)
    if cached is None:
        return None
    store, tokens, header = cached
    keys, symbols = header.get("keys"), header.get("symbols")
    if not (isinstance(keys, list) and isinstance(symbols, list) and len(keys) == len(symbols) == len(tokens)):
        return None
    table = store.frame()
    columns = (table[c].tolist() for c in ("exchange", "tradingsymbol", "name", "instrument_type", "segment"))
    numbers = (table[c].tolist() for c in ("tick_size", "lot_size", "expiry", "strike", "instrument_token"))
    found = [
        BrokerInstrument(
            exchange=exchange,
            symbol=symbol,
            name=name,
            kind=InstrumentKind.INDEX if segment == "INDICES" else _KINDS.get(kind) or InstrumentKind(kind),
            segment=segment,
            tick_size=tick,
            lot_size=lot,
            broker=BROKER,
            broker_key=str(broker_key),
            expiry=expiry,
            strike=strike,
            token=token,
        )
        for exchange, symbol, name, kind, segment, tick, lot, expiry, strike, token, broker_key in zip(
            *columns, *numbers, keys, strict=True
        )
    ]
    return _Index(found, [(str(k), str(a)) for k, a in zip(keys, symbols, strict=True) if a])


def _rank(exchange: str) -> int:
    return _EXCHANGE_ORDER.index(exchange) if exchange in _EXCHANGE_ORDER else len(_EXCHANGE_ORDER)


def _preferred(listed: list[BrokerInstrument]) -> BrokerInstrument | None:
    if not listed:
        return None
    return min(listed, key=lambda i: (i.kind.derivative, _rank(i.exchange)))
