"""Tick frames from the market model: one snapshot per second for every subscribed token, encoded per connection.

The snapshot is the one REST quotes are cut from (:meth:`Market.snapshot`), so a tick's ``last_price``,
volume, OHLC, OI and depth equal ``/quote``'s at the same clock time. One snapshot serves every connection;
each gets its own tokens, in their modes, encoded column-wise in one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from kitekit.sim.market import Market, Snapshot
from kitekit.wire.ticks import Mode, TickColumns, encode_columns, packet_kinds

__all__ = ["Want", "build_frames"]

#: What one connection wants ticks for: token -> mode.
Want = Mapping[int, Mode]


class _Plan:
    """Where one connection's tokens sit in the shared snapshot, and each one's packet kind."""

    def __init__(self, want: Want, position: Mapping[int, int]) -> None:
        tokens = np.array([t for t in want if t in position], dtype=np.int64)
        self.index = np.array([position[int(t)] for t in tokens.tolist()], dtype=np.int64)
        self.tokens = tokens
        self.kinds = np.empty(len(tokens), dtype=np.uint16)
        modes = [want[int(t)] for t in tokens.tolist()]
        for mode in Mode:
            rows = np.array([m is mode for m in modes], dtype=bool)
            if rows.any():
                self.kinds[rows] = packet_kinds(tokens[rows], mode)
        self.full = any(m is Mode.FULL for m in modes)


def build_frames(market: Market, moments: Sequence[datetime], wants: Sequence[Want]) -> list[list[bytes]]:
    """Return, for each want, one frame per moment holding a tick of each of its tokens at that moment.

    Tokens the market does not list are left out (Kite sends nothing for them); a want left with nothing
    gets no frames.

    Args:
        market: the simulated market.
        moments: clock times, oldest first (one frame per connection each).
        wants: per connection, the tokens and their modes.
    """
    out: list[list[bytes]] = [[] for _ in wants]
    if not moments or not any(wants):
        return out
    uni = market.universe(moments[-1])
    union = sorted({t for want in wants for t in want if t in uni.by_token})
    if not union:
        return out
    position = {t: i for i, t in enumerate(union)}
    rows = np.array([uni.by_token[t] for t in union], dtype=np.int64)
    market.hold_paths(len(np.unique(uni.uid[rows])))
    plans = [_Plan(want, position) for want in wants]
    depth = any(plan.full for plan in plans)
    for moment in moments:
        snap = market.snapshot(uni, rows, moment)
        fields = _fields(snap, depth)
        for plan, frames in zip(plans, out, strict=True):
            if len(plan.tokens):
                picked = {name: values[plan.index] for name, values in fields.items()}
                frames.append(encode_columns(TickColumns.new(plan.kinds, plan.tokens, **picked)))
    return out


def _fields(snap: Snapshot, depth: bool) -> dict[str, np.ndarray]:
    """Return a snapshot as the codec's columns (§15.4), every field for every row."""
    stamp = int(snap.point.moment.timestamp())
    n = len(snap.rows)
    fields: dict[str, np.ndarray] = {
        "last_price": snap.last_price,
        "last_traded_quantity": snap.last_quantity,
        "average_traded_price": snap.average_price,
        "volume_traded": snap.volume,
        "total_buy_quantity": snap.buy_quantity,
        "total_sell_quantity": snap.sell_quantity,
        "open": snap.open,
        "high": snap.high,
        "low": snap.low,
        "close": snap.close,
        # /quote's last_trade_time is the same moment less the same lag; 0 (none) for a contract never traded.
        "last_trade_time": np.where(snap.traded, np.full(n, stamp, dtype=np.int64) - snap.last_trade_lag, 0),
        "oi": snap.oi,
        "oi_day_high": snap.oi_day_high,
        "oi_day_low": snap.oi_day_low,
        "exchange_timestamp": np.full(n, stamp, dtype=np.int64),
    }
    if depth:
        book = snap.book()
        fields.update(
            depth_buy_quantity=book.bid_quantity.astype(np.int64),
            depth_buy_price=book.bid_price.astype(np.float64),
            depth_buy_orders=book.bid_orders.astype(np.int64),
            depth_sell_quantity=book.ask_quantity.astype(np.int64),
            depth_sell_price=book.ask_price.astype(np.float64),
            depth_sell_orders=book.ask_orders.astype(np.int64),
        )
    else:  # no full-mode packet: the encoder reads no depth, so zeros of the right shape do
        zeros, prices = np.zeros((n, 5), dtype=np.int64), np.zeros((n, 5))
        fields.update(
            depth_buy_quantity=zeros,
            depth_buy_price=prices,
            depth_buy_orders=zeros,
            depth_sell_quantity=zeros,
            depth_sell_price=prices,
            depth_sell_orders=zeros,
        )
    return fields
