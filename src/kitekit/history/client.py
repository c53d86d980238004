"""Historical candles of any length, in one call: :class:`History` (the facade users import) and :func:`candles`.

A request is resolved (any symbol, name or token the instrument store knows, expired contracts included),
checked (:mod:`kitekit.history.rules`), cut into windows Kite serves (:mod:`kitekit.history.windows`),
fetched several at a time under the shared pacer (:mod:`kitekit.history.fetch`), parsed column-wise and
merged with no duplicate at the seams. With a :class:`~kitekit.history.store.CandleStore` only what the store
is missing is fetched, each window is stored as it lands, and the answer is read from the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kitekit.clock import Clock, clock_of
from kitekit.errors import KitekitError
from kitekit.history.fetch import Fetched, Job, Progress, WindowFetcher
from kitekit.history.rules import CandleRequest, Moment, check_request, complete_until
from kitekit.history.store import Anchor, CandleStore, SeriesKey
from kitekit.history.windows import Window, split_windows
from kitekit.wire.candles import empty_candles, merge_candles
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

    from kitekit.instruments import InstrumentStore

__all__ = ["Filled", "History", "candles", "series_of"]

log = logging.getLogger("kitekit.history")


def series_of(request: CandleRequest) -> SeriesKey:
    """Return the stored series a request reads and fills."""
    i = request.instrument
    return SeriesKey(i.exchange, i.tradingsymbol, request.interval, request.continuous)


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
        clock: the time (what "today", "the future" and "still forming" mean).
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
        self.fill([request], progress)
        return self.store.read(series_of(request), request.start, request.end, oi=request.oi)

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

    def fill(self, requests: Sequence[CandleRequest], progress: Progress | None = None) -> list[Filled]:
        """Fetch the windows the store is missing for ``requests`` and store each as it lands.

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched.

        Open interest is always asked for (it costs nothing), so one stored series serves requests with and
        without ``oi``.

        A gap that follows stored candles is fetched from the last of them on (when that takes no extra
        request, as for the daily tail), and that candle is compared with Kite's answer: Kite rewrites an
        instrument's whole history for a split or a bonus, so if the two differ, the series' stored candles
        are stale. The series is then dropped with a warning and the request fetched again whole, rather
        than leaving old and adjusted prices side by side.

        Raises:
            KitekitError: the history has no store.
        """
        store = self._store()
        jobs: list[Job] = []
        counts: list[int] = []
        planned: set[tuple[SeriesKey, datetime, datetime]] = set()
        anchors: dict[tuple[SeriesKey, datetime], Anchor] = {}
        for request in requests:
            series = series_of(request)
            asked = (series, request.start, request.end)
            if asked in planned:  # "RELIANCE" and "NSE:RELIANCE" in one backfill: fetch it once
                counts.append(0)
                continue
            planned.add(asked)
            windows: list[Window] = []
            for start, end in store.missing(*asked):
                plain = split_windows(start, end, request.interval)
                anchor = store.anchor(series, start)
                checked = [] if anchor is None else split_windows(anchor.time, end, request.interval)
                if anchor is not None and len(checked) == len(plain):  # the check never costs a request
                    anchors[(series, anchor.time)] = anchor
                    plain = checked
                windows += plain
            jobs += [Job(request, w, oi=True) for w in windows]
            counts.append(len(windows))

        stale: dict[SeriesKey, tuple[CandleRequest, datetime]] = {}

        def keep(job: Job, got: Fetched) -> None:
            request = job.request
            series = series_of(request)
            anchor = anchors.get((series, job.window.start))
            if anchor is not None and not anchor.matches(got.frame):
                stale.setdefault(series, (request, anchor.time))
            store.write(
                series,
                request.instrument.instrument_token,
                (job.window.start, _last_moment(job.window, request.interval)),
                got.frame,
                complete_until=complete_until(got.asked_at, request.interval),
            )

        self.fetcher.run(jobs, keep, progress)
        if stale:
            for series, (request, when) in stale.items():
                log.warning(
                    "%s %s: the stored candle of %s differs from Kite's now (a split or bonus rewrites history); "
                    "dropping the stored series and fetching %s to %s again",
                    request.key, request.interval.value, when, request.start, request.end,
                )  # fmt: skip
                store.drop(series)
            again = {id(f.request): f.windows for f in self.fill([r for r, _ in stale.values()], progress)}
            counts = [n + again.get(id(r), 0) for r, n in zip(requests, counts, strict=True)]
        return [Filled(r, n) for r, n in zip(requests, counts, strict=True)]

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


def _last_moment(window: Window, interval: Interval) -> datetime:
    """Return the last moment a window's answer covers: for day candles, the whole of its last date."""
    if interval is Interval.DAY:
        return window.end + timedelta(days=1, seconds=-1)
    return window.end


def candles(
    instrument: str | int,
    interval: Interval | str,
    start: Moment,
    end: Moment | None = None,
    *,
    oi: bool = False,
    continuous: bool = False,
    kite: KiteConnect | None = None,
    keep: bool = True,
) -> pd.DataFrame:
    """Return candles with everything set up for you: the saved session, the cached instruments, the store.

    Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched (and
    ``GET /instruments`` when the day's dump is not cached yet).

    Args:
        instrument, interval, start, end, oi, continuous: as :meth:`History.candles`.
        kite: the client; default ``kitekit.get_kite()``.
        keep: keep the candles in the candle store of the data dir, so a repeated call fetches only what is
            missing; False fetches everything and stores nothing.

    Raises:
        As :meth:`History.candles`, and ``kitekit.get_kite()``'s session errors.
    """
    from kitekit import get_kite
    from kitekit.config import cache_dir
    from kitekit.instruments import InstrumentStore

    client = kite if kite is not None else get_kite()
    instruments = InstrumentStore(cache_dir() / "instruments", client).load()
    history = History(client, instruments, CandleStore() if keep else None)
    return history.candles(instrument, interval, start, end, oi=oi, continuous=continuous)
