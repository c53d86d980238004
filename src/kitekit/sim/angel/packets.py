"""WebSocket 2.0 packets cut from the market model: one snapshot per moment for every instrument wanted.

The snapshot is the one REST quotes are cut from, so a packet's prices, volume, OHLC, OI, circuits and best
five equal ``quote`` FULL's at the same clock time. SIM: the twenty-level depth extends the snapshot's five
levels a tick at a time with quantities drawn from the same hash; Angel's real depth is the exchange's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from kitekit.sim.angel.catalog import Listing, angel_catalog
from kitekit.sim.angel.market import week52
from kitekit.sim.market import Market
from kitekit.wire.angel.stream import AngelTick, Level, StreamMode, encode, price_divisor

__all__ = ["Want", "build_packets"]

#: One wanted packet: the mode, and the instrument (exchange type, token).
Want = tuple[StreamMode, int, str]

_sequence = itertools.count(1)


def _levels(prices: list[float], quantities: list[int], orders: list[int], scale: int) -> tuple[Level, ...]:
    return tuple(Level(int(q), round(p * scale), int(o)) for p, q, o in zip(prices, quantities, orders, strict=True))


def _depth20(
    prices: list[float], quantities: list[int], orders: list[int], step: float, scale: int
) -> tuple[Level, ...]:
    levels = list(_levels(prices, quantities, orders, scale))
    last = prices[-1] if prices else 0.0
    for k in range(5, 20):
        price = max(last + step * (k - 4), 0.0) if last > 0 else 0.0
        quantity = quantities[k % 5] if price > 0 else 0
        levels.append(Level(quantity, round(price * scale), orders[k % 5] if price > 0 else 0))
    # Depth prices and quantities are int32 on the wire.
    return tuple(
        Level(min(lv.quantity, 2**31 - 1), min(lv.price, 2**31 - 1), min(lv.orders, 2**15 - 1)) for lv in levels
    )


def build_packets(market: Market, moment: datetime, wants: Sequence[Want]) -> list[bytes | None]:
    """Return one packet per want at clock time ``moment``; None where the instrument is not listed."""
    uni = market.universe(moment)
    catalog = angel_catalog(market, uni)
    listings: list[Listing | None] = [catalog.find_type(kind, token) for _, kind, token in wants]
    rows = sorted({lst.row for lst in listings if lst is not None})
    if not rows:
        return [None] * len(wants)
    position = {row: i for i, row in enumerate(rows)}
    snap = market.snapshot(uni, np.array(rows, dtype=np.int64), moment)
    book = snap.book()
    high52, low52 = week52(snap)
    stamp_ms = int(snap.point.moment.timestamp() * 1000)
    out: list[bytes | None] = []
    for (mode, kind, token), listing in zip(wants, listings, strict=True):
        if listing is None:
            out.append(None)
            continue
        i = position[listing.row]
        scale = price_divisor(kind)

        def px(values: np.ndarray, at: int = i, unit: int = scale) -> int:
            return round(float(values[at]) * unit)

        sequence = next(_sequence)
        if mode is StreamMode.DEPTH:
            step = float(snap.tick[i]) or 0.05
            bids = _depth20(
                book.bid_price[i].tolist(), book.bid_quantity[i].tolist(), book.bid_orders[i].tolist(), -step, scale
            )
            asks = _depth20(
                book.ask_price[i].tolist(), book.ask_quantity[i].tolist(), book.ask_orders[i].tolist(), step, scale
            )
            tick = AngelTick(mode, kind, token, sequence, stamp_ms, depth_buy=bids, depth_sell=asks)
            out.append(encode(tick))
            continue
        tick = AngelTick(
            mode,
            kind,
            token,
            sequence,
            stamp_ms,
            px(snap.last_price),
            int(snap.last_quantity[i]),
            px(snap.average_price),
            int(snap.volume[i]),
            float(snap.buy_quantity[i]),
            float(snap.sell_quantity[i]),
            px(snap.open),
            px(snap.high),
            px(snap.low),
            px(snap.close),
            stamp_ms // 1000 - int(snap.last_trade_lag[i]),
            int(snap.oi[i]),
            0,  # SIM: the OI change is not modelled (and 0 reads alike as the SDK's int64 and the docs' double)
            _levels(book.bid_price[i].tolist(), book.bid_quantity[i].tolist(), book.bid_orders[i].tolist(), scale),
            _levels(book.ask_price[i].tolist(), book.ask_quantity[i].tolist(), book.ask_orders[i].tolist(), scale),
            px(snap.upper_circuit),
            px(snap.lower_circuit),
            px(high52),
            px(low52),
        )
        out.append(encode(tick))
    return out
