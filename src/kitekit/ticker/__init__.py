"""Streaming from Kite's WebSocket ticker: the client, live candles, and recording to Parquet.

- :class:`Ticker` (``client``): asyncio-native, with callbacks for plain code; reconnects with backoff and
  jitter, resubscribes, treats 5 s of silence as a dead link, stops on a dead session, shards past 3,000
  instruments (``connection``, ``reconnect``, ``shards`` hold those parts).
- :class:`CandleBuilder` (``candles``): ticks into 1-minute and N-minute OHLCV bars.
- :class:`TickRecorder` (``recorder``): every frame to daily Parquet files through a bounded buffer.
"""

from kitekit.ticker.candles import Candle, CandleBuilder
from kitekit.ticker.client import KITE_WS_ROOT, Ticker, ws_root_for
from kitekit.ticker.events import TickerStats
from kitekit.ticker.reconnect import Backoff, Watchdog
from kitekit.ticker.recorder import RecorderStats, TickRecorder
from kitekit.ticker.shards import SubscriptionBook

__all__ = [
    "KITE_WS_ROOT",
    "Backoff",
    "Candle",
    "CandleBuilder",
    "RecorderStats",
    "SubscriptionBook",
    "TickRecorder",
    "Ticker",
    "TickerStats",
    "Watchdog",
    "ws_root_for",
]
