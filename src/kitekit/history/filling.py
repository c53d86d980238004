"""Filling the candle store for many requests at once: only what is missing, checked against what is stored.

One run (:func:`fill_store`) fetches in up to three rounds, each several windows at a time under the pacer:

1. **Gaps that follow stored candles.** Such a gap is fetched from the last stored candle on (when that costs
   no extra request), and Kite's copy of that candle is compared with the stored one. If they differ, one more
   window, of the stored candles just before it, tells a split or bonus (Kite's prices of them all differ by
   one factor) from a single changed candle (a late correction, or a candle stored while it was still
   forming): see :mod:`kitekit.history.compare`. A changed candle is corrected in place, with a warning that
   says what changed; nothing else is touched.
2. **The other gaps**, each window stored as it lands.
3. **New versions**, for a series Kite has adjusted (or one asked to be refreshed): its whole stored range,
   and the range asked for, are fetched again into a new version beside it, which replaces it only once
   every window has landed (:class:`~kitekit.history.store.SeriesVersion`). An interruption leaves the
   stored series as it was.

What counts as closed is decided by the fetcher's clock alone (the data's clock: the simulator's when
talking to one), per window, at the moment it was asked for. Only closed candles are stored; the
still-forming ones of each answer are handed back (:attr:`Outcome.forming`) for the caller to show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from kitekit.history.compare import PRICES, Comparison, compare
from kitekit.history.fetch import Fetched, Job, Progress, WindowFetcher
from kitekit.history.rules import CandleRequest, complete_until
from kitekit.history.store import Anchor, CandleStore, SeriesKey, SeriesVersion
from kitekit.history.windows import Window, split_windows
from kitekit.wire.candles import merge_candles
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Outcome", "fill_store", "series_of"]

log = logging.getLogger("kitekit.history")

_SECOND = timedelta(seconds=1)
#: How far back the stored candles are re-read to tell a split from one changed candle: a month holds
#: twenty-odd sessions (thousands of minute candles), one request at any interval.
_CHECK_SPAN = timedelta(days=30)

Span = tuple[datetime, datetime]


def series_of(request: CandleRequest) -> SeriesKey:
    """Return the stored series a request reads and fills."""
    i = request.instrument
    return SeriesKey(i.exchange, i.tradingsymbol, request.interval, request.continuous)


class Outcome(NamedTuple):
    """What a run did: the windows fetched per series, and the still-forming candles Kite answered."""

    windows: dict[SeriesKey, int]
    forming: dict[SeriesKey, pd.DataFrame]


def fill_store(
    fetcher: WindowFetcher,
    store: CandleStore,
    requests: Sequence[CandleRequest],
    progress: Progress | None = None,
    *,
    refresh: bool = False,
) -> Outcome:
    """Fetch what ``store`` is missing for ``requests`` (see the module docstring) and store it.

    Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched.

    Args:
        fetcher: fetches the windows; its clock decides which candles had closed.
        store: the candle store to fill.
        requests: checked requests; several of one series are fetched as one.
        progress: called with (windows done, windows known so far) as they land.
        refresh: fetch each series' whole stored range again, as a new version, whether or not it changed.

    Raises:
        kiteconnect.exceptions.KiteException: Kite refused a window (after retries); the windows that landed
            are kept, and a new version in progress is discarded (the stored series stays).
        CandleStoreError: the store failed.
    """
    return _Run(fetcher, store, progress).fill(requests, refresh=refresh)


@dataclass
class _Wanted:
    """One series a run fills: the first request naming it (instrument, interval, flags) and its ranges."""

    request: CandleRequest
    ranges: list[Span] = field(default_factory=list)

    @property
    def series(self) -> SeriesKey:
        return series_of(self.request)

    @property
    def label(self) -> str:
        return f"{self.request.key} {self.request.interval.value}"


@dataclass(frozen=True)
class _Held:
    """A checked answer whose stored candle differed: kept unstored until the series is judged."""

    job: Job
    got: Fetched
    anchor: Anchor


class _Run:
    """One :func:`fill_store` call: the rounds, the progress across them, what was fetched and what is forming."""

    def __init__(self, fetcher: WindowFetcher, store: CandleStore, progress: Progress | None) -> None:
        self.fetcher = fetcher
        self.store = store
        self.progress = progress
        self.done = 0
        self.windows: dict[SeriesKey, int] = {}
        self.forming: dict[SeriesKey, list[pd.DataFrame]] = {}

    def fill(self, requests: Sequence[CandleRequest], *, refresh: bool) -> Outcome:
        wanted = _group(requests)
        renew = set(wanted) if refresh else set()
        checked: dict[Job, Anchor] = {}
        plain: list[Job] = []
        for series, want in wanted.items():
            if series not in renew:
                self._plan(want, checked, plain)
        if self.progress is not None:
            self.progress(0, len(checked) + len(plain))
        renew |= self._check(wanted, checked, later=len(plain))
        self._fetch([j for j in plain if series_of(j.request) not in renew], self._keep)
        self._renew([wanted[s] for s in wanted if s in renew], refreshed=refresh)
        forming = {s: merge_candles(frames) for s, frames in self.forming.items()}
        return Outcome(dict(self.windows), forming)

    # -- round 1: gaps that follow stored candles --------------------------------------------------------
    def _plan(self, want: _Wanted, checked: dict[Job, Anchor], plain: list[Job]) -> None:
        """Add the windows of ``want``'s gaps: the first of a gap that follows stored candles re-reads the last."""
        interval = want.request.interval
        for lo, hi in want.ranges:
            for start, end in self.store.missing(want.series, lo, hi):
                windows = split_windows(start, end, interval)
                anchor = self.store.anchor(want.series, start)
                if anchor is not None:
                    from_anchor = split_windows(anchor.time, end, interval)
                    if len(from_anchor) == len(windows):  # the check never costs a request
                        checked[Job(want.request, from_anchor[0], oi=True)] = anchor
                        windows = from_anchor[1:]
                plain += [Job(want.request, w, oi=True) for w in windows]

    def _check(self, wanted: dict[SeriesKey, _Wanted], checked: dict[Job, Anchor], later: int) -> set[SeriesKey]:
        """Fetch the windows that re-read a stored candle; return the series Kite has adjusted since."""
        held: dict[SeriesKey, list[_Held]] = {}

        def keep(job: Job, got: Fetched) -> None:
            anchor = checked[job]
            found = compare(anchor.frame(), got.frame, job.request.instrument.tick_size)
            if found.scaled:  # perhaps a split: judged with the candles before it
                held.setdefault(series_of(job.request), []).append(_Held(job, got, anchor))
                return
            if not found.same:
                _corrected(wanted[series_of(job.request)], found)
            self._keep(job, got)

        self._fetch(list(checked), keep, later=later)
        if not held:
            return set()
        # One more window per changed series: the stored candles just before the one that changed.
        before = {s: _check_window(items[0].anchor, wanted[s].request.interval) for s, items in held.items()}
        again = [Job(wanted[s].request, w, oi=True) for s, w in before.items() if w is not None]
        answers: dict[SeriesKey, tuple[Job, Fetched]] = {}
        self._fetch(again, lambda job, got: answers.__setitem__(series_of(job.request), (job, got)), later=later)
        adjusted: set[SeriesKey] = set()
        for series, items in held.items():
            want = wanted[series]
            stored = [h.anchor.frame() for h in items]
            kite = [h.got.frame for h in items]
            tick = want.request.instrument.tick_size
            answer = answers.get(series)
            earlier = None
            if answer is not None:
                job, got = answer
                stored.append(self.store.read(series, *_stored_span(job.window, want.request.interval)))
                kite.append(got.frame)
                earlier = compare(stored[-1], got.frame, tick)
            found = compare(_prices(stored), _prices(kite), tick)
            if found.adjusted:
                assert found.factor is not None  # noqa: S101 - an adjustment has its factor
                log.warning(
                    "%s: Kite's prices of %s stored candles are now the stored ones divided by %.4g "
                    "(a split or bonus), e.g. %s",
                    want.label, f"{len(found.changes):,}", found.factor, found.describe(1),
                )  # fmt: skip
                adjusted.add(series)
                continue
            _corrected(want, found)
            if answer is not None and earlier is not None and not earlier.same:
                self._keep(*answer)  # the earlier candles that changed too, corrected the same way
            for item in items:
                self._keep(item.job, item.got)
        return adjusted

    # -- round 3: new versions ---------------------------------------------------------------------------
    def _renew(self, wanted: list[_Wanted], *, refreshed: bool) -> None:
        """Fetch each series' stored range and asked ranges again into a new version; swap it in when complete."""
        plans: list[tuple[_Wanted, list[Span], list[Job]]] = []
        for want in wanted:
            stored = self.store.coverage(want.series)
            ranges = _merged([*stored, *want.ranges])
            jobs = [
                Job(want.request, w, oi=True) for lo, hi in ranges for w in split_windows(lo, hi, want.request.interval)
            ]
            plans.append((want, stored, jobs))
        remaining = sum(len(jobs) for _, _, jobs in plans)
        for want, stored, jobs in plans:
            remaining -= len(jobs)
            if stored:
                (log.info if refreshed else log.warning)(
                    "%s: fetching the whole stored range again, %s to %s (%d windows), as a new version; the "
                    "stored candles stay until it is complete",
                    want.label, stored[0][0], stored[-1][1], len(jobs),
                )  # fmt: skip
            # Whatever the stored series covers up to what is surely closed now, the new version must cover.
            horizon = complete_until(self.fetcher.clock.now(), want.request.interval)
            required = [(lo, min(hi, horizon)) for lo, hi in stored if lo <= horizon]
            version = self.store.new_version(want.series, want.request.instrument.instrument_token)
            try:
                self._fetch(jobs, partial(self._keep, version=version), later=remaining)
                was, now = version.commit(required)
            except BaseException:
                try:
                    version.discard()
                except Exception:
                    log.debug("could not discard the unfinished version of %s", want.label, exc_info=True)
                raise
            if stored:
                (log.info if refreshed else log.warning)(
                    "%s: the new version is in place: %s candles replaced by %s", want.label, f"{was:,}", f"{now:,}"
                )

    # -- fetching and storing ----------------------------------------------------------------------------
    def _fetch(self, jobs: list[Job], on_result: Callable[[Job, Fetched], None], later: int = 0) -> None:
        """Fetch ``jobs`` with the progress counted across rounds (``later``: windows known to come after)."""
        if not jobs:
            return
        base = self.done

        def counted(job: Job, got: Fetched) -> None:
            series = series_of(job.request)
            self.windows[series] = self.windows.get(series, 0) + 1
            on_result(job, got)

        def step(done: int, total: int) -> None:
            self.done = base + done
            if self.progress is not None:
                self.progress(self.done, base + total + later)

        self.fetcher.run(jobs, counted, step)

    def _keep(self, job: Job, got: Fetched, version: SeriesVersion | None = None) -> None:
        """Store a window's closed candles (in ``version`` if given) and keep its forming ones aside."""
        request = job.request
        until = complete_until(got.asked_at, request.interval)
        span = _stored_span(job.window, request.interval)
        if version is not None:
            version.write(span, got.frame, complete_until=until)
        else:
            self.store.write(
                series_of(request), request.instrument.instrument_token, span, got.frame, complete_until=until
            )
        index = got.frame.index
        forming = got.frame[(index > until) & (index >= span[0]) & (index <= span[1])]
        if len(forming):
            self.forming.setdefault(series_of(request), []).append(forming)


