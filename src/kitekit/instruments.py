"""The instrument store: Kite's daily dump cached on disk, indexed, and looked up in microseconds.

The official SDK downloads and parses the whole dump (100k+ rows, seconds) on every ``instruments()`` call.
The store downloads it at most once per trading day, after the 08:30 IST regeneration, keeps it (and the
previous day's) on disk with a binary index that opens in milliseconds, and answers lookups by
``EXCHANGE:SYMBOL``, token, or the names traders type ("NIFTY 50", "BANKNIFTY", "RELIANCE").

How names resolve (:meth:`InstrumentStore.instrument`):

1. an ``int`` or a string of digits is an instrument token;
2. ``EXCHANGE:SYMBOL`` is exact (exchange and symbol also tried upper-cased);
3. index names and aliases: "NIFTY 50", "NIFTY", "NIFTY BANK", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY",
   "NIFTYNXT50", "INDIA VIX", "SENSEX" and "BANKEX" (BSE), spaces and case ignored (:data:`ALIASES`);
4. a bare symbol, as typed then upper-cased: its NSE listing if there is one, else its BSE listing (the
   same company on the cash market), else the only exchange listing it; listed on several other exchanges
   it is ambiguous.

Tokens and keys missing from today's dump are looked up in the previous day's, so a contract that expired
overnight still resolves. Unknown names raise :class:`~kitekit.errors.UnknownInstrumentError` with the closest
matches; ambiguous ones :class:`~kitekit.errors.AmbiguousInstrumentError` with the candidates.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urljoin

import numpy as np
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit import _instrument_cache as cache
from kitekit._instrument_index import FnoColumns, InstrumentIndex
from kitekit.clock import IST, Clock, SystemClock, ensure_aware
from kitekit.errors import AmbiguousInstrumentError, InstrumentCacheError, UnknownInstrumentError
from kitekit.files import atomic_write
from kitekit.markethours import TradingCalendar
from kitekit.wire.instruments_csv import COLUMNS, HEADER, DumpColumns, parse_expiry, parse_float, parse_int

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALIASES", "Instrument", "InstrumentStore", "Progress", "fetch_dump"]

log = logging.getLogger("kitekit.instruments")

#: Called while downloading with (bytes received, total bytes or None when the size is unknown).
Progress = Callable[[int, int | None], None]
#: Downloads a dump: ``(exchange or None for all, progress) -> CSV bytes``.
Fetcher = Callable[[str | None, Progress | None], bytes]

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
#: Index symbols -> the ``name`` their futures and options carry in the dump.
FNO_NAMES: dict[str, str] = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "NIFTY NEXT 50": "NIFTYNXT50",
}
#: A bare symbol on both cash exchanges resolves to the first of these.
CASH_PREFERENCE = ("NSE", "BSE")
#: Where an underlying's futures and options are taken from when several exchanges list them.
FNO_PREFERENCE = ("NFO", "BFO", "MCX", "CDS", "BCD", "NCO")
#: What :meth:`InstrumentStore.build_token_cache` always writes (plus the nearest futures of DEFAULT_FUTURES).
DEFAULT_TOKENS = ("NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:RELIANCE", "NSE:TCS", "NSE:HDFCBANK")
DEFAULT_FUTURES = ("NIFTY", "BANKNIFTY")

_EPOCH = date(1970, 1, 1)
_MEMO_LIMIT = 65_536
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of the dump, with Kite's wire names and Python types (``expiry`` None when it has none)."""

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


