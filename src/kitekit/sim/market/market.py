"""The simulated market: prices, volumes, OI and candles of every instrument at any moment.

Everything is derived from the underlying paths of :mod:`kitekit.sim.market.price_paths`, so ltp, ohlc, quote,
historical candles and ticks agree with each other for the same clock time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from kitekit.clock import IST, ensure_aware
from kitekit.markethours import SESSION_OPEN, SESSION_SECONDS, TradingCalendar
from kitekit.sim.market import expiries as ex
from kitekit.sim.market.catalog import ANCHOR
from kitekit.sim.market.price_paths import PathModel
from kitekit.sim.market.pricing import SECONDS_PER_YEAR, black76, futures_price, smile_vol
from kitekit.sim.market.rng import hash_uniform
from kitekit.sim.market.underlyings import AssetClass, Underlying, build_underlyings, parameter_arrays
from kitekit.sim.market.universe import Kind, Universe, build_universe
from kitekit.wire.history import Interval

__all__ = ["Book", "Market", "SessionPoint", "Snapshot"]

#: The instruments dump is regenerated at this time each trading day (API.md §16).
DUMP_TIME = time(8, 0)
_LAST = SESSION_SECONDS - 1
# Hash tags keep the random streams of different quantities apart.
_T_VBASE, _T_VDAY, _T_VDAY2, _T_LASTQ, _T_BOOK, _T_OI, _T_OIDRIFT, _T_BAND, _T_LTT = range(11, 20)


@dataclass(frozen=True)
class SessionPoint:
    """Where a clock time falls in the market: the session day, its ordinal, and the second into it."""

    day: date
    n: int
    s: int  # seconds after 09:15, clamped to the last second; frozen at the close outside hours
    live: bool  # True while the session is running

    @property
    def moment(self) -> datetime:
        """Return the exchange time the prices at this point belong to."""
        return datetime.combine(self.day, SESSION_OPEN, tzinfo=IST) + timedelta(seconds=self.s)


@dataclass(frozen=True)
class Snapshot:
    """Market state of some instruments (rows of a universe) at one session point; arrays align with rows."""

    point: SessionPoint
    seed: int
    rows: np.ndarray
    tokens: np.ndarray
    last_price: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray  # previous session's close
    volume: np.ndarray
    average_price: np.ndarray
    last_quantity: np.ndarray
    buy_quantity: np.ndarray
    sell_quantity: np.ndarray
    oi: np.ndarray
    oi_day_high: np.ndarray
    oi_day_low: np.ndarray
    lower_circuit: np.ndarray
    upper_circuit: np.ndarray
    tick: np.ndarray
    lot: np.ndarray
    tradable: np.ndarray  # False for indices
    last_trade_lag: np.ndarray  # seconds between the last trade and the point

    def book(self) -> Book:
        """Return five bid and five ask levels (price, quantity, orders) for every row, all at once."""
        n = len(self.rows)
        h = hash_uniform(self.seed, self.tokens[:, None], self.point.n, self.point.s, np.arange(22)[None, :])
        tick, ltp = self.tick[:, None], self.last_price[:, None]
        unit = np.maximum(self.lot, 1)[:, None]
        qty_scale = np.where(self.lot > 1, 40, 900)[:, None]
        best_bid = ltp - tick * (h[:, :1] < 0.5)
        best_ask = best_bid + tick * np.where(h[:, 1:2] < 0.3, 2, 1)
        steps = np.arange(5)[None, :] * tick
        decimals = np.where(self.tick < 0.01, 4, 2)[:, None]
        bid_px = np.round(best_bid - steps, 4)
        ask_px = np.round(best_ask + steps, 4)
        bid_px = np.where(decimals == 4, bid_px, np.round(bid_px, 2))
        ask_px = np.where(decimals == 4, ask_px, np.round(ask_px, 2))
        bid_q = unit * (1 + np.floor(h[:, 2:7] * qty_scale)).astype(np.int64)
        ask_q = unit * (1 + np.floor(h[:, 12:17] * qty_scale)).astype(np.int64)
        bid_o = 1 + np.floor(h[:, 7:12] * 25).astype(np.int64)
        ask_o = 1 + np.floor(h[:, 17:22] * 25).astype(np.int64)
        # Indices have no book, and deep out-of-the-money options have nothing bid below a tick.
        empty_bid = ~self.tradable[:, None] | (bid_px <= 0)
        empty_ask = ~self.tradable[:, None] | np.zeros((n, 5), dtype=bool)
        return Book(
            np.where(empty_bid, 0.0, bid_px),
            np.where(empty_bid, 0, bid_q),
            np.where(empty_bid, 0, bid_o),
            np.where(empty_ask, 0.0, ask_px),
            np.where(empty_ask, 0, ask_q),
            np.where(empty_ask, 0, ask_o),
        )


@dataclass(frozen=True)
class Book:
    """Market depth for the rows of a snapshot: arrays of shape (rows, 5)."""

    bid_price: np.ndarray
    bid_quantity: np.ndarray
    bid_orders: np.ndarray
    ask_price: np.ndarray
    ask_quantity: np.ndarray
    ask_orders: np.ndarray

    def levels(self, i: int) -> tuple[list[tuple[float, int, int]], list[tuple[float, int, int]]]:
        """Return (bids, asks) of row ``i`` as lists of (price, quantity, orders)."""
        bids = list(
            zip(self.bid_price[i].tolist(), self.bid_quantity[i].tolist(), self.bid_orders[i].tolist(), strict=True)
        )
        asks = list(
            zip(self.ask_price[i].tolist(), self.ask_quantity[i].tolist(), self.ask_orders[i].tolist(), strict=True)
        )
        return bids, asks


def _decimals(tick: float) -> int:
    return 4 if tick < 0.01 else 2


def _round_tick(values: np.ndarray, tick: np.ndarray) -> np.ndarray:
    safe = np.where(tick > 0, tick, 0.05)
    return np.round(np.round(values / safe) * safe, 4)


def _box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


class Market:
    """The whole simulated market for one seed; safe to share between request threads."""

    def __init__(self, seed: int = 7, calendar: TradingCalendar | None = None, dump_time: time = DUMP_TIME) -> None:
        self.seed = seed
        self.calendar = calendar or TradingCalendar()
        self.dump_time = dump_time
        self.underlyings: list[Underlying] = build_underlyings(seed)
        params = parameter_arrays(self.underlyings)
        self.paths = PathModel(seed, params["price"], params["vol"], params["drift"], self.calendar, ANCHOR)
        self._carry = params["carry"]
        self._iv = params["vol"] * 1.1
        self._lock = threading.Lock()
        self._universes: dict[date, Universe] = {}

    # -- time --------------------------------------------------------------------------------------
    def point(self, now: datetime) -> SessionPoint:
        """Return the session point whose prices are current at clock time ``now``."""
        local = ensure_aware(now).astimezone(IST)
        day = local.date()
        cal = self.calendar
        if cal.is_trading_day(day) and local.time() >= SESSION_OPEN:
            s = int((local - cal.session_open(day)).total_seconds())
            return SessionPoint(day, cal.ordinal(day), min(s, _LAST), s <= _LAST)
        prev = cal.on_or_before(day) if not cal.is_trading_day(day) else cal.previous(day)
        return SessionPoint(prev, cal.ordinal(prev), _LAST, False)

    def dump_day(self, now: datetime) -> date:
        """Return the trading day whose instruments dump is current at ``now`` (rebuilt at 08:00 IST)."""
        local = ensure_aware(now).astimezone(IST)
        day = local.date()
        if self.calendar.is_trading_day(day) and local.time() >= self.dump_time:
            return day
        return self.calendar.previous(day) if self.calendar.is_trading_day(day) else self.calendar.on_or_before(day)

    # -- instruments -------------------------------------------------------------------------------
    def universe(self, now: datetime) -> Universe:
        """Return the instrument universe listed at ``now`` (built once per dump day)."""
        day = self.dump_day(now)
        with self._lock:
            uni = self._universes.get(day)
            if uni is None:
                prev = self.calendar.previous(day)
                uni = build_universe(self.underlyings, self.calendar, day, lambda uid: self.paths.close_on(uid, prev))
                uni.last_price = self._prices_at_close(uni, prev)
                self._universes = {d: u for d, u in self._universes.items() if d >= prev}
                self._universes[day] = uni
            return uni

    def _prices_at_close(self, uni: Universe, day: date) -> np.ndarray:
        n = self.calendar.ordinal(day)
        spot = np.exp(np.array([self.paths.close_log(u.uid, n) for u in self.underlyings]))
        rows = np.arange(len(uni))
        when = self.calendar.session_close(day)
        px = self._price(uni, rows, spot[uni.uid], self._tau(uni, rows, when))
        px = np.where(uni.kind == Kind.INDEX, 0.0, px)
        return _round_tick(px, uni.price_tick)

    # -- pricing -----------------------------------------------------------------------------------
    def _tau(self, uni: Universe, rows: np.ndarray, when: datetime | np.ndarray) -> np.ndarray:
        exp = uni.expiry[rows]
        # Contracts expire at the 15:30 close of their expiry day.
        close_s = (exp.astype("datetime64[s]") + np.timedelta64(15 * 3600 + 30 * 60 - 19800, "s")).astype(np.int64)
        now_s = np.asarray(when.timestamp() if isinstance(when, datetime) else when, dtype=np.float64)
        tau = (close_s - now_s) / SECONDS_PER_YEAR
        return np.where(np.isnat(exp), 0.0, np.maximum(tau, 0.0))

    def _price(self, uni: Universe, rows: np.ndarray, spot: np.ndarray, tau: np.ndarray) -> np.ndarray:
        kind = uni.kind[rows]
        uid = uni.uid[rows]
        fwd = futures_price(spot, self._carry[uid], tau)
        strike = np.where(uni.strike[rows] > 0, uni.strike[rows], 1.0)
        opt = black76(fwd, strike, tau, smile_vol(self._iv[uid], fwd, strike), kind == Kind.CE)
        out = np.where(kind == Kind.FUT, fwd, spot)
        is_opt = (kind == Kind.CE) | (kind == Kind.PE)
        # Options never trade below one tick.
        return np.where(is_opt, np.maximum(opt, uni.price_tick[rows]), out)

    def snapshot(self, uni: Universe, rows: np.ndarray, now: datetime) -> Snapshot:
        """Return the market state of ``rows`` of ``uni`` at clock time ``now``."""
        rows = np.asarray(rows, dtype=np.int64)
        pt = self.point(now)
        uids = uni.uid[rows]
        uniq, inv = np.unique(uids, return_inverse=True)
        cols = np.empty((6, len(uniq)))
        for j, uid in enumerate(uniq.tolist()):
            dp = self.paths.day(uid, pt.n)
            day_hi, day_lo = dp.high_low_upto(pt.s)
            cols[:, j] = (
                dp.log_at(pt.s),
                dp.open_log,
                day_hi,
                day_lo,
                dp.prev_close_log,
                dp.volume_share(pt.s),
            )
        spot, s_open, s_high, s_low, s_prev = (np.exp(cols[i][inv]) for i in range(5))
        share = cols[5][inv]

        day_open = self.calendar.session_open(pt.day)
        prev_close_at = self.calendar.session_close(self.calendar.previous(pt.day))
        kind = uni.kind[rows]
        tick = uni.price_tick[rows]
        put = kind == Kind.PE
        tau_now = self._tau(uni, rows, pt.moment)
        ltp = self._price(uni, rows, spot, tau_now)
        o = self._price(uni, rows, s_open, self._tau(uni, rows, day_open))
        # Calls, futures and stocks rise with the underlying; puts fall, so their high comes from its low.
        h = self._price(uni, rows, np.where(put, s_low, s_high), tau_now)
        lo = self._price(uni, rows, np.where(put, s_high, s_low), tau_now)
        prev = self._price(uni, rows, s_prev, self._tau(uni, rows, prev_close_at))
        ltp, o, h, lo, prev = (_round_tick(a, tick) for a in (ltp, o, h, lo, prev))
        h = np.maximum.reduce([h, o, ltp])
        lo = np.minimum.reduce([lo, o, ltp])

        lot = np.maximum(uni.lot[rows], 1)
        tokens = uni.token[rows]
        is_index = kind == Kind.INDEX
        v_day = self._day_volume(uni, rows, tokens, pt.n, np.datetime64(pt.day, "D"), s_prev)
        volume = np.floor(v_day * share / lot) * lot
        volume = np.where(is_index, 0, volume).astype(np.int64)

        h_misc = hash_uniform(self.seed, tokens, pt.n, pt.s, np.arange(4)[:, None])
        last_qty = np.where(lot > 1, lot * (1 + np.floor(h_misc[0] * 10)), 1 + np.floor(h_misc[0] * 200))
        last_qty = np.where(is_index | (volume == 0), 0, last_qty).astype(np.int64)
        book = np.floor(v_day * (0.01 + 0.03 * h_misc[1:3]) / lot) * lot
        buy_q = np.where(is_index, 0, book[0]).astype(np.int64)
        sell_q = np.where(is_index, 0, book[1]).astype(np.int64)
        avg = _round_tick((o + h + lo + ltp) / 4.0, tick)
        avg = np.where(is_index | (volume == 0), 0.0, avg)

        oi, oi_hi, oi_lo = self._open_interest(kind, tokens, lot, v_day, pt.n, pt.s)
        lower, upper = self._circuits(kind, tokens, prev, s_prev, tick)
        lag = np.where(pt.live, np.floor(h_misc[3] * 3), 0).astype(np.int64)
        return Snapshot(
            point=pt,
            seed=self.seed,
            rows=rows,
            tokens=tokens,
            last_price=ltp,
            open=o,
            high=h,
            low=lo,
            close=prev,
            volume=volume,
            average_price=avg,
            last_quantity=last_qty,
            buy_quantity=buy_q,
            sell_quantity=sell_q,
            oi=oi,
            oi_day_high=oi_hi,
            oi_day_low=oi_lo,
            lower_circuit=lower,
            upper_circuit=upper,
            tick=tick,
            lot=uni.lot[rows],
            tradable=~is_index,
            last_trade_lag=lag,
        )

    def _day_volume(
        self,
        uni: Universe,
        rows: np.ndarray,
        tokens: np.ndarray,
        n: int | np.ndarray,
        day64: np.ndarray | np.datetime64,
        s_prev: np.ndarray,
    ) -> np.ndarray:
        """Return each instrument's total volume for session ``n`` on ``day64`` (units, not lots)."""
        kind = uni.kind[rows]
        lot = np.maximum(uni.lot[rows], 1)
        u_base = hash_uniform(self.seed, tokens, _T_VBASE)
        z = _box_muller(hash_uniform(self.seed, tokens, n, _T_VDAY), hash_uniform(self.seed, tokens, n, _T_VDAY2))
        noise = np.exp(0.35 * z)
        shares = 10 ** (7.0 + 3.0 * u_base) / np.maximum(s_prev, 1.0)
        shares = np.where(uni.exchange_token[rows] >= 500000, shares * 0.08, shares)  # BSE trades far less
        days_left = (uni.expiry[rows] - day64).astype(np.float64)
        days_left = np.nan_to_num(days_left, nan=0.0).clip(0, None)
        lots = 10 ** (2.5 + 2.0 * u_base)
        fut_lots = lots * np.exp(-days_left / 25.0)
        strike = uni.strike[rows]
        money = np.abs(np.log(np.where(strike > 0, strike, 1.0) / s_prev))
        opt_lots = lots * np.exp(-money / 0.03) * np.exp(-days_left / 20.0) * 3.0
        out = np.select(
            [kind == Kind.EQ, kind == Kind.FUT, (kind == Kind.CE) | (kind == Kind.PE)],
            [shares, fut_lots * lot, opt_lots * lot],
            default=0.0,
        )
        return out * noise

    def _open_interest(
        self,
        kind: np.ndarray,
        tokens: np.ndarray,
        lot: np.ndarray,
        v_day: np.ndarray,
        n: int | np.ndarray,
        s: int | np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        deriv = (kind == Kind.FUT) | (kind == Kind.CE) | (kind == Kind.PE)
        h = hash_uniform(self.seed, tokens, n, np.array([_T_OI, _T_OIDRIFT])[:, None])
        oi_open = np.floor(v_day * 1.5 * (0.6 + 0.8 * h[0]) / lot) * lot
        oi_now = np.floor(oi_open * (1.0 + 0.08 * (2 * h[1] - 1) * s / _LAST) / lot) * lot
        oi_open, oi_now = (np.where(deriv, a, 0).astype(np.int64) for a in (oi_open, oi_now))
        return oi_now, np.maximum(oi_open, oi_now), np.minimum(oi_open, oi_now)

    def _circuits(
        self, kind: np.ndarray, tokens: np.ndarray, prev: np.ndarray, s_prev: np.ndarray, tick: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        h = hash_uniform(self.seed, tokens, _T_BAND)
        band = np.where(h < 0.7, 0.2, np.where(h < 0.9, 0.1, 0.05))
        band = np.where(kind == Kind.FUT, 0.1, band)
        lower = _round_tick(prev * (1 - band), tick)
        upper = _round_tick(prev * (1 + band), tick)
        is_opt = (kind == Kind.CE) | (kind == Kind.PE)
        lower = np.where(is_opt, tick, lower)
        upper = np.where(is_opt, _round_tick(prev + s_prev * 0.1, tick), upper)
        is_index = kind == Kind.INDEX
        return np.where(is_index, 0.0, lower), np.where(is_index, 0.0, upper)

    # -- history -----------------------------------------------------------------------------------
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
        pt = self.point(now)
        end = min(end, now)
        first_day = start.astimezone(IST).date()
        last_day = min(end.astimezone(IST).date(), pt.day)
        kind = Kind(int(uni.kind[row]))
        if not np.isnat(uni.expiry[row]) and not continuous:
            expiry = date.fromisoformat(str(uni.expiry[row]))
            last_day = min(last_day, expiry)
            first_day = max(first_day, expiry - timedelta(days=100))
        days = self.calendar.trading_days(first_day, last_day)
        if not days:
            return []
        if interval is Interval.DAY:
            return self._daily(uni, row, kind, days, pt, oi, continuous)
        out: list[list[object]] = []
        for day in days:
            n = self.calendar.ordinal(day)
            s_end = pt.s if n == pt.n else _LAST
            out.extend(self._intraday(uni, row, kind, day, n, s_end, interval, start, end, oi))
        return out

    def _ohlc_prices(
        self,
        uni: Universe,
        row: int,
        kind: Kind,
        logs: np.ndarray,
        t_open: np.ndarray,
        t_close: np.ndarray,
        factor: np.ndarray | None,
    ) -> tuple[np.ndarray, ...]:
        """Map underlying (open, high, low, close) log prices, shape (4, k), to the instrument's prices."""
        so, sh, sl, sc = np.exp(logs)
        tick = np.full(len(so), uni.price_tick[row])
        if factor is not None:  # continuous futures: spot times each day's carry to the front expiry
            o, h, lo, c = (_round_tick(x * factor, tick) for x in (so, sh, sl, sc))
        else:
            r = np.full(len(so), row)
            put = kind == Kind.PE
            tau_o = self._tau(uni, r, t_open)
            o = self._price(uni, r, so, tau_o)
            c = self._price(uni, r, sc, self._tau(uni, r, t_close))
            h = self._price(uni, r, sl if put else sh, tau_o)
            lo = self._price(uni, r, sh if put else sl, tau_o)
            o, h, lo, c = (_round_tick(x, tick) for x in (o, h, lo, c))
        return o, np.maximum.reduce([h, o, c]), np.minimum.reduce([lo, o, c]), c

    def _volumes_and_oi(
        self,
        uni: Universe,
        row: int,
        n: np.ndarray,
        day64: np.ndarray,
        s_prev: np.ndarray,
        share: np.ndarray,
        s_end: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (cumulative volume, day volume, oi) at seconds ``s_end`` of sessions ``n`` (broadcast)."""
        r = np.full(len(n), row)
        tokens = uni.token[r]
        lot = np.maximum(uni.lot[r], 1)
        v_day = self._day_volume(uni, r, tokens, n, day64, s_prev)
        cum = np.floor(v_day * share / lot) * lot
        oi, _, _ = self._open_interest(uni.kind[r], tokens, lot, v_day, n, s_end)
        return cum.astype(np.int64), v_day, oi

    def _daily(
        self,
        uni: Universe,
        row: int,
        kind: Kind,
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
        s_end = np.full(len(days), _LAST)
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
        vol, _, oi = self._volumes_and_oi(uni, row, ns, day64, s_prev, share, s_end)
        if kind == Kind.INDEX:
            vol = np.zeros_like(vol)
        stamps = [datetime.combine(d, time(0), tzinfo=IST) for d in days]
        return _candle_rows(stamps, range(len(days)), (o, h, lo_, c, vol), oi if with_oi else None)

    def _intraday(
        self,
        uni: Universe,
        row: int,
        kind: Kind,
        day: date,
        n: int,
        s_end: int,
        interval: Interval,
        start: datetime,
        end: datetime,
        with_oi: bool,
    ) -> list[list[object]]:
        uid = int(uni.uid[row])
        opens = self.calendar.session_open(day)
        # Candles start every k minutes from 09:15; the last may be partial (375 is not a multiple of 60).
        starts = np.arange(0, s_end + 1, interval.minutes * 60)
        t0 = opens.timestamp() + starts
        keep = (t0 >= start.timestamp()) & (t0 <= end.timestamp())
        if not keep.any():
            return []
        dp = self.paths.day(uid, n)
        ends = np.minimum(starts + interval.minutes * 60 - 1, s_end)
        sec = dp.sec[: s_end + 1]
        logs = (
            np.vstack(
                [sec[starts], np.maximum.reduceat(sec, starts), np.minimum.reduceat(sec, starts), sec[ends]]
            ).astype(np.float64)
            + dp.open_log
        )
        o, h, lo_, c = self._ohlc_prices(uni, row, kind, logs, t0, opens.timestamp() + ends, None)
        k = len(starts)
        share = np.array([dp.volume_share(int(e)) for e in ends])
        cum, _, oi = self._volumes_and_oi(
            uni,
            row,
            np.full(k, n),
            np.full(k, np.datetime64(day, "D")),
            np.full(k, math.exp(dp.prev_close_log)),
            share,
            ends,
        )
        vol = np.diff(np.concatenate([[0], cum])) if kind != Kind.INDEX else np.zeros(k, dtype=np.int64)
        stamps = [opens + timedelta(seconds=int(a)) for a in starts.tolist()]
        return _candle_rows(stamps, np.flatnonzero(keep).tolist(), (o, h, lo_, c, vol), oi if with_oi else None)


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
