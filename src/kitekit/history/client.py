"""Historical candles of any length, in one call: :class:`History`, the facade users import.

A request is resolved (any symbol, name or token the instrument store knows, expired contracts included),
checked (:mod:`kitekit.history.rules`), cut into windows Kite serves (:mod:`kitekit.history.windows`),
fetched several at a time under the shared pacer (:mod:`kitekit.history.fetch`), parsed column-wise and
merged with no duplicate at the seams. With a :class:`~kitekit.history.store.CandleStore` only what the store
is missing is fetched (:mod:`kitekit.history.filling`), each window's closed candles are stored as they land,
and the answer is read from the store, with the still-forming candles Kite just answered after them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kitekit.clock import Clock, clock_of
from kitekit.errors import KitekitError
from kitekit.history.fetch import Fetched, Job, Progress, WindowFetcher
from kitekit.history.filling import fill_store, series_of
from kitekit.history.rules import CandleRequest, Moment, check_request
from kitekit.history.store import CandleStore, SeriesKey
from kitekit.history.windows import Window
from kitekit.wire.candles import empty_candles, merge_candles
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

    from kitekit.instruments import InstrumentStore

__all__ = ["Filled", "History", "series_of"]

log = logging.getLogger("kitekit.history")


@dataclass(frozen=True)
class Filled:
    """What filling the store did for one request: the windows it fetched (0: all were stored already)."""

    request: CandleRequest
    windows: int


class History:
    """Historical candles of any length for any instrument, paced, parsed fast and (with a store) kept.

    Args:
        kite: a logged-in client from ``kitekit.get_kite()`` (paced and retried by its transport).
        instruments: resolves names and tokens (and expired contracts, through the previous day's dump).
        store: where candles are kept between calls; None fetches every window every time.
        clock: the data's time: what "today", "the future" and "still forming" mean, so which candles are
            stored as closed. Against a simulator, give the simulator's clock.
        concurrency: windows in flight at once (see :class:`~kitekit.history.fetch.WindowFetcher`).
    """

    def __init__(
        self,
        kite: KiteConnect,
        instruments: InstrumentStore,
        store: CandleStore | None = None,
        *,
        clock: Clock | None = None,
        concurrency: int = 6,
    ) -> None:
        self.kite = kite
        self.instruments = instruments
        self.store = store
        self.clock = clock or clock_of(kite)
        self.fetcher = WindowFetcher(kite, concurrency=concurrency, clock=self.clock)

    def request(
        self,
        instrument: str | int,
        interval: Interval | str,
        start: Moment,
        end: Moment | None = None,
        *,
        oi: bool = False,
        continuous: bool = False,
    ) -> CandleRequest:
        """Resolve ``instrument`` and check the request; nothing is sent to the historical route.

        Route: ``GET /instruments`` only if the instrument store has not loaded the day's dump yet.

        Raises:
            UnknownInstrumentError: nothing matches ``instrument`` (the message lists the closest names).
            HistoryRangeError: the request breaks one of Kite's rules; the message says what is allowed.
        """
        resolved = self.instruments.instrument(instrument)
        return check_request(resolved, interval, start, end, now=self.clock.now(), oi=oi, continuous=continuous)

    def candles(
        self,
        instrument: str | int,
        interval: Interval | str,
        start: Moment,
        end: Moment | None = None,
        *,
        oi: bool = False,
        continuous: bool = False,
        progress: Progress | None = None,
        refresh: bool = False,
    ) -> pd.DataFrame:
        """Return the candles of ``instrument`` from ``start`` to ``end``, however long the range.

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched.

        Args:
            instrument: a symbol, name or token (``"NSE:INFY"``, ``"NIFTY 50"``, ``"RELIANCE"``, ``738561``).
            interval: ``minute``, ``3minute``, ``5minute``, ``10minute``, ``15minute``, ``30minute``,
                ``60minute`` or ``day`` (or an :class:`Interval`).
            start: the first moment: an aware datetime, or a date (from its 00:00 IST).
            end: the last moment, inclusive: an aware datetime, a date (its whole day), or None for now.
            oi: add the ``oi`` column (open interest).
            continuous: a futures series stitched across expiries (day candles of a FUT contract).
            progress: called with (windows done, windows to fetch) as they land.
            refresh: with a store, fetch the series' whole stored range again (and the range asked for) as a
                new version, swapped in only when complete.

        Returns:
            A frame indexed by IST candle time (``date``) with ``open``, ``high``, ``low``, ``close``,
            ``volume`` (and ``oi``), each time once, oldest first; empty (same columns) when there are none.

        Raises:
            UnknownInstrumentError: nothing matches ``instrument``.
            HistoryRangeError: the request breaks one of Kite's rules; the message says what is allowed.
            kiteconnect.exceptions.KiteException: Kite refused a window (after retries); with a store, the
                windows that did land are kept.
        """
        request = self.request(instrument, interval, start, end, oi=oi, continuous=continuous)
        if self.store is None:
            return self._fetch_all(request, progress)
        outcome = fill_store(self.fetcher, self._store(), [request], progress, refresh=refresh)
        series = series_of(request)
        stored = self.store.read(series, request.start, request.end, oi=request.oi)
        forming = outcome.forming.get(series)
        if forming is None:
            return stored
        inside = (forming.index >= request.start) & (forming.index <= request.end)
        return merge_candles([stored, forming.loc[inside].reindex(columns=stored.columns)])

    def backfill(
        self,
        instruments: Iterable[str | int],
        interval: Interval | str,
        start: Moment,
        end: Moment | None = None,
        *,
        continuous: bool = False,
        progress: Progress | None = None,
    ) -> list[Filled]:
        """Fill the store with the candles of many instruments, fetching only what it is missing.

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched.

        Every request is checked before the first is sent. The windows of all the instruments share one
        pool, so the pacer's budget is used in full across them; an interrupted backfill resumes where it
        stopped.

        Returns:
            One entry per instrument, in the order given.

        Raises:
            KitekitError: the history has no store.
            UnknownInstrumentError, HistoryRangeError: as :meth:`candles`, before anything is fetched.
            kiteconnect.exceptions.KiteException: Kite refused a window (after retries); windows that landed
                are kept.
        """
        requests = [self.request(i, interval, start, end, oi=True, continuous=continuous) for i in instruments]
        return self.fill(requests, progress)

    def fill(
        self, requests: Sequence[CandleRequest], progress: Progress | None = None, *, refresh: bool = False
    ) -> list[Filled]:
        """Fetch the windows the store is missing for ``requests`` and store each as it lands.

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched.

        Open interest is always asked for (it costs nothing), so one stored series serves requests with and
        without ``oi``. Only candles closed by this history's clock are stored.

        Stored history is never dropped. A gap that follows stored candles is fetched from the last of them
        on, and that candle is compared with Kite's; if it changed as a split changes one (all four prices
        by one factor), the month of stored candles before it is re-read too. Where Kite's prices of them
        all differ by that factor (a split or bonus), the series' whole stored range is fetched again into a
        new version that replaces it only once complete; otherwise the candles that changed are corrected in
        place. Either way a warning says what changed (:mod:`kitekit.history.filling`).

        Args:
            requests: checked requests (:meth:`request`).
            progress: called with (windows done, windows known so far) as they land.
            refresh: fetch each series' whole stored range again, as a new version, whether or not it changed.

        Returns:
            One entry per request, in the order given; a series named twice counts its windows once.

        Raises:
            KitekitError: the history has no store.
            kiteconnect.exceptions.KiteException: Kite refused a window (after retries); the windows that
                landed are kept, and an unfinished new version is discarded (the stored series stays).
        """
        outcome = fill_store(self.fetcher, self._store(), requests, progress, refresh=refresh)
        counted: set[SeriesKey] = set()
        filled: list[Filled] = []
        for request in requests:
            series = series_of(request)
            filled.append(Filled(request, 0 if series in counted else outcome.windows.get(series, 0)))
            counted.add(series)
        return filled

    def _fetch_all(self, request: CandleRequest, progress: Progress | None) -> pd.DataFrame:
        windows = request.windows()
        frames: dict[Window, pd.DataFrame] = {}

        def keep(job: Job, got: Fetched) -> None:
            frames[job.window] = got.frame

        self.fetcher.run([Job(request, w, oi=request.oi) for w in windows], keep, progress)
        if not windows:
            return empty_candles(oi=request.oi)
        return merge_candles(frames[w] for w in windows)

    def _store(self) -> CandleStore:
        if self.store is None:
            raise KitekitError(
                "This History has no candle store: make it with History(kite, instruments, CandleStore())."
            )
        return self.store
