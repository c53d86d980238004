"""Upstox's instruments dump behind the neutral :class:`~kitekit.brokers.BrokerInstruments`.

The day's gzipped JSON dump is cached as downloaded (one file a day, replaced atomically) and read into two
things: Kite-shaped records under the neutral identity (``NSE:INFY``, ``NSE:NIFTY 50``, ``NFO:NIFTY26DECFUT``),
indexed by kitekit's own :class:`~kitekit.instruments.InstrumentStore` so search, futures, expiries, option
chains and the pre-trade rules work unchanged; and the map between each record's numeric token and Upstox's
instrument key (``NSE_EQ|INE009A01021``, ``NSE_FO|43650``, ``NSE_INDEX|Nifty 50``). Both are cached per day
in Kite's day-file format (:func:`~kitekit.brokers.instruments.cache_records`): reading the dump takes seconds,
opening the cache milliseconds.

A contract's neutral symbol is spelled from its facts (:func:`~kitekit.brokers.model.derivative_symbol`); an
index's is its name in capitals (``Nifty 50`` → ``NIFTY 50``, Kite's spelling). Tokens are Upstox's exchange
token shifted left a byte with the segment in the low byte, as Kite builds its own: unique across segments.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.brokers.instruments import CHAIN_COLUMNS, cache_records, cached_records, neutral_instrument
from kitekit.brokers.model import BrokerInstrument, derivative_symbol
from kitekit.clock import Clock
from kitekit.errors import InstrumentCacheError, UnknownInstrumentError
from kitekit.files import atomic_write
from kitekit.wire.instruments_csv import Instrument, InstrumentFields, encode_fields
from kitekit.wire.upstox.instruments import decode_dump, expiry_date
from kitekit.wire.upstox.keys import Segment, segment_for

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.instruments import InstrumentStore

__all__ = ["UpstoxInstruments", "records_of"]

BROKER = "upstox"

# Each segment's Kite exchange, from the one table wire/upstox/keys keeps (its inverse).
_EXCHANGE: dict[Segment, str] = {}
for _kite in ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"):
    for _index in (False, True):
        _seg = segment_for(_kite, _index)
        if _seg is not None:
            _EXCHANGE.setdefault(_seg, _kite)
_SEGMENT_CODE = {s: n + 1 for n, s in enumerate(Segment)}
_KINDS = {"FUT": "FUT", "CE": "CE", "PE": "PE"}
# Each segment's facts a row needs, looked up by the dump's text once a row (not through the enum's lookup):
# its Kite exchange, whether it lists indices, its code in the token, and its futures' and options' segments.
_SEGMENT_FACTS: dict[str, tuple[str, bool, int, str, str]] = {
    s.value: (e, s.is_index, _SEGMENT_CODE[s], f"{e}-FUT", f"{e}-OPT") for s, e in _EXCHANGE.items()
}


@functools.lru_cache(maxsize=4096)
def _expiry(millis: int) -> date:
    # A dump has a few hundred distinct expiries across 100,000 rows: each is converted once.
    return expiry_date(millis)


@functools.lru_cache(maxsize=1024)
def _tick(paise: float | str) -> float:
    # A handful of distinct tick sizes across the dump: each is converted once.
    return round(float(paise) / 100, 4)


def _fields(row: dict[str, Any]) -> InstrumentFields | None:
    """Return one dump row's Kite-shaped record (its fields) under the neutral identity; None if it has none."""
    facts = _SEGMENT_FACTS.get(str(row.get("segment")))
    if facts is None:
        return None
    exchange, is_index, code, futures, options = facts
    kind = str(row.get("instrument_type", ""))
    name = str(row.get("name", ""))
    expiry = _expiry(int(row["expiry"])) if row.get("expiry") else None
    strike = float(row.get("strike_price") or 0.0)
    if is_index:
        symbol = name = name.upper()
        kite_type, kite_segment = "EQ", "INDICES"
    elif kind in _KINDS and expiry is not None:
        under = str(row.get("underlying_symbol") or row.get("asset_symbol") or name)
        symbol = derivative_symbol(under, kind, expiry, strike, monthly=not row.get("weekly", False))
        name, kite_type = under, kind
        kite_segment = futures if kind == "FUT" else options
    else:
        symbol, kite_type, kite_segment = str(row.get("trading_symbol", "")), "EQ", exchange
    if not symbol:
        return None
    text = str(row.get("exchange_token") or "")
    base = int(text) if text.isascii() and text.isdigit() else zlib.crc32(str(row["instrument_key"]).encode())
    token = (base << 8) | code
    tick = _tick(row.get("tick_size") or 0.0)  # the dump gives paise
    lot = int(row.get("lot_size") or 0)
    return (token, token >> 8, symbol, name, 0.0, expiry, strike, tick, lot, kite_type, kite_segment, exchange)


