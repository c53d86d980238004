"""Historical candles of any instrument, cut from the same price paths and contract model as quotes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from kitekit.clock import IST
from kitekit.markethours import TradingCalendar
from kitekit.sim.market import expiries as ex
from kitekit.sim.market.contract_model import ContractModel, round_tick
from kitekit.sim.market.price_paths import PathModel
from kitekit.sim.market.pricing import SECONDS_PER_YEAR
from kitekit.sim.market.timeline import LAST_SECOND, SessionPoint, session_point
from kitekit.sim.market.underlyings import AssetClass, Underlying
from kitekit.sim.market.universe import ContractKind, Universe
from kitekit.wire.history import Interval

__all__ = ["CandleHistory"]

_DERIVATIVES = (ContractKind.FUT, ContractKind.CE, ContractKind.PE)


class CandleHistory:
    """Kite candle rows for any instrument and interval; thread-safe (the paths cache is)."""

    def __init__(
        self, calendar: TradingCalendar, underlyings: list[Underlying], paths: PathModel, model: ContractModel
    ) -> None:
        self.calendar = calendar
        self.underlyings = underlyings
        self.paths = paths
        self.model = model

    def front_expiry(self, u: Underlying, day: date) -> date:
        """Return the nearest monthly future expiry of ``u`` on or after ``day`` (continuous series)."""
        if u.asset is AssetClass.CURRENCY:
            return ex.currency_monthlies(self.calendar, day, 1)[0]
        if u.asset is AssetClass.COMMODITY:
            return ex.commodity_monthlies(self.calendar, day, u.expiry_day, u.months, 1)[0]
        weekday = ex.THURSDAY if (u.bse_token and not u.nse_token and u.asset is AssetClass.INDEX) else ex.TUESDAY
        return ex.monthly_expiries(self.calendar, day, weekday, 1)[0]

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

        ``time`` is an aware datetime; the caller formats it. Candles never extend past ``now``; the
        current candle is partial and closes at the current last price. Derivatives have history from
        100 days before expiry (continuous futures excepted).
        """
        if uni.dead[row]:
            return []  # a contract that never traded has no candles
        pt = session_point(self.calendar, now)
        end = min(end, now)
        first_day = start.astimezone(IST).date()
        last_day = min(end.astimezone(IST).date(), pt.day)
        kind = ContractKind(int(uni.kind[row]))
        if not np.isnat(uni.expiry[row]) and not continuous:
            expiry = date.fromisoformat(str(uni.expiry[row]))
            last_day = min(last_day, expiry)
            first_day = max(first_day, expiry - timedelta(days=100))
        # Nothing exists before or after the span the price paths cover (decades either side of today).
        lo, hi = self.paths.span
        first_day = max(first_day, self.calendar.from_ordinal(lo))
        last_day = min(last_day, self.calendar.from_ordinal(hi))
        days = self.calendar.trading_days(first_day, last_day)
        if not days:
            return []
        if interval is Interval.DAY:
            return self._daily(uni, row, kind, days, pt, oi, continuous)
        pieces = []
        for day in days:
            n = self.calendar.ordinal(day)
            s_end = pt.s if n == pt.n else LAST_SECOND
            piece = self._intraday(uni, row, kind, day, n, s_end, interval, start, end)
            if piece is not None:
                pieces.append(piece)
        return self._with_prices_and_volumes(uni, row, kind, pieces, oi)

    def _ohlc_prices(
        self,
        uni: Universe,
        row: int,
        kind: ContractKind,
        logs: np.ndarray,
        t_open: np.ndarray,
        t_close: np.ndarray,
        factor: np.ndarray | None,
    ) -> tuple[np.ndarray, ...]:
        """Map underlying (open, high, low, close) log prices, shape (4, k), to the instrument's prices."""
        so, sh, sl, sc = np.exp(logs)
        tick = np.full(len(so), uni.price_tick[row])
        if factor is not None:  # continuous futures: spot times each day's carry to the front expiry
            o, h, lo, c = (round_tick(x * factor, tick) for x in (so, sh, sl, sc))
        else:
            model = self.model
            r = np.full(len(so), row)
            put = kind == ContractKind.PE
            tau_o = model.tau(uni, r, t_open)
            o = model.price(uni, r, so, tau_o)
            c = model.price(uni, r, sc, model.tau(uni, r, t_close))
            h = model.price(uni, r, sl if put else sh, tau_o)
            lo = model.price(uni, r, sh if put else sl, tau_o)
            o, h, lo, c = (round_tick(x, tick) for x in (o, h, lo, c))
        return o, np.maximum.reduce([h, o, c]), np.minimum.reduce([lo, o, c]), c

    def _second_prices(
        self,
        uni: Universe,
        row: int,
        sec: np.ndarray,
        open_log: float,
        t_open: float,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """Return (open, high, low, close) of intraday candles from the instrument's price at every second.

        A derivative's price moves with its time to expiry as well as its underlying, so its candle's high
        and low are the extremes of its own prices second by second (what a quote or a tick showed at each
        second), not the prices of the underlying's extremes.
        """
        model = self.model
        r = np.full(len(sec), row)
        spot = np.exp(sec.astype(np.float64) + open_log)
        px = round_tick(model.price(uni, r, spot, model.tau(uni, r, t_open + np.arange(len(sec)))), uni.price_tick[r])
        return px[starts], np.maximum.reduceat(px, starts), np.minimum.reduceat(px, starts), px[ends]

    def _volumes_and_oi(
        self,
        uni: Universe,
        row: int,
        n: np.ndarray,
        day64: np.ndarray,
        s_prev: np.ndarray,
        share: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (cumulative volume, day volume, oi) when ``share`` of sessions ``n``'s volume has traded."""
        r = np.full(len(n), row)
        tokens = uni.token[r]
        v_day = self.model.day_volume(uni, r, tokens, n, day64, s_prev)
        cum = self.model.traded_volume(uni, r, v_day, share)
        # The OI opens at the previous session's close: its day and the underlying's close before it.
        uid = int(uni.uid[row])
        sessions, which = np.unique(n, return_inverse=True)
        before = np.array([self.calendar.from_ordinal(int(k) - 1) for k in sessions], dtype="datetime64[D]")
        s_prev2 = np.exp([self.paths.close_log(uid, int(k) - 2) for k in sessions])
        oi, _, _ = self.model.open_interest(uni, r, n, share, (day64, before[which]), (s_prev, s_prev2[which]))
        return cum, v_day, oi

    def _daily(
        self,
        uni: Universe,
        row: int,
        kind: ContractKind,
        days: list[date],
        pt: SessionPoint,
        with_oi: bool,
        continuous: bool,
    ) -> list[list[object]]:
        uid = int(uni.uid[row])
        cal = self.calendar
        ns = np.array([cal.ordinal(d) for d in days])
        logs = np.empty((4, len(days)))
        share = np.ones(len(days))
        s_end = np.full(len(days), LAST_SECOND)
        for i, n in enumerate(ns.tolist()):
            if n == pt.n:  # today's candle is partial: high/low so far, close = last price
                dp = self.paths.day(uid, n)
                hi, lo = dp.high_low_upto(pt.s)
                logs[:, i] = (dp.open_log, hi, lo, dp.log_at(pt.s))
                share[i], s_end[i] = dp.volume_share(pt.s), pt.s
            else:
                logs[:, i] = self.paths.summary(uid, n)
        t_open = np.array([cal.session_open(d).timestamp() for d in days])
        t_close = t_open + s_end
        factor = None
        if continuous:
            u = self.underlyings[uid]
            expiry_close = np.array([cal.session_close(self.front_expiry(u, d)).timestamp() for d in days])
            factor = np.exp(u.carry * np.maximum(expiry_close - t_close, 0.0) / SECONDS_PER_YEAR)
        o, h, lo_, c = self._ohlc_prices(uni, row, kind, logs, t_open, t_close, factor)
        s_prev = np.exp([self.paths.close_log(uid, int(n) - 1) for n in ns])
        day64 = np.array(days, dtype="datetime64[D]")
        vol, _, oi = self._volumes_and_oi(uni, row, ns, day64, s_prev, share)
        if kind == ContractKind.INDEX:
            vol = np.zeros_like(vol)
        stamps = [datetime.combine(d, time(0), tzinfo=IST) for d in days]
        return _candle_rows(stamps, range(len(days)), (o, h, lo_, c, vol), oi if with_oi else None)

    def _intraday(
        self,
        uni: Universe,
        row: int,
        kind: ContractKind,
        day: date,
        n: int,
        s_end: int,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> _DayCandles | None:
        """Return one session's candles in [start, end] without their volumes, or None if it has none."""
        uid = int(uni.uid[row])
        opens = self.calendar.session_open(day)
        # Candles start every k minutes from 09:15; the last may be partial (375 is not a multiple of 60).
        starts = np.arange(0, s_end + 1, interval.minutes * 60)
        t0 = opens.timestamp() + starts
        keep = (t0 >= start.timestamp()) & (t0 <= end.timestamp())
        if not keep.any():
            return None
        dp = self.paths.day(uid, n)
        ends = np.minimum(starts + interval.minutes * 60 - 1, s_end)
        sec = dp.sec[: s_end + 1]
        if kind in _DERIVATIVES:
            prices = np.vstack(self._second_prices(uni, row, sec, dp.open_log, opens.timestamp(), starts, ends))
        else:
            # The underlying's (open, high, low, close) logs and the candles' times: priced for every
            # session at once in _with_prices_and_volumes.
            logs = np.vstack(
                [sec[starts], np.maximum.reduceat(sec, starts), np.minimum.reduceat(sec, starts), sec[ends]]
            ).astype(np.float64)
            prices = np.vstack([logs + dp.open_log, t0, opens.timestamp() + ends])
        share = np.array([dp.volume_share(int(e)) for e in ends])
        stamps = [opens + timedelta(seconds=int(a)) for a in starts[keep].tolist()]
        return _DayCandles(n, day, math.exp(dp.prev_close_log), share, keep, stamps, prices)

    def _with_prices_and_volumes(
        self, uni: Universe, row: int, kind: ContractKind, pieces: list[_DayCandles], with_oi: bool
    ) -> list[list[object]]:
        """Return the sessions' candle rows: the price and volume models once for every session.

        The models are elementwise, so one call over the whole request equals one call per session, and a
        long window (six months of 15-minute candles) costs one numpy pass instead of one per session.
        """
        if not pieces:
            return []
        sizes = [len(p.share) for p in pieces]
        cum, _, oi = self._volumes_and_oi(
            uni,
            row,
            np.repeat([p.n for p in pieces], sizes),
            np.repeat(np.array([p.day for p in pieces], dtype="datetime64[D]"), sizes),
            np.repeat([p.prev_close for p in pieces], sizes),
            np.concatenate([p.share for p in pieces]),
        )
        prices = np.hstack([p.prices for p in pieces])
        if kind not in _DERIVATIVES:
            prices = np.vstack(self._ohlc_prices(uni, row, kind, prices[:4], prices[4], prices[5], None))
        out: list[list[object]] = []
        at = 0
        for p, k in zip(pieces, sizes, strict=True):
            # Volume per candle is the day's cumulative volume differenced; an index trades none.
            index = kind == ContractKind.INDEX
            vol = np.zeros(k, dtype=np.int64) if index else np.diff(np.concatenate([[0], cum[at : at + k]]))
            picks = np.flatnonzero(p.keep)
            o, h, lo, c = prices[:, at : at + k][:, picks]
            day_oi = oi[at : at + k][picks] if with_oi else None
            out.extend(_candle_rows(p.stamps, range(len(picks)), (o, h, lo, c, vol[picks]), day_oi))
            at += k
        return out


@dataclass(frozen=True, slots=True)
class _DayCandles:
    """One session's candles before their volumes: prices of every candle, which ones were asked for."""

    n: int  # the session's ordinal
    day: date
    prev_close: float  # the underlying's previous close (the volume model's reference price)
    share: np.ndarray  # share of the day's volume traded at each candle's end
    keep: np.ndarray  # the candles inside the request
    stamps: list[datetime]  # start times of the kept candles
    # A derivative's (open, high, low, close) of every candle of the session, priced second by second;
    # anything else's underlying logs (open, high, low, close) and each candle's open and end times.
    prices: np.ndarray


def _candle_rows(
    stamps: list[datetime], picks: Iterable[int], ohlcv: tuple[np.ndarray, ...], oi: np.ndarray | None
) -> list[list[object]]:
    """Return Kite candle rows ``[time, o, h, l, c, volume(, oi)]`` for the picked indexes."""
    o, h, lo, c, vol = ohlcv
    rows: list[list[object]] = []
    for i in picks:
        row: list[object] = [stamps[i], float(o[i]), float(h[i]), float(lo[i]), float(c[i]), int(vol[i])]
        if oi is not None:
            row.append(int(oi[i]))
        rows.append(row)
    return rows
