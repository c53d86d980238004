"""The market state of some instruments at one moment: prices, volumes, OI, circuits and five-level depth.

One :class:`Snapshot` serves ``/quote/ltp``, ``/quote/ohlc`` and ``/quote`` alike, so the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kitekit.markethours import TradingCalendar
from kitekit.sim.market.contract_model import ContractModel, round_tick
from kitekit.sim.market.price_paths import PathModel
from kitekit.sim.market.rng import hash_uniform
from kitekit.sim.market.timeline import SessionPoint
from kitekit.sim.market.universe import ContractKind, Universe

__all__ = ["Book", "Snapshot", "take_snapshot"]


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
    traded: np.ndarray  # False for contracts that never trade (no last price, no last trade time)

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


def last_prices(
    model: ContractModel, paths: PathModel, uni: Universe, rows: np.ndarray, pt: SessionPoint
) -> np.ndarray:
    """Return only the last prices of ``rows`` at ``pt``: what :func:`take_snapshot` gives as ``last_price``.

    An LTP request needs nothing else, and the full snapshot (OHLC through the option model five times,
    volumes, OI, circuits) costs several times more.
    """
    rows = np.asarray(rows, dtype=np.int64)
    uids = uni.uid[rows]
    uniq, inv = np.unique(uids, return_inverse=True)
    logs = np.array([paths.day(uid, pt.n).log_at(pt.s) for uid in uniq.tolist()], dtype=np.float64)
    spot = np.exp(logs[inv])
    px = round_tick(model.price(uni, rows, spot, model.tau(uni, rows, pt.moment)), uni.price_tick[rows])
    return np.where(uni.dead[rows], 0.0, px)  # Kite's last price of a contract that never traded


def take_snapshot(
    model: ContractModel,
    paths: PathModel,
    calendar: TradingCalendar,
    uni: Universe,
    rows: np.ndarray,
    pt: SessionPoint,
) -> Snapshot:
    """Return the market state of ``rows`` of ``uni`` at session point ``pt``."""
    rows = np.asarray(rows, dtype=np.int64)
    uids = uni.uid[rows]
    uniq, inv = np.unique(uids, return_inverse=True)
    cols = np.empty((7, len(uniq)))
    for j, uid in enumerate(uniq.tolist()):
        dp = paths.day(uid, pt.n)
        day_hi, day_lo = dp.high_low_upto(pt.s)
        cols[:, j] = (
            dp.log_at(pt.s),
            dp.open_log,
            day_hi,
            day_lo,
            dp.prev_close_log,
            paths.close_log(uid, pt.n - 2),
            dp.volume_share(pt.s),
        )
    spot, s_open, s_high, s_low, s_prev, s_prev2 = (np.exp(cols[i][inv]) for i in range(6))
    share = cols[6][inv]

    day_open = calendar.session_open(pt.day)
    prev_close_at = calendar.session_close(calendar.previous(pt.day))
    kind = uni.kind[rows]
    tick = uni.price_tick[rows]
    put = kind == ContractKind.PE
    tau_now = model.tau(uni, rows, pt.moment)
    ltp = model.price(uni, rows, spot, tau_now)
    o = model.price(uni, rows, s_open, model.tau(uni, rows, day_open))
    # Calls, futures and stocks rise with the underlying; puts fall, so their high comes from its low.
    h = model.price(uni, rows, np.where(put, s_low, s_high), tau_now)
    lo = model.price(uni, rows, np.where(put, s_high, s_low), tau_now)
    prev = model.price(uni, rows, s_prev, model.tau(uni, rows, prev_close_at))
    ltp, o, h, lo, prev = (round_tick(a, tick) for a in (ltp, o, h, lo, prev))
    h = np.maximum.reduce([h, o, ltp])
    lo = np.minimum.reduce([lo, o, ltp])

    lot = np.maximum(uni.lot[rows], 1)
    tokens = uni.token[rows]
    is_index = kind == ContractKind.INDEX
    today = np.datetime64(pt.day, "D")
    v_day = model.day_volume(uni, rows, tokens, pt.n, today, s_prev)
    volume = np.where(is_index, 0, model.traded_volume(uni, rows, v_day, share))

    h_misc = hash_uniform(model.seed, tokens, pt.n, pt.s, np.arange(4)[:, None])
    last_qty = np.where(lot > 1, lot * (1 + np.floor(h_misc[0] * 10)), 1 + np.floor(h_misc[0] * 200))
    last_qty = np.where(is_index | (volume == 0), 0, last_qty).astype(np.int64)
    book = np.floor(v_day * (0.01 + 0.03 * h_misc[1:3]) / lot) * lot
    buy_q = np.where(is_index, 0, book[0]).astype(np.int64)
    sell_q = np.where(is_index, 0, book[1]).astype(np.int64)
    avg = round_tick((o + h + lo + ltp) / 4.0, tick)
    avg = np.where(is_index | (volume == 0), 0.0, avg)

    yesterday = np.datetime64(calendar.previous(pt.day), "D")
    oi, oi_hi, oi_lo = model.open_interest(uni, rows, pt.n, share, (today, yesterday), (s_prev, s_prev2))
    lower, upper = model.circuits(kind, tokens, prev, s_prev, tick)
    lag = np.where(pt.live, np.floor(h_misc[3] * 3), 0).astype(np.int64)
    dead = uni.dead[rows]
    if dead.any():
        # A contract that never traded has no prices at all (Kite quotes 0), and nobody bids for it.
        ltp, o, h, lo, prev, avg = (np.where(dead, 0.0, a) for a in (ltp, o, h, lo, prev, avg))
        buy_q = np.where(dead, 0, buy_q)
    return Snapshot(
        point=pt,
        seed=model.seed,
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
        traded=~dead,
    )