def _record(fields: Sequence[str]) -> Instrument:
    # The same cell rules as the vectorised columns: empty or malformed numbers read as 0.
    return Instrument(
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


def fetch_dump(kite: KiteConnect, exchange: str | None = None, progress: Progress | None = None) -> bytes:
    """Download the raw instruments CSV through the client's ``requests`` session.

    Route: ``GET /instruments`` or ``GET /instruments/{exchange}``.

    We bypass the SDK here on purpose, in this one function: ``KiteConnect.instruments()`` always parses the
    CSV into a list of dicts (seconds for 100k+ rows), the very cost the store exists to avoid, and it offers
    no way to get the bytes. The request goes through ``kite.reqsession`` (so adapters mounted on it for
    pacing and retries apply) with the SDK's headers, proxies, TLS and timeout settings, and errors map to
    the exceptions the SDK would raise.

    Args:
        kite: a logged-in client.
        exchange: one exchange (``NSE``, ``NFO``…), or None for all.
        progress: called as chunks arrive with (bytes received on the wire, Content-Length or None).

    Raises:
        kiteconnect.exceptions.KiteException: Kite answered with an error (the SDK's class for its
            ``error_type``; ``code`` is the HTTP status), or with neither CSV nor JSON (DataException).
        requests.RequestException: the network failed or the body was cut short.
    """
    path = f"/instruments/{exchange}" if exchange else "/instruments"
    headers = {"X-Kite-Version": kite.kite_header_version, "User-Agent": kite._user_agent()}
    if kite.api_key and kite.access_token:
        headers["Authorization"] = f"token {kite.api_key}:{kite.access_token}"
    with kite.reqsession.get(
        urljoin(kite.root, path),
        headers=headers,
        verify=not kite.disable_ssl,
        allow_redirects=True,
        timeout=kite.timeout,
        proxies=kite.proxies,
        stream=True,
    ) as r:
        kind = r.headers.get("content-type", "")
        if "json" in kind:
            _raise_json_error(kite, r.status_code, r.content)
        if "csv" not in kind:
            raise kex.DataException(
                f"Unknown Content-Type ({kind}) with response: ({r.content[:200]!r})", code=r.status_code
            )
        length = r.headers.get("content-length", "")
        total = int(length) if length.isdigit() else None
        wire = getattr(r.raw, "tell", None)  # bytes read off the socket: what Content-Length counts under gzip
        chunks: list[bytes] = []
        received = 0
        for chunk in r.iter_content(chunk_size=256 * 1024):
            chunks.append(chunk)
            received += len(chunk)
            if progress is not None:
                progress(int(wire()) if callable(wire) else received, total)
    return b"".join(chunks)


def _raise_json_error(kite: KiteConnect, status: int, body: bytes) -> None:
    """Raise what ``KiteConnect._request`` raises for a JSON answer to a CSV route."""
    try:
        data = json.loads(body)
    except ValueError:
        raise kex.DataException(
            f"Couldn't parse the JSON response received from the server: {body[:200]!r}", code=status
        ) from None
    if not isinstance(data, dict):
        raise kex.DataException(f"Unexpected JSON answer for the instruments dump: {body[:200]!r}", code=status)
    error_type = data.get("error_type")
    if data.get("status") == "error" or error_type:
        if kite.session_expiry_hook and status == 403 and error_type == "TokenException":
            kite.session_expiry_hook()
        # The SDK looks the class up by name in kiteconnect.exceptions, GeneralException if unknown.
        found = getattr(kex, error_type, None) if isinstance(error_type, str) else None
        error = found if isinstance(found, type) and issubclass(found, kex.KiteException) else kex.GeneralException
        raise error(str(data.get("message", "")), code=status)
    raise kex.DataException("Kite answered the instruments route with JSON, not the CSV dump", code=status)


class _DamagedError(InstrumentCacheError):
    """A dump's CSV failed its check when first read; ``dump`` says which."""

    def __init__(self, message: str, dump: _Dump) -> None:
        super().__init__(message)
        self.dump = dump


class _Dump:
    """One day's dump: its index, its CSV (read from the day file and checked on first use), and caches."""

    def __init__(
        self,
        day: date,
        index: InstrumentIndex,
        raw: bytes | None = None,
        columns: DumpColumns | None = None,
        file: cache.DayFile | None = None,
    ) -> None:
        self.day = day
        self.index = index
        self.file = file
        self._raw = raw
        self._columns = columns
        self._records: dict[int, Instrument] = {}
        self._table: pd.DataFrame | None = None
        self._upper_symbols: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, file: cache.DayFile) -> _Dump:
        index = InstrumentIndex.from_arrays(file.header["meta"], file.arrays)
        return cls(file.day, index, file=file)

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            with self._lock:
                if self._raw is None:
                    assert self.file is not None  # noqa: S101 - a dump has bytes or a file
                    try:
                        self._raw = self.file.read_csv()
                    except cache.CacheReplacedError:
                        raise
                    except InstrumentCacheError as exc:
                        raise _DamagedError(str(exc), self) from None
        return self._raw

    @property
    def columns(self) -> DumpColumns:
        if self._columns is None:
            self._columns = DumpColumns(self.raw)
        return self._columns

    @property
    def fno(self) -> FnoColumns:
        fno = self.index.fno
        return fno if fno is not None else self.index.add_fno(self.columns)

    def record(self, row: int) -> Instrument:
        rec = self._records.get(row)
        if rec is None:
            rec = self._records[row] = _record(self.index.fields(row, self.raw))
        return rec

    @property
    def upper_symbols(self) -> np.ndarray:
        if self._upper_symbols is None:
            self._upper_symbols = np.char.upper(self.index.symbols)
        return self._upper_symbols

    @property
    def table(self) -> pd.DataFrame:
        """Every row as a typed DataFrame, built once from the vectorised columns."""
        if self._table is None:
            self._table = _frame(self.columns)
        return self._table


