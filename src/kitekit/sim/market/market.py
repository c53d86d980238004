"""The simulated market for one seed: the :class:`Market` facade over universes, snapshots and candles.

Everything is derived from the underlying paths of :mod:`kitekit.sim.market.price_paths`, so ltp, ohlc,
quote and historical candles agree with each other for the same clock time.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, time

import numpy as np

from kitekit.markethours import TradingCalendar
from kitekit.sim.market import stored
from kitekit.sim.market.candles import CandleHistory
from kitekit.sim.market.catalog import ANCHOR
from kitekit.sim.market.contract_model import ContractModel, never_traded, round_tick
from kitekit.sim.market.price_paths import PathModel
from kitekit.sim.market.snapshot import Snapshot, last_prices, take_snapshot
from kitekit.sim.market.timeline import DUMP_TIME, SessionPoint, dump_day, session_point
from kitekit.sim.market.underlyings import Underlying, build_underlyings, parameter_arrays
from kitekit.sim.market.universe import ContractKind, Universe, build_universe
from kitekit.wire.history import Interval

__all__ = ["Market"]

_CACHED_DAYS = 1024  # PathModel's own cache: enough for REST quotes and history

# Universes by (seed, day), shared by every Market of the default calendar in the process: a universe is a
# function of those alone, and one costs seconds to build (115k rows). A process that starts many simulators on
# one seed (every `--sim` command run in process, the test suite, a notebook restarting its simulator) builds a
# day's once. Kept to a few days, so a long-running process holds a bounded number.
_SHARED: dict[tuple[int, date], Universe] = {}
_SHARED_LOCK = threading.Lock()
_SHARED_DAYS = 4


class Market:
    """The whole simulated market for one seed; safe to share between request threads."""

    def __init__(self, seed: int = 7, calendar: TradingCalendar | None = None, dump_time: time = DUMP_TIME) -> None:
        self.seed = seed
        self.calendar = calendar or TradingCalendar()
        self.dump_time = dump_time
        self.underlyings: list[Underlying] = build_underlyings(seed)
        params = parameter_arrays(self.underlyings)
        self.paths = PathModel(seed, params["price"], params["vol"], params["drift"], self.calendar, ANCHOR)
        self.contracts = ContractModel(seed, self.underlyings)
        self.history = CandleHistory(self.calendar, self.underlyings, self.paths, self.contracts)
        self._lock = threading.Lock()
        self._universes: dict[date, Universe] = {}
        self._shared = calendar is None  # another calendar lists other days: its universes are its own

    # -- time --------------------------------------------------------------------------------------
    def point(self, now: datetime) -> SessionPoint:
        """Return the session point whose prices are current at clock time ``now``."""
        return session_point(self.calendar, now)

    def dump_day(self, now: datetime) -> date:
        """Return the trading day whose instruments dump is current at ``now`` (rebuilt at 08:00 IST)."""
        return dump_day(self.calendar, now, self.dump_time)

    def hold_paths(self, underlyings: int) -> None:
        """Cache the day paths of at least ``underlyings`` underlyings beside the usual ones (~100 kB each).

        The WebSocket feed snapshots its instruments every second; past the cache, each second would rebuild
        their paths from scratch.
        """
        self.paths.reserve(underlyings + _CACHED_DAYS)

    # -- instruments -------------------------------------------------------------------------------
    def universe(self, now: datetime) -> Universe:
        """Return the instrument universe listed at ``now`` (built once per dump day)."""
        return self._universe_of(self.dump_day(now))

    def previous_universe(self, now: datetime) -> Universe:
        """Return the universe the dump before ``now``'s listed: it still holds the contracts that just expired."""
        return self._universe_of(self.calendar.previous(self.dump_day(now)))

    def _universe_of(self, day: date) -> Universe:
        with self._lock:
            uni = self._universes.get(day)
            if uni is None:
                uni = self._shared_universe(day) if self._shared else self._build(day)
                prev = self.calendar.previous(day)
                # Drop universes older than the day before, so a long-running simulator holds two at most.
                self._universes = {d: u for d, u in self._universes.items() if d >= prev}
                self._universes[day] = uni
            return uni

    def _shared_universe(self, day: date) -> Universe:
        key = (self.seed, day)
        with _SHARED_LOCK:  # held while building: a second simulator asking for the same day waits for the first
            uni = _SHARED.get(key)
            if uni is None:
                uni = _SHARED[key] = self._build(day)
                for old in list(_SHARED)[:-_SHARED_DAYS]:  # insertion order: the oldest built go first
                    del _SHARED[old]
            return uni

    def _build(self, day: date) -> Universe:
        if self._shared:  # the default calendar: a function of the seed and the day alone, kept on disk
            return stored.universe(self.seed, day, lambda: self._build_new(day))
        return self._build_new(day)

    def _build_new(self, day: date) -> Universe:
        prev = self.calendar.previous(day)
        uni = build_universe(self.underlyings, self.calendar, day, lambda uid: self.paths.close_on(uid, prev))
        uni.dead = never_traded(uni, self.contracts.implied, self._close_by)
        uni.last_price = self._prices_at_close(uni, prev)
        return uni

    def _close_by(self, uid: int, day: date) -> float:
        """Return the underlying's close on the last session on or before ``day``."""
        return self.paths.close_on(uid, self.calendar.on_or_before(day))

    def _prices_at_close(self, uni: Universe, day: date) -> np.ndarray:
        # The dump's last_price column: every contract at the previous session's close (0 for indices and
        # for contracts that never trade).
        n = self.calendar.ordinal(day)
        spot = np.exp(np.array([self.paths.close_log(u.uid, n) for u in self.underlyings]))
        rows = np.arange(len(uni))
        when = self.calendar.session_close(day)
        px = self.contracts.price(uni, rows, spot[uni.uid], self.contracts.tau(uni, rows, when))
        px = np.where((uni.kind == ContractKind.INDEX) | uni.dead, 0.0, px)
        return round_tick(px, uni.price_tick)

    # -- quotes and history ------------------------------------------------------------------------
    def last_prices(self, uni: Universe, rows: np.ndarray, now: datetime) -> np.ndarray:
        """Return the last prices of ``rows`` of ``uni`` at ``now``, equal to a snapshot's, computed alone."""
        return last_prices(self.contracts, self.paths, uni, rows, self.point(now))

    def snapshot(self, uni: Universe, rows: np.ndarray, now: datetime) -> Snapshot:
        """Return the market state of ``rows`` of ``uni`` at clock time ``now``."""
        return take_snapshot(self.contracts, self.paths, self.calendar, uni, rows, self.point(now))

    def candles(
        self,
        uni: Universe,
        row: int,
        interval: Interval,
        start: datetime,
        end: datetime,
        now: datetime,
        oi: bool = False,
        continuous: bool = False,
    ) -> list[list[object]]:
        """Return Kite candle rows ``[time, o, h, l, c, v(, oi)]`` whose start lies in [start, end].

        See :meth:`CandleHistory.candles`: times are aware datetimes, nothing extends past ``now``.
        """
        return self.history.candles(uni, row, interval, start, end, now, oi, continuous)
