"""The instrument store: Kite's daily dump cached on disk, indexed, and looked up in microseconds.

The official SDK downloads and parses the whole dump (100k+ rows, seconds) on every ``instruments()`` call.
:class:`InstrumentStore` downloads it at most once per trading day, after the 08:30 IST regeneration, keeps
it (and the previous day's) on disk with a binary index that opens in milliseconds, and answers lookups by
``EXCHANGE:SYMBOL``, token, or the names traders type ("NIFTY 50", "BANKNIFTY", "RELIANCE"). It is a small
facade: the rules live in :mod:`~kitekit.instruments.resolve` (names),
:mod:`~kitekit.instruments.derivatives` (futures and chains), :mod:`~kitekit.instruments.cache` (day files)
and :mod:`~kitekit.instruments.tokens` (``tokens.json``). The module runs a little past 400 lines because
every public method documents its routes, rules and errors; the logic behind them lives in those modules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from kitekit.clock import IST, Clock, clock_of, ensure_aware
from kitekit.errors import InstrumentCacheError
from kitekit.instruments import cache, derivatives, resolve
from kitekit.instruments.download import Fetcher, Progress, download, fetcher_for
from kitekit.instruments.index import InstrumentIndex
from kitekit.instruments.model import DamagedDumpError, Dump
from kitekit.instruments.tokens import token_map, write_tokens
from kitekit.markethours import TradingCalendar
from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import COLUMNS, Instrument

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

__all__ = ["InstrumentStore"]

log = logging.getLogger("kitekit.instruments")

_MEMO_LIMIT = 65_536
_T = TypeVar("_T")


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
        self.clock = clock or clock_of(fetch)
        self.calendar = calendar or TradingCalendar()
        self.refresh_at = refresh_at
        self.exchanges = sorted({e.upper() for e in exchanges}) if exchanges else None
        self._current: Dump | None = None
        self._previous: Dump | None = None
        self._previous_checked = False
        self._memo: dict[str | int, tuple[Dump, int]] = {}
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
        dump = Dump(day or store._today(), InstrumentIndex.build(cols), raw=raw, columns=cols)
        store._install(dump)
        store._previous_checked = True
        return store

    @classmethod
    def from_day_file(cls, file: cache.DayFile, clock: Clock | None = None) -> InstrumentStore:
        """Return a store over one opened day file, its CSV read and checked now: no downloads, no other days.

        For dumps kept outside a Kite cache folder (another broker's instruments in Kite's shape): the store
        never reads the file again, so a later replacement of it cannot disturb the store's lookups.

        Raises:
            InstrumentCacheError: the CSV is damaged, or the file was replaced since it was opened.
        """
        store = cls(Path(), clock=clock)
        store.cache_dir = None
        store._install(Dump(file.day, file.index, raw=file.read_csv()))
        store._previous_checked = True
        return store

    def __len__(self) -> int:
        """Return how many instruments today's dump lists (loading it first if needed)."""
        return len(self._today_dump().index)

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
            # One sync at a time across processes: a second one waits, then finds the first one's file.
            with cache.sync_lock(cache_dir):
                cache.prune(cache_dir, keep=day, syncing=True)  # leftovers of a killed sync go first
                existing = self._open_day(day)
                if existing is not None and not force and self._covers(existing):
                    try:
                        existing.read_csv()
                        if self._current is None or self._current.day != day:
                            self._install(Dump.from_file(existing))
                        return False
                    except InstrumentCacheError as exc:
                        cache.discard(existing.path, str(exc))
                selection = self._selection(existing)
                raw = download(fetcher_for(self._fetch), selection, progress)
                cols = DumpColumns(raw)
                if len(cols) == 0:
                    raise InstrumentCacheError("Kite sent an instruments dump with no rows; keeping the cached one.")
                index = InstrumentIndex.build(cols)
                index.add_fno(cols)
                facts = {"day": day.isoformat(), "fetched_at": self.clock.now().isoformat(), "selection": selection}
                # Written beside the old file and renamed over it: there is never a moment with neither.
                cache.write_day(cache.day_path(cache_dir, day), facts, index, raw)
                cache.prune(cache_dir, keep=day, syncing=True)
            self._install(Dump(day, index, raw=raw))  # the split columns (10 MB) are rebuilt if ever needed
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
                self._install(Dump.from_file(file))
                return self
            if self._fetch is not None:
                self.sync(progress=progress)  # re-checks under the sync lock: another process may have just synced
                return self
            if self._current is not None:
                return self  # keep the older dump already open (and warned about) until today's appears
            for older in self.cached_days():
                found = self._open_day(older)
                if found is not None:
                    log.warning("Using the instruments dump of %s; today's (%s) is not downloaded yet.", older, day)
                    self._install(Dump.from_file(found))
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

    def _install(self, dump: Dump | None) -> None:
        self._current = dump
        self._previous = None
        self._previous_checked = False
        self._memo.clear()

    def _dumps(self) -> Iterator[Dump]:
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
                    self._previous = Dump.from_file(file) if file is not None else None
                    self._previous_checked = True
        if self._previous is not None:
            yield self._previous

    def _today_dump(self) -> Dump:
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
            except DamagedDumpError as exc:
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
    def _find(self, query: str | int) -> tuple[Dump, int]:
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
        hit = (current, row) if current is not None and row >= 0 else resolve.resolve(query, self._dumps)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[query] = hit
        return hit

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

    def search(self, text: str, limit: int = 10) -> list[Instrument]:
        """Return instruments whose symbol or name contains ``text`` (case-insensitive), best first.

        Exact symbols first, then symbols starting with the text, then symbols and names containing it;
        within each, cash-market listings before derivatives and NSE before BSE.
        """

        def run() -> list[Instrument]:
            dump = self._today_dump()
            return [dump.record(row) for row in resolve.search(dump, text, limit)]

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

    def _live(
        self, underlying: str, kinds: tuple[str, ...], exchange: str | None, what: str
    ) -> tuple[Dump, np.ndarray]:
        """Return today's dump and the live rows of ``kinds`` on ``underlying`` (see ``derivatives.live_rows``)."""

        def run() -> tuple[Dump, np.ndarray]:
            dump = self._today_dump()
            return dump, derivatives.live_rows(dump, underlying, kinds, exchange, self._today(), what)

        return self._recovering(run)

    def futures(self, underlying: str, exchange: str | None = None) -> list[Instrument]:
        """Return the live futures of ``underlying`` (``NIFTY``, ``NIFTY 50``, ``RELIANCE``, ``GOLD``…), nearest first.

        Args:
            underlying: an index or alias, or the ``name`` the dump gives the contracts.
            exchange: where to look (default: the first of NFO, BFO, MCX, CDS, BCD that lists them).

        Raises:
            UnknownInstrumentError: no live futures on that underlying.
        """
        dump, rows = self._live(underlying, ("FUT",), exchange, "futures")
        ordered = derivatives.futures_rows(dump, rows)
        return self._recovering(lambda: [dump.record(int(r)) for r in ordered])

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
        dump, rows = self._live(underlying, ("CE", "PE"), exchange, "options")
        return derivatives.expiries(dump, rows)

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
        dump, rows = self._live(underlying, ("CE", "PE"), exchange, "options")
        return derivatives.option_chain(dump, rows, underlying, expiry)

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
        mapping = token_map(self.instrument, self.nearest_future, symbols, self.exchanges)
        write_tokens(path, mapping)
        return mapping