def _frame(cols: DumpColumns) -> pd.DataFrame:
    import pandas as pd  # imported here: it costs ~0.3 s and only tables need it

    data: dict[str, Any] = {}
    for name in COLUMNS:
        if name in ("instrument_token", "exchange_token", "lot_size"):
            data[name] = cols.ints(name)
        elif name in ("last_price", "strike", "tick_size"):
            data[name] = cols.floats(name)
        elif name == "expiry":
            data[name] = cols.dates(name).astype(object)  # datetime.date, None where NaT
        else:
            data[name] = _strings(cols.text(name))
    return pd.DataFrame(data)


def _strings(values: np.ndarray) -> np.ndarray:
    """Return a bytes column as an object array of str (each distinct value decoded once)."""
    seen: dict[bytes, str] = {}
    out = np.empty(len(values), dtype=object)
    out[:] = [seen.get(v) or seen.setdefault(v, v.decode("utf-8", "replace")) for v in values.tolist()]
    return out


def _fetcher(fetch: KiteConnect | Fetcher | None) -> Fetcher:
    """Return a download function for a ``KiteConnect`` (through :func:`fetch_dump`) or a fetcher."""
    if fetch is None:
        raise InstrumentCacheError("The instrument store has no way to download the dump; pass a KiteConnect.")
    if not isinstance(fetch, KiteConnect):
        return cast("Fetcher", fetch)
    kite = fetch

    def get(exchange: str | None, progress: Progress | None) -> bytes:
        return fetch_dump(kite, exchange, progress)

    return get


def _days(day: date) -> int:
    return (day - _EPOCH).days


def _date(days: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + days)


