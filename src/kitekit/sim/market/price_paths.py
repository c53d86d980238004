"""Seeded price paths of every underlying: daily closes, and each trading day's path second by second.

Daily closes follow a random walk with drift, anchored so every underlying sits at its catalogue level on
``catalog.ANCHOR``. The walk is built from blocks of 64 trading days joined by Brownian bridges, so any
day's close costs two cached arrays instead of a sum from the anchor. A trading day's intraday path is a
bridge from its open (previous close plus an overnight gap) to its close: minute points first, then seconds
between them. Every random number comes from a generator keyed on (seed, underlying, day), so a price is a
pure function of the seed and the moment.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import numpy as np

from kitekit.markethours import SESSION_SECONDS, TradingCalendar
from kitekit.sim.market.rng import generator

__all__ = ["MINUTES", "DayPath", "PathModel"]

MINUTES = SESSION_SECONDS // 60
_BLOCK = 64
_KMAX = 160  # blocks each side of the anchor: ~40 years of trading days
_DAYS_PER_YEAR = 250.0
_TAG_ANCHORS, _TAG_BLOCK, _TAG_DAY = 1, 2, 3


@dataclass(frozen=True)
class DayPath:
    """One underlying's trading day: log prices each second plus minute summaries.

    ``sec[s]`` is the log price ``s`` seconds after 09:15 relative to ``open_log``; ``sec[-1]`` is the close.
    """

    open_log: float
    close_log: float
    prev_close_log: float
    sec: np.ndarray  # float32, SESSION_SECONDS, relative to open_log
    m_high: np.ndarray  # float64 per minute, absolute log
    m_low: np.ndarray
    cum_high: np.ndarray  # running max of m_high
    cum_low: np.ndarray
    volume_frac: np.ndarray  # cumulative share of the day's volume at each minute boundary, MINUTES + 1

    def log_at(self, s: int) -> float:
        """Return the log price at second ``s`` of the session (0..SESSION_SECONDS-1)."""
        return self.open_log + float(self.sec[s])

    def high_low_upto(self, s: int) -> tuple[float, float]:
        """Return (high, low) log prices over seconds 0..s."""
        m = s // 60
        part = self.sec[m * 60 : s + 1]
        hi = self.open_log + float(part.max())
        lo = self.open_log + float(part.min())
        if m > 0:
            hi, lo = max(hi, float(self.cum_high[m - 1])), min(lo, float(self.cum_low[m - 1]))
        return hi, lo

    def volume_share(self, s: int) -> float:
        """Return the share of the day's volume traded by the end of second ``s``."""
        m, r = divmod(s, 60)
        a, b = self.volume_frac[m], self.volume_frac[min(m + 1, MINUTES)]
        return float(a + (b - a) * (r + 1) / 60.0)

    def minute_ohlc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return per-minute (open, high, low, close) log prices for the whole session."""
        grid = self.sec.reshape(MINUTES, 60).astype(np.float64) + self.open_log
        return grid[:, 0], self.m_high, self.m_low, grid[:, -1]


class _LRU(OrderedDict[tuple[int, int], object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: tuple[int, int], value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class PathModel:
    """Deterministic price paths for ``len(price)`` underlyings; thread-safe."""

    def __init__(
        self,
        seed: int,
        price: np.ndarray,
        vol: np.ndarray,
        drift: np.ndarray,
        calendar: TradingCalendar,
        anchor: date,
        cache_days: int = 1024,
    ) -> None:
        self.seed = seed
        self.calendar = calendar
        self.n0 = calendar.ordinal(calendar.on_or_after(anchor))
        self.log_base = np.log(price)
        self.sig_d = vol / math.sqrt(_DAYS_PER_YEAR)
        self.mu_d = drift / _DAYS_PER_YEAR
        self._lock = threading.RLock()
        self._anchors: dict[int, np.ndarray] = {}
        self._blocks = _LRU(8192)
        self._days = _LRU(cache_days)
        self._summaries = _LRU(400_000)

    @property
    def span(self) -> tuple[int, int]:
        """Return the first and last trading-day ordinals the paths cover (~40 years either side of the anchor)."""
        return self.n0 - _KMAX * _BLOCK + 1, self.n0 + _KMAX * _BLOCK - 2

    # -- daily closes ------------------------------------------------------------------------------
    def _anchor_walk(self, uid: int) -> np.ndarray:
        walk = self._anchors.get(uid)
        if walk is None:
            z = generator(self.seed, _TAG_ANCHORS, uid).standard_normal(2 * _KMAX) * math.sqrt(_BLOCK)
            fwd = np.concatenate([[0.0], np.cumsum(z[:_KMAX])])
            back = -np.cumsum(z[_KMAX:])[::-1]
            walk = np.concatenate([back, fwd])  # index k + _KMAX holds W(k * _BLOCK)
            self._anchors[uid] = walk
        return walk

    def _block(self, uid: int, k: int) -> np.ndarray:
        key = (uid, k)
        cached = self._blocks.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        walk = self._anchor_walk(uid)
        if not -_KMAX <= k < _KMAX:
            raise ValueError("date too far from the simulator's anchor")
        a, b = walk[k + _KMAX], walk[k + 1 + _KMAX]
        steps = np.concatenate(
            [[0.0], np.cumsum(generator(self.seed, _TAG_BLOCK, uid, k & 0xFFFF).standard_normal(_BLOCK))]
        )
        frac = np.arange(_BLOCK + 1) / _BLOCK
        bridge = a + steps - frac * steps[-1] + frac * (b - a)
        self._blocks.put(key, bridge)
        return bridge

    def close_log(self, uid: int, n: int) -> float:
        """Return the log close of underlying ``uid`` on trading-day ordinal ``n``."""
        d = n - self.n0
        k, j = divmod(d, _BLOCK)
        with self._lock:
            w = float(self._block(uid, k)[j])
        return float(self.log_base[uid] + self.mu_d[uid] * d + self.sig_d[uid] * w)

    def close_on(self, uid: int, day: date) -> float:
        """Return the close price of ``uid`` on trading day ``day``."""
        return math.exp(self.close_log(uid, self.calendar.ordinal(day)))

    # -- intraday ----------------------------------------------------------------------------------
    def reserve(self, days: int) -> None:
        """Keep at least ``days`` intraday paths cached (the ticker reads thousands every second)."""
        with self._lock:
            self._days.size = max(self._days.size, days)

    def day(self, uid: int, n: int) -> DayPath:
        """Return the intraday path of ``uid`` on trading-day ordinal ``n`` (cached)."""
        key = (uid, n)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                self._days.move_to_end(key)
                return cached  # type: ignore[return-value]
            path = self._build_day(uid, n)
            self._days.put(key, path)
            return path

    def summary(self, uid: int, n: int) -> tuple[float, float, float, float]:
        """Return (open, high, low, close) log prices of a whole session, cached apart from full paths.

        Long daily-candle requests touch thousands of sessions; keeping only four numbers per session keeps
        them from evicting the intraday paths that quotes and ticks use.
        """
        key = (uid, n)
        with self._lock:
            hit = self._summaries.get(key)
            if hit is not None:
                return hit  # type: ignore[return-value]
            path = self._days.get(key)
            dp = path if isinstance(path, DayPath) else self._build_day(uid, n)
            out = (dp.open_log, float(dp.cum_high[-1]), float(dp.cum_low[-1]), dp.close_log)
            self._summaries.put(key, out)
            return out

    def _build_day(self, uid: int, n: int) -> DayPath:
        sig = float(self.sig_d[uid])
        prev, close = self.close_log(uid, n - 1), self.close_log(uid, n)
        gen = generator(self.seed, _TAG_DAY, uid, n)
        z = gen.standard_normal(1 + 2 * MINUTES)
        open_log = prev + 0.3 * sig * float(z[0])
        # Minute points, relative to the open: a bridge from the open to the close.
        mz = np.concatenate([[0.0], np.cumsum(z[1 : 1 + MINUTES]) * (sig / math.sqrt(MINUTES))])
        minute = mz + _FRAC_MIN * (close - open_log - mz[-1])
        # Seconds: within each minute a bridge from its point to the next one. float32 is ample for
        # deviations of a few percent and halves the cost of the largest arrays.
        sz = gen.standard_normal(SESSION_SECONDS, dtype=np.float32).reshape(MINUTES, 60)
        sz *= np.float32(sig / math.sqrt(SESSION_SECONDS))
        w = np.cumsum(sz, axis=1)
        total = w[:, -1].copy()
        w[:, 1:] = w[:, :-1]
        w[:, 0] = 0.0
        slope = (minute[1:] - minute[:-1] - total).astype(np.float32)
        grid = w + _FRAC_SEC * slope[:, None] + minute[:-1, None].astype(np.float32)
        sec = grid.reshape(-1)
        # Pull the last second onto the close with a tiny linear correction, so the day ends exactly there.
        sec += np.float32(close - open_log - float(sec[-1])) * _RAMP
        by_min = sec.reshape(MINUTES, 60)
        m_high = by_min.max(axis=1).astype(np.float64) + open_log
        m_low = by_min.min(axis=1).astype(np.float64) + open_log
        # Volume through the day: U-shaped (busy open and close) with per-minute noise.
        weight = _U_SHAPE * np.exp(0.45 * z[1 + MINUTES :])
        vf = np.concatenate([[0.0], np.cumsum(weight)])
        return DayPath(
            open_log=open_log,
            close_log=close,
            prev_close_log=prev,
            sec=sec,
            m_high=m_high,
            m_low=m_low,
            cum_high=np.maximum.accumulate(m_high),
            cum_low=np.minimum.accumulate(m_low),
            volume_frac=vf / vf[-1],
        )


_FRAC_MIN = np.arange(MINUTES + 1) / MINUTES
_FRAC_SEC = (np.arange(60) / 60.0).astype(np.float32)
_RAMP = (np.arange(SESSION_SECONDS) / (SESSION_SECONDS - 1)).astype(np.float32)
_X = (np.arange(MINUTES) - MINUTES / 2) / (MINUTES / 2)
_U_SHAPE = 1.0 + 1.8 * _X * _X