def _corrected(want: _Wanted, found: Comparison) -> None:
    log.warning(
        "%s: %s stored candle(s) differed from Kite's and were corrected in place, nothing else changed "
        "(open/high/low/close, stored -> Kite's): %s",
        want.label, f"{len(found.changes):,}", found.describe(),
    )  # fmt: skip


def _group(requests: Iterable[CandleRequest]) -> dict[SeriesKey, _Wanted]:
    """Return the series ``requests`` fill, each with its requests' ranges merged."""
    wanted: dict[SeriesKey, _Wanted] = {}
    for request in requests:
        want = wanted.setdefault(series_of(request), _Wanted(request))
        want.ranges = _merged([*want.ranges, (request.start, request.end)])
    return wanted


def _merged(spans: Iterable[Span]) -> list[Span]:
    """Return ``spans`` (both ends inclusive, whole seconds) merged where they overlap or meet, oldest first."""
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + _SECOND:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _stored_span(window: Window, interval: Interval) -> Span:
    """Return the range a window's answer covers: for day candles, the whole of its last date."""
    if interval is Interval.DAY:
        return window.start, window.end + timedelta(days=1) - _SECOND
    return window.start, window.end


def _check_window(anchor: Anchor, interval: Interval) -> Window | None:
    """Return the window of stored candles just before ``anchor`` that a check re-reads (None: none stored)."""
    end = anchor.time - _SECOND
    start = max(anchor.since, anchor.time - min(_CHECK_SPAN, timedelta(days=interval.max_days)))
    if start > end:
        return None
    return split_windows(start, end, interval)[-1]


def _prices(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Return the prices of ``frames`` as one frame, each time once."""
    import pandas as pd

    merged = pd.concat([f[list(PRICES)] for f in frames if len(f)] or [frames[0][list(PRICES)]])
    return merged[~merged.index.duplicated(keep="last")]