class InstrumentStore:
    """Kite's instruments dump, cached per trading day, with fast lookups.

    The dump of trading day ``d`` is current from ``refresh_at`` (IST) on ``d`` until ``refresh_at`` on the
    next trading day: on a weekend or a holiday, and before ``refresh_at``, the last trading day's dump is
    the fresh one. :meth:`load` downloads it only if the cache does not hold it. The first lookup calls
    :meth:`load` if you have not; after that, lookups never download. A long-running process calls
    :meth:`load` again (cheap when nothing is due) to pick up the next day's dump.

    Args:
        cache_dir: where day files are kept (the current day's and the one before it).
        fetch: a ``KiteConnect`` (its session downloads the dump through :func:`fetch_dump`) or a callable
            ``(exchange, progress) -> bytes``; None to use only what is cached.
        clock: the time source (refresh timing, "today" for nearest expiries).
        calendar: trading days.
        refresh_at: the dump is regenerated daily (Kite: about 08:00 IST); fetch only from this time.
        exchanges: download only these exchanges (``/instruments/{exchange}`` each); None for all.
    """

    def __init__(
        self,
        cache_dir: Path,
        fetch: KiteConnect | Fetcher | None = None,
        clock: Clock | None = None,
        calendar: TradingCalendar | None = None,
        refresh_at: time = time(8, 30),
        exchanges: Sequence[str] | None = None,
    ) -> None:
        self.cache_dir: Path | None = cache_dir
        self._fetch = fetch
        self.clock = clock or SystemClock()
        self.calendar = calendar or TradingCalendar()
        self.refresh_at = refresh_at
        self.exchanges = sorted({e.upper() for e in exchanges}) if exchanges else None
        self._current: _Dump | None = None
        self._previous: _Dump | None = None
        self._previous_checked = False
        self._memo: dict[str | int, tuple[_Dump, int]] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_bytes(cls, raw: bytes, day: date | None = None, clock: Clock | None = None) -> InstrumentStore:
        """Return a store over dump bytes held in memory: no cache, no downloads (tests, one-off scripts).

        Raises:
            ValueError: ``raw`` is not a Kite instruments dump.
        """
        store = cls(Path(), clock=clock)
        store.cache_dir = None
        cols = DumpColumns(raw)
        dump = _Dump(day or store._today(), InstrumentIndex.build(cols), raw=raw, columns=cols)
        store._install(dump)
        store._previous_checked = True
        return store

    # -- refresh and cache ---------------------------------------------------------------------------------
    def dump_day(self, now: datetime | None = None) -> date:
        """Return the trading day whose dump is current at ``now`` (default: the clock's now).

        That is the latest trading day ``d`` with ``now >= d refresh_at`` IST.
        """
        local = ensure_aware(now or self.clock.now()).astimezone(IST)
        day = self.calendar.on_or_before(local.date())
        if day == local.date() and local.time() < self.refresh_at:
            day = self.calendar.previous(day)
        return day

    def cached_days(self) -> list[date]:
        """Return the dump days with a file in the cache, newest first (not checked)."""
        return cache.cached_days(self.cache_dir) if self.cache_dir is not None else []

    def is_fresh(self) -> bool:
        """Return True if the cache has a file for the current dump day (see :meth:`dump_day`)."""
        return self.dump_day() in self.cached_days()

    def sync(self, force: bool = False, progress: Progress | None = None) -> bool:
        """Download the current dump day's dump unless the cache holds it intact; return True if it did.

        Route: ``GET /instruments`` (or ``GET /instruments/{exchange}`` for each chosen exchange).

        The whole cached file (index and CSV) is checked first; a damaged one is removed and downloaded
        again. The new file replaces the old atomically, so a crash mid-way leaves the old cache usable.
        Day files older than the previous day are removed.

        Raises:
            InstrumentCacheError: the store has no cache or no way to download, or Kite sent no rows.
            ValueError: the download is not an instruments dump (nothing is written).
            kiteconnect.exceptions.KiteException: Kite answered with an error.
        """
        with self._lock:
            cache_dir = self._require_cache()
            day = self.dump_day()
            existing = self._open_day(day)
            if existing is not None and not force and self._covers(existing):
                try:
                    existing.read_csv()
                    return False
                except InstrumentCacheError as exc:
                    cache.discard(existing.path, str(exc))
            selection = self._selection(existing)
            raw = self._download(selection, progress)
            cols = DumpColumns(raw)
            if len(cols) == 0:
                raise InstrumentCacheError("Kite sent an instruments dump with no rows; keeping the cached one.")
            index = InstrumentIndex.build(cols)
            index.add_fno(cols)
            meta, arrays = index.to_arrays()
            facts = {"day": day.isoformat(), "fetched_at": self.clock.now().isoformat(), "selection": selection}
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache.write_day(cache.day_path(cache_dir, day), {**facts, "meta": meta}, arrays, raw)
            cache.prune(cache_dir, keep=day)
            self._install(_Dump(day, index, raw=raw))  # the split columns (10 MB) are rebuilt if ever needed
            log.info("Instruments dump of %s cached: %d rows", day, len(index))
            return True

    def load(self, progress: Progress | None = None) -> InstrumentStore:
        """Open the current dump day's dump, downloading it first if the cache lacks it; return ``self``.

        Route: ``GET /instruments`` (only when a download is due; see :meth:`sync`).

        Cheap when the dump is already open. Without a way to download, the newest usable cached dump is
        used, with a warning if it is not the current day's.

        Raises:
            InstrumentCacheError: nothing usable is cached and nothing could be downloaded.
        """
        with self._lock:
            if self.cache_dir is None:
                return self
            day = self.dump_day()
            if self._current is not None and self._current.day == day:
                return self
            file = self._open_day(day)
            if file is not None and (self._fetch is None or self._covers(file)):
                self._install(_Dump.from_file(file))
                return self
            if self._fetch is not None:
                self.sync(force=True, progress=progress)
                return self
            if self._current is not None:
                return self  # keep the older dump already open (and warned about) until today's appears
            for older in self.cached_days():
                found = self._open_day(older)
                if found is not None:
                    log.warning("Using the instruments dump of %s; today's (%s) is not downloaded yet.", older, day)
                    self._install(_Dump.from_file(found))
                    return self
            raise InstrumentCacheError(
                f"No instruments cached in {self.cache_dir}. Download them first: `kitekit instruments sync`."
            )

    def _require_cache(self) -> Path:
        if self.cache_dir is None:
            raise InstrumentCacheError("This store was made from bytes in memory; it has no cache to sync.")
        return self.cache_dir

    def _open_day(self, day: date) -> cache.DayFile | None:
        """Open a cached day (index checked), or None if it is missing or damaged (then it is removed)."""
        if self.cache_dir is None:
            return None
        path = cache.day_path(self.cache_dir, day)
        try:
            return cache.open_day(path, day)
        except FileNotFoundError:
            return None
        except (InstrumentCacheError, OSError) as exc:
            cache.discard(path, str(exc))
            return None

    def _covers(self, file: cache.DayFile) -> bool:
        held = file.header.get("selection")
        return held is None or (self.exchanges is not None and set(self.exchanges) <= set(held))

    def _selection(self, existing: cache.DayFile | None) -> list[str] | None:
        """Return the exchanges to download: ours, plus those a same-day file already holds (never fewer)."""
        if self.exchanges is None:
            return None
        held = existing.header.get("selection") if existing is not None else []
        return None if held is None else sorted(set(self.exchanges) | set(held))

    def _download(self, selection: list[str] | None, progress: Progress | None) -> bytes:
        get = _fetcher(self._fetch)
        if selection is None:
            return get(None, progress)
        bodies = []
        for exchange in selection:
            part = get(exchange, progress)
            header, _, body = part.partition(b"\n")
            if header.rstrip(b"\r") != HEADER.encode():
                raise ValueError(f"not a Kite instruments dump: the {exchange} part does not start with the header")
            bodies.append(body if not body or body.endswith(b"\n") else body + b"\n")
        return HEADER.encode() + b"\n" + b"".join(bodies)

    def _install(self, dump: _Dump | None) -> None:
        self._current = dump
        self._previous = None
        self._previous_checked = False
        self._memo.clear()

    def _dumps(self) -> Iterator[_Dump]:
        """Yield today's dump, then (opened only if a lookup gets that far) the previous cached day's."""
        current = self._current
        if current is None:
            self.load()
            current = self._current
            assert current is not None  # noqa: S101 - load() sets it or raises
        yield current
        if not self._previous_checked:
            with self._lock:
                if not self._previous_checked:
                    older = [d for d in self.cached_days() if d < current.day]
                    file = self._open_day(older[0]) if older else None
                    self._previous = _Dump.from_file(file) if file is not None else None
                    self._previous_checked = True
        if self._previous is not None:
            yield self._previous

    def _today_dump(self) -> _Dump:
        return next(self._dumps())

    def _recovering(self, action: Callable[[], _T]) -> _T:
        """Run ``action``; if a cached CSV turns out damaged or replaced, reopen (or download) and retry."""
        for _ in range(3):
            try:
                return action()
            except cache.CacheReplacedError:
                log.info("The cached instruments file changed under us; opening it again.")
                with self._lock:
                    self._install(None)
                    self.load()
            except _DamagedError as exc:
                with self._lock:
                    if exc.dump.file is not None:
                        cache.discard(exc.dump.file.path, str(exc))
                    if exc.dump is self._previous:
                        self._previous = None
                        self._memo.clear()
                        continue
                    if self._fetch is None:
                        raise InstrumentCacheError(
                            f"{exc}. Download the dump again: `kitekit instruments sync`."
                        ) from None
                    self._install(None)
                    self.load()
        return action()

    # -- lookups ----------------------------------------------------------------------------------------------
    def _find(self, query: str | int) -> tuple[_Dump, int]:
        """Return the dump and row for ``query`` (see the module docstring for the rules)."""
        hit = self._memo.get(query)
        if hit is not None:
            return hit
        current = self._current
        row = -1
        if current is not None:
            # The common cases, "NSE:INFY" as Kite spells it and an int token, go straight to today's index.
            if type(query) is str:
                exchange, colon, symbol = query.partition(":")
                if colon:
                    row = current.index.row_of_key(exchange, symbol)
            elif type(query) is int:
                row = current.index.row_of_token(query)
        hit = (current, row) if current is not None and row >= 0 else self._resolve(query)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[query] = hit
        return hit

    def _resolve(self, query: str | int) -> tuple[_Dump, int]:
        if isinstance(query, bool) or not isinstance(query, int | str):
            raise TypeError(f"an instrument is named by a str or an int token, not {type(query).__name__}")
        if isinstance(query, int):
            return self._by_token(query)
        text = " ".join(query.split())
        if text.isascii() and text.isdigit():
            return self._by_token(int(text))
        if ":" in text:
            exchange, _, symbol = text.partition(":")
            exchange, symbol = exchange.strip().upper(), symbol.strip()
            for dump in self._dumps():
                for sym in dict.fromkeys((symbol, symbol.upper())):
                    row = dump.index.row_of_key(exchange, sym)
                    if row >= 0:
                        return dump, row
            alias = ALIASES.get(symbol.upper().replace(" ", ""))
            if alias is not None and alias.startswith(f"{exchange}:") and alias != f"{exchange}:{symbol}":
                return self._resolve(alias)  # "NSE:BANKNIFTY" means the index
            raise UnknownInstrumentError(text, self._suggest(symbol, exchange))
        if not text:
            raise UnknownInstrumentError(query, [])
        alias = ALIASES.get(text.upper().replace(" ", ""))
        if alias is not None:
            return self._resolve(alias)
        for dump in self._dumps():
            for sym in dict.fromkeys((text, text.upper())):
                listed = dump.index.rows_of_symbol(sym)
                if listed:
                    return dump, self._pick_listing(text, sym, listed)
        raise UnknownInstrumentError(text, self._suggest(text))

    @staticmethod
    def _pick_listing(query: str, symbol: str, listed: dict[str, int]) -> int:
        for exchange in CASH_PREFERENCE:
            if exchange in listed:
                return listed[exchange]
        if len(listed) == 1:
            return next(iter(listed.values()))
        raise AmbiguousInstrumentError(query, [f"{e}:{symbol}" for e in sorted(listed)])

    def _by_token(self, token: int) -> tuple[_Dump, int]:
        for dump in self._dumps():
            row = dump.index.row_of_token(token)
            if row >= 0:
                return dump, row
        raise UnknownInstrumentError(str(token), [])

    def instrument(self, query: str | int) -> Instrument:
        """Return the instrument named by ``query``: a token, ``EXCHANGE:SYMBOL``, an index name or a symbol.

        See the module docstring for how names resolve. Like every lookup, it loads the store first if
        :meth:`load` was never called (Route: ``GET /instruments`` if that download is due).

        Raises:
            UnknownInstrumentError: nothing matches (the message lists the closest names).
            AmbiguousInstrumentError: a bare symbol is listed on several exchanges, none of them NSE or BSE.
            InstrumentCacheError: the cached dump is damaged and cannot be downloaded again.
        """

        def read() -> Instrument:
            dump, row = self._find(query)
            return dump.record(row)

        return self._recovering(read)

    def token(self, query: str | int) -> int:
        """Return the instrument token of ``query`` (see :meth:`instrument`), from the index alone."""
        dump, row = self._find(query)
        return int(dump.index.tokens[row])

    def key(self, query: str | int) -> str:
        """Return ``EXCHANGE:SYMBOL`` of ``query``; usable as the resolver of :class:`kitekit.quotes.MarketData`."""
        dump, row = self._find(query)
        return dump.index.key_of(row)

    def _suggest(self, text: str, exchange: str | None = None, limit: int = 5) -> list[str]:
        """Return the keys closest to ``text``: an instrument of that name, then similar symbols and aliases."""
        dump = self._current
        if dump is None or not text.strip():
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

    def search(self, text: str, limit: int = 10) -> list[Instrument]:
        """Return instruments whose symbol or name contains ``text`` (case-insensitive), best first.

        Exact symbols first, then symbols starting with the text, then symbols and names containing it;
        within each, cash-market listings before derivatives and NSE before BSE.
        """
        needle = " ".join(text.split()).upper().encode()
        if not needle:
            return []

        def run() -> list[Instrument]:
            dump = self._today_dump()
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
            order = {e: i for i, e in enumerate((*CASH_PREFERENCE, *FNO_PREFERENCE))}
            by_code = np.array([order.get(e, len(order)) for e in index.exchanges], dtype=np.int64)
            best = np.lexsort((found, by_code[index.exchange_code[rows]], derivative, rank))[:limit]
            return [dump.record(int(r)) for r in rows[best]]

        return self._recovering(run)

    def frame(self, **filters: Any) -> pd.DataFrame:
        """Return a DataFrame of the instruments matching every ``column=value`` filter (all rows if none).

        Columns are the dump's, typed: ints, floats, ``expiry`` as ``datetime.date`` or None. A value may be
        a single value or a list, tuple or set of them (``exchange=("NSE", "BSE")``).

        Raises:
            ValueError: a filter names a column the dump does not have.
        """
        for column in filters:
            if column not in COLUMNS:
                raise ValueError(f"unknown column {column!r}; use one of {', '.join(COLUMNS)}")
        df = self._recovering(lambda: self._today_dump().table)
        mask = np.ones(len(df), dtype=bool)
        for column, value in filters.items():
            values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
            mask &= df[column].isin(values).to_numpy()
        return df[mask].reset_index(drop=True)

    # -- futures and options -------------------------------------------------------------------------------
    def _today(self) -> date:
        return self.clock.now().astimezone(IST).date()

    @staticmethod
    def _fno_name(underlying: str) -> str:
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

    def _fno_rows(
        self, underlying: str, kinds: tuple[str, ...], exchange: str | None, what: str
    ) -> tuple[_Dump, np.ndarray]:
        """Return today's dump and the live (unexpired) rows of ``kinds`` on ``underlying``, one exchange."""

        def run() -> tuple[_Dump, np.ndarray]:
            dump = self._today_dump()
            fno = dump.fno
            name = self._fno_name(underlying)
            code = fno.name_code_of(name)
            mask = (fno.name_code == code) & np.isin(fno.type_code, fno.type_codes(*kinds))
            mask &= fno.expiry >= _days(self._today())
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
                raise UnknownInstrumentError(f"{underlying} {what}{where}", self._fno_suggestions(fno, name, kinds))
            return dump, rows

        return self._recovering(run)

    @staticmethod
    def _fno_suggestions(fno: FnoColumns, name: str, kinds: tuple[str, ...]) -> list[str]:
        with_kind = np.unique(fno.name_code[np.isin(fno.type_code, fno.type_codes(*kinds))])
        names = [n.decode("utf-8", "replace") for n in fno.names[with_kind].tolist()]
        return difflib.get_close_matches(name, names, n=5, cutoff=0.5)

    def futures(self, underlying: str, exchange: str | None = None) -> list[Instrument]:
        """Return the live futures of ``underlying`` (``NIFTY``, ``NIFTY 50``, ``RELIANCE``, ``GOLD``…), nearest first.

        Args:
            underlying: an index or alias, or the ``name`` the dump gives the contracts.
            exchange: where to look (default: the first of NFO, BFO, MCX, CDS, BCD that lists them).

        Raises:
            UnknownInstrumentError: no live futures on that underlying.
        """
        dump, rows = self._fno_rows(underlying, ("FUT",), exchange, "futures")
        rows = rows[np.argsort(dump.fno.expiry[rows], kind="stable")]
        return self._recovering(lambda: [dump.record(int(r)) for r in rows])

    def nearest_future(self, underlying: str, n: int = 0, exchange: str | None = None) -> Instrument:
        """Return the ``n``-th nearest live future of ``underlying`` (0 = the front month, 1 = the next…).

        Raises:
            UnknownInstrumentError: no live futures on that underlying.
            IndexError: there are not ``n + 1`` live futures.
        """
        futures = self.futures(underlying, exchange)
        if not 0 <= n < len(futures):
            raise IndexError(f"{underlying} has {len(futures)} live futures; n must be 0..{len(futures) - 1}")
        return futures[n]

    def expiries(self, underlying: str, exchange: str | None = None) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first.

        Raises:
            UnknownInstrumentError: no live options on that underlying.
        """
        dump, rows = self._fno_rows(underlying, ("CE", "PE"), exchange, "options")
        return [_date(d) for d in np.unique(dump.fno.expiry[rows]).tolist()]

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return the option chain of ``underlying`` for one expiry as a table, one row per strike.

        Columns: ``strike, ce_token, ce_symbol, pe_token, pe_symbol, lot_size, expiry`` (tokens are nullable
        integers: a strike may list only one side).

        Args:
            underlying: an index or alias ("NIFTY", "NIFTY BANK", "SENSEX") or the options' ``name``.
            expiry: a date or ``yyyy-mm-dd``; None for the nearest expiry on or after today.
            exchange: where to look (default as in :meth:`futures`).

        Raises:
            UnknownInstrumentError: no live options on that underlying.
            ValueError: ``expiry`` is not a date or not one of the expiries (the message lists them).
        """
        import pandas as pd  # imported here, as in _frame

        dump, rows = self._fno_rows(underlying, ("CE", "PE"), exchange, "options")
        fno, index = dump.fno, dump.index
        available = [_date(d) for d in np.unique(fno.expiry[rows]).tolist()]
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
        rows = rows[fno.expiry[rows] == _days(chosen)]
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

    # -- tokens.json ---------------------------------------------------------------------------------------------
    def build_token_cache(self, path: Path, symbols: Iterable[str | int] = ()) -> dict[str, int]:
        """Write ``tokens.json`` ({tradingsymbol: instrument_token}) atomically; return the mapping.

        It holds NIFTY 50, NIFTY BANK, RELIANCE, TCS, HDFCBANK and the nearest NIFTY and BANKNIFTY futures
        (those on exchanges this store does not download are left out), plus ``symbols``. Where one of
        ``symbols`` shares a tradingsymbol with a default (``BSE:RELIANCE``), the one asked for wins.

        Raises:
            UnknownInstrumentError: one of ``symbols`` does not resolve (nothing is written).
            ValueError: two of ``symbols`` share a tradingsymbol, which the file cannot tell apart.
        """
        wanted = set(self.exchanges) if self.exchanges is not None else None
        mapping: dict[str, int] = {}
        for default in DEFAULT_TOKENS:
            if wanted is None or default.partition(":")[0] in wanted:
                rec = self.instrument(default)
                mapping[rec.tradingsymbol] = rec.instrument_token
        if wanted is None or "NFO" in wanted:
            for underlying in DEFAULT_FUTURES:
                rec = self.nearest_future(underlying)
                mapping[rec.tradingsymbol] = rec.instrument_token
        chosen: dict[str, Instrument] = {}
        for query in symbols:
            rec = self.instrument(query)
            other = chosen.get(rec.tradingsymbol)
            if other is not None and other.instrument_token != rec.instrument_token:
                raise ValueError(
                    f"{other.key} and {rec.key} share the tradingsymbol {rec.tradingsymbol!r}; "
                    "tokens.json is keyed by tradingsymbol, so ask for one of them"
                )
            chosen[rec.tradingsymbol] = rec
            mapping[rec.tradingsymbol] = rec.instrument_token
        atomic_write(path, (json.dumps(mapping, indent=2) + "\n").encode(), mode=0o644)
        return mapping
