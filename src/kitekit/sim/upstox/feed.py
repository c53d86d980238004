"""The v3 market feed's content: ``FeedResponse`` dicts for subscribed keys from the shared market's snapshots.

Each mode's shape: ``ltpc`` a bare LTPC; ``full`` a ``marketFF`` (five depth levels, day and one-minute OHLC,
ATP, volume, OI, total bid and ask quantity) or, for an index, an ``indexFF``; ``option_greeks`` the first
level with greeks (SIM: the greeks and IV are 0, left out on the wire); ``full_d30`` as ``full`` (SIM: five
levels, not thirty). The first message of a connection is ``market_info`` with every segment's status.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from kitekit.clock import IST
from kitekit.sim.market import ContractKind, Market
from kitekit.sim.upstox.catalog import UpstoxListing
from kitekit.wire.upstox.keys import Segment
from kitekit.wire.upstox.stream import Mode, proto_mode

__all__ = ["feed_message", "market_info"]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def market_info(market: Market, now: datetime) -> dict[str, Any]:
    """Return the ``market_info`` message: every segment open while a session runs, closed otherwise."""
    status = "NORMAL_OPEN" if market.point(now).live else "NORMAL_CLOSE"
    return {
        "type": "market_info",
        "currentTs": _ms(now),
        "marketInfo": {"segmentStatus": {s.value: status for s in Segment if not s.is_index}},
    }


def feed_message(
    market: Market, listing: UpstoxListing, subscribed: dict[str, Mode], now: datetime, initial: bool
) -> dict[str, Any]:
    """Return a ``live_feed`` (or ``initial_feed``) message for the listed ones of ``subscribed``."""
    found = [(k, m, r) for k, m in subscribed.items() if (r := listing.resolve(k)) is not None]
    feeds: dict[str, Any] = {}
    if found:
        uni = listing.universe
        snap = market.snapshot(uni, np.array([r for _, _, r in found]), now)
        book = snap.book()
        moment = snap.point.moment
        day_ts = _ms(datetime.combine(moment.date(), datetime.min.time(), IST))
        minute = moment.replace(second=0)
        for i, (key, mode, row) in enumerate(found):
            ltpc = {
                "ltp": float(snap.last_price[i]),
                "ltt": _ms(moment - timedelta(seconds=int(snap.last_trade_lag[i]))),
                "ltq": int(snap.last_quantity[i]),
                "cp": float(snap.close[i]),
            }
            feed: dict[str, Any] = {"requestMode": proto_mode(mode)}
            if mode is Mode.LTPC:
                feed["ltpc"] = ltpc
                feeds[key] = feed
                continue
            bids, asks = book.levels(i)
            quotes = [
                {"bidQ": bq, "bidP": bp, "askQ": aq, "askP": ap}
                for (bp, bq, _), (ap, aq, _) in zip(bids, asks, strict=False)
            ]
            ohlc = {
                "ohlc": [
                    {
                        "interval": "1d",
                        "open": float(snap.open[i]),
                        "high": float(snap.high[i]),
                        "low": float(snap.low[i]),
                        "close": float(snap.last_price[i]),
                        "vol": int(snap.volume[i]),
                        "ts": day_ts,
                    },
                    {
                        "interval": "I1",
                        "open": ltpc["ltp"],
                        "high": ltpc["ltp"],
                        "low": ltpc["ltp"],
                        "close": ltpc["ltp"],
                        "ts": _ms(minute),
                    },
                ]
            }
            if mode is Mode.OPTION_GREEKS:
                feed["firstLevelWithGreeks"] = {
                    "ltpc": ltpc,
                    "firstDepth": quotes[0] if quotes else {},
                    "optionGreeks": {},
                    "vtt": int(snap.volume[i]),
                    "oi": float(snap.oi[i]),
                }
            elif int(uni.kind[row]) == ContractKind.INDEX:
                feed["fullFeed"] = {"indexFF": {"ltpc": ltpc, "marketOHLC": ohlc}}
            else:
                feed["fullFeed"] = {
                    "marketFF": {
                        "ltpc": ltpc,
                        "marketLevel": {"bidAskQuote": quotes},
                        "marketOHLC": ohlc,
                        "atp": float(snap.average_price[i]),
                        "vtt": int(snap.volume[i]),
                        "oi": float(snap.oi[i]),
                        "tbq": float(snap.buy_quantity[i]),
                        "tsq": float(snap.sell_quantity[i]),
                    }
                }
            feeds[key] = feed
    return {"type": "initial_feed" if initial else "live_feed", "feeds": feeds, "currentTs": _ms(now)}