def _fields_of(rows: list[dict[str, Any]]) -> tuple[list[InstrumentFields], list[str]]:
    # Each record's fields and Upstox key, in dump order; a token seen before is skipped (its first row stands).
    fields: list[InstrumentFields] = []
    keys: list[str] = []
    seen: set[int] = set()
    for row in rows:
        found = _fields(row)
        if found is not None and found[0] not in seen:
            seen.add(found[0])
            fields.append(found)
            keys.append(str(row["instrument_key"]))
    return fields, keys


def records_of(rows: list[dict[str, Any]]) -> tuple[list[Instrument], dict[int, str]]:
    """Return the Kite-shaped records of a dump's rows, and each record's token's Upstox instrument key."""
    fields, keys = _fields_of(rows)
    return [Instrument(*f) for f in fields], dict(zip((f[0] for f in fields), keys, strict=True))


# The records of the last dump read in this process, by its bytes' digest: every store over the same dump (another
# broker object, a new session, the next test's cache folder) reads it once. They are the day file's CSV, its
# tokens and Upstox keys in row order (nothing mutates them).
_Read = tuple[bytes, list[int], list[str]]
_read_lock = threading.Lock()
_read: dict[bytes, _Read] = {}


def _remembered(data: bytes) -> tuple[bytes, _Read | None]:
    digest = hashlib.blake2b(data, digest_size=32).digest()
    with _read_lock:
        return digest, _read.get(digest)


def _remember(digest: bytes, rows: list[dict[str, Any]]) -> _Read:
    fields, keys = _fields_of(rows)
    found = (encode_fields(fields), [f[0] for f in fields], keys)
    with _read_lock:
        _read.clear()  # one dump kept: a new day's replaces the last
        _read[digest] = found
    return found


