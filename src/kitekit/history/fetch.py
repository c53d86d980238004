"""Fetching request windows: one window's answer as a frame, and many windows in flight under the shared pacer.

Every request goes through the client's ``requests`` session, so the transport mounted on it paces it in the
historical class (3/s per api_key, shared by every thread and process) and retries network-side failures.
:class:`WindowFetcher` keeps several windows in flight at once: each worker thread waits for its slot in
the pacer, so requests leave exactly at the pace the limit allows while earlier answers are still being
generated and downloaded. With one request at a time the wall time would be the sum of the latencies
instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from kitekit.clock import Clock, clock_of
from kitekit.history.rules import CandleRequest
from kitekit.history.windows import Window
from kitekit.rest.raw import kite_get, raise_error_answer
from kitekit.wire.candles import parse_candles
from kitekit.wire.envelope import ErrorType, error_type_of
from kitekit.wire.formats import format_timestamp
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

__all__ = ["Fetched", "Job", "Progress", "WindowFetcher", "fetch_window"]

log = logging.getLogger("kitekit.history")

#: Called after each window with (windows done, windows in all).
Progress = Callable[[int, int], None]


def fetch_window(
    kite: KiteConnect, token: int, interval: Interval, window: Window, *, oi: bool = False, continuous: bool = False
) -> pd.DataFrame:
    """Fetch one window's candles and parse them column-wise (:func:`kitekit.wire.candles.parse_candles`).

    Route: ``GET /instruments/historical/{instrument_token}/{interval}``.

    The SDK's ``historical_data()`` parses every candle's time with ``dateutil``, the cost the fast parser
    exists to avoid, so the bytes are fetched with :func:`kitekit.rest.raw.kite_get` (the client's paced session,
    the SDK's query parameters and headers).

    Args:
        kite: a logged-in client.
        token: the instrument token.
        interval: the candle interval.
        window: the range, within the interval's span limit (both ends inclusive).
        oi: ask for open interest (a seventh value per candle).
        continuous: ask for the series stitched across expiries (futures, day candles).

    Returns:
        The window's candles indexed by IST time.

    Raises:
        kiteconnect.exceptions.KiteException: Kite's error answer, as the SDK raises it (the session-expiry
            hook runs on a 403 TokenException); DataException for a body that is not a candles answer.
        requests.RequestException: the network failed after the transport's retries.
    """
    params: dict[str, str | int] = {
        "from": format_timestamp(window.start),
        "to": format_timestamp(window.end),
        "interval": interval.value,  # the SDK repeats the interval in the query; so do we
        "continuous": int(continuous),
        "oi": int(oi),
    }
    with kite_get(kite, f"/instruments/historical/{token}/{interval.value}", params) as r:
        status, kind, body = r.status_code, r.headers.get("content-type", ""), r.content
    if status >= 400:
        raise_error_answer(kite, status, kind, body, f"Kite answered HTTP {status} with no error to a candles request")
    return parse_candles(body, oi=oi, status=status)


@dataclass(frozen=True)
class Job:
    """One window of one request to fetch; ``oi`` may ask for more than the request did (a store keeps oi)."""

    request: CandleRequest
    window: Window
    oi: bool


@dataclass(frozen=True)
class Fetched:
    """A window's candles and when it was asked for (what decides which candles were still forming)."""

    frame: pd.DataFrame
    asked_at: datetime


class WindowFetcher:
    """Fetches windows several at a time under the client's pacer, handing each answer back as it lands.

    Args:
        kite: a logged-in client with kitekit's transport (every client from ``get_kite()`` has it); a bare
            SDK client works too, but nothing then paces it.
        concurrency: windows in flight at once. At Kite's 3/s, six cover answers that take up to two seconds;
            more only queue in the pacer (and beyond the session's connection pool, 10, open extra sockets).
        attempts: tries per window for a DataException (Kite failing to read its own OMS answer). One window
            is one instrument's data, so reporting it missing would lose it; a second try usually cures it.
            Network-side failures are retried below, by the transport.
        clock: stamps when each window was asked for.

    Raises:
        ValueError: ``concurrency`` or ``attempts`` below 1.
    """

    def __init__(
        self, kite: KiteConnect, *, concurrency: int = 6, attempts: int = 3, clock: Clock | None = None
    ) -> None:
        if concurrency < 1 or attempts < 1:
            raise ValueError(f"concurrency and attempts must be >= 1, got {concurrency} and {attempts}")
        self.kite = kite
        self.concurrency = concurrency
        self.attempts = attempts
        self.clock = clock or clock_of(kite)

    def fetch(self, job: Job) -> Fetched:
        """Fetch one job's window, retrying a DataException up to ``attempts`` times.

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``.
        """
        request = job.request
        for attempt in range(1, self.attempts + 1):
            asked_at = self.clock.now()
            try:
                frame = fetch_window(
                    self.kite,
                    request.instrument.instrument_token,
                    request.interval,
                    job.window,
                    oi=job.oi,
                    continuous=request.continuous,
                )
            except Exception as exc:
                if attempt == self.attempts or error_type_of(exc) is not ErrorType.DATA:
                    raise
                log.info("%s %s window %s: %s; trying again", request.key, request.interval, job.window.start, exc)
                continue
            return Fetched(frame, asked_at)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def run(
        self, jobs: Sequence[Job], on_result: Callable[[Job, Fetched], None], progress: Progress | None = None
    ) -> int:
        """Fetch every job, calling ``on_result`` in this thread as each answer lands (in any order).

        Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per job.

        On the first failure the jobs not yet started are dropped; those in flight finish and their answers
        are still handed to ``on_result`` (a store keeps them), then the failure is raised. Ctrl-C drops
        the rest the same way.

        Returns:
            The number of windows fetched.

        Raises:
            Exception: the first window's failure (see :func:`fetch_window`), or what ``on_result`` raised.
        """
        total = len(jobs)
        if progress is not None:
            progress(0, total)
        if not jobs:
            return 0
        done = 0
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=min(self.concurrency, total), thread_name_prefix="kitekit-history") as pool:
            futures: dict[Future[Fetched], Job] = {pool.submit(self.fetch, job): job for job in jobs}
            try:
                for future in as_completed(futures):
                    if future.cancelled():
                        continue
                    error = future.exception()
                    if error is not None:
                        if failure is None:
                            failure = error
                            _cancel(futures)
                        continue
                    on_result(futures[future], future.result())
                    done += 1
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                _cancel(futures)  # or leaving the pool would wait for every queued window
                raise
        if failure is not None:
            raise failure
        return done


def _cancel(futures: dict[Future[Fetched], Job]) -> None:
    for future in futures:
        future.cancel()