class UpstoxInstruments:
    """The neutral instrument store on Upstox's dump.

    Args:
        cache_dir: where each day's dump is kept.
        download: returns the dump's bytes (Upstox's asset URL, or a simulator's).
        clock: the time source (which day's dump is current).
    """

    broker = BROKER

    def __init__(self, cache_dir: Path, download: Callable[[], bytes], clock: Clock) -> None:
        self.cache_dir = cache_dir
        self.download = download
        self.clock = clock
        self._lock = threading.RLock()
        self._day: date | None = None
        self._store: InstrumentStore | None = None
        self._keys: dict[int, str] = {}
        self._tokens: dict[str, int] = {}

    def _today(self) -> date:
        from kitekit.instruments import InstrumentStore

        return InstrumentStore(self.cache_dir, clock=self.clock).dump_day()

    def _file(self, day: date) -> Path:
        return self.cache_dir / f"upstox-{day.isoformat()}.json.gz"

    def _parsed(self, day: date) -> Path:
        return self.cache_dir / f"{BROKER}-{day.isoformat()}.kkdump"

    def sync(self, force: bool = False) -> bool:
        """Download the day's dump unless cached (always with ``force``); return True if it downloaded.

        Route: ``GET complete.json.gz`` (Upstox's asset host; no token).
        """
        return self._sync(self._today(), force) is not None

    def _sync(self, day: date, force: bool) -> tuple[bytes, list[dict[str, Any]] | None] | None:
        # What it downloaded and its rows, None if it did not: read once here, they are not read again by store().
        # The rows are None if this process has read the same bytes before (they are a good dump).
        path = self._file(day)
        if path.exists() and not force:
            return None
        raw = self.download()
        rows = decode_dump(raw) if _remembered(raw)[1] is None else None  # a broken download never replaces a good file
        try:
            self._parsed(day).unlink(missing_ok=True)  # first: its records are of the dump being replaced
            atomic_write(path, raw, 0o644)
        except OSError as exc:
            raise InstrumentCacheError(f"Could not cache Upstox's instruments in {path}: {exc}") from exc
        with self._lock:
            self._day = None
        return raw, rows

    def load(self) -> UpstoxInstruments:
        """Load the day's dump (downloading it only when the cache lacks it); return self."""
        self.store()
        return self

    def store(self) -> InstrumentStore:
        """Return kitekit's instrument store over the day's records (the rules' facts).

        The records are read from the dump once a day and cached beside it (``upstox-YYYY-MM-DD.kkdump``,
        Kite's day-file format); later processes open that in milliseconds instead of parsing the dump.
        """
        day = self._today()
        with self._lock:
            if self._store is not None and self._day == day:
                return self._store
            downloaded = self._sync(day, False)
            dump, parsed = self._file(day), self._parsed(day)
            if downloaded is None:
                cached = cached_records(parsed, day, BROKER, dump, self.clock)
                if cached is not None:
                    store, tokens, header = cached
                    listed = header.get("keys")
                    if isinstance(listed, list) and len(listed) == len(tokens):
                        self._install(store, dict(zip(tokens, map(str, listed), strict=True)), day)
                        return store
            raw, tokens, keys = self._records(day, dump, downloaded)
            store = cache_records(parsed, day, BROKER, dump, raw, {"keys": keys}, self.clock)
            self._install(store, dict(zip(tokens, keys, strict=True)), day)
            return store

    def _records(self, day: date, dump: Path, downloaded: tuple[bytes, list[dict[str, Any]] | None] | None) -> _Read:
        # The dump's records from the bytes just downloaded (and their rows) or from its file, once a process.
        rows: list[dict[str, Any]] | None = None
        if downloaded is None:
            try:
                data = dump.read_bytes()
            except OSError as exc:
                raise InstrumentCacheError(f"Upstox's instruments of {day} cannot be read: {exc}") from exc
        else:
            data, rows = downloaded
        digest, found = _remembered(data)
        if found is not None:
            return found
        if rows is None:
            try:
                rows = decode_dump(data)
            except ValueError as exc:
                raise InstrumentCacheError(f"Upstox's instruments of {day} cannot be read: {exc}") from exc
        return _remember(digest, rows)

    def _install(self, store: InstrumentStore, keys: dict[int, str], day: date) -> None:
        self._store, self._keys, self._tokens = store, keys, {v: k for k, v in keys.items()}
        self._day = day

    def _query(self, query: str | int) -> str | int:
        # Upstox's own key is taken wherever a name is: it is turned into the record's token.
        if isinstance(query, str) and "|" in query:
            self.store()
            token = self._tokens.get(query)
            if token is None:
                raise UnknownInstrumentError(query)
            return token
        return query

    def _neutral(self, record: Instrument) -> BrokerInstrument:
        return neutral_instrument(record, BROKER, self._keys[record.instrument_token])

    def instrument(self, query: str | int) -> BrokerInstrument:
        """Return the instrument ``query`` names: ``EXCHANGE:SYMBOL``, Upstox's key, a token, an index or a symbol."""
        return self._neutral(self.store().instrument(self._query(query)))

    def key(self, query: str | int) -> str:
        """Return the neutral identity of ``query``."""
        return self.store().key(self._query(query))

    def broker_key(self, query: str | int) -> str:
        """Return Upstox's instrument key of ``query`` (what its quotes, candles and feed take)."""
        return self._keys[self.store().token(self._query(query))]

    def upstox_key(self, token: int) -> str:
        """Return Upstox's instrument key of a record's token."""
        self.store()
        return self._keys[token]

    def search(self, text: str, limit: int = 10) -> list[BrokerInstrument]:
        """Return instruments whose symbol or name contains ``text``, best first."""
        return [self._neutral(i) for i in self.store().search(text, limit)]

    def futures(self, underlying: str, exchange: str | None = None) -> list[BrokerInstrument]:
        """Return the live futures of ``underlying``, nearest first."""
        return [self._neutral(i) for i in self.store().futures(underlying, exchange)]

    def nearest_future(self, underlying: str, n: int = 0, exchange: str | None = None) -> BrokerInstrument:
        """Return the ``n``-th nearest live future of ``underlying``."""
        return self._neutral(self.store().nearest_future(underlying, n, exchange))

    def expiries(self, underlying: str, exchange: str | None = None) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first."""
        return self.store().expiries(underlying, exchange)

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return one expiry's chain with the neutral columns (:data:`~kitekit.brokers.instruments.CHAIN_COLUMNS`)."""
        import pandas as pd

        store = self.store()
        chain = store.option_chain(underlying, expiry, exchange)
        tokens = pd.concat([chain["ce_token"].dropna(), chain["pe_token"].dropna()])
        venue = store.instrument(int(tokens.iloc[0])).exchange if len(tokens) else exchange or ""

        def key(symbol: object) -> str | None:
            return f"{venue}:{symbol}" if isinstance(symbol, str) and symbol else None

        def upstox(token: object) -> str | None:
            return None if pd.isna(token) else self._keys.get(int(token))  # type: ignore[call-overload]

        out = chain.assign(
            ce_key=chain["ce_symbol"].map(key),
            pe_key=chain["pe_symbol"].map(key),
            ce_broker_key=chain["ce_token"].astype(object).map(upstox),
            pe_broker_key=chain["pe_token"].astype(object).map(upstox),
        )
        return out.loc[:, list(CHAIN_COLUMNS)]

    def rule_facts(self) -> InstrumentStore:
        """Return the store of Kite-shaped records: what the pre-trade rules and the paper broker read."""
        return self.store()
